// The engine under a NetPolicy: banned sources (IP, CIDR, node id) and sources outside the allow
// list get no answer, are counted by reason and never enter the table; banned nodes learned from
// Neighbors answers or seeds are never stored or contacted; a policy swapped in at run time
// (msg::SetNetPolicy) evicts what it refuses. Also the packet-log hook (EventSink).
#include <catch2/catch.hpp>

#include "discplane/discovery/server.h"
#include "discplane/wire/v4wire.h"

#include "unit/discovery/engine_harness.h"
#include "unit/discovery/raw_peers.h"

using namespace discplane;
using namespace discplane::disc;
using discplane::test::CollectingTransport;
using discplane::test::FakeClock;
using discplane::test::RawV4Peer;
using discplane::test::RawV5Peer;

namespace {

Cidr cidr(const char* text) {
  auto c = Cidr::parse(text);
  REQUIRE(c);
  return *c;
}

std::shared_ptr<const NetPolicy> policy(NetPolicySpec spec) {
  return std::make_shared<const NetPolicy>(spec);
}

struct RecordingSink final : EventSink {
  std::vector<Event> events;
  void push(const Event& e) noexcept override { events.push_back(e); }
  std::size_t count(EventKind k) const {
    return static_cast<std::size_t>(
        std::count_if(events.begin(), events.end(), [&](const Event& e) { return e.kind == k; }));
  }
};

struct Fixture {
  FakeClock clock;
  crypto::DeterministicRandom rng{42};
  CollectingTransport tx;
  std::unique_ptr<DiscoveryServer> server;

  explicit Fixture(std::shared_ptr<const NetPolicy> p = nullptr, EventSink* events = nullptr) {
    ServerConfig config;
    config.private_key = test::key_from_seed(1);
    config.udp_port = 30303;
    config.ipv4 = IpAddress::v4(127, 0, 0, 1);
    config.policy = std::move(p);
    config.events = events;
    server = std::make_unique<DiscoveryServer>(config, clock, rng);
  }
  void deliver(const Bytes& payload, const Endpoint& from) {
    Datagram d{ByteView(payload), from};
    server->on_burst(std::span<const Datagram>(&d, 1), tx);
  }
  // Bonds a discv4 peer (its ping, our pong + ping, its pong); it then sits in the table.
  void bond(const RawV4Peer& peer) {
    deliver(peer.ping(clock), peer.ep);
    Hash256 our_ping{};
    for (auto& s : tx.take()) {
      auto p = v4wire::decode(s.payload);
      REQUIRE(p);
      if (p->type == v4wire::PacketType::kPing) {
        our_ping = p->hash;
      }
    }
    REQUIRE(our_ping != Hash256{});
    deliver(peer.pong(clock, our_ping), peer.ep);
    tx.take();
  }
  std::uint64_t dropped(Drop d) const { return server->counters().dropped(d); }
};

}  // namespace

TEST_CASE("policy: a banned IP, CIDR or node id gets no answer and never enters the table",
          "[engine][policy]") {
  RawV4Peer by_ip(7, test::loopback(40001));
  RawV4Peer by_cidr(8, Endpoint{IpAddress::v4(127, 9, 0, 3), 40002});
  RawV4Peer by_id(9, test::loopback(40003));
  RawV4Peer good(10, test::loopback(40004));
  NetPolicySpec spec;
  spec.banned = {cidr("127.0.0.1"), cidr("127.9.0.0/16")};
  spec.banned_ids = {by_id.id};
  // by_ip's address is 127.0.0.1: move the others off it.
  by_id.ep.ip = IpAddress::v4(127, 0, 0, 2);
  good.ep.ip = IpAddress::v4(127, 0, 0, 3);
  Fixture f(policy(spec));

  for (const RawV4Peer* p : {&by_ip, &by_cidr, &by_id}) {
    f.deliver(p->ping(f.clock), p->ep);
    CHECK(f.tx.take().empty());
    CHECK(f.server->table().find_any(p->id) == nullptr);
  }
  CHECK(f.dropped(Drop::kPolicyBanned) == 3);

  f.bond(good);  // an unbanned peer is served as usual
  CHECK(f.server->table().find(good.id) != nullptr);
}

TEST_CASE("policy: with an allow list only sources inside it are answered", "[engine][policy]") {
  NetPolicySpec spec;
  spec.allow = {cidr("127.0.0.0/30")};
  Fixture f(policy(spec));
  RawV4Peer inside(7, Endpoint{IpAddress::v4(127, 0, 0, 2), 40001});
  RawV4Peer outside(8, Endpoint{IpAddress::v4(127, 0, 0, 4), 40002});
  f.deliver(outside.ping(f.clock), outside.ep);
  CHECK(f.tx.take().empty());
  CHECK(f.dropped(Drop::kPolicyNotAllowed) == 1);
  f.bond(inside);
  CHECK(f.server->table().find(inside.id) != nullptr);
  CHECK(f.server->table().find_any(outside.id) == nullptr);
}

