// ENR (EIP-778): the EIP-778 example record and node A's record from the discv5 vectors,
// every derived case of tests/data/enr.json, and each rejection path with records signed
// here (so that only the property under test is wrong), plus Builder round trips.
#include "discplane/wire/enr.h"

#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "discplane/common/bytes.h"
#include "discplane/crypto/keccak.h"
#include "discplane/crypto/secp256k1.h"
#include "discplane/wire/base64.h"
#include "discplane/wire/rlp.h"

using namespace discplane;
using namespace discplane::enr;
using nlohmann::json;

namespace {

json load_vectors() {
  std::ifstream f(std::string(DP_TEST_DATA_DIR) + "/enr.json");
  REQUIRE(f.good());
  return json::parse(f);
}

Bytes hex(const json& j) {
  return hex_or_die(j.get<std::string>());
}

crypto::PrivateKey example_key() {
  return to_array<32>(
      hex_or_die("b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291"));
}

Bytes rlp_string(ByteView s) {
  rlp::Builder b;
  b.add_string(s);
  return b.take();
}
Bytes rlp_string(std::string_view s) {
  return rlp_string(as_bytes(s));
}
Bytes rlp_uint(std::uint64_t v) {
  rlp::Builder b;
  b.add_uint(v);
  return b.take();
}

struct Pair {
  std::string key;
  Bytes value;  // RLP-encoded
};

// The example record's pairs: id, ip 127.0.0.1, secp256k1, udp 30303 (sorted).
std::vector<Pair> example_pairs() {
  const auto pub = crypto::derive_public_key(example_key());
  REQUIRE(pub);
  return {{"id", rlp_string("v4")},
          {"ip", rlp_string(hex_or_die("7f000001"))},
          {"secp256k1", rlp_string(crypto::compress(*pub))},
          {"udp", rlp_uint(30303)}};
}

// Signs [seq, k, v, ...] exactly as given (no sorting, no checks) and returns the record.
Bytes sign_pairs(ByteView seq_rlp, const std::vector<Pair>& pairs,
                 const crypto::PrivateKey& key = example_key()) {
  rlp::Builder content;
  auto t = content.begin_list();
  content.add_raw(seq_rlp);
  for (const auto& p : pairs) {
    content.add_string(as_bytes(p.key));
    content.add_raw(p.value);
  }
  content.end_list(t);
  const auto sig = crypto::sign(key, crypto::keccak256(content.bytes()));
  rlp::Builder rec;
  t = rec.begin_list();
  rec.add_string(sig);
  rec.add_raw(rlp::decode_exact(content.bytes())->payload);
  rec.end_list(t);
  return rec.take();
}
Bytes sign_pairs(const std::vector<Pair>& pairs) {
  return sign_pairs(rlp_uint(1), pairs);
}

EnrError decode_error(ByteView rlp) {
  auto r = decode(rlp);
  REQUIRE_FALSE(r);
  return r.error();
}

}  // namespace

TEST_CASE("enr: EIP-778 example record, text and RLP", "[wire][enr]") {
  const json v = load_vectors().at("example_record_eip778");
  const Bytes rlp = hex(v.at("rlp_hex"));
  const std::string text = v.at("text");

  auto rec = parse_text(text);
  REQUIRE(rec);
  REQUIRE(to_hex(rec->raw()) == to_hex(rlp));
  REQUIRE(rec->raw().size() == 134);
  REQUIRE(to_text(*rec) == text);

  auto from_rlp = decode(rlp);
  REQUIRE(from_rlp);
  REQUIRE(*from_rlp == *rec);
  auto unverified = decode_unverified(rlp);
  REQUIRE(unverified);
  REQUIRE(unverified->node_id() == rec->node_id());

  REQUIRE(rec->seq() == 1);
  REQUIRE(rec->id_scheme() == "v4");
  REQUIRE(to_hex(rec->node_id()) == v.at("expected_node_id_hex").get<std::string>());
  REQUIRE(to_hex(rec->public_key()) ==
          v.at("derived").at("public_key_uncompressed_64_hex").get<std::string>());
  REQUIRE(to_hex(rec->signature()) == v.at("expected").at("signature_64_hex").get<std::string>());
  REQUIRE(rec->ip() == IpAddress::v4(127, 0, 0, 1));
  REQUIRE(rec->udp() == 30303);
  REQUIRE_FALSE(rec->tcp());
  REQUIRE_FALSE(rec->ip6());
  REQUIRE_FALSE(rec->udp6());
  REQUIRE_FALSE(rec->eth());
  REQUIRE(rec->udp_endpoint_v4() == Endpoint{IpAddress::v4(127, 0, 0, 1), 30303});
  REQUIRE_FALSE(rec->udp_endpoint_v6());
  REQUIRE_FALSE(rec->tcp_endpoint_v4());

  for (const auto& p : v.at("expected").at("pairs_in_order")) {
    auto value = rec->get(p.at("key").get<std::string>());
    REQUIRE(value);
    REQUIRE(to_hex(*value) == to_hex(rlp_string(hex(p.at("value_hex")))));
  }
  REQUIRE_FALSE(rec->get("tcp"));
  REQUIRE_FALSE(rec->get("a"));
  REQUIRE_FALSE(rec->get("zzz"));
  REQUIRE_FALSE(rec->get(""));
}

