#include "discplane/common/endpoint.h"

#include <arpa/inet.h>

#include <charconv>
#include <functional>

namespace discplane {

IpAddress IpAddress::v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
  IpAddress ip;
  ip.family = Family::kV4;
  ip.bytes[0] = a;
  ip.bytes[1] = b;
  ip.bytes[2] = c;
  ip.bytes[3] = d;
  return ip;
}

IpAddress IpAddress::v4(ByteView four) {
  return v4(four[0], four[1], four[2], four[3]);
}

IpAddress IpAddress::v6(ByteView sixteen) {
  IpAddress ip;
  ip.family = Family::kV6;
  std::memcpy(ip.bytes.data(), sixteen.data(), 16);
  return ip;
}

std::optional<IpAddress> IpAddress::from_bytes(ByteView raw) {
  if (raw.size() == 4) {
    return v4(raw);
  }
  if (raw.size() == 16) {
    return v6(raw);
  }
  return std::nullopt;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  std::string s(text);
  std::uint8_t buf[16];
  if (inet_pton(AF_INET, s.c_str(), buf) == 1) {
    return v4(ByteView(buf, 4));
  }
  if (inet_pton(AF_INET6, s.c_str(), buf) == 1) {
    return v6(ByteView(buf, 16));
  }
  return std::nullopt;
}

bool IpAddress::is_loopback() const {
  if (is_v4()) {
    return bytes[0] == 127;
  }
  if (is_v6()) {
    for (int i = 0; i < 15; ++i) {
      if (bytes[i] != 0) {
        return false;
      }
    }
    return bytes[15] == 1;
  }
  return false;
}

bool IpAddress::is_unspecified() const {
  for (auto b : view()) {
    if (b != 0) {
      return false;
    }
  }
  return true;
}

bool IpAddress::is_link_local() const {
  if (is_v4()) {
    return bytes[0] == 169 && bytes[1] == 254;
  }
  if (is_v6()) {
    return bytes[0] == 0xfe && (bytes[1] & 0xc0) == 0x80;
  }
  return false;
}

bool IpAddress::is_private() const {
  if (is_v4()) {
    return bytes[0] == 10 || (bytes[0] == 172 && (bytes[1] & 0xf0) == 16) ||
           (bytes[0] == 192 && bytes[1] == 168);
  }
  if (is_v6()) {
    return (bytes[0] & 0xfe) == 0xfc;
  }
  return false;
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (is_v4()) {
    inet_ntop(AF_INET, bytes.data(), buf, sizeof buf);
  } else if (is_v6()) {
    inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf);
  } else {
    return "<none>";
  }
  return buf;
}

std::string Endpoint::to_string() const {
  // Built with append: GCC 12 raises a false -Wrestrict on chained operator+.
  std::string out;
  out.reserve(48);
  if (ip.is_v6()) {
    out.append("[").append(ip.to_string()).append("]");
  } else {
    out.append(ip.to_string());
  }
  out.append(":").append(std::to_string(port));
  return out;
}

std::optional<Endpoint> Endpoint::parse(std::string_view text) {
  std::string_view host;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return std::nullopt;
    }
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return std::nullopt;  // bare IPv6 needs brackets
    }
  }
  unsigned port = 0;
  auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || ptr != port_text.data() + port_text.size() || port > 65535) {
    return std::nullopt;
  }
  auto ip = IpAddress::parse(host);
  if (!ip) {
    return std::nullopt;
  }
  return Endpoint{*ip, static_cast<std::uint16_t>(port)};
}

std::size_t EndpointHash::operator()(const Endpoint& e) const noexcept {
  std::uint64_t a;
  std::uint64_t b;
  std::memcpy(&a, e.ip.bytes.data(), 8);
  std::memcpy(&b, e.ip.bytes.data() + 8, 8);
  std::uint64_t h = a * 0x9e3779b97f4a7c15ULL ^ (b * 0x632be59bd9b4e019ULL);
  h ^= (static_cast<std::uint64_t>(e.port) << 8 | static_cast<std::uint8_t>(e.ip.family)) *
       0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return static_cast<std::size_t>(h);
}

}  // namespace discplane
