// dataplane.workers: 2 on the DPDK backend, in process: the node runs on a net_tap vdev (no
// hugepages, no PCI), the tap moves into a network namespace this test creates (169.254.X.1
// there; the node is .2). net_tap has no usable RSS, so worker 0 reads the one RX queue and
// distributes (software distributor, docs/multicore.md). Four socket-backend clients inside the
// namespace, on ports chosen so that two steer to each worker, bond (discv4) and handshake
// (discv5) with the node; the owner's table (worker 0) holds all four on both protocols, each
// revalidated through pings delegated to the worker that owns the client's endpoint. Needs
// root and /dev/net/tun: fails loudly without them.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string_view>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "discplane/control/appliance.h"
#include "discplane/discovery/peer_table.h"
#include "discplane/net/dpdk_port.h"

#include "e2e/multicore_support.h"
#include "e2e/netns.h"
#include "unit/control/temp_dir.h"

using namespace discplane;
using namespace discplane::control;

using e2e::has_peer;
using e2e::kBoth;

TEST_CASE("dpdk workers: 2 over net_tap: clients on both workers bond and handshake",
          "[e2e][dpdk][multicore]") {
  if (!e2e::can_use_tap()) {
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
  Config nc = e2e::node_config(dir, "node", Endpoint{node_ip, 30303});
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
  std::uint16_t candidate = 40000;
  const std::vector<std::uint16_t> ports =
      e2e::two_ports_per_worker(node, ns_ip, 200, [&] { return candidate++; });
  REQUIRE(ports.size() == 4);

  // The clients' sockets are created inside the namespace (their threads need not be).
  e2e::Clients clients;
  REQUIRE(ns.run([&] {
    for (std::size_t c = 0; c < ports.size(); ++c) {
      Config cc = e2e::node_config(dir, "client" + std::to_string(c), Endpoint{ns_ip, ports[c]});
      cc.bootnodes = {node.enode_url(), node.enr_text()};
      auto client = Appliance::create(cc);
      if (client) {
        clients.push_back(std::move(*client));
      }
    }
  }));
  REQUIRE(clients.size() == 4);
  e2e::start_all(node, clients);
  const std::vector<NodeId> ids = e2e::local_ids(clients);
  (void)e2e::wait_all_known(node, clients, ids, 4, std::chrono::seconds(30));
  {
    auto s = node.snapshots().acquire();
    for (std::size_t c = 0; c < ids.size(); ++c) {
      INFO("client " << c << " on port " << ports[c] << ", worker "
                     << node.shard_of(Endpoint{ns_ip, ports[c]}));
      CHECK(has_peer(*s, ids[c], kBoth, 4));  // revalidated through its worker, never failed
      CHECK(has_peer(*clients[c]->snapshots().acquire(), node_id, kBoth));
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
      CHECK(has_peer(*s, ids[c], kBoth, 6));
    }
  }
  const std::vector<std::uint64_t> rx1 = node.worker_rx_packets();
  REQUIRE(rx1.size() == 1);
  CHECK(rx1[0] > 0);  // worker 1 took its clients' datagrams from its ring

  // Placement (cpu_placement.h): worker k runs on the CPU of EAL lcore k. Without it both
  // workers inherited the main lcore's CPU from rte_eal_init and shared it. The clients are
  // socket-backend nodes in this process: their "dp-core" threads are not pinned.
  const std::vector<unsigned> lcores = net::eal_lcore_cpus();
  REQUIRE(lcores.size() >= 1);
  const auto threads = e2e::thread_cpus_by_name();
  const auto cpus_of = [&](const std::string& name) {
    std::vector<std::string> out;
    for (const auto& [comm, cpus] : threads) {
      if (comm == name) {
        out.push_back(cpus);
      }
    }
    return out;
  };
  const std::string lcore0 = std::to_string(lcores[0]);
  const std::string lcore1 = std::to_string(lcores[1 % lcores.size()]);
  CHECK(cpus_of("dp-worker-1") == std::vector<std::string>{lcore1});
  const auto cores = cpus_of("dp-core");  // the node's and the 4 clients'
  CHECK(cores.size() == 5);
  CHECK(std::count(cores.begin(), cores.end(), lcore0) >= 1);
  if (lcores.size() >= 2) {
    CHECK(lcore0 != lcore1);  // the two workers on two CPUs
  }

  // Review: a frame that worker 1 drops (a datagram to our address on another UDP port, from
  // a source that steers to worker 1) shows in worker 1's drops and in the loop's (by reason).
  std::uint16_t src = 41000;
  while (node.shard_of(Endpoint{ns_ip, src}) != 1) {
    ++src;
  }
  bool sent = false;
  REQUIRE(ns.run([&] {
    const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(src);
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      return;
    }
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(30304);  // the node listens on 30303
    std::memcpy(&to.sin_addr.s_addr, node_ip.bytes.data(), 4);
    sent = ::sendto(fd, "x", 1, 0, reinterpret_cast<sockaddr*>(&to), sizeof to) == 1;
    ::close(fd);
  }));
  REQUIRE(sent);
  const auto drops_of = [](const LoopStats& l, std::string_view reason) {
    std::uint64_t n = 0;
    for (const auto& [r, c] : l.drops) {
      n += r == reason ? c : 0;
    }
    return n;
  };
  bool seen = false;
  for (int i = 0; i < 20 && !seen; ++i) {  // worker stats every half snapshot interval
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto s = node.snapshots().acquire();
    seen = s->workers.size() == 2 && drops_of(s->workers[1], "not_for_us") >= 1;
  }
  CHECK(seen);
  {
    auto s = node.snapshots().acquire();
    REQUIRE(s->workers.size() == 2);
    CHECK(drops_of(s->loop, "not_for_us") ==
          drops_of(s->workers[0], "not_for_us") + drops_of(s->workers[1], "not_for_us"));
  }
  for (auto& c : clients) {
    c->request_stop();
  }
  for (auto& c : clients) {
    c->wait();
  }
  node.request_stop();
  node.wait();
}
