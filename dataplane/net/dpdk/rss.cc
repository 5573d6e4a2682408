// Software prediction of a NIC's RSS queue: Toeplitz (rte_softrss, the generic implementation
// over the unconverted key) over the tuple in host byte order, as rte_thash.h documents it, then
// the redirection table. tests/unit/dpdk/rss_test.cc checks the hash against the Microsoft RSS
// verification suite (IPv4 and IPv6, with and without ports).
#include <cstring>

#include <rte_byteorder.h>
#include <rte_ethdev.h>
#include <rte_thash.h>

#include "discplane/net/dpdk_queues.h"

namespace discplane::net {

const std::array<std::uint8_t, 40> kRssKey = {
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
    0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
    0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa};

namespace {

std::uint32_t load_be32(const std::uint8_t* p) noexcept {
  return static_cast<std::uint32_t>(p[0]) << 24 | static_cast<std::uint32_t>(p[1]) << 16 |
         static_cast<std::uint32_t>(p[2]) << 8 | p[3];
}

std::array<RssState, RTE_MAX_ETHPORTS>& states() noexcept {
  static std::array<RssState, RTE_MAX_ETHPORTS> s{};
  return s;
}

}  // namespace

std::uint32_t toeplitz_hash(ByteView key, const Endpoint& src, const Endpoint& dst,
                            bool with_ports) noexcept {
  // rte_softrss reads key words j and j+1 for tuple word j: the key must cover the tuple + 4.
  std::array<std::uint32_t, 9> tuple{};
  std::uint32_t words = 0;
  if (src.ip.is_v4() && dst.ip.is_v4()) {
    tuple[0] = load_be32(src.ip.bytes.data());
    tuple[1] = load_be32(dst.ip.bytes.data());
    words = 2;
  } else if (src.ip.is_v6() && dst.ip.is_v6()) {
    for (std::size_t i = 0; i < 4; ++i) {
      tuple[i] = load_be32(src.ip.bytes.data() + 4 * i);
      tuple[4 + i] = load_be32(dst.ip.bytes.data() + 4 * i);
    }
    words = 8;
  } else {
    return 0;
  }
  if (with_ports) {
    tuple[words++] = static_cast<std::uint32_t>(src.port) << 16 | dst.port;
  }
  if (key.size() < 4 * (words + 1)) {
    return 0;
  }
  // rte_softrss reads the key as 32-bit words: give it an aligned copy.
  alignas(4) std::array<std::uint8_t, 52> k{};
  std::memcpy(k.data(), key.data(), std::min(key.size(), k.size()));
  return rte_softrss(tuple.data(), words, k.data());
}

std::uint32_t RssState::queue_of(const Endpoint& from) const noexcept {
  if (reta_size == 0) {
    return 0;
  }
  const bool v4 = from.ip.is_v4();
  const std::uint32_t h = toeplitz_hash(ByteView(key.data(), key_len), from,
                                        v4 ? local_v4 : local_v6, v4 ? l4_v4 : l4_v6);
  return reta[h % reta_size];
}

void set_rss_state(std::uint16_t port_id, const RssState& state) noexcept {
  if (port_id < RTE_MAX_ETHPORTS) {
    states()[port_id] = state;
  }
}

const RssState& rss_state(std::uint16_t port_id) noexcept {
  return states()[port_id < RTE_MAX_ETHPORTS ? port_id : 0];
}

std::uint32_t rss_steer(const Endpoint& from, std::uint32_t workers, std::uint64_t seed) noexcept {
  const std::uint32_t q = rss_state(static_cast<std::uint16_t>(seed)).queue_of(from);
  return q < workers ? q : 0;
}

}  // namespace discplane::net
