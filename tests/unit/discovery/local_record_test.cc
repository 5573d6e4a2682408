// What our record and our discv4 endpoints say about us beyond the UDP address: the TCP
// ports (ServerConfig::tcp_port / tcp6_port), the `eth` fork id and extra entries, kept
// across record updates; and the TCP ports Neighbors entries carry for other nodes.
#include <map>

#include <catch2/catch.hpp>

#include "discplane/discovery/server.h"
#include "discplane/wire/enode.h"
#include "discplane/wire/enr.h"
#include "discplane/wire/v4wire.h"

#include "unit/discovery/engine_harness.h"
#include "unit/discovery/raw_peers.h"

using namespace discplane;
using namespace discplane::disc;
using discplane::test::CollectingTransport;
using discplane::test::FakeClock;

namespace {

const enr::ForkId kFork{{0x9f, 0x3d, 0x22, 0x54}, 1710338135};
const Bytes kFooValue = {0x83, 'b', 'a', 'r'};  // RLP of "bar"

struct Fixture {
  FakeClock clock;
  crypto::DeterministicRandom rng{42};
  CollectingTransport tx;
  std::unique_ptr<DiscoveryServer> server;

  explicit Fixture(ServerConfig config) {
    config.private_key = test::key_from_seed(1);
    config.udp_port = 30303;
    server = std::make_unique<DiscoveryServer>(config, clock, rng);
  }

  void deliver(const Bytes& payload, const Endpoint& from) {
    Datagram d{ByteView(payload), from};
    server->on_burst(std::span<const Datagram>(&d, 1), tx);
  }

  // Decoded packets are views into the bytes we sent: the fixture keeps those alive (moving a
  // datagram keeps its payload's buffer where it is).
  std::vector<test::SentDatagram> kept;
  std::vector<v4wire::Packet> take_decoded() {
    std::vector<v4wire::Packet> out;
    for (auto& s : tx.take()) {
      kept.push_back(std::move(s));
      auto p = v4wire::decode(kept.back().payload);
      REQUIRE(p);
      out.push_back(*p);
    }
    return out;
  }

  // Bonds the peer (its ping, our pong + ping, its pong); returns what we sent first.
  std::vector<v4wire::Packet> bond(const test::RawV4Peer& peer) {
    deliver(peer.ping(clock), peer.ep);
    auto sent = take_decoded();
    for (const auto& p : sent) {
      if (p.type == v4wire::PacketType::kPing) {
        deliver(peer.pong(clock, p.hash), peer.ep);
        tx.take();
      }
    }
    return sent;
  }
};

ServerConfig announcing(std::uint16_t tcp, std::uint16_t tcp6 = 0) {
  ServerConfig c;
  c.ipv4 = IpAddress::v4(127, 0, 0, 1);
  c.tcp_port = tcp;
  c.tcp6_port = tcp6;
  return c;
}

}  // namespace

TEST_CASE("local record: tcp, eth and extra entries as configured; enode URL has the TCP port",
          "[engine][enr]") {
  ServerConfig c = announcing(30304);
  c.eth = kFork;
  c.extra_enr_entries.emplace_back("foo", kFooValue);
  Fixture f(c);
  const enr::Record& r = f.server->local_record();
  REQUIRE(r.ip() == IpAddress::v4(127, 0, 0, 1));
  REQUIRE(r.udp() == 30303);
  REQUIRE(r.tcp() == 30304);
  REQUIRE_FALSE(r.tcp6());  // no IPv6 address announced
  REQUIRE(r.eth() == kFork);
  auto foo = r.get("foo");
  REQUIRE(foo);
  REQUIRE(Bytes(foo->begin(), foo->end()) == kFooValue);
  // The record still verifies as a whole (its signature covers the new entries).
  REQUIRE(enr::decode_verified(r.raw()));

  auto url = enode::from_record(r);
  REQUIRE(url);
  REQUIRE(url->ends_with("@127.0.0.1:30304?discport=30303"));
}

TEST_CASE("local record: no tcp entry without a TCP port; the enode URL then says 0",
          "[engine][enr]") {
  Fixture f(announcing(0));
  const enr::Record& r = f.server->local_record();
  REQUIRE_FALSE(r.tcp());
  REQUIRE_FALSE(r.get("eth"));
  auto url = enode::from_record(r);
  REQUIRE(url);
  REQUIRE(url->ends_with("@127.0.0.1:0?discport=30303"));
}

TEST_CASE("local record: tcp6 beside ip6, tcp6_port 0 meaning tcp_port", "[engine][enr]") {
  ServerConfig c = announcing(30304);
  c.ipv6 = *IpAddress::parse("::1");
  SECTION("same port") {
    Fixture f(c);
    REQUIRE(f.server->local_record().tcp() == 30304);
    REQUIRE(f.server->local_record().tcp6() == 30304);
  }
  SECTION("its own port") {
    c.tcp6_port = 30305;
    Fixture f(c);
    REQUIRE(f.server->local_record().tcp() == 30304);
    REQUIRE(f.server->local_record().tcp6() == 30305);
  }
}

