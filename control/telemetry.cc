// DPDK telemetry commands (/discplane/...), answered from the published snapshots only.
// See include/discplane/control/telemetry.h for the shapes and the limits they respect.
#include "discplane/control/telemetry.h"

#include <errno.h>
#include <time.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <mutex>

#include <rte_telemetry.h>

#include "discplane/control/metrics.h"  // v4_type_name, v5_type_name
#include "discplane/discovery/peer_table.h"
#include "discplane/wire/enode.h"
#include "discplane/wire/enr.h"

namespace discplane::control {

namespace {

std::string protocols_of(std::uint8_t flags) {
  std::string s;
  if (flags & disc::kFlagV4) {
    s += "v4";
  }
  if (flags & disc::kFlagV5) {
    s += s.empty() ? "v5" : ",v5";
  }
  return s.empty() ? "-" : s;
}

// Telemetry names allow [A-Za-z0-9_/] only; anything else becomes '_'.
std::string telemetry_name(std::string_view text) {
  std::string out(text.substr(0, kTelemetryMaxString));
  for (char& c : out) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '/';
    if (!ok) {
      c = '_';
    }
  }
  return out;
}

TelemetryDict packet_dict(const std::array<std::uint64_t, 8>& counts, bool v5) {
  TelemetryDict d;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    const std::string_view name = v5 ? v5_type_name(i) : v4_type_name(i);
    if (!name.empty()) {
      d.emplace_back(std::string(name), counts[i]);
    }
  }
  return d;
}

std::optional<enr::Record> local_record(const CoreSnapshot& s) {
  if (s.local_enr.empty()) {
    return std::nullopt;
  }
  // Signed by us; published by the core: no need to verify it again on every query.
  auto record = enr::decode_unverified(s.local_enr);
  if (!record) {
    return std::nullopt;
  }
  return *record;
}

}  // namespace

const TelemetryValue* TelemetryReply::find(std::string_view name) const {
  for (const auto& [key, value] : entries) {
    if (key == name) {
      return &value;
    }
  }
  return nullptr;
}

std::optional<std::uint64_t> TelemetryReply::number(std::string_view name) const {
  const TelemetryValue* v = find(name);
  if (v == nullptr || !std::holds_alternative<std::uint64_t>(*v)) {
    return std::nullopt;
  }
  return std::get<std::uint64_t>(*v);
}

std::optional<std::uint64_t> TelemetryReply::number(std::string_view dict,
                                                    std::string_view name) const {
  const TelemetryValue* v = find(dict);
  if (v == nullptr || !std::holds_alternative<TelemetryDict>(*v)) {
    return std::nullopt;
  }
  for (const auto& [key, value] : std::get<TelemetryDict>(*v)) {
    if (key == name && std::holds_alternative<std::uint64_t>(value)) {
      return std::get<std::uint64_t>(value);
    }
  }
  return std::nullopt;
}

TelemetryStrings split_telemetry_string(std::string_view text) {
  TelemetryStrings out;
  for (std::size_t at = 0; at < text.size(); at += kTelemetryMaxString) {
    out.emplace_back(text.substr(at, kTelemetryMaxString));
  }
  return out;
}

