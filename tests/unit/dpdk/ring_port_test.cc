// DpdkPort over net_ring: hand-built frames go into the port's RX ring, what it sends is read
// from its TX ring and parsed back (from the peer's side, so checksums and MACs are verified).
// Each case uses its own peer address, so the shared port's neighbor cache starts cold for it.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "discplane/net/frames.h"

#include "unit/dpdk/dpdk_env.h"

using namespace dptest;

namespace {

// Records datagrams; answers each with "pong:" + payload.
struct PongSink final : disc::DatagramSink {
  void on_burst(std::span<const disc::Datagram> burst, disc::Transport& tx) noexcept override {
    for (const auto& d : burst) {
      received.emplace_back(std::string(d.payload.begin(), d.payload.end()), d.from);
      auto buf = tx.acquire_tx_buffer();
      if (buf.size() < disc::kMaxPacketSize) {
        continue;
      }
      std::memcpy(buf.data(), "pong:", 5);
      std::memcpy(buf.data() + 5, d.payload.data(), d.payload.size());
      tx.commit_tx(5 + d.payload.size(), d.from);
    }
  }
  void on_idle(disc::Transport&) noexcept override { ++idle; }
  std::vector<std::pair<std::string, Endpoint>> received;
  std::atomic<int> idle{0};
};

// A peer on the ring's link.
Interface peer(const char* v4, const char* v6, std::uint8_t mac_last) {
  Interface p;
  p.mac = MacAddress{2, 0, 0, 0, 0x77, mac_last};
  p.ipv4 = addr(v4);
  p.ipv6 = addr(v6);
  p.udp_port = 40000;
  return p;
}

Bytes udp_frame(const Interface& from, const Endpoint& to, const std::string& payload,
                std::uint16_t vlan = 0) {
  UdpFrameSpec s;
  s.src_mac = from.mac;
  s.dst_mac = env().ring_port->interface().mac;
  s.vlan_id = vlan;
  s.src = Endpoint{to.ip.is_v4() ? from.ipv4 : from.ipv6, from.udp_port};
  s.dst = to;
  Bytes buf(kMaxUdpHeadersSize + payload.size());
  std::memcpy(buf.data() + kMaxUdpHeadersSize, payload.data(), payload.size());
  auto layout = build_udp_headers(buf, kMaxUdpHeadersSize, payload.size(), s);
  REQUIRE(layout);
  return Bytes(buf.begin() + static_cast<long>(layout->offset), buf.end());
}

Endpoint our_v4() {
  return Endpoint{addr("192.168.0.199"), 30301};
}
Endpoint our_v6() {
  return Endpoint{addr("fd00::2"), 30301};
}

std::vector<Bytes> step(PongSink& sink) {
  (void)env().ring_port->run_once(sink);
  return drain_tx();
}

}  // namespace

// rte_eal_init pins its caller to the main lcore's CPU; eal_init_once undoes that, or every
// thread started later (workers, the control thread) would inherit the one CPU.
TEST_CASE("dpdk EAL: the initialising thread keeps its own CPUs; lcore CPUs are known", "[dpdk]") {
  (void)env();  // the EAL is up (initialised by this thread, Catch2 runs on one)
  const auto before = cpus_before_eal();
  REQUIRE_FALSE(before.empty());
  REQUIRE(thread_cpus() == before);
  const auto lcores = eal_lcore_cpus();
  REQUIRE_FALSE(lcores.empty());
  for (unsigned cpu : lcores) {
    REQUIRE(std::find(before.begin(), before.end(), cpu) != before.end());
  }
}

