// Frame parsing and building for the packet backends (see frames.h). Byte order is handled
// here only, with load/store helpers; no struct overlays, so unaligned frames are fine.
// Not here: neighbor state (neighbor_cache.h) and anything DPDK-specific.
#include "discplane/net/frames.h"

#include <bit>
#include <cstring>

namespace discplane::net {
namespace {

inline std::uint16_t load16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>(p[0] << 8 | p[1]);
}
inline void store16(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}
inline void store32(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}
inline MacAddress load_mac(const std::uint8_t* p) {
  MacAddress m;
  std::memcpy(m.data(), p, 6);
  return m;
}

constexpr std::uint8_t kIcmpEchoRequest = 8;
constexpr std::uint8_t kIcmpEchoReply = 0;
constexpr std::uint8_t kIcmp6EchoRequest = 128;
constexpr std::uint8_t kIcmp6EchoReply = 129;
constexpr std::uint8_t kIcmp6NeighborSolicit = 135;
constexpr std::uint8_t kIcmp6NeighborAdvert = 136;
constexpr std::size_t kArpSize = 28;
constexpr std::size_t kNdpSize = 24;  // type..target
constexpr std::size_t kNdpWithLinkOptionSize = kNdpSize + 8;

bool mac_accepted(const MacAddress& dst, const Interface& self) {
  if (dst == self.mac || dst == kBroadcastMac) {
    return true;
  }
  return dst[0] == 0x33 && dst[1] == 0x33;  // IPv6 multicast (NDP to solicited-node group)
}

// Reads NDP options after the fixed part; records the link-layer option of `want_type`.
bool parse_ndp_options(ByteView options, std::uint8_t want_type, ParsedFrame& out) {
  while (!options.empty()) {
    if (options.size() < 2 || options[1] == 0 || options[1] * 8u > options.size()) {
      return false;
    }
    const std::size_t len = options[1] * 8u;
    if (options[0] == want_type && len == 8) {
      out.has_link_addr = true;
      out.link_addr = load_mac(options.data() + 2);
    }
    options = options.subspan(len);
  }
  return true;
}

// Martian sources are dropped unless the operator allowed their range. The allow list is
// read only for a martian, so the common case costs is_martian's compares.
bool refused_source(const IpAddress& src, const Interface& self) noexcept {
  if (!is_martian(src, self)) {
    return false;
  }
  for (const disc::Cidr& c : self.allow_martian) {
    if (c.contains(src)) {
      return false;
    }
  }
  return true;
}

ParseResult parse_udp(ByteView l4, ParsedFrame& out, const Interface& self,
                      const RxChecksumState& offload, bool v6) {
  if (l4.size() < kUdpHeaderSize) {
    return ParseResult::kTruncated;
  }
  const std::uint16_t udp_len = load16(l4.data() + 4);
  if (udp_len < kUdpHeaderSize || udp_len > l4.size()) {
    return ParseResult::kBadUdpLength;
  }
  out.src_port = load16(l4.data());
  out.dst_port = load16(l4.data() + 2);
  if (out.dst_port != self.udp_port) {
    return ParseResult::kNotForUs;
  }
  if (refused_source(out.src_ip, self)) {
    return ParseResult::kMartianSource;
  }
  l4 = l4.first(udp_len);
  const std::uint16_t stored = load16(l4.data() + 6);
  if (stored == 0) {
    if (v6) {
      return ParseResult::kMissingChecksum;
    }
  } else if (!offload.l4_good) {
    const auto proto = kIpProtoUdp;
    if (checksum_fold(checksum_add(
            l4, pseudo_header_checksum(out.src_ip, out.dst_ip, proto, udp_len))) != 0xffff) {
      return ParseResult::kBadChecksum;
    }
  }
  out.payload = l4.subspan(kUdpHeaderSize);
  return ParseResult::kUdp;
}

ParseResult parse_ipv4(ByteView l3, ParsedFrame& out, const Interface& self,
                       const RxChecksumState& offload) {
  if (l3.size() < kIpv4HeaderSize) {
    return ParseResult::kTruncated;
  }
  const std::size_t ihl = (l3[0] & 0x0fu) * 4u;
  const std::size_t total = load16(l3.data() + 2);
  if ((l3[0] >> 4) != 4 || ihl < kIpv4HeaderSize || total < ihl) {
    return ParseResult::kBadIpHeader;
  }
  if (total > l3.size()) {
    return ParseResult::kTruncated;
  }
  l3 = l3.first(total);  // drop Ethernet padding
  out.l3_len = static_cast<std::uint16_t>(ihl);
  out.src_ip = IpAddress::v4(l3.subspan(12, 4));
  out.dst_ip = IpAddress::v4(l3.subspan(16, 4));
  out.hop_limit = l3[8];
  if (!self.ipv4.is_v4() || out.dst_ip != self.ipv4) {
    return ParseResult::kNotForUs;
  }
  if (!offload.ipv4_good && checksum_fold(checksum_add(l3.first(ihl))) != 0xffff) {
    return ParseResult::kBadChecksum;
  }
  if ((load16(l3.data() + 6) & 0x3fffu) != 0) {  // MF flag or a fragment offset
    return ParseResult::kFragment;
  }
  const ByteView l4 = l3.subspan(ihl);
  switch (l3[9]) {
    case kIpProtoUdp:
      return parse_udp(l4, out, self, offload, false);
    case kIpProtoIcmp:
      if (l4.size() < 8) {
        return ParseResult::kTruncated;
      }
      if (l4[0] != kIcmpEchoRequest || l4[1] != 0) {
        return ParseResult::kUnsupportedIcmp;
      }
      if (refused_source(out.src_ip, self)) {
        return ParseResult::kMartianSource;  // an echo reply to it would go nowhere good
      }
      if (checksum_fold(checksum_add(l4)) != 0xffff) {
        return ParseResult::kBadChecksum;
      }
      out.payload = l4;
      return ParseResult::kIcmpEcho;
    default:
      return ParseResult::kUnsupportedProtocol;
  }
}

ParseResult parse_icmp6(ByteView l4, ParsedFrame& out, const Interface& self, bool to_group) {
  if (l4.size() < 8) {
    return ParseResult::kTruncated;
  }
  if (checksum_fold(checksum_add(
          l4, pseudo_header_checksum(out.src_ip, out.dst_ip, kIpProtoIcmpv6,
                                     static_cast<std::uint32_t>(l4.size())))) != 0xffff) {
    return ParseResult::kBadChecksum;
  }
  out.payload = l4;
  const std::uint8_t type = l4[0];
  if (type == kIcmp6EchoRequest && l4[1] == 0 && !to_group) {
    return refused_source(out.src_ip, self) ? ParseResult::kMartianSource : ParseResult::kIcmp6Echo;
  }
  if (type != kIcmp6NeighborSolicit && type != kIcmp6NeighborAdvert) {
    return ParseResult::kUnsupportedIcmp;
  }
  // RFC 4861 7.1.1/7.1.2: hop limit 255 proves the sender is on-link.
  if (out.hop_limit != 255 || l4[1] != 0 || l4.size() < kNdpSize) {
    return ParseResult::kBadNdp;
  }
  out.target = IpAddress::v6(l4.subspan(8, 16));
  const bool solicit = type == kIcmp6NeighborSolicit;
  if (!parse_ndp_options(l4.subspan(kNdpSize), solicit ? 1 : 2, out)) {
    return ParseResult::kBadNdp;
  }
  if (solicit) {
    return out.target == self.ipv6 ? ParseResult::kNeighborSolicit : ParseResult::kNotForUs;
  }
  return ParseResult::kNeighborAdvert;
}

ParseResult parse_ipv6(ByteView l3, ParsedFrame& out, const Interface& self,
                       const RxChecksumState& offload) {
  if (l3.size() < kIpv6HeaderSize) {
    return ParseResult::kTruncated;
  }
  if ((l3[0] >> 4) != 6) {
    return ParseResult::kBadIpHeader;
  }
  const std::size_t payload_len = load16(l3.data() + 4);
  if (payload_len > l3.size() - kIpv6HeaderSize) {
    return ParseResult::kTruncated;
  }
  out.l3_len = kIpv6HeaderSize;
  out.src_ip = IpAddress::v6(l3.subspan(8, 16));
  out.dst_ip = IpAddress::v6(l3.subspan(24, 16));
  out.hop_limit = l3[7];
  if (!self.ipv6.is_v6()) {
    return ParseResult::kNotForUs;
  }
  const bool to_us = out.dst_ip == self.ipv6;
  const bool to_group = out.dst_ip == solicited_node_address(self.ipv6);
  if (!to_us && !to_group) {
    return ParseResult::kNotForUs;
  }
  const ByteView l4 = l3.subspan(kIpv6HeaderSize, payload_len);
  switch (l3[6]) {
    case kIpProtoUdp:
      return to_us ? parse_udp(l4, out, self, offload, true) : ParseResult::kNotForUs;
    case kIpProtoIcmpv6:
      return parse_icmp6(l4, out, self, to_group);
    case 44:
      return ParseResult::kFragment;
    case 0:    // hop-by-hop
    case 43:   // routing
    case 50:   // ESP
    case 51:   // AH
    case 60:   // destination options
    case 135:  // mobility
    case 139:  // HIP
    case 140:  // shim6
      return ParseResult::kExtensionHeader;
    default:
      return ParseResult::kUnsupportedProtocol;
  }
}

ParseResult parse_arp(ByteView arp, ParsedFrame& out, const Interface& self) {
  if (arp.size() < kArpSize) {
    return ParseResult::kTruncated;
  }
  // Ethernet (1), IPv4, hlen 6, plen 4.
  if (load16(arp.data()) != 1 || load16(arp.data() + 2) != kEtherTypeIpv4 || arp[4] != 6 ||
      arp[5] != 4) {
    return ParseResult::kBadArp;
  }
  out.arp_op = load16(arp.data() + 6);
  if (out.arp_op != 1 && out.arp_op != 2) {
    return ParseResult::kBadArp;
  }
  out.has_link_addr = true;
  out.link_addr = load_mac(arp.data() + 8);
  out.src_ip = IpAddress::v4(arp.subspan(14, 4));
  out.dst_ip = IpAddress::v4(arp.subspan(24, 4));
  if (!self.ipv4.is_v4() || out.dst_ip != self.ipv4) {
    return ParseResult::kNotForUs;
  }
  return ParseResult::kArp;
}

void store_ipv4_header(std::uint8_t* p, std::uint16_t total_len, std::uint8_t ttl,
                       std::uint8_t proto, const IpAddress& src, const IpAddress& dst,
                       bool checksum) {
  p[0] = 0x45;
  p[1] = 0;
  store16(p + 2, total_len);
  store16(p + 4, 0);       // id: unused, we never fragment
  store16(p + 6, 0x4000);  // DF
  p[8] = ttl;
  p[9] = proto;
  store16(p + 10, 0);
  std::memcpy(p + 12, src.bytes.data(), 4);
  std::memcpy(p + 16, dst.bytes.data(), 4);
  if (checksum) {
    store16(p + 10,
            static_cast<std::uint16_t>(~checksum_fold(checksum_add(ByteView(p, kIpv4HeaderSize)))));
  }
}

void store_ipv6_header(std::uint8_t* p, std::uint16_t payload_len, std::uint8_t hop_limit,
                       std::uint8_t next, const IpAddress& src, const IpAddress& dst) {
  store32(p, 0x60000000u);
  store16(p + 4, payload_len);
  p[6] = next;
  p[7] = hop_limit;
  std::memcpy(p + 8, src.bytes.data(), 16);
  std::memcpy(p + 24, dst.bytes.data(), 16);
}

// Ethernet header (+VLAN tag); returns its size.
std::size_t store_eth_header(std::uint8_t* p, const MacAddress& dst, const MacAddress& src,
                             std::uint16_t vlan_id, std::uint16_t ethertype) {
  std::memcpy(p, dst.data(), 6);
  std::memcpy(p + 6, src.data(), 6);
  if (vlan_id != 0) {
    store16(p + 12, kEtherTypeVlan);
    store16(p + 14, vlan_id & 0x0fffu);
    store16(p + 16, ethertype);
    return kEthHeaderSize + kVlanTagSize;
  }
  store16(p + 12, ethertype);
  return kEthHeaderSize;
}

}  // namespace