TEST_CASE("enr: re-signing the example reproduces it byte for byte (RFC6979)", "[wire][enr]") {
  const json v = load_vectors().at("example_record_eip778");
  const Bytes rlp = hex(v.at("rlp_hex"));
  auto rec = decode(rlp);
  REQUIRE(rec);

  auto again = Builder::from(*rec).sign(example_key());
  REQUIRE(again);
  REQUIRE(to_hex(again->raw()) == to_hex(rlp));

  Builder fresh;
  fresh.set_seq(1).set_ip(IpAddress::v4(127, 0, 0, 1)).set_udp(30303);
  auto built = fresh.sign(example_key());
  REQUIRE(built);
  REQUIRE(to_hex(built->raw()) == to_hex(rlp));
  REQUIRE(to_hex(built->signature()) == v.at("expected").at("signature_64_hex").get<std::string>());
}

TEST_CASE("enr: node A's record from the discv5 handshake vector", "[wire][enr]") {
  const json v = load_vectors().at("discv5_vector_record_node_a");
  const Bytes rlp = hex(v.at("rlp_hex"));
  auto rec = decode(rlp);
  REQUIRE(rec);
  REQUIRE(rec->raw().size() == 127);
  REQUIRE(to_hex(rec->node_id()) == v.at("expected_node_id_hex").get<std::string>());
  REQUIRE(rec->seq() == 1);
  REQUIRE(rec->ip() == IpAddress::v4(127, 0, 0, 1));
  REQUIRE_FALSE(rec->udp());
  REQUIRE_FALSE(rec->udp_endpoint_v4());  // ip without udp is no endpoint
  REQUIRE(to_text(*rec) == v.at("derived_text").get<std::string>());
  auto from_text = parse_text(v.at("derived_text").get<std::string>());
  REQUIRE(from_text);
  REQUIRE(*from_text == *rec);

  const auto key = to_array<32>(hex(v.at("private_key_hex")));
  auto resigned = Builder::from(*rec).sign(key);
  REQUIRE(resigned);
  REQUIRE(to_hex(resigned->raw()) == to_hex(rlp));
}

TEST_CASE("enr: derived accept/reject cases", "[wire][enr]") {
  const json cases = load_vectors().at("derived_cases").at("cases");
  REQUIRE(cases.size() == 7);
  const std::map<std::string, EnrError> expected_error = {
      {"tampered_udp_port_bad_signature", EnrError::kBadSignature},
      {"keys_not_sorted", EnrError::kKeysNotSorted},
      {"duplicate_key", EnrError::kDuplicateKey},
      {"record_over_300_bytes", EnrError::kTooLarge},
      {"odd_number_of_kv_elements", EnrError::kOddKeyValueCount},
      {"missing_id_key", EnrError::kMissingId},
  };
  for (const auto& c : cases) {
    const std::string name = c.at("name");
    INFO("case " << name);
    const Bytes rlp = hex(c.at("rlp_hex"));
    REQUIRE(rlp.size() == c.at("rlp_length_bytes").get<std::size_t>());
    auto rec = decode(rlp);
    REQUIRE(static_cast<bool>(rec) == c.at("must_accept").get<bool>());
    if (!rec) {
      REQUIRE(expected_error.count(name) == 1);
      REQUIRE(rec.error() == expected_error.at(name));
      // Only the tampered one is structurally fine; the others fail without the signature.
      REQUIRE(static_cast<bool>(decode_unverified(rlp)) ==
              (name == "tampered_udp_port_bad_signature"));
      continue;
    }
    REQUIRE(name == "valid_seq2_with_tcp_and_unknown_key");
    REQUIRE(rec->seq() == 2);
    REQUIRE(rec->tcp() == 30303);
    REQUIRE(rec->udp() == 30303);
    REQUIRE(rec->tcp_endpoint_v4() == Endpoint{IpAddress::v4(127, 0, 0, 1), 30303});
    REQUIRE(to_hex(rec->node_id()) == c.at("expected_node_id_hex").get<std::string>());
    REQUIRE(to_hex(*rec->get("zz")) == "8568656c6c6f");  // "hello"
    REQUIRE(to_text(*rec) == c.at("text").get<std::string>());
    auto t = parse_text(c.at("text").get<std::string>());
    REQUIRE(t);
    REQUIRE(*t == *rec);
  }
}

