// dataplane.workers: 2 on the socket backend: clients on several source ports, steered to
// both workers, bond over discv4 (ping/pong both ways) and handshake + ping over discv5 with
// the sharded node. The node's table (worker 0, the owner) learns every client, including the
// ones only worker 1 talked to; each client learns the node on both protocols.
#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "discplane/control/appliance.h"

#include "e2e/multicore_support.h"
#include "unit/control/temp_dir.h"

using namespace discplane;
using namespace discplane::control;

using e2e::free_port;
using e2e::has_peer;
using e2e::kBoth;
using e2e::node_config;

TEST_CASE("workers: 2: clients on both workers bond (discv4) and handshake (discv5)",
          "[e2e][socket][multicore]") {
  test::TempDir dir;
  Config sc = node_config(dir, "sharded", free_port());
  sc.dataplane.workers = 2;
  // Fast revalidation: the owner picks each entry and delegates the ping to the worker that
  // owns the peer's endpoint; the pong must come back to that worker's socket.
  sc.timers.revalidate_interval = {std::chrono::milliseconds(300), std::chrono::milliseconds(300)};
  // Short-lived sessions, frequent prunes: every worker prunes its own sessions.
  sc.discv5.session_idle_timeout = std::chrono::seconds(1);
  sc.timers.prune_interval = std::chrono::milliseconds(200);
  auto created = Appliance::create(sc);
  REQUIRE(created);
  Appliance& node = **created;
  const NodeId node_id = node.snapshots().acquire()->local_id;

  // Two clients per worker: probe ports until each worker has two (bounded).
  const std::vector<std::uint16_t> ports =
      e2e::two_ports_per_worker(node, IpAddress::v4(127, 0, 0, 1), 200, free_port);
  REQUIRE(ports.size() == 4);

  e2e::Clients clients;
  for (std::size_t c = 0; c < ports.size(); ++c) {
    Config cc = node_config(dir, "client" + std::to_string(c), ports[c]);
    cc.bootnodes = {node.enode_url(), node.enr_text()};
    e2e::add_client(clients, cc);
  }
  e2e::start_all(node, clients);

  const std::vector<NodeId> ids = e2e::local_ids(clients);
  (void)e2e::wait_all_known(node, clients, ids, 6, std::chrono::seconds(20));
  {
    auto s = node.snapshots().acquire();
    for (std::size_t c = 0; c < ids.size(); ++c) {
      INFO("client " << c << " on port " << ports[c] << ", worker "
                     << node.shard_of(Endpoint{IpAddress::v4(127, 0, 0, 1), ports[c]}));
      CHECK(has_peer(s.get(), ids[c], kBoth, 6));  // revalidated again and again, never failed
      CHECK(has_peer(clients[c]->snapshots().acquire().get(), node_id, kBoth));
    }
    // Counters are summed over both workers: every client's handshake was accepted by the
    // worker its port steers to, two of them on worker 1.
    CHECK(s->counters.v5_handshakes_accepted >= 4);
    CHECK(s->counters.v4_bonds >= 4);
  }
  const std::vector<std::uint64_t> rx1 = node.worker_rx_packets();
  REQUIRE(rx1.size() == 1);
  CHECK(rx1[0] > 0);  // worker 1 received its clients' datagrams

  for (auto& c : clients) {
    c->request_stop();
  }
  for (auto& c : clients) {
    c->wait();
  }
  // The clients are gone: their sessions idle out on both workers (the node's revalidation
  // pings go unanswered, they do not refresh a session).
  const auto expire_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (node.snapshots().acquire()->counters.v5_sessions_expired < 4 &&
         std::chrono::steady_clock::now() < expire_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(node.snapshots().acquire()->counters.v5_sessions_expired >= 4);
  node.request_stop();
  node.wait();
}

TEST_CASE("workers: 2: a bootnode on worker 1 is bonded through worker 1, no ping times out",
          "[e2e][socket][multicore]") {
  test::TempDir dir;
  Config sc = node_config(dir, "sharded", free_port());
  sc.dataplane.workers = 2;
  sc.protocols = {Protocol::kDiscv4};
  auto created = Appliance::create(sc);
  REQUIRE(created);
  Appliance& node = **created;
  const NodeId node_id = node.snapshots().acquire()->local_id;

  // A plain discv4 node whose port steers to worker 1: the owner's bond ping must leave from
  // worker 1's socket, or the pong lands on a worker that did not send the ping.
  std::uint16_t port = 0;
  for (int tries = 0; tries < 200 && port == 0; ++tries) {
    const std::uint16_t p = free_port();
    if (node.shard_of(Endpoint{IpAddress::v4(127, 0, 0, 1), p}) == 1) {
      port = p;
    }
  }
  REQUIRE(port != 0);
  Config bc = node_config(dir, "boot", port);
  bc.protocols = {Protocol::kDiscv4};
  auto boot_created = Appliance::create(bc);
  REQUIRE(boot_created);
  Appliance& boot = **boot_created;
  const NodeId boot_id = boot.snapshots().acquire()->local_id;
  boot.start();
  // The node learns the bootnode only from its config: AddSeed on the owner.
  REQUIRE(node.submit(disc::msg::AddSeed{*parse_bootnode(boot.enode_url())}));
  node.start();

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline &&
         !(has_peer(node.snapshots().acquire().get(), boot_id, disc::kFlagV4, 1) &&
           has_peer(boot.snapshots().acquire().get(), node_id, disc::kFlagV4))) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(has_peer(node.snapshots().acquire().get(), boot_id, disc::kFlagV4, 1));
  CHECK(has_peer(boot.snapshots().acquire().get(), node_id, disc::kFlagV4));
  // Past discv4.request_timeout (500 ms) plus a snapshot: the seed's ping was answered.
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  CHECK(node.snapshots().acquire()->counters.v4_request_timeouts == 0);
  CHECK(node.worker_rx_packets().at(0) > 0);

  boot.request_stop();
  node.request_stop();
  boot.wait();
  node.wait();
}
