// The sharded runtime (ShardGroup): steering is stable and balanced; table updates from a
// non-owner shard reach the owner through its ring and come back as the mirror; two shards
// over one identity answer discv4 pings and discv5 handshakes + pings, and a session stays on
// the shard that owns the peer's endpoint.
#include "discplane/control/shard_group.h"

#include <array>
#include <vector>

#include <catch2/catch.hpp>

#include "discplane/discovery/server.h"
#include "discplane/wire/v4wire.h"
#include "discplane/wire/v5wire.h"

#include "unit/control/shard_fixture.h"
#include "unit/discovery/engine_harness.h"
#include "unit/discovery/raw_peers.h"

using namespace discplane;
using namespace discplane::disc;
using discplane::control::steer;

namespace {

// N shards over one node key, traffic steered by source endpoint (the test is the "NIC").
struct Shards : test::ShardFleet {
  explicit Shards(std::uint32_t shards) : ShardFleet(shards, {.config = config()}) {}
  static ServerConfig config() {
    ServerConfig c = test::shard_base_config();
    c.ipv4 = IpAddress::v4(127, 0, 0, 1);
    return c;
  }
};

using test::endpoint_on;

Bytes v5_ping_pt(ByteView req_id) {
  Bytes out(64);
  auto m = v5wire::encode_ping(out, req_id, 1);
  REQUIRE(m);
  out.resize(m->size());
  return out;
}

Bytes v5_findnode_pt(ByteView req_id, std::uint16_t distance) {
  Bytes out(128);
  const std::array<std::uint16_t, 1> d{distance};
  auto m = v5wire::encode_findnode(out, req_id, d);
  REQUIRE(m);
  out.resize(m->size());
  return out;
}

}  // namespace

TEST_CASE("steer: stable for an endpoint, balanced over ports and addresses", "[shards]") {
  const Endpoint a{IpAddress::v4(10, 1, 2, 3), 30303};
  REQUIRE(steer(a, 1) == 0);
  for (const std::uint32_t n : {2u, 3u, 4u, 8u, 16u}) {
    REQUIRE(steer(a, n) == steer(a, n));
    REQUIRE(steer(a, n, 7) == steer(a, n, 7));
    std::vector<std::size_t> count(n);
    constexpr std::size_t kFlows = 64'000;
    for (std::size_t i = 0; i < kFlows; ++i) {
      // Half the flows differ only by port (one NAT, many clients), half only by address.
      const Endpoint ep =
          i % 2 == 0
              ? Endpoint{IpAddress::v4(192, 0, 2, 1), static_cast<std::uint16_t>(1024 + i / 2)}
              : Endpoint{
                    IpAddress::v4(10, static_cast<std::uint8_t>(i >> 16),
                                  static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i)),
                    30303};
      const std::uint32_t k = steer(ep, n);
      REQUIRE(k < n);
      ++count[k];
    }
    const double expected = static_cast<double>(kFlows) / n;
    for (const std::size_t c : count) {
      REQUIRE(static_cast<double>(c) > expected * 0.95);
      REQUIRE(static_cast<double>(c) < expected * 1.05);
    }
  }
  // IPv6 sources spread too, and a different seed gives a different map.
  std::size_t differ = 0;
  std::array<std::size_t, 4> v6{};
  for (std::uint16_t i = 0; i < 4000; ++i) {
    std::array<std::uint8_t, 16> b{0xfd};
    b[14] = static_cast<std::uint8_t>(i >> 8);
    b[15] = static_cast<std::uint8_t>(i);
    const Endpoint ep{IpAddress::v6(ByteView(b.data(), 16)), 30303};
    ++v6[steer(ep, 4)];
    differ += steer(ep, 4, 1) != steer(ep, 4, 2) ? 1 : 0;
  }
  for (const std::size_t c : v6) {
    REQUIRE(c > 900);
    REQUIRE(c < 1100);
  }
  REQUIRE(differ > 2500);  // ~3/4 expected for independent maps
}

