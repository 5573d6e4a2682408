// NetPolicy matching: CIDR parsing, v4/v6 prefixes at the edges (/0, /32, /128, odd lengths),
// merged overlapping ranges, ids, and the allow list's netrestrict semantics.
#include "discplane/discovery/net_policy.h"

#include <catch2/catch.hpp>

using namespace discplane;
using namespace discplane::disc;

namespace {

IpAddress ip(const char* text) {
  auto a = IpAddress::parse(text);
  REQUIRE(a);
  return *a;
}
Cidr cidr(const char* text) {
  auto c = Cidr::parse(text);
  REQUIRE(c);
  return *c;
}
NodeId id_of(std::uint8_t b) {
  NodeId id{};
  id.fill(b);
  return id;
}

}  // namespace

TEST_CASE("cidr: parse, normalise host bits, reject bad text", "[net_policy]") {
  CHECK(cidr("10.1.2.3/8").to_string() == "10.0.0.0/8");
  CHECK(cidr("1.2.3.4").prefix_length == 32);
  CHECK(cidr("::1").prefix_length == 128);
  CHECK(cidr("fd00:1234::5/20").to_string() == "fd00:1000::/20");
  CHECK(cidr("0.0.0.0/0").prefix_length == 0);
  for (const char* bad : {"", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/x", "300.0.0.1",
                          "10.0.0.0/8/8", "/8", "10.0.0.0/-1"}) {
    INFO(bad);
    CHECK_FALSE(Cidr::parse(bad));
  }
  CHECK(cidr("192.168.0.0/23").contains(ip("192.168.1.255")));
  CHECK_FALSE(cidr("192.168.0.0/23").contains(ip("192.168.2.0")));
  CHECK_FALSE(cidr("0.0.0.0/0").contains(ip("::1")));  // families never match
}

TEST_CASE("net_policy: empty policy admits everything", "[net_policy]") {
  NetPolicy p;
  CHECK(p.check_ip(ip("1.2.3.4")) == Verdict::kAllowed);
  CHECK(p.check_ip(ip("::1")) == Verdict::kAllowed);
  CHECK(p.check_id(id_of(1)) == Verdict::kAllowed);
  CHECK_FALSE(p.has_allow_list());
}

TEST_CASE("net_policy: IPv4 bans at the prefix edges", "[net_policy]") {
  NetPolicySpec spec;
  spec.banned = {cidr("10.0.0.0/8"), cidr("192.168.1.7"), cidr("172.16.0.0/31"),
                 cidr("255.255.255.255/32")};
  NetPolicy p(spec);
  CHECK(p.check_ip(ip("10.0.0.0")) == Verdict::kBanned);
  CHECK(p.check_ip(ip("10.255.255.255")) == Verdict::kBanned);
  CHECK(p.check_ip(ip("9.255.255.255")) == Verdict::kAllowed);
  CHECK(p.check_ip(ip("11.0.0.0")) == Verdict::kAllowed);
  CHECK(p.check_ip(ip("192.168.1.7")) == Verdict::kBanned);
  CHECK(p.check_ip(ip("192.168.1.6")) == Verdict::kAllowed);
  CHECK(p.check_ip(ip("192.168.1.8")) == Verdict::kAllowed);
  CHECK(p.check_ip(ip("172.16.0.1")) == Verdict::kBanned);
  CHECK(p.check_ip(ip("172.16.0.2")) == Verdict::kAllowed);
  CHECK(p.check_ip(ip("255.255.255.255")) == Verdict::kBanned);
  CHECK(p.check_ip(ip("255.255.255.254")) == Verdict::kAllowed);
  CHECK(p.check_ip(ip("::a00:1")) == Verdict::kAllowed);  // an IPv6 address is not 10.0.0.1

  NetPolicySpec all;
  all.banned = {cidr("0.0.0.0/0")};
  NetPolicy everything(all);
  CHECK(everything.check_ip(ip("0.0.0.0")) == Verdict::kBanned);
  CHECK(everything.check_ip(ip("255.255.255.255")) == Verdict::kBanned);
  CHECK(everything.check_ip(ip("::")) == Verdict::kAllowed);
}

