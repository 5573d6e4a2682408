// Which CPUs the appliance's threads run on.
//
// rte_eal_init pins the thread that calls it to the main lcore's CPU, and every thread
// started afterwards inherits that mask: left alone, the dataplane workers and the control
// thread would all share that one CPU (a 2-worker DPDK run took exactly as long as a
// 1-worker run). So eal_init_once gives the calling thread its own mask back, and the
// appliance places its threads explicitly, from the EAL's lcore list (`-l`, `-c` or
// `--lcores` in dataplane.dpdk.eal_args):
//   worker k -> the CPU of the k-th lcore (main lcore first), wrapping when there are
//               fewer lcores than workers (then workers share CPUs, and the startup log
//               says so);
//   control  -> every CPU the process had before the EAL started, minus the workers' CPUs;
//               all of them when nothing is left (it mostly sleeps).
// The socket backend places nothing: the kernel schedules its threads.
#pragma once

#include <string>
#include <vector>

namespace discplane::net {

using CpuList = std::vector<unsigned>;  // ascending CPU numbers

struct CpuPlan {
  std::vector<unsigned> worker;  // worker k runs on CPU worker[k]
  CpuList control;
  bool workers_share = false;   // fewer dataplane CPUs than workers
  bool control_shares = false;  // no CPU left for the control thread alone
};

// dataplane: the CPUs for workers, in order; all: the process's CPUs. Empty dataplane:
// nothing is placed (worker and control empty).
CpuPlan plan_cpus(const std::vector<unsigned>& dataplane, const CpuList& all, unsigned workers);

// The calling thread's CPU affinity; empty if it cannot be read.
CpuList thread_cpus();
// Restricts the calling thread to `cpus`; false (and nothing changed) if the kernel
// refuses, e.g. a CPU outside the cgroup's set.
bool pin_thread(const CpuList& cpus) noexcept;
// Names the calling thread (as shown by top -H and /proc/<pid>/task/*/comm, at most 15
// characters).
void name_thread(const char* name) noexcept;

// "0-3,6" (the kernel's cpulist format); "none" when empty.
std::string cpu_list_string(const CpuList& cpus);

}  // namespace discplane::net
