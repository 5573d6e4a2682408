// Thread placement (see cpu_placement.h): the plan is a pure function; pinning and naming
// are thin wrappers over sched_{get,set}affinity and pthread_setname_np.
#include "discplane/net/cpu_placement.h"

#include <pthread.h>
#include <sched.h>

#include <algorithm>

namespace discplane::net {

CpuPlan plan_cpus(const std::vector<unsigned>& dataplane, const CpuList& all, unsigned workers) {
  CpuPlan plan;
  if (dataplane.empty() || workers == 0) {
    return plan;
  }
  for (unsigned k = 0; k < workers; ++k) {
    plan.worker.push_back(dataplane[k % dataplane.size()]);
  }
  plan.workers_share = workers > dataplane.size();
  for (unsigned cpu : all) {
    if (std::find(plan.worker.begin(), plan.worker.end(), cpu) == plan.worker.end()) {
      plan.control.push_back(cpu);
    }
  }
  if (plan.control.empty()) {
    plan.control = all;
    plan.control_shares = true;
  }
  return plan;
}

CpuList thread_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  CpuList out;
  if (sched_getaffinity(0, sizeof set, &set) != 0) {
    return out;
  }
  for (unsigned cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) {
      out.push_back(cpu);
    }
  }
  return out;
}

bool pin_thread(const CpuList& cpus) noexcept {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (unsigned cpu : cpus) {
    if (cpu >= CPU_SETSIZE) {
      return false;
    }
    CPU_SET(cpu, &set);
  }
  return !cpus.empty() && sched_setaffinity(0, sizeof set, &set) == 0;
}

void name_thread(const char* name) noexcept {
  char buf[16] = {};
  for (std::size_t i = 0; i < sizeof buf - 1 && name[i] != '\0'; ++i) {
    buf[i] = name[i];
  }
  (void)pthread_setname_np(pthread_self(), buf);
}

std::string cpu_list_string(const CpuList& cpus) {
  if (cpus.empty()) {
    return "none";
  }
  std::string out;
  std::size_t i = 0;
  while (i < cpus.size()) {
    std::size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) {
      ++j;
    }
    if (!out.empty()) {
      out += ',';
    }
    out += std::to_string(cpus[i]);
    if (j > i) {
      out += '-' + std::to_string(cpus[j]);
    }
    i = j + 1;
  }
  return out;
}

}  // namespace discplane::net
