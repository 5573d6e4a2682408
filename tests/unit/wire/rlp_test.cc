// RLP: every case of tests/data/rlp.json (valid: decode to the typed input and re-encode
// byte-exact; invalid: rejected), the "valid RLP but not a uint" cases, plus Encoder
// overflow, nested lists and the ListReader helpers.
#include "discplane/wire/rlp.h"

#include <fstream>
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "discplane/common/bytes.h"

using namespace discplane;
using namespace discplane::rlp;
using nlohmann::json;

namespace {

json load_vectors() {
  std::ifstream f(std::string(DP_TEST_DATA_DIR) + "/rlp.json");
  REQUIRE(f.good());
  return json::parse(f);
}

// Decimal string of at most 20 digits to uint64; false if it does not fit.
bool parse_u64(const std::string& dec, std::uint64_t& out) {
  if (dec.size() > 20) {
    return false;
  }
  unsigned __int128 v = 0;
  for (char c : dec) {
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v > UINT64_MAX) {
    return false;
  }
  out = static_cast<std::uint64_t>(v);
  return true;
}

std::size_t count_lists(const json& in) {
  if (in.at("type") != "list") {
    return 0;
  }
  std::size_t n = 1;
  for (const auto& e : in.at("items")) {
    n += count_lists(e);
  }
  return n;
}

// Encodes the typed input with the fixed-buffer Encoder.
void encode_typed(const json& in, Encoder& enc) {
  const std::string type = in.at("type");
  if (type == "bytes") {
    enc.add_string(hex_or_die(in.at("hex").get<std::string>()));
  } else if (type == "uint") {
    std::uint64_t v = 0;
    if (parse_u64(in.at("decimal"), v)) {
      enc.add_uint(v);
    } else {  // a big integer: its minimal big-endian bytes as a string
      enc.add_string(hex_or_die(in.at("hex_be_minimal").get<std::string>()));
    }
  } else {
    REQUIRE(type == "list");
    const std::size_t token = enc.begin_list();
    for (const auto& e : in.at("items")) {
      encode_typed(e, enc);
    }
    enc.end_list(token);
  }
}

// Same with the growing Builder.
void build_typed(const json& in, rlp::Builder& b) {
  const std::string type = in.at("type");
  if (type == "bytes") {
    b.add_string(hex_or_die(in.at("hex").get<std::string>()));
  } else if (type == "uint") {
    std::uint64_t v = 0;
    if (parse_u64(in.at("decimal"), v)) {
      b.add_uint(v);
    } else {
      b.add_string(hex_or_die(in.at("hex_be_minimal").get<std::string>()));
    }
  } else {
    const std::size_t token = b.begin_list();
    for (const auto& e : in.at("items")) {
      build_typed(e, b);
    }
    b.end_list(token);
  }
}

// Checks that a decoded item matches the typed input, recursively.
void check_decoded(const json& in, const Item& item) {
  const std::string type = in.at("type");
  if (type == "bytes") {
    REQUIRE_FALSE(item.is_list);
    REQUIRE(to_hex(item.payload) == in.at("hex").get<std::string>());
  } else if (type == "uint") {
    REQUIRE_FALSE(item.is_list);
    REQUIRE(to_hex(item.payload) == in.at("hex_be_minimal").get<std::string>());
    std::uint64_t expect = 0;
    auto got = to_uint64(item);
    if (parse_u64(in.at("decimal"), expect)) {
      REQUIRE(got);
      REQUIRE(*got == expect);
    } else {
      REQUIRE_FALSE(got);
      REQUIRE(got.error() == RlpError::kIntegerOverflow);
    }
  } else {
    REQUIRE(item.is_list);
    auto reader = ListReader::of(item);
    REQUIRE(reader);
    auto n = reader->count();
    REQUIRE(n);
    REQUIRE(*n == in.at("items").size());
    for (const auto& e : in.at("items")) {
      auto next = reader->next();
      REQUIRE(next);
      check_decoded(e, *next);
    }
    REQUIRE(reader->at_end());
  }
}

void check_valid_case(const json& c) {
  INFO("case " << c.at("name").get<std::string>());
  const Bytes encoded = hex_or_die(c.at("encoded_hex").get<std::string>());

  auto item = decode_exact_deep(encoded);
  REQUIRE(item);
  REQUIRE(item->encoded.size() == encoded.size());
  check_decoded(c.at("input"), *item);

  // Re-encode. The Encoder reserves 9 bytes per open list header, so it needs up to 8
  // spare bytes per list while it writes; give it exactly that much.
  const std::size_t room = encoded.size() + 8 * count_lists(c.at("input"));
  Bytes out(room + 16, 0xee);
  Encoder enc(MutableByteView(out).first(room));
  encode_typed(c.at("input"), enc);
  REQUIRE(enc.ok());
  REQUIRE(to_hex(enc.view()) == to_hex(encoded));
  for (std::size_t i = room; i < out.size(); ++i) {
    REQUIRE(out[i] == 0xee);
  }
  // One byte less than the output itself can never be enough.
  Encoder small(MutableByteView(out).first(encoded.size() - 1));
  encode_typed(c.at("input"), small);
  REQUIRE_FALSE(small.ok());

  rlp::Builder b;
  build_typed(c.at("input"), b);
  REQUIRE(to_hex(b.bytes()) == to_hex(encoded));

  // Size helpers agree with what was written.
  if (item->is_list) {
    REQUIRE(list_header_size(item->payload.size()) + item->payload.size() == encoded.size());
  } else {
    REQUIRE(encoded_string_size(item->payload) == encoded.size());
  }
}

}  // namespace