TEST_CASE("local record: an address learned from votes comes with the TCP port and keeps eth",
          "[engine][enr]") {
  ServerConfig c;
  c.tcp_port = 30304;
  c.eth = kFork;
  Fixture f(c);  // no address yet: the record has none, so no tcp either
  REQUIRE_FALSE(f.server->local_record().ip());
  REQUIRE_FALSE(f.server->local_record().tcp());
  const IpAddress external = IpAddress::v4(127, 77, 0, 1);
  for (std::uint64_t i = 0; i < 4; ++i) {
    test::RawV4Peer peer(300 + i,
                         Endpoint{IpAddress::v4(127, 1, 0, static_cast<std::uint8_t>(i + 1)),
                                  static_cast<std::uint16_t>(43000 + i)});
    f.deliver(peer.ping(f.clock), peer.ep);
    for (const auto& p : f.take_decoded()) {
      if (p.type == v4wire::PacketType::kPing) {
        f.deliver(peer.pong(f.clock, p.hash, std::nullopt, {external, 30303, 0}), peer.ep);
      }
    }
    f.tx.take();
  }
  const enr::Record& r = f.server->local_record();
  REQUIRE(r.ip() == external);
  REQUIRE(r.tcp() == 30304);
  REQUIRE(r.eth() == kFork);
  REQUIRE(r.seq() >= 2);
}

TEST_CASE("v4: our Ping's from endpoint carries the TCP port", "[engine][enr][v4]") {
  Fixture f(announcing(30304));
  test::RawV4Peer peer(7, test::loopback(40001));
  const auto sent = f.bond(peer);
  bool saw_ping = false;
  for (const auto& p : sent) {
    if (p.type == v4wire::PacketType::kPing) {
      const auto& ping = std::get<v4wire::Ping>(p.message);
      REQUIRE(ping.from.udp == 30303);
      REQUIRE(ping.from.tcp == 30304);
      saw_ping = true;
    }
  }
  REQUIRE(saw_ping);
}

TEST_CASE("v4: Neighbors entries carry the tcp port of the node's record, else the UDP port",
          "[engine][enr][v4]") {
  Fixture f(announcing(30304));
  // Two nodes seeded with a record: one announcing tcp 5555, one without tcp; and one
  // seeded with an endpoint only.
  const Endpoint with_tcp_ep{IpAddress::v4(127, 0, 2, 1), 41001};
  const Endpoint without_tcp_ep{IpAddress::v4(127, 0, 2, 2), 41002};
  const Endpoint bare_ep{IpAddress::v4(127, 0, 2, 3), 41003};
  auto seed_with_record = [&](std::uint64_t key_seed, const Endpoint& ep,
                              std::uint16_t tcp) -> NodeId {
    const auto key = test::key_from_seed(key_seed);
    enr::Builder b;
    b.set_seq(3).set_ip(ep.ip).set_udp(ep.port);
    if (tcp != 0) {
      b.set_tcp(tcp);
    }
    auto rec = b.sign(key);
    REQUIRE(rec);
    NodeSeed s;
    s.public_key = rec->public_key();
    s.record = *rec;
    s.protocols = kFlagV4;
    f.server->handle(msg::AddSeed{s}, f.tx);
    return rec->node_id();
  };
  const NodeId with_tcp = seed_with_record(501, with_tcp_ep, 5555);
  const NodeId without_tcp = seed_with_record(502, without_tcp_ep, 0);
  NodeSeed bare;
  bare.public_key = *crypto::derive_public_key(test::key_from_seed(503));
  bare.endpoint4 = bare_ep;
  bare.protocols = kFlagV4;
  f.server->handle(msg::AddSeed{bare}, f.tx);
  const NodeId bare_id = crypto::node_id_of(bare.public_key);
  f.tx.take();

  test::RawV4Peer asker(999, test::loopback(40999));
  f.bond(asker);
  f.deliver(asker.findnode(f.clock, asker.pub), asker.ep);
  std::map<NodeId, v4wire::RpcEndpoint> seen;
  for (const auto& p : f.take_decoded()) {
    REQUIRE(p.type == v4wire::PacketType::kNeighbors);
    for (const auto& node : std::get<v4wire::Neighbors>(p.message).nodes) {
      seen[crypto::node_id_of(node.pubkey)] = node.endpoint;
    }
  }
  REQUIRE(seen.count(with_tcp) == 1);
  REQUIRE(seen.count(without_tcp) == 1);
  REQUIRE(seen.count(bare_id) == 1);
  CHECK(seen[with_tcp].udp == 41001);
  CHECK(seen[with_tcp].tcp == 5555);
  CHECK(seen[without_tcp].tcp == 0);
  CHECK(seen[bare_id].tcp == 41003);
}
