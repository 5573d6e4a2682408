// DpdkPort's private state (the opaque Impl), shared by dpdk_port.cc and lcore_loop.cc only.
// Per-port state sits in one object owned by the port's lcore; nothing here is thread-safe.
#pragma once

#include <array>
#include <cstdint>

#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "discplane/net/dpdk_port.h"
#include "discplane/net/neighbor_cache.h"

namespace discplane::net {

struct alignas(64) DpdkPort::Impl {
  // The Transport handed to the sink: one mbuf at a time between acquire and commit.
  class Tx final : public disc::Transport {
   public:
    explicit Tx(Impl& impl) : impl_(impl) {}
    MutableByteView acquire_tx_buffer() noexcept override;
    void commit_tx(std::size_t length, const Endpoint& to) noexcept override;
    void release() noexcept;  // frees an acquired, uncommitted mbuf

   private:
    Impl& impl_;
    rte_mbuf* acquired_ = nullptr;
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

  DpdkConfig config;
  Interface iface;
  DpdkOffloads offloads;
  DpdkCounters counters;
  std::uint16_t port_id = 0;
  rte_mempool* pool = nullptr;
  bool configured = false;
  bool started = false;
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
