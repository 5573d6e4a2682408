// The DPDK telemetry replies, built from a hand-made CoreSnapshot (no EAL): values, shapes and
// DPDK 22.11's limits (names of [A-Za-z0-9_/], strings under 128 characters, <= 256 entries).
#include "discplane/control/telemetry.h"

#include <catch2/catch.hpp>

#include "discplane/crypto/secp256k1.h"
#include "discplane/discovery/peer_table.h"
#include "discplane/wire/enode.h"
#include "discplane/wire/enr.h"

using namespace discplane;
using namespace discplane::control;

namespace {

bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > kTelemetryMaxString) {
    return false;
  }
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '/';
    if (!ok) {
      return false;
    }
  }
  return true;
}

// Every name valid, every string short enough, every dict within the entry limit.
void check_limits(const TelemetryReply& r) {
  CHECK(r.entries.size() <= kTelemetryMaxEntries);
  for (const auto& [name, value] : r.entries) {
    INFO(name);
    CHECK(valid_name(name));
    if (const auto* s = std::get_if<std::string>(&value)) {
      CHECK(s->size() <= kTelemetryMaxString);
    } else if (const auto* d = std::get_if<TelemetryDict>(&value)) {
      CHECK(d->size() <= kTelemetryMaxEntries);
      for (const auto& [key, v] : *d) {
        CHECK(valid_name(key));
        if (const auto* s = std::get_if<std::string>(&v)) {
          CHECK(s->size() <= kTelemetryMaxString);
        }
      }
    } else if (const auto* a = std::get_if<TelemetryStrings>(&value)) {
      for (const auto& piece : *a) {
        CHECK(piece.size() <= kTelemetryMaxString);
      }
    }
  }
}

std::string joined(const TelemetryReply& r, std::string_view name) {
  const TelemetryValue* v = r.find(name);
  REQUIRE(v != nullptr);
  REQUIRE(std::holds_alternative<TelemetryStrings>(*v));
  std::string out;
  for (const auto& piece : std::get<TelemetryStrings>(*v)) {
    out += piece;
  }
  return out;
}

crypto::PrivateKey key_of(std::uint8_t n) {
  crypto::PrivateKey key{};
  key.fill(n);
  key[0] = 0x21;
  return key;
}

PeerView peer(std::uint8_t n, std::uint8_t protocols, int distance) {
  PeerView p;
  auto pub = crypto::derive_public_key(key_of(n));
  REQUIRE(pub);
  p.public_key = *pub;
  p.id = crypto::node_id_of(*pub);
  p.endpoint4 = Endpoint{IpAddress::v4(10, 0, 0, n), static_cast<std::uint16_t>(30300 + n)};
  p.protocols = protocols;
  p.distance = distance;
  p.last_seen_ns = 1;
  p.checks_passed = n;
  return p;
}

CoreSnapshot snapshot() {
  CoreSnapshot s;
  s.sequence = 42;
  s.taken_mono_ns = 5'000'000'000;
  auto record =
      enr::Builder().set_seq(9).set_ip(IpAddress::v4(192, 0, 2, 7)).set_udp(30303).sign(key_of(1));
  REQUIRE(record);
  s.local_enr.assign(record->raw().begin(), record->raw().end());
  s.local_id = record->node_id();
  s.local_seq = 9;
  s.external_address_source = "config";
  s.peers.push_back(peer(2, disc::kFlagV4 | disc::kFlagV5, 255));
  s.peers.push_back(peer(3, disc::kFlagV4, 256));
  s.peers.push_back(peer(4, disc::kFlagV5, 256));
  s.peers[2].checks_failed = 1;  // not live
  s.replacements = 5;
  s.counters.rx_packets = 100;
  s.counters.rx_v4[1] = 7;  // ping
  s.counters.tx_v5[0] = 3;  // whoareyou
  s.counters.v5_handshakes_accepted = 2;
  s.counters.drop(disc::Drop::kV4Expired);
  s.counters.drop(disc::Drop::kV4Expired);
  s.counters.drop(disc::Drop::kTooSmall);
  s.sessions = 4;
  s.loop.rx_packets = 120;
  s.loop.busy_cycles = 1200;
  s.loop.drops = {{"not_for_us", 6}, {"tx refused", 1}};
  return s;
}

}  // namespace

