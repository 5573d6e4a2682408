// DpdkPort's private state (the opaque Impl), shared by dpdk_port.cc and lcore_loop.cc only.
// Per-port state sits in one object owned by the port's lcore; nothing here is thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "discplane/net/dpdk_port.h"
#include "discplane/net/neighbor_cache.h"

namespace discplane::net {

// A queue handle's share of a DpdkPortGroup (dpdk_queues.cc); absent on a one-queue port.
struct MultiQueue {
  static constexpr std::size_t kMax = 16;
  std::uint32_t index = 0;  // this worker
  std::uint32_t workers = 1;
  bool poll_port = true;    // reads RX queue rx_queue (RSS: every worker; software: worker 0)
  bool distribute = false;  // software distributor: moves UDP frames to steer()'s worker
  std::uint16_t rx_queue = 0;
  std::uint16_t rx_queues = 1;  // the distributor reads queues [0, rx_queues) (a PMD such as
                                // net_tap wants as many RX as TX queues: it spreads over them)
  std::uint16_t next_rx = 0;
  std::uint16_t tx_queue = 0;
  rte_ring* in = nullptr;               // frames the other workers hand to this one
  std::array<rte_ring*, kMax> peers{};  // peers[k]: worker k's `in` (null for this worker)
  rte_ring* tx_out = nullptr;           // no TX queue of its own: worker 0 sends these
  std::array<rte_ring*, kMax> tx_in{};  // worker 0 with TX rings: the others' tx_out
  bool has_tx_in = false;
  std::uint32_t (*steer)(const Endpoint&, std::uint32_t, std::uint64_t) noexcept = nullptr;
  std::uint64_t seed = 0;
  std::array<std::array<rte_mbuf*, 32>, kMax> stage{};  // per destination, one burst
  std::array<std::uint16_t, kMax> staged{};
};

// The steps every port setup shares (DpdkPort::create, DpdkPortGroup::create).
struct PortInfo {
  std::uint16_t port = 0;
  unsigned socket = 0;  // NUMA socket of the device (0 when unknown)
  rte_eth_dev_info info{};
  MacAddress mac{};
};
// Finds the port (by name, else by id) and reads its device info and MAC address.
[[nodiscard]] Result<PortInfo, DpdkError> query_port(const DpdkConfig& config) noexcept;
// The checksum offloads the port offers (none when config.use_offloads is off), written into
// `offloads` and into the rx/tx offload flags of `conf`.
void choose_offloads(const DpdkConfig& config, const rte_eth_dev_info& info, DpdkOffloads& offloads,
                     rte_eth_conf& conf) noexcept;
// After rte_eth_dev_configure: RX queue q takes its mbufs from rx_pools[q], then n_tx TX
// queues; descriptor counts from the config, adjusted to what the device allows.
[[nodiscard]] Result<void, DpdkError> setup_queues(const PortInfo& port, const DpdkConfig& config,
                                                   const rte_eth_conf& conf,
                                                   std::span<rte_mempool* const> rx_pools,
                                                   std::uint16_t n_tx) noexcept;

struct alignas(64) DpdkPort::Impl {
  // The Transport handed to the sink: one mbuf at a time between acquire and commit.
  class Tx final : public disc::Transport {
   public:
    explicit Tx(Impl& impl) : impl_(impl) {}
    MutableByteView acquire_tx_buffer() noexcept override;
    void commit_tx(std::size_t length, const Endpoint& to) noexcept override;
    void release() noexcept;      // takes back an acquired, uncommitted mbuf
    void free_spares() noexcept;  // returns the unused bulk-allocated mbufs to the pool

   private:
    Impl& impl_;
    rte_mbuf* acquired_ = nullptr;
    // TX mbufs taken from the pool a burst at a time (rte_pktmbuf_alloc_bulk); an acquired
    // but uncommitted one goes back here, not to the pool.
    std::array<rte_mbuf*, kBurst> spare_{};
    std::uint32_t spare_n_ = 0;
  };

  explicit Impl(const DpdkConfig& c);
  ~Impl();

  std::size_t run_once(disc::DatagramSink& sink) noexcept;
  void answer(ParseResult kind, const ParsedFrame& f) noexcept;
  void send_datagram(rte_mbuf* m, std::size_t length, const Endpoint& to) noexcept;
  void send_resolution(const IpAddress& target) noexcept;
  void learn(const IpAddress& ip, const MacAddress& mac) noexcept;
  void enqueue_tx(rte_mbuf* m) noexcept;
  void flush() noexcept;
  void tick() noexcept;
  bool on_link(const IpAddress& dst) const noexcept;
  IpAddress next_hop(const IpAddress& dst) const noexcept;
  std::int64_t now_ns() const noexcept;
  // Multi-queue (dpdk_queues.cc). mq_rx fills rx[]: rx[0, copies) are ARP/NDP copies from
  // this worker's ring (only learned from, not counted: the receiving worker counted and
  // answered them), then the ring's steered frames, then the port's. mq_tx sends on this
  // worker's TX queue or ring; returns how many were taken.
  std::uint16_t mq_rx(std::uint16_t& copies) noexcept;
  std::uint16_t mq_tx(rte_mbuf** pkts, std::uint16_t n) noexcept;
  void learn_from(ParseResult kind, const ParsedFrame& f) noexcept;
  void drain_tx_rings() noexcept;

  DpdkConfig config;
  Interface iface;
  DpdkOffloads offloads;
  DpdkCounters counters;
  std::uint16_t port_id = 0;
  rte_mempool* pool = nullptr;
  bool configured = false;
  bool started = false;
  MultiQueue* mq = nullptr;  // null: the one-queue port (DpdkPort::create)
  Tx tx;
  std::uint64_t tsc_hz;
  std::uint64_t ns_per_tsc_q32;  // nanoseconds per TSC cycle, 32.32 fixed point
  NeighborCache<rte_mbuf*, 16> neighbors;
  std::array<rte_mbuf*, kBurst> rx{};
  std::array<disc::Datagram, kBurst> datagrams{};
  std::array<rte_mbuf*, 4 * kBurst> tx_queue{};
  std::size_t tx_count = 0;
};

}  // namespace discplane::net