TEST_CASE("net_policy: IPv6 bans across the 64-bit halves", "[net_policy]") {
  NetPolicySpec spec;
  spec.banned = {cidr("fd00::/8"), cidr("2001:db8::/64"), cidr("2001:db8:0:1::/65"),
                 cidr("2001:db8:0:2::42"), cidr("4a00::/3")};
  NetPolicy p(spec);
  CHECK(p.check_ip(ip("fd12:3456::1")) == Verdict::kBanned);
  CHECK(p.check_ip(ip("fe00::1")) == Verdict::kAllowed);
  CHECK(p.check_ip(ip("2001:db8::ffff:ffff:ffff:ffff")) == Verdict::kBanned);
  CHECK(p.check_ip(ip("2001:db8:0:1:7fff:ffff:ffff:ffff")) == Verdict::kBanned);
  CHECK(p.check_ip(ip("2001:db8:0:1:8000::")) == Verdict::kAllowed);
  CHECK(p.check_ip(ip("2001:db8:0:2::42")) == Verdict::kBanned);
  CHECK(p.check_ip(ip("2001:db8:0:2::43")) == Verdict::kAllowed);
  CHECK(p.check_ip(ip("2001:db8:0:2::41")) == Verdict::kAllowed);
  CHECK(p.check_ip(ip("4000::")) == Verdict::kBanned);  // 4a00::/3 is 4000::/3
  CHECK(p.check_ip(ip("5fff:ffff::")) == Verdict::kBanned);
  CHECK(p.check_ip(ip("3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")) == Verdict::kAllowed);
  CHECK(p.check_ip(ip("6000::")) == Verdict::kAllowed);
  CHECK(p.check_ip(ip("10.0.0.1")) == Verdict::kAllowed);

  NetPolicySpec all;
  all.banned = {cidr("::/0")};
  NetPolicy everything(all);
  CHECK(everything.check_ip(ip("::")) == Verdict::kBanned);
  CHECK(everything.check_ip(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")) == Verdict::kBanned);
  CHECK(everything.check_ip(ip("1.2.3.4")) == Verdict::kAllowed);
}

TEST_CASE("net_policy: overlapping and nested ranges merge", "[net_policy]") {
  NetPolicySpec spec;
  spec.banned = {cidr("10.0.0.0/16"), cidr("10.0.1.0/24"), cidr("10.0.0.5"),
                 cidr("10.0.0.0/8"),  cidr("20.0.0.0/24"), cidr("20.0.0.128/25")};
  NetPolicy p(spec);
  CHECK(p.banned_ranges() == 2);
  CHECK(p.check_ip(ip("10.200.0.1")) == Verdict::kBanned);
  CHECK(p.check_ip(ip("20.0.0.255")) == Verdict::kBanned);
  CHECK(p.check_ip(ip("20.0.1.0")) == Verdict::kAllowed);
}

TEST_CASE("net_policy: node ids", "[net_policy]") {
  NetPolicySpec spec;
  spec.banned_ids = {id_of(9), id_of(3), id_of(3)};
  NetPolicy p(spec);
  CHECK(p.banned_ids() == 2);
  CHECK(p.check_id(id_of(3)) == Verdict::kBanned);
  CHECK(p.check_id(id_of(9)) == Verdict::kBanned);
  CHECK(p.check_id(id_of(4)) == Verdict::kAllowed);
  CHECK(p.check(id_of(9), ip("1.2.3.4")) == Verdict::kBanned);
  CHECK(p.admits(id_of(4), ip("1.2.3.4")));
}

TEST_CASE("net_policy: allow list is netrestrict; a ban inside it still wins", "[net_policy]") {
  NetPolicySpec spec;
  spec.allow = {cidr("127.0.0.0/8"), cidr("fd00::/8")};
  spec.banned = {cidr("127.0.0.9")};
  NetPolicy p(spec);
  CHECK(p.has_allow_list());
  CHECK(p.check_ip(ip("127.0.0.1")) == Verdict::kAllowed);
  CHECK(p.check_ip(ip("fd00::1")) == Verdict::kAllowed);
  CHECK(p.check_ip(ip("8.8.8.8")) == Verdict::kOutsideAllowList);
  CHECK(p.check_ip(ip("::1")) == Verdict::kOutsideAllowList);
  CHECK(p.check_ip(ip("127.0.0.9")) == Verdict::kBanned);
  CHECK(p.check_ip(IpAddress{}) == Verdict::kOutsideAllowList);  // unknown address

  NetPolicySpec v4only;
  v4only.allow = {cidr("0.0.0.0/0")};
  NetPolicy q(v4only);
  CHECK(q.check_ip(ip("1.2.3.4")) == Verdict::kAllowed);
  CHECK(q.check_ip(ip("::1")) == Verdict::kOutsideAllowList);
}