TEST_CASE("dpdk ring: ARP request for our IP is answered", "[dpdk]") {
  DpdkPort& port = *env().ring_port;
  const Interface p = peer("192.168.0.10", "fd00::10", 10);
  Bytes req(64);
  auto n = build_arp_request(req, addr("192.168.0.199"), p);
  REQUIRE(n);
  req.resize(*n);
  const auto before = port.counters().frame(ParseResult::kArp);
  inject(req);
  PongSink sink;
  const auto out = step(sink);
  REQUIRE(out.size() == 1);
  ParsedFrame f;
  REQUIRE(parse_frame(out[0], p, f) == ParseResult::kArp);
  CHECK(f.arp_op == 2);
  CHECK(f.link_addr == port.interface().mac);
  CHECK(f.src_mac == port.interface().mac);
  CHECK(f.dst_mac == p.mac);
  CHECK(f.src_ip == addr("192.168.0.199"));
  CHECK(port.counters().frame(ParseResult::kArp) == before + 1);
  // ARP for another address is dropped with its reason.
  n = build_arp_request(req, addr("192.168.0.198"), p);
  REQUIRE(n);
  const auto not_for_us = port.counters().frame(ParseResult::kNotForUs);
  inject(req);
  CHECK(step(sink).empty());
  CHECK(port.counters().frame(ParseResult::kNotForUs) == not_for_us + 1);
}

TEST_CASE("dpdk ring: ICMP echo and ICMPv6 echo are answered", "[dpdk]") {
  DpdkPort& port = *env().ring_port;
  const MacAddress peer_mac{2, 0, 0, 0, 0, 1};
  // Echo request id 0x1234 seq 1 "abcd" from 192.168.0.1 (checksums as in frames_test).
  Bytes req = hex_or_die(
      "020000000002020000000001080045000020000040004001b8c4c0a80001c0a800c708002104123400016162636"
      "4");
  std::memcpy(req.data(), port.interface().mac.data(), 6);
  inject(req);
  PongSink sink;
  auto out = step(sink);
  REQUIRE(out.size() == 1);
  CHECK(out[0] == [&] {
    Bytes want = hex_or_die(
        "020000000001020000000002080045000020000040004001b8c4c0a800c7c0a80001"
        "000029041234000161626364");
    std::memcpy(want.data() + 6, port.interface().mac.data(), 6);
    return want;
  }());
  // ICMPv6 echo from fd00::1: the reply must carry a valid checksum.
  Bytes req6 = hex_or_die(
      "02000000000202000000000186dd60000000000c3a40fd000000000000000000000000000001fd00000000000"
      "0000000000000000002800000000007000970696e67");
  std::memcpy(req6.data(), port.interface().mac.data(), 6);
  const auto c = l4_checksum(addr("fd00::1"), addr("fd00::2"), 58, ByteView(req6).subspan(54));
  req6[56] = static_cast<std::uint8_t>(c >> 8);
  req6[57] = static_cast<std::uint8_t>(c);
  inject(req6);
  out = step(sink);
  REQUIRE(out.size() == 1);
  REQUIRE(out[0].size() == req6.size());
  CHECK(out[0][54] == 129);
  CHECK(checksum_fold(checksum_add(
            ByteView(out[0]).subspan(54),
            pseudo_header_checksum(addr("fd00::2"), addr("fd00::1"), 58, 12))) == 0xffff);
  CHECK(std::equal(out[0].begin(), out[0].begin() + 6, peer_mac.begin()));
}

TEST_CASE("dpdk ring: UDP to us reaches the sink, the reply resolves the peer by ARP", "[dpdk]") {
  DpdkPort& port = *env().ring_port;
  const Interface p = peer("192.168.0.11", "fd00::11", 11);
  PongSink sink;
  inject(udp_frame(p, our_v4(), "hello"));
  auto out = step(sink);
  REQUIRE(sink.received.size() == 1);
  CHECK(sink.received[0].first == "hello");
  CHECK(sink.received[0].second == Endpoint{p.ipv4, 40000});
  // Peer unknown: the reply waits, an ARP request goes out.
  REQUIRE(out.size() == 1);
  ParsedFrame f;
  Interface listener = p;  // the peer sees the broadcast request for its address
  REQUIRE(parse_frame(out[0], listener, f) == ParseResult::kArp);
  CHECK(f.arp_op == 1);
  CHECK(f.dst_mac == kBroadcastMac);
  CHECK(f.dst_ip == p.ipv4);
  // The peer answers; the queued reply leaves with its MAC.
  Bytes reply(64);
  auto n = build_arp_reply(reply, f, p);
  REQUIRE(n);
  reply.resize(*n);
  inject(reply);
  out = step(sink);
  REQUIRE(out.size() == 1);
  REQUIRE(parse_frame(out[0], p, f) == ParseResult::kUdp);  // verifies IP and UDP checksums
  CHECK(f.dst_mac == p.mac);
  CHECK(f.src_mac == port.interface().mac);
  CHECK(f.source() == our_v4());
  CHECK(std::string(f.payload.begin(), f.payload.end()) == "pong:hello");
  // Now resolved: a second datagram is answered in the same burst.
  inject(udp_frame(p, our_v4(), "again"));
  out = step(sink);
  REQUIRE(out.size() == 1);
  REQUIRE(parse_frame(out[0], p, f) == ParseResult::kUdp);
  CHECK(std::string(f.payload.begin(), f.payload.end()) == "pong:again");
}

