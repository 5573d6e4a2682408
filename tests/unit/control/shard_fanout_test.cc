// N shards behaving like one node (docs/multicore.md): IP votes counted on a worker reach the
// owner, which alone decides and re-signs the record and hands it to every worker (same seq,
// same signature); TALKREQ handlers and policy swaps reach every worker (ShardGroup::broadcast);
// per-engine limits are the configured totals divided by N.
#include <array>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "discplane/control/shard_group.h"
#include "discplane/discovery/server.h"
#include "discplane/wire/v4wire.h"
#include "discplane/wire/v5wire.h"

#include "unit/control/shard_fixture.h"
#include "unit/discovery/engine_harness.h"
#include "unit/discovery/raw_peers.h"

using namespace discplane;
using namespace discplane::disc;
using discplane::control::per_shard_limits;

namespace {

// N shards over one node key, each with per-shard limits; traffic steered by source endpoint.
struct Fleet : test::ShardFleet {
  explicit Fleet(std::uint32_t shards, ServerConfig config = base())
      : ShardFleet(shards, {.config = std::move(config),
                            .rng_seed = 200,
                            .per_shard_limits = true,
                            .only_owner_answers = false}) {}
  static ServerConfig base() { return test::shard_base_config(); }  // address learned from votes
};

using test::endpoint_on;

Bytes v5_pt(const std::function<Result<ByteView, v5wire::V5Error>(MutableByteView)>& encode) {
  Bytes out(256);
  auto m = encode(out);
  REQUIRE(m);
  out.resize(m->size());
  return out;
}

// Bonds a discv4 peer (its ping, our pong + ping, its pong reporting `seen_as`); returns the
// bond ping's answer count.
void bond(Fleet& f, const test::RawV4Peer& peer, const v4wire::RpcEndpoint& seen_as) {
  auto out = f.deliver(peer.ping(f.clock), peer.ep);
  for (const auto& d : out) {
    auto p = v4wire::decode(d.payload);
    REQUIRE(p);
    if (p->type == v4wire::PacketType::kPing) {
      (void)f.deliver(peer.pong(f.clock, p->hash, std::nullopt, seen_as), peer.ep);
      return;
    }
  }
  FAIL("no bond ping");
}

}  // namespace

