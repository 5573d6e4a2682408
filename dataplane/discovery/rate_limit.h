// Token buckets (private header): the WHOAREYOU limiter (per source IP and in total) and the
// request limiter (per source IP and per node id) share them. A bucket starts full at its
// burst and refills at `rate` per second; a key's bucket lives in a fixed-capacity LRU, so a
// key evicted by a flood of others comes back full (the other key's limit, or a global one,
// is the bound then). Nothing allocates after construction. Not thread-safe: one per shard.
#pragma once

#include <cstdint>

#include "discplane/common/endpoint.h"
#include "discplane/discovery/lru_map.h"

#include "engine.h"  // NodeIdHash

namespace discplane::disc {

struct TokenBucket {
  double tokens = 0;
  std::int64_t last_ns = 0;
  bool used = false;
};

// Takes one token at `now_ns`; refills at `rate` per second up to `burst`.
[[nodiscard]] bool take_token(TokenBucket& b, std::uint32_t rate, std::uint32_t burst,
                              std::int64_t now_ns) noexcept;

struct IpOnlyHash {
  std::size_t operator()(const IpAddress& ip) const noexcept {
    return EndpointHash{}(Endpoint{ip, 0});
  }
};

// One bucket per key, the least recently used forgotten beyond `max_keys`.
template <class Key, class Hash>
class KeyedRateLimiter {
 public:
  explicit KeyedRateLimiter(std::uint32_t max_keys) : buckets_(max_keys < 1 ? 1 : max_keys) {}

  [[nodiscard]] bool allow(const Key& key, std::uint32_t rate, std::uint32_t burst,
                           std::int64_t now_ns) noexcept {
    TokenBucket* b = buckets_.find(key);
    if (b == nullptr) {
      b = buckets_.insert(key, TokenBucket{}).value;
    }
    return take_token(*b, rate, burst, now_ns);
  }
  // Forgets buckets unused for `idle_ns` (they would be full again by now anyway when
  // idle_ns >= burst / rate).
  void prune(std::int64_t now_ns, std::int64_t idle_ns) noexcept {
    buckets_.erase_if(
        [&](const Key&, const TokenBucket& b) { return now_ns - b.last_ns > idle_ns; });
  }
  std::size_t tracked() const noexcept { return buckets_.size(); }

 private:
  FixedLruMap<Key, TokenBucket, Hash> buckets_;
};

// Requests whose answer is larger than they are (RequestLimits in server.h).
class RequestLimiter {
 public:
  explicit RequestLimiter(const RequestLimits& limits)
      : limits_(limits), ips_(limits.max_keys), nodes_(limits.max_keys) {}

  // Takes a token from the node's bucket and the IP's; false when either is empty (a
  // refused request still costs its node a token: a peer that keeps asking stays limited).
  [[nodiscard]] bool allow(const IpAddress& ip, const NodeId& id, std::int64_t now_ns) noexcept {
    const bool node_ok = limits_.per_node_rate == 0 ||
                         nodes_.allow(id, limits_.per_node_rate, limits_.per_node_burst, now_ns);
    if (!node_ok) {
      return false;
    }
    return limits_.per_ip_rate == 0 ||
           ips_.allow(ip, limits_.per_ip_rate, limits_.per_ip_burst, now_ns);
  }
  void prune(std::int64_t now_ns, std::int64_t idle_ns) noexcept {
    ips_.prune(now_ns, idle_ns);
    nodes_.prune(now_ns, idle_ns);
  }

 private:
  RequestLimits limits_;
  KeyedRateLimiter<IpAddress, IpOnlyHash> ips_;
  KeyedRateLimiter<NodeId, NodeIdHash> nodes_;
};

}  // namespace discplane::disc
