#include "discplane/discovery/lru_map.h"

#include <map>
#include <random>

#include <catch2/catch.hpp>

using discplane::disc::FixedLruMap;

TEST_CASE("FixedLruMap evicts the least recently used entry", "[lru]") {
  FixedLruMap<int, int> m(3);
  REQUIRE(m.insert(1, 10).inserted);
  REQUIRE(m.insert(2, 20).inserted);
  REQUIRE(m.insert(3, 30).inserted);
  REQUIRE(m.find(1) != nullptr);  // 1 becomes most recent; 2 is now the oldest
  auto r = m.insert(4, 40);
  REQUIRE(r.evicted);
  REQUIRE(r.evicted_key == 2);
  REQUIRE(m.peek(2) == nullptr);
  REQUIRE(*m.peek(1) == 10);
  REQUIRE(m.size() == 3);
  auto again = m.insert(4, 41);  // replace, no eviction
  REQUIRE_FALSE(again.inserted);
  REQUIRE_FALSE(again.evicted);
  REQUIRE(*m.peek(4) == 41);
}

TEST_CASE("FixedLruMap erase and erase_if keep the structure consistent", "[lru]") {
  FixedLruMap<int, int> m(8);
  for (int i = 0; i < 8; ++i) {
    (void)m.insert(i, i * i);
  }
  REQUIRE(m.erase(3));
  REQUIRE_FALSE(m.erase(3));
  m.erase_if([](int k, int&) { return k % 2 == 0; });
  REQUIRE(m.size() == 3);  // 1, 5, 7
  int sum = 0;
  m.for_each([&](int k, int) { sum += k; });
  REQUIRE(sum == 13);
  auto oldest = m.oldest();
  REQUIRE(oldest);
  REQUIRE(*oldest->first == 1);
}

TEST_CASE("FixedLruMap agrees with a reference model under random operations", "[lru]") {
  constexpr std::uint32_t kCap = 64;
  FixedLruMap<std::uint32_t, std::uint32_t> m(kCap);
  std::map<std::uint32_t, std::uint32_t> ref;
  std::vector<std::uint32_t> order;  // recency, most recent last
  std::mt19937 rng(7);
  auto touch = [&](std::uint32_t k) {
    std::erase(order, k);
    order.push_back(k);
  };
  for (int step = 0; step < 20000; ++step) {
    const std::uint32_t k = rng() % 200;
    switch (rng() % 3) {
      case 0: {
        auto r = m.insert(k, step);
        if (!ref.count(k) && ref.size() == kCap) {
          REQUIRE(r.evicted);
          REQUIRE(r.evicted_key == order.front());
          ref.erase(order.front());
          order.erase(order.begin());
        } else {
          REQUIRE_FALSE(r.evicted);
        }
        ref[k] = step;
        touch(k);
        break;
      }
      case 1: {
        auto* v = m.find(k);
        REQUIRE((v != nullptr) == (ref.count(k) == 1));
        if (v) {
          REQUIRE(*v == ref[k]);
          touch(k);
        }
        break;
      }
      default: {
        REQUIRE(m.erase(k) == (ref.erase(k) == 1));
        std::erase(order, k);
      }
    }
    REQUIRE(m.size() == ref.size());
  }
}

namespace {
// Counts live objects, so the test sees exactly when the map constructs and destroys values.
struct Tracked {
  static inline int live = 0;
  static inline int destroyed = 0;
  explicit Tracked(int v) : value(v) { ++live; }  // no default constructor: never needed
  Tracked(const Tracked& o) : value(o.value) { ++live; }
  Tracked(Tracked&& o) noexcept : value(o.value) { ++live; }
  Tracked& operator=(const Tracked&) = default;
  Tracked& operator=(Tracked&&) noexcept = default;
  ~Tracked() {
    --live;
    ++destroyed;
  }
  int value;
};
// A value laid out like a session: cache-line aligned, larger than a line.
struct alignas(64) Wide {
  std::uint64_t words[40]{};
};
}  // namespace

TEST_CASE("FixedLruMap constructs a value on insert and destroys it on erase or eviction",
          "[lru]") {
  Tracked::live = 0;
  {
    FixedLruMap<int, Tracked> m(2);
    REQUIRE(Tracked::live == 0);  // capacity is reserved, nothing is constructed
    (void)m.insert(1, Tracked(10));
    (void)m.insert(2, Tracked(20));
    REQUIRE(Tracked::live == 2);
    Tracked::destroyed = 0;
    auto r = m.insert(3, Tracked(30));  // evicts 1
    REQUIRE(r.evicted);
    REQUIRE(r.evicted_key == 1);
    REQUIRE(Tracked::live == 2);
    REQUIRE(Tracked::destroyed == 2);  // the evicted value and the by-value argument
    REQUIRE(r.value->value == 30);
    (void)m.insert(3, Tracked(31));  // replaced in place
    REQUIRE(Tracked::live == 2);
    REQUIRE(m.peek(3)->value == 31);
    REQUIRE(m.erase(2));
    REQUIRE(Tracked::live == 1);
    m.erase_if([](int, Tracked& t) { return t.value == 31; });
    REQUIRE(Tracked::live == 0);
    (void)m.insert(4, Tracked(40));
    REQUIRE(Tracked::live == 1);
  }
  REQUIRE(Tracked::live == 0);  // the map's destructor destroys what it still holds
}

TEST_CASE("FixedLruMap keeps over-aligned values aligned and reports what it reserves", "[lru]") {
  FixedLruMap<std::uint32_t, Wide> m(100);
  for (std::uint32_t k = 0; k < 250; ++k) {
    Wide w;
    w.words[0] = k;
    w.words[39] = ~std::uint64_t{k};
    Wide* v = m.insert(k, w).value;
    REQUIRE(reinterpret_cast<std::uintptr_t>(v) % 64 == 0);
  }
  REQUIRE(m.size() == 100);
  for (std::uint32_t k = 150; k < 250; ++k) {  // the 100 most recent survived, intact
    const Wide* v = m.peek(k);
    REQUIRE(v != nullptr);
    REQUIRE(v->words[0] == k);
    REQUIRE(v->words[39] == ~std::uint64_t{k});
  }
  REQUIRE(m.peek(149) == nullptr);
  // Entries (key padded to a line + 320-byte value), 12-byte links, 256 buckets of 4 bytes.
  REQUIRE(m.reserved_bytes() == 100 * (64 + sizeof(Wide) + 12) + 256 * 4);
}