TEST_CASE("enr: the 300-byte limit (300 accepted, 301 rejected)", "[wire][enr]") {
  // Pad with an unknown key until the record is 300 and then 301 bytes.
  bool saw_300 = false;
  bool saw_301 = false;
  for (std::size_t len = 100; len < 200 && !saw_301; ++len) {
    auto pairs = example_pairs();
    pairs.push_back({"zz", rlp_string(Bytes(len, 0xaa))});
    const Bytes rlp = sign_pairs(pairs);
    Builder b;
    b.set_seq(1).set_ip(IpAddress::v4(127, 0, 0, 1)).set_udp(30303);
    REQUIRE(b.set("zz", pairs.back().value));
    auto built = b.sign(example_key());
    if (rlp.size() == 300) {
      saw_300 = true;
      auto rec = decode(rlp);
      REQUIRE(rec);
      REQUIRE(rec->raw().size() == 300);
      REQUIRE(built);
      REQUIRE(*built == *rec);
      REQUIRE(parse_text(to_text(*rec)));
    } else if (rlp.size() == 301) {
      saw_301 = true;
      REQUIRE(decode_error(rlp) == EnrError::kTooLarge);
      REQUIRE_FALSE(decode_unverified(rlp));
      REQUIRE_FALSE(built);
      REQUIRE(built.error() == EnrError::kTooLarge);
      // The text form of a 301-byte record is rejected too.
      REQUIRE(parse_text("enr:" + base64::encode(rlp)).error() == EnrError::kTooLarge);
    }
  }
  REQUIRE(saw_300);
  REQUIRE(saw_301);
}

TEST_CASE("enr: unsorted and duplicate keys with valid signatures", "[wire][enr]") {
  auto pairs = example_pairs();
  std::swap(pairs[2], pairs[3]);  // udp before secp256k1
  REQUIRE(decode_error(sign_pairs(pairs)) == EnrError::kKeysNotSorted);

  pairs = example_pairs();
  pairs.insert(pairs.begin() + 2, {"ip", rlp_string(hex_or_die("7f000001"))});
  REQUIRE(decode_error(sign_pairs(pairs)) == EnrError::kDuplicateKey);

  // Bytewise order: "ip" < "ip6" < "secp256k1"; a prefix sorts first.
  pairs = example_pairs();
  pairs.insert(pairs.begin() + 2, {"ip6", rlp_string(Bytes(16, 0x20))});
  auto rec = decode(sign_pairs(pairs));
  REQUIRE(rec);
  REQUIRE(rec->ip6());
  // Keys compare as unsigned bytes: 0xff sorts after 'z'.
  pairs = example_pairs();
  pairs.push_back({"\xff", rlp_string("x")});
  REQUIRE(decode(sign_pairs(pairs)));
  std::swap(pairs[3], pairs[4]);
  REQUIRE(decode_error(sign_pairs(pairs)) == EnrError::kKeysNotSorted);
}

