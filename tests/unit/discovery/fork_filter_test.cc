// The EIP-2124 fork-id filter (ServerConfig::fork_filter) and the node events of crawl mode
// (ServerConfig::report_node_events), engine to engine over the test Network.
#include <map>
#include <vector>

#include <catch2/catch.hpp>

#include "discplane/discovery/server.h"
#include "discplane/wire/enr.h"

#include "unit/discovery/engine_harness.h"

using namespace discplane;
using namespace discplane::disc;
using discplane::test::FakeClock;

namespace {

const enr::ForkId kOurFork{{0x9f, 0x3d, 0x22, 0x54}, 0};
const enr::ForkId kOtherFork{{0xdc, 0xe9, 0x6c, 0x2d}, 0};

// The raw RLP value of an `eth` entry, for ServerConfig::extra_enr_entries.
Bytes eth_value(const enr::ForkId& fork) {
  enr::Builder b;
  b.set_seq(1).set_eth(fork);
  auto r = b.sign(test::key_from_seed(999));
  REQUIRE(r);
  const auto v = r->get("eth");
  REQUIRE(v);
  return Bytes(v->begin(), v->end());
}

ServerConfig with_eth(const std::optional<enr::ForkId>& fork) {
  ServerConfig c;
  if (fork) {
    c.extra_enr_entries.emplace_back("eth", eth_value(*fork));
  }
  return c;
}

ServerConfig filtering(bool require_eth) {
  ServerConfig c = with_eth(kOurFork);
  c.fork_filter.accepted[0] = kOurFork;
  c.fork_filter.count = 1;
  c.fork_filter.require_eth = require_eth;
  return c;
}

class EventLog final : public EngineObserver {
 public:
  struct Seen {
    int responded = 0;
    int learned = 0;
    int with_record = 0;
  };
  void on_lookup_done(std::uint64_t, Protocol, const NodeId&,
                      std::span<const FoundNode>) noexcept override {}
  void on_local_record_changed(const enr::Record&) noexcept override {}
  void on_node_event(const NodeEvent& e) noexcept override {
    Seen& s = seen[e.id];
    (e.kind == NodeEvent::Kind::kResponded ? s.responded : s.learned) += 1;
    if (e.record != nullptr) {
      ++s.with_record;
      CHECK(e.record->node_id() == e.id);
    }
  }
  std::map<NodeId, Seen> seen;
};

// Node 0 (a bootnode on our fork) learns nodes 1..6 with their records: 1..3 on our fork, 4..5
// on another, 6 without an `eth` entry. Node 7 (`asker`) seeds node 0 and looks up.
struct Net {
  FakeClock clock;
  test::Network net{clock};
  std::vector<test::Node*> nodes;