const char* to_string(ParseResult r) noexcept {
  switch (r) {
    case ParseResult::kUdp:
      return "udp";
    case ParseResult::kArp:
      return "arp";
    case ParseResult::kIcmpEcho:
      return "icmp_echo";
    case ParseResult::kIcmp6Echo:
      return "icmp6_echo";
    case ParseResult::kNeighborSolicit:
      return "neighbor_solicit";
    case ParseResult::kNeighborAdvert:
      return "neighbor_advert";
    case ParseResult::kTruncated:
      return "truncated";
    case ParseResult::kNotForUs:
      return "not_for_us";
    case ParseResult::kVlanMismatch:
      return "vlan_mismatch";
    case ParseResult::kUnsupportedEthertype:
      return "unsupported_ethertype";
    case ParseResult::kBadIpHeader:
      return "bad_ip_header";
    case ParseResult::kBadChecksum:
      return "bad_checksum";
    case ParseResult::kFragment:
      return "fragment";
    case ParseResult::kExtensionHeader:
      return "extension_header";
    case ParseResult::kUnsupportedProtocol:
      return "unsupported_protocol";
    case ParseResult::kBadUdpLength:
      return "bad_udp_length";
    case ParseResult::kMissingChecksum:
      return "missing_checksum";
    case ParseResult::kUnsupportedIcmp:
      return "unsupported_icmp";
    case ParseResult::kBadArp:
      return "bad_arp";
    case ParseResult::kMartianSource:
      return "martian_source";
    case ParseResult::kBadNdp:
      return "bad_ndp";
    case ParseResult::kCount:
      break;
  }
  return "unknown";
}

