// Base64url (RFC 4648 section 5), unpadded, with strict decoding: one table lookup per
// character, and a check that the bits left over in the last character are zero.
#include "discplane/wire/base64.h"

#include <array>

namespace discplane::base64 {

std::string_view to_string(Base64Error e) {
  switch (e) {
    case Base64Error::kBadLength:
      return "base64: impossible length";
    case Base64Error::kPadding:
      return "base64: padding is not allowed";
    case Base64Error::kInvalidCharacter:
      return "base64: invalid character";
    case Base64Error::kNonCanonical:
      return "base64: non-zero trailing bits";
    case Base64Error::kOutputTooSmall:
      return "base64: output buffer too small";
  }
  return "base64: unknown error";
}

namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr std::uint8_t kInvalid = 0xff;

constexpr std::array<std::uint8_t, 256> make_table() {
  std::array<std::uint8_t, 256> t{};
  for (auto& v : t) {
    v = kInvalid;
  }
  for (std::uint8_t i = 0; i < 64; ++i) {
    t[static_cast<unsigned char>(kAlphabet[i])] = i;
  }
  return t;
}
constexpr std::array<std::uint8_t, 256> kTable = make_table();

}  // namespace

std::size_t encode(ByteView in, std::span<char> out) noexcept {
  std::size_t o = 0;
  std::size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const std::uint32_t v = std::uint32_t{in[i]} << 16 | std::uint32_t{in[i + 1]} << 8 | in[i + 2];
    out[o++] = kAlphabet[v >> 18 & 63];
    out[o++] = kAlphabet[v >> 12 & 63];
    out[o++] = kAlphabet[v >> 6 & 63];
    out[o++] = kAlphabet[v & 63];
  }
  const std::size_t rest = in.size() - i;
  if (rest == 1) {
    const std::uint32_t v = std::uint32_t{in[i]} << 16;
    out[o++] = kAlphabet[v >> 18 & 63];
    out[o++] = kAlphabet[v >> 12 & 63];
  } else if (rest == 2) {
    const std::uint32_t v = std::uint32_t{in[i]} << 16 | std::uint32_t{in[i + 1]} << 8;
    out[o++] = kAlphabet[v >> 18 & 63];
    out[o++] = kAlphabet[v >> 12 & 63];
    out[o++] = kAlphabet[v >> 6 & 63];
  }
  return o;
}

std::string encode(ByteView in) {
  std::string out(encoded_size(in.size()), '\0');
  encode(in, std::span<char>(out.data(), out.size()));
  return out;
}

Result<std::size_t, Base64Error> decode(std::string_view in, MutableByteView out) noexcept {
  if (in.size() % 4 == 1) {
    // Check the characters first so that "a=" style input reports the padding.
    for (char c : in) {
      if (c == '=') {
        return fail(Base64Error::kPadding);
      }
    }
    return fail(Base64Error::kBadLength);
  }
  const std::size_t n = decoded_size(in.size());
  if (n > out.size()) {
    return fail(Base64Error::kOutputTooSmall);
  }
  std::uint32_t acc = 0;
  std::size_t bits = 0;
  std::size_t o = 0;
  for (char c : in) {
    const std::uint8_t v = kTable[static_cast<unsigned char>(c)];
    if (v == kInvalid) {
      return fail(c == '=' ? Base64Error::kPadding : Base64Error::kInvalidCharacter);
    }
    acc = (acc << 6 | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = static_cast<std::uint8_t>(acc >> bits);
    }
  }
  // 2 or 4 bits remain after a partial group; they carry no data and must be zero.
  if ((acc & ((1u << bits) - 1)) != 0) {
    return fail(Base64Error::kNonCanonical);
  }
  return o;
}

Result<Bytes, Base64Error> decode(std::string_view in) {
  Bytes out(decoded_size(in.size()));
  auto n = decode(in, MutableByteView(out));
  if (!n) {
    return fail(n.error());
  }
  out.resize(*n);
  return out;
}

}  // namespace discplane::base64
