// End to end through the operator surface: two appliances on loopback find each other, and
// every API endpoint, the Prometheus text and discctl are checked against what they know.
// Then the second appliance's node database brings a third (same key, no bootnodes) back to
// the first.
#include "discplane/control/api.h"

#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string_view>
#include <thread>

#include <catch2/catch.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "discplane/control/appliance.h"
#include "discplane/control/metrics.h"
#include "discplane/control/node_db.h"
#include "discplane/discovery/node_id.h"
#include "discplane/discovery/peer_table.h"
#include "discplane/wire/enr.h"

#include "unit/control/temp_dir.h"

using namespace discplane;
using namespace discplane::control;
using Json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

Config node_config(const test::TempDir& dir, const std::string& name) {
  Config c;
  c.identity.key_file = (dir / (name + ".key")).string();
  c.network.listen = {Endpoint{IpAddress::v4(127, 0, 0, 1), 0}};
  c.timers.snapshot_interval = std::chrono::milliseconds(50);
  return c;
}

template <class Pred>
bool wait_for(const Appliance& a, Pred pred, int seconds = 20) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred(a.snapshots().acquire().get())) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

bool has_peer(const CoreSnapshot& s, const std::string& id_hex) {
  return std::any_of(s.peers.begin(), s.peers.end(),
                     [&](const PeerView& p) { return to_hex(p.id) == id_hex; });
}

struct Reply {
  int status = 0;
  std::string content_type;
  std::string body;
  Json json;
};

Reply call(httplib::Client& client, const std::string& method, const std::string& path,
           const std::string& body = {}) {
  httplib::Result res =
      method == "POST" ? client.Post(path, body, "application/json") : client.Get(path);
  INFO(method << " " << path << ": " << httplib::to_string(res.error()));
  REQUIRE(res);
  Reply r{res->status, res->get_header_value("Content-Type"), res->body, Json()};
  if (r.content_type.starts_with("application/json")) {
    r.json = Json::parse(res->body);
  }
  return r;
}

struct Run {
  int code = -1;
  std::string out;
  std::string err;
};

Run discctl(const test::TempDir& dir, const std::string& args) {
  const fs::path bin = fs::path(DP_BINARY_DIR) / "discctl";
  REQUIRE(fs::exists(bin));
  const auto out = dir / "discctl.out";
  const auto err = dir / "discctl.err";
  const std::string cmd =
      bin.string() + " " + args + " >" + out.string() + " 2>" + err.string() + " </dev/null";
  const int status = std::system(cmd.c_str());
  REQUIRE(WIFEXITED(status));
  return {WEXITSTATUS(status), test::read_file(out), test::read_file(err)};
}

// A tiny scanner over one line, for the Prometheus text format below (std::regex is not
// used: GCC 12 reports false -Wmaybe-uninitialized inside it under ASan, see process.h).
struct Scan {
  std::string_view rest;
  bool lit(std::string_view s) {
    if (!rest.starts_with(s)) {
      return false;
    }
    rest.remove_prefix(s.size());
    return true;
  }
  // [a-zA-Z_:][a-zA-Z0-9_:]* (metric names; `colon` false: label names, no ':').
  bool name(std::string& out, bool colon = true) {
    auto first = [&](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
    };
    auto more = [&](char c) { return first(c) || (c >= '0' && c <= '9'); };
    if (rest.empty() || !first(rest[0])) {
      return false;
    }
    std::size_t n = 1;
    while (n < rest.size() && more(rest[n])) {
      ++n;
    }
    out.assign(rest.substr(0, n));
    rest.remove_prefix(n);
    return true;
  }
  // "..." with backslash escapes; no raw quote inside.
  bool quoted() {
    if (!lit("\"")) {
      return false;
    }
    for (std::size_t i = 0; i < rest.size(); ++i) {
      if (rest[i] == '\\') {
        ++i;
      } else if (rest[i] == '"') {
        rest.remove_prefix(i + 1);
        return true;
      }
    }
    return false;
  }
};

