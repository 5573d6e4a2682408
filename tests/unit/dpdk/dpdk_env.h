// One EAL per test process (the EAL starts once): a lazy singleton with a net_tap vdev named
// per process (so parallel ctest processes do not collide) and a net_ring port made with
// rte_eth_from_rings, whose RX ring the tests fill with hand-built frames and whose TX ring
// they read back. Fails loudly (never skips) without root or /dev/net/tun.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "discplane/common/bytes.h"
#include "discplane/net/dpdk_port.h"

namespace dptest {

inline discplane::IpAddress addr(const char* text) {
  return *discplane::IpAddress::parse(text);
}

using namespace discplane;
using namespace discplane::net;

inline std::string tap_iface() {
  return "dpt" + std::to_string(::getpid());
}

inline std::vector<std::string> eal_args() {
  return {"unit_dpdk",
          "--no-huge",
          "--no-pci",
          "-m",
          "256",
          "--log-level=lib.eal:warning",
          "--vdev=net_tap0,iface=" + tap_iface(),
          "--file-prefix=dp_unit_dpdk_" + std::to_string(::getpid())};
}

struct Env {
  rte_ring* rx_ring = nullptr;  // frames we inject (the port's RX)
  rte_ring* tx_ring = nullptr;  // frames the port sent
  rte_mempool* pool = nullptr;  // mbufs for injected frames
  std::unique_ptr<DpdkPort> ring_port;
};

inline void require_privileges() {
  struct stat st {};
  if (::geteuid() != 0 || ::stat("/dev/net/tun", &st) != 0) {
    FAIL("the DPDK tests need root and /dev/net/tun (net_tap); run them as root");
  }
}

// The ring port: 192.168.0.199 and fd00::2, UDP 30301, no gateway.
inline Env& env() {
  static Env* e = [] {
    require_privileges();
    auto* out = new Env;
    auto eal = eal_init_once(eal_args());
    if (!eal) {
      FAIL("EAL init failed: " << to_string(eal.error()));
    }
    out->rx_ring = rte_ring_create("dpt_rx", 1024, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
    out->tx_ring = rte_ring_create("dpt_tx", 1024, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
    REQUIRE(out->rx_ring != nullptr);
    REQUIRE(out->tx_ring != nullptr);
    out->pool = rte_pktmbuf_pool_create("dpt_inject", 2047, 64, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                        SOCKET_ID_ANY);
    REQUIRE(out->pool != nullptr);
    const int port = rte_eth_from_rings("dpt_ring", &out->rx_ring, 1, &out->tx_ring, 1, 0);
    REQUIRE(port >= 0);
    DpdkConfig config;
    config.eal_args = eal_args();
    config.port_id = static_cast<std::uint16_t>(port);
    config.mempool_size = 2047;
    config.ipv4 = *IpAddress::parse("192.168.0.199");
    config.ipv6 = *IpAddress::parse("fd00::2");
    config.udp_port = 30301;
    auto created = DpdkPort::create(config);
    if (!created) {
      FAIL("ring port: " << to_string(created.error()));
    }
    out->ring_port = std::move(*created);
    return out;
  }();
  return *e;
}

inline void inject(const Bytes& frame) {
  rte_mbuf* m = rte_pktmbuf_alloc(env().pool);
  REQUIRE(m != nullptr);
  char* p = rte_pktmbuf_append(m, static_cast<std::uint16_t>(frame.size()));
  REQUIRE(p != nullptr);
  std::memcpy(p, frame.data(), frame.size());
  REQUIRE(rte_ring_enqueue(env().rx_ring, m) == 0);
}

inline std::vector<Bytes> drain_tx() {
  std::vector<Bytes> out;
  void* obj = nullptr;
  while (rte_ring_dequeue(env().tx_ring, &obj) == 0) {
    auto* m = static_cast<rte_mbuf*>(obj);
    const auto* p = rte_pktmbuf_mtod(m, const std::uint8_t*);
    out.emplace_back(p, p + rte_pktmbuf_data_len(m));
    rte_pktmbuf_free(m);
  }
  return out;
}

}  // namespace dptest
