// The scaffolding discv4_test.cc and discv5_test.cc share: a case is a function over a running
// DUT; run_alone() gives one case its own process, run_back_to_back() runs a whole list in order
// against one process (as hive does), and every run ends with SIGTERM and an
// exit-0-within-1-s check.
#pragma once

#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "tester.h"

namespace discplane::conformance {

using CaseFn = void (*)(DutProcess&);
using Case = std::pair<const char*, CaseFn>;

// SIGTERM: the appliance must exit 0 (not by a signal) within 1 s.
inline void check_clean_stop(DutProcess& dut) {
  const auto r = dut.stop(Millis(1000));
  INFO("discplane stderr tail:\n" << dut.stderr_tail());
  CHECK(r.exited);
  CHECK_FALSE(r.signaled);
  CHECK(r.exit_code == 0);
  CHECK(r.seconds < 1.0);
}

// One case against a process of its own.
inline void run_alone(CaseFn fn) {
  auto dut = DutProcess::start();
  INFO("DUT " << dut->enode_text());
  fn(*dut);
  check_clean_stop(*dut);
}

// Every case in `cases`, in order, against one process: state left by earlier cases must not
// break later ones.
inline void run_back_to_back(const std::vector<Case>& cases) {
  auto dut = DutProcess::start();
  INFO("DUT " << dut->enode_text());
  for (const auto& [name, fn] : cases) {
    INFO("case " << name);
    fn(*dut);
  }
  check_clean_stop(*dut);
}

}  // namespace discplane::conformance
