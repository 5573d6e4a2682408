// The HTTP API: routes, query parsing and JSON rendering of snapshots. Each handler pins the
// newest snapshot only while it renders (SnapshotPublisher::acquire), so the core never waits
// on a slow client. cpp-httplib runs the handlers on its own worker threads.
#include "discplane/control/api.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <map>
#include <string_view>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "discplane/control/metrics.h"
#include "discplane/control/probe.h"
#include "discplane/discovery/node_id.h"
#include "discplane/discovery/peer_table.h"
#include "discplane/wire/enode.h"
#include "discplane/wire/enr.h"

namespace discplane::control {

namespace {

using Json = nlohmann::ordered_json;
constexpr auto kLookupPoll = std::chrono::milliseconds(20);
constexpr std::uint64_t kMaxProbeTimeoutMs = 60'000;
constexpr auto kProbeSlack = std::chrono::milliseconds(2'000);

void reply(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  res.set_content(body.dump(2) + "\n", "application/json");
}

void reply_error(httplib::Response& res, int status, const std::string& message) {
  reply(res, status, Json{{"error", message}});
}

std::int64_t now_mono_ns() {
  return SystemClock().now().mono_ns;
}

Json protocols_json(std::uint8_t flags) {
  Json list = Json::array();
  if (flags & disc::kFlagV4) {
    list.push_back("v4");
  }
  if (flags & disc::kFlagV5) {
    list.push_back("v5");
  }
  return list;
}

Json endpoint_json(const Endpoint& ep) {
  return ep.valid() ? Json(ep.to_string()) : Json();
}

// A strict decimal: digits only, no sign, no overflow.
std::optional<std::uint64_t> parse_uint(std::string_view text) {
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    return std::nullopt;
  }
  return v;
}

std::optional<NodeId> parse_node_id(std::string_view text) {
  Bytes raw;
  if (text.size() != 64 || !from_hex(text, raw) || raw.size() != 32) {
    return std::nullopt;
  }
  return to_array<32>(raw);
}

double age_seconds(std::int64_t now_ns, std::int64_t then_ns) {
  return then_ns == 0 ? 0.0 : static_cast<double>(now_ns - then_ns) / 1e9;
}

Json peer_json(const PeerView& p, const CoreSnapshot& s, std::int64_t now_ns) {
  Json j{{"id", to_hex(p.id)},
         {"public_key", to_hex(p.public_key)},
         {"protocols", protocols_json(p.protocols)},
         {"endpoint", endpoint_json(p.endpoint4.valid() ? p.endpoint4 : p.endpoint6)},
         {"endpoint4", endpoint_json(p.endpoint4)},
         {"endpoint6", endpoint_json(p.endpoint6)},
         {"distance", p.distance},
         {"enr_seq", p.enr_seq},
         {"live", p.live()}};
  j["enr"] = Json();
  if (!p.enr.empty()) {
    if (auto record = enr::decode_unverified(p.enr)) {  // verified when it entered the table
      j["enr"] = enr::to_text(*record);
    }
  }
  // Monotonic times shown as wall-clock seconds and as ages, via the snapshot's pair of clocks.
  auto unix_of = [&](std::int64_t mono_ns) -> Json {
    if (mono_ns == 0) {
      return Json();
    }
    return s.taken_unix_s - (s.taken_mono_ns - mono_ns) / 1'000'000'000;
  };
  j["added"] = unix_of(p.added_ns);
  j["last_seen"] = unix_of(p.last_seen_ns);
  j["last_seen_age_s"] = p.last_seen_ns == 0 ? Json() : Json(age_seconds(now_ns, p.last_seen_ns));
  j["bonded"] = unix_of(p.bond_ns);
  j["checks_passed"] = p.checks_passed;
  j["checks_failed"] = p.checks_failed;
  // Per protocol the entry speaks: its own checks and whether the last one passed.
  Json liveness = Json::object();
  for (disc::Protocol proto : disc::kProtocols) {
    if ((p.protocols & disc::flag_of(proto)) == 0) {
      continue;
    }
    const disc::Liveness& l = p.liveness[disc::index_of(proto)];
    liveness[proto == disc::Protocol::kV4 ? "v4" : "v5"] =
        Json{{"live", l.live()},
             {"checks_passed", l.checks_passed},
             {"checks_failed", l.checks_failed},
             {"last_check", unix_of(l.last_check_ns)}};
  }
  j["liveness"] = std::move(liveness);
  return j;
}

Json snapshot_json(const CoreSnapshot& s, std::int64_t now_ns) {
  return Json{{"sequence", s.sequence},
              {"taken_at", s.taken_unix_s},
              {"age_s", age_seconds(now_ns, s.taken_mono_ns)}};
}

}  // namespace

struct ApiServer::Impl {
  Appliance& appliance;
  Options options;
  httplib::Server server;
  Endpoint bound;
  std::thread thread;
  std::atomic<bool> stopping{false};
  std::atomic<bool> finished{false};  // the accept loop has returned