TEST_CASE("telemetry stats carry the snapshot's counters", "[control][telemetry]") {
  const CoreSnapshot s = snapshot();
  const TelemetryReply r = telemetry_stats(s, 5'250'000'000);
  check_limits(r);
  CHECK(r.number("snapshot_sequence") == 42u);
  CHECK(r.number("snapshot_age_ms") == 250u);
  CHECK(r.number("up") == 1u);
  CHECK(r.number("engine", "rx_packets") == 100u);
  CHECK(r.number("rx_v4", "ping") == 7u);
  CHECK(r.number("tx_v5", "whoareyou") == 3u);
  CHECK(r.number("v5", "handshakes_accepted") == 2u);
  CHECK(r.number("v5", "sessions") == 4u);
  CHECK(r.number("drops", "v4_expired") == 2u);
  CHECK(r.number("drops", "too_small") == 1u);
  CHECK(r.number("drops_total") == 3u);
  CHECK(r.number("table", "entries") == 3u);
  CHECK(r.number("table", "v4") == 2u);
  CHECK(r.number("table", "v5") == 2u);
  CHECK(r.number("table", "live") == 2u);
  CHECK(r.number("table", "replacements") == 5u);
  CHECK(r.number("loop", "rx_packets") == 120u);
  CHECK(r.number("loop", "cycles_per_packet") == 10u);
  CHECK(r.number("loop_drops", "not_for_us") == 6u);
  CHECK(r.number("loop_drops", "tx_refused") == 1u);  // a name DPDK refuses is made valid
  CHECK(r.number("records", "local_seq") == 9u);
  // No clock, or a snapshot from the future: age 0, never a wrapped number.
  CHECK(telemetry_stats(s, 0).number("snapshot_age_ms") == 0u);
  CHECK(telemetry_stats(s, 1).number("snapshot_age_ms") == 0u);
}

TEST_CASE("telemetry peers: counts per protocol and bucket, closest first, bounded",
          "[control][telemetry]") {
  const CoreSnapshot s = snapshot();
  const TelemetryReply r = telemetry_peers(s, kTelemetryDefaultPeers);
  check_limits(r);
  CHECK(r.number("total") == 3u);
  CHECK(r.number("v4") == 2u);
  CHECK(r.number("v5") == 2u);
  CHECK(r.number("both") == 1u);
  CHECK(r.number("live") == 2u);
  CHECK(r.number("buckets", "255") == 1u);
  CHECK(r.number("buckets", "256") == 2u);
  CHECK(r.number("buckets_v4", "256") == 1u);
  CHECK(r.number("buckets_v5", "255") == 1u);
  CHECK(r.number("shown") == 3u);
  const std::string closest = "peer_" + to_hex(ByteView(s.peers[0].id).first(8));
  CHECK(r.number(closest, "distance") == 255u);
  const TelemetryValue* v = r.find(closest);
  REQUIRE(v != nullptr);
  const auto& d = std::get<TelemetryDict>(*v);
  CHECK(std::get<std::string>(d[0].second) == to_hex(s.peers[0].id));
  CHECK(std::get<std::string>(d[1].second) == "v4,v5");
  CHECK(std::get<std::string>(d[3].second) == "10.0.0.2:30302");

  const TelemetryReply one = telemetry_peers(s, 1);
  CHECK(one.number("shown") == 1u);
  CHECK(one.find(closest) != nullptr);  // distance 255 comes before the two at 256
  CHECK(one.entries.size() + 2 == r.entries.size());

  // Many peers: the reply stays within the limits whatever the table holds.
  CoreSnapshot big = s;
  for (int i = 0; i < 300; ++i) {
    PeerView p = s.peers[1];
    p.id[31] = static_cast<std::uint8_t>(i);
    p.id[30] = static_cast<std::uint8_t>(i >> 8);
    p.distance = 1 + i % 256;
    big.peers.push_back(p);
  }
  const TelemetryReply many = telemetry_peers(big, kTelemetryMaxPeers);
  check_limits(many);
  CHECK(many.number("shown") == kTelemetryMaxPeers);
}

TEST_CASE("telemetry peer limit parameter", "[control][telemetry]") {
  CHECK(parse_telemetry_peer_limit("") == kTelemetryDefaultPeers);
  CHECK(parse_telemetry_peer_limit("0") == 0u);
  CHECK(parse_telemetry_peer_limit("32") == 32u);
  CHECK_FALSE(parse_telemetry_peer_limit("33"));
  CHECK_FALSE(parse_telemetry_peer_limit("-1"));
  CHECK_FALSE(parse_telemetry_peer_limit("5x"));
  CHECK_FALSE(parse_telemetry_peer_limit("abc"));
}

TEST_CASE("telemetry node: id, address and the ENR and enode in pieces", "[control][telemetry]") {
  const CoreSnapshot s = snapshot();
  const Endpoint bound{IpAddress::v4(192, 0, 2, 7), 30303};
  const TelemetryReply r = telemetry_node(s, bound);
  check_limits(r);
  auto record = enr::decode(s.local_enr);
  REQUIRE(record);
  const std::string enr_text = enr::to_text(*record);
  auto url = enode::from_record(*record);
  REQUIRE(url);
  CHECK(enr_text.size() > kTelemetryMaxString);  // why it comes in pieces
  CHECK(joined(r, "enr") == enr_text);
  CHECK(joined(r, "enode") == *url);
  CHECK(telemetry_enr(s) == enr_text);
  CHECK(telemetry_enode(s, bound) == *url);
  CHECK(r.number("seq") == 9u);
  CHECK(r.number("udp") == 30303u);
  CHECK(std::get<std::string>(*r.find("id")) == to_hex(s.local_id));
  CHECK(std::get<std::string>(*r.find("ip")) == "192.0.2.7");

  // Nothing published yet: empty strings, no pieces, no crash.
  const CoreSnapshot empty;
  CHECK(telemetry_enr(empty).empty());
  CHECK(telemetry_enode(empty, bound).empty());
  CHECK(joined(telemetry_node(empty, bound), "enr").empty());
}

TEST_CASE("telemetry strings split at the DPDK string limit", "[control][telemetry]") {
  CHECK(split_telemetry_string("").empty());
  const std::string text(kTelemetryMaxString * 2 + 1, 'x');
  const TelemetryStrings pieces = split_telemetry_string(text);
  REQUIRE(pieces.size() == 3);
  CHECK(pieces[0].size() == kTelemetryMaxString);
  CHECK(pieces[2] == "x");
}
