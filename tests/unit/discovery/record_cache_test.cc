// RecordCache (dataplane/discovery/record_cache.h): verified records found again by content,
// never by (id, seq) alone; bad records are never cached; LRU at capacity. And the engine's
// use of it: records seen again in NODES cost no signature check.
#include "dataplane/discovery/record_cache.h"

#include <catch2/catch.hpp>

#include "discplane/crypto/secp256k1.h"
#include "discplane/discovery/server.h"
#include "discplane/wire/enr.h"

#include "unit/discovery/engine_harness.h"

using namespace discplane;
using namespace discplane::disc;
using discplane::test::FakeClock;

namespace {

crypto::PrivateKey key_of(std::uint8_t b) {
  crypto::PrivateKey k{};
  k.fill(b);
  return k;
}

Bytes record_bytes(std::uint8_t key, std::uint64_t seq, std::uint8_t ip_last) {
  enr::Builder b;
  b.set_seq(seq).set_ip(IpAddress::v4(127, 0, 0, ip_last)).set_udp(30303);
  auto r = b.sign(key_of(key));
  REQUIRE(r);
  return Bytes(r->raw().begin(), r->raw().end());
}

}  // namespace

TEST_CASE("record cache: a record seen again is a hit, with the same decoded record",
          "[discovery][record_cache]") {
  RecordCache cache(16);
  const Bytes a = record_bytes(1, 5, 1);
  auto first = cache.decode(a);
  REQUIRE(first);
  CHECK(cache.misses() == 1);
  CHECK(cache.hits() == 0);
  auto again = cache.decode(a);
  REQUIRE(again);
  CHECK(cache.hits() == 1);
  CHECK(*again == *first);
  CHECK(again->node_id() == first->node_id());
  CHECK(again->seq() == 5);
  CHECK(again->ip() == IpAddress::v4(127, 0, 0, 1));
}

TEST_CASE("record cache: other bytes under a known id and seq are verified as new",
          "[discovery][record_cache]") {
  RecordCache cache(16);
  const Bytes a = record_bytes(1, 5, 1);
  REQUIRE(cache.decode(a));
  // Same key and seq, another address: a different record, decoded and verified.
  const Bytes b = record_bytes(1, 5, 2);
  auto other = cache.decode(b);
  REQUIRE(other);
  CHECK(cache.misses() == 2);
  CHECK(other->ip() == IpAddress::v4(127, 0, 0, 2));
  // A's bytes with a flipped signature byte: refused, not cached, A still a hit.
  Bytes forged = a;
  forged[5] ^= 0x01;  // inside the 64-byte signature (after the list and string headers)
  auto bad = cache.decode(forged);
  CHECK_FALSE(bad);
  CHECK_FALSE(cache.decode(forged));
  CHECK(cache.misses() == 4);  // each try verified again: refusals are not remembered
  CHECK(cache.size() == 2);
  CHECK(cache.decode(a));
  CHECK(cache.hits() == 1);
  // Bytes that are no record at all.
  const Bytes junk{0xc0};
  CHECK_FALSE(cache.decode(junk));
  CHECK(cache.size() == 2);
}

TEST_CASE("record cache: full, the least recently used record goes", "[discovery][record_cache]") {
  RecordCache cache(2);
  const Bytes a = record_bytes(1, 1, 1);
  const Bytes b = record_bytes(2, 1, 1);
  const Bytes c = record_bytes(3, 1, 1);
  REQUIRE(cache.decode(a));
  REQUIRE(cache.decode(b));
  REQUIRE(cache.decode(a));  // a is now the most recent
  CHECK(cache.hits() == 1);
  REQUIRE(cache.decode(c));  // evicts b
  CHECK(cache.size() == 2);
  REQUIRE(cache.decode(a));
  CHECK(cache.hits() == 2);
  REQUIRE(cache.decode(b));  // verified again
  CHECK(cache.misses() == 4);
}

TEST_CASE("v5: records seen again in NODES come from the cache of verified records",
          "[engine][v5][record_cache]") {
  FakeClock clock;
  test::Network net(clock);
  std::vector<test::Node*> nodes;
  for (int i = 0; i < 8; ++i) {
    nodes.push_back(&net.add(test::loopback(static_cast<std::uint16_t>(32100 + i)), 120 + i,
                             test::loopback_testnet()));
  }
  for (int i = 1; i < 8; ++i) {
    net.send(*nodes[i], msg::AddSeed{test::seed_of(*nodes[0], kFlagV5)});
    net.send(*nodes[i], msg::Revalidate{Protocol::kV5});
  }
  net.deliver_all();
  REQUIRE(nodes[0]->server->table().size() == 7);

  test::Node& asker = *nodes[7];
  net.send(asker, msg::Lookup{Protocol::kV5, nodes[3]->id(), 1});
  net.run_for_ms(5'000);
  REQUIRE(asker.server->counters().lookups_done == 1);
  const Counters first = asker.server->counters();
  CHECK(first.record_cache_misses >= 1);
  const std::uint64_t records_in = first.record_cache_hits + first.record_cache_misses;

  // The same lookup again: the same records arrive, and none is verified twice.
  net.send(asker, msg::Lookup{Protocol::kV5, nodes[3]->id(), 2});
  net.run_for_ms(5'000);
  REQUIRE(asker.server->counters().lookups_done == 2);
  const Counters second = asker.server->counters();
  CHECK(second.record_cache_hits > first.record_cache_hits);
  CHECK(second.record_cache_misses == first.record_cache_misses);
  CHECK(second.record_cache_hits + second.record_cache_misses > records_in);
}
