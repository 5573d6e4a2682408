// An IPv4 or IPv6 UDP endpoint, stored flat (no sockaddr, no allocation) so the
// engine, the codecs and every backend can pass it by value.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "discplane/common/bytes.h"

namespace discplane {

struct IpAddress {
  enum class Family : std::uint8_t { kNone = 0, kV4 = 4, kV6 = 6 };
  Family family = Family::kNone;
  // IPv4 uses bytes [0, 4); IPv6 all 16. Unused bytes stay zero so that == works.
  std::array<std::uint8_t, 16> bytes{};

  static IpAddress v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d);
  static IpAddress v4(ByteView four);
  static IpAddress v6(ByteView sixteen);
  // From the raw bytes of an ENR `ip`/`ip6` or a discv4 endpoint (4 or 16 bytes).
  static std::optional<IpAddress> from_bytes(ByteView raw);
  static std::optional<IpAddress> parse(std::string_view text);

  bool is_v4() const { return family == Family::kV4; }
  bool is_v6() const { return family == Family::kV6; }
  bool valid() const { return family != Family::kNone; }
  ByteView view() const { return {bytes.data(), is_v4() ? 4u : is_v6() ? 16u : 0u}; }
  bool is_loopback() const;
  bool is_unspecified() const;
  bool is_link_local() const;
  bool is_private() const;  // RFC1918, fc00::/7
  std::string to_string() const;

  friend bool operator==(const IpAddress& a, const IpAddress& b) noexcept {
    return a.family == b.family && equal_words(a.bytes, b.bytes);
  }
  friend auto operator<=>(const IpAddress&, const IpAddress&) = default;
};

struct Endpoint {
  IpAddress ip;
  std::uint16_t port = 0;

  bool valid() const { return ip.valid() && port != 0; }
  // "1.2.3.4:30303" or "[::1]:30303"
  std::string to_string() const;
  static std::optional<Endpoint> parse(std::string_view text);

  friend bool operator==(const Endpoint&, const Endpoint&) = default;
  friend auto operator<=>(const Endpoint&, const Endpoint&) = default;
};

struct EndpointHash {
  std::size_t operator()(const Endpoint& e) const noexcept;
};

}  // namespace discplane
