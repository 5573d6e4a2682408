// DpdkPort over net_tap against the real kernel stack: the tap moves into a network namespace
// this test creates (169.254.77.1/24, fd00:77::1/64 there; the port is .2 / ::2). From inside
// the namespace the kernel pings us (raw ICMP socket; ARP answered by the port) and sends UDP
// over IPv4 and IPv6 (NDP answered by the port); the sink's replies must come back.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>

#include "discplane/net/frames.h"

#include "e2e/netns.h"
#include "unit/dpdk/dpdk_env.h"

using namespace dptest;

namespace {

using e2e::Netns;  // prefix "dptest": dptest_ns_<pid>
using e2e::sh;

struct PongSink final : disc::DatagramSink {
  void on_burst(std::span<const disc::Datagram> burst, disc::Transport& tx) noexcept override {
    for (const auto& d : burst) {
      ++received;
      auto buf = tx.acquire_tx_buffer();
      if (buf.size() < disc::kMaxPacketSize) {
        continue;
      }
      std::memcpy(buf.data(), "pong:", 5);
      std::memcpy(buf.data() + 5, d.payload.data(), d.payload.size());
      tx.commit_tx(5 + d.payload.size(), d.from);
    }
  }
  void on_idle(disc::Transport&) noexcept override {}
  std::atomic<int> received{0};
};

bool wait_readable(int fd, int ms) {
  pollfd pfd{fd, POLLIN, 0};
  return ::poll(&pfd, 1, ms) > 0;
}

// One ICMP echo to `dst` from a raw socket; true when the matching reply arrives within 2 s.
bool ping(const char* dst) {
  const int fd = ::socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
  if (fd < 0) {
    return false;
  }
  std::uint8_t msg[17] = {8,   0,   0,   0,   0x42, 0x42, 0,   1,  'd',
                          'i', 's', 'c', 'p', 'l',  'a',  'n', 'e'};
  const auto c = static_cast<std::uint16_t>(~checksum_fold(checksum_add(ByteView(msg))));
  msg[2] = static_cast<std::uint8_t>(c >> 8);
  msg[3] = static_cast<std::uint8_t>(c);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  inet_pton(AF_INET, dst, &to.sin_addr);
  bool ok = false;
  if (::sendto(fd, msg, sizeof msg, 0, reinterpret_cast<sockaddr*>(&to), sizeof to) > 0) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (!ok && std::chrono::steady_clock::now() < deadline) {
      std::uint8_t buf[256];
      if (!wait_readable(fd, 100)) {
        continue;
      }
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      const std::size_t ihl = n > 0 ? (buf[0] & 0x0fu) * 4u : 0;
      ok = n >= static_cast<ssize_t>(ihl + sizeof msg) && buf[ihl] == 0 && buf[ihl + 4] == 0x42 &&
           buf[ihl + 5] == 0x42 && std::memcmp(buf + ihl + 8, msg + 8, 9) == 0;
    }
  }
  ::close(fd);
  return ok;
}

// Sends `text` to dst:port over UDP and returns the first reply (up to 3 tries, 1 s each).
std::string udp_exchange(int family, const char* dst, std::uint16_t port, const std::string& text) {
  const int fd = ::socket(family, SOCK_DGRAM, 0);
  if (fd < 0) {
    return "<socket failed>";
  }
  sockaddr_storage ss{};
  socklen_t len;
  if (family == AF_INET) {
    auto* s = reinterpret_cast<sockaddr_in*>(&ss);
    s->sin_family = AF_INET;
    s->sin_port = htons(port);
    inet_pton(AF_INET, dst, &s->sin_addr);
    len = sizeof *s;
  } else {
    auto* s = reinterpret_cast<sockaddr_in6*>(&ss);
    s->sin6_family = AF_INET6;
    s->sin6_port = htons(port);
    inet_pton(AF_INET6, dst, &s->sin6_addr);
    len = sizeof *s;
  }
  std::string reply = "<no reply>";
  for (int attempt = 0; attempt < 3 && reply == "<no reply>"; ++attempt) {
    if (::sendto(fd, text.data(), text.size(), 0, reinterpret_cast<sockaddr*>(&ss), len) < 0) {
      continue;
    }
    char buf[2048];
    if (wait_readable(fd, 1000)) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n > 0) {
        reply.assign(buf, static_cast<std::size_t>(n));
      }
    }
  }
  ::close(fd);
  return reply;
}

}  // namespace

TEST_CASE("dpdk tap: a namespace pings the port and exchanges UDP over IPv4 and IPv6",
          "[dpdk][tap]") {
  (void)env();  // EAL up, with the tap vdev
  Netns ns("dptest");
  REQUIRE(ns.created);
  DpdkConfig config;
  config.eal_args = eal_args();
  config.port_name = "net_tap0";
  config.mempool_size = 2047;
  config.ipv4 = *IpAddress::parse("169.254.77.2");
  config.ipv6 = *IpAddress::parse("fd00:77::2");
  config.udp_port = 30303;
  auto created = DpdkPort::create(config);
  if (!created) {
    FAIL("tap port: " << to_string(created.error()));
  }
  auto port = std::move(*created);
  const std::string ifc = tap_iface();
  REQUIRE(sh("ip link set " + ifc + " netns " + ns.name) == 0);
  REQUIRE(sh("ip -n " + ns.name + " addr add 169.254.77.1/24 dev " + ifc) == 0);
  REQUIRE(sh("ip -n " + ns.name + " -6 addr add fd00:77::1/64 dev " + ifc + " nodad") == 0);
  REQUIRE(sh("ip -n " + ns.name + " link set " + ifc + " up") == 0);

  PongSink sink;
  std::atomic<bool> stop{false};
  std::thread loop([&] { port->run(sink, stop, {}); });
  bool pinged = false;
  std::string reply4;
  std::string reply6;
  const bool entered = ns.run([&] {
    pinged = ping("169.254.77.2");
    reply4 = udp_exchange(AF_INET, "169.254.77.2", 30303, "hello tap");
    reply6 = udp_exchange(AF_INET6, "fd00:77::2", 30303, "hello tap6");
  });
  stop = true;
  loop.join();
  REQUIRE(entered);
  const DpdkCounters counters = port->counters();
  port.reset();  // closes the tap before the namespace goes

  CHECK(pinged);
  CHECK(reply4 == "pong:hello tap");
  CHECK(reply6 == "pong:hello tap6");
  CHECK(sink.received >= 2);
  CHECK(counters.frame(ParseResult::kArp) >= 1);
  CHECK(counters.frame(ParseResult::kIcmpEcho) >= 1);
  CHECK(counters.frame(ParseResult::kNeighborSolicit) >= 1);
  CHECK(counters.replies >= 3);
}