TEST_CASE("enr: wrong signatures are rejected", "[wire][enr]") {
  const Bytes good = hex_or_die(
      "f884b8407098ad865b00a582051940cb9cf36836572411a47278783077011599ed5cd16b76f2635f4e23"
      "4738f30813a89eb9137e3e3df5266e3a1f11df72ecf1145ccb9c01826964827634826970847f00000189"
      "736563703235366b31a103ca634cae0d49acb401d8a4c6b6fe8c55b70d115bf400769cc1400f3258cd31"
      "388375647082765f");
  REQUIRE(decode(good));
  // Flip one bit of the signature (bytes 4..67) or of the signed content.
  for (std::size_t i : {4u, 20u, 35u, 67u, 68u, 69u, 80u, 133u}) {
    Bytes bad = good;
    bad[i] ^= 0x01;
    INFO("byte " << i);
    auto r = decode(bad);
    REQUIRE_FALSE(r);
    if (i <= 67) {
      REQUIRE(r.error() == EnrError::kBadSignature);
      REQUIRE(decode_unverified(bad));  // only the signature is wrong
    }
  }

  // High-s twin of the valid signature (s' = n - s) verifies mathematically but is not
  // canonical: rejected like geth does.
  static constexpr std::uint8_t kOrder[32] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                              0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
                                              0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b,
                                              0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41};
  Bytes high = good;
  int borrow = 0;
  for (int i = 31; i >= 0; --i) {
    int d = kOrder[i] - good[4 + 32 + i] - borrow;
    borrow = d < 0;
    high[4 + 32 + i] = static_cast<std::uint8_t>(d + (borrow ? 256 : 0));
  }
  REQUIRE(decode_error(high) == EnrError::kBadSignature);

  // A record signed by another key but carrying the example public key.
  auto other =
      to_array<32>(hex_or_die("eef77acb6c6a6eebc5b363a475ac583ec7eccdb42b6481424c60f59aa326547f"));
  REQUIRE(decode_error(sign_pairs(rlp_uint(1), example_pairs(), other)) == EnrError::kBadSignature);
}

TEST_CASE("enr: truncated and padded records are rejected", "[wire][enr]") {
  const Bytes good = sign_pairs(example_pairs());
  REQUIRE(decode(good));
  for (std::size_t n = 0; n < good.size(); ++n) {
    INFO("prefix " << n);
    REQUIRE_FALSE(decode_unverified(ByteView(good).first(n)));
  }
  Bytes longer = good;
  longer.push_back(0x00);
  REQUIRE(decode_error(longer) == EnrError::kBadRlp);
}

TEST_CASE("enr: every structural rejection has its error", "[wire][enr]") {
  REQUIRE(decode_error(hex_or_die("83646f67")) == EnrError::kNotAList);
  REQUIRE(decode_error(hex_or_die("c0")) == EnrError::kMissingSignature);
  REQUIRE(decode_error(ByteView{}) == EnrError::kBadRlp);

  // Signature of the wrong length or kind.
  {
    rlp::Builder b;
    auto t = b.begin_list();
    b.add_string(Bytes(63, 1));
    b.add_uint(1);
    b.end_list(t);
    REQUIRE(decode_error(b.bytes()) == EnrError::kBadSignature);
  }
  // Seq missing, with a leading zero, or too wide.
  {
    rlp::Builder b;
    auto t = b.begin_list();
    b.add_string(Bytes(64, 1));
    b.end_list(t);
    REQUIRE(decode_error(b.bytes()) == EnrError::kBadSeq);
  }
  REQUIRE(decode_error(sign_pairs(hex_or_die("820001"), example_pairs())) == EnrError::kBadSeq);
  REQUIRE(decode_error(sign_pairs(hex_or_die("00"), example_pairs())) == EnrError::kBadSeq);
  REQUIRE(decode_error(sign_pairs(hex_or_die("89010000000000000000"), example_pairs())) ==
          EnrError::kBadSeq);
  REQUIRE(decode(sign_pairs(hex_or_die("88ffffffffffffffff"), example_pairs()))->seq() ==
          UINT64_MAX);

  auto with = [](std::size_t index, Pair p) {
    auto pairs = example_pairs();
    pairs[index] = std::move(p);
    return sign_pairs(pairs);
  };
  REQUIRE(decode_error(with(0, {"id", rlp_string("v5")})) == EnrError::kUnknownScheme);
  REQUIRE(decode_error(with(0, {"id", hex_or_die("c0")})) == EnrError::kUnknownScheme);
  REQUIRE(decode_error(with(1, {"ip", rlp_string(hex_or_die("7f00000102"))})) == EnrError::kBadIp);
  REQUIRE(decode_error(with(3, {"udp", rlp_uint(65536)})) == EnrError::kBadPort);
  REQUIRE(decode_error(with(3, {"udp", hex_or_die("83007654")})) == EnrError::kBadPort);
  REQUIRE(decode_error(with(3, {"udp", hex_or_die("c0")})) == EnrError::kBadPort);
  // 33 bytes but not a point (prefix 0x05), or the wrong length (uncompressed).
  Bytes not_a_point(33, 0x11);
  not_a_point[0] = 0x05;
  REQUIRE(decode_error(with(2, {"secp256k1", rlp_string(not_a_point)})) == EnrError::kBadPublicKey);
  const auto pub = *crypto::derive_public_key(example_key());
  REQUIRE(decode_error(with(2, {"secp256k1", rlp_string(pub)})) == EnrError::kBadPublicKey);
  // No public key at all.
  auto pairs = example_pairs();
  pairs.erase(pairs.begin() + 2);
  REQUIRE(decode_error(sign_pairs(pairs)) == EnrError::kMissingPublicKey);
  // A key that is a list.
  {
    rlp::Builder content;
    auto t = content.begin_list();
    content.add_uint(1);
    content.add_raw(hex_or_die("c0"));
    content.add_raw(rlp_string("v4"));
    content.end_list(t);
    rlp::Builder rec;
    t = rec.begin_list();
    rec.add_string(Bytes(64, 1));
    rec.add_raw(rlp::decode_exact(content.bytes())->payload);
    rec.end_list(t);
    REQUIRE(decode_error(rec.bytes()) == EnrError::kBadKey);
  }
}

