// Frame codec tests: checksums and builders against frames computed independently (a Python
// RFC 1071 implementation; the IPv4 header example from RFC 791 / Wikipedia), and one test
// per drop reason.
#include "discplane/net/frames.h"

#include <random>
#include <set>
#include <string>

#include <catch2/catch.hpp>

#include "discplane/common/bytes.h"

using namespace discplane;
using namespace discplane::net;

namespace {

// 192.168.0.1:30303 -> 192.168.0.199:30301 "hello discv5", MAC 02:..:01 -> 02:..:02.
const char* kUdp4Frame =
    "020000000002020000000001080045000028000040004011b8acc0a80001c0a800c7765f765d0014fefb68656c"
    "6c6f20646973637635";
// [fd00::1]:30303 -> [fd00::2]:30301, same payload and MACs.
const char* kUdp6Frame =
    "02000000000202000000000186dd6000000000141140fd000000000000000000000000000001fd0000000000000"
    "00000000000000002765f765d0014871068656c6c6f20646973637635";

const MacAddress kPeerMac{2, 0, 0, 0, 0, 1};
const MacAddress kOurMac{2, 0, 0, 0, 0, 2};

IpAddress ip(const char* text) {
  return *IpAddress::parse(text);
}

Interface us() {
  Interface i;
  i.mac = kOurMac;
  i.ipv4 = ip("192.168.0.199");
  i.ipv6 = ip("fd00::2");
  i.udp_port = 30301;
  return i;
}
Interface peer() {
  Interface i;
  i.mac = kPeerMac;
  i.ipv4 = ip("192.168.0.1");
  i.ipv6 = ip("fd00::1");
  i.udp_port = 30303;
  return i;
}

ParseResult parse(const Bytes& frame, ParsedFrame& out, const Interface& self = us()) {
  return parse_frame(frame, self, out);
}
ParseResult parse(const Bytes& frame, const Interface& self = us()) {
  ParsedFrame out;
  return parse_frame(frame, self, out);
}

// Re-stores the IPv4 header checksum after a test edits the header (offset 14).
void fix_ipv4_checksum(Bytes& f, std::size_t l3 = 14) {
  f[l3 + 10] = 0;
  f[l3 + 11] = 0;
  const auto c = static_cast<std::uint16_t>(~checksum_fold(checksum_add(ByteView(&f[l3], 20))));
  f[l3 + 10] = static_cast<std::uint8_t>(c >> 8);
  f[l3 + 11] = static_cast<std::uint8_t>(c);
}

UdpFrameSpec spec4() {
  UdpFrameSpec s;
  s.src_mac = kPeerMac;
  s.dst_mac = kOurMac;
  s.src = Endpoint{ip("192.168.0.1"), 30303};
  s.dst = Endpoint{ip("192.168.0.199"), 30301};
  return s;
}

Bytes build(const UdpFrameSpec& s, std::string_view payload) {
  Bytes buf(kMaxUdpHeadersSize + payload.size());
  std::memcpy(buf.data() + kMaxUdpHeadersSize, payload.data(), payload.size());
  auto layout = build_udp_headers(buf, kMaxUdpHeadersSize, payload.size(), s);
  REQUIRE(layout);
  return Bytes(buf.begin() + static_cast<long>(layout->offset), buf.end());
}

}  // namespace

// The textbook RFC 1071 loop (big-endian 16-bit words, one at a time): the reference that the
// word-at-a-time checksum_add must agree with.
static std::uint16_t reference_checksum(ByteView data, std::uint32_t start) {
  std::uint64_t acc = start;
  for (std::size_t i = 0; i + 1 < data.size(); i += 2) {
    acc += static_cast<std::uint32_t>(data[i] << 8 | data[i + 1]);
  }
  if (data.size() % 2 == 1) {
    acc += static_cast<std::uint32_t>(data.back() << 8);
  }
  while (acc >> 16) {
    acc = (acc & 0xffffu) + (acc >> 16);
  }
  return static_cast<std::uint16_t>(acc);
}

