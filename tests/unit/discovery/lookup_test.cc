// Lookup state machine: convergence on a synthetic Kademlia network, failures, timeouts,
// concurrency limit, late and unknown answers, candidate capacity, lookup_distances.
#include "discplane/discovery/lookup.h"

#include <algorithm>
#include <limits>
#include <set>
#include <vector>

#include <catch2/catch.hpp>

#include "discplane/crypto/random.h"
#include "discplane/discovery/node_id.h"

using namespace discplane;
using namespace discplane::disc;

namespace {

constexpr std::int64_t kMs = 1'000'000;

NodeId random_id(crypto::RandomSource& rng) {
  NodeId id;
  rng.fill(id);
  return id;
}

LookupPeer peer(const NodeId& id) {
  return LookupPeer{id, Endpoint{IpAddress::v4(10, 0, 0, 1), 1}};
}

// N nodes; node i knows, for each log distance, the first 16 nodes (by index) at that
// distance from it: a full Kademlia table without churn. A queried node answers with the
// 16 nodes it knows closest to the target.
struct Network {
  std::vector<NodeId> ids;
  std::vector<std::vector<std::size_t>> known;

  Network(std::size_t n, crypto::RandomSource& rng) {
    for (std::size_t i = 0; i < n; ++i) {
      ids.push_back(random_id(rng));
    }
    known.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      std::vector<int> per_bucket(257, 0);
      for (std::size_t j = 0; j < n; ++j) {
        const int d = log_distance(ids[i], ids[j]);
        if (d > 0 && per_bucket[d]++ < 16) {
          known[i].push_back(j);
        }
      }
    }
  }
  std::size_t index(const NodeId& id) const {
    return static_cast<std::size_t>(std::find(ids.begin(), ids.end(), id) - ids.begin());
  }
  std::vector<LookupPeer> closest_known(std::size_t i, const NodeId& target, std::size_t k) const {
    std::vector<std::size_t> v = known[i];
    std::sort(v.begin(), v.end(), [&](std::size_t a, std::size_t b) {
      return compare_distance(target, ids[a], ids[b]) < 0;
    });
    std::vector<LookupPeer> out;
    for (std::size_t j = 0; j < v.size() && j < k; ++j) {
      out.push_back(peer(ids[v[j]]));
    }
    return out;
  }
  // Brute force: the k nodes closest to target among those accepted by `alive`.
  template <class Alive>
  std::vector<NodeId> true_closest(const NodeId& target, std::size_t k, Alive alive) const {
    std::vector<NodeId> v;
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (alive(i)) {
        v.push_back(ids[i]);
      }
    }
    std::sort(v.begin(), v.end(),
              [&](const NodeId& a, const NodeId& b) { return compare_distance(target, a, b) < 0; });
    v.resize(std::min(k, v.size()));
    return v;
  }
};

enum class Behaviour { kAnswer, kTimeout, kFail };

// Drives a lookup to the end; returns its result. `behaviour(i)` decides each node.
template <class Behave>
std::vector<NodeId> drive(Lookup& lookup, const Network& net, Behave behaviour,
                          std::size_t* max_in_flight = nullptr) {
  std::int64_t now = 0;
  std::array<LookupPeer, 8> batch{};
  for (int guard = 0; guard < 10'000 && !lookup.done(); ++guard) {
    const std::size_t n = lookup.next(now, batch);
    if (max_in_flight != nullptr) {
      *max_in_flight = std::max(*max_in_flight, lookup.in_flight());
    }
    for (std::size_t q = 0; q < n; ++q) {
      const std::size_t i = net.index(batch[q].id);
      switch (behaviour(i)) {
        case Behaviour::kAnswer: {
          const auto found = net.closest_known(i, lookup.target(), 16);
          REQUIRE(lookup.on_response(batch[q].id, found) == LookupResponse::kAccepted);
          break;
        }
        case Behaviour::kFail:
          lookup.on_failure(batch[q].id);
          break;
        case Behaviour::kTimeout:
          break;  // never answers
      }
    }
    if (n == 0 && !lookup.done()) {     // next() may have expired the last queries
      REQUIRE(lookup.in_flight() > 0);  // otherwise it would be done
      now = lookup.next_deadline();
    }
  }
  REQUIRE(lookup.done());
  std::array<LookupPeer, 16> out{};
  const std::size_t n = lookup.result(out);
  std::vector<NodeId> ids;
  for (std::size_t i = 0; i < n; ++i) {
    ids.push_back(out[i].id);
  }
  return ids;
}

}  // namespace

TEST_CASE("lookup converges on the true k closest in a synthetic network", "[discovery][lookup]") {
  crypto::DeterministicRandom rng(1234);
  const Network net(400, rng);
  const std::size_t local = 0;
  for (int round = 0; round < 25; ++round) {
    const NodeId target = round == 0 ? net.ids[local] : random_id(rng);  // round 0: self-lookup
    const auto seeds = net.closest_known(local, target, 16);
    Lookup lookup(target, net.ids[local], seeds);
    std::size_t max_in_flight = 0;
    const auto result = drive(
        lookup, net, [](std::size_t) { return Behaviour::kAnswer; }, &max_in_flight);
    const auto expected = net.true_closest(target, 16, [&](std::size_t i) { return i != local; });
    REQUIRE(result == expected);
    CHECK(max_in_flight <= 3);
    CHECK(lookup.stats().queries >= 16);
    CHECK(lookup.stats().timeouts == 0);
  }
}

