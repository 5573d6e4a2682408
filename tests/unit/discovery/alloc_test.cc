// The hot path allocates nothing: a discv4 Ping from a bonded peer (answered with a Pong)
// and a discv5 PING on an established session (answered with a PONG), in steady state,
// measured around DiscoveryServer::on_burst. The counting allocator
// (tools/common/alloc_count.h, linked into unit_discovery) replaces the global operator
// new/delete of the whole binary with counting wrappers around malloc/free; counting is off
// except inside a measured section on this thread, so the other tests of the binary see plain
// malloc. The first allocation inside a measured section records its backtrace (printed on
// failure) to say where the engine allocated.
#include <array>
#include <vector>

#include <catch2/catch.hpp>

#include "discplane/discovery/server.h"
#include "discplane/wire/v4wire.h"

#include "common/alloc_count.h"
#include "unit/discovery/engine_harness.h"

namespace {

// Counts this thread's allocations while alive (the other tests of the binary see plain
// malloc) and records the first one's call stack.
class AllocationCounter : public discplane::alloc_count::Section {
 public:
  AllocationCounter() : Section(discplane::alloc_count::Scope::kThisThread, true) {}
};

using discplane::alloc_count::print_first_allocation;

}  // namespace

using namespace discplane;
using namespace discplane::disc;
using test::CollectingTransport;
using test::FakeClock;

namespace {

// A Transport that allocates nothing: TX buffers are preallocated slots, commits record
// (length, destination) in fixed arrays. Wraps around after kSlots datagrams.
class RingTransport final : public Transport {
 public:
  static constexpr std::size_t kSlots = 64;
  MutableByteView acquire_tx_buffer() noexcept override {
    auto& slot = slots_[count_ % kSlots];
    return {slot.data(), slot.size()};
  }
  void commit_tx(std::size_t length, const Endpoint& to) noexcept override {
    lengths_[count_ % kSlots] = length;
    to_[count_ % kSlots] = to;
    ++count_;
  }
  std::size_t count() const { return count_; }
  ByteView payload(std::size_t i) const {
    return {slots_[i % kSlots].data(), lengths_[i % kSlots]};
  }
  const Endpoint& to(std::size_t i) const { return to_[i % kSlots]; }

 private:
  std::array<std::array<std::uint8_t, kMaxPacketSize>, kSlots> slots_{};
  std::array<std::size_t, kSlots> lengths_{};
  std::array<Endpoint, kSlots> to_{};
  std::size_t count_ = 0;
};

ServerConfig server_config(std::uint64_t seed, const Endpoint& ep) {
  ServerConfig c;
  c.private_key = test::key_from_seed(seed);
  c.udp_port = ep.port;
  c.ipv4 = ep.ip;
  // Small maps: the test is about allocation, not capacity (construction allocates once).
  c.v4_max_bonds = 1024;
  c.max_sessions = 256;
  return c;
}

void deliver(DiscoveryServer& to, const Bytes& payload, const Endpoint& from, Transport& tx) {
  const Datagram d{ByteView(payload), from};
  to.on_burst(std::span<const Datagram>(&d, 1), tx);
}

}  // namespace

TEST_CASE("alloc: the counting allocator sees allocations (self-check)", "[alloc]") {
  AllocationCounter counter;
  // The object and its buffer: two allocations (volatile: the pair cannot be elided).
  std::vector<int>* volatile p = new std::vector<int>(100);
  const std::size_t n = counter.stop();
  delete p;
  REQUIRE(n == 2);
}

TEST_CASE("alloc: a discv4 Ping from a bonded peer is answered without allocating", "[alloc][v4]") {
  FakeClock clock;
  crypto::DeterministicRandom rng(42);
  const Endpoint self = test::loopback(30303);
  DiscoveryServer server(server_config(1, self), clock, rng);

  const crypto::PrivateKey peer_key = test::key_from_seed(7);
  const Endpoint peer_ep{IpAddress::v4(127, 0, 0, 2), 30303};
  auto make_ping = [&](std::uint64_t expiration) {
    v4wire::Ping p;
    p.from = {peer_ep.ip, peer_ep.port, peer_ep.port};
    p.to = {self.ip, self.port, 0};
    p.expiration = expiration;
    Bytes out(kMaxPacketSize);
    auto enc = v4wire::encode_ping(peer_key, p, out);
    REQUIRE(enc);
    out.resize(enc->size);
    return out;
  };

  // Bond: their Ping, our Pong and Ping, their Pong.
  CollectingTransport setup;
  deliver(server, make_ping(clock.now().unix_s + 20), peer_ep, setup);
  Hash256 our_ping{};
  for (auto& s : setup.take()) {
    auto p = v4wire::decode(s.payload);
    REQUIRE(p);
    if (p->type == v4wire::PacketType::kPing) {
      our_ping = p->hash;
    }
  }
  REQUIRE(our_ping != Hash256{});
  {
    v4wire::Pong pong;
    pong.to = {self.ip, self.port, 0};
    pong.ping_hash = our_ping;
    pong.expiration = static_cast<std::uint64_t>(clock.now().unix_s + 20);
    Bytes out(kMaxPacketSize);
    auto enc = v4wire::encode_pong(peer_key, pong, out);
    REQUIRE(enc);
    out.resize(enc->size);
    deliver(server, out, peer_ep, setup);
  }
  REQUIRE(server.counters().v4_bonds == 1);
  REQUIRE(server.table().find(crypto::node_id_of(*crypto::derive_public_key(peer_key))) != nullptr);

  // Distinct Pings (the expiration differs, so the hash does: no replay drop), encoded
  // before measuring. 20 ms between them, so the deadline pass runs as well.
  constexpr std::size_t kWarmup = 8;
  constexpr std::size_t kMeasured = 48;
  std::vector<Bytes> pings;
  for (std::size_t i = 0; i < kWarmup + kMeasured; ++i) {
    pings.push_back(make_ping(clock.now().unix_s + 30 + i));
  }
  RingTransport ring;
  for (std::size_t i = 0; i < kWarmup; ++i) {
    clock.advance_ms(20);
    deliver(server, pings[i], peer_ep, ring);
  }
  REQUIRE(ring.count() == kWarmup);  // one Pong each, no Ping back: bonded

  const std::uint64_t pongs_before = server.counters().tx_v4[2];
  std::array<Datagram, kMeasured> bursts{};
  for (std::size_t i = 0; i < kMeasured; ++i) {
    bursts[i] = Datagram{ByteView(pings[kWarmup + i]), peer_ep};
  }
  AllocationCounter counter;
  for (std::size_t i = 0; i < kMeasured / 2; ++i) {  // one datagram per burst
    clock.advance_ms(20);
    server.on_burst(std::span<const Datagram>(&bursts[i], 1), ring);
  }
  clock.advance_ms(20);  // the rest as one burst
  server.on_burst(std::span<const Datagram>(bursts.data() + kMeasured / 2, kMeasured / 2), ring);
  const std::size_t allocations = counter.stop();

  if (allocations != 0) {
    print_first_allocation();
  }
  REQUIRE(server.counters().tx_v4[2] - pongs_before == kMeasured);
  REQUIRE(ring.count() == kWarmup + kMeasured);
  for (std::size_t i = kWarmup; i < ring.count(); ++i) {
    auto p = v4wire::decode(ring.payload(i));
    REQUIRE(p);
    REQUIRE(p->type == v4wire::PacketType::kPong);
    REQUIRE(ring.to(i) == peer_ep);
  }
  REQUIRE(allocations == 0);
}

