// PeerTable: bucket placement, replacements, failures and min_live, IP limits, closest()
// against brute force, distance queries, revalidation rotation, record/endpoint updates.
#include "discplane/discovery/peer_table.h"

#include <algorithm>
#include <map>
#include <vector>

#include <catch2/catch.hpp>

#include "discplane/crypto/random.h"
#include "discplane/discovery/node_id.h"

using namespace discplane;
using namespace discplane::disc;

namespace {

constexpr std::int64_t kSec = 1'000'000'000;

NodeId random_id(crypto::RandomSource& rng) {
  NodeId id;
  rng.fill(id);
  return id;
}

// A node with a v4 endpoint in its own /24 (n picks the subnet) unless ip is given.
PeerInfo node(const NodeId& id, std::uint32_t n, std::uint8_t flags = kFlagV4) {
  PeerInfo p;
  p.id = id;
  p.public_key[0] = static_cast<std::uint8_t>(n);
  p.endpoint4 = Endpoint{
      IpAddress::v4(20, static_cast<std::uint8_t>(n >> 8), static_cast<std::uint8_t>(n), 1), 30303};
  p.protocols = flags;
  return p;
}

PeerInfo node_at(const NodeId& id, const IpAddress& ip, std::uint8_t flags = kFlagV4) {
  PeerInfo p;
  p.id = id;
  if (ip.is_v4()) {
    p.endpoint4 = Endpoint{ip, 30303};
  } else {
    p.endpoint6 = Endpoint{ip, 30303};
  }
  p.protocols = flags;
  return p;
}

struct Fixture {
  crypto::DeterministicRandom rng{42};
  NodeId self = random_id(rng);
  std::uint32_t next_subnet = 1;

  NodeId id_at(int d) { return random_id_at_distance(self, d, rng); }
  PeerInfo fresh_at(int d, std::uint8_t flags = kFlagV4) {
    return node(id_at(d), next_subnet++, flags);
  }
};

}  // namespace

TEST_CASE("bucket placement, self, invalid and update", "[discovery][peer_table]") {
  Fixture f;
  PeerTable t(f.self);
  CHECK(t.add_seen(node(f.self, 1), 0) == AddOutcome::kSelf);
  PeerInfo no_endpoint;
  no_endpoint.id = f.id_at(200);
  CHECK(t.add_seen(no_endpoint, 0) == AddOutcome::kInvalid);

  for (int d : {1, 100, 255, 256}) {
    const PeerInfo p = f.fresh_at(d);
    REQUIRE(t.add_seen(p, 10) == AddOutcome::kInserted);
    CHECK(t.bucket_size(d) == 1);
    const PeerEntry* e = t.find(p.id);
    REQUIRE(e != nullptr);
    CHECK(e->endpoint4 == p.endpoint4);
    CHECK(e->public_key == p.public_key);
    CHECK(e->added_ns == 10);
    CHECK(e->last_seen_ns == 10);
  }
  CHECK(t.size() == 4);
  CHECK(t.buckets_in_use() == 4);
  CHECK(t.find(f.id_at(50)) == nullptr);

  // Seen again from a new endpoint and as discv5: refreshed, flags merged.
  const PeerInfo p = f.fresh_at(256);
  REQUIRE(t.add_seen(p, 10) == AddOutcome::kInserted);
  PeerInfo again = node(p.id, 999, kFlagV5);
  CHECK(t.add_seen(again, 20) == AddOutcome::kUpdated);
  const PeerEntry* e = t.find(p.id);
  REQUIRE(e != nullptr);
  CHECK(e->last_seen_ns == 20);
  CHECK(e->endpoint4 == again.endpoint4);
  CHECK(e->has(Protocol::kV4));
  CHECK(e->has(Protocol::kV5));
  CHECK(t.size(Protocol::kV4) == 5);
  CHECK(t.size(Protocol::kV5) == 1);
  // add_found of a known node changes nothing.
  CHECK(t.add_found(node(p.id, 1234), 30) == AddOutcome::kAlreadyKnown);
  CHECK(t.find(p.id)->endpoint4 == again.endpoint4);
}

TEST_CASE("full bucket goes to replacements; found nodes never evict seen ones",
          "[discovery][peer_table]") {
  Fixture f;
  PeerTable t(f.self);
  for (int i = 0; i < 16; ++i) {
    REQUIRE(t.add_seen(f.fresh_at(256), i) == AddOutcome::kInserted);
  }
  CHECK(t.bucket_size(256) == 16);
  std::vector<NodeId> repl;
  for (int i = 0; i < 10; ++i) {
    const PeerInfo p = f.fresh_at(256);
    repl.push_back(p.id);
    REQUIRE(t.add_seen(p, 100 + i) == AddOutcome::kAddedToReplacements);
    CHECK(t.find(p.id) == nullptr);
    CHECK(t.find_any(p.id) != nullptr);
  }
  CHECK(t.replacement_size(256) == 10);
  CHECK(t.size() == 16);

  // An unverified node cannot push out a verified replacement.
  CHECK(t.add_found(f.fresh_at(256), 200) == AddOutcome::kBucketFull);
  CHECK(t.counters().bucket_full_refusals == 1);
  // A seen node evicts the least recent replacement (repl[0], time 100).
  const PeerInfo newest = f.fresh_at(256);
  CHECK(t.add_seen(newest, 300) == AddOutcome::kAddedToReplacements);
  CHECK(t.find_any(repl[0]) == nullptr);
  CHECK(t.find_any(newest.id) != nullptr);
  CHECK(t.replacement_size(256) == 10);

  // Other buckets are independent.
  CHECK(t.add_found(f.fresh_at(255), 0) == AddOutcome::kInserted);
  CHECK(t.find(t.self()) == nullptr);
}

