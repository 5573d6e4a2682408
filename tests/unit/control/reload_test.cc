// plan_reload: one change per changed key, live ones applied, the rest flagged for a restart.
#include "discplane/control/reload.h"

#include <catch2/catch.hpp>

using namespace discplane;
using namespace discplane::control;

namespace {

const ReloadChange* find(const ReloadPlan& p, const std::string& key) {
  for (const auto& c : p.changes) {
    if (c.key == key) {
      return &c;
    }
  }
  return nullptr;
}

}  // namespace

TEST_CASE("reload: identical configs change nothing", "[control][reload]") {
  Config a;
  const ReloadPlan p = plan_reload(a, a);
  CHECK(p.empty());
  CHECK_FALSE(p.policy);
  CHECK_FALSE(p.logging);
  CHECK(p.new_bootnodes.empty());
}

TEST_CASE("reload: live keys are applied, the others need a restart", "[control][reload]") {
  Config a;
  a.bootnodes = {"enode://old", "enode://kept"};
  Config b = a;
  b.bootnodes = {"enode://kept", "enr:new"};
  b.logging.level = LogLevel::kDebug;
  b.logging.packet_log_rate = 100;
  b.policy.ban.cidrs = {*disc::Cidr::parse("10.0.0.0/8")};
  b.policy.allow = {*disc::Cidr::parse("0.0.0.0/0")};
  b.network.listen = {*Endpoint::parse("127.0.0.1:4000")};
  b.dataplane.backend = Backend::kDpdk;
  b.identity.key_file = "other.key";
  b.table.bucket_size = 8;
  b.discv5.max_sessions = 10;
  b.timers.lookup_interval.discv4 = std::chrono::seconds(5);

  const ReloadPlan p = plan_reload(a, b);
  CHECK(p.policy);
  CHECK(p.logging);
  REQUIRE(p.new_bootnodes == std::vector<std::string>{"enr:new"});

  for (const char* key : {"bootnodes", "logging.level", "logging.packet_log_rate",
                          "policy.ban.cidrs", "policy.allow"}) {
    INFO(key);
    const ReloadChange* c = find(p, key);
    REQUIRE(c != nullptr);
    CHECK(c->action == ReloadAction::kApplied);
  }
  for (const char* key : {"network.listen", "dataplane.backend", "identity.key_file",
                          "table.bucket_size", "discv5.max_sessions", "timers.lookup_interval"}) {
    INFO(key);
    const ReloadChange* c = find(p, key);
    REQUIRE(c != nullptr);
    CHECK(c->action == ReloadAction::kNeedsRestart);
    CHECK(c->to_string() == std::string(key) + ": ignored, needs a restart");
  }
  CHECK(p.changes.size() == 11);
  CHECK(find(p, "policy.ban.ips") == nullptr);
  CHECK(find(p, "logging.level")->to_string() == "logging.level: applied (info -> debug)");
  CHECK(find(p, "bootnodes")->detail == "1 new seeded, 1 removed stay known until a restart");
  CHECK(find(p, "policy.ban.cidrs")->detail == "0 -> 1 entries");

  // After the reload the live fields are the new ones; the rest stay as they run.
  const Config running = apply_live_fields(a, b);
  CHECK(running.logging == b.logging);
  CHECK(running.policy == b.policy);
  CHECK(running.bootnodes == b.bootnodes);
  CHECK(running.network == a.network);
  CHECK(running.table == a.table);
  // A second reload of the same file: only the restart-only keys are still reported.
  const ReloadPlan again = plan_reload(running, b);
  for (const auto& c : again.changes) {
    INFO(c.key);
    CHECK(c.action == ReloadAction::kNeedsRestart);
  }
  CHECK_FALSE(again.policy);
}

TEST_CASE("reload: a ban file is re-read on every reload", "[control][reload]") {
  Config a;
  a.policy.ban.file = "/etc/discplane/ban.txt";
  const ReloadPlan p = plan_reload(a, a);
  CHECK(p.policy);
  REQUIRE(p.changes.size() == 1);
  CHECK(p.changes[0].to_string() == "policy.ban.file: applied (re-read)");
}
