// discctl's look at one remote node, as go-ethereum's devp2p tool does:
//   discctl ping    <enode://...|enr:...> [--proto v4|v5] [--timeout S] [--json]
//   discctl resolve <enode://...|enr:...> [--proto v4|v5] [--timeout S] [--json]
//   discctl talk    <enr:...> <protocol> <hex> [--timeout S] [--json]
// Standalone (default): the engine itself (DiscoveryServer) runs in this process over a kernel
// socket, with an ephemeral key (--key FILE: a fixed one) on --listen ADDR (default: any
// address of the target's family, any port); the probe is an inbox message and its answer
// comes back through EngineObserver::on_probe_done. With --api HOST:PORT the running
// appliance asks from its own identity (POST /v1/ping, /v1/resolve, /v1/talk).
// Exit 0 on an answer, 1 on none (timeout) or a failure, 2 on bad usage.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "discplane/common/bytes.h"
#include "discplane/common/endpoint.h"
#include "discplane/control/appliance.h"
#include "discplane/control/probe.h"
#include "discplane/crypto/random.h"
#include "discplane/discovery/server.h"
#include "discplane/net/socket_port.h"
#include "discplane/wire/enr.h"

#include "cli.h"

namespace discplane::cli {
namespace {

using control::ProbeReport;

struct ProbeArgs {
  disc::ProbeKind kind = disc::ProbeKind::kPing;
  std::string node;
  std::string proto;
  std::string talk_protocol;
  std::string talk_hex;
  double timeout_s = 5;
  std::string key_file;
  std::string listen;
  bool json = false;
};

// Which local address the kernel would send to `to` from (a connected UDP socket sends
// nothing): the address our record announces when --listen names none.
std::optional<IpAddress> source_address_toward(const Endpoint& to) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (to.ip.is_v4()) {
    auto* sa = reinterpret_cast<sockaddr_in*>(&ss);
    sa->sin_family = AF_INET;
    sa->sin_port = htons(to.port);
    std::memcpy(&sa->sin_addr, to.ip.bytes.data(), 4);
    len = sizeof(sockaddr_in);
  } else {
    auto* sa = reinterpret_cast<sockaddr_in6*>(&ss);
    sa->sin6_family = AF_INET6;
    sa->sin6_port = htons(to.port);
    std::memcpy(&sa->sin6_addr, to.ip.bytes.data(), 16);
    len = sizeof(sockaddr_in6);
  }
  const int fd = ::socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return std::nullopt;
  }
  std::optional<IpAddress> out;
  sockaddr_storage local{};
  socklen_t local_len = sizeof local;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) == 0) {
    if (local.ss_family == AF_INET) {
      const auto* a = reinterpret_cast<const sockaddr_in*>(&local);
      out = IpAddress::from_bytes(ByteView(reinterpret_cast<const std::uint8_t*>(&a->sin_addr), 4));
    } else if (local.ss_family == AF_INET6) {
      const auto* a = reinterpret_cast<const sockaddr_in6*>(&local);
      out =
          IpAddress::from_bytes(ByteView(reinterpret_cast<const std::uint8_t*>(&a->sin6_addr), 16));
    }
  }
  ::close(fd);
  return out;
}

// The engine in this process: datagrams from the socket go to the server; the probe is
// handed in with the first TX chance and its answer kept.
class StandaloneProbe final : public disc::DatagramSink, public disc::EngineObserver {
 public:
  StandaloneProbe(disc::ServerConfig config, disc::InMessage probe)
      : server_(std::move(config), clock_, rng_, this), probe_(std::move(probe)) {}

  void on_burst(std::span<const disc::Datagram> burst, disc::Transport& tx) noexcept override {
    server_.on_burst(burst, tx);
    send_probe(tx);
  }
  void on_idle(disc::Transport& tx) noexcept override {
    server_.on_idle(tx);
    send_probe(tx);
  }
  void on_lookup_done(std::uint64_t, disc::Protocol, const NodeId&,
                      std::span<const disc::FoundNode>) noexcept override {}
  void on_local_record_changed(const enr::Record&) noexcept override {}
  void on_probe_done(std::uint64_t tag, const disc::ProbeResult& result) noexcept override {
    report_ = control::report_of(tag, result);
  }

  const std::optional<ProbeReport>& report() const { return report_; }

 private:
  void send_probe(disc::Transport& tx) noexcept {
    if (probe_) {
      server_.handle(*probe_, tx);
      probe_.reset();
    }
  }

  control::SystemClock clock_;
  crypto::BulkRandom rng_;
  disc::DiscoveryServer server_;
  std::optional<disc::InMessage> probe_;
  std::optional<ProbeReport> report_;
};

