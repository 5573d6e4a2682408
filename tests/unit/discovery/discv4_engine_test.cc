// discv4 rules of the merged engine, one test per rule, driven by a raw peer that signs
// its own packets (so every refusal can be provoked exactly).
#include <catch2/catch.hpp>

#include "discplane/crypto/keccak.h"
#include "discplane/discovery/server.h"
#include "discplane/wire/enr.h"
#include "discplane/wire/v4wire.h"

#include "unit/discovery/engine_harness.h"
#include "unit/discovery/raw_peers.h"

using namespace discplane;
using namespace discplane::disc;
using discplane::test::CollectingTransport;
using discplane::test::FakeClock;

namespace {

using RawPeer = test::RawV4Peer;

struct Fixture {
  FakeClock clock;
  crypto::DeterministicRandom rng{42};
  CollectingTransport tx;
  std::unique_ptr<DiscoveryServer> server;
  Endpoint self = test::loopback(30303);

  explicit Fixture(ServerConfig config = {}) {
    config.private_key = test::key_from_seed(1);
    config.udp_port = 30303;
    config.ipv4 = IpAddress::v4(127, 0, 0, 1);
    server = std::make_unique<DiscoveryServer>(config, clock, rng);
  }

  void deliver(const Bytes& payload, const Endpoint& from) {
    Datagram d{ByteView(payload), from};
    server->on_burst(std::span<const Datagram>(&d, 1), tx);
  }

  std::vector<v4wire::Packet> decoded_sent(std::vector<test::SentDatagram>& sent) {
    std::vector<v4wire::Packet> out;
    for (auto& s : sent) {
      auto p = v4wire::decode(s.payload);
      REQUIRE(p);
      out.push_back(*p);
    }
    return out;
  }

  // Bonds the peer with us (their ping, our pong + ping, their pong).
  void bond(const RawPeer& peer) {
    deliver(peer.ping(clock), peer.ep);
    auto sent = tx.take();
    Hash256 our_ping{};
    for (auto& s : sent) {
      auto p = v4wire::decode(s.payload);
      REQUIRE(p);
      if (p->type == v4wire::PacketType::kPing) {
        our_ping = p->hash;
      }
    }
    if (our_ping != Hash256{}) {
      deliver(peer.pong(clock, our_ping), peer.ep);
      tx.take();
    }
  }
};

std::size_t count_type(const std::vector<v4wire::Packet>& ps, v4wire::PacketType t) {
  return static_cast<std::size_t>(
      std::count_if(ps.begin(), ps.end(), [&](const v4wire::Packet& p) { return p.type == t; }));
}

}  // namespace

TEST_CASE("v4: ping from an unknown sender gets a pong and a ping back, both to the source",
          "[engine][v4]") {
  Fixture f;
  RawPeer peer(7, test::loopback(40001));
  // The ping claims to come from elsewhere: replies must still go to the datagram's source.
  const Bytes ping =
      peer.ping(f.clock, std::nullopt, 20, {IpAddress::v4(127, 9, 9, 9), 5555, 5555});
  f.deliver(ping, peer.ep);
  auto sent = f.tx.take();
  REQUIRE(sent.size() == 2);
  for (auto& s : sent) {
    REQUIRE(s.to == peer.ep);
  }
  auto ps = f.decoded_sent(sent);
  REQUIRE(ps[0].type == v4wire::PacketType::kPong);
  const auto& pong = std::get<v4wire::Pong>(ps[0].message);
  REQUIRE(pong.ping_hash == Hash256(to_array<32>(ByteView(ping).first(32))));
  REQUIRE(pong.to.ip == peer.ep.ip);
  REQUIRE(pong.to.udp == peer.ep.port);
  REQUIRE(pong.enr_seq == f.server->local_record().seq());
  REQUIRE(ps[1].type == v4wire::PacketType::kPing);
  REQUIRE(ps[1].sender == f.server->local_public_key());
  // Not in the table until the bond completes.
  REQUIRE(f.server->table().find(peer.id) == nullptr);
}