TEST_CASE("enr: text form errors", "[wire][enr]") {
  const std::string good =
      "enr:-IS4QHCYrYZbAKWCBRlAy5zzaDZXJBGkcnh4MHcBFZntXNFrdvJjX04jRzjzCBOonrkTfj499SZuOh8R33"
      "Ls8RRcy5wBgmlkgnY0gmlwhH8AAAGJc2VjcDI1NmsxoQPKY0yuDUmstAHYpMa2_oxVtw0RW_QAdpzBQA8yWM0x"
      "OIN1ZHCCdl8";
  REQUIRE(parse_text(good));
  REQUIRE(parse_text("ENR:" + good.substr(4)).error() == EnrError::kBadPrefix);
  REQUIRE(parse_text(good.substr(4)).error() == EnrError::kBadPrefix);
  REQUIRE(parse_text("").error() == EnrError::kBadPrefix);
  REQUIRE(parse_text(good + "=").error() == EnrError::kBadBase64);
  std::string plus = good;
  plus[10] = '+';
  REQUIRE(parse_text(plus).error() == EnrError::kBadBase64);
  REQUIRE(parse_text(good + "AA").error() == EnrError::kBadBase64);  // impossible length
  REQUIRE(parse_text(good + "A").error() == EnrError::kBadRlp);      // one 0x00 byte more
  REQUIRE(parse_text("enr:" + std::string(404, 'A')).error() == EnrError::kTooLarge);
  REQUIRE(parse_text("enr:").error() == EnrError::kBadRlp);
  REQUIRE(parse_text("enr:wA").error() == EnrError::kMissingSignature);  // c0
  // Last character changed: RLP still fine, signature not.
  std::string tampered = good;
  tampered.back() = '4';  // '8' = 1111|00 -> '4' = 1110|00: udp 30303 -> 30302
  REQUIRE(parse_text(tampered).error() == EnrError::kBadSignature);
  tampered.back() = '9';  // 1111|01: same bytes as '8' but non-zero unused bits
  REQUIRE(parse_text(tampered).error() == EnrError::kBadBase64);
  for (auto e : {EnrError::kBadPrefix, EnrError::kBadBase64, EnrError::kKeysNotSorted,
                 EnrError::kBadSignature, EnrError::kTooLarge}) {
    REQUIRE_FALSE(to_string(e).empty());
  }
}