  Impl(Appliance& a, Options o) : appliance(a), options(o) {}

  void routes() {
    server.Get("/v1/node", [this](const httplib::Request&, httplib::Response& res) { node(res); });
    server.Get("/v1/peers",
               [this](const httplib::Request& req, httplib::Response& res) { peers(req, res); });
    server.Get(R"(/v1/peers/([^/]*))",
               [this](const httplib::Request& req, httplib::Response& res) { peer(req, res); });
    server.Get("/v1/buckets",
               [this](const httplib::Request&, httplib::Response& res) { buckets(res); });
    server.Get("/v1/health",
               [this](const httplib::Request&, httplib::Response& res) { health(res); });
    server.Post("/v1/lookup",
                [this](const httplib::Request& req, httplib::Response& res) { lookup(req, res); });
    server.Post("/v1/ping", [this](const httplib::Request& req, httplib::Response& res) {
      probe(req, res, disc::ProbeKind::kPing);
    });
    server.Post("/v1/resolve", [this](const httplib::Request& req, httplib::Response& res) {
      probe(req, res, disc::ProbeKind::kResolve);
    });
    server.Post("/v1/talk", [this](const httplib::Request& req, httplib::Response& res) {
      probe(req, res, disc::ProbeKind::kTalk);
    });
    server.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      auto pinned = appliance.snapshots().acquire();
      std::string body = render_metrics(pinned.get(), now_mono_ns());
      if (auto crawl = appliance.crawl_stats()) {
        body += render_crawl_metrics(*crawl);
      }
      if (auto dns = appliance.dns_stats()) {
        body += render_dns_metrics(*dns);
      }
      res.set_content(body, std::string(kPrometheusContentType));
    });
    // Unknown paths and wrong methods: httplib sets the status; we give the body its shape.
    server.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
      if (res.body.empty()) {
        std::string message = "HTTP error " + std::to_string(res.status);
        if (res.status == 404) {
          message = "no such endpoint: " + req.path;
        } else if (res.status == 405) {
          message = "method not allowed on " + req.path;
        } else if (res.status == 400) {
          message = "bad request";
        }
        reply_error(res, res.status, message);
      }
    });
    server.set_exception_handler(
        [](const httplib::Request&, httplib::Response& res, std::exception_ptr e) {
          std::string what = "internal error";
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& ex) {
            what += std::string(": ") + ex.what();
          } catch (...) {
          }
          reply_error(res, 500, what);
        });
  }

  // ---- GET /v1/node ----
  void node(httplib::Response& res) {
    const std::int64_t now = now_mono_ns();
    auto pinned = appliance.snapshots().acquire();
    const CoreSnapshot& s = pinned.get();
    auto record = enr::decode(s.local_enr);
    if (!record) {
      reply_error(res, 503, "no local record published yet");
      return;
    }
    Json j;
    j["node_id"] = to_hex(s.local_id);
    j["public_key"] = to_hex(record->public_key());
    j["enr"] = enr::to_text(*record);
    j["seq"] = s.local_seq;
    if (auto url = enode::from_record(*record)) {
      j["enode"] = *url;
    } else {  // no announced address yet: the key with the bound endpoint, as at start
      enode::Url u;
      u.public_key = record->public_key();
      u.ip = appliance.bound_endpoint().ip;
      u.udp_port = appliance.bound_endpoint().port;
      const std::uint16_t tcp = appliance.config().network.tcp_port;
      u.tcp_port = tcp != 0 ? tcp : u.udp_port;
      j["enode"] = enode::to_string(u);
    }
    Json external{{"ip", Json()}, {"ip6", Json()}, {"udp", Json()}, {"udp6", Json()}};
    if (auto ip = record->ip()) {
      external["ip"] = ip->to_string();
    }
    if (auto ip = record->ip6()) {
      external["ip6"] = ip->to_string();
    }
    if (auto port = record->udp()) {
      external["udp"] = *port;
    }
    if (auto port = record->udp6()) {
      external["udp6"] = *port;
    }
    external["source"] = s.external_address_source;
    j["external_address"] = external;
    j["listen"] = appliance.bound_endpoint().to_string();
    Json listen_all = Json::array();
    for (const Endpoint& ep : appliance.bound_endpoints()) {
      listen_all.push_back(ep.to_string());
    }
    j["listen_all"] = listen_all;
    Json protocols = Json::array();
    for (Protocol p : appliance.config().protocols) {
      protocols.push_back(std::string(to_string(p)));
    }
    j["protocols"] = protocols;
    j["mode"] = std::string(to_string(appliance.config().mode));
    j["backend"] = std::string(to_string(appliance.config().dataplane.backend));
    // Datagrams the kernel dropped for a full socket receive buffer (socket backend).
    j["kernel_rx_dropped"] = loop_drops(s, "kernel_rx_overflow");
    j["snapshot"] = snapshot_json(s, now);
    reply(res, 200, j);
  }

  // ---- GET /v1/peers ----
  void peers(const httplib::Request& req, httplib::Response& res) {
    std::uint8_t want_flags = 0;
    std::optional<int> distance;
    std::optional<std::uint64_t> limit;
    std::optional<bool> live;
    if (req.has_param("protocol")) {
      const std::string p = req.get_param_value("protocol");
      if (p == "v4" || p == "discv4") {
        want_flags = disc::kFlagV4;
      } else if (p == "v5" || p == "discv5") {
        want_flags = disc::kFlagV5;
      } else {
        reply_error(res, 400, "protocol must be v4 or v5");
        return;
      }
    }
    if (req.has_param("distance")) {
      auto d = parse_uint(req.get_param_value("distance"));
      if (!d || *d > static_cast<std::uint64_t>(disc::kMaxLogDistance)) {
        reply_error(res, 400, "distance must be an integer 0..256");
        return;
      }
      distance = static_cast<int>(*d);
    }
    if (req.has_param("limit")) {
      limit = parse_uint(req.get_param_value("limit"));
      if (!limit) {
        reply_error(res, 400, "limit must be a non-negative integer");
        return;
      }
    }
    if (req.has_param("live")) {
      const std::string v = req.get_param_value("live");
      if (v == "true" || v == "1") {
        live = true;
      } else if (v == "false" || v == "0") {
        live = false;
      } else {
        reply_error(res, 400, "live must be true or false");
        return;
      }
    }
    const std::int64_t now = now_mono_ns();
    auto pinned = appliance.snapshots().acquire();
    const CoreSnapshot& s = pinned.get();
    std::vector<const PeerView*> selected;
    for (const PeerView& p : s.peers) {
      if ((want_flags != 0 && (p.protocols & want_flags) == 0) ||
          (distance && p.distance != *distance) || (live && p.live() != *live)) {
        continue;
      }
      selected.push_back(&p);
    }
    std::sort(selected.begin(), selected.end(), [](const PeerView* a, const PeerView* b) {
      return a->distance != b->distance ? a->distance < b->distance : a->id < b->id;
    });
    const std::size_t matched = selected.size();
    if (limit && selected.size() > *limit) {
      selected.resize(static_cast<std::size_t>(*limit));
    }
    Json list = Json::array();
    for (const PeerView* p : selected) {
      list.push_back(peer_json(*p, s, now));
    }
    reply(res, 200,
          Json{{"total", s.peers.size()},
               {"matched", matched},
               {"count", list.size()},
               {"peers", std::move(list)},
               {"snapshot", snapshot_json(s, now)}});
  }

  // ---- GET /v1/peers/{id} ----
  void peer(const httplib::Request& req, httplib::Response& res) {
    const std::string text = req.matches[1];
    auto id = parse_node_id(text);
    if (!id) {
      reply_error(res, 400, "node id must be 64 hex digits");
      return;
    }
    const std::int64_t now = now_mono_ns();
    auto pinned = appliance.snapshots().acquire();
    const CoreSnapshot& s = pinned.get();
    for (const PeerView& p : s.peers) {
      if (p.id == *id) {
        reply(res, 200, peer_json(p, s, now));
        return;
      }
    }
    reply_error(res, 404, "node " + to_hex(*id) + " is not in the table");
  }

  // ---- GET /v1/buckets ----
  void buckets(httplib::Response& res) {
    const std::int64_t now = now_mono_ns();
    auto pinned = appliance.snapshots().acquire();
    const CoreSnapshot& s = pinned.get();
    std::map<int, TableCounts> fill;
    for (const PeerView& p : s.peers) {
      fill[p.distance].add(p);
    }
    Json list = Json::array();
    for (const auto& [d, f] : fill) {
      list.push_back(Json{
          {"distance", d}, {"count", f.entries}, {"v4", f.v4}, {"v5", f.v5}, {"live", f.live}});
    }
    reply(res, 200,
          Json{{"total", s.peers.size()},
               {"replacements", s.replacements},
               {"buckets", std::move(list)},
               {"snapshot", snapshot_json(s, now)}});
  }

  // A backend drop reason's count (all workers), 0 when the backend has no such reason.
  static std::uint64_t loop_drops(const CoreSnapshot& s, std::string_view reason) {
    for (const auto& [name, count] : s.loop.drops) {
      if (name == reason) {
        return count;
      }
    }
    return 0;
  }

  // ---- GET /v1/health ----
  void health(httplib::Response& res) {
    const std::int64_t now = now_mono_ns();
    auto pinned = appliance.snapshots().acquire();
    const CoreSnapshot& s = pinned.get();
    const std::int64_t stale_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(options.stale_after).count();
    const bool stale = s.sequence == 0 || now - s.taken_mono_ns > stale_ns;
    const bool ok = !stale && !s.shut_down;
    Json j{{"ok", ok},
           {"snapshot_age_s", age_seconds(now, s.taken_mono_ns)},
           {"snapshot_sequence", s.sequence},
           {"stale", stale},
           {"shut_down", s.shut_down},
           {"peers", s.peers.size()},
           {"sessions", s.sessions},
           {"kernel_rx_dropped", loop_drops(s, "kernel_rx_overflow")}};
    if (!ok) {
      j["error"] = s.shut_down ? "the core has shut down" : "the snapshot is stale";
    }
    reply(res, ok ? 200 : 503, j);
  }

  // ---- POST /v1/lookup ----
  void lookup(const httplib::Request& req, httplib::Response& res) {
    Json body = Json::object();
    if (!req.body.empty()) {
      body = Json::parse(req.body, nullptr, /*allow_exceptions=*/false);
      if (body.is_discarded() || !body.is_object()) {
        reply_error(res, 400, "body must be a JSON object");
        return;
      }
    }
    const Config& config = appliance.config();
    Protocol protocol = config.runs(Protocol::kDiscv5) ? Protocol::kDiscv5 : Protocol::kDiscv4;
    if (body.contains("protocol")) {
      const Json& p = body["protocol"];
      if (p == "v4" || p == "discv4") {
        protocol = Protocol::kDiscv4;
      } else if (p == "v5" || p == "discv5") {
        protocol = Protocol::kDiscv5;
      } else {
        reply_error(res, 400, "protocol must be \"v4\" or \"v5\"");
        return;
      }
    }
    if (!config.runs(protocol)) {
      reply_error(res, 400, std::string(to_string(protocol)) + " is not enabled");
      return;
    }
    std::optional<NodeId> target;
    if (body.contains("target") && !body["target"].is_null()) {
      if (body["target"].is_string()) {
        target = parse_node_id(body["target"].get<std::string>());
      }
      if (!target) {
        reply_error(res, 400, "target must be 64 hex digits");
        return;
      }
    }
    if (!appliance.running()) {
      reply_error(res, 503, "the appliance is not running");
      return;
    }
    const disc::Protocol engine_protocol =
        protocol == Protocol::kDiscv4 ? disc::Protocol::kV4 : disc::Protocol::kV5;
    const auto started = std::chrono::steady_clock::now();
    const auto tag = appliance.request_lookup(engine_protocol, target);
    if (!tag) {
      reply_error(res, 503, "too many lookups queued");
      return;
    }
    const auto deadline = started + options.lookup_timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (stopping.load()) {
        reply_error(res, 503, "the API is stopping");
        return;
      }
      {
        auto pinned = appliance.snapshots().acquire();
        const CoreSnapshot& s = pinned.get();
        for (const LookupOutcome& o : s.recent_lookups) {
          if (o.tag == *tag) {
            Json found = Json::array();
            for (const auto& [id, ep] : o.found) {
              found.push_back(Json{{"id", to_hex(id)},
                                   {"endpoint", endpoint_json(ep)},
                                   {"distance", disc::log_distance(o.target, id)}});
            }
            const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::steady_clock::now() - started)
                                .count();
            reply(res, 200,
                  Json{{"tag", o.tag},
                       {"protocol", disc::name(o.protocol)},
                       {"target", to_hex(o.target)},
                       {"count", found.size()},
                       {"found", std::move(found)},
                       {"elapsed_ms", ms}});
            return;
          }
        }
        if (s.shut_down) {
          reply_error(res, 503, "the core has shut down");
          return;
        }
      }
      std::this_thread::sleep_for(kLookupPoll);
    }
    reply_error(res, 504,
                "lookup " + std::to_string(*tag) + " gave no result within " +
                    std::to_string(options.lookup_timeout.count()) + " ms");
  }

  // ---- POST /v1/ping, /v1/resolve, /v1/talk ----
  // {"node": enode URL or ENR, "protocol": "v4"|"v5" (ping/resolve; default: v4 for an enode
  // URL, v5 for an ENR), "timeout_ms": N (default 5000, at most 60000), and for talk
  // "talk_protocol": string, "request": hex}. Sent from the appliance's own identity; waits
  // for the answer: 200 with probe_json, 504 when none came in time.
  void probe(const httplib::Request& req, httplib::Response& res, disc::ProbeKind kind) {
    const Json body = Json::parse(req.body, nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded() || !body.is_object()) {
      reply_error(res, 400, "body must be a JSON object");
      return;
    }
    if (!body.contains("node") || !body["node"].is_string()) {
      reply_error(res, 400, "\"node\" must be an enode:// URL or an enr: record");
      return;
    }
    std::optional<disc::Protocol> protocol;
    if (kind != disc::ProbeKind::kTalk && body.contains("protocol")) {
      if (body["protocol"].is_string()) {
        protocol = parse_protocol(body["protocol"].get<std::string>());
      }
      if (!protocol) {
        reply_error(res, 400, "protocol must be \"v4\" or \"v5\"");
        return;
      }
    }
    auto node = parse_probe_node(body["node"].get<std::string>(),
                                 kind == disc::ProbeKind::kTalk ? disc::Protocol::kV5 : protocol);
    if (!node) {
      reply_error(res, 400, node.error());
      return;
    }
    std::uint64_t timeout_ms = disc::msg::kDefaultProbeTimeoutNs / 1'000'000;
    if (body.contains("timeout_ms")) {
      if (!body["timeout_ms"].is_number_unsigned() ||
          body["timeout_ms"].get<std::uint64_t>() == 0 ||
          body["timeout_ms"].get<std::uint64_t>() > kMaxProbeTimeoutMs) {
        reply_error(res, 400,
                    "timeout_ms must be an integer 1.." + std::to_string(kMaxProbeTimeoutMs));
        return;
      }
      timeout_ms = body["timeout_ms"].get<std::uint64_t>();
    }
    const Config& config = appliance.config();
    if (!config.runs(node->protocol == disc::Protocol::kV4 ? Protocol::kDiscv4
                                                           : Protocol::kDiscv5)) {
      reply_error(res, 400, std::string(disc::name(node->protocol)) + " is not enabled");
      return;
    }
    if (config.dataplane.workers > 1) {
      // Answers are steered by source endpoint to the worker that owns it, not to worker 0.
      reply_error(res, 501, "probes need dataplane.workers: 1");
      return;
    }
    const std::int64_t timeout_ns = static_cast<std::int64_t>(timeout_ms) * 1'000'000;
    disc::InMessage message;
    if (kind == disc::ProbeKind::kPing) {
      message = disc::msg::Ping{node->protocol, node->target, 0, timeout_ns};
    } else if (kind == disc::ProbeKind::kResolve) {
      message = disc::msg::Resolve{node->protocol, node->target, 0, timeout_ns};
    } else {
      Bytes request;
      if (!body.contains("talk_protocol") || !body["talk_protocol"].is_string() ||
          body["talk_protocol"].get<std::string>().empty()) {
        reply_error(res, 400, "\"talk_protocol\" must be a non-empty string");
        return;
      }
      if (body.contains("request") && (!body["request"].is_string() ||
                                       !from_hex(body["request"].get<std::string>(), request))) {
        reply_error(res, 400, "\"request\" must be hex");
        return;
      }
      message = disc::msg::TalkRequest{node->target, body["talk_protocol"].get<std::string>(),
                                       std::move(request), 0, timeout_ns};
    }
    if (!appliance.running()) {
      reply_error(res, 503, "the appliance is not running");
      return;
    }
    const auto tag = appliance.request_probe(std::move(message));
    if (!tag) {
      reply_error(res, 503, "too many probes queued");
      return;
    }
    // The engine answers at its deadline at the latest; the slack covers the command ring and
    // the snapshot interval.
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms) + kProbeSlack;
    while (std::chrono::steady_clock::now() < deadline) {
      if (stopping.load()) {
        reply_error(res, 503, "the API is stopping");
        return;
      }
      {
        auto pinned = appliance.snapshots().acquire();
        const CoreSnapshot& s = pinned.get();
        for (const ProbeReport& r : s.recent_probes) {
          if (r.tag != *tag) {
            continue;
          }
          if (r.outcome == disc::ProbeOutcome::kAnswered) {
            reply(res, 200, probe_json(r));
            return;
          }
          Json j = probe_json(r);
          j["error"] = probe_failure(r, node->target.endpoint);
          reply(res,
                r.outcome == disc::ProbeOutcome::kTimeout ? 504
                : r.outcome == disc::ProbeOutcome::kBusy  ? 503
                                                          : 400,
                j);
          return;
        }
        if (s.shut_down) {
          reply_error(res, 503, "the core has shut down");
          return;
        }
      }
      std::this_thread::sleep_for(kLookupPoll);
    }
    reply_error(res, 504,
                "probe " + std::to_string(*tag) + " gave no result within " +
                    std::to_string(timeout_ms) + " ms");
  }
};

