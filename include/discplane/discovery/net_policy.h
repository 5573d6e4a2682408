// NetPolicy: who the engine may talk to. A ban list (node ids, IPs, CIDRs) and an optional
// allow list of CIDRs (geth's --netrestrict: when set, only endpoints inside it are contacted
// or admitted). Built once on the control plane, then immutable: the core only reads it, so a
// reload builds a new one and swaps it in through the command ring (msg::SetNetPolicy).
//
// Layout: each address list is a sorted vector of disjoint, merged [first, last] ranges per
// family (IPv4 as 32-bit, IPv6 as 128-bit integers); a lookup is one binary search. Banned node
// ids are a sorted vector. No allocation and no locks on a lookup; an empty list costs one size
// check, so the common case (no policy entries) is a few instructions.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "discplane/common/bytes.h"
#include "discplane/common/endpoint.h"

namespace discplane::disc {

// An address prefix: "10.0.0.0/8", "fd00::/8", "1.2.3.4" (= /32), "::1" (= /128). Host bits
// below the prefix are ignored ("10.1.2.3/8" is 10.0.0.0/8).
struct Cidr {
  IpAddress address;
  std::uint8_t prefix_length = 0;  // 0..32 (IPv4) or 0..128 (IPv6)

  // A bare address is a full-length prefix. nullopt on anything else.
  [[nodiscard]] static std::optional<Cidr> parse(std::string_view text);
  bool contains(const IpAddress& ip) const noexcept;
  std::string to_string() const;
  friend bool operator==(const Cidr&, const Cidr&) = default;
};

// What the control plane hands in to build a policy.
struct NetPolicySpec {
  std::vector<NodeId> banned_ids;
  std::vector<Cidr> banned;  // single IPs are full-length prefixes
  std::vector<Cidr> allow;   // empty: every address allowed
};

enum class Verdict : std::uint8_t {
  kAllowed,
  kBanned,            // banned node id, IP or CIDR
  kOutsideAllowList,  // an allow list is set and the address is not in it
};
std::string_view to_string(Verdict v);

class NetPolicy {
 public:
  NetPolicy() = default;  // admits everything
  explicit NetPolicy(const NetPolicySpec& spec);

  // A packet source or an endpoint to contact. An address of no family (unknown) is outside
  // any allow list but never banned.
  [[nodiscard]] Verdict check_ip(const IpAddress& ip) const noexcept;
  [[nodiscard]] Verdict check_id(const NodeId& id) const noexcept;
  // Both: the id first, then the address.
  [[nodiscard]] Verdict check(const NodeId& id, const IpAddress& ip) const noexcept;
  bool admits(const NodeId& id, const IpAddress& ip) const noexcept {
    return check(id, ip) == Verdict::kAllowed;
  }

  bool has_allow_list() const noexcept { return allow_set_; }
  std::size_t banned_ids() const noexcept { return banned_ids_.size(); }
  // Merged ranges (a test and a log line read these).
  std::size_t banned_ranges() const noexcept { return banned_.size(); }
  std::size_t allow_ranges() const noexcept { return allowed_.size(); }

 private:
  struct U128 {
    std::uint64_t hi = 0;
    std::uint64_t lo = 0;
    friend auto operator<=>(const U128&, const U128&) = default;
  };
  // Disjoint sorted [first, last] ranges per family.
  class RangeSet {
   public:
    void add(const Cidr& c);
    void finish();  // sorts and merges
    bool contains(const IpAddress& ip) const noexcept;
    std::size_t size() const noexcept { return v4_.size() + v6_.size(); }

   private:
    template <class T>
    static void merge(std::vector<std::pair<T, T>>& ranges);
    std::vector<std::pair<std::uint32_t, std::uint32_t>> v4_;
    std::vector<std::pair<U128, U128>> v6_;
  };

  std::vector<NodeId> banned_ids_;  // sorted
  RangeSet banned_;
  RangeSet allowed_;
  bool allow_set_ = false;
};

}  // namespace discplane::disc
