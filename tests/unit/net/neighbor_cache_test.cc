// NeighborCache: resolution, pending queues, retries, expiry, static entries, capacity.
#include "discplane/net/neighbor_cache.h"

#include <vector>

#include <catch2/catch.hpp>

using namespace discplane;
using namespace discplane::net;

namespace {
IpAddress ip(const char* text) {
  return *IpAddress::parse(text);
}
const MacAddress kMacA{2, 0, 0, 0, 0, 0xa};
const MacAddress kMacB{2, 0, 0, 0, 0, 0xb};
constexpr std::int64_t kSec = 1'000'000'000;
}  // namespace

TEST_CASE("neighbor cache: miss queues, first miss asks for a request, learn flushes",
          "[neighbor]") {
  NeighborCache<int, 4> cache;
  MacAddress mac{};
  CHECK(cache.resolve(ip("10.0.0.1"), 0, 1, mac) == NeighborLookup::kSendRequest);
  CHECK(cache.resolve(ip("10.0.0.1"), 1, 2, mac) == NeighborLookup::kQueued);
  CHECK(cache.pending(ip("10.0.0.1")) == 2);
  CHECK_FALSE(cache.find(ip("10.0.0.1"), 1));
  std::vector<std::pair<int, MacAddress>> sent;
  const auto n = cache.learn(ip("10.0.0.1"), kMacA, 10,
                             [&](int p, const MacAddress& m) { sent.emplace_back(p, m); });
  CHECK(n == 2);
  REQUIRE(sent.size() == 2);
  CHECK(sent[0] == std::make_pair(1, kMacA));
  CHECK(sent[1] == std::make_pair(2, kMacA));
  CHECK(cache.pending(ip("10.0.0.1")) == 0);
  CHECK(cache.resolve(ip("10.0.0.1"), 20, 3, mac) == NeighborLookup::kResolved);
  CHECK(mac == kMacA);
  // IPv6 next hops live in the same cache.
  CHECK(cache.resolve(ip("fd00::1"), 20, 4, mac) == NeighborLookup::kSendRequest);
  CHECK(cache.size() == 2);
}

TEST_CASE("neighbor cache: pending queue is bounded per next hop", "[neighbor]") {
  NeighborCache<int, 3> cache;
  MacAddress mac{};
  CHECK(cache.resolve(ip("10.0.0.1"), 0, 1, mac) == NeighborLookup::kSendRequest);
  CHECK(cache.resolve(ip("10.0.0.1"), 0, 2, mac) == NeighborLookup::kQueued);
  CHECK(cache.resolve(ip("10.0.0.1"), 0, 3, mac) == NeighborLookup::kQueued);
  CHECK(cache.resolve(ip("10.0.0.1"), 0, 4, mac) == NeighborLookup::kQueueFull);
  CHECK(cache.pending(ip("10.0.0.1")) == 3);
}

TEST_CASE("neighbor cache: retries, then gives up and drops the queue", "[neighbor]") {
  NeighborCacheConfig config;
  config.retry_ns = kSec;
  config.max_requests = 3;
  NeighborCache<int, 4> cache(config);
  MacAddress mac{};
  REQUIRE(cache.resolve(ip("10.0.0.1"), 0, 7, mac) == NeighborLookup::kSendRequest);
  std::vector<IpAddress> requests;
  std::vector<int> dropped;
  auto tick = [&](std::int64_t now) {
    cache.tick(
        now, [&](const IpAddress& a) { requests.push_back(a); },
        [&](int p) { dropped.push_back(p); });
  };
  tick(kSec / 2);
  CHECK(requests.empty());
  tick(kSec);
  CHECK(requests.size() == 1);
  tick(2 * kSec);
  CHECK(requests.size() == 2);
  CHECK(dropped.empty());
  tick(3 * kSec);  // third request was the last allowed
  CHECK(requests.size() == 2);
  REQUIRE(dropped.size() == 1);
  CHECK(dropped[0] == 7);
  CHECK(cache.size() == 0);
  CHECK(requests[0] == ip("10.0.0.1"));
}

TEST_CASE("neighbor cache: learned entries expire, static ones do not", "[neighbor]") {
  NeighborCacheConfig config;
  config.reachable_ns = 10 * kSec;
  NeighborCache<int, 4> cache(config);
  REQUIRE(cache.set_static(ip("10.0.0.254"), kMacB));
  (void)cache.learn(ip("10.0.0.1"), kMacA, 0, [](int, const MacAddress&) {});
  CHECK(cache.find(ip("10.0.0.1"), 9 * kSec) == kMacA);
  CHECK_FALSE(cache.find(ip("10.0.0.1"), 10 * kSec));
  MacAddress mac{};
  CHECK(cache.resolve(ip("10.0.0.1"), 11 * kSec, 1, mac) == NeighborLookup::kSendRequest);
  CHECK(cache.find(ip("10.0.0.254"), 1000 * kSec) == kMacB);
  // A learned MAC does not override the configured one.
  (void)cache.learn(ip("10.0.0.254"), kMacA, 0, [](int, const MacAddress&) {});
  CHECK(cache.find(ip("10.0.0.254"), 0) == kMacB);
  cache.tick(
      1000 * kSec, [](const IpAddress&) {}, [](int) {});
  CHECK(cache.find(ip("10.0.0.254"), 1000 * kSec) == kMacB);
}

TEST_CASE("neighbor cache: fixed capacity, expired entries are reused", "[neighbor]") {
  NeighborCacheConfig config;
  config.capacity = 2;
  config.reachable_ns = 10 * kSec;
  NeighborCache<int, 2> cache(config);
  CHECK(cache.capacity() == 2);
  (void)cache.learn(ip("10.0.0.1"), kMacA, 0, [](int, const MacAddress&) {});
  MacAddress mac{};
  CHECK(cache.resolve(ip("10.0.0.2"), 0, 1, mac) == NeighborLookup::kSendRequest);
  CHECK(cache.resolve(ip("10.0.0.3"), 1, 2, mac) == NeighborLookup::kCacheFull);
  CHECK_FALSE(cache.set_static(ip("10.0.0.4"), kMacB));
  // After 10.0.0.1 expires its slot is taken; the pending entry is never evicted.
  CHECK(cache.resolve(ip("10.0.0.3"), 11 * kSec, 3, mac) == NeighborLookup::kSendRequest);
  CHECK(cache.pending(ip("10.0.0.2")) == 1);
  CHECK(cache.size() == 2);
}
