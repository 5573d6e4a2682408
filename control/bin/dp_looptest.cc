// dp_looptest: measures DpdkPort::run_once's parse-and-dispatch rate with no crypto. A net_ring
// port's RX ring is pre-filled with UDP frames (to our port: handed to a sink that does
// nothing; to another port: counted and dropped), then only the run_once calls are timed
// with rte_rdtsc. Usage: dp_looptest [rounds]   (each round = 4095 frames per mix)
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <rte_cycles.h>
#include <rte_eth_ring.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "discplane/net/dpdk_port.h"
#include "discplane/net/frames.h"

using namespace discplane;
using namespace discplane::net;

namespace {

struct NullSink final : disc::DatagramSink {
  void on_burst(std::span<const disc::Datagram> burst, disc::Transport&) noexcept override {
    seen += burst.size();
  }
  void on_idle(disc::Transport&) noexcept override {}
  std::uint64_t seen = 0;
};

Bytes make_frame(const MacAddress& dst_mac, std::uint16_t dst_port) {
  UdpFrameSpec s;
  s.src_mac = MacAddress{2, 0, 0, 0, 0, 1};
  s.dst_mac = dst_mac;
  s.src = Endpoint{*IpAddress::parse("10.0.0.1"), 30303};
  s.dst = Endpoint{*IpAddress::parse("10.0.0.2"), dst_port};
  const std::size_t payload = 200;  // about a discv5 PING
  Bytes buf(kMaxUdpHeadersSize + payload, 0xab);
  auto layout = build_udp_headers(buf, kMaxUdpHeadersSize, payload, s);
  if (!layout) {
    std::fprintf(stderr, "build failed\n");
    std::exit(1);
  }
  return Bytes(buf.begin() + static_cast<long>(layout->offset), buf.end());
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 200;
  const std::vector<std::string> eal{"dp_looptest",
                                     "--no-huge",
                                     "--no-pci",
                                     "-m",
                                     "512",
                                     "--log-level=lib.eal:warning",
                                     "--file-prefix=dp_looptest_" + std::to_string(::getpid())};
  if (auto r = eal_init_once(eal); !r) {
    std::fprintf(stderr, "dp_looptest: %s\n", to_string(r.error()));
    return 1;
  }
  constexpr unsigned kRing = 4096;
  constexpr unsigned kFill = kRing - 1;
  rte_ring* rx = rte_ring_create("lt_rx", kRing, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
  rte_ring* tx = rte_ring_create("lt_tx", kRing, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
  rte_mempool* pool =
      rte_pktmbuf_pool_create("lt_pool", 8191, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
  if (rx == nullptr || tx == nullptr || pool == nullptr) {
    std::fprintf(stderr, "dp_looptest: ring/pool creation failed\n");
    return 1;
  }
  const int port_id = rte_eth_from_rings("lt_ring", &rx, 1, &tx, 1, 0);
  DpdkConfig config;
  config.eal_args = eal;
  config.port_id = static_cast<std::uint16_t>(port_id);
  config.mempool_size = 1023;
  config.ipv4 = *IpAddress::parse("10.0.0.2");
  config.udp_port = 30303;
  auto port = DpdkPort::create(config);
  if (port_id < 0 || !port) {
    std::fprintf(stderr, "dp_looptest: port setup failed: %s\n",
                 port ? "rte_eth_from_rings" : to_string(port.error()));
    return 1;
  }
  const MacAddress mac = (*port)->interface().mac;
  const Bytes for_us = make_frame(mac, 30303);
  const Bytes not_for_us = make_frame(mac, 9999);
  const std::uint64_t hz = rte_get_tsc_hz();
  std::printf("frames: %zu bytes (200-byte UDP payload), rounds: %d x %u frames, tsc %.2f GHz\n",
              for_us.size(), rounds, kFill, static_cast<double>(hz) / 1e9);

  struct Mix {
    const char* name;
    int for_us_every;  // 1: all for us, 0: none, 2: every other one
  };
  for (const Mix mix : {Mix{"udp to us -> null sink", 1}, Mix{"udp to another port (drop)", 0},
                        Mix{"50/50 mix", 2}}) {
    NullSink sink;
    std::uint64_t cycles = 0;
    std::uint64_t frames = 0;
    std::vector<rte_mbuf*> mbufs(kFill);
    for (int r = 0; r < rounds; ++r) {
      if (rte_pktmbuf_alloc_bulk(pool, mbufs.data(), kFill) != 0) {
        std::fprintf(stderr, "dp_looptest: pool exhausted\n");
        return 1;
      }
      for (unsigned i = 0; i < kFill; ++i) {
        const bool ours = mix.for_us_every == 1 || (mix.for_us_every == 2 && i % 2 == 0);
        const Bytes& f = ours ? for_us : not_for_us;
        std::memcpy(rte_pktmbuf_append(mbufs[i], static_cast<std::uint16_t>(f.size())), f.data(),
                    f.size());
      }
      if (rte_ring_enqueue_bulk(rx, reinterpret_cast<void**>(mbufs.data()), kFill, nullptr) !=
          kFill) {
        std::fprintf(stderr, "dp_looptest: ring enqueue failed\n");
        return 1;
      }
      const std::uint64_t start = rte_rdtsc();
      std::size_t got = 0;
      do {
        got = (*port)->run_once(sink);
        frames += got;
      } while (got != 0);
      cycles += rte_rdtsc() - start;
    }
    const double cpp = static_cast<double>(cycles) / static_cast<double>(frames);
    const double pps =
        static_cast<double>(frames) * static_cast<double>(hz) / static_cast<double>(cycles);
    std::printf("%-28s %10.2f Mpps  %7.1f cycles/packet  (%llu frames, %llu to sink)\n", mix.name,
                pps / 1e6, cpp, static_cast<unsigned long long>(frames),
                static_cast<unsigned long long>(sink.seen));
  }
  const auto& c = (*port)->counters();
  std::printf("counters: rx %llu, udp %llu, not_for_us %llu, empty polls %llu\n",
              static_cast<unsigned long long>(c.rx_packets),
              static_cast<unsigned long long>(c.frame(ParseResult::kUdp)),
              static_cast<unsigned long long>(c.frame(ParseResult::kNotForUs)),
              static_cast<unsigned long long>(c.empty_polls));
  return 0;
}