TEST_CASE("found nodes fill buckets and evict only unverified replacements",
          "[discovery][peer_table]") {
  Fixture f;
  PeerTableConfig cfg;
  cfg.bucket_size = 2;
  cfg.replacements = 2;
  PeerTable t(f.self, cfg);
  CHECK(t.add_found(f.fresh_at(256), 1) == AddOutcome::kInserted);
  CHECK(t.add_found(f.fresh_at(256), 2) == AddOutcome::kInserted);
  const PeerInfo r1 = f.fresh_at(256);
  const PeerInfo r2 = f.fresh_at(256);
  CHECK(t.add_found(r1, 3) == AddOutcome::kAddedToReplacements);
  CHECK(t.add_seen(r2, 4) == AddOutcome::kAddedToReplacements);
  // Full: a found node may evict r1 (unverified) but not r2.
  const PeerInfo r3 = f.fresh_at(256);
  CHECK(t.add_found(r3, 5) == AddOutcome::kAddedToReplacements);
  CHECK(t.find_any(r1.id) == nullptr);
  CHECK(t.find_any(r2.id) != nullptr);
  CHECK(t.find_any(r3.id) != nullptr);
  CHECK(!t.find_any(r3.id)->verified());
}

TEST_CASE("failures demote, then remove and promote the most recent replacement",
          "[discovery][peer_table]") {
  Fixture f;
  PeerTable t(f.self);  // max_failures 3
  std::vector<NodeId> live;
  for (int i = 0; i < 16; ++i) {
    const PeerInfo p = f.fresh_at(256);
    live.push_back(p.id);
    REQUIRE(t.add_seen(p, i) == AddOutcome::kInserted);
  }
  const PeerInfo older = f.fresh_at(256);
  const PeerInfo newer = f.fresh_at(256);
  REQUIRE(t.add_seen(older, 100) == AddOutcome::kAddedToReplacements);
  REQUIRE(t.add_seen(newer, 200) == AddOutcome::kAddedToReplacements);

  CHECK(t.mark_failed(live[3], Protocol::kV4, 1000) == FailOutcome::kDemoted);
  CHECK(t.find(live[3])->live_on(Protocol::kV4).checks_failed == 1);
  CHECK(t.mark_failed(live[3], Protocol::kV4, 2000) == FailOutcome::kDemoted);
  // A passed check resets the consecutive count.
  CHECK(t.mark_alive(live[3], Protocol::kV4, 2500) == UpdateOutcome::kUpdated);
  CHECK(t.find(live[3])->live_on(Protocol::kV4).checks_failed == 0);
  CHECK(t.find(live[3])->bond_ns == 2500);
  for (int i = 0; i < 2; ++i) {
    CHECK(t.mark_failed(live[3], Protocol::kV4, 3000 + i) == FailOutcome::kDemoted);
  }
  CHECK(t.mark_failed(live[3], Protocol::kV4, 4000) == FailOutcome::kReplaced);
  CHECK(t.find_any(live[3]) == nullptr);
  CHECK(t.find(newer.id) != nullptr);  // most recent replacement promoted
  CHECK(t.find(older.id) == nullptr);
  CHECK(t.size() == 16);
  CHECK(t.replacement_size(256) == 1);
  CHECK(t.counters().promoted == 1);

  // A failing replacement is simply dropped.
  CHECK(t.mark_failed(older.id, Protocol::kV4, 5000) == FailOutcome::kRemoved);
  CHECK(t.find_any(older.id) == nullptr);
  CHECK(t.mark_failed(older.id, Protocol::kV4, 5000) == FailOutcome::kNotFound);

  // Explicit removal promotes too, and leaves an empty slot when nothing is waiting.
  CHECK(t.remove(live[0]) == RemoveOutcome::kRemoved);
  CHECK(t.size() == 15);
  CHECK(t.remove(live[0]) == RemoveOutcome::kNotFound);
}

TEST_CASE("min_live keeps the last entries when every check fails", "[discovery][peer_table]") {
  Fixture f;
  PeerTableConfig cfg;
  cfg.min_live = 3;
  cfg.max_failures = 1;
  PeerTable t(f.self, cfg);
  std::vector<NodeId> ids;
  for (int d : {256, 255, 254, 253}) {
    const PeerInfo p = f.fresh_at(d);
    ids.push_back(p.id);
    REQUIRE(t.add_seen(p, 0) == AddOutcome::kInserted);
  }
  // Bootnodes unreachable: all checks fail.
  CHECK(t.mark_failed(ids[0], Protocol::kV4, 10) == FailOutcome::kRemoved);
  CHECK(t.size() == 3);
  for (std::size_t i = 1; i < ids.size(); ++i) {
    CHECK(t.mark_failed(ids[i], Protocol::kV4, 20) == FailOutcome::kProtected);
  }
  CHECK(t.size() == 3);
  CHECK(t.counters().protected_by_min_live == 3);
  // With a replacement waiting, the slot is handed over (size unchanged) despite min_live.
  PeerTableConfig small = cfg;
  small.bucket_size = 1;
  PeerTable u(f.self, small);
  const PeerInfo a = f.fresh_at(256);
  const PeerInfo b = f.fresh_at(256);
  REQUIRE(u.add_seen(a, 0) == AddOutcome::kInserted);
  REQUIRE(u.add_seen(b, 1) == AddOutcome::kAddedToReplacements);
  CHECK(u.mark_failed(a.id, Protocol::kV4, 5) == FailOutcome::kReplaced);
  CHECK(u.find(b.id) != nullptr);
  CHECK(u.size() == 1);
  // Pruning honours min_live as well.
  CHECK(t.prune_stale(100 * kSec, kSec) == 0);
  CHECK(t.size() == 3);
}