TEST_CASE("rlp: ethereum/tests valid cases decode and re-encode exactly", "[wire][rlp]") {
  const json v = load_vectors();
  REQUIRE(v.at("valid").size() == 28);
  for (const auto& c : v.at("valid")) {
    check_valid_case(c);
  }
}

TEST_CASE("rlp: derived valid cases decode and re-encode exactly", "[wire][rlp]") {
  const json v = load_vectors();
  REQUIRE(v.at("derived_valid").size() == 11);
  for (const auto& c : v.at("derived_valid")) {
    check_valid_case(c);
  }
}

TEST_CASE("rlp: ethereum/tests invalid cases are rejected", "[wire][rlp]") {
  const json v = load_vectors();
  REQUIRE(v.at("invalid").size() == 26);
  for (const auto& c : v.at("invalid")) {
    INFO("case " << c.at("name").get<std::string>());
    REQUIRE(c.at("must_reject").get<bool>());
    const Bytes encoded = hex_or_die(c.at("encoded_hex").get<std::string>());
    REQUIRE_FALSE(decode_exact_deep(encoded));
  }
}

TEST_CASE("rlp: derived structurally invalid cases are rejected", "[wire][rlp]") {
  const json v = load_vectors();
  REQUIRE(v.at("derived_invalid_structure").size() == 3);
  for (const auto& c : v.at("derived_invalid_structure")) {
    INFO("case " << c.at("name").get<std::string>());
    const Bytes encoded = hex_or_die(c.at("encoded_hex").get<std::string>());
    REQUIRE_FALSE(decode_exact_deep(encoded));
  }
}

TEST_CASE("rlp: invalid cases give the expected error kind", "[wire][rlp]") {
  auto err = [](std::string_view hex) {
    auto r = decode_exact_deep(hex_or_die(hex));
    REQUIRE_FALSE(r);
    return r.error();
  };
  CHECK(err("") == RlpError::kEmptyInput);
  CHECK(err("8100") == RlpError::kNonCanonicalSize);
  CHECK(err("817f") == RlpError::kNonCanonicalSize);
  CHECK(err("b801ff") == RlpError::kNonCanonicalSize);
  CHECK(err("f803112233") == RlpError::kNonCanonicalSize);
  CHECK(err("b800") == RlpError::kLeadingZeroInSize);
  CHECK(err("f800") == RlpError::kLeadingZeroInSize);
  CHECK(err("81") == RlpError::kTruncated);
  CHECK(err("b9ff") == RlpError::kTruncated);
  CHECK(err("c5010203") == RlpError::kTruncated);
  CHECK(err("ffffffffffffffffff0001") == RlpError::kTruncated);
  CHECK(err("c000") == RlpError::kTrailingBytes);
  CHECK(err("c2836162") == RlpError::kTrailingBytes);
  CHECK(err("c3836162") == RlpError::kTruncated);  // element larger than its list
  // decode_exact checks only the outer item; the nested overrun needs the deep walk.
  REQUIRE(decode_exact(hex_or_die("c3836162")));
  // decode_prefix leaves the trailing bytes to the caller.
  auto p = decode_prefix(hex_or_die("c000"));
  REQUIRE(p);
  REQUIRE(p->encoded.size() == 1);
}

