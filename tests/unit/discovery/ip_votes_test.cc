// IpVotes: majority rules, expiry, one vote per voter, capacity, families, static override.
#include "discplane/discovery/ip_votes.h"

#include <catch2/catch.hpp>

using namespace discplane;
using namespace discplane::disc;

namespace {

constexpr std::int64_t kSec = 1'000'000'000;

NodeId voter(std::uint32_t n) {
  NodeId id{};
  id[0] = static_cast<std::uint8_t>(n >> 8);
  id[1] = static_cast<std::uint8_t>(n);
  return id;
}

const Endpoint kA{IpAddress::v4(203, 0, 113, 5), 30303};
const Endpoint kB{IpAddress::v4(198, 51, 100, 7), 30303};
const Endpoint kAOtherPort{IpAddress::v4(203, 0, 113, 5), 40404};

Endpoint v6(std::uint8_t host) {
  ByteArray<16> b{0x20, 0x01, 0x0d, 0xb8};
  b[15] = host;
  return Endpoint{IpAddress::v6(b), 30303};
}

}  // namespace

TEST_CASE("ip votes: majority needs min_votes and more than half", "[discovery][ip_votes]") {
  IpVotes votes;  // min 3 votes, ttl 5 min
  const auto v4 = IpAddress::Family::kV4;
  CHECK(votes.vote(voter(1), kA, 0) == VoteOutcome::kAdded);
  CHECK(votes.vote(voter(2), kA, 0) == VoteOutcome::kAdded);
  CHECK_FALSE(votes.majority(v4, 0).has_value());  // only two votes
  CHECK(votes.vote(voter(3), kA, 0) == VoteOutcome::kAdded);
  REQUIRE(votes.majority(v4, 0) == kA);

  // 3 for A, 3 for B: no majority (needs more than half).
  for (std::uint32_t i = 10; i < 13; ++i) {
    CHECK(votes.vote(voter(i), kB, 1) == VoteOutcome::kAdded);
  }
  CHECK_FALSE(votes.majority(v4, 2).has_value());
  CHECK(votes.count(v4, 2) == 6);
  // The port is part of the endpoint: a vote for A's address on another port is not for A.
  CHECK(votes.vote(voter(20), kAOtherPort, 2) == VoteOutcome::kAdded);
  CHECK_FALSE(votes.majority(v4, 2).has_value());
  CHECK(votes.vote(voter(21), kB, 2) == VoteOutcome::kAdded);
  CHECK(votes.vote(voter(22), kB, 2) == VoteOutcome::kAdded);
  REQUIRE(votes.majority(v4, 2) == kB);  // 5 of 9
  CHECK_FALSE(votes.majority(IpAddress::Family::kV6, 2).has_value());
}

TEST_CASE("ip votes: one vote per voter, latest wins", "[discovery][ip_votes]") {
  IpVotes votes;
  const auto v4 = IpAddress::Family::kV4;
  // One loud voter cannot make a majority alone.
  for (int i = 0; i < 10; ++i) {
    (void)votes.vote(voter(1), kA, i);
  }
  CHECK(votes.count(v4, 10) == 1);
  CHECK_FALSE(votes.majority(v4, 10).has_value());
  CHECK(votes.vote(voter(2), kB, 10) == VoteOutcome::kAdded);
  CHECK(votes.vote(voter(3), kB, 10) == VoteOutcome::kAdded);
  CHECK(votes.vote(voter(1), kB, 11) == VoteOutcome::kReplaced);  // changes its mind
  CHECK(votes.count(v4, 11) == 3);
  CHECK(votes.majority(v4, 11) == kB);
  CHECK(votes.vote(voter(1), Endpoint{}, 12) == VoteOutcome::kInvalid);
  CHECK(votes.vote(voter(1), Endpoint{IpAddress::v4(0, 0, 0, 0), 1}, 12) == VoteOutcome::kInvalid);
  CHECK(votes.vote(voter(1), Endpoint{IpAddress::v4(1, 2, 3, 4), 0}, 12) == VoteOutcome::kInvalid);
}

TEST_CASE("ip votes expire", "[discovery][ip_votes]") {
  IpVotesConfig cfg;
  cfg.vote_ttl_ns = 60 * kSec;
  IpVotes votes(cfg);
  const auto v4 = IpAddress::Family::kV4;
  for (std::uint32_t i = 0; i < 3; ++i) {
    (void)votes.vote(voter(i), kA, 0);
  }
  for (std::uint32_t i = 10; i < 12; ++i) {
    (void)votes.vote(voter(i), kB, 30 * kSec);
  }
  CHECK(votes.majority(v4, 30 * kSec) == kA);  // 3 of 5
  // At 60 s the A votes expire, leaving two B votes: below min_votes.
  CHECK(votes.count(v4, 60 * kSec) == 2);
  CHECK_FALSE(votes.majority(v4, 60 * kSec).has_value());
  (void)votes.vote(voter(12), kB, 61 * kSec);
  CHECK(votes.majority(v4, 61 * kSec) == kB);
  CHECK_FALSE(votes.majority(v4, 200 * kSec).has_value());
}

TEST_CASE("ip votes: bounded memory evicts the oldest vote", "[discovery][ip_votes]") {
  IpVotesConfig cfg;
  cfg.capacity = 4;
  IpVotes votes(cfg);
  const auto v4 = IpAddress::Family::kV4;
  (void)votes.vote(voter(1), kA, 1);
  (void)votes.vote(voter(2), kA, 2);
  (void)votes.vote(voter(3), kA, 3);
  CHECK(votes.vote(voter(4), kB, 4) == VoteOutcome::kAdded);
  CHECK(votes.majority(v4, 5) == kA);
  CHECK(votes.vote(voter(5), kB, 5) == VoteOutcome::kEvicted);  // voter 1 goes
  CHECK(votes.count(v4, 6) == 4);
  CHECK_FALSE(votes.majority(v4, 6).has_value());               // 2 A, 2 B
  CHECK(votes.vote(voter(6), kB, 6) == VoteOutcome::kEvicted);  // voter 2 goes
  CHECK(votes.majority(v4, 7) == kB);                           // 3 B of 4
}

TEST_CASE("ip votes: IPv4 and IPv6 tallied apart; static override", "[discovery][ip_votes]") {
  const auto v4 = IpAddress::Family::kV4;
  const auto v6f = IpAddress::Family::kV6;
  IpVotes votes;
  for (std::uint32_t i = 0; i < 3; ++i) {
    CHECK(votes.vote(voter(i), v6(1), 0) == VoteOutcome::kAdded);
    CHECK(votes.vote(voter(i), kA, 0) == VoteOutcome::kAdded);  // same voter, other family
  }
  CHECK(votes.vote(voter(3), v6(2), 0) == VoteOutcome::kAdded);
  CHECK(votes.majority(v6f, 0) == v6(1));  // 3 of 4
  CHECK(votes.majority(v4, 0) == kA);
  CHECK(votes.count(v6f, 0) == 4);
  CHECK(votes.count(v4, 0) == 3);

  IpVotesConfig cfg;
  cfg.static_v4 = kB;
  IpVotes pinned(cfg);
  CHECK(pinned.majority(v4, 0) == kB);  // before any vote
  for (std::uint32_t i = 0; i < 5; ++i) {
    (void)pinned.vote(voter(i), kA, 0);
  }
  CHECK(pinned.majority(v4, 0) == kB);        // the static address wins
  CHECK(pinned.voted_majority(v4, 0) == kA);  // votes still counted (mismatch report)
  CHECK_FALSE(pinned.majority(v6f, 0).has_value());
}
