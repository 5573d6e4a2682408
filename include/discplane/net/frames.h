// Frame codecs for the packet backends: parse Ethernet (+ one 802.1Q tag), IPv4, IPv6, UDP,
// ARP, ICMPv4 echo and ICMPv6 echo/NDP into views of the frame, and build the headers that
// go in front of a payload already in place, plus the ARP/ICMP/NDP answers. Pure code: no
// DPDK, no sockets, no allocation; every drop has a reason that callers count.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "discplane/common/bytes.h"
#include "discplane/common/endpoint.h"
#include "discplane/common/result.h"
#include "discplane/discovery/net_policy.h"

namespace discplane::net {

using MacAddress = std::array<std::uint8_t, 6>;
inline constexpr MacAddress kBroadcastMac{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

inline constexpr std::uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr std::uint16_t kEtherTypeArp = 0x0806;
inline constexpr std::uint16_t kEtherTypeVlan = 0x8100;
inline constexpr std::uint16_t kEtherTypeIpv6 = 0x86dd;
inline constexpr std::uint8_t kIpProtoIcmp = 1;
inline constexpr std::uint8_t kIpProtoUdp = 17;
inline constexpr std::uint8_t kIpProtoIcmpv6 = 58;

inline constexpr std::size_t kEthHeaderSize = 14;
inline constexpr std::size_t kVlanTagSize = 4;
inline constexpr std::size_t kIpv4HeaderSize = 20;
inline constexpr std::size_t kIpv6HeaderSize = 40;
inline constexpr std::size_t kUdpHeaderSize = 8;
// Room a backend keeps in front of a payload so that any UDP header stack fits.
inline constexpr std::size_t kMaxUdpHeadersSize =
    kEthHeaderSize + kVlanTagSize + kIpv6HeaderSize + kUdpHeaderSize;
static_assert(kMaxUdpHeadersSize == 66);

// What we are: frames are checked against these addresses. An unset family (IpAddress{})
// means the port does not speak that IP version.
struct Interface {
  MacAddress mac{};
  IpAddress ipv4;
  IpAddress ipv6;
  std::uint16_t udp_port = 0;
  std::uint16_t vlan_id = 0;  // 0: untagged
  // The directed broadcast address of our IPv4 subnet (unset: none, e.g. a /31 or /32).
  IpAddress ipv4_broadcast;
  // Martian sources (see is_martian) inside these prefixes are accepted: the operator's
  // explicit exception (dataplane.dpdk.allow_martian). The storage belongs to the backend.
  std::span<const disc::Cidr> allow_martian;
};

// A source address no host on the wire can have, which the kernel drops before a socket
// sees it (RFC 1812 5.3.7, RFC 4291 2.5): IPv4 0.0.0.0/8, 127.0.0.0/8, multicast 224.0.0.0/4,
// class E 240.0.0.0/4 (with 255.255.255.255), our subnet's broadcast and our own address;
// IPv6 ::, ::1, multicast ff00::/8, v4-mapped ::ffff:0:0/96 and our own address. A few
// compares on the parsed address. (allow_martian is not consulted here.)
[[nodiscard]] bool is_martian(const IpAddress& src, const Interface& self) noexcept;

// The outcome of parsing one frame. The values before kFirstDrop are frames to act on;
// the rest are drop reasons (counters are indexed by this enum).
enum class ParseResult : std::uint8_t {
  kUdp,              // a datagram for our address and port
  kArp,              // ARP request or reply whose target is our IPv4 address
  kIcmpEcho,         // ICMPv4 echo request to us
  kIcmp6Echo,        // ICMPv6 echo request to us
  kNeighborSolicit,  // NDP NS for our IPv6 address
  kNeighborAdvert,   // NDP NA addressed to us
  kFirstDrop,
  kTruncated = kFirstDrop,
  kNotForUs,  // another MAC, IP or UDP port
  kVlanMismatch,
  kUnsupportedEthertype,
  kBadIpHeader,  // version, header length or total length wrong
  kBadChecksum,
  kFragment,
  kExtensionHeader,  // IPv6 extension headers are not followed
  kUnsupportedProtocol,
  kBadUdpLength,
  kMissingChecksum,  // UDP over IPv6 with checksum 0
  kUnsupportedIcmp,  // another ICMP/ICMPv6 type, or a bad code
  kBadArp,
  kBadNdp,         // hop limit not 255, too short, bad option
  kMartianSource,  // UDP / echo from a source that cannot be real (is_martian), not allowed
  kCount,
};
inline constexpr std::size_t kParseResultCount = static_cast<std::size_t>(ParseResult::kCount);
const char* to_string(ParseResult r) noexcept;
inline bool is_drop(ParseResult r) noexcept {
  return r >= ParseResult::kFirstDrop;
}

// Views and fields of one parsed frame. Views point into the frame.
struct ParsedFrame {
  MacAddress dst_mac{};
  MacAddress src_mac{};
  bool has_vlan = false;
  std::uint16_t vlan_id = 0;
  std::uint16_t ethertype = 0;  // after the VLAN tag
  std::uint16_t l2_len = 0;     // Ethernet (+VLAN) header bytes
  std::uint16_t l3_len = 0;     // IP header bytes
  IpAddress src_ip;             // ARP: sender protocol address
  IpAddress dst_ip;             // ARP: target protocol address
  std::uint8_t hop_limit = 0;   // IPv4 TTL / IPv6 hop limit
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
  ByteView payload;            // UDP payload; ICMP/ICMPv6: the whole ICMP message
  std::uint16_t arp_op = 0;    // 1 request, 2 reply
  IpAddress target;            // NDP target address
  bool has_link_addr = false;  // ARP sender MAC, NDP source/target link-layer option
  MacAddress link_addr{};

  Endpoint source() const { return Endpoint{src_ip, src_port}; }
};

// Checksums the NIC already verified (DPDK RX offload flags). Unverified ones are computed.
struct RxChecksumState {
  bool ipv4_good = false;
  bool l4_good = false;
};

[[nodiscard]] ParseResult parse_frame(ByteView frame, const Interface& self, ParsedFrame& out,
                                      RxChecksumState offload = {}) noexcept;

// ---- Checksums (RFC 1071) ------------------------------------------------------------------
// One's-complement sum of 16-bit big-endian words (odd length: zero-padded), as a 32-bit value
// that is only meaningful once folded (checksum_fold); chain calls by passing the previous sum.
// Chained pieces must have even lengths except the last.
[[nodiscard]] std::uint32_t checksum_add(ByteView data, std::uint32_t sum = 0) noexcept;
[[nodiscard]] std::uint16_t checksum_fold(std::uint32_t sum) noexcept;  // folded, not inverted
// The pseudo-header sum, folded and NOT inverted: what a NIC doing L4 checksum offload expects
// to find in the UDP checksum field (the semantics of rte_ipv4_phdr_cksum / rte_ipv6_phdr_cksum).
[[nodiscard]] std::uint16_t pseudo_header_checksum(const IpAddress& src, const IpAddress& dst,
                                                   std::uint8_t protocol,
                                                   std::uint32_t l4_length) noexcept;
// The full UDP checksum over pseudo header, header (with checksum field as stored) and
// payload, inverted, with 0 mapped to 0xffff. Zero the field first.
[[nodiscard]] std::uint16_t l4_checksum(const IpAddress& src, const IpAddress& dst,
                                        std::uint8_t protocol, ByteView l4) noexcept;

// ---- Builders ------------------------------------------------------------------------------
enum class BuildError : std::uint8_t {
  kNoHeadroom,      // not enough room in front of the payload
  kBufferTooSmall,  // output buffer shorter than the frame
  kFamilyMismatch,  // source and destination not the same IP version, or unset
  kPayloadTooLarge,
};
const char* to_string(BuildError e) noexcept;

enum class ChecksumMode : std::uint8_t {
  kSoftware,    // compute IPv4 header and UDP checksums here
  kOffloadL4,   // compute the IPv4 header checksum; UDP field gets the pseudo-header sum
  kOffloadAll,  // IPv4 checksum field 0, UDP field the pseudo-header sum
};

struct UdpFrameSpec {
  MacAddress src_mac{};
  MacAddress dst_mac{};
  std::uint16_t vlan_id = 0;  // 0: untagged
  Endpoint src;
  Endpoint dst;
  ChecksumMode checksum = ChecksumMode::kSoftware;
  std::uint8_t ttl = 64;
};

struct FrameLayout {
  std::size_t offset = 0;  // where the frame starts in the buffer
  std::size_t length = 0;  // whole frame
  std::uint16_t l2_len = 0;
  std::uint16_t l3_len = 0;
};

[[nodiscard]] std::size_t udp_headers_size(const UdpFrameSpec& spec) noexcept;
// `buffer[payload_offset, payload_offset + payload_len)` holds the payload; the headers are
// written just in front of it.
[[nodiscard]] Result<FrameLayout, BuildError> build_udp_headers(MutableByteView buffer,
                                                                std::size_t payload_offset,
                                                                std::size_t payload_len,
                                                                const UdpFrameSpec& spec) noexcept;

// The answers below write a whole frame at out[0...] and return its length.
enum class ArpOp : std::uint16_t { kRequest = 1, kReply = 2 };
// ARP reply to a parsed request (kArp with arp_op 1).
[[nodiscard]] Result<std::size_t, BuildError> build_arp_reply(MutableByteView out,
                                                              const ParsedFrame& request,
                                                              const Interface& self) noexcept;
// Broadcast "who has target?" from our IPv4 address.
[[nodiscard]] Result<std::size_t, BuildError> build_arp_request(MutableByteView out,
                                                                const IpAddress& target,
                                                                const Interface& self) noexcept;
// ICMPv4/ICMPv6 echo reply to a parsed kIcmpEcho / kIcmp6Echo request (same id, seq, data).
[[nodiscard]] Result<std::size_t, BuildError> build_echo_reply(MutableByteView out,
                                                               const ParsedFrame& request,
                                                               const Interface& self) noexcept;
// Solicited NA for our IPv6 address in answer to a parsed kNeighborSolicit.
[[nodiscard]] Result<std::size_t, BuildError> build_neighbor_advert(MutableByteView out,
                                                                    const ParsedFrame& solicit,
                                                                    const Interface& self) noexcept;
// NS for `target` sent to its solicited-node multicast group, with our link-layer address.
[[nodiscard]] Result<std::size_t, BuildError> build_neighbor_solicit(
    MutableByteView out, const IpAddress& target, const Interface& self) noexcept;

// ff02::1:ffXX:XXXX for an IPv6 address, and its 33:33:ff:XX:XX:XX MAC.
[[nodiscard]] IpAddress solicited_node_address(const IpAddress& ip) noexcept;
[[nodiscard]] MacAddress ipv6_multicast_mac(const IpAddress& group) noexcept;

}  // namespace discplane::net