TEST_CASE("rlp: valid RLP that is not a valid uint64 is rejected by to_uint64", "[wire][rlp]") {
  const json v = load_vectors();
  REQUIRE(v.at("derived_invalid_as_uint").size() == 3);
  for (const auto& c : v.at("derived_invalid_as_uint")) {
    INFO("case " << c.at("name").get<std::string>());
    const Bytes encoded = hex_or_die(c.at("encoded_hex").get<std::string>());
    auto item = decode_exact_deep(encoded);
    REQUIRE(item);  // structurally valid
    REQUIRE_FALSE(to_uint64(*item));
  }
  CHECK(to_uint64(*decode_exact(hex_or_die("00"))).error() == RlpError::kLeadingZeroInInteger);
  CHECK(to_uint64(*decode_exact(hex_or_die("820001"))).error() == RlpError::kLeadingZeroInInteger);
  CHECK(to_uint64(*decode_exact(hex_or_die("89010000000000000000"))).error() ==
        RlpError::kIntegerOverflow);
  CHECK(to_uint64(*decode_exact(hex_or_die("c0"))).error() == RlpError::kExpectedString);
  CHECK(*to_uint64(*decode_exact(hex_or_die("80"))) == 0);
  CHECK(*to_uint64(*decode_exact(hex_or_die("88ffffffffffffffff"))) == UINT64_MAX);
}

TEST_CASE("rlp: deep nesting is bounded", "[wire][rlp]") {
  // kMaxDepth nested lists are fine, one more is rejected.
  auto nested = [](std::size_t depth) {
    Bytes b;
    for (std::size_t i = 0; i < depth; ++i) {
      b.push_back(static_cast<std::uint8_t>(0xc0 + (depth - 1 - i)));
    }
    return b;
  };
  REQUIRE(decode_exact_deep(nested(kMaxDepth)));
  auto r = decode_exact_deep(nested(kMaxDepth + 1));
  REQUIRE_FALSE(r);
  REQUIRE(r.error() == RlpError::kTooDeep);
}

TEST_CASE("rlp: Encoder never writes past its buffer", "[wire][rlp]") {
  const Bytes payload(60, 0xab);  // long-form string: 2 header bytes + 60
  for (std::size_t cap = 0; cap < 100; ++cap) {
    Bytes buf(cap + 8, 0x5a);
    Encoder enc(MutableByteView(buf).first(cap));
    const std::size_t outer = enc.begin_list();
    enc.add_uint(1024);
    const std::size_t inner = enc.begin_list();
    enc.add_string(payload);
    enc.end_list(inner);
    enc.end_list(outer);
    // Whole thing: f8 43 | 82 04 00 | f8 3e b8 3c <60> = 2 + 3 + 2 + 62 = 69 bytes, but the
    // encoder needs 9 bytes of room for each open list header while it writes.
    const bool fits = cap >= 9 + 3 + 9 + 62;
    INFO("cap " << cap);
    REQUIRE(enc.ok() == fits);
    for (std::size_t i = cap; i < buf.size(); ++i) {
      REQUIRE(buf[i] == 0x5a);
    }
    if (fits) {
      REQUIRE(enc.size() == 69);
      auto item = decode_exact_deep(enc.view());
      REQUIRE(item);
      auto r = ListReader::of(*item);
      REQUIRE(r);
      REQUIRE(*r->next_uint() == 1024);
      auto in = r->next_list();
      REQUIRE(in);
      auto s = in->next_string(60);
      REQUIRE(s);
      REQUIRE(equal(*s, payload));
      REQUIRE(in->at_end());
      REQUIRE(r->at_end());
    }
  }
}

