// One DPDK port shared by N dataplane workers (docs/multicore.md "DPDK with N queues").
// DpdkPortGroup::create opens the port with one queue handle (a DpdkPort) per worker; worker k
// polls its handle on its own thread exactly as the one-queue appliance polls its DpdkPort.
//
// Two modes, chosen at setup:
//  - kRss: the port has N RX queues and hashes UDP (NONFRAG_IPV4_UDP / _IPV6_UDP, else the
//    addresses only) with Toeplitz under a key we set (the 40-byte Microsoft verification key,
//    read back after start) and a redirection table we read back. rss_steer() predicts the
//    queue of a peer's endpoint in software (rte_softrss), so ShardGroup delegates each ping to
//    the worker whose queue the answer will arrive on. Worker k: RX queue k, TX queue k.
//  - kSoftware (net_tap, net_ring, af_packet, single-queue NICs, or no usable RETA): one RX
//    queue, read by worker 0, which is also the distributor: it reads the source ip:port of
//    each UDP frame at fixed offsets (Ethernet / one VLAN tag / IPv4 / IPv6) and moves the mbuf
//    to worker steer(source)'s SP/SC rte_ring; anything else (ICMP, fragments, foreign
//    traffic) stays with worker 0, which answers it. Workers send on their own TX queue when
//    the port has N of them, else into an SP/SC TX ring that worker 0 drains onto queue 0.
// ARP and NDP (NS/NA) frames, in both modes, are answered by the worker that receives them and
// handed (one mbuf, reference counted) to every other worker's ring: each worker keeps its own
// neighbor cache and learns from them, so the replies to its own requests reach it.
// Full rings drop and count (DpdkCounters::steer_dropped / tx_ring_dropped), never block.
// Dataplane rules hold: no allocation, lock or syscall per packet.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "discplane/common/bytes.h"
#include "discplane/common/endpoint.h"
#include "discplane/common/result.h"
#include "discplane/net/dpdk_port.h"

namespace discplane::net {

using SteerFn = std::uint32_t (*)(const Endpoint& from, std::uint32_t workers,
                                  std::uint64_t seed) noexcept;

enum class DpdkSteering : std::uint8_t {
  kAuto,      // RSS when the port offers it (N RX queues, UDP or IP hash, a readable RETA)
  kRss,       // RSS or fail (kConfigure)
  kSoftware,  // the software distributor, even on an RSS-capable port
};
const char* to_string(DpdkSteering s) noexcept;

struct DpdkGroupConfig {
  DpdkConfig port;            // mempool_size is per worker (each worker has its own pool)
  std::uint32_t workers = 2;  // 1..kMaxWorkers
  DpdkSteering steering = DpdkSteering::kAuto;
  SteerFn steer = nullptr;  // the software distributor's steering (e.g. control::steer)
  std::uint64_t steer_seed = 0;
  std::uint32_t ring_size = 1024;  // mbufs per worker ring (power of two)
};

// What create() set up (for the startup log line, the API and the tests).
struct DpdkGroupInfo {
  DpdkSteering mode = DpdkSteering::kSoftware;  // kRss or kSoftware
  std::uint16_t rx_queues = 1;
  std::uint16_t tx_queues = 1;
  bool tx_rings = false;        // workers 1..N-1 send through worker 0 (too few TX queues)
  std::uint64_t rss_hf = 0;     // kRss: the hash types in use
  std::uint16_t reta_size = 0;  // kRss
  std::uint16_t max_rx_queues = 0;
  std::uint16_t max_tx_queues = 0;
};

class DpdkPortGroup {
 public:
  static constexpr std::uint32_t kMaxWorkers = 16;

  [[nodiscard]] static Result<std::unique_ptr<DpdkPortGroup>, DpdkError> create(
      const DpdkGroupConfig& config);
  // Stops and closes the port, then frees the queues' mbufs and pools.
  ~DpdkPortGroup();
  DpdkPortGroup(const DpdkPortGroup&) = delete;
  DpdkPortGroup& operator=(const DpdkPortGroup&) = delete;

  std::uint32_t workers() const noexcept { return static_cast<std::uint32_t>(queues_.size()); }
  // Worker k's handle: run()/run_once() on worker k's thread only.
  DpdkPort& queue(std::uint32_t k) noexcept { return *queues_[k]; }
  const DpdkGroupInfo& info() const noexcept { return info_; }
  std::uint16_t port_id() const noexcept { return port_id_; }
  // The steering the ShardGroup must use: rss_steer (seed: steer_seed()) in kRss mode, the
  // configured `steer` in kSoftware mode.
  SteerFn steer_fn() const noexcept;
  std::uint64_t steer_seed() const noexcept;

 private:
  struct Rings;
  DpdkPortGroup() = default;
  std::vector<std::unique_ptr<DpdkPort>> queues_;
  std::unique_ptr<Rings> rings_;
  DpdkGroupInfo info_;
  DpdkConfig config_;
  std::uint64_t seed_ = 0;
  SteerFn steer_ = nullptr;
  std::uint16_t port_id_ = 0;
  bool started_ = false;
  bool configured_ = false;
};

// A worker thread of a group registers itself as an EAL lcore (rte_thread_register: no -l
// entry needed; it gets a free lcore id, hence per-lcore mempool caches). Returns the lcore id,
// or -1 when registration failed (the thread still works, without mempool caches).
int register_worker_thread() noexcept;
void unregister_worker_thread() noexcept;

// ---- RSS prediction (pure; no EAL needed) ---------------------------------------------------
// The Toeplitz hash a NIC computes over (src ip, dst ip[, src port, dst port]) with `key`
// (>= 40 bytes for IPv6 with ports): rte_softrss over the tuple in host byte order.
[[nodiscard]] std::uint32_t toeplitz_hash(ByteView key, const Endpoint& src, const Endpoint& dst,
                                          bool with_ports) noexcept;

// What the port's RSS does with a datagram from `from` to our address: hash, then
// reta[hash % reta.size()]. One per port (indexed by port id), filled by create().
struct RssState {
  std::array<std::uint8_t, 52> key{};
  std::size_t key_len = 0;
  std::array<std::uint16_t, 512> reta{};
  std::uint16_t reta_size = 0;
  bool l4_v4 = false;  // the port hashes IPv4 UDP with ports (else addresses only)
  bool l4_v6 = false;
  Endpoint local_v4;  // our address and UDP port (the hash's destination)
  Endpoint local_v6;
  [[nodiscard]] std::uint32_t queue_of(const Endpoint& from) const noexcept;
};
// Sets / reads the RssState of a port id (rss_steer's seed).
void set_rss_state(std::uint16_t port_id, const RssState& state) noexcept;
[[nodiscard]] const RssState& rss_state(std::uint16_t port_id) noexcept;
// The SteerFn of kRss mode: rss_state(seed).queue_of(from) (< workers by construction).
[[nodiscard]] std::uint32_t rss_steer(const Endpoint& from, std::uint32_t workers,
                                      std::uint64_t seed) noexcept;

// The 40-byte key of the Microsoft RSS verification suite: the key we program.
extern const std::array<std::uint8_t, 40> kRssKey;

}  // namespace discplane::net
