// Lookup: one iterative Kademlia lookup as a pure state machine (no I/O, no clock, no
// table). The engine asks next(now) whom to query, sends a discv4 FindNode or a discv5
// FINDNODE (see lookup_distances) and feeds answers back with on_response/on_failure.
// Candidates live in a fixed array sorted by distance to the target: no heap after
// construction. Modelled on sigp/discv5 query_pool/peers/closest.rs and geth lookup.go.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "discplane/common/bytes.h"
#include "discplane/common/endpoint.h"

namespace discplane::disc {

struct LookupConfig {
  std::size_t k = 16;               // result size (Kademlia k)
  std::size_t alpha = 3;            // queries in flight at once
  std::size_t max_candidates = 64;  // candidate list capacity (>= k), farthest dropped
  std::int64_t request_timeout_ns = 1'000'000'000;  // per query (default 1 s)
};

// A node the lookup may query; the endpoint is carried so the engine can reach nodes that
// the table refused (bucket full, IP limit).
struct LookupPeer {
  NodeId id{};
  Endpoint endpoint;
};

enum class LookupResponse : std::uint8_t {
  kAccepted,     // answer from a peer we were waiting for
  kLate,         // the peer had already timed out; its nodes are still used
  kUnknownPeer,  // not a candidate we queried (or already answered): ignored
};

class Lookup {
 public:
  // `local` (our id) is never queried nor returned. Seeds are usually table.closest(target).
  Lookup(const NodeId& target, const NodeId& local, std::span<const LookupPeer> seeds,
         const LookupConfig& config = {});

  const NodeId& target() const { return target_; }

  // Expires queries whose deadline passed, then picks up to `alpha - in flight` not yet
  // queried candidates among the k closest non-failed ones, marks them in flight and writes
  // them to out. Returns how many were written (0 when waiting or done).
  [[nodiscard]] std::size_t next(std::int64_t now, std::span<LookupPeer> out) noexcept;

  // A queried peer answered with `found` (any order, duplicates and self are filtered).
  [[nodiscard]] LookupResponse on_response(const NodeId& peer,
                                           std::span<const LookupPeer> found) noexcept;
  // Nodes from a partial answer (discv5 NODES split over several packets): they become
  // candidates, the peer stays in flight until on_response/on_failure.
  void add_candidates(std::span<const LookupPeer> found) noexcept;
  // A queried peer failed (no session, bad answer). Unknown peers are ignored.
  void on_failure(const NodeId& peer) noexcept;

  // True when the k closest non-failed candidates have all answered, or nothing is left to
  // query and nothing is in flight.
  [[nodiscard]] bool done() const noexcept;
  // Earliest deadline of a query in flight (the engine's next timer); INT64_MAX if none.
  [[nodiscard]] std::int64_t next_deadline() const noexcept;
  std::size_t in_flight() const { return in_flight_; }

  // The closest (up to k) peers that answered, closest first. Returns the count.
  [[nodiscard]] std::size_t result(std::span<LookupPeer> out) const noexcept;

  struct Stats {
    std::uint32_t queries = 0;
    std::uint32_t responses = 0;
    std::uint32_t failures = 0;
    std::uint32_t timeouts = 0;
  };
  const Stats& stats() const { return stats_; }

 private:
  enum class State : std::uint8_t { kNotContacted, kWaiting, kSucceeded, kFailed };
  struct Candidate {
    LookupPeer peer;
    State state = State::kNotContacted;
    std::int64_t deadline = 0;
  };

  void insert(const LookupPeer& peer) noexcept;
  [[nodiscard]] int index_of(const NodeId& id) const noexcept;
  void expire(std::int64_t now) noexcept;

  NodeId target_;
  NodeId local_;
  LookupConfig config_;
  std::vector<Candidate> candidates_;  // capacity reserved up front, sorted by distance
  std::size_t in_flight_ = 0;
  Stats stats_;
};

// discv5 FINDNODE distances for asking `peer` about `target`, as geth's lookupDistances:
// the log distance td of target to peer first, then td+1, td-1, td+2, ... within [1, 256]
// (td itself may be 0). Writes up to out.size() values and returns the count.
[[nodiscard]] std::size_t lookup_distances(const NodeId& target, const NodeId& peer,
                                           std::span<std::uint16_t> out) noexcept;

}  // namespace discplane::disc