TelemetryReply telemetry_stats(const CoreSnapshot& s, std::int64_t now_mono_ns) {
  const disc::Counters& c = s.counters;
  TelemetryReply r;
  auto& e = r.entries;
  e.emplace_back("snapshot_sequence", s.sequence);
  e.emplace_back("snapshot_age_ms",
                 now_mono_ns == 0 || s.taken_mono_ns == 0 || now_mono_ns < s.taken_mono_ns
                     ? std::uint64_t{0}
                     : static_cast<std::uint64_t>((now_mono_ns - s.taken_mono_ns) / 1'000'000));
  e.emplace_back("up", std::uint64_t{s.shut_down ? 0u : 1u});
  e.emplace_back("engine", TelemetryDict{{"rx_packets", c.rx_packets},
                                         {"rx_bytes", c.rx_bytes},
                                         {"tx_packets", c.tx_packets},
                                         {"tx_bytes", c.tx_bytes}});
  e.emplace_back("rx_v4", packet_dict(c.rx_v4, false));
  e.emplace_back("tx_v4", packet_dict(c.tx_v4, false));
  e.emplace_back("rx_v5", packet_dict(c.rx_v5, true));
  e.emplace_back("tx_v5", packet_dict(c.tx_v5, true));
  TelemetryDict drops;
  std::uint64_t dropped = 0;
  for (std::size_t i = 0; i < c.drops.size(); ++i) {
    drops.emplace_back(telemetry_name(disc::to_string(static_cast<disc::Drop>(i))), c.drops[i]);
    dropped += c.drops[i];
  }
  e.emplace_back("drops_total", dropped);
  e.emplace_back("drops", std::move(drops));
  e.emplace_back("v4", TelemetryDict{{"bonds", c.v4_bonds},
                                     {"pings_sent_back", c.v4_pings_sent_back},
                                     {"request_timeouts", c.v4_request_timeouts},
                                     {"late_pongs", c.v4_late_pongs}});
  e.emplace_back("v5", TelemetryDict{{"sessions", std::uint64_t{s.sessions}},
                                     {"pending_challenges", std::uint64_t{s.pending_challenges}},
                                     {"handshakes_initiated", c.v5_handshakes_initiated},
                                     {"handshakes_accepted", c.v5_handshakes_accepted},
                                     {"sessions_evicted", c.v5_sessions_evicted},
                                     {"sessions_expired", c.v5_sessions_expired},
                                     {"whoareyou_sent", c.v5_whoareyou_sent},
                                     {"whoareyou_resent", c.v5_whoareyou_resent},
                                     {"request_timeouts", c.v5_request_timeouts},
                                     {"request_retries", c.v5_request_retries},
                                     {"talk_requests", c.v5_talk_requests}});
  const TableCounts t = count_table(s.peers);
  e.emplace_back("table", TelemetryDict{{"entries", std::uint64_t{s.peers.size()}},
                                        {"v4", std::uint64_t{t.v4}},
                                        {"v5", std::uint64_t{t.v5}},
                                        {"live", std::uint64_t{t.live}},
                                        {"replacements", std::uint64_t{s.replacements}}});
  e.emplace_back("lookups", TelemetryDict{{"started", c.lookups_started},
                                          {"done", c.lookups_done},
                                          {"active", std::uint64_t{s.active_lookups}},
                                          {"duration_ms_sum", c.lookup_duration_ms_sum}});
  e.emplace_back("records", TelemetryDict{{"enr_updates_learned", c.enr_updates_learned},
                                          {"local_record_updates", c.local_record_updates},
                                          {"local_seq", s.local_seq},
                                          {"ip_votes_v4", std::uint64_t{s.ip_votes_v4}},
                                          {"ip_votes_v6", std::uint64_t{s.ip_votes_v6}}});
  const LoopStats& l = s.loop;
  e.emplace_back("loop", TelemetryDict{{"rx_packets", l.rx_packets},
                                       {"tx_packets", l.tx_packets},
                                       {"bursts", l.bursts},
                                       {"empty_polls", l.empty_polls},
                                       {"busy_cycles", l.busy_cycles},
                                       {"cycles_per_packet",
                                        l.rx_packets == 0 ? 0 : l.busy_cycles / l.rx_packets}});
  TelemetryDict loop_drops;
  for (const auto& [reason, count] : l.drops) {
    if (loop_drops.size() < kTelemetryMaxEntries) {
      loop_drops.emplace_back(telemetry_name(reason), count);
    }
  }
  e.emplace_back("loop_drops", std::move(loop_drops));
  return r;
}