TEST_CASE("internet checksum: agrees with the RFC 1071 loop at every length and alignment",
          "[frames]") {
  std::mt19937 rng(1071);
  Bytes buf(1600);
  for (int fill = 0; fill < 3; ++fill) {
    for (auto& b : buf) {
      // Random bytes, then all 0xff (every add carries), then all zero (sum 0 stays 0).
      b = fill == 0 ? static_cast<std::uint8_t>(rng()) : fill == 1 ? 0xff : 0x00;
    }
    for (std::size_t offset = 0; offset < 8; ++offset) {
      for (std::size_t len = 0; len <= 1500; len += (len < 80 ? 1 : 37)) {
        const ByteView v = ByteView(buf).subspan(offset, len);
        for (const std::uint32_t start : {0u, 0x1234u, 0x2fffeu}) {
          INFO("fill " << fill << " offset " << offset << " len " << len << " start " << start);
          REQUIRE(checksum_fold(checksum_add(v, start)) == reference_checksum(v, start));
        }
      }
    }
  }
}

TEST_CASE("internet checksum: RFC 791 example header and odd lengths", "[frames]") {
  const Bytes hdr = hex_or_die("450000730000400040110000c0a80001c0a800c7");
  CHECK(static_cast<std::uint16_t>(~checksum_fold(checksum_add(hdr))) == 0xb861);
  const Bytes with = hex_or_die("45000073000040004011b861c0a80001c0a800c7");
  CHECK(checksum_fold(checksum_add(with)) == 0xffff);
  // Odd length pads with a zero byte; chaining equals one pass.
  const Bytes odd = hex_or_die("0102030405");
  CHECK(checksum_fold(checksum_add(odd)) == ((0x0102 + 0x0304 + 0x0500) & 0xffff));
  const Bytes a = hex_or_die("01020304");
  CHECK(checksum_fold(checksum_add(ByteView(odd).subspan(4), checksum_add(a))) ==
        checksum_fold(checksum_add(odd)));
  CHECK(checksum_fold(0x1fffe) == 0xffff);
}

TEST_CASE("pseudo-header checksum matches rte_ipv4/ipv6_phdr_cksum semantics", "[frames]") {
  CHECK(pseudo_header_checksum(ip("192.168.0.1"), ip("192.168.0.199"), 17, 20) == 0x823e);
  CHECK(pseudo_header_checksum(ip("fd00::1"), ip("fd00::2"), 17, 20) == 0xfa29);
}

TEST_CASE("parse a known IPv4 UDP frame", "[frames]") {
  ParsedFrame f;
  const Bytes frame = hex_or_die(kUdp4Frame);  // f's views point into it
  REQUIRE(parse(frame, f) == ParseResult::kUdp);
  CHECK(f.src_mac == kPeerMac);
  CHECK(f.dst_mac == kOurMac);
  CHECK(f.l2_len == 14);
  CHECK(f.l3_len == 20);
  CHECK(f.source() == Endpoint{ip("192.168.0.1"), 30303});
  CHECK(f.dst_ip == ip("192.168.0.199"));
  CHECK(f.dst_port == 30301);
  CHECK(f.hop_limit == 64);
  CHECK(equal(f.payload, as_bytes("hello discv5")));
  // Ethernet padding after the IP packet is ignored.
  Bytes padded = hex_or_die(kUdp4Frame);
  padded.resize(64, 0);
  REQUIRE(parse(padded, f) == ParseResult::kUdp);
  CHECK(f.payload.size() == 12);
}

TEST_CASE("parse a known IPv6 UDP frame", "[frames]") {
  ParsedFrame f;
  const Bytes frame = hex_or_die(kUdp6Frame);  // f's views point into it
  REQUIRE(parse(frame, f) == ParseResult::kUdp);
  CHECK(f.source() == Endpoint{ip("fd00::1"), 30303});
  CHECK(f.l3_len == 40);
  CHECK(equal(f.payload, as_bytes("hello discv5")));
}

TEST_CASE("build UDP headers in front of a payload: byte-exact IPv4 and IPv6", "[frames]") {
  CHECK(build(spec4(), "hello discv5") == hex_or_die(kUdp4Frame));
  UdpFrameSpec s6 = spec4();
  s6.src = Endpoint{ip("fd00::1"), 30303};
  s6.dst = Endpoint{ip("fd00::2"), 30301};
  CHECK(build(s6, "hello discv5") == hex_or_die(kUdp6Frame));
  CHECK(udp_headers_size(s6) == 62);
  CHECK(udp_headers_size(spec4()) == 42);
}