const char* to_string(BuildError e) noexcept {
  switch (e) {
    case BuildError::kNoHeadroom:
      return "no headroom in front of the payload";
    case BuildError::kBufferTooSmall:
      return "buffer too small for the frame";
    case BuildError::kFamilyMismatch:
      return "source and destination IP families differ";
    case BuildError::kPayloadTooLarge:
      return "payload too large";
  }
  return "unknown";
}

bool is_martian(const IpAddress& src, const Interface& self) noexcept {
  const std::uint8_t* b = src.bytes.data();
  if (src.is_v4()) {
    // 0/8, 127/8, and 224/4 + 240/4 (multicast, class E, limited broadcast) in one compare.
    if (b[0] == 0 || b[0] == 127 || b[0] >= 224) {
      return true;
    }
    return src == self.ipv4 || src == self.ipv4_broadcast;
  }
  if (!src.is_v6()) {
    return true;  // no family: nothing real
  }
  if (b[0] == 0xff) {
    return true;  // multicast
  }
  std::uint64_t high = 0;
  std::uint32_t mid = 0;
  std::memcpy(&high, b, 8);
  std::memcpy(&mid, b + 8, 4);
  if (high == 0) {
    const bool v4_mapped = mid == 0xffff0000u;  // ::ffff:0:0/96 (little-endian load)
    const bool low = mid == 0 && b[12] == 0 && b[13] == 0 && b[14] == 0 && b[15] <= 1;  // ::, ::1
    if (v4_mapped || low) {
      return true;
    }
  }
  return src == self.ipv6;
}

