// discv5 rules of the merged engine: handshakes both ways, WHOAREYOU limits, sessions
// (endpoint binding, LRU cap, idle prune), the six messages and our requests' timeouts.
// A hand-driven peer (RawV5Peer) does its half of the protocol with the v5wire codec so
// that every refusal can be provoked exactly; engine-to-engine cases use the harness.
#include <set>

#include <catch2/catch.hpp>

#include "discplane/discovery/node_id.h"
#include "discplane/discovery/server.h"
#include "discplane/wire/enr.h"
#include "discplane/wire/v5wire.h"

#include "unit/discovery/engine_harness.h"
#include "unit/discovery/raw_peers.h"

using namespace discplane;
using namespace discplane::disc;
using discplane::test::CollectingTransport;
using discplane::test::FakeClock;

namespace {

using test::make_record;
using test::RawV5Peer;

Bytes ping_pt(ByteView req_id, std::uint64_t seq = 1) {
  Bytes out(64);
  auto m = v5wire::encode_ping(out, req_id, seq);
  REQUIRE(m);
  out.resize(m->size());
  return out;
}
Bytes findnode_pt(ByteView req_id, std::vector<std::uint16_t> distances) {
  Bytes out(1100);
  auto m = v5wire::encode_findnode(out, req_id, distances);
  REQUIRE(m);
  out.resize(m->size());
  return out;
}
Bytes talkreq_pt(ByteView req_id, std::string_view protocol, ByteView request) {
  Bytes out(1100);
  auto m = v5wire::encode_talkreq(out, req_id, as_bytes(protocol), request);
  REQUIRE(m);
  out.resize(m->size());
  return out;
}
const Bytes kReqId = {1, 2, 3, 4, 5, 6, 7, 8};

struct Fixture {
  FakeClock clock;
  crypto::DeterministicRandom rng{4242};
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
  // Delivers and expects exactly one datagram back, to `from`.
  Bytes exchange(const Bytes& payload, const Endpoint& from) {
    deliver(payload, from);
    auto sent = tx.take();
    REQUIRE(sent.size() == 1);
    REQUIRE(sent[0].to == from);
    return sent[0].payload;
  }
  // Full handshake with `plaintext` as the first message; returns the engine's answers.
  std::vector<test::SentDatagram> handshake(RawV5Peer& p, ByteView plaintext) {
    p.target(*server);
    const Bytes whoareyou = exchange(p.random_packet(), p.ep);
    deliver(p.handshake(whoareyou, plaintext), p.ep);
    return tx.take();
  }
  const Counters& counters() const { return server->counters(); }
};

std::size_t idx(v5wire::MessageType t) {
  return static_cast<std::size_t>(t);
}

}  // namespace

// ---- handshake -------------------------------------------------------------------------------