TEST_CASE("lookup routes around failing and silent peers", "[discovery][lookup]") {
  crypto::DeterministicRandom rng(99);
  const Network net(400, rng);
  const std::size_t local = 0;
  // Every 4th node never answers, every 7th fails at once.
  const auto behaviour = [](std::size_t i) {
    return i % 4 == 1 ? Behaviour::kTimeout : i % 7 == 2 ? Behaviour::kFail : Behaviour::kAnswer;
  };
  const auto live = [&](std::size_t i) { return i != local && behaviour(i) == Behaviour::kAnswer; };
  std::uint32_t timeouts = 0;
  std::uint32_t failures = 0;
  for (int round = 0; round < 15; ++round) {
    const NodeId target = random_id(rng);
    const auto expected_live = net.true_closest(target, 16, live);
    const auto global = net.true_closest(target, 16, [&](std::size_t i) { return i != local; });

    {  // Answers still name the dead nodes.
      // Nobody reports nodes beyond the global 16 closest, so the lookup cannot be asked to
      // find live ones out there; it must return only answering nodes, closest first, and
      // every live node among the global 16.
      Lookup lookup(target, net.ids[local], net.closest_known(local, target, 16));
      const auto result = drive(lookup, net, behaviour);
      REQUIRE(!result.empty());
      for (std::size_t i = 0; i < result.size(); ++i) {
        REQUIRE(live(net.index(result[i])));
        if (i > 0) {
          REQUIRE(compare_distance(target, result[i - 1], result[i]) < 0);
        }
      }
      for (const NodeId& id : global) {
        if (live(net.index(id))) {
          REQUIRE(std::find(result.begin(), result.end(), id) != result.end());
        }
      }
      timeouts += lookup.stats().timeouts;
      failures += lookup.stats().failures;
    }
    {  // Dead nodes are seeds only (the answering nodes' tables already purged them).
      Lookup lookup(target, net.ids[local], net.closest_known(local, target, 16));
      std::int64_t now = 0;
      std::array<LookupPeer, 8> batch{};
      for (int guard = 0; guard < 10'000 && !lookup.done(); ++guard) {
        const std::size_t n = lookup.next(now, batch);
        for (std::size_t q = 0; q < n; ++q) {
          const std::size_t i = net.index(batch[q].id);
          if (behaviour(i) == Behaviour::kFail) {
            lookup.on_failure(batch[q].id);
          } else if (behaviour(i) == Behaviour::kAnswer) {
            std::vector<LookupPeer> found;
            for (const LookupPeer& p : net.closest_known(i, target, 64)) {
              if (live(net.index(p.id)) && found.size() < 16) {
                found.push_back(p);
              }
            }
            REQUIRE(lookup.on_response(batch[q].id, found) == LookupResponse::kAccepted);
          }
        }
        if (n == 0) {
          now = lookup.next_deadline();
        }
      }
      REQUIRE(lookup.done());
      std::array<LookupPeer, 16> out{};
      const std::size_t n = lookup.result(out);
      std::vector<NodeId> result;
      for (std::size_t i = 0; i < n; ++i) {
        result.push_back(out[i].id);
      }
      REQUIRE(result == expected_live);
    }
  }
  CHECK(timeouts > 0);
  CHECK(failures > 0);
}

