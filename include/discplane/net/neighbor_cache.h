// Next-hop resolution state for one port: IP -> MAC with expiry, for ARP (IPv4) and NDP
// (IPv6) alike. Fixed capacity chosen at construction (no allocation afterwards), a bounded
// queue of packets waiting per unresolved next hop, static entries (a configured gateway MAC)
// that never expire. Pure: time comes from the caller in nanoseconds; sending the ARP request
// or NS and freeing packets is the caller's job (callbacks), so `Packet` can be an mbuf pointer.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "discplane/common/endpoint.h"
#include "discplane/net/frames.h"

namespace discplane::net {

struct NeighborCacheConfig {
  std::size_t capacity = 256;
  std::int64_t reachable_ns = 300'000'000'000;  // learned entries live 5 min
  std::int64_t retry_ns = 1'000'000'000;        // re-send ARP request / NS after 1 s
  std::uint32_t max_requests = 3;               // then give up and drop the pending packets
};

enum class NeighborLookup : std::uint8_t {
  kResolved,     // `mac` is valid; the packet was not taken
  kQueued,       // packet queued; a request is already out
  kSendRequest,  // packet queued; the caller must send an ARP request / NS now
  kQueueFull,    // not queued: the caller drops the packet
  kCacheFull,    // no free entry: the caller drops the packet
};

template <class Packet, std::size_t kPendingPerHop = 8>
class NeighborCache {
 public:
  explicit NeighborCache(NeighborCacheConfig config = {})
      : config_(config), entries_(config.capacity) {}

  // A next hop whose MAC never expires (e.g. the gateway MAC from configuration).
  // Returns false when the cache is full.
  [[nodiscard]] bool set_static(const IpAddress& ip, const MacAddress& mac) noexcept {
    Entry* e = find_or_insert(ip, 0);
    if (e == nullptr) {
      return false;
    }
    e->state = State::kStatic;
    e->mac = mac;
    return true;
  }

  std::optional<MacAddress> find(const IpAddress& ip, std::int64_t now_ns) const noexcept {
    const Entry* e = find_entry(ip);
    if (e != nullptr && usable(*e, now_ns)) {
      return e->mac;
    }
    return std::nullopt;
  }

  // Resolves `ip`, or queues `packet` until it resolves.
  [[nodiscard]] NeighborLookup resolve(const IpAddress& ip, std::int64_t now_ns, Packet packet,
                                       MacAddress& mac) noexcept {
    Entry* e = find_entry(ip);
    if (e != nullptr && usable(*e, now_ns)) {
      mac = e->mac;
      return NeighborLookup::kResolved;
    }
    if (e == nullptr) {
      e = find_or_insert(ip, now_ns);
      if (e == nullptr) {
        return NeighborLookup::kCacheFull;
      }
    }
    if (e->state == State::kReachable) {  // expired: resolve again
      e->state = State::kIncomplete;
      e->requests = 0;
      e->last_request_ns = 0;
    }
    if (e->pending_count == kPendingPerHop) {
      return NeighborLookup::kQueueFull;
    }
    e->pending[e->pending_count++] = packet;
    if (e->requests == 0) {
      e->requests = 1;
      e->last_request_ns = now_ns;
      return NeighborLookup::kSendRequest;
    }
    return NeighborLookup::kQueued;
  }

  // Records `ip` at `mac` (an ARP reply/request, an NA) and hands each waiting packet to
  // send(packet, mac). Static entries are not overwritten. Returns the packets released.
  template <class Send>
  std::size_t learn(const IpAddress& ip, const MacAddress& mac, std::int64_t now_ns,
                    Send&& send) noexcept {
    Entry* e = find_or_insert(ip, now_ns);
    if (e == nullptr || e->state == State::kStatic) {
      return 0;
    }
    e->state = State::kReachable;
    e->mac = mac;
    e->expires_ns = now_ns + config_.reachable_ns;
    e->requests = 0;
    const std::size_t n = e->pending_count;
    for (std::size_t i = 0; i < n; ++i) {
      send(e->pending[i], mac);
    }
    e->pending_count = 0;
    return n;
  }

