// Kademlia distance arithmetic on 32-byte node ids (shared by discv4 and discv5):
// log distance, ordering by XOR distance to a target, and random ids at a chosen
// log distance (for lookups, crawls and discv5 FINDNODE tests). Pure functions; the
// caller supplies randomness.
#pragma once

#include <cstdint>

#include "discplane/common/bytes.h"
#include "discplane/crypto/random.h"

namespace discplane::disc {

// Largest log distance between two 256-bit ids.
inline constexpr int kMaxLogDistance = 256;

// Bit length of a XOR b, in [0, 256]: 0 for equal ids, 256 when the top bits differ.
[[nodiscard]] int log_distance(const NodeId& a, const NodeId& b) noexcept;

// a XOR b.
[[nodiscard]] NodeId xor_distance(const NodeId& a, const NodeId& b) noexcept;

// <0 when a is closer to target than b, 0 when equally close (a == b), >0 otherwise.
[[nodiscard]] int compare_distance(const NodeId& target, const NodeId& a, const NodeId& b) noexcept;

// A uniformly random id x with log_distance(base, x) == d. d is clamped to [0, 256];
// d == 0 returns base itself.
[[nodiscard]] NodeId random_id_at_distance(const NodeId& base, int d,
                                           crypto::RandomSource& rng) noexcept;

// Hash for NodeId keys (and other 32-byte keccak outputs). Ids are keccak outputs, but a
// hostile peer can pick its key (or grind a record's bytes), so the words are mixed with a
// per-process secret rather than used raw. Defined in engine.cc.
struct NodeIdHash {
  std::size_t operator()(const NodeId& id) const noexcept;
};

}  // namespace discplane::disc