TEST_CASE(
    "policy: banned nodes from a Neighbors answer and from seeds are never stored or "
    "contacted",
    "[engine][policy]") {
  RawV4Peer banned_id(20, Endpoint{IpAddress::v4(127, 0, 0, 20), 40020});
  RawV4Peer banned_net(21, Endpoint{IpAddress::v4(127, 66, 0, 21), 40021});
  RawV4Peer ok(22, Endpoint{IpAddress::v4(127, 0, 0, 22), 40022});
  NetPolicySpec spec;
  spec.banned_ids = {banned_id.id};
  spec.banned = {cidr("127.66.0.0/16")};
  Fixture f(policy(spec));
  RawV4Peer peer(7, test::loopback(40001));
  peer.ep.ip = IpAddress::v4(127, 0, 0, 7);
  f.bond(peer);

  // A lookup asks the peer; its answer names two banned nodes and one good one.
  f.server->handle(msg::Lookup{Protocol::kV4, std::nullopt, 1}, f.tx);
  bool asked = false;
  for (auto& s : f.tx.take()) {
    auto p = v4wire::decode(s.payload);
    REQUIRE(p);
    asked = asked || (p->type == v4wire::PacketType::kFindNode && s.to == peer.ep);
  }
  REQUIRE(asked);
  std::vector<v4wire::NeighborNode> nodes;
  for (const RawV4Peer* n : {&banned_id, &banned_net, &ok}) {
    nodes.push_back({{n->ep.ip, n->ep.port, 0}, n->pub});
  }
  f.deliver(peer.neighbors(f.clock, nodes), peer.ep);
  std::vector<test::SentDatagram> sent = f.tx.take();
  f.clock.advance_ms(4000);  // lookup steps and timeouts
  f.server->on_idle(f.tx);
  for (auto& s : f.tx.take()) {
    sent.push_back(std::move(s));
  }
  for (const auto& s : sent) {
    CHECK(s.to != banned_id.ep);
    CHECK(s.to != banned_net.ep);
  }
  CHECK(f.server->table().find_any(banned_id.id) == nullptr);
  CHECK(f.server->table().find_any(banned_net.id) == nullptr);
  CHECK(f.server->table().find_any(ok.id) != nullptr);

  // Seeds (bootnodes) under a ban: not stored, not pinged.
  for (const RawV4Peer* n : {&banned_id, &banned_net}) {
    NodeSeed seed;
    seed.public_key = n->pub;
    seed.endpoint4 = n->ep;
    seed.protocols = kFlagV4;
    f.server->handle(msg::AddSeed{seed}, f.tx);
    CHECK(f.tx.take().empty());
    CHECK(f.server->table().find_any(n->id) == nullptr);
  }
}

TEST_CASE("policy: a policy swapped in at run time evicts and then refuses", "[engine][policy]") {
  RecordingSink sink;
  sink.set_threshold(EventLevel::kInfo);
  Fixture f(nullptr, &sink);
  RawV4Peer a(7, Endpoint{IpAddress::v4(127, 0, 0, 7), 40001});
  RawV4Peer b(8, Endpoint{IpAddress::v4(127, 0, 0, 8), 40002});
  f.bond(a);
  f.bond(b);
  REQUIRE(f.server->table().find(a.id) != nullptr);
  REQUIRE(f.server->net_policy() == nullptr);

  NetPolicySpec spec;
  spec.banned = {cidr("127.0.0.7")};
  auto p = policy(spec);
  f.server->handle(msg::SetNetPolicy{p}, f.tx);
  CHECK(f.server->net_policy() == p.get());
  CHECK(f.server->table().find_any(a.id) == nullptr);  // evicted
  CHECK(f.server->table().find(b.id) != nullptr);
  REQUIRE(sink.count(EventKind::kPolicyApplied) == 1);
  CHECK(sink.events.back().value == 1);
  // The engine holds a reference, the caller the other: the core never frees a policy.
  CHECK(p.use_count() == 2);

  f.deliver(a.ping(f.clock), a.ep);
  CHECK(f.tx.take().empty());
  CHECK(f.dropped(Drop::kPolicyBanned) == 1);

  // Lifting the ban (an empty policy) lets it back in.
  f.server->handle(msg::SetNetPolicy{policy({})}, f.tx);
  CHECK(p.use_count() == 1);
  f.deliver(a.ping(f.clock), a.ep);  // still bonded from before: answered and re-admitted
  CHECK_FALSE(f.tx.take().empty());
  CHECK(f.server->table().find(a.id) != nullptr);
}