  // Housekeeping: calls request(ip) for incomplete entries due a retry; after max_requests,
  // drop(packet) for their queue and forgets them. Frees expired reachable entries.
  template <class Request, class Drop>
  void tick(std::int64_t now_ns, Request&& request, Drop&& drop) noexcept {
    for (Entry& e : entries_) {
      if (e.state == State::kIncomplete && now_ns - e.last_request_ns >= config_.retry_ns) {
        if (e.requests >= config_.max_requests) {
          for (std::size_t i = 0; i < e.pending_count; ++i) {
            drop(e.pending[i]);
          }
          e = Entry{};
          continue;
        }
        ++e.requests;
        e.last_request_ns = now_ns;
        request(e.ip);
      } else if (e.state == State::kReachable && now_ns >= e.expires_ns) {
        e = Entry{};
      }
    }
  }

  // Forgets every entry but static ones, handing queued packets to drop(packet).
  template <class Drop>
  void clear(Drop&& drop) noexcept {
    for (Entry& e : entries_) {
      for (std::size_t i = 0; i < e.pending_count; ++i) {
        drop(e.pending[i]);
      }
      e.pending_count = 0;
      if (e.state != State::kStatic) {
        e = Entry{};
      }
    }
  }

  std::size_t size() const noexcept {
    std::size_t n = 0;
    for (const Entry& e : entries_) {
      n += e.state != State::kFree ? 1 : 0;
    }
    return n;
  }
  std::size_t capacity() const noexcept { return entries_.size(); }
  std::size_t pending(const IpAddress& ip) const noexcept {
    const Entry* e = find_entry(ip);
    return e != nullptr ? e->pending_count : 0;
  }

 private:
  enum class State : std::uint8_t { kFree, kIncomplete, kReachable, kStatic };
  struct Entry {
    IpAddress ip;
    MacAddress mac{};
    State state = State::kFree;
    std::uint32_t requests = 0;
    std::int64_t expires_ns = 0;
    std::int64_t last_request_ns = 0;
    std::size_t pending_count = 0;
    std::array<Packet, kPendingPerHop> pending{};
  };

  bool usable(const Entry& e, std::int64_t now_ns) const noexcept {
    return e.state == State::kStatic || (e.state == State::kReachable && now_ns < e.expires_ns);
  }
  // Linear scan: caches hold a gateway and a handful of on-link peers, so a scan of a few
  // cache lines beats hashing. Raise it to a hash map if on-link neighbors grow to thousands.
  const Entry* find_entry(const IpAddress& ip) const noexcept {
    for (const Entry& e : entries_) {
      if (e.state != State::kFree && e.ip == ip) {
        return &e;
      }
    }
    return nullptr;
  }
  Entry* find_entry(const IpAddress& ip) noexcept {
    return const_cast<Entry*>(static_cast<const NeighborCache*>(this)->find_entry(ip));
  }
  // Reuses an expired reachable entry when no slot is free; never evicts pending or static.
  Entry* find_or_insert(const IpAddress& ip, std::int64_t now_ns) noexcept {
    if (Entry* e = find_entry(ip)) {
      return e;
    }
    Entry* victim = nullptr;
    for (Entry& e : entries_) {
      if (e.state == State::kFree) {
        victim = &e;
        break;
      }
      if (victim == nullptr && e.state == State::kReachable && now_ns >= e.expires_ns) {
        victim = &e;
      }
    }
    if (victim != nullptr) {
      *victim = Entry{};
      victim->ip = ip;
      victim->state = State::kIncomplete;
    }
    return victim;
  }

  NeighborCacheConfig config_;
  std::vector<Entry> entries_;
};

}  // namespace discplane::net