TEST_CASE("IP limits per bucket and per table, IPv4 /24 and IPv6 /64", "[discovery][peer_table]") {
  Fixture f;
  PeerTable t(f.self);
  const auto ip = [](std::uint8_t c, std::uint8_t d) { return IpAddress::v4(93, 184, c, d); };
  // Per bucket: 2 per /24 (replacements count as well).
  CHECK(t.add_seen(node_at(f.id_at(256), ip(1, 1)), 0) == AddOutcome::kInserted);
  CHECK(t.add_seen(node_at(f.id_at(256), ip(1, 2)), 0) == AddOutcome::kInserted);
  CHECK(t.add_seen(node_at(f.id_at(256), ip(1, 3)), 0) == AddOutcome::kIpLimit);
  CHECK(t.add_found(node_at(f.id_at(256), ip(1, 4)), 0) == AddOutcome::kIpLimit);
  CHECK(t.add_seen(node_at(f.id_at(256), ip(2, 3)), 0) == AddOutcome::kInserted);  // other /24
  // Per table: 10 per /24 across buckets.
  for (int d = 255; d > 251; --d) {
    CHECK(t.add_seen(node_at(f.id_at(d), ip(1, 10)), 0) == AddOutcome::kInserted);
    CHECK(t.add_seen(node_at(f.id_at(d), ip(1, 11)), 0) == AddOutcome::kInserted);
  }
  CHECK(t.add_seen(node_at(f.id_at(200), ip(1, 12)), 0) == AddOutcome::kIpLimit);
  CHECK(t.counters().ip_limit_refusals == 3);
  // Removing one frees a place.
  NodeId victim{};
  bool got = false;
  t.for_each([&](const PeerEntry& e) {
    if (!got && e.endpoint4.ip == ip(1, 10)) {
      victim = e.id;
      got = true;
    }
  });
  REQUIRE(got);
  CHECK(t.remove(victim) != RemoveOutcome::kNotFound);
  CHECK(t.add_seen(node_at(f.id_at(200), ip(1, 12)), 0) == AddOutcome::kInserted);

  // Moving an entry into a full subnet is refused and the old endpoint kept.
  const PeerInfo mover = node_at(f.id_at(256), ip(7, 7));
  REQUIRE(t.add_seen(mover, 0) == AddOutcome::kInserted);
  CHECK(t.update_endpoint(mover.id, Endpoint{ip(1, 99), 1}) == UpdateOutcome::kIpLimit);
  CHECK(t.find(mover.id)->endpoint4.ip == ip(7, 7));
  CHECK(t.update_endpoint(mover.id, Endpoint{ip(7, 8), 1}) == UpdateOutcome::kUpdated);
  CHECK(t.update_endpoint(mover.id, Endpoint{ip(7, 8), 1}) == UpdateOutcome::kUnchanged);

  // IPv6: per /64.
  auto v6 = [](std::uint8_t subnet, std::uint8_t host) {
    ByteArray<16> b{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, subnet};
    b[15] = host;
    return IpAddress::v6(b);
  };
  CHECK(t.add_seen(node_at(f.id_at(240), v6(1, 1)), 0) == AddOutcome::kInserted);
  CHECK(t.add_seen(node_at(f.id_at(240), v6(1, 2)), 0) == AddOutcome::kInserted);
  CHECK(t.add_seen(node_at(f.id_at(240), v6(1, 3)), 0) == AddOutcome::kIpLimit);
  CHECK(t.add_seen(node_at(f.id_at(240), v6(2, 3)), 0) == AddOutcome::kInserted);
}

TEST_CASE("IP limit exemptions: none by default, an explicit CIDR list otherwise",
          "[discovery][peer_table]") {
  Fixture f;
  {
    // Default: loopback, link-local and private sources count like any other.
    PeerTable t(f.self);
    for (const IpAddress ip :
         {IpAddress::v4(127, 0, 0, 1), IpAddress::v4(169, 254, 3, 3), IpAddress::v4(10, 0, 0, 1)}) {
      const int d = ip.is_loopback() ? 256 : ip.is_link_local() ? 255 : 254;
      CHECK(t.add_seen(node_at(f.id_at(d), ip), 0) == AddOutcome::kInserted);
      CHECK(t.add_seen(node_at(f.id_at(d), ip), 0) == AddOutcome::kInserted);
      CHECK(t.add_seen(node_at(f.id_at(d), ip), 0) == AddOutcome::kIpLimit);
    }
    const IpAddress v6_loopback = *IpAddress::parse("::1");
    CHECK(t.add_seen(node_at(f.id_at(253), v6_loopback), 0) == AddOutcome::kInserted);
    CHECK(t.add_seen(node_at(f.id_at(253), v6_loopback), 0) == AddOutcome::kInserted);
    CHECK(t.add_seen(node_at(f.id_at(253), v6_loopback), 0) == AddOutcome::kIpLimit);
  }
  {
    // Exempt: 127.0.0.0/8 and 10.0.0.0/8; 169.254.0.0/16 still limited.
    PeerTableConfig cfg;
    cfg.ip_limit_exempt = {*Cidr::parse("127.0.0.0/8"), *Cidr::parse("10.0.0.0/8")};
    PeerTable t(f.self, cfg);
    for (int i = 0; i < 16; ++i) {
      CHECK(t.add_seen(node_at(f.id_at(256), IpAddress::v4(127, 0, 0, 1)), 0) ==
            AddOutcome::kInserted);
    }
    for (int i = 0; i < 5; ++i) {
      CHECK(t.add_seen(node_at(f.id_at(255), IpAddress::v4(10, 0, 0, 1)), 0) ==
            AddOutcome::kInserted);
    }
    CHECK(t.add_seen(node_at(f.id_at(254), IpAddress::v4(169, 254, 3, 3)), 0) ==
          AddOutcome::kInserted);
    CHECK(t.add_seen(node_at(f.id_at(254), IpAddress::v4(169, 254, 3, 4)), 0) ==
          AddOutcome::kInserted);
    CHECK(t.add_seen(node_at(f.id_at(254), IpAddress::v4(169, 254, 3, 5)), 0) ==
          AddOutcome::kIpLimit);
  }
}