// "# HELP name text": the family name.
std::optional<std::string> help_line(std::string_view line) {
  Scan sc{line};
  std::string name;
  if (!sc.lit("# HELP ") || !sc.name(name) || !sc.lit(" ") || sc.rest.empty() ||
      sc.rest[0] == ' ' || sc.rest[0] == '\t') {
    return std::nullopt;
  }
  return name;
}
// "# TYPE name kind": (name, kind).
std::optional<std::pair<std::string, std::string>> type_line(std::string_view line) {
  Scan sc{line};
  std::string name;
  if (!sc.lit("# TYPE ") || !sc.name(name) || !sc.lit(" ")) {
    return std::nullopt;
  }
  for (const char* kind : {"counter", "gauge", "histogram", "summary", "untyped"}) {
    if (sc.rest == kind) {
      return std::pair{name, std::string(kind)};
    }
  }
  return std::nullopt;
}
// "name{label="v",...} value": (name, "{...}" or "", value).
struct SampleLine {
  std::string name;
  std::string labels;
  std::string value;
};
std::optional<SampleLine> sample_line(std::string_view line) {
  Scan sc{line};
  SampleLine out;
  if (!sc.name(out.name)) {
    return std::nullopt;
  }
  const std::string_view labels_start = sc.rest;
  if (sc.lit("{")) {
    std::string label;
    do {
      if (!sc.name(label, false) || !sc.lit("=") || !sc.quoted()) {
        return std::nullopt;
      }
    } while (sc.lit(","));
    if (!sc.lit("}")) {
      return std::nullopt;
    }
    out.labels.assign(labels_start.substr(0, labels_start.size() - sc.rest.size()));
  }
  if (!sc.lit(" ") || sc.rest.empty()) {
    return std::nullopt;
  }
  if (sc.rest != "+Inf" && sc.rest != "NaN") {
    for (char c : sc.rest) {
      if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == '+' || c == '-')) {
        return std::nullopt;
      }
    }
    if (sc.rest[0] == '+') {
      return std::nullopt;
    }
  }
  out.value.assign(sc.rest);
  return out;
}

// Checks the Prometheus text exposition format line by line; returns the samples by their full
// name with labels ("name{a=\"b\"}" -> value).
std::map<std::string, double> parse_prometheus(const std::string& text) {
  std::map<std::string, std::string> types;  // family -> type
  std::set<std::string> helped;
  std::map<std::string, double> samples;
  REQUIRE(!text.empty());
  REQUIRE(text.back() == '\n');
  std::istringstream in(text);
  std::string line;
  std::string current;  // the family whose samples may follow
  while (std::getline(in, line)) {
    INFO("line: " << line);
    if (const auto h = help_line(line)) {
      CHECK(helped.insert(*h).second);  // once per family
      current = *h;
    } else if (const auto t = type_line(line)) {
      CHECK(types.emplace(t->first, t->second).second);
      CHECK(t->first == current);  // HELP then TYPE of the same family
      if (t->second == "counter") {
        CHECK(t->first.ends_with("_total"));
      } else {
        CHECK_FALSE(t->first.ends_with("_total"));
      }
    } else {
      const auto m = sample_line(line);
      REQUIRE(m);
      std::string family = m->name;
      if (types[current] == "histogram") {
        for (const char* suffix : {"_bucket", "_sum", "_count"}) {
          if (family == current + suffix) {
            family = current;
          }
        }
      }
      CHECK(family == current);  // samples follow their own TYPE line
      CHECK(samples.emplace(m->name + m->labels, std::stod(m->value)).second);
    }
  }
  return samples;
}

}  // namespace

