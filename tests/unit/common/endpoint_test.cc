#include "discplane/common/endpoint.h"

#include <unordered_set>

#include <catch2/catch.hpp>

#include "discplane/common/bytes.h"

using namespace discplane;

TEST_CASE("hex round trip and rejection", "[common]") {
  Bytes out;
  REQUIRE(from_hex("0x00ff10", out));
  REQUIRE(out == Bytes{0x00, 0xff, 0x10});
  REQUIRE(to_hex(out) == "00ff10");
  REQUIRE_FALSE(from_hex("abc", out));
  REQUIRE_FALSE(from_hex("zz", out));
}

TEST_CASE("endpoint parse and print, IPv4 and IPv6", "[common]") {
  auto v4 = Endpoint::parse("127.0.0.1:30303");
  REQUIRE(v4);
  REQUIRE(v4->ip.is_v4());
  REQUIRE(v4->ip.is_loopback());
  REQUIRE(v4->port == 30303);
  REQUIRE(v4->to_string() == "127.0.0.1:30303");

  auto v6 = Endpoint::parse("[fd00::1]:9000");
  REQUIRE(v6);
  REQUIRE(v6->ip.is_v6());
  REQUIRE(v6->ip.is_private());
  REQUIRE(v6->to_string() == "[fd00::1]:9000");

  REQUIRE_FALSE(Endpoint::parse("fd00::1:9000"));
  REQUIRE_FALSE(Endpoint::parse("127.0.0.1:70000"));
  REQUIRE_FALSE(Endpoint::parse("127.0.0.1"));
  REQUIRE_FALSE(Endpoint::parse("host:1"));
}

TEST_CASE("endpoint hashing separates ports and families", "[common]") {
  std::unordered_set<Endpoint, EndpointHash> set;
  set.insert(*Endpoint::parse("127.0.0.1:1"));
  set.insert(*Endpoint::parse("127.0.0.1:2"));
  set.insert(*Endpoint::parse("[::1]:1"));
  set.insert(*Endpoint::parse("127.0.0.1:1"));
  REQUIRE(set.size() == 3);
  REQUIRE(IpAddress::parse("169.254.3.4")->is_link_local());
  REQUIRE(IpAddress::parse("10.1.2.3")->is_private());
  REQUIRE_FALSE(IpAddress::parse("8.8.8.8")->is_private());
}
