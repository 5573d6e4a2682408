// AmpBudget: the anti-amplification limit on what an unauthenticated sender can make us send
// (private header). Like QUIC's limit before address validation (RFC 9000 section 8.1), bytes
// sent to an endpoint that has not proved it receives at its address are paid from credit
// that bytes received earn: per source IP (so a spoofed victim gets at most what was sent in
// its name) and in total (so many spoofed IPs together get no more than was sent to us).
//
// Each account starts full at its burst, earns every byte received (capped at the burst) and
// pays every byte sent to an unverified endpoint; nothing refills with time. So over any
// sequence of packets: bytes sent to an IP <= bytes received from it + per_ip_burst, and in
// total <= bytes received + global_burst (an IP evicted from the LRU comes back full; the
// global account is the bound then), except that a Pong (a reflection about the size of its
// Ping, never refused) may be sent on an empty account: then bytes sent exceed bytes
// received by at most what the Pongs are larger than their Pings. The burst lets a first
// contact bond at once (a Pong and a Ping for one Ping); an honest peer's Pong pays our Ping
// back.
#pragma once

#include <cstdint>

#include "discplane/common/endpoint.h"
#include "discplane/discovery/lru_map.h"

namespace discplane::disc {

class AmpBudget {
 public:
  AmpBudget(std::uint32_t max_ips, std::uint32_t per_ip_burst, std::uint32_t global_burst);

  // `bytes` received from `ip`.
  void earn(const IpAddress& ip, std::size_t bytes) noexcept;
  // Whether `bytes` may be sent to `ip` now (both accounts hold that much).
  bool affordable(const IpAddress& ip, std::size_t bytes) noexcept;
  // Pays for `bytes` sent to `ip` (call after affordable() with at least that many).
  void spend(const IpAddress& ip, std::size_t bytes) noexcept;
  // Pays for `bytes` sent to `ip` out of what the accounts hold, down to zero, for a reply
  // that is owed whatever the balance (the Pong, about the size of its Ping): it is never
  // refused, but it uses up the credit that would pay for anything larger.
  void spend_held(const IpAddress& ip, std::size_t bytes) noexcept;

  std::int64_t ip_credit(const IpAddress& ip) noexcept;
  std::int64_t global_credit() const noexcept { return global_; }
  std::size_t tracked_ips() const noexcept { return ips_.size(); }

 private:
  struct IpOnlyHash {
    std::size_t operator()(const IpAddress& ip) const noexcept {
      return EndpointHash{}(Endpoint{ip, 0});
    }
  };
  std::int64_t& account(const IpAddress& ip) noexcept;

  FixedLruMap<IpAddress, std::int64_t, IpOnlyHash> ips_;
  std::int64_t per_ip_burst_;
  std::int64_t global_burst_;
  std::int64_t global_;
};

}  // namespace discplane::disc