Result<std::unique_ptr<ApiServer>, std::string> ApiServer::start(Appliance& appliance,
                                                                 const Endpoint& listen) {
  return start(appliance, listen, Options{});
}

Result<std::unique_ptr<ApiServer>, std::string> ApiServer::start(Appliance& appliance,
                                                                 const Endpoint& listen,
                                                                 Options options) {
  auto impl = std::make_unique<Impl>(appliance, options);
  impl->routes();
  const std::string host = listen.ip.to_string();
  int port = listen.port;
  if (port == 0) {
    port = impl->server.bind_to_any_port(host);
    if (port <= 0) {
      return tl::unexpected<std::string>("cannot bind the API on " + host + " (any port)");
    }
  } else if (!impl->server.bind_to_port(host, port)) {
    return tl::unexpected<std::string>("cannot bind the API on " + listen.to_string());
  }
  impl->bound = Endpoint{listen.ip, static_cast<std::uint16_t>(port)};
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] {
    raw->server.listen_after_bind();
    raw->finished.store(true);
  });
  // stop() is a no-op until the accept loop runs, so wait for it (bounded) before returning.
  for (int i = 0; i < 500 && !impl->server.is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return std::unique_ptr<ApiServer>(new ApiServer(std::move(impl)));
}

ApiServer::ApiServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ApiServer::~ApiServer() {
  stop();
}

void ApiServer::stop() {
  impl_->stopping.store(true);
  // Repeated because httplib's stop() does nothing while the accept loop is still starting.
  while (impl_->thread.joinable() && !impl_->finished.load()) {
    impl_->server.stop();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (impl_->thread.joinable()) {
    impl_->thread.join();
  }
}

Endpoint ApiServer::endpoint() const {
  return impl_->bound;
}

}  // namespace discplane::control
