// Base64url (unpadded): RFC 4648 section 10 vectors in the URL-safe alphabet, a round trip
// over all lengths and byte values, and every rejection path.
#include "discplane/wire/base64.h"

#include <string>

#include <catch2/catch.hpp>

#include "discplane/common/bytes.h"

using namespace discplane;
using namespace discplane::base64;

TEST_CASE("base64: RFC 4648 vectors without padding", "[wire][base64]") {
  const std::pair<std::string_view, std::string_view> kCases[] = {
      {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},          {"foo", "Zm9v"},
      {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
  };
  for (auto [plain, text] : kCases) {
    INFO(plain);
    REQUIRE(encode(as_bytes(plain)) == text);
    REQUIRE(encoded_size(plain.size()) == text.size());
    auto back = decode(text);
    REQUIRE(back);
    REQUIRE(equal(*back, as_bytes(plain)));
  }
}

TEST_CASE("base64: URL-safe alphabet uses - and _", "[wire][base64]") {
  const Bytes b = hex_or_die("fbff");  // 111110 111111 1111(00) -> '+', '/', '8' in std b64
  REQUIRE(encode(b) == "-_8");
  REQUIRE(*decode("-_8") == b);
  REQUIRE(decode("+_8").error() == Base64Error::kInvalidCharacter);
  REQUIRE(decode("-/8").error() == Base64Error::kInvalidCharacter);
}

TEST_CASE("base64: round trip of every length 0..70 and every byte value", "[wire][base64]") {
  Bytes data(256);
  for (std::size_t i = 0; i < data.size(); ++i) {
    data[i] = static_cast<std::uint8_t>(i * 7 + 3);
  }
  for (std::size_t n = 0; n <= 70; ++n) {
    const ByteView in = ByteView(data).subspan(n, n);
    const std::string text = encode(in);
    REQUIRE(text.size() == encoded_size(n));
    REQUIRE(decoded_size(text.size()) == n);
    auto back = decode(text);
    REQUIRE(back);
    REQUIRE(equal(*back, in));
  }
  REQUIRE(*decode(encode(data)) == data);
}

TEST_CASE("base64: rejections", "[wire][base64]") {
  CHECK(decode("Zg==").error() == Base64Error::kPadding);
  CHECK(decode("Zm8=").error() == Base64Error::kPadding);
  CHECK(decode("Z=").error() == Base64Error::kPadding);
  CHECK(decode("Zm9vY").error() == Base64Error::kBadLength);  // 5 chars: 4n+1
  CHECK(decode("A").error() == Base64Error::kBadLength);
  CHECK(decode("Zm 9").error() == Base64Error::kInvalidCharacter);
  CHECK(decode("Zm9\n").error() == Base64Error::kInvalidCharacter);
  CHECK(decode(std::string_view("Zm\0v", 4)).error() == Base64Error::kInvalidCharacter);
  CHECK(decode("Zm9\xff").error() == Base64Error::kInvalidCharacter);
  // "Zh" decodes to 'f' too, but with the 4 unused low bits set: not canonical.
  CHECK(decode("Zh").error() == Base64Error::kNonCanonical);
  CHECK(decode("Zm9").error() == Base64Error::kNonCanonical);  // 2 unused bits = 01
  CHECK(decode("Zm8"));

  std::uint8_t small[2];
  CHECK(decode("Zm9v", MutableByteView(small)).error() == Base64Error::kOutputTooSmall);
  auto n = decode("Zm8", MutableByteView(small));
  REQUIRE(n);
  CHECK(*n == 2);
  CHECK(small[0] == 'f');
  CHECK(small[1] == 'o');
  CHECK(to_string(Base64Error::kPadding).find("padding") != std::string_view::npos);
}
