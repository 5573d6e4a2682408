// DPDK telemetry end to end: discplane on the DPDK backend (net_tap vdev, no hugepages, no PCI,
// its own --file-prefix) finds a kernel-socket discplane in a network namespace, then the test
// asks the EAL's telemetry socket (/var/run/dpdk/<prefix>/dpdk_telemetry.v2, SOCK_SEQPACKET,
// JSON) for /discplane/stats, /discplane/peers, /discplane/node (and its whole-string forms)
// and checks the values against what really happened; then DPDK's own client,
// dpdk-telemetry.py (Debian package dpdk-dev), runs non-interactively on the same socket.
// Needs root and /dev/net/tun: fails loudly without them.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <nlohmann/json.hpp>

#include "discplane/discovery/counters.h"

#include "e2e/netns.h"
#include "e2e/process.h"

using namespace e2e;
using namespace std::chrono_literals;
using Json = nlohmann::json;

namespace {

const std::string kPrefix = "dptel";
const char* const kTelemetryScript = "/usr/bin/dpdk-telemetry.py";

// One connection to a DPDK v2 telemetry socket.
class TelemetryClient {
 public:
  explicit TelemetryClient(const std::string& path) {
    fd_ = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    if (fd_ < 0 || path.size() >= sizeof a.sun_path) {
      return;
    }
    std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      return;
    }
    timeval tv{5, 0};  // every read bounded
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    hello_ = read();  // {"version": ..., "pid": ..., "max_output_len": ...}
  }
  ~TelemetryClient() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  TelemetryClient(const TelemetryClient&) = delete;
  TelemetryClient& operator=(const TelemetryClient&) = delete;

  const Json& hello() const { return hello_; }

  // The value under the command's name in the reply (null when the callback failed).
  Json query(const std::string& command) {
    if (::send(fd_, command.data(), command.size(), 0) != static_cast<ssize_t>(command.size())) {
      return Json::object({{"error", "send failed"}});
    }
    const Json reply = read();
    const std::string key = command.substr(0, command.find(','));
    return reply.is_object() && reply.contains(key) ? reply[key] : Json::object({{"bad", reply}});
  }

 private:
  Json read() {
    std::string buf(64 * 1024, '\0');
    const ssize_t n = fd_ >= 0 ? ::recv(fd_, buf.data(), buf.size(), 0) : -1;
    if (n <= 0) {
      return Json();
    }
    buf.resize(static_cast<std::size_t>(n));
    return Json::parse(buf, nullptr, false);
  }

  int fd_ = -1;
  Json hello_;
};

std::string join(const Json& pieces) {
  std::string out;
  for (const auto& p : pieces) {
    out += p.get<std::string>();
  }
  return out;
}

// Runs a shell command, returns its stdout (bounded by the command itself).
std::string capture(const std::string& cmd) {
  std::string out;
  FILE* f = ::popen(cmd.c_str(), "r");
  if (f == nullptr) {
    return out;
  }
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
    out.append(buf, n);
  }
  ::pclose(f);
  return out;
}

}  // namespace

