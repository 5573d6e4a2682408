// SocketPort on loopback (127.0.0.1 and ::1): a plain client socket sends datagrams, an echo
// sink answers through the Transport, the client checks the replies. Every wait is bounded.
#include "discplane/net/socket_port.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

using namespace discplane;
using namespace discplane::net;
using namespace std::chrono_literals;

namespace {

// Answers every datagram with "re:" + payload, `copies` times; records burst sizes.
class EchoSink final : public disc::DatagramSink {
 public:
  explicit EchoSink(int copies = 1) : copies_(copies) {}
  void on_burst(std::span<const disc::Datagram> burst, disc::Transport& tx) noexcept override {
    burst_sizes.push_back(burst.size());
    for (const auto& d : burst) {
      sources.insert(d.from.to_string());
      for (int c = 0; c < copies_; ++c) {
        auto buf = tx.acquire_tx_buffer();
        if (buf.size() < disc::kMaxPacketSize) {
          continue;
        }
        std::memcpy(buf.data(), "re:", 3);
        std::memcpy(buf.data() + 3, d.payload.data(), d.payload.size());
        tx.commit_tx(3 + d.payload.size(), d.from);
      }
    }
  }
  void on_idle(disc::Transport&) noexcept override { ++idle; }

  std::vector<std::size_t> burst_sizes;
  std::set<std::string> sources;
  int idle = 0;

 private:
  int copies_;
};

// A plain blocking client socket bound to loopback.
struct Client {
  int fd = -1;
  Endpoint local;
  explicit Client(bool v6) {
    fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM, 0);
    REQUIRE(fd >= 0);
    int rcv = 4 << 20;
    (void)::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
    sockaddr_storage ss{};
    socklen_t len;
    if (v6) {
      auto* s = reinterpret_cast<sockaddr_in6*>(&ss);
      s->sin6_family = AF_INET6;
      s->sin6_addr = in6addr_loopback;
      len = sizeof *s;
    } else {
      auto* s = reinterpret_cast<sockaddr_in*>(&ss);
      s->sin_family = AF_INET;
      s->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      len = sizeof *s;
    }
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0);
    len = sizeof ss;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0);
    local.port = v6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                    : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    local.ip = *IpAddress::parse(v6 ? "::1" : "127.0.0.1");
  }
  ~Client() { ::close(fd); }

  void send(const Endpoint& to, const std::string& msg) const {
    sockaddr_storage ss{};
    socklen_t len;
    if (to.ip.is_v6()) {
      auto* s = reinterpret_cast<sockaddr_in6*>(&ss);
      s->sin6_family = AF_INET6;
      std::memcpy(&s->sin6_addr, to.ip.bytes.data(), 16);
      s->sin6_port = htons(to.port);
      len = sizeof *s;
    } else {
      auto* s = reinterpret_cast<sockaddr_in*>(&ss);
      s->sin_family = AF_INET;
      std::memcpy(&s->sin_addr, to.ip.bytes.data(), 4);
      s->sin_port = htons(to.port);
      len = sizeof *s;
    }
    REQUIRE(::sendto(fd, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&ss), len) ==
            static_cast<ssize_t>(msg.size()));
  }
  // Receives up to `n` datagrams, waiting at most 2 s in total.
  std::vector<std::string> receive(std::size_t n) const {
    std::vector<std::string> out;
    const auto deadline = std::chrono::steady_clock::now() + 2s;
    char buf[2048];
    while (out.size() < n && std::chrono::steady_clock::now() < deadline) {
      pollfd pfd{fd, POLLIN, 0};
      if (::poll(&pfd, 1, 100) <= 0) {
        continue;
      }
      const ssize_t r = ::recv(fd, buf, sizeof buf, 0);
      if (r > 0) {
        out.emplace_back(buf, static_cast<std::size_t>(r));
      }
    }
    return out;
  }
};

// Polls until `want` datagrams have arrived or 2 s passed.
void poll_until(SocketPort& port, disc::DatagramSink& sink, std::uint64_t want) {
  const auto deadline = std::chrono::steady_clock::now() + 2s;
  while (port.counters().rx < want && std::chrono::steady_clock::now() < deadline) {
    (void)port.poll_once(sink, 1ms);
  }
}