// --listen, or any address of the node's family; nullopt after a usage error line.
std::optional<Endpoint> listen_endpoint(const ProbeArgs& a, const control::ProbeNode& node) {
  Endpoint listen{
      node.target.endpoint.ip.is_v4() ? IpAddress::v4(0, 0, 0, 0) : *IpAddress::parse("::"), 0};
  if (!a.listen.empty()) {
    auto parsed = Endpoint::parse(a.listen);
    if (!parsed || !parsed->ip.valid()) {
      usage_error("--listen must be IP:PORT or [IP6]:PORT, not \"" + a.listen + "\"");
      return std::nullopt;
    }
    listen = *parsed;
  }
  if (listen.ip.family != node.target.endpoint.ip.family) {
    usage_error("--listen " + listen.to_string() + " cannot reach " +
                node.target.endpoint.to_string() + " (different IP family)");
    return std::nullopt;
  }
  return listen;
}

// The answer as the API gives it (probe_json), or nullopt after one error line.
std::optional<nlohmann::json> run_standalone(const ProbeArgs& a, const control::ProbeNode& node,
                                             const Endpoint& listen, disc::InMessage message) {
  disc::ServerConfig config;
  if (!a.key_file.empty()) {
    auto key = read_key(a.key_file);
    if (!key) {
      return std::nullopt;
    }
    config.private_key = *key;
  } else {
    config.private_key = crypto::generate_private_key();
  }
  auto port = net::SocketPort::create(listen);
  if (!port) {
    fail("cannot bind " + listen.to_string() + ": " + net::to_string(port.error()));
    return std::nullopt;
  }
  const Endpoint bound = (*port)->local_endpoint();
  config.udp_port = bound.port;
  // Our record names the address the peer will see us at, so a discv5 peer can answer.
  std::optional<IpAddress> own = bound.ip;
  if (bound.ip.is_unspecified()) {
    own = source_address_toward(node.target.endpoint);
  }
  if (own) {
    (own->is_v4() ? config.ipv4 : config.ipv6) = *own;
  }
  config.static_ip4 = config.static_ip6 = true;  // one probe: no votes to learn from
  StandaloneProbe probe(std::move(config), std::move(message));
  // The engine answers by its own deadline; the slack only guards against a stuck loop.
  const auto give_up = std::chrono::steady_clock::now() +
                       std::chrono::milliseconds(static_cast<std::int64_t>(a.timeout_s * 1000)) +
                       std::chrono::seconds(2);
  while (!probe.report() && std::chrono::steady_clock::now() < give_up) {
    (void)(*port)->poll_once(probe, std::chrono::milliseconds(10));
  }
  if (!probe.report()) {
    fail("the probe gave no result");
    return std::nullopt;
  }
  nlohmann::json j = control::probe_json(*probe.report());
  if (probe.report()->outcome != disc::ProbeOutcome::kAnswered) {
    fail(control::probe_failure(*probe.report(), node.target.endpoint));
    return std::nullopt;
  }
  return j;
}

int print_answer(const ProbeArgs& a, const nlohmann::json& j) {
  if (a.kind == disc::ProbeKind::kResolve) {
    if (!j.contains("enr") || !j["enr"].is_string()) {
      return fail("the answer carries no record");
    }
    auto record = enr::parse_text(j["enr"].get<std::string>());
    if (!record) {
      return fail("the answer's record is invalid: " + std::string(enr::to_string(record.error())));
    }
    if (a.json) {
      std::cout << record_json(*record).dump(2) << "\n";
    } else {
      std::cout << enr::to_text(*record) << "\n";
    }
    return kOk;
  }
  if (a.json) {
    std::cout << j.dump(2) << "\n";
    return kOk;
  }
  if (a.kind == disc::ProbeKind::kTalk) {
    std::cout << text_of(j["response"]) << "\n";
    return kOk;
  }
  char rtt[32];
  std::snprintf(rtt, sizeof rtt, "%.2f", j.value("elapsed_ms", 0.0));
  std::cout << "pong from " << text_of(j["from"]) << " (" << text_of(j["protocol"]) << ") in "
            << rtt << " ms: it sees us at " << text_of(j["reported"]) << ", enr seq "
            << text_of(j["enr_seq"]) << "\n";
  return kOk;
}