TEST_CASE("dpdk telemetry: /discplane/stats, /discplane/peers, /discplane/node from snapshots",
          "[e2e][dpdk][telemetry]") {
  if (!e2e::can_use_tap()) {
    FAIL("the DPDK telemetry test needs root and /dev/net/tun (net_tap)");
  }
  const int pid = ::getpid();
  const std::string tap = "dpt" + std::to_string(pid);
  const std::string file_prefix = kPrefix + "_" + std::to_string(pid);
  const std::string socket_path = "/var/run/dpdk/" + file_prefix + "/dpdk_telemetry.v2";
  const int x = 150 + pid % 50;
  const std::string net = "169.254." + std::to_string(x) + ".";
  const std::string dpdk_ip = net + "2";
  const std::string ns_ip = net + "1";
  sh("ip link del " + tap + " 2>/dev/null");

  Netns ns(kPrefix);
  REQUIRE(ns.created);
  // The EAL leaves its runtime directory behind; ours goes once the process is gone (this is
  // declared before the nodes, so it is destroyed after them).
  struct RuntimeDir {
    std::string path;
    ~RuntimeDir() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  } runtime_dir{"/var/run/dpdk/" + file_prefix};
  REQUIRE(sh("ip -n " + ns.name + " link set lo up") == 0);

  TempDir dir("e2e-dptel");
  REQUIRE(dir.ok());
  NodeOptions d_opt;
  d_opt.name = "dpdk";
  d_opt.ip = dpdk_ip;
  d_opt.port = 30303;
  d_opt.api_listen = "127.0.0.1:" + std::to_string(free_port("127.0.0.1"));
  d_opt.extra_yaml =
      "dataplane:\n  backend: dpdk\n  dpdk:\n    eal_args: [--no-huge, --no-pci, "
      "-m, \"1024\", \"--vdev=net_tap0,iface=" +
      tap + "\", --file-prefix=" + file_prefix + "]\n    ipv4: " + dpdk_ip + "/24\n";
  auto d = Node::start(dir, d_opt, 60s);
  auto d_record = discplane::enr::parse_text(d->enr);
  REQUIRE(d_record);
  const std::string d_id = discplane::to_hex(d_record->node_id());

  REQUIRE(move_tap_into(ns, tap, ns_ip + "/24"));

  // Before any peer: the socket answers, from the snapshot the appliance published at start.
  struct stat sock {};
  REQUIRE(::stat(socket_path.c_str(), &sock) == 0);
  {
    TelemetryClient early(socket_path);
    REQUIRE(early.hello().is_object());
    CHECK(early.hello().value("pid", 0) == d->proc->pid());
    const Json list = early.query("/");
    for (const char* c : {"/discplane/stats", "/discplane/peers", "/discplane/node",
                          "/discplane/node/enr", "/discplane/node/enode"}) {
      CHECK(std::find(list.begin(), list.end(), c) != list.end());
    }
    const Json help = early.query("/help,/discplane/peers");
    CHECK(help.value("/discplane/peers", "").find("N closest") != std::string::npos);
  }

  auto s = Node::start(dir, node_in(ns, ns_ip, {d->enode, d->enr}));
  INFO("DPDK instance:\n" << d->proc->out_text() << d->proc->err_text());
  REQUIRE(d->wait_peer(s->id16, "v4,v5", 20s));
  REQUIRE(s->wait_peer(d->id16, "v4,v5", 20s));

  TelemetryClient t(socket_path);
  REQUIRE(t.hello().is_object());
  CHECK(t.hello().value("max_output_len", 0) >= 16384);

  // The peer lines come from the same snapshots; a v5 session follows the handshake. Poll the
  // stats (bounded) until the snapshot shows the session.
  Json stats;
  const auto until = Clock::now() + 10s;
  do {
    stats = t.query("/discplane/stats");
    if (stats.is_object() && stats["v5"].value("sessions", 0) >= 1 &&
        stats["table"].value("v5", 0) >= 1) {
      break;
    }
    std::this_thread::sleep_for(100ms);
  } while (Clock::now() < until);
  INFO("stats: " << stats.dump());
  REQUIRE(stats.is_object());
  CHECK(stats["up"] == 1);
  CHECK(stats["snapshot_sequence"].get<std::uint64_t>() > 1);
  CHECK(stats["snapshot_age_ms"].get<std::uint64_t>() < 5000);
  CHECK(stats["engine"]["rx_packets"].get<std::uint64_t>() > 0);
  CHECK(stats["engine"]["tx_packets"].get<std::uint64_t>() > 0);
  CHECK(stats["engine"]["rx_bytes"].get<std::uint64_t>() >
        stats["engine"]["rx_packets"].get<std::uint64_t>());
  // Both protocols really ran: discv4 ping/pong both ways, discv5 handshake and a session.
  CHECK(stats["rx_v4"]["ping"].get<std::uint64_t>() >= 1);
  CHECK(stats["rx_v4"]["pong"].get<std::uint64_t>() >= 1);
  CHECK(stats["tx_v4"]["ping"].get<std::uint64_t>() >= 1);
  CHECK(stats["tx_v4"]["pong"].get<std::uint64_t>() >= 1);
  CHECK(stats["v4"]["bonds"].get<std::uint64_t>() >= 1);
  CHECK(stats["v5"]["handshakes_initiated"].get<std::uint64_t>() +
            stats["v5"]["handshakes_accepted"].get<std::uint64_t>() >=
        1);
  CHECK(stats["v5"]["sessions"].get<std::uint64_t>() >= 1);
  CHECK(stats["table"]["v4"].get<std::uint64_t>() >= 1);
  CHECK(stats["table"]["v5"].get<std::uint64_t>() >= 1);
  CHECK(stats["table"]["entries"].get<std::uint64_t>() >= 1);
  CHECK(stats["lookups"]["started"].get<std::uint64_t>() >= 1);
  CHECK(stats["drops"].size() == static_cast<std::size_t>(discplane::disc::Drop::kCount));
  CHECK(stats["drops"].contains("v5_bad_handshake"));
  std::uint64_t drops = 0;
  for (const auto& [reason, n] : stats["drops"].items()) {
    drops += n.get<std::uint64_t>();
  }
  CHECK(stats["drops_total"].get<std::uint64_t>() == drops);
  // The loop saw at least every datagram the engine got (plus ARP, NDP, ...).
  CHECK(stats["loop"]["rx_packets"].get<std::uint64_t>() >=
        stats["engine"]["rx_packets"].get<std::uint64_t>());
  CHECK(stats["loop"]["bursts"].get<std::uint64_t>() >= 1);
  CHECK(stats["loop"]["empty_polls"].get<std::uint64_t>() >= 1);
  CHECK(stats["loop_drops"].contains("tx_no_mbuf"));

  // Peers: the namespace instance, speaking both protocols, at its namespace address.
  const Json peers = t.query("/discplane/peers");
  INFO("peers: " << peers.dump());
  REQUIRE(peers.is_object());
  CHECK(peers["total"].get<std::uint64_t>() >= 1);
  CHECK(peers["v4"].get<std::uint64_t>() >= 1);
  CHECK(peers["v5"].get<std::uint64_t>() >= 1);
  CHECK(peers["both"].get<std::uint64_t>() >= 1);
  std::uint64_t in_buckets = 0;
  for (const auto& [distance, n] : peers["buckets"].items()) {
    in_buckets += n.get<std::uint64_t>();
  }
  CHECK(in_buckets == peers["total"].get<std::uint64_t>());
  const std::string key = "peer_" + s->id16;
  REQUIRE(peers.contains(key));
  CHECK(peers[key]["protocols"] == "v4,v5");
  CHECK(peers[key]["endpoint4"] == ns_ip + ":30303");
  CHECK(peers[key]["id"].get<std::string>().rfind(s->id16, 0) == 0);
  CHECK(peers[key]["distance"].get<std::uint64_t>() > 0);
  const Json none = t.query("/discplane/peers,0");
  CHECK(none["shown"] == 0);
  CHECK_FALSE(none.contains(key));
  CHECK(none["total"] == peers["total"]);
  CHECK(t.query("/discplane/peers,abc").is_null());  // a bad parameter: the callback refuses
  CHECK(t.query("/discplane/peers,33").is_null());

  // Node: our id, and the very ENR and enode URL the program printed at start.
  const Json node = t.query("/discplane/node");
  INFO("node: " << node.dump());
  REQUIRE(node.is_object());
  CHECK(node["id"] == d_id);
  CHECK(node["ip"] == dpdk_ip);
  CHECK(node["udp"] == 30303);
  CHECK(node["seq"].get<std::uint64_t>() >= 1);
  CHECK(join(node["enr"]) == d->enr);
  CHECK(join(node["enode"]) == d->enode);
  for (const auto& piece : node["enr"]) {
    CHECK(piece.get<std::string>().size() < 128);
  }
  CHECK(t.query("/discplane/node/enr") == d->enr);
  CHECK(t.query("/discplane/node/enode") == d->enode);

  // DPDK's own client, non-interactive (commands on stdin, one JSON reply per line).
  struct stat script {};
  if (::stat(kTelemetryScript, &script) != 0) {
    FAIL(std::string(kTelemetryScript) +
         " is missing: install the Debian package dpdk-dev "
         "(scripts/install-deps.sh)");
  }
  const std::string out = capture(
      "printf '/discplane/stats\\n/discplane/node/enr\\n/discplane/peers,1\\n' | "
      "timeout 20 " +
      std::string(kTelemetryScript) + " -f " + file_prefix + " 2>&1");
  INFO("dpdk-telemetry.py output:\n" << out);
  std::istringstream lines(out);
  std::vector<Json> replies;
  for (std::string line; std::getline(lines, line);) {
    replies.push_back(Json::parse(line, nullptr, false));
  }
  REQUIRE(replies.size() == 3);
  REQUIRE(replies[0].contains("/discplane/stats"));
  CHECK(replies[0]["/discplane/stats"]["table"]["v5"].get<std::uint64_t>() >= 1);
  CHECK(replies[0]["/discplane/stats"]["engine"]["rx_packets"].get<std::uint64_t>() >=
        stats["engine"]["rx_packets"].get<std::uint64_t>());
  CHECK(replies[1]["/discplane/node/enr"] == d->enr);
  CHECK(replies[2]["/discplane/peers"]["shown"] == 1);

  // A clean stop; the socket goes with the process.
  CHECK(d->proc->signal_and_wait(SIGTERM, 5s).has_value());
  CHECK(d->proc->exit_code() == 0);
  CHECK(s->proc->signal_and_wait(SIGTERM, 5s).has_value());
  CHECK(s->proc->exit_code() == 0);
}