void echo_roundtrip(const char* bind_ip, bool v6) {
  auto port = SocketPort::create(Endpoint{*IpAddress::parse(bind_ip), 0});
  REQUIRE(port);
  const Endpoint server{*IpAddress::parse(v6 ? "::1" : "127.0.0.1"),
                        (*port)->local_endpoint().port};
  REQUIRE(server.port != 0);
  Client client(v6);
  EchoSink sink;
  client.send(server, "hello");
  client.send(server, "world");
  poll_until(**port, sink, 2);
  CHECK((*port)->counters().rx == 2);
  CHECK(sink.sources == std::set<std::string>{client.local.to_string()});
  auto replies = client.receive(2);
  std::sort(replies.begin(), replies.end());
  CHECK(replies == std::vector<std::string>{"re:hello", "re:world"});
  CHECK((*port)->counters().tx == 2);
  CHECK((*port)->counters().tx_dropped == 0);
}

}  // namespace

TEST_CASE("socket port: echo over 127.0.0.1 and 0.0.0.0", "[socket]") {
  echo_roundtrip("127.0.0.1", false);
  echo_roundtrip("0.0.0.0", false);
}

TEST_CASE("socket port: echo over ::1 and [::]", "[socket]") {
  echo_roundtrip("::1", true);
  echo_roundtrip("::", true);
}

TEST_CASE("socket port: bursts over 32 are split, every datagram answered", "[socket]") {
  auto port = SocketPort::create(*Endpoint::parse("127.0.0.1:0"));
  REQUIRE(port);
  Client client(false);
  EchoSink sink;
  constexpr int kCount = 100;
  for (int i = 0; i < kCount; ++i) {
    client.send((*port)->local_endpoint(), std::to_string(i));
  }
  poll_until(**port, sink, kCount);
  CHECK((*port)->counters().rx == kCount);
  CHECK(*std::max_element(sink.burst_sizes.begin(), sink.burst_sizes.end()) == 32);
  CHECK(sink.burst_sizes.size() >= 4);
  auto replies = client.receive(kCount);
  CHECK(replies.size() == kCount);
  std::set<std::string> unique(replies.begin(), replies.end());
  CHECK(unique.size() == kCount);
  CHECK(unique.count("re:99") == 1);
}

TEST_CASE("socket port: dual-stack, a socket per family, answers leave by their family's socket",
          "[socket]") {
  const std::vector<Endpoint> locals{*Endpoint::parse("127.0.0.1:0"), *Endpoint::parse("[::1]:0")};
  auto port = SocketPort::create(locals);
  REQUIRE(port);
  REQUIRE((*port)->local_endpoints().size() == 2);
  const Endpoint* four = (*port)->local_endpoint_of(IpAddress::Family::kV4);
  const Endpoint* six = (*port)->local_endpoint_of(IpAddress::Family::kV6);
  REQUIRE(four != nullptr);
  REQUIRE(six != nullptr);
  CHECK(four->ip.is_v4());
  CHECK(six->ip.is_v6());
  CHECK(four->port != 0);
  CHECK(six->port != 0);
  CHECK((*port)->local_endpoint() == *four);  // the first of `locals`

  Client c4(false);
  Client c6(true);
  EchoSink sink(/*copies=*/20);  // 2 x 20 answers in one batch: runs of one family each
  c4.send(*four, "four");
  c6.send(*six, "six");
  poll_until(**port, sink, 2);
  CHECK((*port)->counters().rx == 2);
  CHECK(sink.sources == std::set<std::string>{c4.local.to_string(), c6.local.to_string()});
  const auto r4 = c4.receive(20);
  const auto r6 = c6.receive(20);
  CHECK(r4 == std::vector<std::string>(20, "re:four"));
  CHECK(r6 == std::vector<std::string>(20, "re:six"));
  CHECK((*port)->counters().tx == 40);
  CHECK((*port)->counters().tx_dropped == 0);

  // Neither family starves the other: with both sockets full, consecutive polls take turns.
  for (int i = 0; i < 64; ++i) {
    c4.send(*four, "a");
    c6.send(*six, "b");
  }
  EchoSink quiet(/*copies=*/0);
  (void)(*port)->poll_once(quiet, 100ms);
  (void)(*port)->poll_once(quiet, 100ms);
  REQUIRE(quiet.sources.size() == 2);

  // Two endpoints of one family, or none, are not a port.
  const std::vector<Endpoint> two4{*Endpoint::parse("127.0.0.1:0"),
                                   *Endpoint::parse("127.0.0.2:0")};
  auto bad = SocketPort::create(two4);
  REQUIRE_FALSE(bad);
  CHECK(bad.error() == SocketError::kBadEndpoint);
  CHECK_FALSE(SocketPort::create(std::span<const Endpoint>{}));
}