TEST_CASE("enr: Builder::from keeps unknown keys byte-exact across a re-sign", "[wire][enr]") {
  const json cases = load_vectors().at("derived_cases").at("cases");
  const Bytes rlp = hex(cases.at(6).at("rlp_hex"));
  auto rec = decode(rlp);
  REQUIRE(rec);

  Builder b = Builder::from(*rec);
  REQUIRE(b.seq() == 2);
  REQUIRE(b.has("zz"));
  b.set_seq(b.seq() + 1).set_ip(IpAddress::v4(10, 0, 0, 7)).set_udp(30304);
  auto next = b.sign(example_key());
  REQUIRE(next);
  auto checked = decode(next->raw());  // verifies the new signature
  REQUIRE(checked);
  REQUIRE(checked->seq() == 3);
  REQUIRE(checked->ip() == IpAddress::v4(10, 0, 0, 7));
  REQUIRE(checked->udp() == 30304);
  REQUIRE(checked->tcp() == 30303);
  REQUIRE(to_hex(*checked->get("zz")) == to_hex(*rec->get("zz")));
  REQUIRE(to_hex(*checked->get("secp256k1")) == to_hex(*rec->get("secp256k1")));
  REQUIRE(checked->node_id() == rec->node_id());

  // An unknown list-valued key survives too.
  Builder c = Builder::from(*checked);
  REQUIRE(c.set("zlist", hex_or_die("c483010203")));
  auto with_list = c.sign(example_key());
  REQUIRE(with_list);
  auto again = Builder::from(*with_list).sign(example_key());
  REQUIRE(again);
  REQUIRE(*again == *with_list);
  REQUIRE(to_hex(*again->get("zlist")) == "c483010203");

  // remove() drops a key; re-signing with another key changes identity.
  Builder d = Builder::from(*with_list);
  d.remove("zz");
  auto other =
      to_array<32>(hex_or_die("eef77acb6c6a6eebc5b363a475ac583ec7eccdb42b6481424c60f59aa326547f"));
  auto moved = d.sign(other);
  REQUIRE(moved);
  REQUIRE_FALSE(moved->get("zz"));
  REQUIRE(to_hex(moved->node_id()) ==
          "aaaa8419e9f49d0083561b48287df592939a8d19947d8c0ef88f2a4856a69fbb");
}

TEST_CASE("enr: Builder rejections", "[wire][enr]") {
  Builder b;
  REQUIRE(b.set("id", rlp_string("v5")).error() == EnrError::kReservedKey);
  REQUIRE(b.set("secp256k1", rlp_string("x")).error() == EnrError::kReservedKey);
  REQUIRE(b.set("x", hex_or_die("8100")).error() == EnrError::kBadValue);
  REQUIRE(b.set("x", hex_or_die("c000")).error() == EnrError::kBadValue);
  REQUIRE(b.set("x", ByteView{}).error() == EnrError::kBadValue);
  REQUIRE(b.sign(crypto::PrivateKey{}).error() == EnrError::kInvalidPrivateKey);
  // A value that is valid RLP but not a valid port is caught when signing.
  REQUIRE(b.set("udp", rlp_uint(70000)));
  REQUIRE(b.sign(example_key()).error() == EnrError::kBadPort);
  // Minimal record: only id and secp256k1.
  Builder minimal;
  auto rec = minimal.sign(example_key());
  REQUIRE(rec);
  REQUIRE(rec->seq() == 0);
  REQUIRE_FALSE(rec->ip());
  REQUIRE(decode(rec->raw()));
}

TEST_CASE("enr: ip6, udp6, tcp6 and the IPv6 port fallback", "[wire][enr]") {
  auto ip6 = IpAddress::parse("2001:db8::1");
  REQUIRE(ip6);
  Builder b;
  b.set_seq(5).set_ip(*ip6).set_udp(30303).set_tcp(30303);
  auto rec = b.sign(example_key());
  REQUIRE(rec);
  REQUIRE(rec->ip6() == *ip6);
  REQUIRE_FALSE(rec->ip());
  REQUIRE_FALSE(rec->udp6());
  // No udp6/tcp6: the udp/tcp ports apply to IPv6 too.
  REQUIRE(rec->udp_endpoint_v6() == Endpoint{*ip6, 30303});
  REQUIRE(rec->tcp_endpoint_v6() == Endpoint{*ip6, 30303});
  REQUIRE_FALSE(rec->udp_endpoint_v4());

  b.set_udp6(9000).set_tcp6(9001).set_ip(IpAddress::v4(192, 0, 2, 1));
  rec = b.sign(example_key());
  REQUIRE(rec);
  REQUIRE(decode(rec->raw()));
  REQUIRE(rec->udp6() == 9000);
  REQUIRE(rec->tcp6() == 9001);
  REQUIRE(rec->udp_endpoint_v6() == Endpoint{*ip6, 9000});
  REQUIRE(rec->tcp_endpoint_v6() == Endpoint{*ip6, 9001});
  REQUIRE(rec->udp_endpoint_v4() == Endpoint{IpAddress::v4(192, 0, 2, 1), 30303});
  REQUIRE(to_hex(*rec->get("ip6")) == "9020010db8000000000000000000000001");

  // ip6 of the wrong length is rejected; port 0 decodes but is no endpoint.
  auto pairs = example_pairs();
  pairs.insert(pairs.begin() + 2, {"ip6", rlp_string(Bytes(4, 1))});
  REQUIRE(decode_error(sign_pairs(pairs)) == EnrError::kBadIp);
  Builder zero;
  zero.set_ip(IpAddress::v4(1, 2, 3, 4)).set_udp(0);
  auto z = zero.sign(example_key());
  REQUIRE(z);
  REQUIRE(z->udp() == 0);
  REQUIRE_FALSE(z->udp_endpoint_v4());
}