TEST_CASE("build UDP headers for checksum offload", "[frames]") {
  UdpFrameSpec s = spec4();
  s.checksum = ChecksumMode::kOffloadL4;
  Bytes f = build(s, "hello discv5");
  CHECK(f[24] == 0xb8);  // IPv4 header checksum still computed
  CHECK(f[25] == 0xac);
  CHECK(f[40] == 0x82);  // UDP field: pseudo-header sum, not inverted
  CHECK(f[41] == 0x3e);
  s.checksum = ChecksumMode::kOffloadAll;
  f = build(s, "hello discv5");
  CHECK(f[24] == 0);
  CHECK(f[25] == 0);
  CHECK(f[40] == 0x82);
  // What the NIC would then do: the full checksum over the stored pseudo sum is the real one.
  f[40] = 0;
  f[41] = 0;
  CHECK(l4_checksum(s.src.ip, s.dst.ip, 17, ByteView(f).subspan(34)) == 0xfefb);
}

TEST_CASE("build errors: headroom, buffer, family", "[frames]") {
  Bytes buf(100);
  auto r = build_udp_headers(buf, 41, 10, spec4());
  REQUIRE_FALSE(r);
  CHECK(r.error() == BuildError::kNoHeadroom);
  r = build_udp_headers(buf, 42, 59, spec4());
  REQUIRE_FALSE(r);
  CHECK(r.error() == BuildError::kBufferTooSmall);
  UdpFrameSpec mixed = spec4();
  mixed.dst = Endpoint{ip("fd00::2"), 1};
  r = build_udp_headers(buf, 66, 10, mixed);
  REQUIRE_FALSE(r);
  CHECK(r.error() == BuildError::kFamilyMismatch);
  CHECK(std::string(to_string(BuildError::kNoHeadroom)).find("headroom") != std::string::npos);
  r = build_udp_headers(buf, 42, 58, spec4());
  REQUIRE(r);
  CHECK(r->offset == 0);
  CHECK(r->length == 100);
  CHECK(r->l2_len == 14);
  CHECK(r->l3_len == 20);
}

TEST_CASE("VLAN tag: built, parsed, mismatches dropped", "[frames]") {
  UdpFrameSpec s = spec4();
  s.vlan_id = 42;
  const Bytes f = build(s, "x");
  CHECK(f.size() == 46 + 1);
  CHECK(f[12] == 0x81);
  CHECK(f[13] == 0x00);
  Interface vlan_us = us();
  vlan_us.vlan_id = 42;
  ParsedFrame out;
  REQUIRE(parse(f, out, vlan_us) == ParseResult::kUdp);
  CHECK(out.has_vlan);
  CHECK(out.vlan_id == 42);
  CHECK(out.l2_len == 18);
  CHECK(parse(f) == ParseResult::kVlanMismatch);  // we are untagged
  vlan_us.vlan_id = 43;
  CHECK(parse(f, vlan_us) == ParseResult::kVlanMismatch);
  CHECK(parse(hex_or_die(kUdp4Frame), vlan_us) == ParseResult::kVlanMismatch);
}

TEST_CASE("drop: truncated at every layer", "[frames]") {
  const Bytes full = hex_or_die(kUdp4Frame);
  CHECK(parse(Bytes(full.begin(), full.begin() + 13)) == ParseResult::kTruncated);
  CHECK(parse(Bytes(full.begin(), full.begin() + 30)) == ParseResult::kTruncated);
  CHECK(parse(Bytes(full.begin(), full.end() - 1)) == ParseResult::kTruncated);  // total_len
  Bytes vlan = full;
  vlan[12] = 0x81;
  vlan[13] = 0x00;
  CHECK(parse(Bytes(vlan.begin(), vlan.begin() + 16)) == ParseResult::kTruncated);
  const Bytes v6 = hex_or_die(kUdp6Frame);
  CHECK(parse(Bytes(v6.begin(), v6.begin() + 50)) == ParseResult::kTruncated);
  CHECK(parse(Bytes(v6.begin(), v6.end() - 1)) == ParseResult::kTruncated);
  // IP total length covers only 4 bytes of UDP header.
  Bytes short_udp = full;
  short_udp[17] = 24;
  fix_ipv4_checksum(short_udp);
  CHECK(parse(short_udp) == ParseResult::kTruncated);
}

