// IpVotes: learns our external UDP endpoint from what peers report (discv4 Pong `to`,
// discv5 PONG recipient ip:port). One vote per voter id and address family (the latest
// wins), votes expire, memory is a fixed array (the oldest vote is evicted when full).
// A configured static endpoint overrides the vote for its family. Time is passed in.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "discplane/common/bytes.h"
#include "discplane/common/endpoint.h"

namespace discplane::disc {

struct IpVotesConfig {
  std::size_t capacity = 128;                  // votes kept (both families together)
  std::int64_t vote_ttl_ns = 300'000'000'000;  // a vote counts for 5 minutes
  std::size_t min_votes = 3;                   // the winner needs at least this many
  std::optional<Endpoint> static_v4;           // from config: overrides the IPv4 vote
  std::optional<Endpoint> static_v6;           // from config: overrides the IPv6 vote
};

enum class VoteOutcome : std::uint8_t {
  kAdded,     // a new voter
  kReplaced,  // the voter's earlier vote (same family) was replaced
  kEvicted,   // added after evicting the oldest vote (table full)
  kInvalid,   // not a routable endpoint (no address, port 0, unspecified)
};

class IpVotes {
 public:
  explicit IpVotes(const IpVotesConfig& config = {});

  [[nodiscard]] VoteOutcome vote(const NodeId& voter, const Endpoint& observed,
                                 std::int64_t now) noexcept;

  // Our endpoint for the family: the static one if configured, else voted_majority().
  [[nodiscard]] std::optional<Endpoint> majority(IpAddress::Family family,
                                                 std::int64_t now) const noexcept;
  // The endpoint with more than half of the unexpired votes of the family and at least
  // min_votes of them; ignores the static override (to report a mismatch).
  [[nodiscard]] std::optional<Endpoint> voted_majority(IpAddress::Family family,
                                                       std::int64_t now) const noexcept;
  // Unexpired votes of the family.
  [[nodiscard]] std::size_t count(IpAddress::Family family, std::int64_t now) const noexcept;

 private:
  struct Vote {
    NodeId voter{};
    Endpoint endpoint;
    std::int64_t time = 0;
  };
  [[nodiscard]] bool live(const Vote& v, IpAddress::Family family, std::int64_t now) const {
    return v.endpoint.ip.family == family && now - v.time < config_.vote_ttl_ns;
  }

  IpVotesConfig config_;
  std::vector<Vote> votes_;  // capacity reserved up front; unordered
};

}  // namespace discplane::disc
