// Lookup state machine. The candidate list is kept sorted by XOR distance to the target;
// the "window" is the first k candidates that have not failed: only those are queried, and
// the lookup ends when every one of them has answered.
#include "discplane/discovery/lookup.h"

#include <algorithm>
#include <limits>

#include "discplane/discovery/node_id.h"

namespace discplane::disc {

Lookup::Lookup(const NodeId& target, const NodeId& local, std::span<const LookupPeer> seeds,
               const LookupConfig& config)
    : target_(target), local_(local), config_(config) {
  config_.k = std::max<std::size_t>(config_.k, 1);
  config_.alpha = std::max<std::size_t>(config_.alpha, 1);
  config_.max_candidates = std::max(config_.max_candidates, config_.k);
  candidates_.reserve(config_.max_candidates);
  for (const LookupPeer& p : seeds) {
    insert(p);
  }
}

int Lookup::index_of(const NodeId& id) const noexcept {
  for (std::size_t i = 0; i < candidates_.size(); ++i) {
    if (candidates_[i].peer.id == id) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

void Lookup::insert(const LookupPeer& peer) noexcept {
  if (peer.id == local_ || index_of(peer.id) >= 0) {
    return;
  }
  const auto pos = std::lower_bound(candidates_.begin(), candidates_.end(), peer.id,
                                    [&](const Candidate& c, const NodeId& id) {
                                      return compare_distance(target_, c.peer.id, id) < 0;
                                    });
  if (candidates_.size() == config_.max_candidates) {
    if (pos == candidates_.end()) {
      return;  // farther than everything we hold
    }
    // Make room by dropping the farthest candidate that is not waiting or answered; if all
    // are, the farthest overall (k <= capacity, so it is outside the result).
    auto victim = candidates_.end() - 1;
    for (auto it = candidates_.end(); it != pos;) {
      --it;
      if (it->state == State::kNotContacted || it->state == State::kFailed) {
        victim = it;
        break;
      }
    }
    if (victim->state == State::kWaiting) {
      --in_flight_;
    }
    const auto offset = pos - candidates_.begin();
    candidates_.erase(victim);  // no reallocation: erase only moves elements
    candidates_.insert(candidates_.begin() + offset, Candidate{peer});
    return;
  }
  candidates_.insert(pos, Candidate{peer});  // within reserved capacity
}

void Lookup::expire(std::int64_t now) noexcept {
  for (Candidate& c : candidates_) {
    if (c.state == State::kWaiting && c.deadline <= now) {
      c.state = State::kFailed;
      --in_flight_;
      ++stats_.timeouts;
    }
  }
}

std::size_t Lookup::next(std::int64_t now, std::span<LookupPeer> out) noexcept {
  expire(now);
  std::size_t written = 0;
  std::size_t window = 0;
  for (Candidate& c : candidates_) {
    if (window == config_.k || in_flight_ >= config_.alpha || written == out.size()) {
      break;
    }
    if (c.state == State::kFailed) {
      continue;
    }
    ++window;
    if (c.state == State::kNotContacted) {
      c.state = State::kWaiting;
      c.deadline = now + config_.request_timeout_ns;
      ++in_flight_;
      ++stats_.queries;
      out[written++] = c.peer;
    }
  }
  return written;
}

LookupResponse Lookup::on_response(const NodeId& peer, std::span<const LookupPeer> found) noexcept {
  const int i = index_of(peer);
  if (i < 0) {
    return LookupResponse::kUnknownPeer;
  }
  Candidate& c = candidates_[static_cast<std::size_t>(i)];
  LookupResponse outcome = LookupResponse::kAccepted;
  if (c.state == State::kWaiting) {
    --in_flight_;
  } else if (c.state == State::kFailed && c.deadline != 0) {
    outcome = LookupResponse::kLate;  // timed out (deadline set), then answered anyway
  } else {
    return LookupResponse::kUnknownPeer;  // never queried, or a second answer
  }
  c.state = State::kSucceeded;
  ++stats_.responses;
  for (const LookupPeer& p : found) {
    insert(p);  // may move c: do not use it below
  }
  return outcome;
}

void Lookup::add_candidates(std::span<const LookupPeer> found) noexcept {
  for (const LookupPeer& p : found) {
    insert(p);
  }
}

void Lookup::on_failure(const NodeId& peer) noexcept {
  const int i = index_of(peer);
  if (i < 0) {
    return;
  }
  Candidate& c = candidates_[static_cast<std::size_t>(i)];
  if (c.state == State::kWaiting) {
    --in_flight_;
    c.state = State::kFailed;
    c.deadline = 0;  // a failure, not a timeout: a later answer is not "late"
    ++stats_.failures;
  }
}

bool Lookup::done() const noexcept {
  std::size_t window = 0;
  for (const Candidate& c : candidates_) {
    if (window == config_.k) {
      break;
    }
    if (c.state == State::kFailed) {
      continue;
    }
    ++window;
    if (c.state != State::kSucceeded) {
      return false;
    }
  }
  return true;
}

std::int64_t Lookup::next_deadline() const noexcept {
  std::int64_t d = std::numeric_limits<std::int64_t>::max();
  for (const Candidate& c : candidates_) {
    if (c.state == State::kWaiting) {
      d = std::min(d, c.deadline);
    }
  }
  return d;
}

std::size_t Lookup::result(std::span<LookupPeer> out) const noexcept {
  std::size_t n = 0;
  for (const Candidate& c : candidates_) {
    if (n == config_.k || n == out.size()) {
      break;
    }
    if (c.state == State::kSucceeded) {
      out[n++] = c.peer;
    }
  }
  return n;
}

std::size_t lookup_distances(const NodeId& target, const NodeId& peer,
                             std::span<std::uint16_t> out) noexcept {
  if (out.empty()) {
    return 0;
  }
  const int td = log_distance(target, peer);
  std::size_t n = 0;
  out[n++] = static_cast<std::uint16_t>(td);
  for (int i = 1; n < out.size() && i <= kMaxLogDistance; ++i) {
    if (td + i <= kMaxLogDistance) {
      out[n++] = static_cast<std::uint16_t>(td + i);
    }
    if (n < out.size() && td - i > 0) {
      out[n++] = static_cast<std::uint16_t>(td - i);
    }
  }
  return n;
}

}  // namespace discplane::disc