TEST_CASE("rlp: Encoder add_raw and overflow sticks", "[wire][rlp]") {
  Bytes buf(4);
  Encoder enc(buf);
  enc.add_raw(hex_or_die("c0"));
  enc.add_string(as_bytes("dog"));  // needs 4, only 3 left
  REQUIRE_FALSE(enc.ok());
  REQUIRE(enc.size() == 1);
  enc.add_uint(1);  // fits in the remaining space, but the encoder stays failed
  REQUIRE_FALSE(enc.ok());
  REQUIRE(enc.size() == 1);
}

TEST_CASE("rlp: nested lists round trip through Encoder and ListReader", "[wire][rlp]") {
  // [[], [[]], [[], [[]]]] = c7c0c1c0c3c0c1c0 (the set-theoretic three)
  std::uint8_t buf[64];
  Encoder enc(buf);
  const auto a = enc.begin_list();
  enc.end_list(enc.begin_list());
  {
    const auto b = enc.begin_list();
    enc.end_list(enc.begin_list());
    enc.end_list(b);
  }
  {
    const auto c = enc.begin_list();
    enc.end_list(enc.begin_list());
    const auto d = enc.begin_list();
    enc.end_list(enc.begin_list());
    enc.end_list(d);
    enc.end_list(c);
  }
  enc.end_list(a);
  REQUIRE(enc.ok());
  REQUIRE(to_hex(enc.view()) == "c7c0c1c0c3c0c1c0");

  auto top = decode_exact_deep(enc.view());
  REQUIRE(top);
  auto r = ListReader::of(*top);
  REQUIRE(r);
  REQUIRE(*r->count() == 3);
  REQUIRE(*r->count() == 3);  // count does not consume
  auto first = r->next_list();
  REQUIRE(first);
  REQUIRE(first->at_end());
  auto second = r->next_list();
  REQUIRE(second);
  REQUIRE(*second->count() == 1);
  REQUIRE(r->rest().size() == 4);
  REQUIRE(r->next_list());
  REQUIRE(r->at_end());
  auto past = r->next();
  REQUIRE_FALSE(past);
  REQUIRE(past.error() == RlpError::kTooFewElements);
}

TEST_CASE("rlp: ListReader helpers reject the wrong kinds", "[wire][rlp]") {
  // ["dog", [], 0x0400, "ab"]
  const Bytes enc = hex_or_die("cb83646f67c0820400826162");
  auto top = decode_exact_deep(enc);
  REQUIRE(top);
  REQUIRE(ListReader::of(*decode_exact(hex_or_die("83646f67"))).error() == RlpError::kExpectedList);

  auto r = *ListReader::of(*top);
  REQUIRE(r.next_string(4).error() == RlpError::kBadLength);      // "dog" is 3 bytes
  REQUIRE(r.next_string().error() == RlpError::kExpectedString);  // []
  REQUIRE(*r.next_uint() == 1024);
  REQUIRE(r.next_list().error() == RlpError::kExpectedList);  // "ab"
  REQUIRE(r.at_end());

  auto r2 = *ListReader::of(*top);
  REQUIRE(equal(*r2.next_string(3), as_bytes("dog")));
  REQUIRE(r2.next_uint().error() == RlpError::kExpectedString);  // [] is not an integer

  // count() reports a malformed element instead of a number.
  const Bytes bad_payload = hex_or_die("0181");
  ListReader bad(bad_payload);
  REQUIRE(bad.count().error() == RlpError::kTruncated);
}

TEST_CASE("rlp: size helpers", "[wire][rlp]") {
  CHECK(encoded_uint_size(0) == 1);
  CHECK(encoded_uint_size(0x7f) == 1);
  CHECK(encoded_uint_size(0x80) == 2);
  CHECK(encoded_uint_size(0xffff) == 3);
  CHECK(encoded_uint_size(UINT64_MAX) == 9);
  CHECK(list_header_size(55) == 1);
  CHECK(list_header_size(56) == 2);
  CHECK(list_header_size(256) == 3);
  const Bytes one{0x7f};
  const Bytes big{0x80};
  CHECK(encoded_string_size(one) == 1);
  CHECK(encoded_string_size(big) == 2);
  CHECK(encoded_string_size(ByteView{}) == 1);
  CHECK(to_string(RlpError::kTruncated).find("truncated") != std::string_view::npos);
}
