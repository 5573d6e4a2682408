// Byte containers and views shared by every layer.
// Views (`ByteView`) point into buffers owned elsewhere (a packet, an mbuf); the
// codecs decode into views so that nothing is copied or allocated per packet.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace discplane {

using ByteView = std::span<const std::uint8_t>;
using MutableByteView = std::span<std::uint8_t>;
using Bytes = std::vector<std::uint8_t>;

template <std::size_t N>
using ByteArray = std::array<std::uint8_t, N>;

using Hash256 = ByteArray<32>;
using NodeId = ByteArray<32>;

inline ByteView as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

inline bool equal(ByteView a, ByteView b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0);
}

// Equality of two N-byte arrays (N a multiple of 8) as word compares, inline: node ids and
// addresses are compared several times a packet, and std::array's == calls memcmp.
template <std::size_t N>
inline bool equal_words(const ByteArray<N>& a, const ByteArray<N>& b) noexcept {
  static_assert(N % 8 == 0);
  std::uint64_t diff = 0;
  for (std::size_t i = 0; i < N; i += 8) {
    std::uint64_t x;
    std::uint64_t y;
    std::memcpy(&x, a.data() + i, 8);
    std::memcpy(&y, b.data() + i, 8);
    diff |= x ^ y;
  }
  return diff == 0;
}

template <std::size_t N>
ByteArray<N> to_array(ByteView v) {  // caller guarantees v.size() == N
  ByteArray<N> out{};
  std::memcpy(out.data(), v.data(), N);
  return out;
}

// Lowercase hex without prefix.
std::string to_hex(ByteView v);
// Accepts an optional "0x" prefix; returns false on odd length or a non-hex digit.
bool from_hex(std::string_view hex, Bytes& out);
// Convenience for tests and tools: aborts on invalid input (never used on packets).
Bytes hex_or_die(std::string_view hex);

}  // namespace discplane
