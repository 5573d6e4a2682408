// dataplane.workers: 2 on the DPDK backend, in process: the node runs on a net_tap vdev (no
// hugepages, no PCI), the tap moves into a network namespace this test creates (169.254.X.1
// there; the node is .2). net_tap has no usable RSS, so worker 0 reads the one RX queue and
// distributes (software distributor, docs/multicore.md). Four socket-backend clients inside the
// namespace, on ports chosen so that two steer to each worker, bond (discv4) and handshake
// (discv5) with the node; the owner's table (worker 0) holds all four on both protocols, each
// revalidated through pings delegated to the worker that owns the client's endpoint. Needs
// root and /dev/net/tun: fails loudly without them.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "discplane/control/appliance.h"
#include "discplane/discovery/peer_table.h"

#include "e2e/netns.h"
#include "unit/control/temp_dir.h"

using namespace discplane;
using namespace discplane::control;

namespace {

constexpr std::uint8_t kBoth = disc::kFlagV4 | disc::kFlagV5;

bool has_peer(const CoreSnapshot& s, const NodeId& id, std::uint32_t checks = 0) {
  return std::any_of(s.peers.begin(), s.peers.end(), [&](const PeerView& p) {
    return p.id == id && (p.protocols & kBoth) == kBoth && p.checks_passed >= checks &&
           p.checks_failed == 0;
  });
}

}  // namespace

TEST_CASE("dpdk workers: 2 over net_tap: clients on both workers bond and handshake",
          "[e2e][dpdk][multicore]") {
  struct stat tun {};
  if (::geteuid() != 0 || ::stat("/dev/net/tun", &tun) != 0) {
    FAIL("the DPDK end-to-end test needs root and /dev/net/tun (net_tap)");
  }
  const int pid = ::getpid();
  const std::string tap = "dpm" + std::to_string(pid);
  const int x = 100 + pid % 100;
  const std::string net = "169.254." + std::to_string(x) + ".";
  const IpAddress node_ip = *IpAddress::parse(net + "2");
  const IpAddress ns_ip = *IpAddress::parse(net + "1");
  e2e::sh("ip link del " + tap + " 2>/dev/null");
  e2e::Netns ns("dpmc");
  REQUIRE(ns.created);
  REQUIRE(e2e::sh("ip -n " + ns.name + " link set lo up") == 0);

  test::TempDir dir;
  Config nc;
  nc.identity.key_file = (dir / "node.key").string();
  nc.network.listen = Endpoint{node_ip, 30303};
  nc.timers.snapshot_interval = std::chrono::milliseconds(50);
  nc.timers.revalidate_interval = {std::chrono::milliseconds(300), std::chrono::milliseconds(300)};
  nc.dataplane.backend = Backend::kDpdk;
  nc.dataplane.workers = 2;
  nc.dataplane.dpdk.eal_args = {"--no-huge",
                                "--no-pci",
                                "-m",
                                "1024",
                                "--log-level=lib.eal:warning",
                                "--vdev=net_tap0,iface=" + tap,
                                "--file-prefix=dpmc_" + std::to_string(pid)};
  nc.dataplane.dpdk.mempool_size = 4095;  // per worker
  nc.dataplane.dpdk.ipv4 = InterfaceAddress{node_ip, 24};
  auto created = Appliance::create(nc);
  REQUIRE(created);
  Appliance& node = **created;
  const NodeId node_id = node.snapshots().acquire()->local_id;
  REQUIRE(e2e::move_tap_into(ns, tap, ns_ip.to_string() + "/24"));

  // Two clients per worker: probe ports until each worker has two (bounded).
  std::vector<std::uint16_t> ports;
  std::array<int, 2> per_worker{};
  for (std::uint16_t p = 40000; p < 40200 && ports.size() < 4; ++p) {
    const std::uint32_t k = node.shard_of(Endpoint{ns_ip, p});
    REQUIRE(k < 2);
    if (per_worker[k] < 2) {
      ++per_worker[k];
      ports.push_back(p);
    }
  }
  REQUIRE(ports.size() == 4);

  // The clients' sockets are created inside the namespace (their threads need not be).
  std::vector<std::unique_ptr<Appliance>> clients;
  REQUIRE(ns.run([&] {
    for (std::size_t c = 0; c < ports.size(); ++c) {
      Config cc;
      cc.identity.key_file = (dir / ("client" + std::to_string(c) + ".key")).string();
      cc.network.listen = Endpoint{ns_ip, ports[c]};
      cc.timers.snapshot_interval = std::chrono::milliseconds(50);
      cc.bootnodes = {node.enode_url(), node.enr_text()};
      auto client = Appliance::create(cc);
      if (client) {
        clients.push_back(std::move(*client));
      }
    }
  }));
  REQUIRE(clients.size() == 4);
  node.start();
  for (auto& c : clients) {
    c->start();
  }
  std::vector<NodeId> ids;
  for (auto& c : clients) {
    ids.push_back(c->snapshots().acquire()->local_id);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  bool all = false;
  while (!all && std::chrono::steady_clock::now() < deadline) {
    all = true;
    {
      auto s = node.snapshots().acquire();
      for (const NodeId& id : ids) {
        all = all && has_peer(*s, id, 4);
      }
    }
    for (auto& c : clients) {
      all = all && has_peer(*c->snapshots().acquire(), node_id);
    }
    if (!all) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  {
    auto s = node.snapshots().acquire();
    for (std::size_t c = 0; c < ids.size(); ++c) {
      INFO("client " << c << " on port " << ports[c] << ", worker "
                     << node.shard_of(Endpoint{ns_ip, ports[c]}));
      CHECK(has_peer(*s, ids[c], 4));  // revalidated through its worker, never failed
      CHECK(has_peer(*clients[c]->snapshots().acquire(), node_id));
    }
    CHECK(s->counters.v5_handshakes_accepted >= 4);
    CHECK(s->counters.v4_bonds >= 4);
    // Worker 0's loop: the distributor's ring never overflowed.
    for (const auto& [name, count] : s->loop.drops) {
      if (name == "steer_dropped") {
        CHECK(count == 0);
      }
    }
  }
  // Keep going for 3 s more: the owner keeps delegating revalidation pings (every 300 ms) to
  // the worker that owns each client's endpoint; the answer must arrive at that worker (the
  // distributor steers with the same function), else the ping times out there. With a
  // distributor seed other than the ShardGroup's this fails.
  const std::uint64_t v4_before = node.snapshots().acquire()->counters.tx_v4[1];
  std::this_thread::sleep_for(std::chrono::seconds(3));
  {
    auto s = node.snapshots().acquire();
    CHECK(s->counters.tx_v4[1] > v4_before);  // pings went out meanwhile
    CHECK(s->counters.v4_request_timeouts == 0);
    CHECK(s->counters.v5_request_timeouts == 0);
    for (std::size_t c = 0; c < ids.size(); ++c) {
      INFO("client " << c << " on port " << ports[c]);
      CHECK(has_peer(*s, ids[c], 6));
    }
  }
  const std::vector<std::uint64_t> rx1 = node.worker_rx_packets();
  REQUIRE(rx1.size() == 1);
  CHECK(rx1[0] > 0);  // worker 1 took its clients' datagrams from its ring
  for (auto& c : clients) {
    c->request_stop();
  }
  for (auto& c : clients) {
    c->wait();
  }
  node.request_stop();
  node.wait();
}