TEST_CASE("dpdk ring: IPv6 UDP, neighbor solicitation both ways", "[dpdk]") {
  DpdkPort& port = *env().ring_port;
  const Interface p = peer("192.168.0.12", "fd00::12", 12);
  PongSink sink;
  // The peer solicits us first: we answer with an NA and learn its MAC from the option.
  Bytes ns(128);
  auto n = build_neighbor_solicit(ns, addr("fd00::2"), p);
  REQUIRE(n);
  ns.resize(*n);
  inject(ns);
  auto out = step(sink);
  REQUIRE(out.size() == 1);
  ParsedFrame f;
  REQUIRE(parse_frame(out[0], p, f) == ParseResult::kNeighborAdvert);
  CHECK(f.target == addr("fd00::2"));
  CHECK(f.link_addr == port.interface().mac);
  // Learned: the UDP reply goes straight out.
  inject(udp_frame(p, our_v6(), "six"));
  out = step(sink);
  REQUIRE(sink.received.size() == 1);
  CHECK(sink.received[0].second == Endpoint{p.ipv6, 40000});
  REQUIRE(out.size() == 1);
  REQUIRE(parse_frame(out[0], p, f) == ParseResult::kUdp);
  CHECK(std::string(f.payload.begin(), f.payload.end()) == "pong:six");
  CHECK(f.dst_mac == p.mac);
  // An unknown IPv6 peer: we send an NS and the reply follows the NA.
  const Interface q = peer("192.168.0.13", "fd00::13", 13);
  inject(udp_frame(q, our_v6(), "who"));
  out = step(sink);
  REQUIRE(out.size() == 1);
  REQUIRE(parse_frame(out[0], q, f) == ParseResult::kNeighborSolicit);
  Bytes na(128);
  n = build_neighbor_advert(na, f, q);
  REQUIRE(n);
  na.resize(*n);
  inject(na);
  out = step(sink);
  REQUIRE(out.size() == 1);
  REQUIRE(parse_frame(out[0], q, f) == ParseResult::kUdp);
  CHECK(std::string(f.payload.begin(), f.payload.end()) == "pong:who");
}

TEST_CASE("dpdk ring: frames not for us are counted by reason and freed", "[dpdk]") {
  DpdkPort& port = *env().ring_port;
  const Interface p = peer("192.168.0.14", "fd00::14", 14);
  const auto counts = port.counters();
  PongSink sink;
  inject(udp_frame(p, Endpoint{addr("192.168.0.199"), 9999}, "other port"));
  inject(udp_frame(p, our_v4(), "tagged", 5));
  Bytes bad = udp_frame(p, our_v4(), "corrupt");
  bad.back() ^= 0x01;
  inject(bad);
  Bytes lldp = udp_frame(p, our_v4(), "x");
  lldp[12] = 0x88;
  lldp[13] = 0xcc;
  inject(lldp);
  const unsigned free_before = rte_mempool_avail_count(env().pool);
  CHECK(step(sink).empty());
  CHECK(sink.received.empty());
  // Nothing in the burst was for the engine, yet its timers must run: a stream of foreign
  // frames would otherwise starve the snapshots, the command ring and the deadlines.
  CHECK(sink.idle == 1);
  const auto& now = port.counters();
  CHECK(now.frame(ParseResult::kNotForUs) == counts.frame(ParseResult::kNotForUs) + 1);
  CHECK(now.frame(ParseResult::kVlanMismatch) == counts.frame(ParseResult::kVlanMismatch) + 1);
  CHECK(now.frame(ParseResult::kBadChecksum) == counts.frame(ParseResult::kBadChecksum) + 1);
  CHECK(now.frame(ParseResult::kUnsupportedEthertype) ==
        counts.frame(ParseResult::kUnsupportedEthertype) + 1);
  CHECK(now.rx_packets == counts.rx_packets + 4);
  CHECK(now.bursts == counts.bursts + 1);
  CHECK(rte_mempool_avail_count(env().pool) >= free_before + 4);  // all four returned
}