TEST_CASE("alloc: a discv5 PING on an established session is answered without allocating",
          "[alloc][v5]") {
  FakeClock clock;
  crypto::DeterministicRandom rng_a(42);
  crypto::DeterministicRandom rng_b(43);
  const Endpoint ep_a = test::loopback(30303);
  const Endpoint ep_b{IpAddress::v4(127, 0, 0, 2), 30303};
  ServerConfig ca = server_config(1, ep_a);
  ServerConfig cb = server_config(2, ep_b);
  ca.enable_v4 = cb.enable_v4 = false;  // only discv5 traffic between them
  DiscoveryServer a(ca, clock, rng_a);  // measured
  DiscoveryServer b(cb, clock, rng_b);  // the peer: pings `a` through its revalidation
  CollectingTransport tx_a;
  CollectingTransport tx_b;

  // Routes between the two until both are quiet.
  auto exchange = [&] {
    for (int round = 0; round < 16; ++round) {
      auto from_a = tx_a.take();
      auto from_b = tx_b.take();
      if (from_a.empty() && from_b.empty()) {
        return;
      }
      for (auto& d : from_a) {
        deliver(b, d.payload, ep_a, tx_b);
      }
      for (auto& d : from_b) {
        deliver(a, d.payload, ep_b, tx_a);
      }
    }
  };

  NodeSeed seed;
  seed.public_key = a.local_public_key();
  seed.endpoint4 = ep_a;
  seed.record = a.local_record();
  seed.protocols = kFlagV5;
  b.handle(msg::AddSeed{seed}, tx_b);
  b.handle(msg::Revalidate{Protocol::kV5}, tx_b);  // no session yet: handshake, then PING
  exchange();
  REQUIRE(a.session_count() == 1);
  REQUIRE(b.session_count() == 1);
  REQUIRE(b.counters().rx_v5[2] == 1);  // the PONG arrived

  // Each round: 11 s pass (the entry is due again), `b` revalidates `a` with a PING on the
  // session, `a` answers (measured from the second phase on), the PONG goes back to `b`.
  constexpr std::size_t kWarmup = 6;
  constexpr std::size_t kMeasured = 32;
  RingTransport ring;
  std::size_t allocations = 0;
  std::size_t pings = 0;
  for (std::size_t i = 0; i < kWarmup + kMeasured; ++i) {
    clock.advance_ms(11'000);
    b.handle(msg::Revalidate{Protocol::kV5}, tx_b);
    auto sent = tx_b.take();
    REQUIRE(sent.size() == 1);
    const Datagram d{ByteView(sent[0].payload), ep_b};
    const std::size_t before = ring.count();
    if (i < kWarmup) {
      a.on_burst(std::span<const Datagram>(&d, 1), ring);
    } else {
      AllocationCounter counter;
      a.on_burst(std::span<const Datagram>(&d, 1), ring);
      const std::size_t n = counter.stop();
      if (n != 0 && allocations == 0) {
        print_first_allocation();
      }
      allocations += n;
      ++pings;
    }
    REQUIRE(ring.count() == before + 1);
    const Bytes reply(ring.payload(before).begin(), ring.payload(before).end());
    REQUIRE(ring.to(before) == ep_b);
    deliver(b, reply, ep_a, tx_b);
    REQUIRE(tx_b.sent.empty());  // no new handshake: the session held
  }
  REQUIRE(pings == kMeasured);
  REQUIRE(b.counters().rx_v5[2] == 1 + kWarmup + kMeasured);  // every answer was a PONG
  REQUIRE(a.counters().v5_handshakes_accepted == 1);
  REQUIRE(allocations == 0);
}
