// The generator's side of the DPDK paths (paths.cc ring path, multicore.cc lanes): workload
// inputs as the Ethernet/IPv4/UDP frames a peer would send to the port under test.
#pragma once

#include <span>

#include <rte_mbuf.h>

#include "discplane/net/frames.h"

#include "bench.h"

namespace discbench {

// Allocates inputs.size() mbufs from `pool` into m[] and fills each with its input's payload
// from `src_mac` and the input identity's endpoint to `self`; exits the process on failure.
void build_generator_frames(rte_mempool* pool, rte_mbuf** m, const Workload& w,
                            std::span<const Input* const> inputs, const net::MacAddress& src_mac,
                            const net::Interface& self);

}  // namespace discbench