TEST_CASE("subnet accounting survives churn", "[discovery][peer_table]") {
  // Many inserts and removals over few subnets exercise the open-addressing counter
  // (backward-shift deletion); afterwards every subnet must accept its full quota again.
  Fixture f;
  PeerTable t(f.self);
  std::vector<NodeId> ids;
  for (int round = 0; round < 4000; ++round) {
    const bool add = ids.empty() || f.rng.next_u64() % 3 != 0;
    if (add) {
      const int d = 200 + static_cast<int>(f.rng.next_u64() % 57);
      const auto subnet = static_cast<std::uint8_t>(f.rng.next_u64() % 64);
      const PeerInfo p = node_at(f.id_at(d), IpAddress::v4(51, 7, subnet, 1));
      if (t.add_seen(p, round) != AddOutcome::kIpLimit) {
        ids.push_back(p.id);
      }
    } else {
      const std::size_t i = f.rng.next_u64() % ids.size();
      (void)t.remove(ids[i]);
      ids[i] = ids.back();
      ids.pop_back();
    }
  }
  for (const NodeId& id : ids) {
    (void)t.remove(id);
  }
  REQUIRE(t.size() == 0);
  REQUIRE(t.replacements_size() == 0);
  // 10 per subnet (the table limit), spread so that no bucket holds more than 1 of one /24.
  for (int subnet = 0; subnet < 64; ++subnet) {
    for (int i = 0; i < 10; ++i) {
      const int d = 256 - (subnet * 10 + i) % 50;
      const auto ip = IpAddress::v4(51, 7, static_cast<std::uint8_t>(subnet), 2);
      const AddOutcome o = t.add_seen(node_at(f.id_at(d), ip), 0);
      REQUIRE((o == AddOutcome::kInserted || o == AddOutcome::kAddedToReplacements));
    }
  }
  CHECK(t.add_seen(node_at(f.id_at(100), IpAddress::v4(51, 7, 0, 3)), 0) == AddOutcome::kIpLimit);
}

TEST_CASE("closest() equals a brute-force sort", "[discovery][peer_table]") {
  Fixture f;
  PeerTable t(f.self);
  // A populated table: ids spread over the top 60 buckets, some v4, some v5, some both.
  for (int i = 0; i < 900; ++i) {
    const int d = 197 + i % 60;
    const std::uint8_t flags = i % 3 == 0 ? kFlagV4 : i % 3 == 1 ? kFlagV5 : kFlagV4 | kFlagV5;
    (void)t.add_seen(f.fresh_at(d, flags), i);
  }
  REQUIRE(t.size() > 600);
  std::vector<const PeerEntry*> all;
  t.for_each([&](const PeerEntry& e) { all.push_back(&e); });
  REQUIRE(all.size() == t.size());

  std::vector<NodeId> targets;
  for (int i = 0; i < 150; ++i) {
    targets.push_back(random_id(f.rng));  // mostly far from self
    targets.push_back(f.id_at(190 + i % 67));
  }
  targets.push_back(f.self);
  targets.push_back(all[17]->id);  // a member of the table: itself comes first

  for (const NodeId& target : targets) {
    for (std::uint8_t flags : {std::uint8_t{0}, kFlagV4, kFlagV5}) {
      std::vector<const PeerEntry*> expected;
      for (const PeerEntry* e : all) {
        if ((e->protocols & flags) == flags) {
          expected.push_back(e);
        }
      }
      std::sort(expected.begin(), expected.end(), [&](const PeerEntry* a, const PeerEntry* b) {
        return xor_distance(target, a->id) < xor_distance(target, b->id);
      });
      std::array<const PeerEntry*, 16> out{};
      const std::size_t n = t.closest(target, 16, out, flags);
      REQUIRE(n == 16);
      for (std::size_t i = 0; i < n; ++i) {
        REQUIRE(out[i]->id == expected[i]->id);
      }
    }
  }
  std::array<const PeerEntry*, 16> out{};
  CHECK(t.closest(all[17]->id, 16, out) == 16);
  CHECK(out[0]->id == all[17]->id);
  // n smaller than the span, and a span smaller than n.
  CHECK(t.closest(f.self, 5, out) == 5);
  CHECK(t.closest(f.self, 100, std::span<const PeerEntry*>(out.data(), 3)) == 3);
  // A small table returns everything.
  PeerTable small(f.self);
  (void)small.add_seen(f.fresh_at(10), 0);
  (void)small.add_seen(f.fresh_at(256), 0);
  CHECK(small.closest(random_id(f.rng), 16, out) == 2);
}