TEST_CASE("shards: table updates from a non-owner shard reach the owner and the mirror",
          "[shards]") {
  Shards s(2);
  const Endpoint ep = endpoint_on(1, 2, 41000);
  test::RawV4Peer peer(7, ep);

  // Ping -> Pong + our bond Ping; the peer's Pong completes the bond on shard 1.
  auto out = s.deliver(peer.ping(s.clock), ep);
  REQUIRE(out.size() == 2);
  Hash256 ping_hash{};
  bool found_ping = false;
  for (const auto& d : out) {
    auto p = v4wire::decode(d.payload);
    REQUIRE(p);
    REQUIRE(d.to == ep);
    if (p->type == v4wire::PacketType::kPing) {
      ping_hash = p->hash;
      found_ping = true;
    }
  }
  REQUIRE(found_ping);
  (void)s.deliver(peer.pong(s.clock, ping_hash), ep);
  REQUIRE(s.servers[1]->table().find(peer.id) != nullptr);  // the mirror has it at once
  REQUIRE(s.servers[0]->table().find(peer.id) == nullptr);  // the owner not yet
  s.sync();
  const PeerEntry* owned = s.servers[0]->table().find(peer.id);
  REQUIRE(owned != nullptr);
  REQUIRE(owned->endpoint4 == ep);
  REQUIRE(owned->has(Protocol::kV4));
  REQUIRE(owned->bond_ns != 0);  // the kAlive update: the Pong was the endpoint proof
  REQUIRE(owned->live_on(Protocol::kV4).checks_passed == 1);
  REQUIRE(s.group->counters().applied >= 2);  // kSeen + kAlive

  // A repeated ping within a second is not reported again (no per-packet ring traffic).
  const auto applied = s.group->counters().applied;
  s.clock.advance_ms(100);
  auto again = s.deliver(peer.ping(s.clock), ep);
  REQUIRE(again.size() == 1);  // bonded: Pong only
  s.sync();
  REQUIRE(s.group->counters().applied == applied);
  REQUIRE(s.group->counters().suppressed >= 1);
  // After a second it is reported again (the owner refreshes last_seen).
  s.clock.advance_ms(1500);
  (void)s.deliver(peer.ping(s.clock), ep);
  s.sync();
  REQUIRE(s.group->counters().applied == applied + 1);

  // The owner's published copy replaced the mirror; a record update travels as kRecord.
  REQUIRE(s.group->counters().mirrored >= 1);
  TableUpdate rec;
  rec.kind = TableUpdate::Kind::kRecord;
  rec.id = peer.id;
  const enr::Record r = test::make_record(peer.key, ep, 5);
  rec.set_enr(r.raw(), r.seq());
  s.servers[0]->apply_table_update(rec);
  REQUIRE(s.servers[0]->table().find(peer.id)->enr_seq == 5);
  TableUpdate failed;
  failed.kind = TableUpdate::Kind::kFailed;
  failed.protocol = Protocol::kV4;  // the update names the protocol whose check failed
  failed.id = peer.id;
  s.servers[0]->apply_table_update(failed);
  REQUIRE(s.servers[0]->table().find(peer.id)->live_on(Protocol::kV4).checks_failed == 1);
  // The owner applies a failure to the protocol the update names, and to no other.
  TableUpdate failed5 = failed;
  failed5.protocol = Protocol::kV5;
  s.servers[0]->apply_table_update(failed5);
  CHECK(s.servers[0]->table().find(peer.id)->live_on(Protocol::kV4).checks_failed == 1);
  CHECK(s.servers[0]->table().find(peer.id)->live_on(Protocol::kV5).checks_failed == 1);
  s.sync();
  REQUIRE(s.servers[1]->table().find(peer.id)->enr_seq == 5);
  REQUIRE(s.servers[1]->table().find(peer.id)->live_on(Protocol::kV4).checks_failed == 1);
}

TEST_CASE("shards: a full ring drops and counts, never blocks", "[shards]") {
  Shards s(2);  // ring capacity 64
  for (std::uint32_t i = 0; i < 100; ++i) {
    TableUpdate u;
    u.kind = TableUpdate::Kind::kFailed;
    u.id[0] = static_cast<std::uint8_t>(i);
    s.group->observer(1)->on_table_update(u, 0);
  }
  REQUIRE(s.group->counters().ring_full == 100 - 64);
  REQUIRE(s.group->poll(0, *s.servers[0], s.tx[0], 0) == 64);
  REQUIRE(s.group->observer(0) == nullptr);
}