TEST_CASE("v4: a pong matching our ping bonds and adds the node; a wrong hash is ignored",
          "[engine][v4]") {
  Fixture f;
  RawPeer peer(8, test::loopback(40002));
  f.deliver(peer.ping(f.clock), peer.ep);
  auto sent = f.tx.take();
  auto ps = f.decoded_sent(sent);
  REQUIRE(count_type(ps, v4wire::PacketType::kPing) == 1);
  const Hash256 our_ping = ps[1].hash;

  Hash256 wrong = our_ping;
  wrong[0] ^= 1;
  f.deliver(peer.pong(f.clock, wrong), peer.ep);
  REQUIRE(f.server->counters().dropped(Drop::kV4Unsolicited) == 1);
  REQUIRE(f.server->table().find(peer.id) == nullptr);

  f.deliver(peer.pong(f.clock, our_ping), peer.ep);
  const PeerEntry* e = f.server->table().find(peer.id);
  REQUIRE(e != nullptr);
  REQUIRE(e->has(Protocol::kV4));
  REQUIRE(e->endpoint4 == peer.ep);
  REQUIRE(f.server->counters().v4_bonds == 1);
}

TEST_CASE("v4: FindNode from an unbonded sender gets no reply at all", "[engine][v4]") {
  Fixture f;
  RawPeer peer(9, test::loopback(40003));
  f.deliver(peer.findnode(f.clock, peer.pub), peer.ep);
  REQUIRE(f.tx.sent.empty());
  REQUIRE(f.server->counters().dropped(Drop::kV4Unbonded) == 1);
  f.deliver(peer.enrrequest(f.clock), peer.ep);
  REQUIRE(f.tx.sent.empty());
  REQUIRE(f.server->counters().dropped(Drop::kV4Unbonded) == 2);
}

TEST_CASE("v4: bonded FindNode gets the 16 closest, split into packets <= 1280 bytes",
          "[engine][v4]") {
  Fixture f(test::loopback_testnet());
  // Fill the table with 40 bonded nodes on distinct loopback addresses (exempt from IP limits).
  std::vector<RawPeer> peers;
  for (std::uint64_t i = 0; i < 40; ++i) {
    peers.emplace_back(100 + i, Endpoint{IpAddress::v4(127, 0, 1, static_cast<std::uint8_t>(i + 1)),
                                         static_cast<std::uint16_t>(41000 + i)});
    f.bond(peers.back());
  }
  REQUIRE(f.server->table().size(Protocol::kV4) >= 16);

  RawPeer asker(999, test::loopback(40999));
  f.bond(asker);
  f.deliver(asker.findnode(f.clock, asker.pub), asker.ep);
  auto sent = f.tx.take();
  auto ps = f.decoded_sent(sent);
  REQUIRE(ps.size() == 2);  // 12 + 4
  std::size_t total = 0;
  for (std::size_t i = 0; i < ps.size(); ++i) {
    REQUIRE(ps[i].type == v4wire::PacketType::kNeighbors);
    REQUIRE(sent[i].payload.size() <= 1280);
    REQUIRE(sent[i].to == asker.ep);
    total += std::get<v4wire::Neighbors>(ps[i].message).nodes.size();
  }
  REQUIRE(total == 16);
  // They are the 16 closest to the target among the table's v4 entries.
  const NodeId target = crypto::keccak256(asker.pub);
  std::array<const PeerEntry*, 16> expect{};
  REQUIRE(f.server->table().closest(target, 16, expect, kFlagV4) == 16);
  std::size_t i = 0;
  for (auto& p : ps) {
    for (const auto& node : std::get<v4wire::Neighbors>(p.message).nodes) {
      REQUIRE(crypto::node_id_of(node.pubkey) == expect[i++]->id);
    }
  }
}

