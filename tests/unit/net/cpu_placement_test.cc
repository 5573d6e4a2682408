#include "discplane/net/cpu_placement.h"

#include <pthread.h>

#include <cstring>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

using discplane::net::cpu_list_string;
using discplane::net::CpuList;
using discplane::net::plan_cpus;

TEST_CASE("plan_cpus: one CPU per worker from the lcore list, control on the rest", "[cpu]") {
  const auto p = plan_cpus({2, 3, 4}, {0, 1, 2, 3, 4, 5}, 3);
  REQUIRE(p.worker == std::vector<unsigned>{2, 3, 4});
  REQUIRE(p.control == CpuList{0, 1, 5});
  REQUIRE_FALSE(p.workers_share);
  REQUIRE_FALSE(p.control_shares);
}

TEST_CASE("plan_cpus: the main lcore first, more lcores than workers leave the rest idle",
          "[cpu]") {
  const auto p = plan_cpus({1, 0}, {0, 1, 2, 3}, 1);  // -l 0-1 with the main lcore on CPU 1
  REQUIRE(p.worker == std::vector<unsigned>{1});
  REQUIRE(p.control == CpuList{0, 2, 3});
}

TEST_CASE("plan_cpus: fewer lcores than workers wrap around and say so", "[cpu]") {
  const auto p = plan_cpus({0, 1}, {0, 1}, 3);
  REQUIRE(p.worker == std::vector<unsigned>{0, 1, 0});
  REQUIRE(p.workers_share);
  REQUIRE(p.control == CpuList{0, 1});  // nothing left: the control thread may use all
  REQUIRE(p.control_shares);
}

TEST_CASE("plan_cpus: no lcores (EAL not up) places nothing", "[cpu]") {
  const auto p = plan_cpus({}, {0, 1}, 2);
  REQUIRE(p.worker.empty());
  REQUIRE(p.control.empty());
}

TEST_CASE("cpu_list_string writes the kernel's cpulist format", "[cpu]") {
  REQUIRE(cpu_list_string({}) == "none");
  REQUIRE(cpu_list_string({3}) == "3");
  REQUIRE(cpu_list_string({0, 1, 2, 3, 6, 8, 9}) == "0-3,6,8-9");
  REQUIRE(cpu_list_string({0, 1, 0}) == "0-1,0");  // a wrapped worker list keeps its order
}

TEST_CASE("pin_thread and name_thread act on the calling thread only", "[cpu]") {
  const CpuList all = discplane::net::thread_cpus();
  REQUIRE_FALSE(all.empty());
  CpuList inside;
  std::string comm;
  std::thread([&] {
    REQUIRE(discplane::net::pin_thread({all.back()}));
    discplane::net::name_thread("dp-test-pinned-thread");  // cut to 15 characters
    inside = discplane::net::thread_cpus();
    char buf[32] = {};
    REQUIRE(pthread_getname_np(pthread_self(), buf, sizeof buf) == 0);
    comm = buf;
  }).join();
  REQUIRE(inside == CpuList{all.back()});
  REQUIRE(comm == "dp-test-pinned-");
  REQUIRE(discplane::net::thread_cpus() == all);  // this thread is unchanged
  REQUIRE_FALSE(discplane::net::pin_thread({}));
  REQUIRE_FALSE(discplane::net::pin_thread({1u << 20}));  // beyond CPU_SETSIZE
  REQUIRE(discplane::net::thread_cpus() == all);
}
