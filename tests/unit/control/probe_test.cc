// Naming a remote node for a probe (enode URL or ENR, the protocol it implies) and the JSON and
// failure line both discctl and the API print (control/probe.cc).
#include "discplane/control/probe.h"

#include <catch2/catch.hpp>

#include "discplane/common/bytes.h"
#include "discplane/crypto/secp256k1.h"
#include "discplane/wire/enr.h"

using namespace discplane;
using namespace discplane::control;

namespace {

// EIP-778's example record (127.0.0.1:30303) and its public key.
constexpr const char* kEipRecord =
    "enr:-"
    "IS4QHCYrYZbAKWCBRlAy5zzaDZXJBGkcnh4MHcBFZntXNFrdvJjX04jRzjzCBOonrkTfj499SZuOh8R33Ls8RRcy5w"
    "BgmlkgnY0gmlwhH8AAAGJc2VjcDI1NmsxoQPKY0yuDUmstAHYpMa2_oxVtw0RW_QAdpzBQA8yWM0xOIN1ZHCCdl8";
constexpr const char* kEipPublicKey =
    "ca634cae0d49acb401d8a4c6b6fe8c55b70d115bf400769cc1400f3258cd3138"
    "7574077f301b421bc84df7266c44e9e6d569fc56be00812904767bf5ccd1fc7f";

}  // namespace

TEST_CASE("parse_probe_node: enode means v4 and ENR means v5 unless told", "[control][probe]") {
  const std::string enode = std::string("enode://") + kEipPublicKey + "@10.0.0.1:30305";
  auto a = parse_probe_node(enode);
  REQUIRE(a);
  CHECK(a->protocol == disc::Protocol::kV4);
  CHECK(to_hex(a->target.public_key) == kEipPublicKey);
  CHECK(a->target.endpoint.to_string() == "10.0.0.1:30305");
  CHECK(parse_probe_node(enode, disc::Protocol::kV5)->protocol == disc::Protocol::kV5);

  auto b = parse_probe_node(kEipRecord);
  REQUIRE(b);
  CHECK(b->protocol == disc::Protocol::kV5);
  CHECK(b->target.endpoint.to_string() == "127.0.0.1:30303");
  CHECK(to_hex(b->target.public_key) == kEipPublicKey);
  CHECK(parse_probe_node(kEipRecord, disc::Protocol::kV4)->protocol == disc::Protocol::kV4);

  CHECK(parse_probe_node("nope").error() == "not an enode:// URL or an enr: record: nope");
  CHECK(parse_probe_node("enode://zz@1.2.3.4:1").error().starts_with("bad enode URL ("));
  CHECK(parse_probe_node("enr:!!").error().starts_with("bad ENR ("));
  // A record with no endpoint cannot be reached.
  crypto::PrivateKey key{};
  key[31] = 1;
  auto bare = enr::Builder().set_seq(1).sign(key);
  REQUIRE(bare);
  CHECK(parse_probe_node(enr::to_text(*bare)).error() ==
        "the ENR has no UDP endpoint (ip/udp or ip6/udp6)");

  CHECK(parse_protocol("v4") == disc::Protocol::kV4);
  CHECK(parse_protocol("discv5") == disc::Protocol::kV5);
  CHECK_FALSE(parse_protocol("v6"));
}

TEST_CASE("probe_json and probe_failure", "[control][probe]") {
  ProbeReport r;
  r.kind = disc::ProbeKind::kPing;
  r.outcome = disc::ProbeOutcome::kAnswered;
  r.protocol = disc::Protocol::kV4;
  r.id[0] = 0xab;
  r.elapsed_ns = 1'500'000;
  r.from = *Endpoint::parse("127.0.0.1:30303");
  r.reported = *Endpoint::parse("127.0.0.1:40000");
  r.enr_seq = 7;
  auto j = probe_json(r);
  CHECK(j["kind"] == "ping");
  CHECK(j["outcome"] == "answered");
  CHECK(j["protocol"] == "v4");
  CHECK(j["elapsed_ms"] == 1.5);
  CHECK(j["from"] == "127.0.0.1:30303");
  CHECK(j["reported"] == "127.0.0.1:40000");
  CHECK(j["enr_seq"] == 7);

  auto record = enr::parse_text(kEipRecord);
  REQUIRE(record);
  r.kind = disc::ProbeKind::kResolve;
  r.record.assign(record->raw().begin(), record->raw().end());
  j = probe_json(r);
  CHECK(j["enr"] == kEipRecord);
  CHECK(j["seq"] == 1);
  CHECK_FALSE(j.contains("reported"));

  r.kind = disc::ProbeKind::kTalk;
  r.talk_response = {0x01, 0xff};
  CHECK(probe_json(r)["response"] == "01ff");

  r.kind = disc::ProbeKind::kPing;
  r.outcome = disc::ProbeOutcome::kTimeout;
  r.elapsed_ns = 5'000'400'000;
  j = probe_json(r);
  CHECK(j["outcome"] == "timeout");
  CHECK_FALSE(j.contains("reported"));
  const Endpoint to = *Endpoint::parse("127.0.0.1:30303");
  CHECK(probe_failure(r, to) ==
        "no PONG from ab00000000000000 at 127.0.0.1:30303 (v4) within 5000 ms");
  r.outcome = disc::ProbeOutcome::kBusy;
  CHECK(probe_failure(r, to) ==
        "not sent to ab00000000000000 at 127.0.0.1:30303 (v4): too many probes in flight");
}