TEST_CASE("shards: votes on worker 1 change the owner's record, worker 1 answers with it",
          "[shards]") {
  Fleet f(2);
  const std::uint64_t seq0 = f.servers[0]->local_record().seq();
  REQUIRE(f.servers[1]->local_record().seq() == seq0);
  REQUIRE(!f.servers[0]->local_record().ip());

  // Three peers, all on worker 1, each sees us at 203.0.113.7 (the owner needs 3 votes).
  const v4wire::RpcEndpoint seen{IpAddress::v4(203, 0, 113, 7), 30303, 0};
  std::vector<std::unique_ptr<test::RawV4Peer>> peers;
  std::uint16_t port = 45000;
  for (int i = 0; i < 3; ++i) {
    const Endpoint ep = endpoint_on(1, 2, port);
    port = static_cast<std::uint16_t>(ep.port + 1);
    peers.push_back(std::make_unique<test::RawV4Peer>(70 + i, ep));
    bond(f, *peers.back(), seen);
  }
  // Worker 1 forwards, it does not tally or decide.
  REQUIRE(f.servers[1]->ip_votes().count(IpAddress::Family::kV4, f.clock.now().mono_ns) == 0);
  REQUIRE(f.servers[1]->local_record().seq() == seq0);
  REQUIRE(f.servers[0]->local_record().seq() == seq0);

  f.sync();  // the owner applies the votes, re-signs, sends the record; worker 1 adopts it
  const enr::Record& owner = f.servers[0]->local_record();
  REQUIRE(f.servers[0]->ip_votes().count(IpAddress::Family::kV4, f.clock.now().mono_ns) == 3);
  REQUIRE(owner.seq() == seq0 + 1);
  REQUIRE(owner.ip() == IpAddress::v4(203, 0, 113, 7));
  REQUIRE(std::string(f.servers[0]->external_address_source()) == "votes");
  const enr::Record& mine = f.servers[1]->local_record();
  REQUIRE(mine.seq() == owner.seq());
  REQUIRE(equal(mine.raw(), owner.raw()));  // as-is: the owner's signature
  REQUIRE(std::string(f.servers[1]->external_address_source()) == "owner");
  REQUIRE(f.group->counters().records_sent == 1);
  REQUIRE(f.group->counters().records_adopted == 1);

  // Worker 1 now answers with the new seq (Pong) and the new record (ENRResponse).
  f.clock.advance_ms(100);
  auto out = f.deliver(peers[0]->ping(f.clock), peers[0]->ep);
  REQUIRE(out.size() == 1);
  auto pong = v4wire::decode(out[0].payload);
  REQUIRE(pong);
  REQUIRE(std::get<v4wire::Pong>(pong->message).enr_seq == owner.seq());
  out = f.deliver(peers[0]->enrrequest(f.clock), peers[0]->ep);
  REQUIRE(out.size() == 1);
  auto resp = v4wire::decode(out[0].payload);
  REQUIRE(resp);
  REQUIRE(equal(std::get<v4wire::ENRResponse>(resp->message).record_rlp, owner.raw()));

  // A discv5 peer on worker 1 gets the new seq in its PONG too.
  const Endpoint ep5 = endpoint_on(1, 2, 46000);
  test::RawV5Peer p5(80, ep5, *f.servers[1]);
  auto way = f.deliver(p5.random_packet(), ep5);
  REQUIRE(way.size() == 1);
  const Bytes req{0x01};
  auto answer = f.deliver(p5.handshake(way[0].payload, v5_pt([&](MutableByteView o) {
                                         return v5wire::encode_ping(o, req, 1);
                                       })),
                          ep5);
  REQUIRE(!answer.empty());
  auto m = p5.open(answer.back().payload);
  REQUIRE(std::get<v5wire::Pong>(m).enr_seq == owner.seq());

  // Nothing more to send while the record stays; an old or foreign record is refused.
  f.sync();
  REQUIRE(f.group->counters().records_sent == 1);
  REQUIRE(!f.servers[1]->adopt_local_record(owner.raw()));  // not newer
  const enr::Record other = test::make_record(test::key_from_seed(9), ep5, seq0 + 5);
  REQUIRE(!f.servers[1]->adopt_local_record(other.raw()));  // not ours
}

TEST_CASE("shards: a TALKREQ steered to worker 1 finds the handler registered at start",
          "[shards]") {
  Fleet f(2);
  const Endpoint ep = endpoint_on(1, 2, 47000);
  test::RawV5Peer peer(81, ep, *f.servers[1]);
  auto way = f.deliver(peer.random_packet(), ep);
  REQUIRE(way.size() == 1);
  const Bytes ping_req{0x01};
  (void)f.deliver(peer.handshake(way[0].payload, v5_pt([&](MutableByteView o) {
                                   return v5wire::encode_ping(o, ping_req, 1);
                                 })),
                  ep);
  const Bytes proto{'t', 'e', 's', 't'};
  const Bytes body{'h', 'i'};
  auto talk = [&](std::uint8_t id) {
    const Bytes req{id};
    auto out = f.deliver(peer.message(v5_pt([&](MutableByteView o) {
      return v5wire::encode_talkreq(o, req, proto, body);
    })),
                         ep);
    REQUIRE(out.size() == 1);
    auto m = peer.open(out[0].payload);
    const auto& r = std::get<v5wire::TalkResp>(m);
    return std::string(r.response.begin(), r.response.end());
  };
  REQUIRE(talk(2).empty());  // no handler on worker 1 yet: empty TALKRESP

  f.broadcast(msg::RegisterTalkProtocol{
      "test", [](ByteView request, const NodeId&, const Endpoint&, MutableByteView response) {
        const std::string a = "re:" + std::string(request.begin(), request.end());
        std::copy(a.begin(), a.end(), response.begin());
        return a.size();
      }});
  f.sync();
  REQUIRE(f.group->counters().broadcasts == 1);
  REQUIRE(talk(3) == "re:hi");
}