ParseResult parse_frame(ByteView frame, const Interface& self, ParsedFrame& out,
                        RxChecksumState offload) noexcept {
  out = ParsedFrame{};
  if (frame.size() < kEthHeaderSize) {
    return ParseResult::kTruncated;
  }
  out.dst_mac = load_mac(frame.data());
  out.src_mac = load_mac(frame.data() + 6);
  std::size_t l2 = kEthHeaderSize;
  out.ethertype = load16(frame.data() + 12);
  if (out.ethertype == kEtherTypeVlan) {
    if (frame.size() < kEthHeaderSize + kVlanTagSize) {
      return ParseResult::kTruncated;
    }
    out.has_vlan = true;
    out.vlan_id = load16(frame.data() + 14) & 0x0fffu;
    out.ethertype = load16(frame.data() + 16);
    l2 += kVlanTagSize;
  }
  out.l2_len = static_cast<std::uint16_t>(l2);
  if ((self.vlan_id != 0) != out.has_vlan || (out.has_vlan && out.vlan_id != self.vlan_id)) {
    return ParseResult::kVlanMismatch;
  }
  if (!mac_accepted(out.dst_mac, self)) {
    return ParseResult::kNotForUs;
  }
  const ByteView l3 = frame.subspan(l2);
  switch (out.ethertype) {
    case kEtherTypeIpv4:
      return parse_ipv4(l3, out, self, offload);
    case kEtherTypeIpv6:
      return parse_ipv6(l3, out, self, offload);
    case kEtherTypeArp:
      return parse_arp(l3, out, self);
    default:
      return ParseResult::kUnsupportedEthertype;
  }
}

