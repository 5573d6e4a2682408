// Scaffolding shared by the dataplane.workers end-to-end tests (multicore_test.cc,
// multicore_fanout_test.cc, dpdk_multicore_test.cc): node configs, free loopback ports, peer
// checks on a snapshot, and the bounded wait until a node and its clients know each other.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "discplane/control/appliance.h"
#include "discplane/discovery/peer_table.h"
#include "discplane/net/socket_port.h"

#include "unit/control/temp_dir.h"

namespace e2e {

// A node keyed from `<dir>/<name>.key`, listening on `listen`, snapshots every 50 ms.
inline discplane::control::Config node_config(const discplane::control::test::TempDir& dir,
                                              const std::string& name, discplane::Endpoint listen) {
  discplane::control::Config c;
  c.identity.key_file = (dir / (name + ".key")).string();
  c.network.listen = {listen};
  c.timers.snapshot_interval = std::chrono::milliseconds(50);
  // The clients share one address (loopback, or the test namespace's): exempt the test's
  // ranges from the table's per-/24 limits, which admit 2 per bucket (nothing is exempt by
  // default); else 3 of 4 random ids in one bucket leave one client out.
  c.table.ip_limit_exempt = {*discplane::disc::Cidr::parse("127.0.0.0/8"),
                             *discplane::disc::Cidr::parse("169.254.0.0/16")};
  return c;
}

// The same on 127.0.0.1:port.
inline discplane::control::Config node_config(const discplane::control::test::TempDir& dir,
                                              const std::string& name, std::uint16_t port) {
  return node_config(dir, name, discplane::Endpoint{discplane::IpAddress::v4(127, 0, 0, 1), port});
}

// A UDP port on 127.0.0.1 that was free a moment ago.
inline std::uint16_t free_port() {
  auto probe = discplane::net::SocketPort::create(
      discplane::Endpoint{discplane::IpAddress::v4(127, 0, 0, 1), 0});
  REQUIRE(probe.has_value());
  return (*probe)->local_endpoint().port;
}

inline constexpr std::uint8_t kBoth = discplane::disc::kFlagV4 | discplane::disc::kFlagV5;

// `s` holds `id` on all of `protocols`, with at least `checks` passed checks and none failed.
inline bool has_peer(const discplane::control::CoreSnapshot& s, const discplane::NodeId& id,
                     std::uint8_t protocols, std::uint32_t checks = 0) {
  return std::any_of(s.peers.begin(), s.peers.end(), [&](const discplane::control::PeerView& p) {
    return p.id == id && (p.protocols & protocols) == protocols && p.checks_passed >= checks &&
           p.checks_failed == 0;
  });
}

using Clients = std::vector<std::unique_ptr<discplane::control::Appliance>>;

// Ports on `ip` for four clients, two steered to each of the node's two workers; candidates
// come from `next()`, at most `tries` of them (the caller checks that it got four).
template <class NextPort>
std::vector<std::uint16_t> two_ports_per_worker(const discplane::control::Appliance& node,
                                                discplane::IpAddress ip, int tries, NextPort next) {
  std::vector<std::uint16_t> ports;
  std::array<int, 2> per_worker{};
  for (int t = 0; t < tries && ports.size() < 4; ++t) {
    const std::uint16_t p = next();
    const std::uint32_t k = node.shard_of(discplane::Endpoint{ip, p});
    REQUIRE(k < 2);
    if (per_worker[k] < 2 && std::find(ports.begin(), ports.end(), p) == ports.end()) {
      ++per_worker[k];
      ports.push_back(p);
    }
  }
  return ports;
}

// Creates an appliance from `config` (REQUIREd to succeed) and appends it to `clients`.
inline void add_client(Clients& clients, const discplane::control::Config& config) {
  auto client = discplane::control::Appliance::create(config);
  REQUIRE(client);
  clients.push_back(std::move(*client));
}

// Starts the node, then every client.
inline void start_all(discplane::control::Appliance& node, Clients& clients) {
  node.start();
  for (auto& c : clients) {
    c->start();
  }
}

inline std::vector<discplane::NodeId> local_ids(const Clients& clients) {
  std::vector<discplane::NodeId> ids;
  for (const auto& c : clients) {
    ids.push_back(c->snapshots().acquire()->local_id);
  }
  return ids;
}

// Polls every 50 ms, at most `timeout`, until the node's snapshot holds every id in `ids` on
// both protocols with at least `checks` passed checks, and every client holds the node on both.
// Returns whether that happened.
inline bool wait_all_known(const discplane::control::Appliance& node, const Clients& clients,
                           const std::vector<discplane::NodeId>& ids, std::uint32_t checks,
                           std::chrono::seconds timeout) {
  const discplane::NodeId node_id = node.snapshots().acquire()->local_id;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool all = false;
  while (!all && std::chrono::steady_clock::now() < deadline) {
    all = true;
    {
      auto s = node.snapshots().acquire();
      for (const discplane::NodeId& id : ids) {
        all = all && has_peer(s.get(), id, kBoth, checks);
      }
    }
    for (const auto& c : clients) {
      all = all && has_peer(c->snapshots().acquire().get(), node_id, kBoth);
    }
    if (!all) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  return all;
}

// (thread name, Cpus_allowed_list) of every thread of this process, from /proc/self/task.
inline std::vector<std::pair<std::string, std::string>> thread_cpus_by_name() {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::ifstream status(task.path() / "status");
    std::string name;
    std::getline(comm, name);
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("Cpus_allowed_list:", 0) == 0) {
        const auto at = line.find_first_not_of(" \t", line.find(':') + 1);
        out.emplace_back(name, at == std::string::npos ? "" : line.substr(at));
      }
    }
  }
  return out;
}

}  // namespace e2e