TEST_CASE("shards: a policy swap reaches worker 1, the old policy is freed after the last worker",
          "[shards]") {
  Fleet f(3);
  const Endpoint ep = endpoint_on(2, 3, 48000);
  test::RawV4Peer peer(82, ep);
  REQUIRE(f.deliver(peer.ping(f.clock), ep).size() == 2);  // pong + bond ping

  NetPolicySpec spec;
  spec.banned_ids = {peer.id};
  auto ban = std::make_shared<const NetPolicy>(spec);
  f.broadcast(msg::SetNetPolicy{ban});
  REQUIRE(f.servers[0]->net_policy() == ban.get());
  REQUIRE(f.servers[2]->net_policy() == nullptr);  // queued on its ring, not handled yet
  f.sync();
  REQUIRE(f.servers[1]->net_policy() == ban.get());
  REQUIRE(f.servers[2]->net_policy() == ban.get());
  f.clock.advance_ms(100);
  REQUIRE(f.deliver(peer.ping(f.clock), ep).empty());  // banned on worker 2 as well
  REQUIRE(f.servers[2]->counters().dropped(Drop::kPolicyBanned) == 1);

  // Swap back to "admit all": the ban stays referenced until every worker has moved off it.
  auto open_policy = std::make_shared<const NetPolicy>();
  f.broadcast(msg::SetNetPolicy{open_policy});
  REQUIRE(ban.use_count() == 3);  // the test's + workers 1 and 2 (the owner moved)
  (void)f.group->poll(1, *f.servers[1], f.tx[1], f.clock.now().mono_ns);
  REQUIRE(ban.use_count() == 2);  // worker 2 still holds it
  (void)f.group->poll(2, *f.servers[2], f.tx[2], f.clock.now().mono_ns);
  REQUIRE(ban.use_count() == 1);  // only the sender's reference: it may free it now
  f.clock.advance_ms(100);
  REQUIRE(!f.deliver(peer.ping(f.clock), ep).empty());
}

TEST_CASE("shards: per-shard limits keep the configured totals", "[shards]") {
  ServerConfig c;
  c.max_sessions = 8192;
  c.max_challenges = 4096;
  c.v4_max_pending = 4096;
  c.whoareyou_global_rate = 20000;
  c.whoareyou_global_burst = 5;
  c.v4_amp_global_burst = 65536;
  c.whoareyou_per_ip_rate = 4;
  const ServerConfig one = per_shard_limits(c, 1);
  REQUIRE(one.max_sessions == 8192);
  REQUIRE(one.whoareyou_global_burst == 5);
  const ServerConfig three = per_shard_limits(c, 3);
  REQUIRE(three.max_sessions == 2731);  // rounded up: 3 x 2731 >= 8192
  REQUIRE(three.max_challenges == 1366);
  REQUIRE(three.v4_max_pending == 1366);
  REQUIRE(three.whoareyou_global_rate == 6667);
  REQUIRE(three.whoareyou_global_burst == 2);
  REQUIRE(three.v4_amp_global_burst == 21846);
  REQUIRE(three.whoareyou_per_ip_rate == 4);  // per-IP limits are not divided
  // Request limits are per IP and per node id: rates not divided, the key LRUs are.
  REQUIRE(three.v4_request_limits.per_node_rate == c.v4_request_limits.per_node_rate);
  REQUIRE(three.v5_request_limits.per_ip_rate == c.v5_request_limits.per_ip_rate);
  REQUIRE(three.v4_request_limits.max_keys == 5462);  // 16384 / 3, rounded up
  REQUIRE(three.v5_request_limits.max_keys == 5462);
  REQUIRE(one.v5_request_limits.max_keys == 16384);
  c.max_challenges = 1;
  REQUIRE(per_shard_limits(c, 16).max_challenges == 1);  // at least 1

  // Behaviour: a global WHOAREYOU burst of 4 over 2 shards is 2 per shard, 4 in all, however
  // the first contacts spread (clock stopped: no refill).
  ServerConfig b = Fleet::base();
  b.whoareyou_global_rate = 4;
  b.whoareyou_global_burst = 4;
  Fleet f(2, b);
  std::array<std::size_t, 2> answered{};
  std::uint16_t port = 49000;
  for (std::uint32_t k = 0; k < 2; ++k) {
    for (int i = 0; i < 5; ++i) {
      const Endpoint ep = endpoint_on(k, 2, port);
      port = static_cast<std::uint16_t>(ep.port + 1);
      test::RawV5Peer p(static_cast<std::uint64_t>(90 + 10 * k + i), ep, *f.servers[k]);
      answered[k] += f.deliver(p.random_packet(), ep).size();
    }
  }
  REQUIRE(answered[0] == 2);
  REQUIRE(answered[1] == 2);
}