TEST_CASE("enr: eth fork id entry", "[wire][enr]") {
  const ForkId fork{{0xfc, 0x64, 0xec, 0x04}, 1150000};
  Builder b;
  b.set_seq(1).set_ip(IpAddress::v4(127, 0, 0, 1)).set_udp(30303).set_eth(fork);
  auto rec = b.sign(example_key());
  REQUIRE(rec);
  REQUIRE(decode(rec->raw()));
  REQUIRE(rec->eth() == fork);
  // [[0xfc64ec04, 1150000]]
  REQUIRE(to_hex(*rec->get("eth")) == "cac984fc64ec0483118c30");

  // Extra elements after the fork id are tolerated (a tail for future fields).
  Builder tail = Builder::from(*rec);
  REQUIRE(tail.set("eth", hex_or_die("cbc984fc64ec04831118c301")));
  auto with_tail = tail.sign(example_key());
  REQUIRE(with_tail);
  REQUIRE(with_tail->eth());
  REQUIRE(with_tail->eth()->next == 0x1118c3);

  // A malformed eth entry reads as absent; the record itself stays valid.
  for (const char* bad : {"84fc64ec04", "c0", "c6c584fc64ec04", "cbca84fc64ec0483118c3001",
                          "c9c883fc64ec831118c3", "c9c884fc64ec04820001", "c7c684fc64ec0400"}) {
    INFO(bad);
    Builder m = Builder::from(*rec);
    REQUIRE(m.set("eth", hex_or_die(bad)));
    auto r = m.sign(example_key());
    REQUIRE(r);
    REQUIRE_FALSE(r->eth());
    REQUIRE(to_hex(*r->get("eth")) == bad);
  }
}

TEST_CASE("enr: tcp_port_of reads tcp/tcp6 from the encoded pairs", "[wire][enr]") {
  crypto::PrivateKey key{};
  key[31] = 7;
  auto encoded = [&](std::optional<std::uint16_t> tcp, std::optional<std::uint16_t> tcp6) {
    Builder b;
    b.set_seq(1).set_ip(IpAddress::v4(127, 0, 0, 1)).set_udp(30303);
    if (tcp) {
      b.set_tcp(*tcp);
    }
    if (tcp6) {
      b.set_tcp6(*tcp6);
    }
    REQUIRE(b.set("zz", Bytes{0x80}));  // a key after tcp6: the walk stops before it
    auto r = b.sign(key);
    REQUIRE(r);
    return Bytes(r->raw().begin(), r->raw().end());
  };
  const Bytes both = encoded(30304, 30305);
  CHECK(tcp_port_of(both, false) == 30304);
  CHECK(tcp_port_of(both, true) == 30305);
  const Bytes tcp_only = encoded(30304, std::nullopt);
  CHECK(tcp_port_of(tcp_only, false) == 30304);
  CHECK(tcp_port_of(tcp_only, true) == 30304);  // EIP-778: tcp serves both families
  const Bytes tcp6_only = encoded(std::nullopt, 30305);
  CHECK_FALSE(tcp_port_of(tcp6_only, false));
  CHECK(tcp_port_of(tcp6_only, true) == 30305);
  const Bytes none = encoded(std::nullopt, std::nullopt);
  CHECK_FALSE(tcp_port_of(none, false));
  CHECK_FALSE(tcp_port_of(none, true));
  // Same answers as the full decode of the same bytes.
  auto decoded = decode(both);
  REQUIRE(decoded);
  CHECK(decoded->tcp() == tcp_port_of(both, false));
  // Not a record: nothing.
  CHECK_FALSE(tcp_port_of(Bytes{0x83, 't', 'c', 'p'}, false));
  CHECK_FALSE(tcp_port_of(ByteView(), false));
}
