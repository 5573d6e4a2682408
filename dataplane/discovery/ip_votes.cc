// IpVotes implementation. The tally is a Boyer-Moore majority pass plus a counting pass
// over the fixed vote array: O(capacity), no map, no allocation.
#include "discplane/discovery/ip_votes.h"

#include <algorithm>

namespace discplane::disc {

IpVotes::IpVotes(const IpVotesConfig& config) : config_(config) {
  config_.capacity = std::max<std::size_t>(config_.capacity, 1);
  votes_.reserve(config_.capacity);
}

VoteOutcome IpVotes::vote(const NodeId& voter, const Endpoint& observed,
                          std::int64_t now) noexcept {
  if (!observed.valid() || observed.ip.is_unspecified()) {
    return VoteOutcome::kInvalid;
  }
  for (Vote& v : votes_) {
    if (v.voter == voter && v.endpoint.ip.family == observed.ip.family) {
      v.endpoint = observed;
      v.time = now;
      return VoteOutcome::kReplaced;
    }
  }
  if (votes_.size() < config_.capacity) {
    votes_.push_back(Vote{voter, observed, now});  // within reserved capacity
    return VoteOutcome::kAdded;
  }
  auto oldest = std::min_element(votes_.begin(), votes_.end(),
                                 [](const Vote& a, const Vote& b) { return a.time < b.time; });
  *oldest = Vote{voter, observed, now};
  return VoteOutcome::kEvicted;
}

std::size_t IpVotes::count(IpAddress::Family family, std::int64_t now) const noexcept {
  std::size_t n = 0;
  for (const Vote& v : votes_) {
    n += live(v, family, now) ? 1 : 0;
  }
  return n;
}

std::optional<Endpoint> IpVotes::voted_majority(IpAddress::Family family,
                                                std::int64_t now) const noexcept {
  // Boyer-Moore: the only endpoint that can hold more than half of the votes.
  const Endpoint* candidate = nullptr;
  std::size_t balance = 0;
  for (const Vote& v : votes_) {
    if (!live(v, family, now)) {
      continue;
    }
    if (balance == 0) {
      candidate = &v.endpoint;
      balance = 1;
    } else if (v.endpoint == *candidate) {
      ++balance;
    } else {
      --balance;
    }
  }
  if (candidate == nullptr) {
    return std::nullopt;
  }
  std::size_t total = 0;
  std::size_t agree = 0;
  for (const Vote& v : votes_) {
    if (live(v, family, now)) {
      ++total;
      agree += v.endpoint == *candidate ? 1 : 0;
    }
  }
  if (agree < config_.min_votes || 2 * agree <= total) {
    return std::nullopt;
  }
  return *candidate;
}

std::optional<Endpoint> IpVotes::majority(IpAddress::Family family,
                                          std::int64_t now) const noexcept {
  if (family == IpAddress::Family::kV4 && config_.static_v4) {
    return config_.static_v4;
  }
  if (family == IpAddress::Family::kV6 && config_.static_v6) {
    return config_.static_v6;
  }
  return voted_majority(family, now);
}

}  // namespace discplane::disc