TEST_CASE("api: two appliances, every endpoint, metrics, discctl, node db", "[e2e][api]") {
  test::TempDir dir;
  auto a = Appliance::create(node_config(dir, "a"));
  REQUIRE(a);
  Appliance& first = **a;
  Config second_config = node_config(dir, "b");
  second_config.bootnodes = {first.enode_url(), first.enr_text()};
  second_config.node_db.path = (dir / "b-nodes.db").string();
  auto b = Appliance::create(second_config);
  REQUIRE(b);
  Appliance& second = **b;

  first.start();
  auto api = ApiServer::start(first, Endpoint{IpAddress::v4(127, 0, 0, 1), 0});
  REQUIRE(api);
  const Endpoint api_ep = (*api)->endpoint();
  REQUIRE(api_ep.port != 0);
  second.start();

  const std::string a_id = first.node_id_hex();
  const std::string b_id = second.node_id_hex();
  REQUIRE(wait_for(first, [&](const CoreSnapshot& s) { return has_peer(s, b_id); }));
  REQUIRE(wait_for(second, [&](const CoreSnapshot& s) { return has_peer(s, a_id); }));

  httplib::Client client(api_ep.ip.to_string(), api_ep.port);
  client.set_read_timeout(std::chrono::seconds(20));

  SECTION("node") {
    auto r = call(client, "GET", "/v1/node");
    REQUIRE(r.status == 200);
    CHECK(r.content_type.starts_with("application/json"));
    CHECK(r.json["node_id"] == a_id);
    CHECK(r.json["enode"] == first.enode_url());
    CHECK(r.json["enr"] == first.enr_text());
    auto record = enr::parse_text(r.json["enr"].get<std::string>());
    REQUIRE(record);
    CHECK(to_hex(record->node_id()) == a_id);
    CHECK(r.json["seq"] == record->seq());
    CHECK(r.json["listen"] == first.bound_endpoint().to_string());
    CHECK(r.json["external_address"]["ip"] == "127.0.0.1");
    CHECK(r.json["external_address"]["udp"] == first.bound_endpoint().port);
    CHECK(r.json["external_address"]["source"].is_string());
    CHECK(r.json["protocols"] == Json::array({"discv4", "discv5"}));
    CHECK(r.json["kernel_rx_dropped"].is_number_unsigned());
    CHECK(r.json["snapshot"]["sequence"].get<std::uint64_t>() > 0);
  }

  SECTION("peers, filters, one peer, buckets") {
    auto r = call(client, "GET", "/v1/peers");
    REQUIRE(r.status == 200);
    REQUIRE(r.json["peers"].is_array());
    CHECK(r.json["count"] == r.json["peers"].size());
    const Json* b_entry = nullptr;
    for (const auto& p : r.json["peers"]) {
      if (p["id"] == b_id) {
        b_entry = &p;
      }
    }
    REQUIRE(b_entry != nullptr);
    const Json peer_b = *b_entry;
    CHECK(peer_b["endpoint"] == second.bound_endpoint().to_string());
    CHECK(peer_b["endpoint4"] == second.bound_endpoint().to_string());
    Bytes a_raw;
    Bytes b_raw;
    REQUIRE(from_hex(a_id, a_raw));
    REQUIRE(from_hex(b_id, b_raw));
    const int distance = disc::log_distance(to_array<32>(a_raw), to_array<32>(b_raw));
    CHECK(peer_b["distance"] == distance);
    CHECK(peer_b["protocols"].size() >= 1);
    // Liveness per protocol the peer speaks (keys as in "protocols"), each with its own
    // checks; checks_passed is their sum.
    REQUIRE(peer_b["liveness"].is_object());
    CHECK(peer_b["liveness"].size() == peer_b["protocols"].size());
    std::uint64_t passed = 0;
    for (const auto& proto : peer_b["protocols"]) {
      const Json& l = peer_b["liveness"][proto.get<std::string>()];
      REQUIRE(l.is_object());
      CHECK(l["live"].is_boolean());
      CHECK(l["checks_failed"].is_number_unsigned());
      passed += l["checks_passed"].get<std::uint64_t>();
      CHECK(l["live"] == (l["checks_passed"].get<std::uint64_t>() > 0 && l["checks_failed"] == 0));
    }
    CHECK(passed == peer_b["checks_passed"].get<std::uint64_t>());

    auto by_distance = call(client, "GET", "/v1/peers?distance=" + std::to_string(distance));
    REQUIRE(by_distance.status == 200);
    bool found = false;
    for (const auto& p : by_distance.json["peers"]) {
      CHECK(p["distance"] == distance);
      found = found || p["id"] == b_id;
    }
    CHECK(found);
    for (const char* proto : {"v4", "v5"}) {
      auto filtered = call(client, "GET", std::string("/v1/peers?protocol=") + proto);
      REQUIRE(filtered.status == 200);
      for (const auto& p : filtered.json["peers"]) {
        const auto& list = p["protocols"];
        CHECK(std::find(list.begin(), list.end(), proto) != list.end());
      }
    }
    auto limited = call(client, "GET", "/v1/peers?limit=0");
    CHECK(limited.status == 200);
    CHECK(limited.json["count"] == 0);
    CHECK(limited.json["peers"].empty());
    CHECK(limited.json["matched"].get<std::size_t>() >= 1);
    auto live = call(client, "GET", "/v1/peers?live=true");
    REQUIRE(live.status == 200);
    for (const auto& p : live.json["peers"]) {
      CHECK(p["live"] == true);
    }
    for (const char* bad : {"/v1/peers?protocol=v6", "/v1/peers?distance=257",
                            "/v1/peers?distance=-1", "/v1/peers?limit=x", "/v1/peers?live=maybe"}) {
      auto e = call(client, "GET", bad);
      INFO(bad);
      CHECK(e.status == 400);
      CHECK(e.json["error"].is_string());
    }

    auto one = call(client, "GET", "/v1/peers/" + b_id);
    REQUIRE(one.status == 200);
    CHECK(one.json["id"] == b_id);
    CHECK(one.json["endpoint"] == second.bound_endpoint().to_string());
    std::string unknown = b_id;
    unknown[0] = unknown[0] == '0' ? '1' : '0';
    auto missing = call(client, "GET", "/v1/peers/" + unknown);
    CHECK(missing.status == 404);
    CHECK(missing.json["error"].is_string());
    CHECK(call(client, "GET", "/v1/peers/xyz").status == 400);
    CHECK(call(client, "GET", "/v1/peers/" + b_id.substr(2)).status == 400);

    auto buckets = call(client, "GET", "/v1/buckets");
    REQUIRE(buckets.status == 200);
    std::size_t sum = 0;
    bool has_b_bucket = false;
    for (const auto& bucket : buckets.json["buckets"]) {
      CHECK(bucket["count"].get<std::size_t>() > 0);
      CHECK(bucket["v4"].get<std::size_t>() <= bucket["count"].get<std::size_t>());
      CHECK(bucket["v5"].get<std::size_t>() <= bucket["count"].get<std::size_t>());
      sum += bucket["count"].get<std::size_t>();
      has_b_bucket = has_b_bucket || bucket["distance"] == distance;
    }
    CHECK(sum == buckets.json["total"].get<std::size_t>());
    CHECK(has_b_bucket);
  }

  SECTION("health, errors") {
    auto h = call(client, "GET", "/v1/health");
    CHECK(h.status == 200);
    CHECK(h.json["ok"] == true);
    CHECK(h.json["snapshot_age_s"].get<double>() < 5.0);
    CHECK(h.json["kernel_rx_dropped"].is_number_unsigned());
    auto nope = call(client, "GET", "/v1/nope");
    CHECK(nope.status == 404);
    CHECK(nope.json["error"].is_string());
  }

  SECTION("lookup") {
    auto r = call(client, "POST", "/v1/lookup", R"({"protocol": "v4", "target": ")" + b_id + "\"}");
    REQUIRE(r.status == 200);
    CHECK(r.json["protocol"] == "v4");
    CHECK(r.json["target"] == b_id);
    CHECK(r.json["tag"].get<std::uint64_t>() > 0);
    REQUIRE(r.json["found"].is_array());
    CHECK(r.json["count"] == r.json["found"].size());
    for (const auto& n : r.json["found"]) {
      CHECK(n["id"].get<std::string>().size() == 64);
    }
    // Once A knows B speaks discv5, a discv5 lookup from A reaches B and reports it.
    REQUIRE(wait_for(first, [&](const CoreSnapshot& s) {
      return std::any_of(s.peers.begin(), s.peers.end(), [&](const PeerView& p) {
        return to_hex(p.id) == b_id && (p.protocols & disc::kFlagV5) != 0;
      });
    }));
    auto v5 = call(client, "POST", "/v1/lookup", R"({"protocol": "v5"})");
    REQUIRE(v5.status == 200);
    CHECK(v5.json["protocol"] == "v5");
    bool found_b = false;
    for (const auto& n : v5.json["found"]) {
      if (n["id"] == b_id) {
        found_b = true;
        CHECK(n["endpoint"] == second.bound_endpoint().to_string());
      }
    }
    CHECK(found_b);
    auto tag2 = v5.json["tag"].get<std::uint64_t>();
    CHECK(tag2 > r.json["tag"].get<std::uint64_t>());

    CHECK(call(client, "POST", "/v1/lookup", "{nope").status == 400);
    CHECK(call(client, "POST", "/v1/lookup", R"({"protocol": "v6"})").status == 400);
    CHECK(call(client, "POST", "/v1/lookup", R"({"target": "abc"})").status == 400);
    CHECK(call(client, "GET", "/v1/lookup").status >= 400);  // POST only

    // The finished lookups show in the metrics.
    auto m = call(client, "GET", "/metrics");
    auto samples = parse_prometheus(m.body);
    CHECK(samples["discplane_lookups_done_total"] >= 2);
    CHECK(samples["discplane_lookup_duration_seconds_count"] >= 2);
  }

  SECTION("metrics") {
    auto r = call(client, "GET", "/metrics");
    REQUIRE(r.status == 200);
    CHECK(r.content_type == kPrometheusContentType);
    const auto samples = parse_prometheus(r.body);
    // B bonded with A over discv4: pings both ways.
    CHECK(samples.at(R"(discplane_packets_received_total{protocol="v4",type="ping"})") > 0);
    CHECK(samples.at(R"(discplane_packets_sent_total{protocol="v4",type="pong"})") > 0);
    CHECK(samples.count(R"(discplane_packets_received_total{protocol="v5",type="whoareyou"})"));
    CHECK(samples.count(R"(discplane_packets_received_total{protocol="v5",type="handshake"})"));
    CHECK(samples.count(R"(discplane_dropped_packets_total{reason="v5_whoareyou_rate_limited"})"));
    // Issue 15: the request limits and the socket's kernel drops have their reasons.
    CHECK(samples.at(R"(discplane_dropped_packets_total{reason="v4_request_rate_limited"})") == 0);
    CHECK(samples.at(R"(discplane_dropped_packets_total{reason="v5_request_rate_limited"})") == 0);
    CHECK(samples.count(R"(discplane_loop_dropped_total{reason="kernel_rx_overflow"})") == 1);
    CHECK(samples.at(R"(discplane_table_nodes{protocol="v4"})") >= 1);
    CHECK(samples.at("discplane_table_entries") >= 1);
    CHECK(samples.at("discplane_loop_rx_packets_total") > 0);
    CHECK(samples.at("discplane_up") == 1);
    for (const char* name :
         {"discplane_v4_bonds_total", "discplane_v5_whoareyou_sent_total",
          "discplane_v5_whoareyou_rate_limited_total", "discplane_v5_sessions",
          "discplane_lookups_started_total", "discplane_loop_bursts_total",
          "discplane_loop_empty_polls_total", "discplane_loop_busy_cycles_total",
          "discplane_loop_cycles_per_packet", R"(discplane_ip_votes{family="ipv4"})",
          R"(discplane_v5_handshakes_total{direction="initiated"})"}) {
      INFO(name);
      CHECK(samples.count(name) == 1);
    }
    // The histogram is cumulative and ends with +Inf == _count.
    double previous = 0;
    for (std::uint32_t ms : disc::Counters::kLookupBucketsMs) {
      std::ostringstream le;
      if (ms == 0) {
        le << "+Inf";
      } else {
        le << ms / 1000.0;
      }
      const std::string key = "discplane_lookup_duration_seconds_bucket{le=\"" + le.str() + "\"}";
      INFO(key);
      REQUIRE(samples.count(key) == 1);
      CHECK(samples.at(key) >= previous);
      previous = samples.at(key);
    }
    CHECK(previous == samples.at("discplane_lookup_duration_seconds_count"));

    // The shipped Grafana dashboard is valid JSON, takes a Prometheus data source variable and
    // plots only metrics that exist.
    std::set<std::string> names;
    for (const auto& [key, value] : samples) {
      names.insert(key.substr(0, key.find('{')));
    }
    const Json dash =
        Json::parse(test::read_file(fs::path(DP_SOURCE_DIR) / "conf/grafana-discplane.json"));
    bool has_ds_variable = false;
    for (const auto& v : dash["templating"]["list"]) {
      has_ds_variable =
          has_ds_variable || (v["type"] == "datasource" && v["query"] == "prometheus");
    }
    CHECK(has_ds_variable);
    // Every discplane_[a-z0-9_]+ token of an expression.
    auto metric_names = [](const std::string& expr) {
      std::vector<std::string> out;
      for (std::size_t at = expr.find("discplane_"); at != std::string::npos;
           at = expr.find("discplane_", at)) {
        std::size_t end = at + 10;
        while (end < expr.size() && ((expr[end] >= 'a' && expr[end] <= 'z') ||
                                     (expr[end] >= '0' && expr[end] <= '9') || expr[end] == '_')) {
          ++end;
        }
        if (end > at + 10) {
          out.push_back(expr.substr(at, end - at));
        }
        at = end;
      }
      return out;
    };
    std::size_t exprs = 0;
    for (const auto& panel : dash["panels"]) {
      CHECK(panel["datasource"]["uid"] == "${datasource}");
      for (const auto& target : panel["targets"]) {
        const std::string expr = target["expr"];
        ++exprs;
        for (const std::string& metric : metric_names(expr)) {
          INFO(expr);
          CHECK(names.count(metric) == 1);
        }
      }
    }
    CHECK(exprs >= 20);
  }

  SECTION("discctl") {
    const std::string api_arg = "--api " + api_ep.to_string();
    auto node = discctl(dir, api_arg + " node");
    INFO(node.err);
    REQUIRE(node.code == 0);
    CHECK(node.out.find("node_id: " + a_id + "\n") != std::string::npos);
    CHECK(node.out.find("enode: " + first.enode_url() + "\n") != std::string::npos);
    CHECK(node.out.find("listen: " + first.bound_endpoint().to_string()) != std::string::npos);

    auto peers = discctl(dir, "peers " + api_arg);  // --api after the subcommand too
    INFO(peers.err);
    REQUIRE(peers.code == 0);
    CHECK(peers.out.starts_with("ID "));
    CHECK(peers.out.find(b_id.substr(0, 16)) != std::string::npos);
    CHECK(peers.out.find(second.bound_endpoint().to_string()) != std::string::npos);

    auto peers_json = discctl(dir, api_arg + " peers --proto v4 --json");
    REQUIRE(peers_json.code == 0);
    const Json j = Json::parse(peers_json.out);
    CHECK(j["peers"].is_array());
    bool listed = false;
    for (const auto& p : j["peers"]) {
      listed = listed || p["id"] == b_id;
    }
    CHECK(listed);

    // The API's filters: distance (b's, then one where nothing is), limit, live.
    const int b_distance = [&] {
      for (const auto& p : j["peers"]) {
        if (p["id"] == b_id) {
          return p["distance"].get<int>();
        }
      }
      return -1;
    }();
    auto at_b = discctl(dir, api_arg + " peers --json --distance " + std::to_string(b_distance));
    REQUIRE(at_b.code == 0);
    const Json jb = Json::parse(at_b.out);
    REQUIRE(jb["count"].get<int>() >= 1);
    for (const auto& p : jb["peers"]) {
      CHECK(p["distance"] == b_distance);
    }
    auto limited = discctl(dir, api_arg + " peers --json --limit 0 --live");
    REQUIRE(limited.code == 0);
    CHECK(Json::parse(limited.out)["count"] == 0);
    CHECK(Json::parse(limited.out)["matched"].get<int>() >= 0);
    auto table_text = discctl(dir, api_arg + " peers --limit 1");
    REQUIRE(table_text.code == 0);
    CHECK(table_text.out.find("1 of ") != std::string::npos);

    auto buckets = discctl(dir, api_arg + " buckets --json");
    REQUIRE(buckets.code == 0);
    CHECK(Json::parse(buckets.out)["buckets"].is_array());
    auto buckets_text = discctl(dir, api_arg + " buckets");
    REQUIRE(buckets_text.code == 0);
    CHECK(buckets_text.out.starts_with("DIST "));
    CHECK(buckets_text.out.find(std::to_string(b_distance) + "  ") != std::string::npos);

    auto health = discctl(dir, api_arg + " health");
    INFO(health.err);
    CHECK(health.code == 0);
    CHECK(health.out.starts_with("ok: snapshot "));

    auto metrics = discctl(dir, api_arg + " metrics");
    REQUIRE(metrics.code == 0);
    CHECK(parse_prometheus(metrics.out).count("discplane_table_entries") == 1);

    auto lookup = discctl(dir, api_arg + " lookup " + b_id + " --proto v4 --json");
    INFO(lookup.err);
    REQUIRE(lookup.code == 0);
    CHECK(Json::parse(lookup.out)["target"] == b_id);

    // Nothing listens on port 1: one line on stderr, exit 1.
    auto down = discctl(dir, "--api 127.0.0.1:1 node");
    CHECK(down.code == 1);
    CHECK(down.err ==
          "discctl: cannot reach the API at 127.0.0.1:1: connection refused or host unreachable "
          "(is the node running, with its API here?)\n");
    CHECK(discctl(dir, "--api nothing node").code == 2);
    CHECK(discctl(dir, api_arg + " peers --proto v6").code == 2);
  }

  SECTION("shutdown: health 503, node db saved and used by the next run") {
    second.request_stop();
    second.wait();
    auto saved = load_node_db(second_config.node_db.path);
    REQUIRE(saved);
    const bool has_a = std::any_of(saved->nodes.begin(), saved->nodes.end(),
                                   [&](const NodeRecord& r) { return to_hex(r.id) == a_id; });
    CHECK(has_a);

    // Same key and database, no bootnodes: it finds A again through the database alone.
    Config third_config = second_config;
    third_config.bootnodes.clear();
    auto c = Appliance::create(third_config);
    REQUIRE(c);
    (*c)->start();
    CHECK(wait_for(**c, [&](const CoreSnapshot& s) {
      return std::any_of(s.peers.begin(), s.peers.end(),
                         [&](const PeerView& p) { return to_hex(p.id) == a_id && p.live(); });
    }));
    (*c)->request_stop();
    (*c)->wait();

    first.request_stop();
    first.wait();
    auto h = call(client, "GET", "/v1/health");
    CHECK(h.status == 503);
    CHECK(h.json["ok"] == false);
    CHECK(h.json["shut_down"] == true);
    CHECK(call(client, "POST", "/v1/lookup", "{}").status == 503);
    auto unhealthy = discctl(dir, "health --api " + api_ep.to_string());
    CHECK(unhealthy.code == 1);
    CHECK(unhealthy.out.starts_with("unhealthy: "));
    CHECK(unhealthy.out.find("the core has shut down") != std::string::npos);
  }

  (*api)->stop();
  second.request_stop();
  second.wait();
  first.request_stop();
  first.wait();
}
