// NodeId distance helpers: log distance edges, ordering, random ids at a distance.
#include "discplane/discovery/node_id.h"

#include <algorithm>

#include <catch2/catch.hpp>

#include "discplane/crypto/random.h"

using namespace discplane;
using namespace discplane::disc;

namespace {

NodeId random_id(crypto::RandomSource& rng) {
  NodeId id;
  rng.fill(id);
  return id;
}

// Reference log distance, bit by bit.
int slow_log_distance(const NodeId& a, const NodeId& b) {
  for (int byte = 0; byte < 32; ++byte) {
    const std::uint8_t x = a[byte] ^ b[byte];
    for (int bit = 7; bit >= 0; --bit) {
      if (x & (1u << bit)) {
        return (31 - byte) * 8 + bit + 1;
      }
    }
  }
  return 0;
}

}  // namespace

TEST_CASE("log_distance edge cases", "[discovery][node_id]") {
  NodeId a{};
  NodeId b{};
  CHECK(log_distance(a, b) == 0);

  b[0] = 0x80;  // top bit differs
  CHECK(log_distance(a, b) == 256);
  CHECK(log_distance(b, a) == 256);

  b = {};
  b[31] = 0x01;  // lowest bit differs
  CHECK(log_distance(a, b) == 1);

  b = {};
  b[24] = 0x01;  // lowest bit of the third 64-bit word: crosses a word boundary
  CHECK(log_distance(a, b) == 57);
  b = {};
  b[23] = 0x80;
  CHECK(log_distance(a, b) == 72);

  a.fill(0xff);
  b.fill(0xff);
  CHECK(log_distance(a, b) == 0);
  b[16] = 0xfe;
  CHECK(log_distance(a, b) == 121);
}

TEST_CASE("log_distance matches a bitwise reference", "[discovery][node_id]") {
  crypto::DeterministicRandom rng(7);
  for (int i = 0; i < 500; ++i) {
    NodeId a = random_id(rng);
    NodeId b = a;
    // Flip a random suffix so every distance range is exercised.
    const int from = static_cast<int>(rng.next_u64() % 32);
    for (int j = from; j < 32; ++j) {
      b[j] = static_cast<std::uint8_t>(rng.next_u64());
    }
    REQUIRE(log_distance(a, b) == slow_log_distance(a, b));
  }
}

TEST_CASE("compare_distance orders by XOR distance", "[discovery][node_id]") {
  NodeId target{};
  NodeId near{};
  NodeId far{};
  near[31] = 0x01;
  far[0] = 0x01;
  CHECK(compare_distance(target, near, far) < 0);
  CHECK(compare_distance(target, far, near) > 0);
  CHECK(compare_distance(target, near, near) == 0);

  // Brute force: ordering equals lexicographic order of the XOR bytes.
  crypto::DeterministicRandom rng(11);
  for (int i = 0; i < 300; ++i) {
    const NodeId t = random_id(rng);
    NodeId x = random_id(rng);
    NodeId y = random_id(rng);
    if (i % 3 == 0) {
      y = x;
      y[31 - i % 32] ^= 0x10;  // close pair: differ in one byte only
    }
    const NodeId dx = xor_distance(t, x);
    const NodeId dy = xor_distance(t, y);
    const int expected = dx < dy ? -1 : (dx == dy ? 0 : 1);
    const int got = compare_distance(t, x, y);
    REQUIRE((got < 0 ? -1 : got > 0 ? 1 : 0) == expected);
  }
}

TEST_CASE("random_id_at_distance lands at that distance", "[discovery][node_id]") {
  crypto::DeterministicRandom rng(3);
  const NodeId base = random_id(rng);
  CHECK(random_id_at_distance(base, 0, rng) == base);
  for (int d = 1; d <= 256; ++d) {
    for (int rep = 0; rep < 4; ++rep) {
      const NodeId id = random_id_at_distance(base, d, rng);
      REQUIRE(log_distance(base, id) == d);
    }
  }
  // Random below the top bit: two draws at a high distance differ.
  CHECK(random_id_at_distance(base, 200, rng) != random_id_at_distance(base, 200, rng));
  // Out of range distances are clamped.
  CHECK(log_distance(base, random_id_at_distance(base, 999, rng)) == 256);
}