static_assert(std::endian::native == std::endian::little,
              "checksum_add assembles words in little-endian order (x86-64 only, as IPsec-mb)");

std::uint32_t checksum_add(ByteView data, std::uint32_t sum) noexcept {
  // RFC 1071 2(B): the one's-complement sum does not depend on byte order, so add the data as
  // native-order 64-bit words with end-around carry (add + adc), fold to 16 bits and swap to
  // network order once at the end: ~3 instructions per 8 bytes instead of adding big-endian
  // 16-bit words one at a time, which showed up on the DPDK path (software checksum on RX and
  // TX when the port offers no offload).
  const std::uint8_t* p = data.data();
  std::size_t n = data.size();
  std::uint64_t a0 = 0;
  std::uint64_t a1 = 0;
  const auto add = [](std::uint64_t& acc, std::uint64_t w) noexcept {
    acc += w;
    acc += acc < w ? 1 : 0;  // end-around carry (compiles to adc)
  };
  while (n >= 16) {
    std::uint64_t w[2];
    std::memcpy(w, p, sizeof w);
    add(a0, w[0]);
    add(a1, w[1]);
    p += 16;
    n -= 16;
  }
  if (n >= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, sizeof w);
    add(a0, w);
    p += 8;
    n -= 8;
  }
  if (n != 0) {  // 1..7 trailing bytes, zero-padded: little-endian word of memory order
    std::uint64_t w = 0;
    unsigned shift = 0;
    if (n & 4) {
      std::uint32_t x;
      std::memcpy(&x, p, sizeof x);
      w = x;
      p += 4;
      shift = 32;
    }
    if (n & 2) {
      std::uint16_t x;
      std::memcpy(&x, p, sizeof x);
      w |= std::uint64_t{x} << shift;
      p += 2;
      shift += 16;
    }
    if (n & 1) {
      w |= std::uint64_t{*p} << shift;
    }
    add(a1, w);
  }
  add(a0, a1);
  std::uint64_t acc = (a0 & 0xffffffffu) + (a0 >> 32);
  acc = (acc & 0xffffffffu) + (acc >> 32);
  std::uint32_t folded = static_cast<std::uint32_t>(acc);
  folded = (folded & 0xffffu) + (folded >> 16);
  folded = (folded & 0xffffu) + (folded >> 16);
  const auto native = static_cast<std::uint16_t>(folded);
  return sum + static_cast<std::uint16_t>(native << 8 | native >> 8);  // to network order
}

std::uint16_t checksum_fold(std::uint32_t sum) noexcept {
  sum = (sum & 0xffffu) + (sum >> 16);
  sum = (sum & 0xffffu) + (sum >> 16);
  return static_cast<std::uint16_t>(sum);
}