TelemetryReply telemetry_peers(const CoreSnapshot& s, std::size_t limit) {
  TelemetryReply r;
  auto& e = r.entries;
  std::uint64_t v4 = 0;
  std::uint64_t v5 = 0;
  std::uint64_t both = 0;
  std::uint64_t live = 0;
  std::map<int, std::array<std::uint64_t, 3>> buckets;  // distance -> all, v4, v5
  for (const PeerView& p : s.peers) {
    const bool has4 = (p.protocols & disc::kFlagV4) != 0;
    const bool has5 = (p.protocols & disc::kFlagV5) != 0;
    v4 += has4;
    v5 += has5;
    both += has4 && has5;
    live += p.live();
    auto& b = buckets[p.distance];
    ++b[0];
    b[1] += has4;
    b[2] += has5;
  }
  e.emplace_back("total", std::uint64_t{s.peers.size()});
  e.emplace_back("v4", v4);
  e.emplace_back("v5", v5);
  e.emplace_back("both", both);
  e.emplace_back("live", live);
  e.emplace_back("replacements", std::uint64_t{s.replacements});
  e.emplace_back("snapshot_sequence", s.sequence);
  // Non-empty buckets by log distance (at most 257 distances exist; 0 is ourselves).
  TelemetryDict all;
  TelemetryDict by4;
  TelemetryDict by5;
  for (const auto& [distance, counts] : buckets) {
    if (all.size() >= kTelemetryMaxEntries) {
      break;
    }
    const std::string name = std::to_string(distance);
    all.emplace_back(name, counts[0]);
    if (counts[1] != 0) {
      by4.emplace_back(name, counts[1]);
    }
    if (counts[2] != 0) {
      by5.emplace_back(name, counts[2]);
    }
  }
  e.emplace_back("buckets", std::move(all));
  e.emplace_back("buckets_v4", std::move(by4));
  e.emplace_back("buckets_v5", std::move(by5));
  // The first `limit` peers, closest buckets first (as GET /v1/peers orders them), keyed by
  // "peer_" + the first 16 hex digits of the node id (as the peer lines print it).
  std::vector<const PeerView*> order;
  order.reserve(s.peers.size());
  for (const PeerView& p : s.peers) {
    order.push_back(&p);
  }
  std::sort(order.begin(), order.end(), [](const PeerView* a, const PeerView* b) {
    return a->distance != b->distance ? a->distance < b->distance : a->id < b->id;
  });
  const std::size_t shown = std::min(limit, order.size());
  e.emplace_back("shown", std::uint64_t{shown});
  for (std::size_t i = 0; i < shown; ++i) {
    const PeerView& p = *order[i];
    TelemetryDict d;
    d.emplace_back("id", to_hex(p.id));
    d.emplace_back("protocols", protocols_of(p.protocols));
    d.emplace_back("distance", static_cast<std::uint64_t>(p.distance));
    if (p.endpoint4.valid()) {
      d.emplace_back("endpoint4", p.endpoint4.to_string());
    }
    if (p.endpoint6.valid()) {
      d.emplace_back("endpoint6", p.endpoint6.to_string());
    }
    d.emplace_back("enr_seq", p.enr_seq);
    d.emplace_back("live", std::uint64_t{p.live() ? 1u : 0u});
    d.emplace_back("checks_passed", std::uint64_t{p.checks_passed});
    d.emplace_back("checks_failed", std::uint64_t{p.checks_failed});
    e.emplace_back("peer_" + to_hex(ByteView(p.id).first(8)), std::move(d));
  }
  return r;
}

std::string telemetry_enr(const CoreSnapshot& s) {
  auto record = local_record(s);
  return record ? enr::to_text(*record) : std::string();
}

std::string telemetry_enode(const CoreSnapshot& s, const Endpoint& bound) {
  auto record = local_record(s);
  if (!record) {
    return {};
  }
  if (auto url = enode::from_record(*record)) {
    return *url;
  }
  enode::Url u;  // no announced address yet: the key with the bound endpoint, as at start
  u.public_key = record->public_key();
  u.ip = bound.ip;
  u.tcp_port = u.udp_port = bound.port;
  return enode::to_string(u);
}