TEST_CASE("drop: not for us (MAC, IP, port)", "[frames]") {
  Bytes f = hex_or_die(kUdp4Frame);
  f[5] = 9;  // another unicast MAC
  CHECK(parse(f) == ParseResult::kNotForUs);
  f = hex_or_die(kUdp4Frame);
  Interface other = us();
  other.ipv4 = ip("192.168.0.200");
  CHECK(parse(f, other) == ParseResult::kNotForUs);
  other = us();
  other.udp_port = 30302;
  ParsedFrame out;
  CHECK(parse(f, out, other) == ParseResult::kNotForUs);
  CHECK(out.dst_port == 30301);  // the reason is visible to the caller
  other = us();
  other.ipv4 = IpAddress{};  // IPv4 off
  CHECK(parse(f, other) == ParseResult::kNotForUs);
  CHECK(parse(hex_or_die(kUdp6Frame), other) == ParseResult::kUdp);
  other = us();
  other.ipv6 = ip("fd00::3");
  CHECK(parse(hex_or_die(kUdp6Frame), other) == ParseResult::kNotForUs);
}

TEST_CASE("drop: unsupported ethertype and bad IP headers", "[frames]") {
  Bytes f = hex_or_die(kUdp4Frame);
  f[12] = 0x88;
  f[13] = 0xcc;  // LLDP
  CHECK(parse(f) == ParseResult::kUnsupportedEthertype);
  f = hex_or_die(kUdp4Frame);
  f[14] = 0x55;  // version 5
  CHECK(parse(f) == ParseResult::kBadIpHeader);
  f[14] = 0x44;  // IHL 4
  CHECK(parse(f) == ParseResult::kBadIpHeader);
  f = hex_or_die(kUdp6Frame);
  f[14] = 0x40;  // IPv4 version in an IPv6 ethertype
  CHECK(parse(f) == ParseResult::kBadIpHeader);
}

TEST_CASE("drop: bad IPv4 header, UDP and UDP/IPv6 checksums, offload flags trusted", "[frames]") {
  Bytes f = hex_or_die(kUdp4Frame);
  f[25] ^= 1;
  CHECK(parse(f) == ParseResult::kBadChecksum);
  ParsedFrame out;
  CHECK(parse_frame(f, us(), out, RxChecksumState{true, false}) == ParseResult::kUdp);
  f = hex_or_die(kUdp4Frame);
  f.back() ^= 1;  // payload corrupted
  CHECK(parse(f) == ParseResult::kBadChecksum);
  CHECK(parse_frame(f, us(), out, RxChecksumState{false, true}) == ParseResult::kUdp);
  f = hex_or_die(kUdp6Frame);
  f.back() ^= 1;
  CHECK(parse(f) == ParseResult::kBadChecksum);
}

TEST_CASE("UDP checksum 0: allowed on IPv4, dropped on IPv6", "[frames]") {
  Bytes f = hex_or_die(kUdp4Frame);
  f[40] = 0;
  f[41] = 0;
  CHECK(parse(f) == ParseResult::kUdp);
  f = hex_or_die(kUdp6Frame);
  f[60] = 0;
  f[61] = 0;
  CHECK(parse(f) == ParseResult::kMissingChecksum);
}

TEST_CASE("drop: bad UDP length", "[frames]") {
  Bytes f = hex_or_die(kUdp4Frame);
  f[39] = 7;  // below the header size
  CHECK(parse(f) == ParseResult::kBadUdpLength);
  f[39] = 21;  // past the IP payload
  CHECK(parse(f) == ParseResult::kBadUdpLength);
}