TEST_CASE("nodes_at_distance returns one bucket", "[discovery][peer_table]") {
  Fixture f;
  PeerTable t(f.self);
  std::vector<NodeId> at250;
  for (int i = 0; i < 5; ++i) {
    const PeerInfo p = f.fresh_at(250, i < 2 ? kFlagV5 : kFlagV4);
    at250.push_back(p.id);
    REQUIRE(t.add_seen(p, 0) == AddOutcome::kInserted);
    REQUIRE(t.add_seen(f.fresh_at(251), 0) == AddOutcome::kInserted);
  }
  std::array<const PeerEntry*, 16> out{};
  const std::size_t n = t.nodes_at_distance(250, out);
  REQUIRE(n == 5);
  for (std::size_t i = 0; i < n; ++i) {
    CHECK(log_distance(f.self, out[i]->id) == 250);
    CHECK(std::find(at250.begin(), at250.end(), out[i]->id) != at250.end());
  }
  CHECK(t.nodes_at_distance(250, out, kFlagV5) == 2);
  CHECK(t.nodes_at_distance(250, std::span<const PeerEntry*>(out.data(), 3)) == 3);
  CHECK(t.nodes_at_distance(249, out) == 0);
  CHECK(t.nodes_at_distance(0, out) == 0);
  CHECK(t.nodes_at_distance(257, out) == 0);
}

TEST_CASE("revalidation candidates rotate over buckets and respect due times",
          "[discovery][peer_table]") {
  Fixture f;
  PeerTable t(f.self);  // interval 10 s, failed recheck 2 s
  std::map<int, std::vector<NodeId>> by_bucket;
  for (int d : {250, 252, 254}) {
    for (int i = 0; i < 2; ++i) {
      const PeerInfo p = f.fresh_at(d, kFlagV4);
      by_bucket[d].push_back(p.id);
      REQUIRE(t.add_seen(p, 0) == AddOutcome::kInserted);
    }
  }
  const PeerInfo v5only = f.fresh_at(253, kFlagV5);
  REQUIRE(t.add_seen(v5only, 0) == AddOutcome::kInserted);

  // New entries are due at once; successive candidates come from successive buckets.
  std::int64_t now = kSec;
  std::vector<int> order;
  for (int i = 0; i < 6; ++i) {
    const PeerEntry* c = t.revalidation_candidate(now, Protocol::kV4);
    REQUIRE(c != nullptr);
    CHECK(c->has(Protocol::kV4));
    order.push_back(log_distance(f.self, c->id));
    REQUIRE(t.mark_alive(c->id, Protocol::kV4, now) == UpdateOutcome::kUpdated);
  }
  CHECK(order == std::vector<int>{250, 252, 254, 250, 252, 254});
  // Everyone was checked at `now`: nothing is due until the interval passes.
  CHECK(t.revalidation_candidate(now + 5 * kSec, Protocol::kV4) == nullptr);
  // The v5 entry is a v5 candidate only.
  const PeerEntry* c5 = t.revalidation_candidate(now, Protocol::kV5);
  REQUIRE(c5 != nullptr);
  CHECK(c5->id == v5only.id);

  // A failed entry is rechecked after 2 s, before the others are due.
  const NodeId failing = by_bucket[252][1];
  REQUIRE(t.mark_failed(failing, Protocol::kV4, now + 1 * kSec) == FailOutcome::kDemoted);
  CHECK(t.revalidation_candidate(now + 2 * kSec, Protocol::kV4) == nullptr);
  const PeerEntry* c = t.revalidation_candidate(now + 3 * kSec, Protocol::kV4);
  REQUIRE(c != nullptr);
  CHECK(c->id == failing);
  REQUIRE(t.mark_alive(failing, Protocol::kV4, now + 3 * kSec) == UpdateOutcome::kUpdated);
  // After the interval, within a bucket the least recently checked entry goes first.
  REQUIRE(t.mark_alive(by_bucket[250][1], Protocol::kV4, now + 4 * kSec) ==
          UpdateOutcome::kUpdated);
  bool saw_250 = false;
  for (int i = 0; i < 3; ++i) {
    const PeerEntry* e = t.revalidation_candidate(now + 12 * kSec, Protocol::kV4);
    REQUIRE(e != nullptr);
    if (log_distance(f.self, e->id) == 250) {
      CHECK(e->id == by_bucket[250][0]);
      saw_250 = true;
    }
  }
  CHECK(saw_250);

  // When everything is due, an entry with a failure pending still comes first, whatever
  // bucket the round-robin cursor points at.
  REQUIRE(t.mark_failed(failing, Protocol::kV4, now + 30 * kSec) == FailOutcome::kDemoted);
  const PeerEntry* first = t.revalidation_candidate(now + 60 * kSec, Protocol::kV4);
  REQUIRE(first != nullptr);
  CHECK(first->id == failing);
  // Its check is in flight now: the next candidate is another entry, not the same again.
  const PeerEntry* second = t.revalidation_candidate(now + 60 * kSec, Protocol::kV4);
  REQUIRE(second != nullptr);
  CHECK(second->id != failing);
}