  Net(const ServerConfig& asker, EngineObserver* observer = nullptr) {
    const std::optional<enr::ForkId> forks[] = {kOurFork,   kOurFork,   kOurFork,    kOurFork,
                                                kOtherFork, kOtherFork, std::nullopt};
    for (int i = 0; i < 7; ++i) {
      nodes.push_back(&net.add(test::loopback(static_cast<std::uint16_t>(33000 + i)), 300 + i,
                               test::loopback_testnet(with_eth(forks[i]))));
    }
    nodes.push_back(&net.add(test::loopback(33007), 307, test::loopback_testnet(asker), observer));
    for (int i = 1; i < 7; ++i) {
      net.send(*nodes[i], msg::AddSeed{test::seed_of(*nodes[0], kFlagV5)});
      net.send(*nodes[i], msg::Revalidate{Protocol::kV5});
    }
    net.deliver_all();
    REQUIRE(nodes[0]->server->table().size() == 6);
  }
  test::Node& asker() { return *nodes[7]; }
  void lookups() {
    net.send(asker(), msg::AddSeed{test::seed_of(*nodes[0], kFlagV5)});
    for (int round = 0; round < 3; ++round) {
      net.send(asker(), msg::Lookup{Protocol::kV5, std::nullopt, 1});
      net.run_for_ms(5'000);
      net.send(asker(), msg::Lookup{Protocol::kV5, asker().id(), 2});
      net.run_for_ms(5'000);
    }
  }
  bool in_table(int i) { return asker().server->table().find_any(nodes[i]->id()) != nullptr; }
};

}  // namespace

TEST_CASE("fork filter off: every node found enters the table", "[engine][fork]") {
  Net n(with_eth(kOurFork));
  n.lookups();
  for (int i = 0; i < 7; ++i) {
    INFO(i);
    CHECK(n.in_table(i));
  }
  CHECK(n.asker().server->counters().fork_filtered == 0);
}

TEST_CASE("fork filter: records of another fork stay out of the table", "[engine][fork]") {
  Net n(filtering(false));
  n.lookups();
  const Counters& c = n.asker().server->counters();
  CHECK(c.lookups_done >= 6);
  for (int i : {0, 1, 2, 3, 6}) {  // our fork, and no eth entry (allowed without require_eth)
    INFO(i);
    CHECK(n.in_table(i));
  }
  CHECK_FALSE(n.in_table(4));
  CHECK_FALSE(n.in_table(5));
  CHECK(c.fork_filtered >= 2);
  // Node 4 still serves lookups (the DHT is shared): it was contacted and answered.
  CHECK(n.nodes[4]->server->counters().rx_v5[3] >= 1);  // FINDNODE received
}

TEST_CASE("fork filter with require_eth: records without an eth entry stay out too",
          "[engine][fork]") {
  Net n(filtering(true));
  n.lookups();
  for (int i : {0, 1, 2, 3}) {
    INFO(i);
    CHECK(n.in_table(i));
  }
  for (int i : {4, 5, 6}) {
    INFO(i);
    CHECK_FALSE(n.in_table(i));
  }
  CHECK(n.asker().server->counters().fork_filtered >= 3);
}

TEST_CASE("fork filter, discv4: a node is removed when its fetched record names another fork",
          "[engine][fork][v4]") {
  FakeClock clock;
  test::Network net(clock);
  ServerConfig ac = filtering(false);
  ac.enable_v5 = false;
  ServerConfig bc = with_eth(kOtherFork);
  bc.enable_v5 = false;
  test::Node& a = net.add(test::loopback(33100), 401, ac);
  test::Node& b = net.add(test::loopback(33101), 402, bc);
  // A knows B by enode URL only (no record): B enters unchecked, A bonds and asks for B's
  // record (EIP-868), and drops B when it sees B's fork.
  NodeSeed seed;
  seed.public_key = b.pubkey();
  seed.endpoint4 = b.endpoint;
  seed.protocols = kFlagV4;
  net.send(a, msg::AddSeed{seed});
  REQUIRE(a.server->table().find_any(b.id()) != nullptr);
  net.run_for_ms(2'000);
  CHECK(a.server->counters().rx_v4[6] == 1);  // ENRResponse
  CHECK(a.server->counters().fork_filtered == 1);
  CHECK(a.server->table().find_any(b.id()) == nullptr);
  // B keeps contacting A (pings): A answers, but B stays out of A's table.
  net.send(b, msg::AddSeed{test::seed_of(a, kFlagV4)});
  for (int i = 0; i < 3; ++i) {
    net.run_for_ms(11'000);
    net.send(b, msg::Revalidate{Protocol::kV4});
  }
  net.run_for_ms(1'000);
  CHECK(a.server->counters().rx_v4[1] >= 2);  // Pings from B
  CHECK(a.server->table().find_any(b.id()) == nullptr);
}

TEST_CASE("node events: responders and every record learned are reported", "[engine][crawl]") {
  EventLog log;
  ServerConfig c = with_eth(kOurFork);
  c.report_node_events = true;
  Net n(c, &log);
  n.lookups();
  for (int i = 0; i < 7; ++i) {
    INFO(i);
    REQUIRE(log.seen.count(n.nodes[i]->id()) == 1);
    const auto& s = log.seen[n.nodes[i]->id()];
    CHECK(s.with_record >= 1);
  }
  CHECK(log.seen[n.nodes[0]->id()].responded >= 1);
  CHECK(log.seen.count(n.asker().id()) == 0);  // never ourselves

  // Without report_node_events: nothing.
  EventLog quiet;
  Net m(with_eth(kOurFork), &quiet);
  m.lookups();
  CHECK(quiet.seen.empty());
}

TEST_CASE("node events: a node seeded with its record has its own record fetched",
          "[engine][crawl]") {
  // A crawl seeded with B's record and no one else: B's record reaches the observer only if
  // A fetches it from B (discv4 ENRRequest / discv5 FINDNODE 0) when B's PONG announces it.
  for (const Protocol p : {Protocol::kV4, Protocol::kV5}) {
    INFO((p == Protocol::kV4 ? "discv4" : "discv5"));
    FakeClock clock;
    test::Network net{clock};
    EventLog log;
    ServerConfig ac;
    ac.report_node_events = true;
    test::Node& b = net.add(test::loopback(33200), 501, ServerConfig{});
    test::Node& a = net.add(test::loopback(33201), 502, ac, &log);
    net.send(a, msg::AddSeed{test::seed_of(b, flag_of(p))});
    net.send(a, msg::Revalidate{p});
    net.run_for_ms(3'000);
    net.send(a, msg::Revalidate{p});
    net.run_for_ms(3'000);
    REQUIRE(log.seen.count(b.id()) == 1);
    CHECK(log.seen[b.id()].responded >= 1);
    CHECK(log.seen[b.id()].with_record >= 1);
    // Once reported, the same seq is not fetched again on later PONGs.
    const int fetched = log.seen[b.id()].with_record;
    for (int i = 0; i < 3; ++i) {
      net.send(a, msg::Revalidate{p});
      net.run_for_ms(11'000);
    }
    CHECK(log.seen[b.id()].with_record == fetched);
  }
}
