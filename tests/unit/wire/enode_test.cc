// enode URLs: parse and print (IPv4, IPv6, discport), from_record, and every rejection.
#include "discplane/wire/enode.h"

#include <cctype>
#include <string>

#include <catch2/catch.hpp>

#include "discplane/common/bytes.h"
#include "discplane/wire/enr.h"

using namespace discplane;
using namespace discplane::enode;

namespace {
// Public key of the EIP-778 example key (its node id is a448f24c...).
constexpr std::string_view kKey =
    "ca634cae0d49acb401d8a4c6b6fe8c55b70d115bf400769cc1400f3258cd3138"
    "7574077f301b421bc84df7266c44e9e6d569fc56be00812904767bf5ccd1fc7f";

std::string url(std::string_view tail) {
  return "enode://" + std::string(kKey) + std::string(tail);
}

EnodeError error_of(std::string_view text) {
  auto r = parse(text);
  REQUIRE_FALSE(r);
  return r.error();
}
}  // namespace

TEST_CASE("enode: IPv4 without and with discport", "[wire][enode]") {
  auto u = parse(url("@127.0.0.1:30303"));
  REQUIRE(u);
  REQUIRE(to_hex(u->public_key) == kKey);
  REQUIRE(to_hex(u->node_id()) ==
          "a448f24c6d18e575453db13171562b71999873db5b286df957af199ec94617f7");
  REQUIRE(u->ip == IpAddress::v4(127, 0, 0, 1));
  REQUIRE(u->tcp_port == 30303);
  REQUIRE(u->udp_port == 30303);
  REQUIRE(to_string(*u) == url("@127.0.0.1:30303"));

  auto d = parse(url("@10.3.58.6:30303?discport=30301"));
  REQUIRE(d);
  REQUIRE(d->tcp_port == 30303);
  REQUIRE(d->udp_port == 30301);
  REQUIRE(d->udp_endpoint() == Endpoint{IpAddress::v4(10, 3, 58, 6), 30301});
  REQUIRE(to_string(*d) == url("@10.3.58.6:30303?discport=30301"));
  // discport equal to the tcp port is dropped when printing.
  REQUIRE(to_string(*parse(url("@1.2.3.4:5?discport=5"))) == url("@1.2.3.4:5"));
  // Upper-case hex is read, printed lower-case; tcp port 0 is allowed (no TCP listener).
  std::string upper = url("@1.2.3.4:0?discport=30303");
  for (std::size_t i = 8; i < 8 + 128; ++i) {
    upper[i] = static_cast<char>(std::toupper(static_cast<unsigned char>(upper[i])));
  }
  auto up = parse(upper);
  REQUIRE(up);
  REQUIRE(to_string(*up) == url("@1.2.3.4:0?discport=30303"));
}

TEST_CASE("enode: IPv6 in brackets", "[wire][enode]") {
  auto u = parse(url("@[2001:db8::7]:30303?discport=9000"));
  REQUIRE(u);
  REQUIRE(u->ip == *IpAddress::parse("2001:db8::7"));
  REQUIRE(u->udp_port == 9000);
  REQUIRE(to_string(*u) == url("@[2001:db8::7]:30303?discport=9000"));
  REQUIRE(parse(url("@[::1]:1")));
  REQUIRE(error_of(url("@2001:db8::7:30303")) == EnodeError::kBadHost);  // no brackets
  REQUIRE(error_of(url("@[2001:db8::7:30303")) == EnodeError::kBadHost);
  REQUIRE(error_of(url("@[1.2.3.4]:30303")) == EnodeError::kBadHost);  // v4 in brackets
  REQUIRE(error_of(url("@[fe80::1%eth0]:30303")) == EnodeError::kBadHost);
  REQUIRE(error_of(url("@[::1]30303")) == EnodeError::kMissingPort);
}

