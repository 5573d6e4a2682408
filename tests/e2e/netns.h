// A network namespace owned by one test process (`<prefix>_ns_<pid>`), deleted at scope exit;
// stale ones of dead test processes with the same prefix are removed first. run() executes a
// function on a thread that joined the namespace (setns is per thread). Needs root.
// Tests that create namespaces run one at a time across processes (an flock held while a
// namespace exists): creating and deleting namespaces and moving taps all take the kernel's
// RTNL lock, and a namespace deleted by one test stalled another's tap close by seconds.
#pragma once

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "e2e/netns_lock.h"
#include "e2e/process.h"

namespace e2e {

struct Netns {
  std::string prefix;
  std::string name;
  bool created = false;

  explicit Netns(const std::string& tag)
      : prefix(tag), name(tag + "_ns_" + std::to_string(::getpid())) {
    NetnsLock::acquire();
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/var/run/netns", ec)) {
      const std::string n = entry.path().filename().string();
      const std::string stale = prefix + "_ns_";
      if (n.rfind(stale, 0) == 0) {
        const int pid = std::atoi(n.c_str() + stale.size());
        if (pid > 0 && ::kill(pid, 0) != 0) {
          sh("ip netns del " + n + " 2>/dev/null");
        }
      }
    }
    sh("ip netns del " + name + " 2>/dev/null");
    created = sh("ip netns add " + name) == 0;
  }
  ~Netns() {
    sh("ip netns del " + name + " 2>/dev/null");
    NetnsLock::release();
  }
  Netns(const Netns&) = delete;
  Netns& operator=(const Netns&) = delete;

  // Runs f on a thread that entered the namespace.
  bool run(const std::function<void()>& f) const {
    bool entered = false;
    std::thread t([&] {
      const int fd = ::open(("/var/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC);
      entered = fd >= 0 && ::setns(fd, CLONE_NEWNET) == 0;
      if (fd >= 0) {
        ::close(fd);
      }
      if (entered) {
        f();
      }
    });
    t.join();
    return entered;
  }
};

// Can this process run net_tap (root and /dev/net/tun)? The DPDK e2e tests fail without it.
inline bool can_use_tap() {
  struct stat tun {};
  return ::geteuid() == 0 && ::stat("/dev/net/tun", &tun) == 0;
}

inline bool interface_exists(const std::string& name) {
  struct stat st {};
  return ::stat(("/sys/class/net/" + name).c_str(), &st) == 0;
}

// Waits (up to 10 s) for the tap a DPDK port created, then moves it into `ns` with `cidr`
// (address/prefix) on it and brings it up. False if any step failed.
inline bool move_tap_into(const Netns& ns, const std::string& tap, const std::string& cidr) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!interface_exists(tap) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return interface_exists(tap) && sh("ip link set " + tap + " netns " + ns.name) == 0 &&
         sh("ip -n " + ns.name + " addr add " + cidr + " dev " + tap) == 0 &&
         sh("ip -n " + ns.name + " link set " + tap + " up") == 0;
}

// A socket-backend node ("inside") run in `ns` on `ip`:30303 (API on :30380).
inline NodeOptions node_in(const Netns& ns, const std::string& ip,
                           std::vector<std::string> bootnodes) {
  NodeOptions o;
  o.name = "inside";
  o.ip = ip;
  o.port = 30303;
  o.api_listen = ip + ":30380";
  o.bootnodes = std::move(bootnodes);
  o.prefix = {"ip", "netns", "exec", ns.name};
  return o;
}

}  // namespace e2e