TEST_CASE("v4: unsolicited Neighbors change nothing", "[engine][v4]") {
  Fixture f;
  RawPeer peer(11, test::loopback(40011));
  f.bond(peer);
  const std::size_t before = f.server->table().size();
  std::vector<v4wire::NeighborNode> nodes;
  for (std::uint64_t i = 0; i < 5; ++i) {
    RawPeer other(200 + i, test::loopback(static_cast<std::uint16_t>(42000 + i)));
    nodes.push_back({{other.ep.ip, other.ep.port, other.ep.port}, other.pub});
  }
  f.deliver(peer.neighbors(f.clock, nodes), peer.ep);
  REQUIRE(f.server->table().size() == before);
  REQUIRE(f.server->counters().dropped(Drop::kV4Unsolicited) == 1);
}

TEST_CASE("v4: expired and replayed packets are dropped", "[engine][v4]") {
  Fixture f;
  RawPeer peer(12, test::loopback(40012));
  f.deliver(peer.ping(f.clock, std::nullopt, -1), peer.ep);
  REQUIRE(f.tx.sent.empty());
  REQUIRE(f.server->counters().dropped(Drop::kV4Expired) == 1);

  // A replayed FindNode (the same bytes again) is not answered twice.
  f.bond(peer);
  const Bytes findnode = peer.findnode(f.clock, peer.pub);
  f.deliver(findnode, peer.ep);
  REQUIRE_FALSE(f.tx.take().empty());
  f.deliver(findnode, peer.ep);
  REQUIRE(f.tx.sent.empty());
  REQUIRE(f.server->counters().dropped(Drop::kV4Replayed) == 1);

  // A replayed Pong finds no outstanding ping: unsolicited, nothing changes.
  RawPeer other(112, test::loopback(40112));
  f.deliver(other.ping(f.clock), other.ep);
  Hash256 our_ping{};
  for (auto& p : f.decoded_sent(f.tx.sent)) {
    if (p.type == v4wire::PacketType::kPing) {
      our_ping = p.hash;
    }
  }
  f.tx.sent.clear();
  const Bytes pong = other.pong(f.clock, our_ping);
  f.deliver(pong, other.ep);
  const std::uint64_t bonds = f.server->counters().v4_bonds;
  f.deliver(pong, other.ep);
  REQUIRE(f.server->counters().v4_bonds == bonds);
  REQUIRE(f.server->counters().dropped(Drop::kV4Unsolicited) == 1);
}

TEST_CASE("v4: spoofed pings draw at most one pong and one ping back each", "[engine][v4]") {
  Fixture f;
  RawPeer peer(13, test::loopback(40013));
  std::size_t pongs = 0;
  std::size_t pings = 0;
  for (int i = 0; i < 5; ++i) {
    f.clock.advance_ms(1);
    f.deliver(peer.ping(f.clock, std::nullopt, 20 + i), peer.ep);  // distinct packets
    for (auto& p : f.decoded_sent(f.tx.sent)) {
      pongs += p.type == v4wire::PacketType::kPong;
      pings += p.type == v4wire::PacketType::kPing;
    }
    f.tx.sent.clear();
  }
  REQUIRE(pongs == 5);  // one per ping received
  REQUIRE(pings == 1);  // but only one outstanding ping back
}