TEST_CASE("enode: rejections", "[wire][enode]") {
  REQUIRE(error_of("enr:" + std::string(kKey)) == EnodeError::kBadScheme);
  REQUIRE(error_of("ENODE://" + std::string(kKey) + "@1.2.3.4:1") == EnodeError::kBadScheme);
  REQUIRE(error_of("") == EnodeError::kBadScheme);
  // Key: wrong length, non-hex, 0x prefix, not a point.
  REQUIRE(error_of("enode://" + std::string(kKey.substr(2)) + "@1.2.3.4:1") ==
          EnodeError::kBadPublicKeyHex);
  REQUIRE(error_of("enode://" + std::string(kKey) + "00@1.2.3.4:1") ==
          EnodeError::kBadPublicKeyHex);
  std::string nonhex = url("@1.2.3.4:1");
  nonhex[20] = 'g';
  REQUIRE(error_of(nonhex) == EnodeError::kBadPublicKeyHex);
  REQUIRE(error_of("enode://0x" + std::string(kKey.substr(2)) + "@1.2.3.4:1") ==
          EnodeError::kBadPublicKeyHex);
  REQUIRE(error_of("enode://" + std::string(128, '1') + "@1.2.3.4:1") ==
          EnodeError::kInvalidPublicKey);
  // Missing '@' (key only) and a truncated key without '@'.
  REQUIRE(error_of(url("")) == EnodeError::kMissingAt);
  REQUIRE(error_of("enode://abcd") == EnodeError::kBadPublicKeyHex);
  // Hosts: names and malformed literals.
  REQUIRE(error_of(url("@localhost:30303")) == EnodeError::kBadHost);
  REQUIRE(error_of(url("@bootnode.example.org:30303")) == EnodeError::kBadHost);
  REQUIRE(error_of(url("@1.2.3:30303")) == EnodeError::kBadHost);
  REQUIRE(error_of(url("@256.1.1.1:30303")) == EnodeError::kBadHost);
  REQUIRE(error_of(url("@:30303")) == EnodeError::kBadHost);
  // Ports.
  REQUIRE(error_of(url("@1.2.3.4")) == EnodeError::kMissingPort);
  REQUIRE(error_of(url("@1.2.3.4?discport=1")) == EnodeError::kMissingPort);
  REQUIRE(error_of(url("@1.2.3.4:")) == EnodeError::kBadPort);
  REQUIRE(error_of(url("@1.2.3.4:65536")) == EnodeError::kBadPort);
  REQUIRE(error_of(url("@1.2.3.4:-1")) == EnodeError::kBadPort);
  REQUIRE(error_of(url("@1.2.3.4:+1")) == EnodeError::kBadPort);
  REQUIRE(error_of(url("@1.2.3.4:303030")) == EnodeError::kBadPort);
  REQUIRE(error_of(url("@1.2.3.4:30 303")) == EnodeError::kBadPort);
  REQUIRE(parse(url("@1.2.3.4:65535")));
  // Query.
  REQUIRE(error_of(url("@1.2.3.4:1?discport=")) == EnodeError::kBadQuery);
  REQUIRE(error_of(url("@1.2.3.4:1?discport=70000")) == EnodeError::kBadQuery);
  REQUIRE(error_of(url("@1.2.3.4:1?udp=5")) == EnodeError::kBadQuery);
  REQUIRE(error_of(url("@1.2.3.4:1?discport=5&x=1")) == EnodeError::kBadQuery);
  REQUIRE(error_of(url("@1.2.3.4:1?")) == EnodeError::kBadQuery);
  REQUIRE_FALSE(to_string(EnodeError::kBadHost).empty());
}

TEST_CASE("enode: from_record", "[wire][enode]") {
  const auto key =
      to_array<32>(hex_or_die("b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291"));
  // The EIP-778 example has ip and udp but no tcp: tcp prints as 0.
  auto example = enr::parse_text(
      "enr:-IS4QHCYrYZbAKWCBRlAy5zzaDZXJBGkcnh4MHcBFZntXNFrdvJjX04jRzjzCBOonrkTfj499SZuOh8R33Ls8"
      "RRcy5wBgmlkgnY0gmlwhH8AAAGJc2VjcDI1NmsxoQPKY0yuDUmstAHYpMa2_oxVtw0RW_QAdpzBQA8yWM0xOIN1ZH"
      "CCdl8");
  REQUIRE(example);
  auto text = from_record(*example);
  REQUIRE(text);
  REQUIRE(*text == url("@127.0.0.1:0?discport=30303"));
  auto back = parse(*text);
  REQUIRE(back);
  REQUIRE(back->node_id() == example->node_id());
  REQUIRE(back->udp_endpoint() == *example->udp_endpoint_v4());

  enr::Builder b;
  b.set_ip(IpAddress::v4(10, 0, 0, 1)).set_tcp(30303).set_udp(30303);
  REQUIRE(*from_record(*b.sign(key)) == url("@10.0.0.1:30303"));

  enr::Builder v6;
  v6.set_ip(*IpAddress::parse("2001:db8::1")).set_tcp(30303).set_udp6(9000);
  REQUIRE(*from_record(*v6.sign(key)) == url("@[2001:db8::1]:30303?discport=9000"));

  enr::Builder none;
  none.set_udp(30303);
  REQUIRE(from_record(*none.sign(key)).error() == EnodeError::kMissingAddress);
}