TEST_CASE("policy: discv5 sources banned by IP or id get no WHOAREYOU", "[engine][policy][v5]") {
  RawV5Peer by_ip(31, Endpoint{IpAddress::v4(127, 0, 0, 31), 40031});
  RawV5Peer by_id(32, Endpoint{IpAddress::v4(127, 0, 0, 32), 40032});
  RawV5Peer good(33, Endpoint{IpAddress::v4(127, 0, 0, 33), 40033});
  NetPolicySpec spec;
  spec.banned = {cidr("127.0.0.31")};
  spec.banned_ids = {by_id.id};
  Fixture f(policy(spec));
  for (RawV5Peer* p : {&by_ip, &by_id, &good}) {
    p->target(*f.server);
  }
  f.deliver(by_ip.random_packet(), by_ip.ep);
  f.deliver(by_id.random_packet(), by_id.ep);
  CHECK(f.tx.take().empty());
  CHECK(f.dropped(Drop::kPolicyBanned) == 2);
  CHECK(f.server->counters().v5_whoareyou_sent == 0);
  f.deliver(good.random_packet(), good.ep);
  auto sent = f.tx.take();
  REQUIRE(sent.size() == 1);
  CHECK(good.flag_of(sent[0].payload) == v5wire::Flag::kWhoareyou);
}

TEST_CASE("events: drops carry reason and protocol; nothing is built below the threshold",
          "[engine][events]") {
  RecordingSink sink;
  NetPolicySpec spec;
  spec.banned = {cidr("127.0.0.9")};
  Fixture f(policy(spec), &sink);
  RawV4Peer banned(7, Endpoint{IpAddress::v4(127, 0, 0, 9), 40001});
  RawV4Peer peer(8, Endpoint{IpAddress::v4(127, 0, 0, 8), 40002});

  f.deliver(banned.ping(f.clock), banned.ep);  // threshold 0: no events at all
  CHECK(sink.events.empty());

  sink.set_threshold(EventLevel::kDebug);
  f.deliver(banned.ping(f.clock), banned.ep);
  REQUIRE(sink.events.size() == 1);
  CHECK(sink.events[0].kind == EventKind::kDrop);
  CHECK(sink.events[0].drop == Drop::kPolicyBanned);
  CHECK(sink.events[0].endpoint == banned.ep);
  CHECK(sink.events[0].protocol == 0);  // dropped before classification

  sink.events.clear();
  f.deliver(Bytes(70, 0x11), peer.ep);  // junk: classified discv5, not discovery
  REQUIRE(sink.events.size() == 1);
  CHECK(sink.events[0].drop == Drop::kNotDiscovery);
  CHECK(sink.events[0].protocol == 5);

  sink.events.clear();
  f.bond(peer);
  CHECK(sink.count(EventKind::kBond) == 1);
  CHECK(sink.count(EventKind::kNodeAdded) == 1);
  for (const Event& e : sink.events) {
    if (e.kind == EventKind::kBond) {
      CHECK(e.protocol == 4);
      CHECK(e.endpoint == peer.ep);
    }
  }
}

TEST_CASE("policy: the engine holds its policy once, so a swap hands the old one back",
          "[engine][policy]") {
  NetPolicySpec spec;
  spec.banned = {cidr("10.0.0.0/8")};
  auto first = policy(spec);
  Fixture f(first);
  CHECK(first.use_count() == 2);  // ours and the engine's
  auto second = policy({});
  f.server->handle(msg::SetNetPolicy{second}, f.tx);
  // The engine let go of the first: the sender (the control thread) frees it, not the core.
  CHECK(first.use_count() == 1);
  CHECK(second.use_count() == 2);
  CHECK(f.server->net_policy() == second.get());
}

TEST_CASE("policy: a dual-stack node is refused when either of its addresses is banned",
          "[engine][policy]") {
  NetPolicySpec spec;
  spec.banned = {cidr("fd00::/8")};
  Fixture f(policy(spec));
  RawV4Peer dual(40, Endpoint{IpAddress::v4(127, 0, 0, 40), 40040});
  RawV4Peer v4only(41, Endpoint{IpAddress::v4(127, 0, 0, 41), 40041});
  NodeSeed seed;
  seed.public_key = dual.pub;
  seed.endpoint4 = dual.ep;
  seed.endpoint6 = Endpoint{*IpAddress::parse("fd00::40"), 40040};
  seed.protocols = kFlagV4;
  f.server->handle(msg::AddSeed{seed}, f.tx);
  CHECK(f.tx.take().empty());
  CHECK(f.server->table().find_any(dual.id) == nullptr);
  seed.public_key = v4only.pub;
  seed.endpoint4 = v4only.ep;
  seed.endpoint6 = Endpoint{*IpAddress::parse("2001:db8::41"), 40041};
  f.server->handle(msg::AddSeed{seed}, f.tx);
  CHECK(f.server->table().find_any(v4only.id) != nullptr);
  CHECK_FALSE(f.tx.take().empty());  // pinged to bond
}