std::uint16_t pseudo_header_checksum(const IpAddress& src, const IpAddress& dst,
                                     std::uint8_t protocol, std::uint32_t l4_length) noexcept {
  // Both addresses at once (8 or 32 bytes): one pass instead of two calls on 4-byte spans.
  std::uint8_t both[32];
  const ByteView s = src.view();
  const ByteView d = dst.view();
  std::memcpy(both, s.data(), s.size());
  std::memcpy(both + s.size(), d.data(), d.size());
  std::uint32_t sum = checksum_add(ByteView(both, s.size() + d.size()));
  sum += protocol;
  sum += l4_length >> 16;
  sum += l4_length & 0xffffu;
  return checksum_fold(sum);
}

std::uint16_t l4_checksum(const IpAddress& src, const IpAddress& dst, std::uint8_t protocol,
                          ByteView l4) noexcept {
  const std::uint16_t c = static_cast<std::uint16_t>(~checksum_fold(checksum_add(
      l4, pseudo_header_checksum(src, dst, protocol, static_cast<std::uint32_t>(l4.size())))));
  return c == 0 ? 0xffff : c;
}

std::size_t udp_headers_size(const UdpFrameSpec& spec) noexcept {
  return kEthHeaderSize + (spec.vlan_id != 0 ? kVlanTagSize : 0) +
         (spec.dst.ip.is_v6() ? kIpv6HeaderSize : kIpv4HeaderSize) + kUdpHeaderSize;
}

Result<FrameLayout, BuildError> build_udp_headers(MutableByteView buffer,
                                                  std::size_t payload_offset,
                                                  std::size_t payload_len,
                                                  const UdpFrameSpec& spec) noexcept {
  const bool v6 = spec.dst.ip.is_v6();
  if (spec.src.ip.family != spec.dst.ip.family || !spec.dst.ip.valid()) {
    return fail(BuildError::kFamilyMismatch);
  }
  if (payload_len > 65535 - kIpv6HeaderSize - kUdpHeaderSize) {
    return fail(BuildError::kPayloadTooLarge);
  }
  if (payload_offset + payload_len > buffer.size()) {
    return fail(BuildError::kBufferTooSmall);
  }
  const std::size_t headers = udp_headers_size(spec);
  if (payload_offset < headers) {
    return fail(BuildError::kNoHeadroom);
  }
  FrameLayout layout;
  layout.offset = payload_offset - headers;
  layout.length = headers + payload_len;
  std::uint8_t* p = buffer.data() + layout.offset;
  const std::size_t l2 = store_eth_header(p, spec.dst_mac, spec.src_mac, spec.vlan_id,
                                          v6 ? kEtherTypeIpv6 : kEtherTypeIpv4);
  layout.l2_len = static_cast<std::uint16_t>(l2);
  layout.l3_len = static_cast<std::uint16_t>(v6 ? kIpv6HeaderSize : kIpv4HeaderSize);
  const auto udp_len = static_cast<std::uint16_t>(kUdpHeaderSize + payload_len);
  std::uint8_t* ip = p + l2;
  if (v6) {
    store_ipv6_header(ip, udp_len, spec.ttl, kIpProtoUdp, spec.src.ip, spec.dst.ip);
  } else {
    store_ipv4_header(ip, static_cast<std::uint16_t>(kIpv4HeaderSize + udp_len), spec.ttl,
                      kIpProtoUdp, spec.src.ip, spec.dst.ip,
                      spec.checksum != ChecksumMode::kOffloadAll);
  }
  std::uint8_t* udp = ip + layout.l3_len;
  store16(udp, spec.src.port);
  store16(udp + 2, spec.dst.port);
  store16(udp + 4, udp_len);
  store16(udp + 6, 0);
  if (spec.checksum == ChecksumMode::kSoftware) {
    store16(udp + 6, l4_checksum(spec.src.ip, spec.dst.ip, kIpProtoUdp, ByteView(udp, udp_len)));
  } else {
    store16(udp + 6, pseudo_header_checksum(spec.src.ip, spec.dst.ip, kIpProtoUdp, udp_len));
  }
  return layout;
}