TEST_CASE("shards: two shards answer v4 pings and v5 handshakes; sessions stay put", "[shards]") {
  Shards s(2);
  // Peers on both shards: v4 pings are answered by the owning shard, to the sender.
  for (std::uint32_t k = 0; k < 2; ++k) {
    const Endpoint ep = endpoint_on(k, 2, static_cast<std::uint16_t>(42000 + 100 * k));
    test::RawV4Peer peer(30 + k, ep);
    auto out = s.deliver(peer.ping(s.clock), ep);
    REQUIRE(!out.empty());
    auto pong = v4wire::decode(out[0].payload);
    REQUIRE(pong);
    REQUIRE(pong->type == v4wire::PacketType::kPong);
    REQUIRE(pong->sender_id == s.servers[0]->local_id());  // one identity on every shard
  }

  // discv5: one peer per shard handshakes with PING; the session lives on that shard only.
  std::vector<std::unique_ptr<test::RawV5Peer>> peers;
  for (std::uint32_t k = 0; k < 2; ++k) {
    const Endpoint ep = endpoint_on(k, 2, static_cast<std::uint16_t>(43000 + 100 * k));
    peers.push_back(std::make_unique<test::RawV5Peer>(50 + k, ep, *s.servers[k]));
    test::RawV5Peer& p = *peers.back();
    auto whoareyou = s.deliver(p.random_packet(), ep);
    REQUIRE(whoareyou.size() == 1);
    const Bytes req{static_cast<std::uint8_t>(k + 1)};
    auto answer = s.deliver(p.handshake(whoareyou[0].payload, v5_ping_pt(req)), ep);
    REQUIRE(answer.size() == 1);
    auto m = p.open(answer[0].payload);
    REQUIRE(equal(std::get<v5wire::Pong>(m).req_id, req));
    REQUIRE(std::get<v5wire::Pong>(m).recipient_port == ep.port);
  }
  REQUIRE(s.servers[0]->session_count() == 1);
  REQUIRE(s.servers[1]->session_count() == 1);

  // Later pings on the session: answered, no new handshake, still one session per shard.
  for (int round = 0; round < 3; ++round) {
    for (std::uint32_t k = 0; k < 2; ++k) {
      test::RawV5Peer& p = *peers[k];
      const Bytes req{0x10, static_cast<std::uint8_t>(round)};
      auto answer = s.deliver(p.message(v5_ping_pt(req)), p.ep);
      REQUIRE(answer.size() == 1);
      REQUIRE(equal(std::get<v5wire::Pong>(p.open(answer[0].payload)).req_id, req));
    }
    s.sync();
  }
  REQUIRE(s.servers[0]->session_count() == 1);
  REQUIRE(s.servers[1]->session_count() == 1);
  REQUIRE(s.servers[0]->counters().v5_handshakes_accepted == 1);
  REQUIRE(s.servers[1]->counters().v5_handshakes_accepted == 1);

  // The table has one owner: the node that handshook on shard 1 is in the owner's table, and
  // shard 1 answers a FINDNODE with the node that handshook on shard 0 (from the mirror).
  REQUIRE(s.servers[0]->table().find(peers[1]->id) != nullptr);
  const int d = log_distance(s.servers[0]->local_id(), peers[0]->id);
  const Bytes req{0x42};
  auto nodes = s.deliver(peers[1]->message(v5_findnode_pt(req, static_cast<std::uint16_t>(d))),
                         peers[1]->ep);
  REQUIRE(nodes.size() == 1);
  auto m = peers[1]->open(nodes[0].payload);
  const auto& answer = std::get<v5wire::Nodes>(m);
  std::size_t records = 0;
  bool has_peer0 = false;
  for (auto it = answer.records.begin(); it != answer.records.end(); ++it) {
    auto r = enr::decode(*it);
    REQUIRE(r);
    has_peer0 = has_peer0 || r->node_id() == peers[0]->id;
    ++records;
  }
  REQUIRE(has_peer0);
  REQUIRE(records >= 1);
}

