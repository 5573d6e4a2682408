// geth's `devp2p discv4 test` suite (docs/conformance.md, "discv4 suite") run against a real
// discplane process. Each case is a function over a running DUT: every TEST_CASE starts its own
// process (so no case depends on another's order), and "v4/AllBackToBack" runs the whole list
// in geth's order against one process, as hive does. Each run ends with SIGTERM and checks the
// appliance exits 0 within 1 s.
#include <ctime>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "discplane/crypto/random.h"
#include "discplane/wire/rlp.h"

#include "suite.h"
#include "tester.h"

namespace discplane::conformance {
namespace {

using v4wire::PacketType;

crypto::PublicKey random_target() {
  crypto::PublicKey t{};
  crypto::os_random(t);
  return t;
}

// geth's checkPingPong: exactly two reads (300 ms each) give one PONG (checked) and one PING,
// in either order; anything else fails.
void check_ping_pong(V4Tester& te, const Hash256& ping_hash) {
  int pings = 0;
  int pongs = 0;
  for (int i = 0; i < 2; ++i) {
    V4Reply r = te.read(te.l1());
    INFO("read " << i << ": " << r.describe());
    REQUIRE(r.packet);
    if (r.packet->type == PacketType::kPong) {
      const std::string err = check_v4_pong(r, ping_hash, te.l1());
      INFO(err);
      REQUIRE(err.empty());
      ++pongs;
    } else if (r.packet->type == PacketType::kPing) {
      ++pings;
    } else {
      FAIL("expected PING or PONG, got " << r.describe());
    }
  }
  CHECK(pings == 1);
  CHECK(pongs == 1);
}

// The Ping list [version, from, to, expiration] plus geth's two junk elements (42 and
// 0x090807060504030201) that EIP-8 says must be ignored.
Bytes ping_with_junk_rlp(const v4wire::RpcEndpoint& from, const v4wire::RpcEndpoint& to) {
  rlp::Builder b;
  const auto outer = b.begin_list();
  b.add_uint(4);
  for (const auto* e : {&from, &to}) {
    const auto l = b.begin_list();
    b.add_string(e->ip.view());
    b.add_uint(e->udp);
    b.add_uint(e->tcp);
    b.end_list(l);
  }
  b.add_uint(future_expiration());
  b.add_uint(42);
  const std::uint8_t junk[] = {9, 8, 7, 6, 5, 4, 3, 2, 1};
  b.add_string(junk);
  b.end_list(outer);
  return b.take();
}

// ---- the cases (geth names) ----

void ping_basic(DutProcess& dut) {
  V4Tester te(dut);
  const Hash256 h =
      te.send_ping(te.l1(), te.local_endpoint(te.l1()), te.remote_endpoint(), future_expiration());
  check_ping_pong(te, h);
}

void ping_wrong_to(DutProcess& dut) {
  V4Tester te(dut);
  const Hash256 h = te.send_ping(te.l1(), te.local_endpoint(te.l1()), V4Tester::wrong_endpoint(),
                                 future_expiration());
  check_ping_pong(te, h);
}

void ping_wrong_from(DutProcess& dut) {
  V4Tester te(dut);
  const Hash256 h =
      te.send_ping(te.l1(), V4Tester::wrong_endpoint(), te.remote_endpoint(), future_expiration());
  check_ping_pong(te, h);
}

void ping_extra_data(DutProcess& dut) {
  V4Tester te(dut);
  const Bytes rlp = ping_with_junk_rlp(te.local_endpoint(te.l1()), te.remote_endpoint());
  const Hash256 h = te.send_signed(te.l1(), 1, rlp);
  check_ping_pong(te, h);
}

void ping_extra_data_wrong_from(DutProcess& dut) {
  V4Tester te(dut);
  const Bytes rlp = ping_with_junk_rlp(V4Tester::wrong_endpoint(), te.remote_endpoint());
  const Hash256 h = te.send_signed(te.l1(), 1, rlp);
  check_ping_pong(te, h);
}

// geth ignores read errors here; we are stricter: no datagram at all may come back.
void ping_past_expiration(DutProcess& dut) {
  V4Tester te(dut);
  te.send_ping(te.l1(), te.local_endpoint(te.l1()), te.remote_endpoint(), past_expiration());
  V4Reply r = te.read(te.l1());
  INFO("expected no reply, got " << r.describe());
  CHECK(r.timeout);
}

void wrong_packet_type(DutProcess& dut) {
  V4Tester te(dut);
  rlp::Builder b;
  const auto l = b.begin_list();
  b.add_uint(4);
  for (const auto& e : {te.local_endpoint(te.l1()), te.remote_endpoint()}) {
    const auto el = b.begin_list();
    b.add_string(e.ip.view());
    b.add_uint(e.udp);
    b.add_uint(e.tcp);
    b.end_list(el);
  }
  b.add_uint(future_expiration());
  b.end_list(l);
  te.send_signed(te.l1(), 66, b.bytes());
  V4Reply r = te.read(te.l1());
  INFO("expected no reply, got " << r.describe());
  CHECK(r.timeout);
}

void bond_then_ping_with_wrong_from(DutProcess& dut) {
  V4Tester te(dut);
  const std::string err = te.bond();
  INFO(err);
  REQUIRE(err.empty());
  const Hash256 h =
      te.send_ping(te.l1(), V4Tester::wrong_endpoint(), te.remote_endpoint(), future_expiration());
  // Current geth (doc): read until a PONG; a FINDNODE from the DUT is tolerated meanwhile,
  // anything else (a second PING especially) fails.
  while (true) {
    V4Reply r = te.read(te.l1());
    INFO("waiting for PONG, got " << r.describe());
    REQUIRE(r.packet);
    if (r.packet->type == PacketType::kFindNode) {
      continue;
    }
    const std::string perr = check_v4_pong(r, h, te.l1());
    INFO(perr);
    CHECK(perr.empty());
    break;
  }
}

void enr_request(DutProcess& dut) {
  V4Tester te(dut);
  const std::string err = te.bond();
  INFO(err);
  REQUIRE(err.empty());
  const Hash256 h = te.send_enrrequest(te.l1(), future_expiration());
  V4Reply r = te.read(te.l1());
  INFO("got " << r.describe());
  REQUIRE(r.is(PacketType::kENRResponse));
  const auto& resp = std::get<v4wire::ENRResponse>(r.packet->message);
  CHECK(resp.request_hash == h);
  auto rec = enr::decode(resp.record_rlp);
  INFO("record: " << (rec ? "ok" : std::string(enr::to_string(rec.error()))));
  REQUIRE(rec);
  CHECK(rec->node_id() == dut.id());
}

// Current geth tolerates PINGs from the DUT here (doc, test 10); any other packet fails.
void findnode_without_endpoint_proof(DutProcess& dut) {
  V4Tester te(dut);
  te.send_findnode(te.l1(), random_target(), future_expiration());
  while (true) {
    V4Reply r = te.read(te.l1());
    if (r.timeout) {
      break;
    }
    INFO("expected silence or PING, got " << r.describe());
    REQUIRE(r.is(PacketType::kPing));
  }
}

void basic_findnode(DutProcess& dut) {
  V4Tester te(dut);
  const std::string err = te.bond();
  INFO(err);
  REQUIRE(err.empty());
  te.send_findnode(te.l1(), random_target(), future_expiration());
  V4Reply r = te.read(te.l1());
  INFO("expected NEIGHBORS, got " << r.describe());
  CHECK(r.is(PacketType::kNeighbors));
}

void unsolicited_neighbors(DutProcess& dut) {
  V4Tester te(dut);
  const std::string err = te.bond();
  INFO(err);
  REQUIRE(err.empty());
  const crypto::PrivateKey fake_key = crypto::generate_private_key();
  const crypto::PublicKey fake = *crypto::derive_public_key(fake_key);
  v4wire::NeighborNode node;
  node.endpoint = {IpAddress::v4(1, 2, 3, 4), 30303, 30303};
  node.pubkey = fake;
  te.send_neighbors(te.l1(), std::span<const v4wire::NeighborNode>(&node, 1));
  te.send_findnode(te.l1(), fake, future_expiration());
  V4Reply r = te.read(te.l1());
  INFO("expected NEIGHBORS, got " << r.describe());
  REQUIRE(r.is(PacketType::kNeighbors));
  for (const auto& n : std::get<v4wire::Neighbors>(r.packet->message).nodes) {
    CHECK(n.pubkey != fake);
  }
}

void findnode_past_expiration(DutProcess& dut) {
  V4Tester te(dut);
  const std::string err = te.bond();
  INFO(err);
  REQUIRE(err.empty());
  te.send_findnode(te.l1(), random_target(), past_expiration());
  while (true) {
    V4Reply r = te.read(te.l1());
    if (r.timeout) {
      break;
    }
    INFO("got " << r.describe());
    REQUIRE_FALSE(r.is(PacketType::kNeighbors));
  }
}

void amplification_invalid_pong_hash(DutProcess& dut) {
  V4Tester te(dut);
  const std::string err = te.bond(Hash256{});  // answer the DUT's PING with a zero token
  INFO(err);
  REQUIRE(err.empty());
  te.send_findnode(te.l1(), random_target(), future_expiration());
  V4Reply r = te.read(te.l1());
  INFO("got " << r.describe());
  CHECK_FALSE(r.is(PacketType::kNeighbors));
}

void amplification_wrong_ip(DutProcess& dut) {
  V4Tester te(dut);
  const std::string err = te.bond();
  INFO(err);
  REQUIRE(err.empty());
  te.send_findnode(te.l2(), random_target(), future_expiration());
  V4Reply r = te.read(te.l2());
  INFO("expected nothing on l2, got " << r.describe());
  CHECK(r.timeout);
}

const std::vector<Case>& all_cases() {
  static const std::vector<Case> cases = {
      {"Ping/Basic", ping_basic},
      {"Ping/WrongTo", ping_wrong_to},
      {"Ping/WrongFrom", ping_wrong_from},
      {"Ping/ExtraData", ping_extra_data},
      {"Ping/ExtraDataWrongFrom", ping_extra_data_wrong_from},
      {"Ping/PastExpiration", ping_past_expiration},
      {"Ping/WrongPacketType", wrong_packet_type},
      {"Ping/BondThenPingWithWrongFrom", bond_then_ping_with_wrong_from},
      {"ENRRequest", enr_request},
      {"Findnode/WithoutEndpointProof", findnode_without_endpoint_proof},
      {"Findnode/BasicFindnode", basic_findnode},
      {"Findnode/UnsolicitedNeighbors", unsolicited_neighbors},
      {"Findnode/PastExpiration", findnode_past_expiration},
      {"Amplification/InvalidPongHash", amplification_invalid_pong_hash},
      {"Amplification/WrongIP", amplification_wrong_ip},
  };
  return cases;
}

}  // namespace

TEST_CASE("v4/Ping/Basic", "[conformance][v4]") {
  run_alone(ping_basic);
}
TEST_CASE("v4/Ping/WrongTo", "[conformance][v4]") {
  run_alone(ping_wrong_to);
}
TEST_CASE("v4/Ping/WrongFrom", "[conformance][v4]") {
  run_alone(ping_wrong_from);
}
TEST_CASE("v4/Ping/ExtraData", "[conformance][v4]") {
  run_alone(ping_extra_data);
}
TEST_CASE("v4/Ping/ExtraDataWrongFrom", "[conformance][v4]") {
  run_alone(ping_extra_data_wrong_from);
}
TEST_CASE("v4/Ping/PastExpiration", "[conformance][v4]") {
  run_alone(ping_past_expiration);
}
TEST_CASE("v4/Ping/WrongPacketType", "[conformance][v4]") {
  run_alone(wrong_packet_type);
}
TEST_CASE("v4/Ping/BondThenPingWithWrongFrom", "[conformance][v4]") {
  run_alone(bond_then_ping_with_wrong_from);
}
TEST_CASE("v4/ENRRequest", "[conformance][v4]") {
  run_alone(enr_request);
}
TEST_CASE("v4/Findnode/WithoutEndpointProof", "[conformance][v4]") {
  run_alone(findnode_without_endpoint_proof);
}
TEST_CASE("v4/Findnode/BasicFindnode", "[conformance][v4]") {
  run_alone(basic_findnode);
}
TEST_CASE("v4/Findnode/UnsolicitedNeighbors", "[conformance][v4]") {
  run_alone(unsolicited_neighbors);
}
TEST_CASE("v4/Findnode/PastExpiration", "[conformance][v4]") {
  run_alone(findnode_past_expiration);
}
TEST_CASE("v4/Amplification/InvalidPongHash", "[conformance][v4]") {
  run_alone(amplification_invalid_pong_hash);
}
TEST_CASE("v4/Amplification/WrongIP", "[conformance][v4]") {
  run_alone(amplification_wrong_ip);
}

// The whole suite in geth's order against one process: state left by earlier cases (bonds,
// table entries of dead tester keys) must not break later ones.
TEST_CASE("v4/AllBackToBack", "[conformance][v4]") {
  run_back_to_back(all_cases());
}

}  // namespace discplane::conformance