TEST_CASE("v5: ping between engines handshakes once, then both directions use the session",
          "[engine][v5]") {
  FakeClock clock;
  test::Network net(clock);
  test::Node& a = net.add(test::loopback(31001), 11);
  test::Node& b = net.add(test::loopback(31002), 12);
  net.send(a, msg::AddSeed{test::seed_of(b, kFlagV5)});
  net.send(a, msg::Revalidate{Protocol::kV5});
  net.deliver_all();

  const Counters& ca = a.server->counters();
  const Counters& cb = b.server->counters();
  REQUIRE(cb.v5_whoareyou_sent == 1);
  REQUIRE(ca.v5_handshakes_initiated == 1);
  REQUIRE(cb.v5_handshakes_accepted == 1);
  REQUIRE(ca.rx_v5[idx(v5wire::MessageType::kPong)] == 1);
  REQUIRE(a.server->session_count() == 1);
  REQUIRE(b.server->session_count() == 1);
  REQUIRE(b.server->pending_challenges() == 0);
  // B learned A from the handshake, with A's record (A sent it: B's enr-seq was 0).
  const PeerEntry* a_at_b = b.server->table().find(a.id());
  REQUIRE(a_at_b != nullptr);
  REQUIRE(a_at_b->endpoint4 == a.endpoint);
  REQUIRE(a_at_b->enr_size > 0);
  REQUIRE(a.server->table().find(b.id())->live_on(Protocol::kV5).checks_passed == 1);

  // A second check from A rides the session: no WHOAREYOU, no handshake.
  clock.advance_ms(11'000);
  net.send(a, msg::Revalidate{Protocol::kV5});
  net.deliver_all();
  REQUIRE(ca.rx_v5[idx(v5wire::MessageType::kPong)] == 2);
  REQUIRE(cb.v5_whoareyou_sent == 1);
  REQUIRE(ca.v5_handshakes_initiated == 1);

  // And B pings A on the same session (B's keys are the recipient's half).
  net.send(b, msg::Revalidate{Protocol::kV5});
  net.deliver_all();
  REQUIRE(cb.rx_v5[idx(v5wire::MessageType::kPong)] == 1);
  REQUIRE(ca.v5_whoareyou_sent == 0);
  REQUIRE(cb.v5_handshakes_initiated == 0);
  REQUIRE(b.server->table().find(a.id())->live_on(Protocol::kV5).checks_passed == 1);
}

TEST_CASE("v5: handshake from a raw peer: PONG echoes the req-id and reports the source",
          "[engine][v5]") {
  Fixture f;
  RawV5Peer p(21, test::loopback(40001));
  auto sent = f.handshake(p, ping_pt(kReqId));
  REQUIRE(sent.size() == 1);
  auto m = p.open(sent[0].payload);
  const auto& pong = std::get<v5wire::Pong>(m);
  REQUIRE(equal(pong.req_id, kReqId));
  REQUIRE(pong.recipient_ip == p.ep.ip);
  REQUIRE(pong.recipient_port == p.ep.port);
  REQUIRE(pong.enr_seq == f.server->local_record().seq());
  REQUIRE(f.server->session_count() == 1);
  REQUIRE(f.server->table().find(p.id) != nullptr);

  // Request ids of 1 and 8 bytes are echoed as they are.
  for (const Bytes& rid : {Bytes{0x7f}, Bytes{0, 0, 0, 0, 0, 0, 0, 1}}) {
    auto reply = p.open(f.exchange(p.message(ping_pt(rid)), p.ep));
    REQUIRE(equal(std::get<v5wire::Pong>(reply).req_id, rid));
  }
  REQUIRE(f.counters().v5_whoareyou_sent == 1);
}

TEST_CASE("v5: a handshake without a record is refused when we know no record", "[engine][v5]") {
  Fixture f;
  RawV5Peer p(22, test::loopback(40002));
  p.target(*f.server);
  const Bytes whoareyou = f.exchange(p.random_packet(), p.ep);
  f.deliver(p.handshake(whoareyou, ping_pt(kReqId), /*record=*/ByteView{}), p.ep);
  REQUIRE(f.tx.take().empty());
  REQUIRE(f.counters().dropped(Drop::kV5BadHandshake) == 1);
  REQUIRE(f.server->session_count() == 0);
  // A handshake with no challenge pending for that (id, endpoint) is refused too.
  // (The peer makes up a WHOAREYOU of its own to have something to sign.)
  RawV5Peer q(23, test::loopback(40003));
  q.target(*f.server);
  Bytes made_up(1280);
  auto w = v5wire::encode_whoareyou(made_up, crypto::AesCtr128(v5wire::masking_key(q.id)),
                                    q.nonce(), v5wire::IdNonce{}, 0, q.iv());
  REQUIRE(w);
  f.deliver(q.handshake(Bytes(w->packet.begin(), w->packet.end()), ping_pt(kReqId)), q.ep);
  REQUIRE(f.counters().dropped(Drop::kV5BadHandshake) == 2);
  REQUIRE(f.server->session_count() == 0);
}

TEST_CASE("v5: a refused handshake uses up its challenge: the next trigger gets a fresh one",
          "[engine][v5]") {
  Fixture f;
  RawV5Peer p(26, test::loopback(40006));
  p.target(*f.server);
  const Bytes first = f.exchange(p.random_packet(), p.ep);
  REQUIRE(f.server->pending_challenges() == 1);
  // PING with a 9-byte request id (the limit is 8): the handshake's signature is good, but its
  // message is refused.
  const Bytes bad_ping = {0x01, 0xcb, 0x89, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0x01};
  f.deliver(p.handshake(first, bad_ping), p.ep);
  REQUIRE(f.tx.take().empty());
  REQUIRE(f.counters().dropped(Drop::kV5BadHandshake) == 1);
  REQUIRE(f.server->session_count() == 0);
  REQUIRE(f.server->pending_challenges() == 0);
  // The next packet gets a new WHOAREYOU (answering its own nonce), not the stale one, and
  // the handshake answering it succeeds.
  const Bytes second = f.exchange(p.random_packet(), p.ep);
  REQUIRE(p.flag_of(second) == v5wire::Flag::kWhoareyou);
  REQUIRE(second != first);
  REQUIRE(f.counters().v5_whoareyou_sent == 2);
  REQUIRE(f.counters().v5_whoareyou_resent == 0);
  f.deliver(p.handshake(second, ping_pt(kReqId)), p.ep);
  auto sent = f.tx.take();
  REQUIRE(sent.size() == 1);
  REQUIRE(std::holds_alternative<v5wire::Pong>(p.open(sent[0].payload)));
  REQUIRE(f.server->session_count() == 1);

  // A handshake whose message does not decrypt uses up its challenge too.
  RawV5Peer q(27, test::loopback(40007));
  q.target(*f.server);
  const Bytes wq = f.exchange(q.random_packet(), q.ep);
  Bytes forged = q.handshake(wq, ping_pt(kReqId));
  forged.back() ^= 0x01;  // breaks the GCM tag of the message
  f.deliver(forged, q.ep);
  REQUIRE(f.tx.take().empty());
  REQUIRE(f.server->pending_challenges() == 0);
  REQUIRE(f.exchange(q.random_packet(), q.ep) != wq);
}

// ---- WHOAREYOU -------------------------------------------------------------------------------

TEST_CASE("v5: a repeated trigger gets the identical WHOAREYOU while the challenge is pending",
          "[engine][v5]") {
  Fixture f;
  RawV5Peer p(24, test::loopback(40004));
  p.target(*f.server);
  const Bytes first = f.exchange(p.random_packet(), p.ep);
  REQUIRE(p.flag_of(first) == v5wire::Flag::kWhoareyou);
  const Bytes second = f.exchange(p.random_packet(), p.ep);
  REQUIRE(second == first);
  REQUIRE(f.counters().v5_whoareyou_sent == 1);
  REQUIRE(f.counters().v5_whoareyou_resent == 1);
  REQUIRE(f.server->pending_challenges() == 1);
  // The handshake answering the (resent) challenge works.
  f.deliver(p.handshake(second, ping_pt(kReqId)), p.ep);
  auto sent = f.tx.take();
  REQUIRE(sent.size() == 1);
  REQUIRE(std::holds_alternative<v5wire::Pong>(p.open(sent[0].payload)));
  REQUIRE(f.server->pending_challenges() == 0);

  // Once a challenge expires, a new trigger gets a new one.
  RawV5Peer q(25, test::loopback(40005));
  q.target(*f.server);
  const Bytes old = f.exchange(q.random_packet(), q.ep);
  f.clock.advance_ms(1'100);
  f.server->on_idle(f.tx);
  REQUIRE(f.server->pending_challenges() == 0);
  const Bytes fresh = f.exchange(q.random_packet(), q.ep);
  REQUIRE(fresh != old);
  REQUIRE(f.counters().v5_whoareyou_sent == 3);
}

TEST_CASE("v5: WHOAREYOU per-IP limit holds against a flood from one IP", "[engine][v5]") {
  ServerConfig c;
  c.whoareyou_per_ip_rate = 4;
  c.whoareyou_per_ip_burst = 8;
  Fixture f(c);
  for (int i = 0; i < 50; ++i) {
    RawV5Peer p(1000 + i,
                Endpoint{IpAddress::v4(10, 0, 0, 1), static_cast<std::uint16_t>(5000 + i)});
    p.target(*f.server);
    f.deliver(p.random_packet(), p.ep);
  }
  REQUIRE(f.tx.take().size() == 8);
  REQUIRE(f.counters().v5_whoareyou_sent == 8);
  REQUIRE(f.counters().dropped(Drop::kV5WhoareyouLimited) == 42);
  // Another IP is not affected; the flooding IP gets rate * 1 s more after a second.
  RawV5Peer other(2000, Endpoint{IpAddress::v4(10, 0, 0, 2), 5000});
  other.target(*f.server);
  f.deliver(other.random_packet(), other.ep);
  REQUIRE(f.tx.take().size() == 1);
  f.clock.advance_ms(1'000);
  for (int i = 0; i < 10; ++i) {
    RawV5Peer p(3000 + i,
                Endpoint{IpAddress::v4(10, 0, 0, 1), static_cast<std::uint16_t>(6000 + i)});
    p.target(*f.server);
    f.deliver(p.random_packet(), p.ep);
  }
  REQUIRE(f.tx.take().size() == 4);
}

TEST_CASE("v5: the global WHOAREYOU limit holds across many IPs", "[engine][v5]") {
  ServerConfig c;
  c.whoareyou_global_rate = 10;
  c.whoareyou_global_burst = 20;
  Fixture f(c);
  for (int i = 0; i < 100; ++i) {
    RawV5Peer p(4000 + i, Endpoint{IpAddress::v4(10, 1, static_cast<std::uint8_t>(i / 200),
                                                 static_cast<std::uint8_t>(i + 1)),
                                   5000});
    p.target(*f.server);
    f.deliver(p.random_packet(), p.ep);
  }
  REQUIRE(f.tx.take().size() == 20);
  REQUIRE(f.counters().dropped(Drop::kV5WhoareyouLimited) == 80);
}

TEST_CASE("v5: an unknown WHOAREYOU is dropped", "[engine][v5]") {
  Fixture f;
  // A WHOAREYOU built by a peer that never heard from us.
  RawV5Peer p(26, test::loopback(40006));
  p.target(*f.server);
  Bytes out(1280);
  auto w = v5wire::encode_whoareyou(out, p.masker(), p.nonce(), v5wire::IdNonce{}, 0, p.iv());
  REQUIRE(w);
  f.deliver(Bytes(w->packet.begin(), w->packet.end()), p.ep);
  REQUIRE(f.tx.take().empty());
  REQUIRE(f.counters().dropped(Drop::kV5UnknownWhoareyou) == 1);
}

// ---- sessions --------------------------------------------------------------------------------

TEST_CASE("v5: a session is bound to its endpoint", "[engine][v5]") {
  Fixture f;
  RawV5Peer p(27, test::loopback(40007));
  REQUIRE(f.handshake(p, ping_pt(kReqId)).size() == 1);
  // Same id, same keys, another port: challenged, not answered.
  const Endpoint elsewhere = test::loopback(40008);
  const Bytes reply = f.exchange(p.message(ping_pt(kReqId)), elsewhere);
  REQUIRE(p.flag_of(reply) == v5wire::Flag::kWhoareyou);
  REQUIRE(f.counters().rx_v5[idx(v5wire::MessageType::kPing)] == 1);
  // The original endpoint still works.
  const Bytes pong = f.exchange(p.message(ping_pt(kReqId)), p.ep);
  REQUIRE(std::holds_alternative<v5wire::Pong>(p.open(pong)));
}

TEST_CASE("v5: sessions are capped with LRU eviction", "[engine][v5]") {
  ServerConfig c;
  c.max_sessions = 3;
  Fixture f(c);
  std::vector<std::unique_ptr<RawV5Peer>> peers;
  for (int i = 0; i < 5; ++i) {
    peers.push_back(std::make_unique<RawV5Peer>(
        50 + i, Endpoint{IpAddress::v4(10, 2, 0, static_cast<std::uint8_t>(i + 1)), 7000}));
    REQUIRE(f.handshake(*peers.back(), ping_pt(kReqId)).size() == 1);
  }
  REQUIRE(f.server->session_count() == 3);
  REQUIRE(f.counters().v5_sessions_evicted == 2);
  // The oldest lost its session; the newest kept it.
  REQUIRE(peers[0]->flag_of(f.exchange(peers[0]->message(ping_pt(kReqId)), peers[0]->ep)) ==
          v5wire::Flag::kWhoareyou);
  REQUIRE(std::holds_alternative<v5wire::Pong>(
      peers[4]->open(f.exchange(peers[4]->message(ping_pt(kReqId)), peers[4]->ep))));
}

TEST_CASE("v5: idle sessions are pruned", "[engine][v5]") {
  ServerConfig c;
  c.session_idle_timeout_ns = 10 * kSecond;
  Fixture f(c);
  RawV5Peer p(28, test::loopback(40009));
  RawV5Peer q(29, test::loopback(40010));
  REQUIRE(f.handshake(p, ping_pt(kReqId)).size() == 1);
  f.clock.advance_ms(6'000);
  REQUIRE(f.handshake(q, ping_pt(kReqId)).size() == 1);
  f.clock.advance_ms(6'000);
  f.server->handle(msg::Prune{}, f.tx);
  REQUIRE(f.server->session_count() == 1);
  REQUIRE(f.counters().v5_sessions_expired == 1);
  REQUIRE(p.flag_of(f.exchange(p.message(ping_pt(kReqId)), p.ep)) == v5wire::Flag::kWhoareyou);
  REQUIRE(
      std::holds_alternative<v5wire::Pong>(q.open(f.exchange(q.message(ping_pt(kReqId)), q.ep))));
}

// ---- FINDNODE / NODES ------------------------------------------------------------------------

TEST_CASE("v5: FINDNODE distance 0 returns our record", "[engine][v5]") {
  Fixture f;
  RawV5Peer p(30, test::loopback(40011));
  auto sent = f.handshake(p, findnode_pt(kReqId, {0}));
  REQUIRE(sent.size() == 1);
  auto m = p.open(sent[0].payload);
  const auto& nodes = std::get<v5wire::Nodes>(m);
  REQUIRE(equal(nodes.req_id, kReqId));
  REQUIRE(nodes.total == 1);
  REQUIRE(nodes.records.size() == 1);
  REQUIRE(equal(*nodes.records.begin(), f.server->local_record().raw()));
}

TEST_CASE("v5: FINDNODE at distances returns <= 16 table records split into NODES",
          "[engine][v5]") {
  Fixture f(test::loopback_testnet());
  const NodeId self = f.server->local_id();
  // 60 nodes with records on distinct loopback addresses (exempt from the IP limits).
  std::map<NodeId, int> distance_of;
  for (std::uint64_t i = 0; i < 60; ++i) {
    const crypto::PrivateKey k = test::key_from_seed(500 + i);
    const Endpoint ep{IpAddress::v4(127, 0, 2, static_cast<std::uint8_t>(i + 1)), 9000};
    NodeSeed s;
    s.public_key = *crypto::derive_public_key(k);
    s.endpoint4 = ep;
    s.record = make_record(k, ep);
    s.protocols = kFlagV5;
    f.server->handle(msg::AddSeed{s}, f.tx);
    distance_of[crypto::node_id_of(s.public_key)] =
        log_distance(self, crypto::node_id_of(s.public_key));
  }
  REQUIRE(f.tx.take().empty());  // v5 seeds are not contacted by AddSeed
  std::size_t live = 0;
  for (int d : {256, 255, 254}) {
    std::array<const PeerEntry*, 64> out{};
    live += f.server->table().nodes_at_distance(d, out);
  }
  REQUIRE(live > 16);

  RawV5Peer p(31, test::loopback(40012));
  // A duplicate and an out-of-range-free list: 256 twice counts once.
  auto sent = f.handshake(p, findnode_pt(kReqId, {256, 256, 255, 254}));
  REQUIRE(sent.size() >= 2);
  std::set<NodeId> got;
  for (auto& s : sent) {
    REQUIRE(s.payload.size() <= 1280);
    auto m = p.open(s.payload);
    const auto& nodes = std::get<v5wire::Nodes>(m);
    REQUIRE(nodes.total == sent.size());
    for (ByteView raw : nodes.records) {
      auto r = enr::decode(raw);
      REQUIRE(r);
      const int d = distance_of.at(r->node_id());
      REQUIRE((d == 256 || d == 255 || d == 254));
      got.insert(r->node_id());
    }
  }
  REQUIRE(got.size() == 16);

  // A distance with nobody there: one empty NODES with total 1.
  auto empty = p.open(f.exchange(p.message(findnode_pt(kReqId, {3})), p.ep));
  REQUIRE(std::get<v5wire::Nodes>(empty).total == 1);
  REQUIRE(std::get<v5wire::Nodes>(empty).records.empty());
}

TEST_CASE("v5: unsolicited NODES and PONG change nothing", "[engine][v5]") {
  Fixture f;
  RawV5Peer p(32, test::loopback(40013));
  REQUIRE(f.handshake(p, ping_pt(kReqId)).size() == 1);
  const std::size_t before = f.server->table().size();

  Bytes pong(64);
  auto pm = v5wire::encode_pong(pong, kReqId, 9, IpAddress::v4(1, 2, 3, 4), 1234);
  REQUIRE(pm);
  pong.resize(pm->size());
  f.deliver(p.message(pong), p.ep);

  const enr::Record other = make_record(test::key_from_seed(77), test::loopback(40100));
  const std::array<ByteView, 1> recs{other.raw()};
  Bytes nodes(1100);
  auto nm = v5wire::encode_nodes(nodes, kReqId, 1, recs);
  REQUIRE(nm);
  nodes.resize(nm->size());
  f.deliver(p.message(nodes), p.ep);

  REQUIRE(f.tx.take().empty());
  REQUIRE(f.counters().dropped(Drop::kV5Unsolicited) == 2);
  REQUIRE(f.server->table().size() == before);
  REQUIRE(f.server->table().find_any(other.node_id()) == nullptr);
  REQUIRE(f.server->ip_votes().count(IpAddress::Family::kV4, f.clock.now().mono_ns) == 0);
}

// ---- TALKREQ ---------------------------------------------------------------------------------

TEST_CASE("v5: TALKREQ reaches its handler; an unknown protocol gets an empty TALKRESP",
          "[engine][v5]") {
  Fixture f;
  NodeId seen_from{};
  f.server->handle(msg::RegisterTalkProtocol{"echo",
                                             [&](ByteView request, const NodeId& from,
                                                 const Endpoint&, MutableByteView response) {
                                               seen_from = from;
                                               for (std::size_t i = 0; i < request.size(); ++i) {
                                                 response[i] = request[request.size() - 1 - i];
                                               }
                                               return request.size();
                                             }},
                   f.tx);
  RawV5Peer p(33, test::loopback(40014));
  const Bytes request = {1, 2, 3};
  auto sent = f.handshake(p, talkreq_pt(kReqId, "echo", request));
  REQUIRE(sent.size() == 1);
  auto m = p.open(sent[0].payload);
  const auto& resp = std::get<v5wire::TalkResp>(m);
  REQUIRE(equal(resp.req_id, kReqId));
  REQUIRE(equal(resp.response, Bytes{3, 2, 1}));
  REQUIRE(seen_from == p.id);

  auto other = p.open(f.exchange(p.message(talkreq_pt(kReqId, "nope", request)), p.ep));
  REQUIRE(std::get<v5wire::TalkResp>(other).response.empty());
  REQUIRE(f.counters().v5_talk_requests == 2);
}

TEST_CASE("v5: FINDNODE and TALKREQ on a session are rate limited per node and per IP",
          "[engine][v5]") {
  // Defaults: 10/s per node id (burst 20), 100/s per source IP (burst 200).
  const RequestLimits defaults = ServerConfig{}.v5_request_limits;
  REQUIRE(defaults.per_node_rate == 10);
  REQUIRE(defaults.per_node_burst == 20);
  Fixture f;
  RawV5Peer p(34, test::loopback(40034));
  auto first = f.handshake(p, ping_pt(kReqId));
  REQUIRE(first.size() == 1);
  std::size_t answered = 0;
  for (int i = 0; i < 30; ++i) {
    const Bytes pt = i % 2 == 0 ? findnode_pt(kReqId, {0}) : talkreq_pt(kReqId, "x", Bytes{1});
    f.deliver(p.message(pt), p.ep);
    answered += !f.tx.take().empty();
  }
  CHECK(answered == 20);
  CHECK(f.counters().dropped(Drop::kV5RequestLimited) == 10);
  // PING is not limited (its answer is its size).
  CHECK_FALSE(f.exchange(p.message(ping_pt(kReqId)), p.ep).empty());
  f.clock.advance_ms(1'000);
  answered = 0;
  for (int i = 0; i < 15; ++i) {
    f.deliver(p.message(findnode_pt(kReqId, {0})), p.ep);
    answered += !f.tx.take().empty();
  }
  CHECK(answered == 10);

  // An honest peer (a lookup every few seconds, a FINDNODE or two each) never notices.
  RawV5Peer honest(35, test::loopback(40035));
  REQUIRE(f.handshake(honest, ping_pt(kReqId)).size() == 1);
  const std::uint64_t limited = f.counters().dropped(Drop::kV5RequestLimited);
  for (int lookup = 0; lookup < 100; ++lookup) {
    for (int k = 0; k < 2; ++k) {
      CHECK_FALSE(
          f.exchange(honest.message(findnode_pt(kReqId, {256, 255, 254})), honest.ep).empty());
    }
    f.clock.advance_ms(3'000);
  }
  CHECK(f.counters().dropped(Drop::kV5RequestLimited) == limited);
}

TEST_CASE("v5: the per-IP request limit holds across node ids", "[engine][v5]") {
  ServerConfig c;
  c.v5_request_limits.per_ip_rate = 4;
  c.v5_request_limits.per_ip_burst = 6;
  c.v5_request_limits.per_node_rate = 0;  // off
  Fixture f(c);
  std::vector<std::unique_ptr<RawV5Peer>> peers;
  for (std::uint64_t i = 0; i < 3; ++i) {
    peers.push_back(
        std::make_unique<RawV5Peer>(36 + i, test::loopback(static_cast<std::uint16_t>(40036 + i))));
    REQUIRE(f.handshake(*peers.back(), ping_pt(kReqId)).size() == 1);
  }
  std::size_t answered = 0;
  for (int i = 0; i < 30; ++i) {
    RawV5Peer& p = *peers[static_cast<std::size_t>(i) % peers.size()];
    f.deliver(p.message(findnode_pt(kReqId, {0})), p.ep);
    answered += !f.tx.take().empty();
  }
  CHECK(answered == 6);
  CHECK(f.counters().dropped(Drop::kV5RequestLimited) == 24);
}

// ---- our requests ----------------------------------------------------------------------------

TEST_CASE("v5: a request times out, is retried once, then fails", "[engine][v5]") {
  Fixture f;
  RawV5Peer silent(34, test::loopback(40015));
  NodeSeed s;
  s.public_key = silent.pub;
  s.endpoint4 = silent.ep;
  s.record = silent.record;
  s.protocols = kFlagV5;
  f.server->handle(msg::AddSeed{s}, f.tx);
  f.server->handle(msg::Revalidate{Protocol::kV5}, f.tx);
  auto first = f.tx.take();
  REQUIRE(first.size() == 1);  // the random packet that should provoke a WHOAREYOU
  REQUIRE(first[0].to == silent.ep);

  // The default request timeout (discv5.request_timeout, 1 s): nothing before it, a retry
  // after it.
  const std::int64_t timeout_ms = ServerConfig{}.v5_request_timeout_ns / 1'000'000;
  f.clock.advance_ms(timeout_ms - 100);
  f.server->on_idle(f.tx);
  REQUIRE(f.tx.take().empty());
  REQUIRE(f.counters().v5_request_retries == 0);
  f.clock.advance_ms(110);
  f.server->on_idle(f.tx);
  REQUIRE(f.tx.take().size() == 1);
  REQUIRE(f.counters().v5_request_retries == 1);
  REQUIRE(f.counters().v5_request_timeouts == 0);

  f.clock.advance_ms(timeout_ms + 10);
  f.server->on_idle(f.tx);
  REQUIRE(f.tx.take().empty());
  REQUIRE(f.counters().v5_request_timeouts == 1);
  const PeerEntry* e = f.server->table().find(silent.id);
  REQUIRE(e != nullptr);
  REQUIRE(e->live_on(Protocol::kV5).checks_failed == 1);
}

TEST_CASE("v5: our random packet, their WHOAREYOU, our handshake carries the request",
          "[engine][v5]") {
  Fixture f;
  RawV5Peer p(35, test::loopback(40016));
  p.target(*f.server);
  NodeSeed s;
  s.public_key = p.pub;
  s.endpoint4 = p.ep;
  s.protocols = kFlagV5;
  f.server->handle(msg::AddSeed{s}, f.tx);
  f.server->handle(msg::Revalidate{Protocol::kV5}, f.tx);
  auto sent = f.tx.take();
  REQUIRE(sent.size() == 1);

  // Answer as the recipient would: WHOAREYOU echoing the nonce, enr-seq 0.
  const crypto::AesCtr128 own(v5wire::masking_key(p.id));
  auto h = v5wire::decode_header(sent[0].payload, own, p.header_scratch);
  REQUIRE(h);
  Bytes out(1280);
  const crypto::AesCtr128 to_engine(v5wire::masking_key(f.server->local_id()));
  v5wire::IdNonce idn{};
  idn[0] = 9;
  auto w = v5wire::encode_whoareyou(out, to_engine, h->nonce, idn, 0, p.iv());
  REQUIRE(w);
  const v5wire::ChallengeData challenge = w->challenge_data;
  // From the wrong endpoint it is ignored.
  f.deliver(Bytes(w->packet.begin(), w->packet.end()), test::loopback(49999));
  REQUIRE(f.counters().dropped(Drop::kV5UnknownWhoareyou) == 1);
  f.deliver(Bytes(w->packet.begin(), w->packet.end()), p.ep);
  auto hs_sent = f.tx.take();
  REQUIRE(hs_sent.size() == 1);
  REQUIRE(f.counters().v5_handshakes_initiated == 1);

  // Verify it as the recipient: record included (enr-seq 0), the signature, the PING.
  auto hh = v5wire::decode_header(hs_sent[0].payload, own, p.header_scratch);
  REQUIRE(hh);
  REQUIRE(hh->flag == v5wire::Flag::kHandshake);
  REQUIRE(equal(hh->record, f.server->local_record().raw()));
  auto keys = v5wire::accept_handshake(*hh, challenge, f.server->local_public_key(), p.key, p.id);
  REQUIRE(keys);
  const crypto::AesGcm128 read(keys->initiator_key);
  std::array<std::uint8_t, 1280> pt{};
  auto opened = v5wire::open_message(*hh, read, pt);
  REQUIRE(opened);
  auto m = v5wire::decode_message(*opened);
  REQUIRE(m);
  const auto& ping = std::get<v5wire::Ping>(*m);
  REQUIRE(ping.req_id.size() == 8);

  // Our PONG on the new session completes the check.
  p.write.emplace(keys->recipient_key);
  p.read.emplace(keys->initiator_key);
  Bytes pong(64);
  auto pm = v5wire::encode_pong(pong, ping.req_id, 1, IpAddress::v4(127, 0, 0, 1), 30303);
  REQUIRE(pm);
  pong.resize(pm->size());
  f.deliver(p.message(pong), p.ep);
  REQUIRE(f.counters().rx_v5[idx(v5wire::MessageType::kPong)] == 1);
  REQUIRE(f.counters().dropped(Drop::kV5Unsolicited) == 0);
  REQUIRE(f.server->table().find(p.id)->live_on(Protocol::kV5).checks_passed == 1);
  // We hold no record of the peer: the engine asks for it with FINDNODE [0].
  auto enr_req = f.tx.take();
  REQUIRE(enr_req.size() == 1);
  auto fm = p.open(enr_req[0].payload);
  const auto& fnode = std::get<v5wire::FindNode>(fm);
  REQUIRE(fnode.distances.size() == 1);
  REQUIRE(*fnode.distances.begin() == 0);
  const std::array<ByteView, 1> recs{p.record.raw()};
  Bytes nodes(1100);
  auto nm = v5wire::encode_nodes(nodes, fnode.req_id, 1, recs);
  REQUIRE(nm);
  nodes.resize(nm->size());
  f.deliver(p.message(nodes), p.ep);
  REQUIRE(f.server->table().find(p.id)->enr_size == p.record.raw().size());
  REQUIRE(f.counters().enr_updates_learned == 1);
  // The duplicate WHOAREYOU (same nonce) starts nothing new.
  f.deliver(Bytes(w->packet.begin(), w->packet.end()), p.ep);
  REQUIRE(f.tx.take().empty());
  REQUIRE(f.counters().v5_handshakes_initiated == 1);
}

// ---- lookup ----------------------------------------------------------------------------------

TEST_CASE("v5: a lookup across engines finds nodes", "[engine][v5]") {
  FakeClock clock;
  test::Network net(clock);
  std::vector<test::Node*> nodes;
  for (int i = 0; i < 8; ++i) {
    nodes.push_back(&net.add(test::loopback(static_cast<std::uint16_t>(32000 + i)), 100 + i,
                             test::loopback_testnet()));
  }
  // Everyone pings the bootnode (node 0), which so learns them all with their records.
  for (int i = 1; i < 8; ++i) {
    net.send(*nodes[i], msg::AddSeed{test::seed_of(*nodes[0], kFlagV5)});
    net.send(*nodes[i], msg::Revalidate{Protocol::kV5});
  }
  net.deliver_all();
  REQUIRE(nodes[0]->server->table().size() == 7);

  test::Node& asker = *nodes[7];
  REQUIRE(asker.server->table().size() == 1);
  net.send(asker, msg::Lookup{Protocol::kV5, nodes[3]->id(), 1});
  net.run_for_ms(5'000);
  REQUIRE(asker.server->counters().lookups_done == 1);
  REQUIRE(asker.server->active_lookups() == 0);
  REQUIRE(asker.server->table().size() > 1);
  REQUIRE(asker.server->table().find_any(nodes[3]->id()) != nullptr);
  REQUIRE(asker.server->counters().rx_v5[idx(v5wire::MessageType::kNodes)] >= 1);
}
