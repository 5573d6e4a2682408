// The dataplane lcore's poll loop, l3fwd style: one RX queue, one burst per pass, a TX drain
// and neighbor-retry timer every ~100 us of TSC, the control plane's hook on empty polls.
// Per-packet work lives in DpdkPort::Impl::run_once (dpdk_port.cc).
#include <rte_cycles.h>

#include "discplane/net/dpdk_port.h"

#include "dpdk_internal.h"

namespace discplane::net {

namespace {
constexpr std::uint64_t kTxDrainUs = 100;  // as l3fwd's BURST_TX_DRAIN_US
}  // namespace

void DpdkPort::run(disc::DatagramSink& sink, const std::atomic<bool>& stop,
                   const std::function<void()>& between_bursts) noexcept {
  Impl& port = *impl_;
  const std::uint64_t drain_tsc = (rte_get_tsc_hz() + 999'999) / 1'000'000 * kTxDrainUs;
  std::uint64_t last_drain = rte_rdtsc();
  while (!stop.load(std::memory_order_relaxed)) {
    const std::uint64_t now = rte_rdtsc();
    if (now - last_drain > drain_tsc) {
      port.tick();   // ARP/NS retries, expiry
      port.flush();  // anything queued outside a burst (resolved next hops, the hook)
      last_drain = now;
    }
    if (port.run_once(sink) == 0 && between_bursts) {
      between_bursts();  // e.g. drain the control plane's command ring
    }
  }
  port.flush();
}

}  // namespace discplane::net
