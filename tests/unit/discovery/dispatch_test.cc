// The engine's one dispatch (DiscoveryServer::handle): every InMessage alternative reaches its
// own handler, and commands (not packets) read the clock first. RegisterTalkProtocol's handler
// is exercised by the TALKREQ test in discv5_engine_test.cc (it answers with the handler's
// bytes); the operator probes (Ping, Resolve, TalkRequest) by probe_test.cc.
#include <set>
#include <string>

#include <catch2/catch.hpp>

#include "discplane/discovery/net_policy.h"
#include "discplane/discovery/server.h"
#include "discplane/wire/v4wire.h"
#include "discplane/wire/v5wire.h"

#include "unit/discovery/engine_harness.h"

using namespace discplane;
using namespace discplane::disc;
using discplane::test::FakeClock;

namespace {

constexpr auto kV4Ping = static_cast<std::size_t>(v4wire::PacketType::kPing);
constexpr auto kV4Pong = static_cast<std::size_t>(v4wire::PacketType::kPong);

std::uint64_t disabled_drops(const Counters& c) {
  return c.drops[static_cast<std::size_t>(Drop::kDisabledProtocol)];
}

}  // namespace

TEST_CASE("dispatch: every alternative has its own name", "[engine][dispatch]") {
  const std::vector<InMessage> all = {msg::Discv4Packet{},
                                      msg::Discv5Packet{},
                                      msg::Revalidate{Protocol::kV4},
                                      msg::Lookup{Protocol::kV5, {}, 0},
                                      msg::Prune{},
                                      msg::Shutdown{},
                                      msg::AddSeed{},
                                      msg::RegisterTalkProtocol{"x", nullptr},
                                      msg::SetNetPolicy{},
                                      msg::Ping{},
                                      msg::Resolve{},
                                      msg::TalkRequest{}};
  REQUIRE(all.size() == std::variant_size_v<InMessage>);
  std::set<std::string> names;
  for (const InMessage& m : all) {
    names.insert(name(m));
  }
  CHECK(names == std::set<std::string>{"discv4-packet", "discv5-packet", "revalidate", "lookup",
                                       "prune", "shutdown", "add-seed", "register-talk",
                                       "set-net-policy", "ping", "resolve", "talk-request"});
}

TEST_CASE("dispatch: packets reach their protocol, or are dropped when it is off",
          "[engine][dispatch]") {
  FakeClock clock;
  test::Network net(clock);
  test::Node& a = net.add(test::loopback(33001), 61);
  test::Node& b = net.add(test::loopback(33002), 62);
  ServerConfig off;
  off.enable_v4 = false;
  off.enable_v5 = false;
  test::Node& mute = net.add(test::loopback(33003), 63, off);

  // B's discv4 PING (the seed's bond ping), handed to A as a Discv4Packet: A answers (Pong).
  net.send(b, msg::AddSeed{test::seed_of(a, kFlagV4 | kFlagV5)});
  auto out = b.tx.take();
  REQUIRE(out.size() == 1);
  a.server->handle(msg::Discv4Packet{ByteView(out[0].payload), b.endpoint}, a.tx);
  CHECK(a.server->counters().tx_v4[kV4Pong] == 1);
  // The same bytes to a node with discv4 off: dropped and counted.
  const std::uint64_t before = disabled_drops(mute.server->counters());
  mute.server->handle(msg::Discv4Packet{ByteView(out[0].payload), b.endpoint}, mute.tx);
  CHECK(disabled_drops(mute.server->counters()) == before + 1);
  CHECK(mute.tx.sent.empty());

  // B's first discv5 packet (no session yet), handed to A as a Discv5Packet: WHOAREYOU.
  (void)a.tx.take();
  net.send(b, msg::Revalidate{Protocol::kV5});
  out = b.tx.take();
  REQUIRE(!out.empty());
  a.server->handle(msg::Discv5Packet{ByteView(out.back().payload), b.endpoint}, a.tx);
  CHECK(a.server->counters().v5_whoareyou_sent == 1);
  mute.server->handle(msg::Discv5Packet{ByteView(out.back().payload), b.endpoint}, mute.tx);
  CHECK(disabled_drops(mute.server->counters()) == before + 2);
}

TEST_CASE("dispatch: each command reaches its handler and reads the clock", "[engine][dispatch]") {
  FakeClock clock;
  test::Network net(clock);
  ServerConfig config;
  config.table.min_live = 0;
  config.stale_entry_age_ns = 5 * kSecond;
  test::Node& a = net.add(test::loopback(33011), 71, config);
  test::Node& b = net.add(test::loopback(33012), 72);
  b.up = false;  // never answers

  // AddSeed: in the table, stamped with the time the command ran (read from the clock).
  clock.advance_ms(1'500);
  net.send(a, msg::AddSeed{test::seed_of(b, kFlagV4)});
  const PeerEntry* e = a.server->table().find(b.id());
  REQUIRE(e != nullptr);
  CHECK(e->added_ns == clock.now().mono_ns);
  CHECK(a.server->counters().tx_v4[kV4Ping] == 1);  // the seed's bond ping
  (void)a.tx.take();

  // Revalidate (once the bond ping timed out): a discv4 check of the seed, which times out
  // too (a failure pending on discv4).
  clock.advance_ms(1'000);
  a.server->on_idle(a.tx);
  net.send(a, msg::Revalidate{Protocol::kV4});
  CHECK(a.server->counters().tx_v4[kV4Ping] == 2);
  clock.advance_ms(1'000);
  a.server->on_idle(a.tx);
  REQUIRE(a.server->table().find(b.id()) != nullptr);
  CHECK(a.server->table().find(b.id())->live_on(Protocol::kV4).checks_failed >= 1);

  // Lookup: one runs.
  net.send(a, msg::Lookup{Protocol::kV4, {}, 7});
  CHECK(a.server->active_lookups() == 1);

  // Prune: the failing entry, now older than stale_entry_age, goes. The clock moved without
  // any packet or tick: only the command's own clock read makes it stale.
  clock.advance_ms(10'000);
  net.send(a, msg::Prune{});
  CHECK(a.server->table().find(b.id()) == nullptr);

  // SetNetPolicy: in force.
  auto policy = std::make_shared<const NetPolicy>();
  net.send(a, msg::SetNetPolicy{policy});
  CHECK(a.server->net_policy() == policy.get());

  // Shutdown: the engine stops; further commands do nothing.
  CHECK(!a.server->shut_down());
  net.send(a, msg::Shutdown{});
  CHECK(a.server->shut_down());
  const std::uint64_t pings = a.server->counters().tx_v4[kV4Ping];
  net.send(a, msg::AddSeed{test::seed_of(b, kFlagV4)});
  net.send(a, msg::Revalidate{Protocol::kV4});
  CHECK(a.server->counters().tx_v4[kV4Ping] == pings);
}