int run_probe(const ProbeArgs& a, const Globals& globals) {
  if (!(a.timeout_s > 0 && a.timeout_s <= 60)) {
    return usage_error("--timeout must be more than 0 and at most 60 seconds");
  }
  std::optional<disc::Protocol> protocol;
  if (!a.proto.empty()) {
    protocol = control::parse_protocol(a.proto);
  }
  if (a.kind == disc::ProbeKind::kTalk) {
    protocol = disc::Protocol::kV5;
  }
  auto node = control::parse_probe_node(a.node, protocol);
  if (!node) {
    return usage_error(node.error());
  }
  Bytes request;
  if (a.kind == disc::ProbeKind::kTalk) {
    if (a.talk_protocol.empty()) {
      return usage_error("the talk protocol must not be empty");
    }
    std::string hex = a.talk_hex;
    if (hex.starts_with("0x")) {
      hex = hex.substr(2);
    }
    if (!from_hex(hex, request)) {
      return usage_error("the request must be hex, not \"" + a.talk_hex + "\"");
    }
  }
  const auto timeout_ms = static_cast<std::int64_t>(a.timeout_s * 1000);

  if (globals.api_given) {
    if (!a.key_file.empty() || !a.listen.empty()) {
      return usage_error(
          "--key and --listen are for standalone probes; with --api the "
          "appliance asks from its own identity");
    }
    const auto api = globals.api();
    if (!api) {
      return kUsage;
    }
    nlohmann::json body{{"node", a.node}, {"timeout_ms", timeout_ms}};
    std::string path = "/v1/ping";
    if (a.kind == disc::ProbeKind::kResolve) {
      path = "/v1/resolve";
    } else if (a.kind == disc::ProbeKind::kTalk) {
      path = "/v1/talk";
      body["talk_protocol"] = a.talk_protocol;
      body["request"] = to_hex(request);
    }
    if (a.kind != disc::ProbeKind::kTalk) {
      body["protocol"] = disc::name(node->protocol);
    }
    auto j = api_json(*api, "POST", path, body.dump());
    return j ? print_answer(a, *j) : kFailed;
  }

  const std::int64_t timeout_ns = timeout_ms * 1'000'000;
  disc::InMessage message;
  if (a.kind == disc::ProbeKind::kPing) {
    message = disc::msg::Ping{node->protocol, node->target, 1, timeout_ns};
  } else if (a.kind == disc::ProbeKind::kResolve) {
    message = disc::msg::Resolve{node->protocol, node->target, 1, timeout_ns};
  } else {
    message =
        disc::msg::TalkRequest{node->target, a.talk_protocol, std::move(request), 1, timeout_ns};
  }
  const auto listen = listen_endpoint(a, *node);
  if (!listen) {
    return kUsage;
  }
  auto j = run_standalone(a, *node, *listen, std::move(message));
  return j ? print_answer(a, *j) : kFailed;
}

void add_common(CLI::App* cmd, ProbeArgs& a) {
  cmd->add_option("--timeout", a.timeout_s, "seconds to wait for the answer (default 5)");
  cmd->add_option("--key", a.key_file, "standalone: use this node key (default: an ephemeral one)");
  cmd->add_option("--listen", a.listen,
                  "standalone: local IP:PORT (default: any address of the node's family)");
  cmd->add_flag("--json", a.json, "print the answer as JSON");
}

const char* const kProbeHelp =
    " (standalone with an ephemeral key, or from a running node's identity with --api "
    "HOST:PORT)";

}  // namespace

void add_probe_commands(CLI::App& app, const Globals& globals, Commands& out) {
  auto ping = std::make_shared<ProbeArgs>();
  ping->kind = disc::ProbeKind::kPing;
  auto* ping_cmd = app.add_subcommand(
      "ping", std::string("PING a node: round-trip time and the endpoint its PONG reports; exit 0 "
                          "on a PONG, 1 on none") +
                  kProbeHelp);
  ping_cmd->add_option("node", ping->node, "enode://... (discv4) or enr:... (discv5)")->required();
  ping_cmd->add_option("--proto", ping->proto, "v4 or v5 (default: v4 for enode, v5 for enr)")
      ->check(CLI::IsMember({"v4", "v5"}));
  add_common(ping_cmd, *ping);
  out.push_back({ping_cmd, [ping, &globals] { return run_probe(*ping, globals); }});

  auto resolve = std::make_shared<ProbeArgs>();
  resolve->kind = disc::ProbeKind::kResolve;
  auto* resolve_cmd = app.add_subcommand(
      "resolve",
      std::string("a node's current record, from the node (discv4 ENRRequest, discv5 FINDNODE 0)") +
          kProbeHelp);
  resolve_cmd->add_option("node", resolve->node, "enode://... (discv4) or enr:... (discv5)")
      ->required();
  resolve_cmd->add_option("--proto", resolve->proto, "v4 or v5 (default: v4 for enode, v5 for enr)")
      ->check(CLI::IsMember({"v4", "v5"}));
  add_common(resolve_cmd, *resolve);
  out.push_back({resolve_cmd, [resolve, &globals] { return run_probe(*resolve, globals); }});

  auto talk = std::make_shared<ProbeArgs>();
  talk->kind = disc::ProbeKind::kTalk;
  auto* talk_cmd = app.add_subcommand(
      "talk", std::string("send a discv5 TALKREQ; prints the TALKRESP (hex)") + kProbeHelp);
  talk_cmd->add_option("node", talk->node, "enr:... (or an enode:// URL; discv5 is used)")
      ->required();
  talk_cmd->add_option("protocol", talk->talk_protocol, "the talk protocol name")->required();
  talk_cmd->add_option("request", talk->talk_hex, "the request payload, hex (may be empty: \"\")")
      ->required();
  add_common(talk_cmd, *talk);
  out.push_back({talk_cmd, [talk, &globals] { return run_probe(*talk, globals); }});
}

}  // namespace discplane::cli