TelemetryReply telemetry_node(const CoreSnapshot& s, const Endpoint& bound) {
  TelemetryReply r;
  auto& e = r.entries;
  e.emplace_back("id", to_hex(s.local_id));
  e.emplace_back("seq", s.local_seq);
  e.emplace_back("bound", bound.to_string());
  if (auto record = local_record(s)) {
    if (auto ip = record->ip()) {
      e.emplace_back("ip", ip->to_string());
    }
    if (auto port = record->udp()) {
      e.emplace_back("udp", std::uint64_t{*port});
    }
    if (auto ip6 = record->ip6()) {
      e.emplace_back("ip6", ip6->to_string());
    }
  }
  e.emplace_back("external_address_source", s.external_address_source);
  // Longer than a telemetry string: pieces to join (or /discplane/node/enr, .../enode whole).
  e.emplace_back("enr", split_telemetry_string(telemetry_enr(s)));
  e.emplace_back("enode", split_telemetry_string(telemetry_enode(s, bound)));
  return r;
}

Result<std::size_t, std::string> parse_telemetry_peer_limit(std::string_view params) {
  if (params.empty()) {
    return kTelemetryDefaultPeers;
  }
  std::size_t n = 0;
  const auto [end, ec] = std::from_chars(params.data(), params.data() + params.size(), n);
  if (ec != std::errc() || end != params.data() + params.size() || n > kTelemetryMaxPeers) {
    return fail("peer count must be 0.." + std::to_string(kTelemetryMaxPeers));
  }
  return n;
}

// ---- the DPDK side ---------------------------------------------------------------------------

namespace {

// The one source the callbacks read. The mutex is taken by the telemetry thread and by
// attach/detach on the control plane only: the core never sees it.
std::mutex g_mutex;
const SnapshotPublisher<CoreSnapshot>* g_snapshots = nullptr;
Endpoint g_bound;
bool g_registered = false;

std::int64_t mono_now_ns() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<std::int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

int add_scalar(rte_tel_data* d, const std::string& name, const TelemetryScalar& v) {
  if (const auto* n = std::get_if<std::uint64_t>(&v)) {
    return rte_tel_data_add_dict_u64(d, name.c_str(), *n);
  }
  return rte_tel_data_add_dict_string(d, name.c_str(), std::get<std::string>(v).c_str());
}

int fill(const TelemetryReply& reply, rte_tel_data* d) {
  if (reply.text) {
    return rte_tel_data_string(d, reply.text->c_str());
  }
  rte_tel_data_start_dict(d);
  for (const auto& [name, value] : reply.entries) {
    int rc = 0;
    if (const auto* n = std::get_if<std::uint64_t>(&value)) {
      rc = rte_tel_data_add_dict_u64(d, name.c_str(), *n);
    } else if (const auto* s = std::get_if<std::string>(&value)) {
      rc = rte_tel_data_add_dict_string(d, name.c_str(), s->c_str());
    } else {
      rte_tel_data* inner = rte_tel_data_alloc();
      if (inner == nullptr) {
        return -ENOMEM;
      }
      if (const auto* dict = std::get_if<TelemetryDict>(&value)) {
        rte_tel_data_start_dict(inner);
        for (const auto& [key, v] : *dict) {
          (void)add_scalar(inner, key, v);  // over a limit: cut, as DPDK's own commands do
        }
      } else {
        rte_tel_data_start_array(inner, RTE_TEL_STRING_VAL);
        for (const std::string& piece : std::get<TelemetryStrings>(value)) {
          (void)rte_tel_data_add_array_string(inner, piece.c_str());
        }
      }
      rc = rte_tel_data_add_dict_container(d, name.c_str(), inner, 0);
      if (rc != 0) {
        rte_tel_data_free(inner);
      }
    }
    if (rc == -ENOSPC) {
      break;  // the dict is full: what fits is the answer
    }
  }
  return 0;
}

// Renders under the mutex from a pinned snapshot; never throws into C.
template <class Render>
int answer(rte_tel_data* d, Render&& render) noexcept {
  try {
    std::lock_guard<std::mutex> lock(g_mutex);
    if (g_snapshots == nullptr) {
      return -ENODEV;  // the appliance is gone (or not yet there): the client sees null
    }
    TelemetryReply reply;
    {
      auto pinned = g_snapshots->acquire();  // held only while the reply is built
      reply = render(pinned.get());
    }
    return fill(reply, d);
  } catch (...) {
    return -ENOMEM;
  }
}

int on_stats(const char*, const char*, rte_tel_data* d) {
  return answer(d, [](const CoreSnapshot& s) { return telemetry_stats(s, mono_now_ns()); });
}

int on_peers(const char*, const char* params, rte_tel_data* d) {
  auto limit = parse_telemetry_peer_limit(params != nullptr ? params : "");
  if (!limit) {
    return -EINVAL;
  }
  return answer(d, [n = *limit](const CoreSnapshot& s) { return telemetry_peers(s, n); });
}

int on_node(const char*, const char*, rte_tel_data* d) {
  return answer(d, [](const CoreSnapshot& s) { return telemetry_node(s, g_bound); });
}

int on_node_enr(const char*, const char*, rte_tel_data* d) {
  return answer(d, [](const CoreSnapshot& s) {
    TelemetryReply r;
    r.text = telemetry_enr(s);
    return r;
  });
}

int on_node_enode(const char*, const char*, rte_tel_data* d) {
  return answer(d, [](const CoreSnapshot& s) {
    TelemetryReply r;
    r.text = telemetry_enode(s, g_bound);
    return r;
  });
}

}  // namespace