TEST_CASE("shards: the owner picks the entry to revalidate, the endpoint's shard pings it",
          "[shards]") {
  Shards s(2);
  // Bond a discv4 peer on shard 1 (ping, pong + our ping, their pong).
  const Endpoint ep = endpoint_on(1, 2, 44000);
  test::RawV4Peer peer(9, ep);
  auto bond_pong_to = [&](const std::vector<test::SentDatagram>& out) {
    for (const auto& d : out) {
      auto p = v4wire::decode(d.payload);
      REQUIRE(p);
      if (p->type == v4wire::PacketType::kPing) {
        REQUIRE(d.to == ep);
        return s.deliver(peer.pong(s.clock, p->hash), ep);
      }
    }
    FAIL("no ping to answer");
    return std::vector<test::SentDatagram>{};
  };
  (void)bond_pong_to(s.deliver(peer.ping(s.clock), ep));
  s.sync();
  REQUIRE(s.servers[0]->table().find(peer.id)->live_on(Protocol::kV4).checks_passed == 1);

  // Due again: the owner's Revalidate sends nothing itself; shard 1 pings at its next poll.
  s.clock.advance_ms(11'000);
  s.servers[0]->handle(msg::Revalidate{Protocol::kV4}, s.tx[0]);
  REQUIRE(s.tx[0].sent.empty());
  REQUIRE(s.group->counters().delegated == 1);
  s.sync();
  auto pinged = s.tx[1].take();
  REQUIRE(pinged.size() == 1);
  REQUIRE(pinged[0].to == ep);
  // The answer arrives at shard 1 (steering), which holds the pending ping: alive at the owner.
  auto p = v4wire::decode(pinged[0].payload);
  REQUIRE(p);
  REQUIRE(p->type == v4wire::PacketType::kPing);
  (void)s.deliver(peer.pong(s.clock, p->hash), ep);
  s.sync();
  REQUIRE(s.servers[0]->table().find(peer.id)->live_on(Protocol::kV4).checks_passed == 2);

  // No answer this time: shard 1's request times out and the owner records the failure.
  s.clock.advance_ms(11'000);
  s.servers[0]->handle(msg::Revalidate{Protocol::kV4}, s.tx[0]);
  s.sync();
  REQUIRE(s.tx[1].take().size() == 1);
  s.clock.advance_ms(1'000);
  s.servers[1]->on_idle(s.tx[1]);
  s.sync();
  REQUIRE(s.servers[0]->table().find(peer.id)->live_on(Protocol::kV4).checks_failed == 1);
  REQUIRE(s.group->counters().delegated == 2);
}

TEST_CASE("shards: a lookup runs on the owner, its queries leave from the endpoints' shards",
          "[shards]") {
  Shards s(2);
  // Peer A (shard 1) bonds; peer B (shard 0's endpoint) is only known from A's answer.
  const Endpoint ep_a = endpoint_on(1, 2, 45000);
  const Endpoint ep_b = endpoint_on(0, 2, 45500);
  test::RawV4Peer a(11, ep_a);
  test::RawV4Peer b(12, ep_b);
  // Answers everything shard 1 sends to A: Ping -> Pong, FindNode -> Neighbors [B].
  std::size_t findnodes = 0;
  auto serve_a = [&](std::vector<test::SentDatagram> out) {
    for (int round = 0; round < 4 && !out.empty(); ++round) {
      std::vector<test::SentDatagram> next;
      for (const auto& d : out) {
        REQUIRE(d.to == ep_a);
        auto p = v4wire::decode(d.payload);
        REQUIRE(p);
        std::vector<test::SentDatagram> more;
        if (p->type == v4wire::PacketType::kPing) {
          more = s.deliver(a.pong(s.clock, p->hash), ep_a);
        } else if (p->type == v4wire::PacketType::kFindNode) {
          ++findnodes;
          const std::array<v4wire::NeighborNode, 1> nodes{
              v4wire::NeighborNode{{ep_b.ip, ep_b.port, 0}, b.pub}};
          more = s.deliver(a.neighbors(s.clock, nodes), ep_a);
        }
        next.insert(next.end(), more.begin(), more.end());
      }
      out = std::move(next);
    }
  };
  serve_a(s.deliver(a.ping(s.clock), ep_a));
  s.sync();
  REQUIRE(s.servers[0]->table().find(a.id) != nullptr);

  // The owner starts a lookup: its only seed is A, whose query is delegated to shard 1.
  s.servers[0]->handle(msg::Lookup{Protocol::kV4, std::nullopt, 7}, s.tx[0]);
  REQUIRE(s.servers[0]->active_lookups() == 1);
  REQUIRE(s.tx[0].sent.empty());
  s.sync();
  serve_a(s.tx[1].take());
  REQUIRE(findnodes == 1);
  REQUIRE(s.servers[1]->table().find_any(b.id) != nullptr);  // learned on shard 1 ...
  s.sync();                                                  // ... reply + kFound to the owner
  REQUIRE(s.servers[0]->table().find_any(b.id) != nullptr);
  // The owner's lookup took A's answer and now contacts B, whose endpoint is the owner's own.
  bool to_b = false;
  for (const auto& d : s.tx[0].take()) {
    to_b = to_b || d.to == ep_b;
  }
  REQUIRE(to_b);
  // B never answers: the lookup ends on the owner.
  for (int i = 0; i < 100 && s.servers[0]->active_lookups() > 0; ++i) {
    s.clock.advance_ms(100);
    s.servers[0]->on_idle(s.tx[0]);
    s.servers[1]->on_idle(s.tx[1]);
    s.sync();
    (void)s.tx[0].take();
    serve_a(s.tx[1].take());
  }
  REQUIRE(s.servers[0]->active_lookups() == 0);
  REQUIRE(s.servers[0]->counters().lookups_done == 1);
  REQUIRE(s.group->counters().delegated >= 1);
}
