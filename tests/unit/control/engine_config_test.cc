// One set of defaults: the engine's ServerConfig{} equals what the appliance builds from the
// YAML configuration's defaults (engine_config_of(Config{})); config_test.cc holds
// conf/discplane.yaml to Config{}. And the per-protocol settings reach the engine apart.
#include <catch2/catch.hpp>

#include "discplane/control/appliance.h"
#include "discplane/control/config.h"

using namespace discplane;
using namespace discplane::control;
using namespace std::chrono_literals;

TEST_CASE("ServerConfig defaults equal the engine config built from the YAML defaults",
          "[control][config][defaults]") {
  const disc::ServerConfig engine;  // what engine tests run with
  const disc::ServerConfig product = engine_config_of(Config{});
  CHECK(product.enable_v4 == engine.enable_v4);
  CHECK(product.enable_v5 == engine.enable_v5);
  // Table
  CHECK(product.table.bucket_size == engine.table.bucket_size);
  CHECK(product.table.replacements == engine.table.replacements);
  CHECK(product.table.ip4_bucket_limit == engine.table.ip4_bucket_limit);
  CHECK(product.table.ip6_bucket_limit == engine.table.ip6_bucket_limit);
  CHECK(product.table.ip4_table_limit == engine.table.ip4_table_limit);
  CHECK(product.table.ip6_table_limit == engine.table.ip6_table_limit);
  CHECK(product.table.revalidation_interval_v4_ns == engine.table.revalidation_interval_v4_ns);
  CHECK(product.table.revalidation_interval_v5_ns == engine.table.revalidation_interval_v5_ns);
  // discv4
  CHECK(product.bond_lifetime_ns == engine.bond_lifetime_ns);
  CHECK(product.v4_request_timeout_ns == engine.v4_request_timeout_ns);
  CHECK(product.v4_amp_per_ip_burst == engine.v4_amp_per_ip_burst);
  CHECK(product.v4_amp_global_burst == engine.v4_amp_global_burst);
  // discv5
  CHECK(product.max_sessions == engine.max_sessions);
  CHECK(product.session_idle_timeout_ns == engine.session_idle_timeout_ns);
  CHECK(product.v5_request_timeout_ns == engine.v5_request_timeout_ns);
  CHECK(product.whoareyou_per_ip_rate == engine.whoareyou_per_ip_rate);
  CHECK(product.whoareyou_per_ip_burst == engine.whoareyou_per_ip_burst);
  CHECK(product.whoareyou_global_rate == engine.whoareyou_global_rate);
  CHECK(product.whoareyou_global_burst == engine.whoareyou_global_burst);
  for (auto [p, e] : {std::pair{product.v4_request_limits, engine.v4_request_limits},
                      std::pair{product.v5_request_limits, engine.v5_request_limits}}) {
    CHECK(p.per_ip_rate == e.per_ip_rate);
    CHECK(p.per_ip_burst == e.per_ip_burst);
    CHECK(p.per_node_rate == e.per_node_rate);
    CHECK(p.per_node_burst == e.per_node_burst);
    CHECK(p.max_keys == e.max_keys);
  }
  CHECK(product.table.ip_limit_exempt.empty());
  CHECK(engine.table.ip_limit_exempt.empty());
  // Off unless configured, in both.
  CHECK(product.fork_filter.count == engine.fork_filter.count);
  CHECK(product.fork_filter.require_eth == engine.fork_filter.require_eth);
  CHECK(product.report_node_events == engine.report_node_events);
  CHECK(product.max_lookups == engine.max_lookups);

  // The values the issue named, so a default cannot move in both places unnoticed.
  CHECK(engine.max_sessions == 1024);
  CHECK(engine.session_idle_timeout_ns == 10 * 60 * disc::kSecond);
  CHECK(engine.v5_request_timeout_ns == 1 * disc::kSecond);
}

TEST_CASE("engine_config_of: each protocol's revalidate_interval reaches the table",
          "[control][config]") {
  auto parsed = parse_config("timers:\n  revalidate_interval: {discv4: 60s, discv5: 1s}\n");
  REQUIRE(parsed);
  const disc::ServerConfig sc = engine_config_of(*parsed);
  CHECK(sc.table.revalidation_interval_v4_ns == 60 * disc::kSecond);
  CHECK(sc.table.revalidation_interval_v5_ns == 1 * disc::kSecond);
  CHECK(sc.table.revalidation_interval_ns(disc::Protocol::kV4) == 60 * disc::kSecond);
  CHECK(sc.table.revalidation_interval_ns(disc::Protocol::kV5) == 1 * disc::kSecond);

  Config c;
  c.discv5.max_sessions = 77;
  c.discv5.whoareyou_rate_per_ip = 3;
  c.discv5.whoareyou_rate_global = 5;
  c.mode = Mode::kCrawl;
  const disc::ServerConfig crawl = engine_config_of(c);
  CHECK(crawl.max_sessions == 77);
  CHECK(crawl.whoareyou_per_ip_burst == 6);
  CHECK(crawl.whoareyou_global_burst == 1);
  CHECK(crawl.report_node_events);
  CHECK(crawl.max_lookups == 64);
}