TEST_CASE("ENR updates, alive marks and stale pruning", "[discovery][peer_table]") {
  Fixture f;
  PeerTableConfig cfg;
  cfg.min_live = 0;
  PeerTable t(f.self, cfg);
  const PeerInfo p = f.fresh_at(256);
  REQUIRE(t.add_found(p, 5) == AddOutcome::kInserted);
  CHECK(!t.find(p.id)->verified());
  CHECK(t.find(p.id)->enr_size == 0);

  const Bytes rec1(120, 0xaa);
  const Bytes rec2(300, 0xbb);
  const Bytes too_big(301, 0xcc);
  CHECK(t.update_enr(p.id, rec1, 3) == UpdateOutcome::kUpdated);
  CHECK(t.update_enr(p.id, rec2, 3) == UpdateOutcome::kUnchanged);
  CHECK(t.update_enr(p.id, rec2, 2) == UpdateOutcome::kUnchanged);
  CHECK(t.update_enr(p.id, too_big, 9) == UpdateOutcome::kInvalid);
  CHECK(equal(t.find(p.id)->enr_bytes(), rec1));
  CHECK(t.update_enr(p.id, rec2, 4) == UpdateOutcome::kUpdated);
  CHECK(equal(t.find(p.id)->enr_bytes(), rec2));
  CHECK(t.find(p.id)->enr_seq == 4);
  CHECK(t.update_enr(f.id_at(3), rec1, 1) == UpdateOutcome::kNotFound);

  // discv5 alive: flag added, no discv4 bond.
  CHECK(t.mark_alive(p.id, Protocol::kV5, 50) == UpdateOutcome::kUpdated);
  CHECK(t.find(p.id)->bond_ns == 0);
  CHECK(t.find(p.id)->has(Protocol::kV5));
  CHECK(t.size(Protocol::kV5) == 1);
  CHECK(t.find(p.id)->live_on(Protocol::kV5).checks_passed == 1);
  CHECK(t.find(p.id)->live(Protocol::kV5));
  CHECK(!t.find(p.id)->live(Protocol::kV4));

  // Pruning: only entries both old and failing go.
  const PeerInfo q = f.fresh_at(255);
  REQUIRE(t.add_seen(q, 60) == AddOutcome::kInserted);
  CHECK(t.prune_stale(100 * kSec, 10 * kSec) == 0);  // old, but no failure
  REQUIRE(t.mark_failed(q.id, Protocol::kV4, 70) == FailOutcome::kDemoted);
  CHECK(t.prune_stale(5 * kSec, 10 * kSec) == 0);  // failing, but recent
  CHECK(t.prune_stale(100 * kSec, 10 * kSec) == 1);
  CHECK(t.find(q.id) == nullptr);
  CHECK(t.find(p.id) != nullptr);
  CHECK(t.size(Protocol::kV4) == 1);
}

TEST_CASE("a replacement that proves alive is promoted when room appears",
          "[discovery][peer_table]") {
  Fixture f;
  PeerTableConfig cfg;
  cfg.bucket_size = 1;
  PeerTable t(f.self, cfg);
  const PeerInfo a = f.fresh_at(256);
  const PeerInfo b = f.fresh_at(256);
  REQUIRE(t.add_seen(a, 0) == AddOutcome::kInserted);
  REQUIRE(t.add_found(b, 0) == AddOutcome::kAddedToReplacements);
  CHECK(t.mark_alive(b.id, Protocol::kV4, 1) == UpdateOutcome::kUpdated);
  CHECK(t.find(b.id) == nullptr);  // still no room
  t.for_each_replacement([&](const PeerEntry& e) { CHECK(e.id == b.id); });
  CHECK(t.remove(a.id) == RemoveOutcome::kReplaced);
  CHECK(t.find(b.id) != nullptr);
  CHECK(t.find(b.id)->bond_ns == 1);
  CHECK(t.size() == 1);
  CHECK(t.size(Protocol::kV4) == 1);
}

TEST_CASE("liveness is per protocol: failures drop one protocol, the last one the entry",
          "[discovery][peer_table][liveness]") {
  Fixture f;
  PeerTableConfig cfg;
  cfg.min_live = 0;
  PeerTable t(f.self, cfg);
  const PeerInfo both = f.fresh_at(256, kFlagV4 | kFlagV5);
  REQUIRE(t.add_seen(both, 0) == AddOutcome::kInserted);
  REQUIRE(t.mark_alive(both.id, Protocol::kV4, 10) == UpdateOutcome::kUpdated);
  REQUIRE(t.mark_alive(both.id, Protocol::kV5, 20) == UpdateOutcome::kUpdated);
  const PeerEntry* e = t.find(both.id);
  CHECK(e->live(Protocol::kV4));
  CHECK(e->live(Protocol::kV5));
  CHECK(e->live_on(Protocol::kV4).last_check_ns == 10);
  CHECK(e->live_on(Protocol::kV5).last_check_ns == 20);
  CHECK(e->checks_passed() == 2);

  // Dead on discv5, alive on discv4: the v5 failures touch only v5's liveness.
  CHECK(t.mark_failed(both.id, Protocol::kV5, 30) == FailOutcome::kDemoted);
  e = t.find(both.id);
  CHECK(!e->live(Protocol::kV5));
  CHECK(e->live(Protocol::kV4));
  CHECK(e->live_on(Protocol::kV5).checks_failed == 1);
  CHECK(e->live_on(Protocol::kV4).checks_failed == 0);
  CHECK(e->live_on(Protocol::kV5).last_check_ns == 30);
  CHECK(e->live_on(Protocol::kV4).last_check_ns == 10);
  CHECK(e->checks_failed() == 1);
  CHECK(t.mark_failed(both.id, Protocol::kV5, 40) == FailOutcome::kDemoted);
  // A passed v4 check in between does not reset the v5 count.
  REQUIRE(t.mark_alive(both.id, Protocol::kV4, 45) == UpdateOutcome::kUpdated);
  CHECK(t.find(both.id)->live_on(Protocol::kV5).checks_failed == 2);
  // max_failures (3) on v5: the v5 flag and its liveness go, the entry stays for v4.
  CHECK(t.mark_failed(both.id, Protocol::kV5, 50) == FailOutcome::kDropped);
  e = t.find(both.id);
  REQUIRE(e != nullptr);
  CHECK(!e->has(Protocol::kV5));
  CHECK(e->has(Protocol::kV4));
  CHECK(e->live(Protocol::kV4));
  CHECK(!e->live_on(Protocol::kV5).checked());
  CHECK(e->live_on(Protocol::kV5).last_check_ns == 0);
  CHECK(e->checks_failed() == 0);
  CHECK(t.size() == 1);
  CHECK(t.size(Protocol::kV4) == 1);
  CHECK(t.size(Protocol::kV5) == 0);
  // No longer a discv5 entry: no v5 revalidation, no discv5 answers.
  CHECK(t.revalidation_candidate(100 * kSec, Protocol::kV5) == nullptr);
  std::array<const PeerEntry*, 16> out{};
  CHECK(t.nodes_at_distance(256, out, kFlagV5) == 0);
  CHECK(t.nodes_at_distance(256, out, kFlagV4) == 1);

  // Heard on discv5 again: the flag comes back with a clean v5 record.
  REQUIRE(t.mark_alive(both.id, Protocol::kV5, 60) == UpdateOutcome::kUpdated);
  CHECK(t.find(both.id)->live(Protocol::kV5));
  CHECK(t.size(Protocol::kV5) == 1);

  // v4 failures drop v4; then v5 is the last protocol, and its failures remove the entry.
  for (int i = 0; i < 2; ++i) {
    CHECK(t.mark_failed(both.id, Protocol::kV4, 70 + i) == FailOutcome::kDemoted);
  }
  CHECK(t.mark_failed(both.id, Protocol::kV4, 80) == FailOutcome::kDropped);
  CHECK(t.find(both.id)->protocols == kFlagV5);
  CHECK(t.size(Protocol::kV4) == 0);
  for (int i = 0; i < 2; ++i) {
    CHECK(t.mark_failed(both.id, Protocol::kV5, 90 + i) == FailOutcome::kDemoted);
  }
  CHECK(t.mark_failed(both.id, Protocol::kV5, 95) == FailOutcome::kRemoved);
  CHECK(t.find(both.id) == nullptr);
  CHECK(t.size() == 0);
  CHECK(t.size(Protocol::kV5) == 0);
}

