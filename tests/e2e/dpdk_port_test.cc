// End to end on the DPDK backend, on two PMDs that need no NIC and no hugepages:
// - net_tap: discplane creates a tap; once it has printed its identity, the test moves the
//   tap into a network namespace it created (169.254.X.1/24 there; discplane is 169.254.X.2).
// - net_af_xdp (docs/af-xdp.md): a veth pair whose one end sits in the test's namespace
//   (169.254.X.1/24) and whose other end, with no address, is driven by DPDK through an
//   AF_XDP socket (generic XDP on veth): the kernel keeps the interface, DPDK gets its frames.
// Then, the same for both, from inside the namespace: ARP + ICMP echo (raw socket on a thread
// that joined the namespace), and a second discplane on the kernel-socket backend (`ip netns
// exec`) that bootstraps from the DPDK instance: both must find each other. Names carry the
// pid (parallel ctest); stale ones from dead runs are removed first. Needs root (and
// /dev/net/tun for the tap): fails loudly without it.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>

#include <functional>

#include "e2e/netns.h"
#include "e2e/process.h"

using namespace e2e;
using namespace std::chrono_literals;

namespace {

const std::string kPrefix = "dpe2e";

std::uint16_t icmp_checksum(const std::uint8_t* p, std::size_t n) {
  std::uint32_t sum = 0;
  for (std::size_t i = 0; i + 1 < n; i += 2) {
    sum += static_cast<std::uint32_t>(p[i] << 8 | p[i + 1]);
  }
  if (n % 2 != 0) {
    sum += static_cast<std::uint32_t>(p[n - 1] << 8);
  }
  while (sum >> 16) {
    sum = (sum & 0xffff) + (sum >> 16);
  }
  return static_cast<std::uint16_t>(~sum);
}

// One ICMP echo to `dst` from a raw socket; true when the matching reply comes within 2 s.
bool ping_once(const char* dst, std::uint16_t seq) {
  const int fd = ::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
  if (fd < 0) {
    return false;
  }
  std::uint8_t msg[24] = {
      8, 0, 0, 0, 0x0e, 0x2e, static_cast<std::uint8_t>(seq >> 8), static_cast<std::uint8_t>(seq)};
  std::memcpy(msg + 8, "discplane-e2e-p", 16);
  const std::uint16_t c = icmp_checksum(msg, sizeof msg);
  msg[2] = static_cast<std::uint8_t>(c >> 8);
  msg[3] = static_cast<std::uint8_t>(c);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  ::inet_pton(AF_INET, dst, &to.sin_addr);
  bool ok = false;
  if (::sendto(fd, msg, sizeof msg, 0, reinterpret_cast<sockaddr*>(&to), sizeof to) > 0) {
    const auto deadline = Clock::now() + 2s;
    while (!ok && Clock::now() < deadline) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) {
        continue;
      }
      std::uint8_t buf[256];
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      const std::size_t ihl = n > 0 ? (buf[0] & 0x0fu) * 4u : 0;
      ok = n >= static_cast<ssize_t>(ihl + sizeof msg) && buf[ihl] == 0 &&
           std::memcmp(buf + ihl + 4, msg + 4, sizeof msg - 4) == 0 &&
           icmp_checksum(buf + ihl, sizeof msg) == 0;
    }
  }
  ::close(fd);
  return ok;
}

// One DPDK port under test: the EAL's --vdev argument, what to set up before discplane starts
// and how to attach the namespace's side once it runs.
struct PortUnderTest {
  std::string kind;  // "tap" | "af_xdp", in names and messages
  std::string vdev;
  std::function<bool()> before_start = [] { return true; };
  std::function<bool()> after_start = [] { return true; };
};

