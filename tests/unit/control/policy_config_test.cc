// The policy section and logging.packet_log_rate: values reach the struct, bad values name file,
// line and key, the ban file is parsed with its own line numbers, and the spec the engine gets
// holds everything.
#include <catch2/catch.hpp>

#include "discplane/control/config.h"
#include "discplane/control/policy.h"

#include "temp_dir.h"

using namespace discplane;
using namespace discplane::control;

namespace {

const char* kId = "c05e8a808fee2cdde30ecbabb2aac033e5efca647d567a921475682980054b11";

ConfigError parse_error(const std::string& yaml) {
  auto c = parse_config(yaml, "p.yaml");
  INFO(yaml);
  REQUIRE_FALSE(c.has_value());
  return c.error();
}

}  // namespace

TEST_CASE("policy config: values reach the struct and the engine spec", "[control][policy]") {
  const std::string yaml = std::string("policy:\n  ban:\n    node_ids: [") + kId +
                           "]\n    ips: [203.0.113.7, \"2001:db8::7\"]\n"
                           "    cidrs: [198.51.100.0/24, \"fd00::/8\"]\n"
                           "  allow: [0.0.0.0/0]\n"
                           "logging:\n  level: debug\n  packet_log_rate: 5\n";
  auto c = parse_config(yaml);
  INFO((c ? "" : c.error().to_string()));
  REQUIRE(c);
  CHECK(c->logging.level == LogLevel::kDebug);
  CHECK(c->logging.packet_log_rate == 5);
  REQUIRE(c->policy.ban.node_ids.size() == 1);
  CHECK(to_hex(c->policy.ban.node_ids[0]) == kId);
  CHECK(c->policy.ban.ips.size() == 2);
  CHECK(c->policy.ban.cidrs.size() == 2);
  CHECK(c->policy.allow.size() == 1);

  auto spec = policy_spec_of(c->policy);
  REQUIRE(spec);
  const disc::NetPolicy p(*spec);
  CHECK(p.check_id(c->policy.ban.node_ids[0]) == disc::Verdict::kBanned);
  CHECK(p.check_ip(*IpAddress::parse("203.0.113.7")) == disc::Verdict::kBanned);
  CHECK(p.check_ip(*IpAddress::parse("203.0.113.8")) == disc::Verdict::kAllowed);
  CHECK(p.check_ip(*IpAddress::parse("198.51.100.99")) == disc::Verdict::kBanned);
  CHECK(p.check_ip(*IpAddress::parse("fd00::1")) == disc::Verdict::kBanned);
  CHECK(p.check_ip(*IpAddress::parse("2001:db8::8")) == disc::Verdict::kOutsideAllowList);
}

TEST_CASE("policy config: bad values name line and key", "[control][policy]") {
  struct Case {
    std::string yaml;
    int line;
    std::string key;
    std::string message_part;
  };
  const std::vector<Case> cases = {
      {"policy:\n  ban:\n    cidrs: [10.0.0.0/33]\n", 3, "policy.ban.cidrs[0]", "bad CIDR"},
      {"policy:\n  ban:\n    ips: [1.2.3]\n", 3, "policy.ban.ips[0]", "bad IP address"},
      {"policy:\n  ban:\n    node_ids:\n      - abcd\n", 4, "policy.ban.node_ids[0]",
       "64 hex digits"},
      {"policy:\n  allow: [fd00::/8, nonsense]\n", 2, "policy.allow[1]", "bad CIDR"},
      {"policy:\n  ban:\n    subnets: []\n", 3, "policy.ban.subnets", "unknown key"},
      {"policy:\n  allow: 10.0.0.0/8\n", 2, "policy.allow", "expected a list"},
      {"logging:\n  packet_log_rate: -1\n", 2, "logging.packet_log_rate", "unsigned integer"},
      {"logging:\n  packet_log_rate: 2000000\n", 2, "logging.packet_log_rate", "between"},
  };
  for (const auto& c : cases) {
    const ConfigError e = parse_error(c.yaml);
    INFO(e.to_string());
    CHECK(e.file == "p.yaml");
    CHECK(e.line == c.line);
    CHECK(e.key == c.key);
    CHECK(e.message.find(c.message_part) != std::string::npos);
  }
}

TEST_CASE("policy config: the ban file, its comments and its errors", "[control][policy]") {
  test::TempDir dir;
  const auto good = dir.write("ban.txt", std::string("# banned by the operator\n\n") + kId +
                                             "  # a crawler\n10.0.0.0/8\n 2001:db8::1 \n");
  Config::Policy p;
  p.ban.file = good.string();
  auto spec = policy_spec_of(p);
  INFO((spec ? "" : spec.error().to_string()));
  REQUIRE(spec);
  CHECK(spec->banned_ids.size() == 1);
  CHECK(spec->banned.size() == 2);

  const auto bad = dir.write("bad.txt", "10.0.0.0/8\n\n300.1.1.1\n");
  p.ban.file = bad.string();
  auto err = policy_spec_of(p);
  REQUIRE_FALSE(err);
  CHECK(err.error().file == bad.string());
  CHECK(err.error().line == 3);
  CHECK(err.error().key == "policy.ban.file");
  CHECK(err.error().to_string().find(bad.string() + ":3: policy.ban.file: bad entry") == 0);

  p.ban.file = (dir / "missing.txt").string();
  auto missing = policy_spec_of(p);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message == "cannot open ban file");
}