namespace {

Result<std::size_t, BuildError> build_arp(MutableByteView out, ArpOp op, const MacAddress& eth_dst,
                                          const MacAddress& target_mac, const IpAddress& target_ip,
                                          const Interface& self) {
  const std::size_t need = kEthHeaderSize + (self.vlan_id ? kVlanTagSize : 0) + kArpSize;
  if (out.size() < need) {
    return fail(BuildError::kBufferTooSmall);
  }
  if (!self.ipv4.is_v4() || !target_ip.is_v4()) {
    return fail(BuildError::kFamilyMismatch);
  }
  std::uint8_t* p = out.data();
  p += store_eth_header(p, eth_dst, self.mac, self.vlan_id, kEtherTypeArp);
  store16(p, 1);
  store16(p + 2, kEtherTypeIpv4);
  p[4] = 6;
  p[5] = 4;
  store16(p + 6, static_cast<std::uint16_t>(op));
  std::memcpy(p + 8, self.mac.data(), 6);
  std::memcpy(p + 14, self.ipv4.bytes.data(), 4);
  std::memcpy(p + 18, target_mac.data(), 6);
  std::memcpy(p + 24, target_ip.bytes.data(), 4);
  return need;
}

// An ICMPv6 message after Ethernet+IPv6 headers; the checksum is filled in last.
Result<std::size_t, BuildError> build_icmp6(MutableByteView out, const MacAddress& dst_mac,
                                            const IpAddress& dst_ip, std::uint8_t hop_limit,
                                            ByteView body, const std::uint8_t* link_option,
                                            std::uint8_t option_type, const Interface& self) {
  const std::size_t l2 = kEthHeaderSize + (self.vlan_id ? kVlanTagSize : 0);
  const std::size_t l4_len = body.size() + (link_option ? 8 : 0);
  if (out.size() < l2 + kIpv6HeaderSize + l4_len) {
    return fail(BuildError::kBufferTooSmall);
  }
  if (!self.ipv6.is_v6() || !dst_ip.is_v6()) {
    return fail(BuildError::kFamilyMismatch);
  }
  std::uint8_t* p = out.data();
  store_eth_header(p, dst_mac, self.mac, self.vlan_id, kEtherTypeIpv6);
  store_ipv6_header(p + l2, static_cast<std::uint16_t>(l4_len), hop_limit, kIpProtoIcmpv6,
                    self.ipv6, dst_ip);
  std::uint8_t* icmp = p + l2 + kIpv6HeaderSize;
  std::memmove(icmp, body.data(), body.size());
  if (link_option) {
    icmp[body.size()] = option_type;
    icmp[body.size() + 1] = 1;
    std::memcpy(icmp + body.size() + 2, link_option, 6);
  }
  store16(icmp + 2, 0);
  store16(icmp + 2, l4_checksum(self.ipv6, dst_ip, kIpProtoIcmpv6, ByteView(icmp, l4_len)));
  return l2 + kIpv6HeaderSize + l4_len;
}

}  // namespace

Result<std::size_t, BuildError> build_arp_reply(MutableByteView out, const ParsedFrame& request,
                                                const Interface& self) noexcept {
  return build_arp(out, ArpOp::kReply, request.link_addr, request.link_addr, request.src_ip, self);
}

Result<std::size_t, BuildError> build_arp_request(MutableByteView out, const IpAddress& target,
                                                  const Interface& self) noexcept {
  return build_arp(out, ArpOp::kRequest, kBroadcastMac, MacAddress{}, target, self);
}

