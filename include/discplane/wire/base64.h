// Base64url without padding (RFC 4648 section 5), the alphabet of ENR text records.
// Decoding is strict: no '=' padding, no whitespace, no characters outside A-Z a-z 0-9
// - _, and the unused low bits of the last character must be zero (one text per bytes).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "discplane/common/bytes.h"
#include "discplane/common/result.h"

namespace discplane::base64 {

enum class Base64Error : std::uint8_t {
  kBadLength,         // length % 4 == 1 can not come from any byte string
  kPadding,           // '=' found (the unpadded form is required)
  kInvalidCharacter,  // outside the URL-safe alphabet
  kNonCanonical,      // unused trailing bits are not zero
  kOutputTooSmall,    // the caller's buffer cannot hold the decoded bytes
};
std::string_view to_string(Base64Error e);

// Characters needed for n bytes (no padding).
constexpr std::size_t encoded_size(std::size_t n) noexcept {
  return n / 3 * 4 + (n % 3 * 4 + 2) / 3;
}
// Bytes produced by a text of `len` characters, assuming it is valid.
constexpr std::size_t decoded_size(std::size_t len) noexcept {
  return len / 4 * 3 + (len % 4 * 3) / 4;
}

// Writes encoded_size(in.size()) characters to `out` (which must be that large) and
// returns the count.
std::size_t encode(ByteView in, std::span<char> out) noexcept;
std::string encode(ByteView in);

// Decodes into `out`; returns the number of bytes written.
[[nodiscard]] Result<std::size_t, Base64Error> decode(std::string_view in,
                                                      MutableByteView out) noexcept;
[[nodiscard]] Result<Bytes, Base64Error> decode(std::string_view in);

}  // namespace discplane::base64