TEST_CASE("v4: ENRRequest from a bonded peer gets our record; enr-seq triggers a refresh",
          "[engine][v4]") {
  Fixture f;
  RawPeer peer(14, test::loopback(40014));
  f.bond(peer);
  f.deliver(peer.enrrequest(f.clock), peer.ep);
  auto sent = f.tx.take();
  auto ps = f.decoded_sent(sent);
  REQUIRE(ps.size() == 1);
  REQUIRE(ps[0].type == v4wire::PacketType::kENRResponse);
  const auto& resp = std::get<v4wire::ENRResponse>(ps[0].message);
  auto record = enr::decode(resp.record_rlp);
  REQUIRE(record);
  REQUIRE(record->node_id() == f.server->local_id());

  // The peer announces a newer record in its ping: we ask for it and store it.
  enr::Builder b;
  b.set_seq(5).set_ip(peer.ep.ip).set_udp(peer.ep.port);
  auto peer_record = b.sign(peer.key);
  REQUIRE(peer_record);
  f.clock.advance_ms(5);
  f.deliver(peer.ping(f.clock, 5), peer.ep);
  sent = f.tx.take();
  ps = f.decoded_sent(sent);
  REQUIRE(count_type(ps, v4wire::PacketType::kENRRequest) == 1);
  Hash256 req_hash{};
  for (auto& p : ps) {
    if (p.type == v4wire::PacketType::kENRRequest) {
      req_hash = p.hash;
    }
  }
  Bytes out(1280);
  v4wire::ENRResponse r;
  r.request_hash = req_hash;
  r.record_rlp = peer_record->raw();
  auto enc = v4wire::encode_enrresponse(peer.key, r, out);
  REQUIRE(enc);
  out.resize(enc->size);
  f.deliver(out, peer.ep);
  const PeerEntry* e = f.server->table().find(peer.id);
  REQUIRE(e != nullptr);
  REQUIRE(e->enr_seq == 5);
  REQUIRE(e->enr_size == peer_record->raw().size());
}

TEST_CASE("v4: ENRResponse signed by another key is refused", "[engine][v4]") {
  Fixture f;
  RawPeer peer(15, test::loopback(40015));
  RawPeer other(16, test::loopback(40016));
  f.bond(peer);
  f.clock.advance_ms(5);
  f.deliver(peer.ping(f.clock, 9), peer.ep);
  Hash256 req_hash{};
  for (auto& p : f.decoded_sent(f.tx.sent)) {
    if (p.type == v4wire::PacketType::kENRRequest) {
      req_hash = p.hash;
    }
  }
  f.tx.sent.clear();
  REQUIRE(req_hash != Hash256{});
  auto foreign = enr::Builder().set_seq(9).sign(other.key);
  REQUIRE(foreign);
  Bytes out(1280);
  auto enc = v4wire::encode_enrresponse(peer.key, {req_hash, foreign->raw()}, out);
  REQUIRE(enc);
  out.resize(enc->size);
  f.deliver(out, peer.ep);
  REQUIRE(f.server->counters().dropped(Drop::kV4BadRecord) == 1);
  REQUIRE(f.server->table().find(peer.id)->enr_seq != 9);
}

