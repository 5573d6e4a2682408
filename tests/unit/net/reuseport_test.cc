// SocketPort::create_group: N SO_REUSEPORT sockets whose BPF program steers each source
// endpoint to socket reuseport_steer(source): checked on 127.0.0.1 and ::1 from many source
// ports. Every wait is bounded.
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "discplane/net/socket_port.h"

using namespace discplane;
using namespace discplane::net;

namespace {

sockaddr_storage addr_of(const Endpoint& ep, socklen_t& len) {
  sockaddr_storage ss{};
  if (ep.ip.is_v4()) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(ep.port);
    std::memcpy(&sin->sin_addr, ep.ip.bytes.data(), 4);
    len = sizeof(sockaddr_in);
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(ep.port);
    std::memcpy(&sin6->sin6_addr, ep.ip.bytes.data(), 16);
    len = sizeof(sockaddr_in6);
  }
  return ss;
}

std::uint16_t free_port(const IpAddress& ip) {
  auto probe = SocketPort::create(Endpoint{ip, 0});
  REQUIRE(probe.has_value());
  return (*probe)->local_endpoint().port;
}

void check_steering(const IpAddress& ip, std::uint32_t n, std::uint32_t seed) {
  const Endpoint local{ip, free_port(ip)};
  auto group = SocketPort::create_group(local, n, seed);
  REQUIRE(group.has_value());
  REQUIRE(group->size() == n);
  // 40 clients, each its own source port; each sends one datagram carrying its index.
  constexpr int kClients = 40;
  std::vector<int> clients;
  std::vector<std::uint16_t> ports;
  for (int c = 0; c < kClients; ++c) {
    const int fd = ::socket(ip.is_v4() ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    socklen_t len = 0;
    sockaddr_storage any = addr_of(Endpoint{ip, 0}, len);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&any), len) == 0);
    sockaddr_storage got{};
    socklen_t got_len = sizeof got;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&got), &got_len) == 0);
    ports.push_back(ntohs(reinterpret_cast<sockaddr_in*>(&got)->sin_port));  // same offset in v6
    sockaddr_storage to = addr_of(local, len);
    const auto index = static_cast<std::uint8_t>(c);
    REQUIRE(::sendto(fd, &index, 1, 0, reinterpret_cast<sockaddr*>(&to), len) == 1);
    clients.push_back(fd);
  }
  std::map<int, std::uint32_t> received_on;  // client -> socket
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (received_on.size() < kClients && std::chrono::steady_clock::now() < deadline) {
    for (std::uint32_t k = 0; k < n; ++k) {
      std::uint8_t b = 0;
      while (::recv((*group)[k]->fd(), &b, 1, MSG_DONTWAIT) == 1) {
        received_on[b] = k;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  REQUIRE(received_on.size() == kClients);
  std::set<std::uint32_t> used;
  for (int c = 0; c < kClients; ++c) {
    const std::uint32_t want = reuseport_steer(Endpoint{ip, ports[c]}, n, seed);
    INFO("client " << c << " port " << ports[c]);
    CHECK(received_on[c] == want);
    used.insert(want);
  }
  CHECK(used.size() == n);  // 40 flows reach every one of n <= 4 sockets
  for (int fd : clients) {
    ::close(fd);
  }
}

}  // namespace

TEST_CASE("reuseport group: the kernel steers like reuseport_steer (IPv4)", "[socket]") {
  check_steering(IpAddress::v4(127, 0, 0, 1), 2, 0x1234abcd);
  check_steering(IpAddress::v4(127, 0, 0, 1), 3, 7);
  check_steering(IpAddress::v4(127, 0, 0, 1), 4, 0);
}

TEST_CASE("reuseport group: the kernel steers like reuseport_steer (IPv6)", "[socket]") {
  auto loop6 = IpAddress::from_bytes(
      ByteView(std::array<std::uint8_t, 16>{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}));
  REQUIRE(loop6.has_value());
  check_steering(*loop6, 2, 0xfeedbeef);
  check_steering(*loop6, 4, 99);
}

TEST_CASE("reuseport group: one worker is a plain socket; port 0 is refused", "[socket]") {
  auto one = SocketPort::create_group(Endpoint{IpAddress::v4(127, 0, 0, 1), 0}, 1, 0);
  REQUIRE(one.has_value());
  CHECK(one->size() == 1);
  auto bad = SocketPort::create_group(Endpoint{IpAddress::v4(127, 0, 0, 1), 0}, 2, 0);
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error() == SocketError::kBadEndpoint);
  for (std::uint32_t n = 2; n <= 16; ++n) {
    for (std::uint16_t p = 1; p < 200; ++p) {
      CHECK(reuseport_steer(Endpoint{IpAddress::v4(10, 0, 0, 1), p}, n, 5) < n);
    }
  }
}