// ARP + ping from the namespace, a socket-backend peer there that bootstraps from the DPDK
// instance, then a clean stop within 1 s.
void dpdk_port_scenario(const Netns& ns, const std::string& net, PortUnderTest port) {
  const int pid = ::getpid();
  const std::string dpdk_ip = net + "2";
  const std::string ns_ip = net + "1";
  REQUIRE(sh("ip -n " + ns.name + " link set lo up") == 0);
  REQUIRE(port.before_start());

  TempDir dir("e2e-dpdk-" + port.kind);
  REQUIRE(dir.ok());
  NodeOptions d_opt;
  d_opt.name = "dpdk";
  d_opt.ip = dpdk_ip;
  d_opt.port = 30303;
  d_opt.api_listen = "127.0.0.1:" + std::to_string(free_port("127.0.0.1"));
  d_opt.extra_yaml =
      "dataplane:\n"
      "  backend: dpdk\n"
      "  dpdk:\n"
      "    eal_args:\n"
      "      - --no-huge\n"
      "      - --no-pci\n"
      "      - -m\n"
      "      - \"1024\"\n"
      "      - \"--vdev=" +
      port.vdev +
      "\"\n"
      "      - --file-prefix=" +
      kPrefix + port.kind + "_" + std::to_string(pid) +
      "\n"
      "    ipv4: " +
      dpdk_ip + "/24\n";
  auto d = Node::start(dir, d_opt, 60s);  // EAL start takes a few seconds
  // Our own ENR and enode carry the DPDK address.
  auto record = discplane::enr::parse_text(d->enr);
  REQUIRE(record);
  REQUIRE(record->udp_endpoint_v4());
  CHECK(record->udp_endpoint_v4()->to_string() == dpdk_ip + ":30303");
  CHECK(d->enode.find("@" + dpdk_ip + ":") != std::string::npos);

  REQUIRE(port.after_start());

  // ARP + ICMP echo from inside the namespace (the first echo may wait for ARP: retry).
  bool pinged = false;
  REQUIRE(ns.run([&] {
    for (std::uint16_t seq = 1; seq <= 5 && !pinged; ++seq) {
      pinged = ping_once(dpdk_ip.c_str(), seq);
    }
  }));
  CHECK(pinged);
  // The kernel in the namespace resolved our address by ARP (the port answered).
  CHECK(sh("ip -n " + ns.name + " neigh show " + dpdk_ip + " | grep -q lladdr") == 0);

  // A socket-backend discplane inside the namespace, bootstrapping from the DPDK instance.
  auto s = Node::start(dir, node_in(ns, ns_ip, {d->enode, d->enr}));
  const bool s_has_d = s->wait_peer(d->id16, "v4,v5", 20s);
  const bool d_has_s = d->wait_peer(s->id16, "v4,v5", 20s);
  INFO("DPDK instance:\n" << d->proc->out_text() << d->proc->err_text());
  INFO("namespace instance:\n" << s->proc->out_text() << s->proc->err_text());
  CHECK(s_has_d);
  CHECK(d_has_s);
  if (d_has_s) {
    CHECK(d->table().endpoints.at(s->id16) == ns_ip + ":30303");
  }
  if (s_has_d) {
    CHECK(s->table().endpoints.at(d->id16) == dpdk_ip + ":30303");
  }

  // Both stop cleanly; the DPDK one within 1 s as well.
  const auto took = d->proc->signal_and_wait(SIGTERM, 5s);
  REQUIRE(took.has_value());
  const double ms = std::chrono::duration<double, std::milli>(*took).count();
  CHECK(ms < 1000.0);
  CHECK(d->proc->exit_code() == 0);
  std::printf("e2e: SIGTERM stopped the DPDK (%s) discplane in %.1f ms\n", port.kind.c_str(), ms);
  CHECK(s->proc->signal_and_wait(SIGTERM, 5s).has_value());
  CHECK(s->proc->exit_code() == 0);
}

}  // namespace

TEST_CASE("dpdk backend: tap in a namespace answers ARP and ping and discovers a socket peer",
          "[e2e][dpdk]") {
  if (!e2e::can_use_tap()) {
    FAIL("the DPDK end-to-end test needs root and /dev/net/tun (net_tap)");
  }
  const int pid = ::getpid();
  const std::string tap = "dpe" + std::to_string(pid);
  const int x = 100 + pid % 100;  // 169.254.X.0/24 (private to our namespace anyway)
  const std::string net = "169.254." + std::to_string(x) + ".";
  sh("ip link del " + tap + " 2>/dev/null");  // a persistent leftover from a crashed run

  Netns ns(kPrefix);  // declared before the processes: deleted after they are gone
  REQUIRE(ns.created);
  PortUnderTest port;
  port.kind = "tap";
  port.vdev = "net_tap0,iface=" + tap;
  // The tap exists once the EAL is up (before the identity lines); wait anyway, bounded.
  port.after_start = [&] { return move_tap_into(ns, tap, net + "1/24"); };
  dpdk_port_scenario(ns, net, port);
}

TEST_CASE("dpdk backend: AF_XDP on a veth answers ARP and ping and discovers a socket peer",
          "[e2e][dpdk][af_xdp]") {
  if (::geteuid() != 0) {
    FAIL("the AF_XDP end-to-end test needs root (veth pair, XDP program, AF_XDP socket)");
  }
  const int pid = ::getpid();
  const std::string ours = "dpx" + std::to_string(pid) + "a";  // DPDK's end, no address
  const std::string theirs = "dpx" + std::to_string(pid) + "b";
  const int x = 100 + (pid + 50) % 100;
  const std::string net = "169.254." + std::to_string(x) + ".";
  sh("ip link del " + ours + " 2>/dev/null");  // a leftover from a crashed run

  Netns ns(kPrefix);  // deleting it deletes `theirs` and with it the pair
  REQUIRE(ns.created);
  PortUnderTest port;
  port.kind = "af_xdp";
  port.vdev = "net_af_xdp0,iface=" + ours + ",start_queue=0,queue_count=1";
  port.before_start = [&] {
    return sh("ip link add " + ours + " type veth peer name " + theirs + " netns " + ns.name) ==
               0 &&
           sh("ip -n " + ns.name + " addr add " + net + "1/24 dev " + theirs) == 0 &&
           sh("ip -n " + ns.name + " link set " + theirs + " up") == 0 &&
           // veth hands its peer frames whose UDP checksum the NIC would have finished
           // (CHECKSUM_PARTIAL); XDP sees them before that: checksum in software instead.
           sh("ip netns exec " + ns.name + " ethtool -K " + theirs + " tx off >/dev/null") == 0 &&
           sh("ip link set " + ours + " up") == 0;
  };
  dpdk_port_scenario(ns, net, port);
  sh("ip link del " + ours + " 2>/dev/null");
}
