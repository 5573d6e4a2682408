// discctl's commands against a running appliance's HTTP API (--api HOST:PORT, default
// 127.0.0.1:30380):
//   discctl node [--json]                                  our identity and address
//   discctl peers [--proto v4|v5] [--live] [--distance D] [--limit N] [--json]
//   discctl buckets [--json]                               table fill per distance
//   discctl health [--json]                                exit 0 healthy, 1 not (or unreachable)
//   discctl lookup [TARGET] [--proto v4|v5] [--json]       run a lookup, print what it found
//   discctl metrics                                        the Prometheus text
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "cli.h"

namespace discplane::cli {
namespace {

std::string protocols_of(const nlohmann::json& list) {
  std::string s;
  for (const auto& p : list) {
    s += (s.empty() ? "" : ",") + text_of(p);
  }
  return s.empty() ? "-" : s;
}

std::string age_text(const nlohmann::json& seconds) {
  if (!seconds.is_number()) {
    return "never";
  }
  const double s = seconds.get<double>();
  char buf[32];
  if (s < 120) {
    std::snprintf(buf, sizeof buf, "%.0fs ago", s);
  } else if (s < 7200) {
    std::snprintf(buf, sizeof buf, "%.0fm ago", s / 60);
  } else {
    std::snprintf(buf, sizeof buf, "%.1fh ago", s / 3600);
  }
  return buf;
}

int api_node(const ApiTarget& api, bool json) {
  auto j = api_json(api, "GET", "/v1/node");
  if (!j) {
    return kFailed;
  }
  if (json) {
    std::cout << j->dump(2) << "\n";
    return kOk;
  }
  const auto& ext = (*j)["external_address"];
  std::string external = "-";
  if (ext["ip"].is_string()) {
    external = text_of(ext["ip"]) + ":" + text_of(ext["udp"]);
  } else if (ext["ip6"].is_string()) {
    external = "[" + text_of(ext["ip6"]) + "]:" + text_of(ext["udp6"]);
  }
  std::cout << "node_id: " << text_of((*j)["node_id"]) << "\n"
            << "enode: " << text_of((*j)["enode"]) << "\n"
            << "enr: " << text_of((*j)["enr"]) << "\n"
            << "seq: " << text_of((*j)["seq"]) << "\n"
            << "external: " << external << " (" << text_of(ext["source"]) << ")\n"
            << "listen: " << text_of((*j)["listen"]) << "\n"
            << "protocols: " << protocols_of((*j)["protocols"]) << "\n"
            << "mode: " << text_of((*j)["mode"]) << "\n";
  return kOk;
}

struct PeersArgs {
  std::string proto;
  bool live = false;
  std::optional<int> distance;
  std::optional<std::uint64_t> limit;
  bool json = false;
};

int api_peers(const ApiTarget& api, const PeersArgs& a) {
  const std::string& proto = a.proto;
  const bool live = a.live;
  const bool json = a.json;
  std::string path = "/v1/peers";
  std::string sep = "?";
  if (!proto.empty()) {
    path += sep + "protocol=" + proto;
    sep = "&";
  }
  if (live) {
    path += sep + "live=true";
    sep = "&";
  }
  if (a.distance) {
    path += sep + "distance=" + std::to_string(*a.distance);
    sep = "&";
  }
  if (a.limit) {
    path += sep + "limit=" + std::to_string(*a.limit);
  }
  auto j = api_json(api, "GET", path);
  if (!j) {
    return kFailed;
  }
  if (json) {
    std::cout << j->dump(2) << "\n";
    return kOk;
  }
  std::printf("%-16s  %-6s  %-40s  %4s  %6s  %s\n", "ID", "PROTO", "ENDPOINT", "DIST", "SEQ",
              "LAST SEEN");
  for (const auto& p : (*j)["peers"]) {
    std::printf("%-16s  %-6s  %-40s  %4s  %6s  %s\n", text_of(p["id"]).substr(0, 16).c_str(),
                protocols_of(p["protocols"]).c_str(), text_of(p["endpoint"]).c_str(),
                text_of(p["distance"]).c_str(), text_of(p["enr_seq"]).c_str(),
                age_text(p["last_seen_age_s"]).c_str());
  }
  std::printf("%s of %s nodes (%s matched)\n", text_of((*j)["count"]).c_str(),
              text_of((*j)["total"]).c_str(), text_of((*j)["matched"]).c_str());
  return kOk;
}

int api_lookup(const ApiTarget& api, const std::string& target, const std::string& proto,
               bool json) {
  nlohmann::json body = nlohmann::json::object();
  if (!proto.empty()) {
    body["protocol"] = proto;
  }
  if (!target.empty()) {
    body["target"] = target;
  }
  auto j = api_json(api, "POST", "/v1/lookup", body.dump());
  if (!j) {
    return kFailed;
  }
  if (json) {
    std::cout << j->dump(2) << "\n";
    return kOk;
  }
  std::printf("lookup %s target %s: %s nodes in %s ms\n", text_of((*j)["protocol"]).c_str(),
              text_of((*j)["target"]).c_str(), text_of((*j)["count"]).c_str(),
              text_of((*j)["elapsed_ms"]).c_str());
  for (const auto& n : (*j)["found"]) {
    std::printf("%s  %-40s  d=%s\n", text_of(n["id"]).c_str(), text_of(n["endpoint"]).c_str(),
                text_of(n["distance"]).c_str());
  }
  return kOk;
}

int api_metrics(const ApiTarget& api) {
  auto reply = api_call(api, "GET", "/metrics");
  if (!reply) {
    return kFailed;
  }
  std::cout << reply->body;
  return kOk;
}

int api_buckets(const ApiTarget& api, bool json) {
  auto j = api_json(api, "GET", "/v1/buckets");
  if (!j) {
    return kFailed;
  }
  if (json) {
    std::cout << j->dump(2) << "\n";
    return kOk;
  }
  std::printf("%4s  %5s  %5s  %5s  %5s\n", "DIST", "NODES", "V4", "V5", "LIVE");
  for (const auto& b : (*j)["buckets"]) {
    std::printf("%4s  %5s  %5s  %5s  %5s\n", text_of(b["distance"]).c_str(),
                text_of(b["count"]).c_str(), text_of(b["v4"]).c_str(), text_of(b["v5"]).c_str(),
                text_of(b["live"]).c_str());
  }
  std::printf("%s nodes, %s replacements\n", text_of((*j)["total"]).c_str(),
              text_of((*j)["replacements"]).c_str());
  return kOk;
}

// GET /v1/health answers 503 with its JSON when the node is unhealthy: printed, exit 1.
int api_health(const ApiTarget& api, bool json) {
  auto res = api_call(api, "GET", "/v1/health", {}, /*any_status=*/true);
  if (!res) {
    return kFailed;
  }
  auto j = nlohmann::json::parse(res->body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return fail("/v1/health: HTTP " + std::to_string(res->status) + ": not JSON");
  }
  const bool ok = res->status == 200 && j.value("ok", false);
  if (json) {
    std::cout << j.dump(2) << "\n";
  } else {
    std::printf("%s: snapshot %s, %s s old, %s peers, %s sessions%s%s\n", ok ? "ok" : "unhealthy",
                text_of(j["snapshot_sequence"]).c_str(), text_of(j["snapshot_age_s"]).c_str(),
                text_of(j["peers"]).c_str(), text_of(j["sessions"]).c_str(), ok ? "" : ": ",
                ok ? "" : text_of(j["error"]).c_str());
  }
  return ok ? kOk : kFailed;
}

const char* const kApiHelp = " (via the running node's API: --api HOST:PORT)";

}  // namespace

void add_api_commands(CLI::App& app, const Globals& globals, Commands& out) {
  auto with_api = [&globals](auto run) {
    return [&globals, run]() {
      const auto api = globals.api();
      return api ? run(*api) : kUsage;
    };
  };
  auto json = std::make_shared<bool>(false);

  auto* node_cmd =
      app.add_subcommand("node", std::string("a running node's identity and address") + kApiHelp);
  node_cmd->add_flag("--json", *json, "print the API's JSON");
  out.push_back(
      {node_cmd, with_api([json](const ApiTarget& api) { return api_node(api, *json); })});

  auto peers = std::make_shared<PeersArgs>();
  auto* peers_cmd =
      app.add_subcommand("peers", std::string("a running node's peer table") + kApiHelp);
  peers_cmd->add_option("--proto", peers->proto, "only nodes speaking v4 or v5")
      ->check(CLI::IsMember({"v4", "v5"}));
  peers_cmd->add_flag("--live", peers->live, "only verified nodes with no failed check");
  peers_cmd->add_option("--distance", peers->distance, "only nodes at this log distance (0..256)")
      ->check(CLI::Range(0, 256));
  peers_cmd->add_option("--limit", peers->limit, "at most N nodes (closest first)");
  peers_cmd->add_flag("--json", peers->json, "print the API's JSON");
  out.push_back(
      {peers_cmd, with_api([peers](const ApiTarget& api) { return api_peers(api, *peers); })});

  auto* buckets_cmd =
      app.add_subcommand("buckets", std::string("a running node's table, per distance") + kApiHelp);
  buckets_cmd->add_flag("--json", *json, "print the API's JSON");
  out.push_back(
      {buckets_cmd, with_api([json](const ApiTarget& api) { return api_buckets(api, *json); })});

  auto* health_cmd = app.add_subcommand(
      "health", std::string("is the node healthy (exit 0) or not (exit 1)") + kApiHelp);
  health_cmd->add_flag("--json", *json, "print the API's JSON");
  out.push_back(
      {health_cmd, with_api([json](const ApiTarget& api) { return api_health(api, *json); })});

  auto lookup_target = std::make_shared<std::string>();
  auto lookup_proto = std::make_shared<std::string>();
  auto* lookup_cmd =
      app.add_subcommand("lookup", std::string("run a lookup on a running node") + kApiHelp);
  lookup_cmd->add_option("target", *lookup_target, "target node id (hex; default random)");
  lookup_cmd->add_option("--proto", *lookup_proto, "v4 or v5 (default: v5 when the node runs it)")
      ->check(CLI::IsMember({"v4", "v5"}));
  lookup_cmd->add_flag("--json", *json, "print the API's JSON");
  out.push_back({lookup_cmd, with_api([=](const ApiTarget& api) {
                   return api_lookup(api, *lookup_target, *lookup_proto, *json);
                 })});

  auto* metrics_cmd =
      app.add_subcommand("metrics", std::string("a running node's Prometheus metrics") + kApiHelp);
  out.push_back({metrics_cmd, with_api([](const ApiTarget& api) { return api_metrics(api); })});
}

}  // namespace discplane::cli