TEST_CASE("dpdk ring: a burst of 40 datagrams is split into bursts of at most 32", "[dpdk]") {
  DpdkPort& port = *env().ring_port;
  const Interface p = peer("192.168.0.15", "fd00::15", 15);
  Bytes arp(64);
  auto n = build_arp_request(arp, addr("192.168.0.199"), p);  // teaches the port our peer's MAC
  REQUIRE(n);
  arp.resize(*n);
  inject(arp);
  for (int i = 0; i < 40; ++i) {
    inject(udp_frame(p, our_v4(), std::string("m").append(std::to_string(i))));
  }
  PongSink sink;
  const auto bursts = port.counters().bursts;
  CHECK(port.run_once(sink) == 32);
  CHECK(sink.received.size() == 31);
  CHECK(port.run_once(sink) == 9);
  CHECK(sink.received.size() == 40);
  CHECK(port.counters().bursts == bursts + 2);
  const auto out = drain_tx();
  CHECK(out.size() == 41);  // ARP reply + 40 UDP replies
  CHECK(port.run_once(sink) == 0);
  CHECK(sink.idle == 1);
}

TEST_CASE("dpdk ring: the lcore loop runs the hook when idle and stops on the flag", "[dpdk]") {
  DpdkPort& port = *env().ring_port;
  const Interface p = peer("192.168.0.16", "fd00::16", 16);
  Bytes arp(64);
  auto n = build_arp_request(arp, addr("192.168.0.199"), p);
  REQUIRE(n);
  arp.resize(*n);
  PongSink sink;
  std::atomic<bool> stop{false};
  std::atomic<int> hook_calls{0};
  std::thread loop([&] { port.run(sink, stop, [&] { ++hook_calls; }); });
  inject(arp);
  inject(udp_frame(p, our_v4(), "loop"));
  std::vector<Bytes> out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (out.size() < 2 && std::chrono::steady_clock::now() < deadline) {
    auto got = drain_tx();
    out.insert(out.end(), got.begin(), got.end());
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  stop = true;
  loop.join();
  CHECK(hook_calls > 0);
  CHECK(sink.idle > 0);
  REQUIRE(out.size() == 2);
  ParsedFrame f;
  CHECK(parse_frame(out[0], p, f) == ParseResult::kArp);
  REQUIRE(parse_frame(out[1], p, f) == ParseResult::kUdp);
  CHECK(std::string(f.payload.begin(), f.payload.end()) == "pong:loop");
}

TEST_CASE("dpdk: create() rejects bad configurations with a reason", "[dpdk]") {
  (void)env();
  DpdkConfig config;
  config.eal_args = eal_args();
  config.udp_port = 30303;
  auto r = DpdkPort::create(config);  // no IP address
  REQUIRE_FALSE(r);
  CHECK(r.error() == DpdkError::kBadConfig);
  config.ipv4 = addr("10.0.0.1");
  config.port_name = "net_nonexistent";
  r = DpdkPort::create(config);
  REQUIRE_FALSE(r);
  CHECK(r.error() == DpdkError::kNoSuchPort);
  config.eal_args = {"other", "--no-huge"};
  r = DpdkPort::create(config);
  REQUIRE_FALSE(r);
  CHECK(r.error() == DpdkError::kEalArgs);
  CHECK(std::string(to_string(DpdkError::kMempool)).find("-m") != std::string::npos);
}