TEST_CASE("v4: revalidation pings a stale entry; silence demotes and finally evicts it",
          "[engine][v4]") {
  ServerConfig config;
  config.table.min_live = 0;
  config.table.max_failures = 2;
  Fixture f(config);
  RawPeer peer(17, test::loopback(40017));
  f.bond(peer);
  REQUIRE(f.server->table().find(peer.id) != nullptr);
  for (int round = 0; round < 2; ++round) {
    f.clock.advance_ms(30'000);
    f.server->handle(msg::Revalidate{Protocol::kV4}, f.tx);
    auto ps = f.decoded_sent(f.tx.sent);
    f.tx.sent.clear();
    REQUIRE(count_type(ps, v4wire::PacketType::kPing) == 1);
    f.clock.advance_ms(600);  // no answer
    f.server->on_idle(f.tx);
  }
  REQUIRE(f.server->table().find(peer.id) == nullptr);
}

TEST_CASE("v4: Pong votes move our external address once a majority agrees", "[engine][v4]") {
  ServerConfig config;
  Fixture f(config);
  const IpAddress external = IpAddress::v4(127, 77, 0, 1);
  for (std::uint64_t i = 0; i < 4; ++i) {
    RawPeer peer(300 + i, Endpoint{IpAddress::v4(127, 1, 0, static_cast<std::uint8_t>(i + 1)),
                                   static_cast<std::uint16_t>(43000 + i)});
    f.deliver(peer.ping(f.clock), peer.ep);
    Hash256 our_ping{};
    for (auto& p : f.decoded_sent(f.tx.sent)) {
      if (p.type == v4wire::PacketType::kPing) {
        our_ping = p.hash;
      }
    }
    f.tx.sent.clear();
    f.deliver(peer.pong(f.clock, our_ping, std::nullopt, {external, 30303, 0}), peer.ep);
    f.tx.sent.clear();
  }
  const auto& rec = f.server->local_record();
  REQUIRE(rec.ip() == external);
  REQUIRE(rec.seq() >= 2);
  REQUIRE(std::string(f.server->external_address_source()) == "votes");
}

TEST_CASE("v4: FindNode and ENRRequest from bonded peers are rate limited per node and per IP",
          "[engine][v4]") {
  // Defaults: 10/s per node id (burst 20), 100/s per source IP (burst 200).
  const RequestLimits defaults = ServerConfig{}.v4_request_limits;
  REQUIRE(defaults.per_node_rate == 10);
  REQUIRE(defaults.per_node_burst == 20);
  Fixture f;
  RawPeer peer(70, test::loopback(40070));
  f.bond(peer);
  std::int64_t offset = 20;  // distinct expirations: the replay filter must not interfere
  auto ask = [&](bool enr) {
    f.deliver(enr ? RawPeer::encode([&](MutableByteView out) {
                return v4wire::encode_enrrequest(
                    peer.key, v4wire::ENRRequest{peer.exp(f.clock, offset++)}, out);
              })
                  : peer.findnode(f.clock, peer.pub, offset++),
              peer.ep);
    return !f.tx.take().empty();
  };
  // A burst of 20 (FindNode and ENRRequest share the bucket), then nothing.
  std::size_t answered = 0;
  for (int i = 0; i < 30; ++i) {
    answered += ask(i % 2 == 1);
  }
  CHECK(answered == 20);
  CHECK(f.server->counters().dropped(Drop::kV4RequestLimited) == 10);
  // It refills at 10/s.
  f.clock.advance_ms(500);
  answered = 0;
  for (int i = 0; i < 10; ++i) {
    answered += ask(false);
  }
  CHECK(answered == 5);

  // An honest peer (a lookup every few seconds, each asking it once or twice) never notices.
  RawPeer honest(71, test::loopback(40071));
  f.bond(honest);
  const std::uint64_t limited = f.server->counters().dropped(Drop::kV4RequestLimited);
  for (int lookup = 0; lookup < 100; ++lookup) {
    for (int k = 0; k < 2; ++k) {
      f.deliver(honest.findnode(f.clock, honest.pub, 20 + lookup * 2 + k), honest.ep);
      CHECK_FALSE(f.tx.take().empty());
    }
    f.clock.advance_ms(3'000);
    if (lookup % 20 == 19) {  // keep the bond fresh, as a live peer does
      f.bond(honest);
    }
  }
  CHECK(f.server->counters().dropped(Drop::kV4RequestLimited) == limited);
}

TEST_CASE("v4: the per-IP request limit holds across node ids; 0 turns a limit off",
          "[engine][v4]") {
  ServerConfig c;
  c.v4_request_limits.per_ip_rate = 4;
  c.v4_request_limits.per_ip_burst = 6;
  c.v4_request_limits.per_node_rate = 0;  // off
  Fixture f(c);
  std::vector<RawPeer> peers;
  for (std::uint64_t i = 0; i < 3; ++i) {
    peers.emplace_back(80 + i, test::loopback(static_cast<std::uint16_t>(40080 + i)));
    f.bond(peers.back());
  }
  std::size_t answered = 0;
  for (int i = 0; i < 30; ++i) {
    const RawPeer& p = peers[static_cast<std::size_t>(i) % peers.size()];
    f.deliver(p.findnode(f.clock, p.pub, 20 + i), p.ep);
    answered += !f.tx.take().empty();
  }
  CHECK(answered == 6);
  CHECK(f.server->counters().dropped(Drop::kV4RequestLimited) == 24);
  // Another IP has its own bucket.
  RawPeer other(90, Endpoint{IpAddress::v4(127, 0, 0, 9), 40090});
  f.bond(other);
  f.deliver(other.findnode(f.clock, other.pub), other.ep);
  CHECK_FALSE(f.tx.take().empty());
}