TEST_CASE("socket port: a dual-stack reuseport group gives each port one socket per family",
          "[socket]") {
  auto probe4 = SocketPort::create(*Endpoint::parse("127.0.0.1:0"));
  REQUIRE(probe4);
  const std::uint16_t p = (*probe4)->local_endpoint().port;
  probe4->reset();  // free the port for the group (a race with another binder is unlikely)
  const std::vector<Endpoint> locals{Endpoint{IpAddress::v4(127, 0, 0, 1), p},
                                     Endpoint{*IpAddress::parse("::1"), p}};
  auto group = SocketPort::create_group(locals, 2, 7);
  REQUIRE(group);
  REQUIRE(group->size() == 2);
  for (const auto& port : *group) {
    REQUIRE(port->local_endpoints().size() == 2);
    CHECK(port->local_endpoint_of(IpAddress::Family::kV4)->port == p);
    CHECK(port->local_endpoint_of(IpAddress::Family::kV6)->port == p);
  }
  // Each client's datagrams reach the port reuseport_steer() names, for both families.
  Client c4(false);
  Client c6(true);
  c4.send(locals[0], "x");
  c6.send(locals[1], "y");
  EchoSink sinks[2];
  const auto deadline = std::chrono::steady_clock::now() + 2s;
  while ((*group)[0]->counters().rx + (*group)[1]->counters().rx < 2 &&
         std::chrono::steady_clock::now() < deadline) {
    for (int k = 0; k < 2; ++k) {
      (void)(*group)[k]->poll_once(sinks[k], 1ms);
    }
  }
  CHECK(sinks[reuseport_steer(c4.local, 2, 7)].sources.count(c4.local.to_string()) == 1);
  CHECK(sinks[reuseport_steer(c6.local, 2, 7)].sources.count(c6.local.to_string()) == 1);
  CHECK(c4.receive(1) == std::vector<std::string>{"re:x"});
  CHECK(c6.receive(1) == std::vector<std::string>{"re:y"});
}

TEST_CASE("socket port: a sink sending more than the batch flushes when it fills", "[socket]") {
  auto port = SocketPort::create(*Endpoint::parse("[::1]:0"));
  REQUIRE(port);
  Client client(true);
  EchoSink sink(/*copies=*/45);
  client.send((*port)->local_endpoint(), "x");
  poll_until(**port, sink, 1);
  const auto replies = client.receive(45);
  CHECK(replies.size() == 45);
  CHECK((*port)->counters().tx == 45);
}

TEST_CASE("socket port: idle polls sleep in the kernel and call on_idle", "[socket]") {
  auto port = SocketPort::create(*Endpoint::parse("127.0.0.1:0"));
  REQUIRE(port);
  EchoSink sink;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 5; ++i) {
    CHECK((*port)->poll_once(sink, 20ms) == 0);
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(sink.idle == 5);
  CHECK((*port)->counters().idle == 5);
  CHECK(elapsed >= 90ms);  // 5 x 20 ms of ppoll, not a busy loop
  CHECK(sink.burst_sizes.empty());
}

TEST_CASE("socket port: bad commits are counted, not sent", "[socket]") {
  auto port = SocketPort::create(*Endpoint::parse("127.0.0.1:0"));
  REQUIRE(port);
  struct BadSink final : disc::DatagramSink {
    void on_burst(std::span<const disc::Datagram>, disc::Transport&) noexcept override {}
    void on_idle(disc::Transport& tx) noexcept override {
      (void)tx.acquire_tx_buffer();
      tx.commit_tx(10, *Endpoint::parse("[::1]:9"));  // family of the socket is IPv4
      (void)tx.acquire_tx_buffer();
      tx.commit_tx(5000, *Endpoint::parse("127.0.0.1:9"));  // longer than a slot
    }
  } sink;
  (void)(*port)->poll_once(sink, 0us);
  CHECK((*port)->counters().tx_dropped == 2);
  CHECK((*port)->counters().tx == 0);
}

TEST_CASE("socket port: run() stops on the flag, create() reports errors", "[socket]") {
  auto port = SocketPort::create(*Endpoint::parse("127.0.0.1:0"));
  REQUIRE(port);
  auto taken = SocketPort::create((*port)->local_endpoint());
  REQUIRE_FALSE(taken);
  CHECK(taken.error() == SocketError::kBind);
  CHECK(std::string(to_string(taken.error())) == "bind() failed");
  CHECK_FALSE(SocketPort::create(Endpoint{}));
  Client client(false);
  EchoSink sink;
  std::atomic<bool> stop{false};
  std::thread loop([&] { (*port)->run(sink, stop, 5ms); });
  client.send((*port)->local_endpoint(), "ping");
  const auto replies = client.receive(1);
  stop = true;
  loop.join();
  CHECK(replies == std::vector<std::string>{"re:ping"});
}