TEST_CASE("min_live protects an entry only when its last protocol fails",
          "[discovery][peer_table][liveness]") {
  Fixture f;
  PeerTable t(f.self);  // min_live 8
  const PeerInfo both = f.fresh_at(256, kFlagV4 | kFlagV5);
  REQUIRE(t.add_seen(both, 0) == AddOutcome::kInserted);
  for (int i = 0; i < 2; ++i) {
    CHECK(t.mark_failed(both.id, Protocol::kV5, i) == FailOutcome::kDemoted);
  }
  CHECK(t.mark_failed(both.id, Protocol::kV5, 5) == FailOutcome::kDropped);
  for (int i = 0; i < 2; ++i) {
    CHECK(t.mark_failed(both.id, Protocol::kV4, 10 + i) == FailOutcome::kDemoted);
  }
  CHECK(t.mark_failed(both.id, Protocol::kV4, 20) == FailOutcome::kProtected);
  CHECK(t.find(both.id)->protocols == kFlagV4);
}

TEST_CASE("a replacement failing on one of its protocols keeps the other",
          "[discovery][peer_table][liveness]") {
  Fixture f;
  PeerTableConfig cfg;
  cfg.bucket_size = 1;
  PeerTable t(f.self, cfg);
  const PeerInfo a = f.fresh_at(256);
  const PeerInfo both = f.fresh_at(256, kFlagV4 | kFlagV5);
  const PeerInfo v5 = f.fresh_at(256, kFlagV5);
  REQUIRE(t.add_seen(a, 0) == AddOutcome::kInserted);
  REQUIRE(t.add_seen(both, 0) == AddOutcome::kAddedToReplacements);
  REQUIRE(t.add_seen(v5, 0) == AddOutcome::kAddedToReplacements);
  CHECK(t.mark_failed(both.id, Protocol::kV5, 1) == FailOutcome::kDropped);
  REQUIRE(t.find_any(both.id) != nullptr);
  CHECK(t.find_any(both.id)->protocols == kFlagV4);
  CHECK(t.size(Protocol::kV5) == 0);  // replacements never count
  CHECK(t.mark_failed(v5.id, Protocol::kV5, 2) == FailOutcome::kRemoved);
  CHECK(t.find_any(v5.id) == nullptr);
  CHECK(t.replacements_size() == 1);
}

TEST_CASE("revalidation: each protocol by its own check time and interval",
          "[discovery][peer_table][liveness]") {
  Fixture f;
  PeerTableConfig cfg;
  cfg.revalidation_interval_v4_ns = 60 * kSec;
  cfg.revalidation_interval_v5_ns = 1 * kSec;
  PeerTable t(f.self, cfg);
  const PeerInfo both = f.fresh_at(256, kFlagV4 | kFlagV5);
  REQUIRE(t.add_seen(both, 0) == AddOutcome::kInserted);
  // Never checked on either: due on both.
  REQUIRE(t.revalidation_candidate(0, Protocol::kV4) != nullptr);
  REQUIRE(t.mark_alive(both.id, Protocol::kV4, 0) == UpdateOutcome::kUpdated);
  // A v4 check does not count as a v5 one.
  REQUIRE(t.revalidation_candidate(0, Protocol::kV5) != nullptr);
  REQUIRE(t.mark_alive(both.id, Protocol::kV5, 0) == UpdateOutcome::kUpdated);

  int pings4 = 0;
  int pings5 = 0;
  // 8 s in 100 ms ticks, each check answered at once.
  for (std::int64_t now = 100'000'000; now <= 8 * kSec; now += 100'000'000) {
    if (t.revalidation_candidate(now, Protocol::kV4) != nullptr) {
      ++pings4;
      REQUIRE(t.mark_alive(both.id, Protocol::kV4, now) == UpdateOutcome::kUpdated);
    }
    if (t.revalidation_candidate(now, Protocol::kV5) != nullptr) {
      ++pings5;
      REQUIRE(t.mark_alive(both.id, Protocol::kV5, now) == UpdateOutcome::kUpdated);
    }
  }
  CHECK(pings4 == 0);
  CHECK(pings5 == 8);
  CHECK(t.revalidation_candidate(59 * kSec, Protocol::kV4) == nullptr);
  CHECK(t.revalidation_candidate(60 * kSec, Protocol::kV4) != nullptr);

  // A v5 failure pending puts the entry on v5's short recheck, not on v4's.
  REQUIRE(t.mark_alive(both.id, Protocol::kV4, 100 * kSec) == UpdateOutcome::kUpdated);
  REQUIRE(t.mark_failed(both.id, Protocol::kV5, 100 * kSec) == FailOutcome::kDemoted);
  CHECK(t.revalidation_candidate(102 * kSec, Protocol::kV4) == nullptr);
  CHECK(t.revalidation_candidate(102 * kSec, Protocol::kV5) != nullptr);
}

