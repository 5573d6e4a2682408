// plan_reload: the key-by-key diff of two configs (see reload.h).
#include "discplane/control/reload.h"

#include <algorithm>

namespace discplane::control {

namespace {

template <class T>
std::string count_change(const std::vector<T>& a, const std::vector<T>& b) {
  return std::to_string(a.size()) + " -> " + std::to_string(b.size()) + " entries";
}

class Differ {
 public:
  explicit Differ(ReloadPlan& plan) : plan_(plan) {}

  template <class T>
  bool restart(const std::string& key, const T& a, const T& b) {
    if (a == b) {
      return false;
    }
    plan_.changes.push_back({key, ReloadAction::kNeedsRestart, {}});
    return true;
  }
  template <class T>
  bool live(const std::string& key, const T& a, const T& b, std::string detail) {
    if (a == b) {
      return false;
    }
    plan_.changes.push_back({key, ReloadAction::kApplied, std::move(detail)});
    return true;
  }

 private:
  ReloadPlan& plan_;
};

}  // namespace

std::string ReloadChange::to_string() const {
  std::string s = key + ": ";
  if (action == ReloadAction::kApplied) {
    s += "applied";
    if (!detail.empty()) {
      s += " (" + detail + ")";
    }
  } else {
    s += "ignored, needs a restart";
  }
  return s;
}

ReloadPlan plan_reload(const Config& a, const Config& b) {
  ReloadPlan plan;
  Differ d(plan);
  d.restart("mode", a.mode, b.mode);
  d.restart("identity.key_file", a.identity.key_file, b.identity.key_file);
  d.restart("network.listen", a.network.listen, b.network.listen);
  d.restart("network.external_ip", a.network.external_ip, b.network.external_ip);
  d.restart("protocols", a.protocols, b.protocols);

  if (a.bootnodes != b.bootnodes) {
    for (const std::string& n : b.bootnodes) {
      if (std::find(a.bootnodes.begin(), a.bootnodes.end(), n) == a.bootnodes.end()) {
        plan.new_bootnodes.push_back(n);
      }
    }
    const std::size_t removed = static_cast<std::size_t>(
        std::count_if(a.bootnodes.begin(), a.bootnodes.end(), [&](const std::string& n) {
          return std::find(b.bootnodes.begin(), b.bootnodes.end(), n) == b.bootnodes.end();
        }));
    std::string detail = std::to_string(plan.new_bootnodes.size()) + " new seeded";
    if (removed > 0) {
      detail += ", " + std::to_string(removed) + " removed stay known until a restart";
    }
    d.live("bootnodes", a.bootnodes, b.bootnodes, detail);
  }

  d.restart("dataplane.backend", a.dataplane.backend, b.dataplane.backend);
  d.restart("dataplane.dpdk", a.dataplane.dpdk, b.dataplane.dpdk);
  d.restart("dataplane.socket", a.dataplane.socket, b.dataplane.socket);
  d.restart("timers.revalidate_interval", a.timers.revalidate_interval,
            b.timers.revalidate_interval);
  d.restart("timers.lookup_interval", a.timers.lookup_interval, b.timers.lookup_interval);
  d.restart("timers.prune_interval", a.timers.prune_interval, b.timers.prune_interval);
  d.restart("timers.snapshot_interval", a.timers.snapshot_interval, b.timers.snapshot_interval);
  const std::size_t before_limits = plan.changes.size();
  d.restart("table.bucket_size", a.table.bucket_size, b.table.bucket_size);
  d.restart("table.replacements", a.table.replacements, b.table.replacements);
  d.restart("table.bucket_ip_limit", a.table.bucket_ip_limit, b.table.bucket_ip_limit);
  d.restart("table.table_ip_limit", a.table.table_ip_limit, b.table.table_ip_limit);
  d.restart("table.ip_limit_exempt", a.table.ip_limit_exempt, b.table.ip_limit_exempt);
  d.restart("discv4.bond_lifetime", a.discv4.bond_lifetime, b.discv4.bond_lifetime);
  d.restart("discv4.request_timeout", a.discv4.request_timeout, b.discv4.request_timeout);
  d.restart("discv4.request_rate_per_ip", a.discv4.request_rate_per_ip,
            b.discv4.request_rate_per_ip);
  d.restart("discv4.request_rate_per_node", a.discv4.request_rate_per_node,
            b.discv4.request_rate_per_node);
  d.restart("discv5.max_sessions", a.discv5.max_sessions, b.discv5.max_sessions);
  d.restart("discv5.session_idle_timeout", a.discv5.session_idle_timeout,
            b.discv5.session_idle_timeout);
  d.restart("discv5.whoareyou_rate_per_ip", a.discv5.whoareyou_rate_per_ip,
            b.discv5.whoareyou_rate_per_ip);
  d.restart("discv5.whoareyou_rate_global", a.discv5.whoareyou_rate_global,
            b.discv5.whoareyou_rate_global);
  d.restart("discv5.request_timeout", a.discv5.request_timeout, b.discv5.request_timeout);
  d.restart("discv5.request_rate_per_ip", a.discv5.request_rate_per_ip,
            b.discv5.request_rate_per_ip);
  d.restart("discv5.request_rate_per_node", a.discv5.request_rate_per_node,
            b.discv5.request_rate_per_node);
  // A field added to these sections later and not listed above still shows, as its section.
  if (plan.changes.size() == before_limits) {
    d.restart("table", a.table, b.table);
    d.restart("discv4", a.discv4, b.discv4);
    d.restart("discv5", a.discv5, b.discv5);
  }

  d.restart("api.listen", a.api.listen, b.api.listen);
  plan.logging |= d.live(
      "logging.level", a.logging.level, b.logging.level,
      std::string(to_string(a.logging.level)) + " -> " + std::string(to_string(b.logging.level)));
  plan.logging |=
      d.live("logging.packet_log_rate", a.logging.packet_log_rate, b.logging.packet_log_rate,
             std::to_string(a.logging.packet_log_rate) + " -> " +
                 std::to_string(b.logging.packet_log_rate) + " lines/s");
  d.restart("node_db.path", a.node_db.path, b.node_db.path);
  d.restart("node_db.save_interval", a.node_db.save_interval, b.node_db.save_interval);

  const auto& pa = a.policy;
  const auto& pb = b.policy;
  plan.policy |= d.live("policy.ban.node_ids", pa.ban.node_ids, pb.ban.node_ids,
                        count_change(pa.ban.node_ids, pb.ban.node_ids));
  plan.policy |=
      d.live("policy.ban.ips", pa.ban.ips, pb.ban.ips, count_change(pa.ban.ips, pb.ban.ips));
  plan.policy |= d.live("policy.ban.cidrs", pa.ban.cidrs, pb.ban.cidrs,
                        count_change(pa.ban.cidrs, pb.ban.cidrs));
  plan.policy |= d.live("policy.allow", pa.allow, pb.allow, count_change(pa.allow, pb.allow));
  if (pa.ban.file != pb.ban.file) {
    plan.changes.push_back(
        {"policy.ban.file", ReloadAction::kApplied, "now \"" + pb.ban.file + "\""});
    plan.policy = true;
  } else if (!pb.ban.file.empty()) {
    // Same path, maybe new content: re-read every time (cheap; the engine swaps one pointer).
    plan.changes.push_back({"policy.ban.file", ReloadAction::kApplied, "re-read"});
    plan.policy = true;
  }
  return plan;
}

Config apply_live_fields(const Config& running, const Config& next) {
  Config c = running;
  c.bootnodes = next.bootnodes;
  c.logging = next.logging;
  c.policy = next.policy;
  return c;
}

}  // namespace discplane::control
