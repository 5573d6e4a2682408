// The DPDK backend: one ethdev port (one RX and one TX queue) feeding a DatagramSink. Frames
// are parsed in place; ARP, ICMP echo and NDP are answered here; UDP payloads for our address
// and port go to the sink as views into the mbufs; replies are encoded into mbufs whose
// headroom then takes the Ethernet/IP/UDP headers. This header shows no DPDK type (opaque
// Impl), so the rest of the project builds without DPDK headers.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "discplane/common/endpoint.h"
#include "discplane/common/result.h"
#include "discplane/discovery/io.h"
#include "discplane/net/cpu_placement.h"
#include "discplane/net/frames.h"

namespace discplane::net {

enum class DpdkError : std::uint8_t {
  kEalInit,     // rte_eal_init failed (bad arguments, -m too small, prefix in use)
  kEalArgs,     // a later create() passed different EAL arguments than the first
  kNoSuchPort,  // port name/id not found
  kBadConfig,   // no IP address, no UDP port, gateway MAC without gateway IP, ...
  kMempool,     // rte_pktmbuf_pool_create failed (usually: -m too small for the pool)
  kDeviceInfo,  // rte_eth_dev_info_get / macaddr_get failed
  kConfigure,   // rte_eth_dev_configure / adjust_nb_rx_tx_desc failed
  kRxQueue,
  kTxQueue,
  kStart,
};
const char* to_string(DpdkError e) noexcept;

// Initialises the EAL once per process with `args` (argv[0] included). Later calls with the
// same arguments succeed without re-initialising; different arguments fail with kEalArgs.
// rte_eal_init pins its caller to the main lcore's CPU; the caller gets its own CPU mask
// back afterwards, so that threads it starts later are not all bound to that one CPU
// (cpu_placement.h places the dataplane threads explicitly).
[[nodiscard]] Result<void, DpdkError> eal_init_once(const std::vector<std::string>& args);
// The CPUs of the EAL's lcores, main lcore first (empty before the EAL is up).
[[nodiscard]] std::vector<unsigned> eal_lcore_cpus();
// The CPU mask the thread that started the EAL had before it (empty before the EAL is up).
[[nodiscard]] CpuList cpus_before_eal();

struct DpdkConfig {
  std::vector<std::string> eal_args{"discplane", "--no-huge", "--no-pci", "-m", "1024"};
  std::string port_name;  // ethdev name (e.g. "net_tap0"); empty: use port_id
  std::uint16_t port_id = 0;
  std::uint32_t mempool_size = 4095;  // mbufs; ~2.2 MB of -m per 1000
  std::uint16_t rx_ring_size = 1024;
  std::uint16_t tx_ring_size = 1024;
  IpAddress ipv4;  // unset: no IPv4
  IpAddress ipv6;  // unset: no IPv6
  std::uint16_t udp_port = 30303;
  std::uint16_t vlan_id = 0;  // 0: untagged
  std::uint8_t prefix4 = 24;  // on-link IPv4 subnet of ipv4
  std::uint8_t prefix6 = 64;
  IpAddress gateway4;  // off-link next hop; unset: every destination is on-link
  IpAddress gateway6;
  std::optional<MacAddress> gateway_mac;  // static MAC for the gateways (no ARP/NDP for them)
  bool use_offloads = true;               // use checksum offloads the port reports
  // Martian sources accepted anyway (see is_martian in frames.h). Default none.
  std::vector<disc::Cidr> allow_martian;
};

struct DpdkOffloads {
  bool rx_ipv4 = false;
  bool rx_udp = false;
  bool tx_ipv4 = false;
  bool tx_udp = false;
};

struct DpdkCounters {
  std::array<std::uint64_t, kParseResultCount> frames{};  // per parse result (drops by reason)
  std::uint64_t rx_packets = 0;
  std::uint64_t tx_packets = 0;
  std::uint64_t tx_refused = 0;  // the TX queue was full: freed
  std::uint64_t bursts = 0;      // non-empty rx bursts
  std::uint64_t empty_polls = 0;
  std::uint64_t datagrams_in = 0;      // handed to the sink
  std::uint64_t datagrams_out = 0;     // committed by the sink and sent or queued
  std::uint64_t tx_no_mbuf = 0;        // pool empty
  std::uint64_t tx_bad_commit = 0;     // length/family the port cannot send
  std::uint64_t replies = 0;           // ARP/ICMP/NDP answers
  std::uint64_t resolutions_sent = 0;  // ARP requests / NS
  std::uint64_t pending_dropped = 0;   // next hop unresolved: queue full or gave up
  // Multi-queue only (DpdkPortGroup, dpdk_queues.h); zero on a one-queue port.
  std::uint64_t steered_out = 0;      // frames this worker handed to another worker's ring
  std::uint64_t steer_dropped = 0;    // ... that did not fit (ring full): freed
  std::uint64_t neighbor_copies = 0;  // ARP/NDP frames shared with the other workers
  std::uint64_t from_ring = 0;        // frames this worker took from its ring
  std::uint64_t tx_ring_dropped = 0;  // TX ring to worker 0 full: freed (also in tx_refused)
  std::uint64_t tx_to_ring = 0;       // frames handed to worker 0's TX ring (worker 0 counts them
                                      // in tx_packets when it sends them)
  std::uint64_t frame(ParseResult r) const { return frames[static_cast<std::size_t>(r)]; }
};

class DpdkPort {
 public:
  static constexpr std::size_t kBurst = 32;

  // Initialises the EAL if needed, sets the port up and starts it.
  [[nodiscard]] static Result<std::unique_ptr<DpdkPort>, DpdkError> create(
      const DpdkConfig& config);
  // Stops and closes the port and frees its mbufs; the device cannot be reopened.
  ~DpdkPort();
  DpdkPort(const DpdkPort&) = delete;
  DpdkPort& operator=(const DpdkPort&) = delete;

  // One rx burst: answers ARP/ICMP/NDP, hands our datagrams to sink.on_burst, sends what the
  // sink committed. On an empty poll it calls sink.on_idle instead. Returns frames received.
  std::size_t run_once(disc::DatagramSink& sink) noexcept;
  // The l3fwd-style loop (lcore_loop.cc): run_once until `stop`, TX drain and neighbor
  // retries every ~100 us, `between_bursts` (may be empty) after every empty poll.
  void run(disc::DatagramSink& sink, const std::atomic<bool>& stop,
           const std::function<void()>& between_bursts) noexcept;
  // Sends queued frames now; retries neighbor resolution when due.
  void flush_tx() noexcept;
  void tick() noexcept;

  const DpdkCounters& counters() const noexcept;
  const Interface& interface() const noexcept;
  DpdkOffloads offloads() const noexcept;
  std::uint16_t port_id() const noexcept;

 private:
  struct Impl;
  friend class DpdkPortGroup;  // builds one DpdkPort per queue (dpdk_queues.cc)
  explicit DpdkPort(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace discplane::net