namespace {

int socket_option(int fd, int option) {
  int value = 0;
  socklen_t len = sizeof value;
  REQUIRE(::getsockopt(fd, SOL_SOCKET, option, &value, &len) == 0);
  return value;
}

std::uint32_t proc_value(const char* path) {
  std::FILE* f = std::fopen(path, "r");
  unsigned long v = 0;
  if (f != nullptr) {
    if (std::fscanf(f, "%lu", &v) != 1) {
      v = 0;
    }
    std::fclose(f);
  }
  return static_cast<std::uint32_t>(v);
}

}  // namespace

TEST_CASE("socket port: buffer sizes are applied, and what the kernel granted is reported",
          "[socket]") {
  // The kernel doubles the size it is given; the plain option is capped at rmem_max/wmem_max,
  // the FORCE one (CAP_NET_ADMIN, the tests run as root) is not.
  const SocketOptions asked{3u << 20, 1u << 20};
  for (const char* bind_ip : {"127.0.0.1", "::1"}) {
    auto port = SocketPort::create(Endpoint{*IpAddress::parse(bind_ip), 0}, asked);
    REQUIRE(port);
    const SocketBuffers& b = (*port)->buffers();
    CHECK(b.rcvbuf == static_cast<std::uint32_t>(socket_option((*port)->fd(), SO_RCVBUF)));
    CHECK(b.sndbuf == static_cast<std::uint32_t>(socket_option((*port)->fd(), SO_SNDBUF)));
    if (b.forced) {
      CHECK(b.rcvbuf == 2 * asked.rcvbuf);
      CHECK(b.sndbuf == 2 * asked.sndbuf);
    } else {
      CHECK(b.rcvbuf == 2 * std::min(asked.rcvbuf, proc_value("/proc/sys/net/core/rmem_max")));
      CHECK(b.sndbuf == 2 * std::min(asked.sndbuf, proc_value("/proc/sys/net/core/wmem_max")));
    }
  }
  // The default is several MB (8 MiB asked), well over the kernel's 212 KB.
  auto def = SocketPort::create(*Endpoint::parse("127.0.0.1:0"));
  REQUIRE(def);
  if ((*def)->buffers().forced) {
    CHECK((*def)->buffers().rcvbuf == 2 * (8u << 20));
    CHECK(socket_option((*def)->fd(), SO_SNDBUF) == 2 * (8 << 20));
  }
  // 0 leaves the kernel's default; a group applies the options to every socket.
  auto plain = SocketPort::create(*Endpoint::parse("127.0.0.1:0"), SocketOptions{0, 0});
  REQUIRE(plain);
  CHECK((*plain)->buffers().rcvbuf == proc_value("/proc/sys/net/core/rmem_default"));
  auto group = SocketPort::create_group(*Endpoint::parse("127.0.0.1:0"), 1, 0, asked);
  REQUIRE(group);
  CHECK(socket_option((*group)[0]->fd(), SO_RCVBUF) >= static_cast<int>(asked.rcvbuf));
}

TEST_CASE("socket port: datagrams the kernel drops for a full buffer are counted", "[socket]") {
  // A tiny receive buffer, filled without reading: the kernel queues a few datagrams and
  // drops the rest. Its drop counter rides on the next datagram it queues (SO_RXQ_OVFL), so
  // after draining one more is sent to carry it.
  auto port = SocketPort::create(*Endpoint::parse("127.0.0.1:0"), SocketOptions{4096, 0});
  REQUIRE(port);
  Client client(false);
  const std::string payload(1000, 'x');
  constexpr std::uint64_t kSent = 200;
  for (std::uint64_t i = 0; i < kSent; ++i) {
    client.send((*port)->local_endpoint(), payload);
  }
  EchoSink sink(0);
  for (int i = 0; i < 20 && (*port)->poll_once(sink, 1ms) > 0; ++i) {
  }
  const std::uint64_t queued = (*port)->counters().rx;
  CHECK(queued > 0);
  CHECK(queued < kSent);
  client.send((*port)->local_endpoint(), "carrier");
  poll_until(**port, sink, queued + 1);
  CHECK((*port)->counters().rx == queued + 1);
  CHECK((*port)->counters().kernel_rx_dropped == kSent - queued);
  CHECK((*port)->counters().errors == 0);
}