TEST_CASE("answers prefer entries verified live on the protocol, then the rest",
          "[discovery][peer_table][liveness]") {
  Fixture f;
  PeerTable t(f.self);
  for (int i = 0; i < 600; ++i) {
    const int d = 217 + i % 40;
    const std::uint8_t flags = i % 3 == 0 ? kFlagV4 : i % 3 == 1 ? kFlagV5 : kFlagV4 | kFlagV5;
    (void)t.add_seen(f.fresh_at(d, flags), i);
  }
  std::vector<NodeId> ids;
  t.for_each([&](const PeerEntry& e) { ids.push_back(e.id); });
  REQUIRE(ids.size() > 300);
  // A few entries live on v4, a few on v5 (fewer than an answer holds), and some failed on v4
  // after passing (not live any more).
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const PeerEntry* e = t.find(ids[i]);
    if (i % 53 == 0 && e->has(Protocol::kV4)) {
      REQUIRE(t.mark_alive(ids[i], Protocol::kV4, 1000) == UpdateOutcome::kUpdated);
    }
    if (i % 47 == 0 && e->has(Protocol::kV5)) {
      REQUIRE(t.mark_alive(ids[i], Protocol::kV5, 1000) == UpdateOutcome::kUpdated);
    }
    if (i % 11 == 0 && e->has(Protocol::kV4)) {
      REQUIRE(t.mark_alive(ids[i], Protocol::kV4, 1000) == UpdateOutcome::kUpdated);
      REQUIRE(t.mark_failed(ids[i], Protocol::kV4, 2000) == FailOutcome::kDemoted);
    }
  }
  std::vector<const PeerEntry*> all;
  t.for_each([&](const PeerEntry& e) { all.push_back(&e); });

  std::vector<NodeId> targets;
  for (int i = 0; i < 60; ++i) {
    targets.push_back(random_id(f.rng));
    targets.push_back(f.id_at(210 + i % 47));
  }
  for (const NodeId& target : targets) {
    for (Protocol p : kProtocols) {
      const std::uint8_t flags = flag_of(p);
      // Expected: live on p by distance, then the others by distance.
      std::vector<const PeerEntry*> live;
      std::vector<const PeerEntry*> rest;
      for (const PeerEntry* e : all) {
        if (e->has(p)) {
          (e->live(p) ? live : rest).push_back(e);
        }
      }
      const auto by_distance = [&](const PeerEntry* a, const PeerEntry* b) {
        return xor_distance(target, a->id) < xor_distance(target, b->id);
      };
      std::sort(live.begin(), live.end(), by_distance);
      std::sort(rest.begin(), rest.end(), by_distance);
      REQUIRE(live.size() < 16);  // the live ones do not fill an answer: the rest must
      live.insert(live.end(), rest.begin(), rest.end());
      std::array<const PeerEntry*, 16> out{};
      REQUIRE(t.closest(target, 16, out, flags, true) == 16);
      for (std::size_t i = 0; i < 16; ++i) {
        REQUIRE(out[i]->id == live[i]->id);
      }
    }
  }

  std::size_t live4 = 0;
  for (const PeerEntry* e : all) {
    live4 += e->live(Protocol::kV4);
  }
  REQUIRE(live4 >= 3);
  // A small answer has room for the live ones only: no unverified entry is in it.
  std::array<const PeerEntry*, 3> few{};
  for (const NodeId& target : targets) {
    REQUIRE(t.closest(target, 3, few, kFlagV4, true) == 3);
    for (const PeerEntry* e : few) {
      CHECK(e->live(Protocol::kV4));
    }
  }

  // nodes_at_distance: the live ones of the bucket first, then the others.
  for (int d = 217; d <= 256; ++d) {
    for (Protocol p : kProtocols) {
      std::array<const PeerEntry*, 16> out{};
      const std::size_t n = t.nodes_at_distance(d, out, flag_of(p), true);
      REQUIRE(n == t.nodes_at_distance(d, out, flag_of(p)));  // same set size
      const std::size_t n_pref = t.nodes_at_distance(d, out, flag_of(p), true);
      bool seen_rest = false;
      std::size_t live_count = 0;
      for (std::size_t i = 0; i < n_pref; ++i) {
        const bool live = out[i]->live(p);
        CHECK(!(live && seen_rest));
        seen_rest = seen_rest || !live;
        live_count += live;
      }
      std::size_t expected_live = 0;
      for (const PeerEntry* e : all) {
        expected_live += log_distance(f.self, e->id) == d && e->live(p);
      }
      CHECK(live_count == expected_live);
      // With room for one only, it is a live one when the bucket has any.
      std::array<const PeerEntry*, 1> one{};
      if (expected_live > 0) {
        REQUIRE(t.nodes_at_distance(d, one, flag_of(p), true) == 1);
        CHECK(one[0]->live(p));
      }
    }
  }
}