TEST_CASE("lookup bookkeeping: alpha, timeouts, late and unknown answers", "[discovery][lookup]") {
  crypto::DeterministicRandom rng(5);
  const NodeId target = random_id(rng);
  const NodeId local = random_id(rng);
  std::vector<LookupPeer> seeds;
  for (int i = 0; i < 5; ++i) {
    seeds.push_back(peer(random_id(rng)));
  }
  seeds.push_back(peer(local));    // never queried
  seeds.push_back(seeds.front());  // duplicate
  LookupConfig cfg;
  cfg.request_timeout_ns = 500 * kMs;
  Lookup lookup(target, local, seeds, cfg);
  CHECK_FALSE(lookup.done());

  std::array<LookupPeer, 8> out{};
  REQUIRE(lookup.next(0, out) == 3);  // alpha
  // The closest three are queried first.
  std::vector<LookupPeer> sorted(seeds.begin(), seeds.begin() + 5);
  std::sort(sorted.begin(), sorted.end(), [&](const LookupPeer& a, const LookupPeer& b) {
    return compare_distance(target, a.id, b.id) < 0;
  });
  for (int i = 0; i < 3; ++i) {
    CHECK(out[i].id == sorted[i].id);
  }
  CHECK(lookup.next(1, out) == 0);  // all three slots busy
  CHECK(lookup.next_deadline() == 500 * kMs);

  const NodeId stranger = random_id(rng);
  CHECK(lookup.on_response(stranger, {}) == LookupResponse::kUnknownPeer);
  CHECK(lookup.on_response(sorted[4].id, {}) == LookupResponse::kUnknownPeer);  // not queried
  CHECK(lookup.on_response(sorted[0].id, {}) == LookupResponse::kAccepted);
  CHECK(lookup.on_response(sorted[0].id, {}) == LookupResponse::kUnknownPeer);  // twice
  lookup.on_failure(sorted[1].id);
  CHECK(lookup.in_flight() == 1);

  // Two slots free: the remaining two seeds go out.
  REQUIRE(lookup.next(2, out) == 2);
  // sorted[2] (sent at 0) times out at 500 ms; the two sent at 2 ns still wait.
  CHECK(lookup.next(500 * kMs, out) == 0);
  CHECK(lookup.stats().timeouts == 1);
  CHECK(lookup.in_flight() == 2);
  // It answers late: accepted as a result, reported as late.
  CHECK(lookup.on_response(sorted[2].id, {}) == LookupResponse::kLate);
  // A failed peer that answers later is still unknown (it was not a timeout).
  CHECK(lookup.on_response(sorted[1].id, {}) == LookupResponse::kUnknownPeer);
  CHECK_FALSE(lookup.done());
  CHECK(lookup.on_response(sorted[3].id, {}) == LookupResponse::kAccepted);
  CHECK(lookup.on_response(sorted[4].id, {}) == LookupResponse::kAccepted);
  CHECK(lookup.done());
  CHECK(lookup.next_deadline() == std::numeric_limits<std::int64_t>::max());

  std::array<LookupPeer, 16> res{};
  REQUIRE(lookup.result(res) == 4);
  CHECK(res[0].id == sorted[0].id);
  CHECK(res[1].id == sorted[2].id);
  CHECK(res[2].id == sorted[3].id);
  CHECK(res[3].id == sorted[4].id);

  Lookup empty(target, local, {});
  CHECK(empty.done());
  CHECK(empty.next(0, out) == 0);
}

TEST_CASE("lookup keeps the closest candidates within its capacity", "[discovery][lookup]") {
  crypto::DeterministicRandom rng(8);
  const NodeId target = random_id(rng);
  const NodeId local = random_id(rng);
  LookupConfig cfg;
  cfg.k = 4;
  cfg.alpha = 1;
  cfg.max_candidates = 8;
  const NodeId seed = random_id_at_distance(target, 250, rng);
  Lookup lookup(target, local, std::vector<LookupPeer>{peer(seed)}, cfg);
  std::array<LookupPeer, 4> out{};
  REQUIRE(lookup.next(0, out) == 1);
  // The seed answers with 40 nodes at mixed distances; only the closest 8 are kept.
  std::vector<LookupPeer> found;
  for (int i = 0; i < 40; ++i) {
    found.push_back(peer(random_id_at_distance(target, 200 + i, rng)));
  }
  REQUIRE(lookup.on_response(seed, found) == LookupResponse::kAccepted);
  std::vector<NodeId> queried;
  for (int guard = 0; guard < 100 && !lookup.done(); ++guard) {
    const std::size_t n = lookup.next(0, out);
    for (std::size_t i = 0; i < n; ++i) {
      queried.push_back(out[i].id);
      REQUIRE(lookup.on_response(out[i].id, {}) == LookupResponse::kAccepted);
    }
  }
  REQUIRE(lookup.done());
  // k = 4 closest answered: those at distances 200..203; nothing farther was queried.
  REQUIRE(queried.size() == 4);
  for (std::size_t i = 0; i < 4; ++i) {
    CHECK(queried[i] == found[i].id);
  }
  std::array<LookupPeer, 16> res{};
  REQUIRE(lookup.result(res) == 4);
  CHECK(res[0].id == found[0].id);
  CHECK(res[3].id == found[3].id);
}

TEST_CASE("lookup_distances follows geth's order", "[discovery][lookup]") {
  NodeId a{};
  NodeId b{};
  std::array<std::uint16_t, 3> out{};
  CHECK(lookup_distances(a, b, out) == 3);
  CHECK(out == std::array<std::uint16_t, 3>{0, 1, 2});
  b[0] = 0x80;  // distance 256
  CHECK(lookup_distances(a, b, out) == 3);
  CHECK(out == std::array<std::uint16_t, 3>{256, 255, 254});
  b = {};
  b[19] = 0x08;  // bit 99 -> distance 100
  std::array<std::uint16_t, 5> five{};
  CHECK(lookup_distances(a, b, five) == 5);
  CHECK(five == std::array<std::uint16_t, 5>{100, 101, 99, 102, 98});
  b = {};
  b[31] = 0x01;  // distance 1
  CHECK(lookup_distances(a, b, out) == 3);
  CHECK(out == std::array<std::uint16_t, 3>{1, 2, 3});
  CHECK(lookup_distances(a, b, std::span<std::uint16_t>()) == 0);
}