TEST_CASE("drop: IPv4 and IPv6 fragments, IPv6 extension headers, other protocols", "[frames]") {
  Bytes f = hex_or_die(kUdp4Frame);
  f[20] = 0x20;  // MF
  fix_ipv4_checksum(f);
  CHECK(parse(f) == ParseResult::kFragment);
  f[20] = 0x00;
  f[21] = 0x10;  // offset 16 (x8)
  fix_ipv4_checksum(f);
  CHECK(parse(f) == ParseResult::kFragment);
  f = hex_or_die(kUdp4Frame);
  f[23] = 6;  // TCP
  fix_ipv4_checksum(f);
  CHECK(parse(f) == ParseResult::kUnsupportedProtocol);
  Bytes v6 = hex_or_die(kUdp6Frame);
  v6[20] = 44;
  CHECK(parse(v6) == ParseResult::kFragment);
  v6[20] = 0;
  CHECK(parse(v6) == ParseResult::kExtensionHeader);
  v6[20] = 60;
  CHECK(parse(v6) == ParseResult::kExtensionHeader);
  v6[20] = 6;
  CHECK(parse(v6) == ParseResult::kUnsupportedProtocol);
}

TEST_CASE("IPv4 options are skipped", "[frames]") {
  // Insert 4 bytes of options (NOP x4) after the 20-byte header.
  Bytes f = hex_or_die(kUdp4Frame);
  f.insert(f.begin() + 34, {1, 1, 1, 1});
  f[14] = 0x46;
  f[17] = static_cast<std::uint8_t>(f[17] + 4);
  f[24] = 0;
  f[25] = 0;
  const auto c = static_cast<std::uint16_t>(~checksum_fold(checksum_add(ByteView(&f[14], 24))));
  f[24] = static_cast<std::uint8_t>(c >> 8);
  f[25] = static_cast<std::uint8_t>(c);
  ParsedFrame out;
  REQUIRE(parse(f, out) == ParseResult::kUdp);
  CHECK(out.l3_len == 24);
  CHECK(equal(out.payload, as_bytes("hello discv5")));
}

TEST_CASE("ARP: request for us parsed, reply built byte-exact, others dropped", "[frames]") {
  Bytes req(64);
  auto n = build_arp_request(req, ip("192.168.0.199"), peer());
  REQUIRE(n);
  REQUIRE(*n == 42);
  req.resize(*n);
  CHECK(req == hex_or_die("ffffffffffff0200000000010806000108000604000102000000000"
                          "1c0a80001000000000000c0a800c7"));
  ParsedFrame f;
  REQUIRE(parse(req, f) == ParseResult::kArp);
  CHECK(f.arp_op == 1);
  CHECK(f.link_addr == kPeerMac);
  CHECK(f.src_ip == ip("192.168.0.1"));
  Bytes rep(60);
  n = build_arp_reply(rep, f, us());
  REQUIRE(n);
  rep.resize(*n);
  CHECK(rep == hex_or_die("0200000000010200000000020806000108000604000202000000000"
                          "2c0a800c7020000000001c0a80001"));
  ParsedFrame back;
  REQUIRE(parse(rep, back, peer()) == ParseResult::kArp);
  CHECK(back.arp_op == 2);
  CHECK(back.link_addr == kOurMac);
  // Another target, a bad op, a non-Ethernet hardware type, a short body.
  Interface other = us();
  other.ipv4 = ip("192.168.0.5");
  CHECK(parse(req, other) == ParseResult::kNotForUs);
  Bytes bad = req;
  bad[21] = 3;
  CHECK(parse(bad) == ParseResult::kBadArp);
  bad = req;
  bad[15] = 6;
  CHECK(parse(bad) == ParseResult::kBadArp);
  CHECK(parse(Bytes(req.begin(), req.begin() + 40)) == ParseResult::kTruncated);
  Bytes tiny(10);
  CHECK_FALSE(build_arp_request(tiny, ip("192.168.0.199"), peer()));
}