Result<std::size_t, BuildError> build_echo_reply(MutableByteView out, const ParsedFrame& request,
                                                 const Interface& self) noexcept {
  const ByteView icmp = request.payload;
  if (request.src_ip.is_v6()) {
    std::array<std::uint8_t, 4> head{kIcmp6EchoReply, 0, 0, 0};
    // Header rewritten after the copy: body = reply type + the request's id/seq/data.
    auto r = build_icmp6(out, request.src_mac, request.src_ip, 64, icmp, nullptr, 0, self);
    if (r) {
      const std::size_t l2 = kEthHeaderSize + (self.vlan_id ? kVlanTagSize : 0);
      std::uint8_t* m = out.data() + l2 + kIpv6HeaderSize;
      std::memcpy(m, head.data(), 4);
      store16(m + 2,
              l4_checksum(self.ipv6, request.src_ip, kIpProtoIcmpv6, ByteView(m, icmp.size())));
    }
    return r;
  }
  const std::size_t l2 = kEthHeaderSize + (self.vlan_id ? kVlanTagSize : 0);
  const std::size_t need = l2 + kIpv4HeaderSize + icmp.size();
  if (out.size() < need) {
    return fail(BuildError::kBufferTooSmall);
  }
  if (!self.ipv4.is_v4() || !request.src_ip.is_v4()) {
    return fail(BuildError::kFamilyMismatch);
  }
  std::uint8_t* p = out.data();
  store_eth_header(p, request.src_mac, self.mac, self.vlan_id, kEtherTypeIpv4);
  store_ipv4_header(p + l2, static_cast<std::uint16_t>(kIpv4HeaderSize + icmp.size()), 64,
                    kIpProtoIcmp, self.ipv4, request.src_ip, true);
  std::uint8_t* m = p + l2 + kIpv4HeaderSize;
  std::memmove(m, icmp.data(), icmp.size());
  m[0] = kIcmpEchoReply;
  m[1] = 0;
  store16(m + 2, 0);
  store16(m + 2,
          static_cast<std::uint16_t>(~checksum_fold(checksum_add(ByteView(m, icmp.size())))));
  return need;
}

Result<std::size_t, BuildError> build_neighbor_advert(MutableByteView out,
                                                      const ParsedFrame& solicit,
                                                      const Interface& self) noexcept {
  std::array<std::uint8_t, kNdpSize> body{};
  body[0] = kIcmp6NeighborAdvert;
  // RFC 4861 4.4: Solicited flag, Override flag.
  body[4] = 0x60;
  std::memcpy(body.data() + 8, self.ipv6.bytes.data(), 16);
  // An NS from the unspecified address (DAD) is answered to all-nodes.
  IpAddress dst_ip = solicit.src_ip;
  MacAddress dst_mac = solicit.has_link_addr ? solicit.link_addr : solicit.src_mac;
  if (solicit.src_ip.is_unspecified()) {
    std::array<std::uint8_t, 16> all_nodes{0xff, 0x02};
    all_nodes[15] = 1;
    dst_ip = IpAddress::v6(all_nodes);
    dst_mac = ipv6_multicast_mac(dst_ip);
    body[4] = 0x20;
  }
  return build_icmp6(out, dst_mac, dst_ip, 255, body, self.mac.data(), 2, self);
}

Result<std::size_t, BuildError> build_neighbor_solicit(MutableByteView out, const IpAddress& target,
                                                       const Interface& self) noexcept {
  if (!target.is_v6()) {
    return fail(BuildError::kFamilyMismatch);
  }
  std::array<std::uint8_t, kNdpSize> body{};
  body[0] = kIcmp6NeighborSolicit;
  std::memcpy(body.data() + 8, target.bytes.data(), 16);
  const IpAddress group = solicited_node_address(target);
  return build_icmp6(out, ipv6_multicast_mac(group), group, 255, body, self.mac.data(), 1, self);
}

IpAddress solicited_node_address(const IpAddress& ip) noexcept {
  std::array<std::uint8_t, 16> b{0xff, 0x02};
  b[11] = 0x01;
  b[12] = 0xff;
  b[13] = ip.bytes[13];
  b[14] = ip.bytes[14];
  b[15] = ip.bytes[15];
  return IpAddress::v6(b);
}

MacAddress ipv6_multicast_mac(const IpAddress& group) noexcept {
  return MacAddress{0x33, 0x33, group.bytes[12], group.bytes[13], group.bytes[14], group.bytes[15]};
}

static_assert(kNdpWithLinkOptionSize == 32);

}  // namespace discplane::net
