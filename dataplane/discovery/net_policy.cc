// NetPolicy: sorted, merged range tables and a sorted id list (see net_policy.h).
#include "discplane/discovery/net_policy.h"

#include <algorithm>
#include <charconv>

namespace discplane::disc {

namespace {

std::uint32_t v4_value(const IpAddress& ip) noexcept {
  return (std::uint32_t{ip.bytes[0]} << 24) | (std::uint32_t{ip.bytes[1]} << 16) |
         (std::uint32_t{ip.bytes[2]} << 8) | std::uint32_t{ip.bytes[3]};
}

std::uint64_t be64(const std::uint8_t* p) noexcept {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) {
    v = (v << 8) | p[i];
  }
  return v;
}

// Mask of the top `bits` bits of a 64-bit word (bits 0..64).
std::uint64_t top_mask64(unsigned bits) noexcept {
  return bits == 0 ? 0 : bits >= 64 ? ~std::uint64_t{0} : ~std::uint64_t{0} << (64 - bits);
}

}  // namespace

std::optional<Cidr> Cidr::parse(std::string_view text) {
  const auto slash = text.find('/');
  auto ip = IpAddress::parse(text.substr(0, slash));
  if (!ip || !ip->valid()) {
    return std::nullopt;
  }
  const unsigned max = ip->is_v4() ? 32 : 128;
  unsigned prefix = max;
  if (slash != std::string_view::npos) {
    const auto p = text.substr(slash + 1);
    const char* end = p.data() + p.size();
    auto [ptr, ec] = std::from_chars(p.data(), end, prefix);
    if (p.empty() || ec != std::errc() || ptr != end || prefix > max) {
      return std::nullopt;
    }
  }
  Cidr c{*ip, static_cast<std::uint8_t>(prefix)};
  // Clear the host bits so that equal prefixes compare equal.
  for (unsigned i = 0; i < max / 8; ++i) {
    const unsigned bit = i * 8;
    if (bit >= prefix) {
      c.address.bytes[i] = 0;
    } else if (prefix - bit < 8) {
      c.address.bytes[i] &= static_cast<std::uint8_t>(0xff << (8 - (prefix - bit)));
    }
  }
  return c;
}

bool Cidr::contains(const IpAddress& ip) const noexcept {
  if (ip.family != address.family || !ip.valid()) {
    return false;
  }
  unsigned bits = prefix_length;
  for (std::size_t i = 0; bits > 0; ++i) {
    const unsigned n = std::min(bits, 8u);
    const auto mask = static_cast<std::uint8_t>(0xff << (8 - n));
    if ((ip.bytes[i] & mask) != (address.bytes[i] & mask)) {
      return false;
    }
    bits -= n;
  }
  return true;
}

std::string Cidr::to_string() const {
  return address.to_string() + "/" + std::to_string(prefix_length);
}

std::string_view to_string(Verdict v) {
  switch (v) {
    case Verdict::kAllowed:
      return "allowed";
    case Verdict::kBanned:
      return "banned";
    case Verdict::kOutsideAllowList:
      return "outside_allow_list";
  }
  return "?";
}

// ---- RangeSet ---------------------------------------------------------------------------------

void NetPolicy::RangeSet::add(const Cidr& c) {
  if (c.address.is_v4()) {
    const unsigned p = std::min<unsigned>(c.prefix_length, 32);
    const std::uint32_t host = p == 0 ? ~std::uint32_t{0} : p == 32 ? 0 : ~std::uint32_t{0} >> p;
    const std::uint32_t first = v4_value(c.address) & ~host;
    v4_.emplace_back(first, first | host);
  } else if (c.address.is_v6()) {
    const unsigned p = std::min<unsigned>(c.prefix_length, 128);
    const std::uint64_t mask_hi = top_mask64(std::min(p, 64u));
    const std::uint64_t mask_lo = top_mask64(p > 64 ? p - 64 : 0);
    const U128 first{be64(c.address.bytes.data()) & mask_hi,
                     be64(c.address.bytes.data() + 8) & mask_lo};
    const U128 last{first.hi | ~mask_hi, first.lo | ~mask_lo};
    v6_.emplace_back(first, last);
  }
}

template <class T>
void NetPolicy::RangeSet::merge(std::vector<std::pair<T, T>>& ranges) {
  std::sort(ranges.begin(), ranges.end());
  std::vector<std::pair<T, T>> out;
  for (const auto& r : ranges) {
    // Overlapping ranges merge; adjacent ones stay apart (no +1 overflow to care about, and a
    // lookup is the same binary search either way).
    if (!out.empty() && r.first <= out.back().second) {
      out.back().second = std::max(out.back().second, r.second);
    } else {
      out.push_back(r);
    }
  }
  out.shrink_to_fit();
  ranges = std::move(out);
}

void NetPolicy::RangeSet::finish() {
  merge(v4_);
  merge(v6_);
}

bool NetPolicy::RangeSet::contains(const IpAddress& ip) const noexcept {
  // The last range starting at or below the address, if its end covers it.
  auto lookup = [](const auto& ranges, const auto& value) {
    if (ranges.empty()) {
      return false;
    }
    auto it = std::upper_bound(ranges.begin(), ranges.end(), value,
                               [](const auto& v, const auto& r) { return v < r.first; });
    return it != ranges.begin() && value <= std::prev(it)->second;
  };
  if (ip.is_v4()) {
    return lookup(v4_, v4_value(ip));
  }
  if (ip.is_v6()) {
    return lookup(v6_, U128{be64(ip.bytes.data()), be64(ip.bytes.data() + 8)});
  }
  return false;
}

// ---- NetPolicy --------------------------------------------------------------------------------

NetPolicy::NetPolicy(const NetPolicySpec& spec)
    : banned_ids_(spec.banned_ids), allow_set_(!spec.allow.empty()) {
  std::sort(banned_ids_.begin(), banned_ids_.end());
  banned_ids_.erase(std::unique(banned_ids_.begin(), banned_ids_.end()), banned_ids_.end());
  for (const Cidr& c : spec.banned) {
    banned_.add(c);
  }
  for (const Cidr& c : spec.allow) {
    allowed_.add(c);
  }
  banned_.finish();
  allowed_.finish();
}

Verdict NetPolicy::check_ip(const IpAddress& ip) const noexcept {
  if (banned_.contains(ip)) {
    return Verdict::kBanned;
  }
  if (allow_set_ && !allowed_.contains(ip)) {
    return Verdict::kOutsideAllowList;
  }
  return Verdict::kAllowed;
}

Verdict NetPolicy::check_id(const NodeId& id) const noexcept {
  if (!banned_ids_.empty() && std::binary_search(banned_ids_.begin(), banned_ids_.end(), id)) {
    return Verdict::kBanned;
  }
  return Verdict::kAllowed;
}

Verdict NetPolicy::check(const NodeId& id, const IpAddress& ip) const noexcept {
  const Verdict v = check_id(id);
  return v != Verdict::kAllowed ? v : check_ip(ip);
}

}  // namespace discplane::disc