TEST_CASE("ICMPv4 echo request answered with a valid reply", "[frames]") {
  // Echo request id 0x1234 seq 1 data "abcd" from the peer, checksum computed offline.
  const Bytes req = hex_or_die(
      "020000000002020000000001080045000020000040004001b8c4c0a80001c0a800c708002104123400016162636"
      "4");
  ParsedFrame f;
  REQUIRE(parse(req, f) == ParseResult::kIcmpEcho);
  CHECK(f.payload.size() == 12);
  Bytes rep(128);
  auto n = build_echo_reply(rep, f, us());
  REQUIRE(n);
  rep.resize(*n);
  CHECK(rep == hex_or_die("020000000001020000000002080045000020000040004001b8c4c0a800c7c0a80001"
                          "000029041234000161626364"));
  // Drops: wrong checksum, unsupported type (timestamp), truncated.
  Bytes bad = req;
  bad.back() ^= 1;
  CHECK(parse(bad) == ParseResult::kBadChecksum);
  bad = req;
  bad[34] = 13;
  CHECK(parse(bad) == ParseResult::kUnsupportedIcmp);
  bad = req;
  bad[17] = 24;  // IP length leaves 4 ICMP bytes
  fix_ipv4_checksum(bad);
  CHECK(parse(bad) == ParseResult::kTruncated);
}

TEST_CASE("ICMPv6 echo request answered with a valid reply", "[frames]") {
  // Built here: type 128, id 7, seq 9, data "ping", checksum via l4_checksum (tested above).
  Bytes req = hex_or_die(
      "02000000000202000000000186dd60000000000c3a40fd000000000000000000000000000001fd0000000000000"
      "000000000000000028000000000070009"
      "70696e67");
  const auto c = l4_checksum(ip("fd00::1"), ip("fd00::2"), 58, ByteView(req).subspan(54));
  req[56] = static_cast<std::uint8_t>(c >> 8);
  req[57] = static_cast<std::uint8_t>(c);
  ParsedFrame f;
  REQUIRE(parse(req, f) == ParseResult::kIcmp6Echo);
  Bytes rep(128);
  auto n = build_echo_reply(rep, f, us());
  REQUIRE(n);
  rep.resize(*n);
  REQUIRE(rep.size() == req.size());
  CHECK(std::equal(rep.begin(), rep.begin() + 6, kPeerMac.begin()));
  CHECK(rep[54] == 129);
  CHECK(std::equal(rep.begin() + 58, rep.end(), req.begin() + 58));  // id, seq, data
  CHECK(checksum_fold(checksum_add(ByteView(rep).subspan(54),
                                   pseudo_header_checksum(ip("fd00::2"), ip("fd00::1"), 58, 12))) ==
        0xffff);
  req.back() ^= 1;
  CHECK(parse(req) == ParseResult::kBadChecksum);
}

TEST_CASE("NDP: NS to the solicited-node group, NA back, bad hop limit dropped", "[frames]") {
  CHECK(solicited_node_address(ip("fd00::12:3456")) == ip("ff02::1:ff12:3456"));
  CHECK(ipv6_multicast_mac(ip("ff02::1:ff12:3456")) ==
        MacAddress{0x33, 0x33, 0xff, 0x12, 0x34, 0x56});
  Bytes ns(128);
  auto n = build_neighbor_solicit(ns, ip("fd00::2"), peer());
  REQUIRE(n);
  REQUIRE(*n == 14 + 40 + 32);
  ns.resize(*n);
  ParsedFrame f;
  REQUIRE(parse(ns, f) == ParseResult::kNeighborSolicit);
  CHECK(f.dst_ip == ip("ff02::1:ff00:2"));
  CHECK(f.target == ip("fd00::2"));
  CHECK(f.has_link_addr);
  CHECK(f.link_addr == kPeerMac);
  CHECK(f.hop_limit == 255);
  Bytes na(128);
  n = build_neighbor_advert(na, f, us());
  REQUIRE(n);
  na.resize(*n);
  ParsedFrame back;
  REQUIRE(parse(na, back, peer()) == ParseResult::kNeighborAdvert);
  CHECK(back.target == ip("fd00::2"));
  CHECK(back.link_addr == kOurMac);
  CHECK(back.dst_mac == kPeerMac);
  CHECK((na[54 + 4] & 0x40) != 0);  // solicited flag
  // NS for someone else, with a forged hop limit, or a zero-length option.
  Interface other = us();
  other.ipv6 = ip("fd00::3");
  CHECK(parse(ns, other) == ParseResult::kNotForUs);
  Bytes bad = ns;
  bad[21] = 64;
  CHECK(parse(bad) == ParseResult::kBadNdp);
  bad = ns;
  bad[54 + 25] = 0;  // option length 0; fix the checksum so only the option is wrong
  bad[56] = 0;
  bad[57] = 0;
  const auto c = l4_checksum(ip("fd00::1"), ip("ff02::1:ff00:2"), 58, ByteView(bad).subspan(54));
  bad[56] = static_cast<std::uint8_t>(c >> 8);
  bad[57] = static_cast<std::uint8_t>(c);
  CHECK(parse(bad) == ParseResult::kBadNdp);
}

