#include "discplane/common/bytes.h"

#include <cstdio>
#include <cstdlib>

namespace discplane {

std::string to_hex(ByteView v) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.resize(v.size() * 2);
  for (std::size_t i = 0; i < v.size(); ++i) {
    out[2 * i] = kDigits[v[i] >> 4];
    out[2 * i + 1] = kDigits[v[i] & 0x0f];
  }
  return out;
}

namespace {
int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}
}  // namespace

bool from_hex(std::string_view hex, Bytes& out) {
  if (hex.size() >= 2 && hex[0] == '0' && (hex[1] == 'x' || hex[1] == 'X')) {
    hex.remove_prefix(2);
  }
  if (hex.size() % 2 != 0) {
    return false;
  }
  out.clear();
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const int hi = hex_value(hex[i]);
    const int lo = hex_value(hex[i + 1]);
    if (hi < 0 || lo < 0) {
      return false;
    }
    out.push_back(static_cast<std::uint8_t>(hi << 4 | lo));
  }
  return true;
}

Bytes hex_or_die(std::string_view hex) {
  Bytes out;
  if (!from_hex(hex, out)) {
    std::fprintf(stderr, "hex_or_die: invalid hex string\n");
    std::abort();
  }
  return out;
}

}  // namespace discplane