Result<std::unique_ptr<TelemetryRegistration>, std::string> TelemetryRegistration::attach(
    const SnapshotPublisher<CoreSnapshot>& snapshots, const Endpoint& bound) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_snapshots != nullptr) {
    return fail(std::string("telemetry: another appliance is attached"));
  }
  if (!g_registered) {
    struct Command {
      const char* name;
      telemetry_cb fn;
      const char* help;
    };
    // Help texts stay under RTE_TEL_MAX_STRING_LEN (128), or registration fails.
    static constexpr Command kCommands[] = {
        {"/discplane/stats", on_stats,
         "Counters: packets per protocol, drops per reason, sessions, handshakes, table, loop."},
        {"/discplane/peers", on_peers,
         "Peer counts per protocol and bucket, then the N closest peers. Param: N (0..32, def 8)"},
        {"/discplane/node", on_node, "Node id, seq, address; enr and enode as pieces to join."},
        {"/discplane/node/enr", on_node_enr, "Our ENR (enr:...), whole."},
        {"/discplane/node/enode", on_node_enode, "Our enode:// URL, whole."},
    };
    static_assert([] {
      for (const Command& c : kCommands) {
        if (std::string_view(c.help).size() >= kTelemetryMaxString) {
          return false;
        }
      }
      return true;
    }());
    for (const Command& c : kCommands) {
      const int rc = rte_telemetry_register_cmd(c.name, c.fn, c.help);
      if (rc != 0) {
        return fail(std::string("telemetry: cannot register ") + c.name + " (" +
                    std::to_string(rc) + ")");
      }
    }
    g_registered = true;
  }
  g_snapshots = &snapshots;
  g_bound = bound;
  return std::unique_ptr<TelemetryRegistration>(new TelemetryRegistration());
}

TelemetryRegistration::~TelemetryRegistration() {
  std::lock_guard<std::mutex> lock(g_mutex);  // waits for a reply in progress
  g_snapshots = nullptr;
}

}  // namespace discplane::control