// Review: the global anti-amplification credit is validated at >= 360 B (one Pong and one
// Ping: a first contact must bond). Divided by N it fell below that (360 / 4 = 90 B per
// shard), so a shard could never afford a Pong to an unbonded peer: the per-shard share keeps
// the 360 B floor (or the configured total when that is smaller).
TEST_CASE("shards: the per-shard amplification credit still pays for a first contact's bond",
          "[shards]") {
  ServerConfig c;
  c.v4_amp_global_burst = 360;
  CHECK(per_shard_limits(c, 4).v4_amp_global_burst == 360);
  CHECK(per_shard_limits(c, 16).v4_amp_global_burst == 360);
  c.v4_amp_global_burst = 200;  // below the floor: never raised above the total
  CHECK(per_shard_limits(c, 4).v4_amp_global_burst == 200);
  c.v4_amp_global_burst = 4000;
  CHECK(per_shard_limits(c, 4).v4_amp_global_burst == 1000);

  // Behaviour: 4 shards with the smallest valid total; a first contact on each gets its
  // Pong and our bond Ping.
  ServerConfig b = Fleet::base();
  b.v4_amp_global_burst = 360;
  Fleet f(4, b);
  std::uint16_t port = 47000;
  for (std::uint32_t k = 0; k < 4; ++k) {
    INFO("shard " << k);
    const Endpoint ep = endpoint_on(k, 4, port);
    port = static_cast<std::uint16_t>(ep.port + 1);
    test::RawV4Peer peer(300 + k, ep);
    REQUIRE(f.deliver(peer.ping(f.clock), ep).size() == 2);  // pong + bond ping
  }
}

// Review: totals near the 32-bit limit wrapped in (total + N - 1) / N and became 1.
TEST_CASE("shards: per-shard limits of huge totals do not wrap around", "[shards]") {
  ServerConfig c;
  c.max_sessions = 0xffffffffu;
  c.max_challenges = 0xfffffff0u;
  c.v4_max_pending = 0xffffffffu;
  c.whoareyou_global_rate = 0xffffffffu;
  c.whoareyou_global_burst = 0xffffffffu;
  c.v4_amp_global_burst = 0xffffffffu;
  const ServerConfig two = per_shard_limits(c, 2);
  REQUIRE(two.max_sessions == 0x80000000u);
  REQUIRE(two.max_challenges == 0x7ffffff8u);
  REQUIRE(two.v4_max_pending == 0x80000000u);
  REQUIRE(two.whoareyou_global_rate == 0x80000000u);
  REQUIRE(two.whoareyou_global_burst == 0x80000000u);
  REQUIRE(two.v4_amp_global_burst == 0x80000000u);
}
