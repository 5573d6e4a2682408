// Revalidation per protocol through the engine, on the fake clock: each protocol pings on its
// own interval (timers.revalidate_interval.discv4 / .discv5), and a node dead on one protocol
// loses only that protocol's flag.
#include <catch2/catch.hpp>

#include "discplane/discovery/server.h"
#include "discplane/wire/v4wire.h"
#include "discplane/wire/v5wire.h"

#include "unit/discovery/engine_harness.h"

using namespace discplane;
using namespace discplane::disc;
using discplane::test::FakeClock;

namespace {

constexpr auto kV4Ping = static_cast<std::size_t>(v4wire::PacketType::kPing);
constexpr auto kV5Ping = static_cast<std::size_t>(v5wire::MessageType::kPing);

// Sends both Revalidate commands to `a` every 100 ms (the control thread's tick) for `ms`,
// delivering traffic between ticks.
void tick_for(test::Network& net, FakeClock& clock, test::Node& a, std::int64_t ms) {
  for (std::int64_t t = 0; t < ms; t += 100) {
    clock.advance_ms(100);
    net.send(a, msg::Revalidate{Protocol::kV4});
    net.send(a, msg::Revalidate{Protocol::kV5});
    for (auto& n : net.nodes()) {
      n->server->on_idle(n->tx);
    }
    net.deliver_all();
  }
}

}  // namespace

TEST_CASE("revalidation: discv4 and discv5 each ping on their own interval",
          "[engine][revalidation]") {
  FakeClock clock;
  test::Network net(clock);
  ServerConfig config;
  config.table.revalidation_interval_v4_ns = 60 * kSecond;
  config.table.revalidation_interval_v5_ns = 1 * kSecond;
  test::Node& a = net.add(test::loopback(32001), 41, config);
  test::Node& b = net.add(test::loopback(32002), 42);
  net.send(a, msg::AddSeed{test::seed_of(b, kFlagV4 | kFlagV5)});
  net.deliver_all();  // the seed's discv4 bond ping and its answer

  const Counters& c = a.server->counters();
  const std::uint64_t v4_before = c.tx_v4[kV4Ping];
  const std::uint64_t v5_before = c.tx_v5[kV5Ping];
  tick_for(net, clock, a, 8'000);
  const std::uint64_t v4_pings = c.tx_v4[kV4Ping] - v4_before;
  const std::uint64_t v5_pings = c.tx_v5[kV5Ping] - v5_before;
  // The v5 check is due every second (8 in 8 s, the first at once); the bond ping was v4's
  // check, so no other v4 ping comes before 60 s.
  CHECK(v5_pings >= 7);
  CHECK(v5_pings <= 9);
  CHECK(c.tx_v4[kV4Ping] <= 1);
  CHECK(v4_pings == 0);
  const PeerEntry* e = a.server->table().find(b.id());
  REQUIRE(e != nullptr);
  CHECK(e->live(Protocol::kV4));
  CHECK(e->live(Protocol::kV5));
  CHECK(e->live_on(Protocol::kV5).checks_passed >= 7);
  CHECK(e->live_on(Protocol::kV4).checks_passed == 1);

  // After 60 s the v4 check comes due again.
  tick_for(net, clock, a, 53'000);
  CHECK(c.tx_v4[kV4Ping] - v4_before == 1);
  CHECK(a.server->table().find(b.id())->live_on(Protocol::kV4).checks_passed == 2);
}

TEST_CASE("revalidation: a node dead on discv5 but alive on discv4 loses only discv5",
          "[engine][revalidation]") {
  FakeClock clock;
  test::Network net(clock);
  ServerConfig config;
  config.table.revalidation_interval_v4_ns = 1 * kSecond;
  config.table.revalidation_interval_v5_ns = 1 * kSecond;
  test::Node& a = net.add(test::loopback(32011), 51, config);
  ServerConfig v4_only;
  v4_only.enable_v5 = false;  // drops every discv5 packet: A's v5 checks all time out
  test::Node& b = net.add(test::loopback(32012), 52, v4_only);
  // A believes B speaks both (as a record or a list could claim).
  net.send(a, msg::AddSeed{test::seed_of(b, kFlagV4 | kFlagV5)});
  net.deliver_all();
  REQUIRE(a.server->table().find(b.id())->has(Protocol::kV5));

  tick_for(net, clock, a, 20'000);
  const PeerEntry* e = a.server->table().find(b.id());
  REQUIRE(e != nullptr);  // kept: alive on discv4
  CHECK(!e->has(Protocol::kV5));
  CHECK(e->has(Protocol::kV4));
  CHECK(e->live(Protocol::kV4));
  CHECK(e->live_on(Protocol::kV4).checks_passed >= 10);
  CHECK(a.server->table().size(Protocol::kV5) == 0);
  CHECK(a.server->table().size(Protocol::kV4) == 1);
  // No discv5 checks once the flag is gone: the last v5 ping is 3 failures back.
  const std::uint64_t v5_pings = a.server->counters().tx_v5[kV5Ping];
  tick_for(net, clock, a, 5'000);
  CHECK(a.server->counters().tx_v5[kV5Ping] == v5_pings);
}
