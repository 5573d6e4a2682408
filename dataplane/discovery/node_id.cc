// Node id distance arithmetic. Ids are compared as four big-endian 64-bit words so
// that the log distance is one clz per word and ordering is at most four compares.
#include "discplane/discovery/node_id.h"

#include <cstring>

namespace discplane::disc {
namespace {

inline std::uint64_t load_be64(const std::uint8_t* p) noexcept {
  std::uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return __builtin_bswap64(v);
}

}  // namespace

int log_distance(const NodeId& a, const NodeId& b) noexcept {
  for (int w = 0; w < 4; ++w) {
    const std::uint64_t x = load_be64(a.data() + 8 * w) ^ load_be64(b.data() + 8 * w);
    if (x != 0) {
      return kMaxLogDistance - 64 * w - __builtin_clzll(x);
    }
  }
  return 0;
}

NodeId xor_distance(const NodeId& a, const NodeId& b) noexcept {
  NodeId out;
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = a[i] ^ b[i];
  }
  return out;
}

int compare_distance(const NodeId& target, const NodeId& a, const NodeId& b) noexcept {
  for (int w = 0; w < 4; ++w) {
    const std::uint64_t t = load_be64(target.data() + 8 * w);
    const std::uint64_t da = t ^ load_be64(a.data() + 8 * w);
    const std::uint64_t db = t ^ load_be64(b.data() + 8 * w);
    if (da != db) {
      return da < db ? -1 : 1;
    }
  }
  return 0;
}

NodeId random_id_at_distance(const NodeId& base, int d, crypto::RandomSource& rng) noexcept {
  if (d <= 0) {
    return base;
  }
  if (d > kMaxLogDistance) {
    d = kMaxLogDistance;
  }
  // Build a random XOR mask whose bit length is exactly d, then apply it to base.
  NodeId mask;
  rng.fill(mask);
  const int top_bit = d - 1;              // bit index counted from the least significant
  const int top_byte = 31 - top_bit / 8;  // byte holding that bit (big-endian)
  const int bit_in_byte = top_bit % 8;
  for (int i = 0; i < top_byte; ++i) {
    mask[i] = 0;
  }
  const std::uint8_t keep = static_cast<std::uint8_t>((1u << bit_in_byte) - 1);
  mask[top_byte] = static_cast<std::uint8_t>((mask[top_byte] & keep) | (1u << bit_in_byte));
  return xor_distance(base, mask);
}

}  // namespace discplane::disc