TEST_CASE("every parse result has a distinct name", "[frames]") {
  std::set<std::string> names;
  for (std::size_t i = 0; i < kParseResultCount; ++i) {
    names.insert(to_string(static_cast<ParseResult>(i)));
  }
  CHECK(names.size() == kParseResultCount);
  CHECK(names.count("unknown") == 0);
  CHECK_FALSE(is_drop(ParseResult::kUdp));
  CHECK(is_drop(ParseResult::kNotForUs));
}

TEST_CASE("drop: martian sources (as the kernel would), unless allowed", "[frames]") {
  Interface self = us();
  self.ipv4_broadcast = ip("192.168.0.255");
  auto from = [&](const char* src, const Interface& i) {
    UdpFrameSpec s = spec4();
    s.src = Endpoint{ip(src), 30303};
    if (s.src.ip.is_v6()) {
      s.dst = Endpoint{ip("fd00::2"), 30301};
    }
    return parse(build(s, "hello"), i);
  };
  for (const char* martian :
       {"0.0.0.0", "0.1.2.3", "127.0.0.1", "127.255.0.9", "224.0.0.1", "239.255.255.250",
        "240.0.0.1", "255.255.255.255", "192.168.0.255", "192.168.0.199", "::", "::1", "ff02::1",
        "ff05::2", "::ffff:1.2.3.4", "::ffff:127.0.0.1", "fd00::2"}) {
    INFO(martian);
    CHECK(is_martian(ip(martian), self));
    CHECK(from(martian, self) == ParseResult::kMartianSource);
  }
  for (const char* fine :
       {"1.2.3.4", "192.168.0.1", "169.254.1.1", "10.0.0.1", "223.255.255.255", "192.168.0.254",
        "fd00::1", "2001:db8::1", "::2", "::1:0:0:1", "fe80::1", "64:ff9b::1.2.3.4"}) {
    INFO(fine);
    CHECK_FALSE(is_martian(ip(fine), self));
    CHECK(from(fine, self) == ParseResult::kUdp);
  }
  // Without a subnet broadcast configured (a /31 or /32), that address is an ordinary host.
  CHECK_FALSE(is_martian(ip("192.168.0.255"), us()));
  // Not for our port: counted as that, before the source is looked at.
  UdpFrameSpec other = spec4();
  other.src = Endpoint{ip("127.0.0.1"), 30303};
  other.dst.port = 9;
  CHECK(parse(build(other, "x"), self) == ParseResult::kNotForUs);

  // The operator's explicit exception: only the ranges named.
  const std::vector<disc::Cidr> allow = {*disc::Cidr::parse("127.0.0.0/8"),
                                         *disc::Cidr::parse("::1")};
  Interface lenient = self;
  lenient.allow_martian = allow;
  CHECK(from("127.0.0.1", lenient) == ParseResult::kUdp);
  CHECK(from("::1", lenient) == ParseResult::kUdp);
  CHECK(from("224.0.0.1", lenient) == ParseResult::kMartianSource);
  CHECK(from("::", lenient) == ParseResult::kMartianSource);

  // ICMPv4 echo from a martian source is dropped too (a reply would go to it).
  Bytes echo = hex_or_die(
      "020000000002020000000001080045000020000040004001b8c4c0a80001c0a800c708002104123400016162636"
      "4");
  echo[26] = 127;  // source 127.168.0.1
  fix_ipv4_checksum(echo);
  CHECK(parse(echo, self) == ParseResult::kMartianSource);
  CHECK(std::string(to_string(ParseResult::kMartianSource)) == "martian_source");
}
