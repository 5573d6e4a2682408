// RLP codec: strict canonical decoding into views (decode_prefix/exact/deep, ListReader,
// to_uint64) and encoding into a fixed buffer (Encoder) or a growing one (Builder).
// Every length read from the input is checked against the bytes that remain before it
// is used, so no view ever points outside the input.
#include "discplane/wire/rlp.h"

#include <array>
#include <cstring>

namespace discplane::rlp {

std::string_view to_string(RlpError e) {
  switch (e) {
    case RlpError::kEmptyInput:
      return "empty input";
    case RlpError::kTruncated:
      return "truncated: declared length runs past the buffer";
    case RlpError::kNonCanonicalSize:
      return "non-canonical size";
    case RlpError::kLeadingZeroInSize:
      return "leading zero in size";
    case RlpError::kTrailingBytes:
      return "trailing bytes";
    case RlpError::kExpectedList:
      return "expected a list";
    case RlpError::kExpectedString:
      return "expected a string";
    case RlpError::kLeadingZeroInInteger:
      return "leading zero in integer";
    case RlpError::kIntegerOverflow:
      return "integer overflow";
    case RlpError::kTooManyElements:
      return "too many list elements";
    case RlpError::kTooFewElements:
      return "too few list elements";
    case RlpError::kBadLength:
      return "string of the wrong length";
    case RlpError::kTooDeep:
      return "lists nested too deeply";
  }
  return "unknown RLP error";
}

namespace {

constexpr std::uint8_t kShortString = 0x80;  // 0x80..0xb7: string of 0..55 bytes
constexpr std::uint8_t kLongString = 0xb7;   // 0xb8..0xbf: length-of-length 1..8
constexpr std::uint8_t kShortList = 0xc0;    // 0xc0..0xf7: list payload of 0..55 bytes
constexpr std::uint8_t kLongList = 0xf7;     // 0xf8..0xff: length-of-length 1..8
constexpr std::size_t kShortLimit = 56;      // first length that needs the long form
constexpr std::size_t kListReserve = 9;      // 1 prefix byte + up to 8 length bytes

std::size_t be_size(std::uint64_t v) noexcept {
  std::size_t n = 0;
  while (v != 0) {
    ++n;
    v >>= 8;
  }
  return n;
}

// Writes v big-endian, minimal, into out[0..be_size(v)).
void put_be(std::uint8_t* out, std::uint64_t v, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) {
    out[n - 1 - i] = static_cast<std::uint8_t>(v >> (8 * i));
  }
}

// Header for a string/list of `size` payload bytes; returns its length (1..9).
std::size_t put_header(std::uint8_t* out, std::uint8_t short_base, std::uint8_t long_base,
                       std::size_t size) noexcept {
  if (size < kShortLimit) {
    out[0] = static_cast<std::uint8_t>(short_base + size);
    return 1;
  }
  const std::size_t n = be_size(size);
  out[0] = static_cast<std::uint8_t>(long_base + n);
  put_be(out + 1, size, n);
  return 1 + n;
}

// Reads a long-form length of `len_len` bytes at in[1..]. The caller checked that the
// bytes are present.
Result<std::size_t, RlpError> read_long_size(ByteView in, std::size_t len_len) noexcept {
  if (in[1] == 0) {
    return fail(RlpError::kLeadingZeroInSize);
  }
  std::uint64_t size = 0;
  for (std::size_t i = 0; i < len_len; ++i) {
    size = size << 8 | in[1 + i];
  }
  if (size < kShortLimit) {
    return fail(RlpError::kNonCanonicalSize);
  }
  // Compare against what remains, without computing header + size (could overflow).
  if (size > in.size() - 1 - len_len) {
    return fail(RlpError::kTruncated);
  }
  return static_cast<std::size_t>(size);
}

}  // namespace

Result<Item, RlpError> decode_prefix(ByteView in) noexcept {
  if (in.empty()) {
    return fail(RlpError::kEmptyInput);
  }
  const std::uint8_t b = in[0];
  Item item;
  if (b < kShortString) {
    item.payload = in.first(1);
    item.encoded = in.first(1);
    return item;
  }
  if (b <= kLongString || (b >= kShortList && b <= kLongList)) {
    const std::size_t size = b - (b <= kLongString ? kShortString : kShortList);
    if (size > in.size() - 1) {
      return fail(RlpError::kTruncated);
    }
    if (b <= kLongString && size == 1 && in[1] < kShortString) {
      return fail(RlpError::kNonCanonicalSize);  // a single byte < 0x80 is its own encoding
    }
    item.is_list = b >= kShortList;
    item.payload = in.subspan(1, size);
    item.encoded = in.first(1 + size);
    return item;
  }
  const std::size_t len_len = b - (b < kShortList ? kLongString : kLongList);
  if (len_len > in.size() - 1) {
    return fail(RlpError::kTruncated);
  }
  auto size = read_long_size(in, len_len);
  if (!size) {
    return fail(size.error());
  }
  item.is_list = b > kLongList;
  item.payload = in.subspan(1 + len_len, *size);
  item.encoded = in.first(1 + len_len + *size);
  return item;
}

Result<Item, RlpError> decode_exact(ByteView in) noexcept {
  auto item = decode_prefix(in);
  if (item && item->encoded.size() != in.size()) {
    return fail(RlpError::kTrailingBytes);
  }
  return item;
}

Result<Item, RlpError> decode_exact_deep(ByteView in) noexcept {
  auto top = decode_exact(in);
  if (!top || !top->is_list) {
    return top;
  }
  // Walk every item in document order. `ends` holds where each open list stops; an
  // item must end at or before the innermost one, and we pop lists as we reach them.
  std::array<const std::uint8_t*, kMaxDepth> ends{};
  std::size_t depth = 0;
  ends[depth++] = top->payload.data() + top->payload.size();
  const std::uint8_t* pos = top->payload.data();
  while (depth > 0) {
    const std::uint8_t* end = ends[depth - 1];
    if (pos == end) {
      --depth;
      continue;
    }
    auto item = decode_prefix(ByteView(pos, static_cast<std::size_t>(end - pos)));
    if (!item) {
      return fail(item.error());
    }
    if (item->is_list) {
      if (depth == kMaxDepth) {
        return fail(RlpError::kTooDeep);
      }
      ends[depth++] = item->payload.data() + item->payload.size();
      pos = item->payload.data();
    } else {
      pos = item->encoded.data() + item->encoded.size();
    }
  }
  return top;
}

Result<std::uint64_t, RlpError> to_uint64(const Item& item) noexcept {
  if (item.is_list) {
    return fail(RlpError::kExpectedString);
  }
  const ByteView p = item.payload;
  if (p.size() > 8) {
    return fail(RlpError::kIntegerOverflow);
  }
  if (!p.empty() && p[0] == 0) {
    return fail(RlpError::kLeadingZeroInInteger);
  }
  std::uint64_t v = 0;
  for (std::uint8_t b : p) {
    v = v << 8 | b;
  }
  return v;
}

// ---- ListReader ----

Result<ListReader, RlpError> ListReader::of(const Item& item) noexcept {
  if (!item.is_list) {
    return fail(RlpError::kExpectedList);
  }
  return ListReader(item.payload);
}

Result<Item, RlpError> ListReader::next() noexcept {
  if (rest_.empty()) {
    return fail(RlpError::kTooFewElements);
  }
  auto item = decode_prefix(rest_);
  if (item) {
    rest_ = rest_.subspan(item->encoded.size());
  }
  return item;
}

Result<ByteView, RlpError> ListReader::next_string() noexcept {
  auto item = next();
  if (!item) {
    return fail(item.error());
  }
  if (item->is_list) {
    return fail(RlpError::kExpectedString);
  }
  return item->payload;
}

Result<ByteView, RlpError> ListReader::next_string(std::size_t exact_len) noexcept {
  auto s = next_string();
  if (s && s->size() != exact_len) {
    return fail(RlpError::kBadLength);
  }
  return s;
}

Result<std::uint64_t, RlpError> ListReader::next_uint() noexcept {
  auto item = next();
  if (!item) {
    return fail(item.error());
  }
  return to_uint64(*item);
}

Result<ListReader, RlpError> ListReader::next_list() noexcept {
  auto item = next();
  if (!item) {
    return fail(item.error());
  }
  return of(*item);
}

Result<std::size_t, RlpError> ListReader::count() const noexcept {
  ListReader copy = *this;
  std::size_t n = 0;
  while (!copy.at_end()) {
    auto item = copy.next();
    if (!item) {
      return fail(item.error());
    }
    ++n;
  }
  return n;
}

// ---- Sizes ----

std::size_t encoded_string_size(ByteView s) noexcept {
  if (s.size() == 1 && s[0] < kShortString) {
    return 1;
  }
  return (s.size() < kShortLimit ? 1 : 1 + be_size(s.size())) + s.size();
}

std::size_t encoded_uint_size(std::uint64_t v) noexcept {
  return v < kShortString ? 1 : 1 + be_size(v);
}

std::size_t list_header_size(std::size_t payload_size) noexcept {
  return payload_size < kShortLimit ? 1 : 1 + be_size(payload_size);
}

std::size_t write_list_header(MutableByteView out, std::size_t payload_size) noexcept {
  return put_header(out.data(), kShortList, kLongList, payload_size);
}

// ---- Encoder ----

bool Encoder::reserve(std::size_t n) noexcept {
  if (ok_ && n > out_.size() - pos_) {
    ok_ = false;
  }
  return ok_;
}

void Encoder::add_string(ByteView s) noexcept {
  if (!reserve(encoded_string_size(s))) {
    return;
  }
  if (s.size() == 1 && s[0] < kShortString) {
    out_[pos_++] = s[0];
    return;
  }
  pos_ += put_header(out_.data() + pos_, kShortString, kLongString, s.size());
  if (!s.empty()) {
    std::memcpy(out_.data() + pos_, s.data(), s.size());
    pos_ += s.size();
  }
}

void Encoder::add_uint(std::uint64_t v) noexcept {
  std::uint8_t be[8];
  const std::size_t n = be_size(v);
  put_be(be, v, n);
  add_string(ByteView(be, n));
}

void Encoder::add_raw(ByteView already_encoded) noexcept {
  if (!reserve(already_encoded.size()) || already_encoded.empty()) {
    return;
  }
  std::memcpy(out_.data() + pos_, already_encoded.data(), already_encoded.size());
  pos_ += already_encoded.size();
}

std::size_t Encoder::begin_list() noexcept {
  const std::size_t token = pos_;
  if (reserve(kListReserve)) {
    pos_ += kListReserve;
  }
  return token;
}

void Encoder::end_list(std::size_t token) noexcept {
  if (!ok_) {
    return;  // the reservation may never have been made; the output is void anyway
  }
  const std::size_t start = token + kListReserve;
  const std::size_t payload = pos_ - start;
  std::uint8_t header[kListReserve];
  const std::size_t h = put_header(header, kShortList, kLongList, payload);
  if (payload != 0) {
    std::memmove(out_.data() + token + h, out_.data() + start, payload);
  }
  std::memcpy(out_.data() + token, header, h);
  pos_ = token + h + payload;
}

// ---- Builder ----

void Builder::add_string(ByteView s) {
  const std::size_t at = buf_.size();
  buf_.resize(at + encoded_string_size(s));
  Encoder enc(MutableByteView(buf_).subspan(at));
  enc.add_string(s);
}

void Builder::add_uint(std::uint64_t v) {
  const std::size_t at = buf_.size();
  buf_.resize(at + encoded_uint_size(v));
  Encoder enc(MutableByteView(buf_).subspan(at));
  enc.add_uint(v);
}

void Builder::add_raw(ByteView already_encoded) {
  buf_.insert(buf_.end(), already_encoded.begin(), already_encoded.end());
}

std::size_t Builder::begin_list() {
  const std::size_t token = buf_.size();
  buf_.resize(token + kListReserve);
  return token;
}

void Builder::end_list(std::size_t token) {
  const std::size_t start = token + kListReserve;
  const std::size_t payload = buf_.size() - start;
  std::uint8_t header[kListReserve];
  const std::size_t h = put_header(header, kShortList, kLongList, payload);
  if (payload != 0) {
    std::memmove(buf_.data() + token + h, buf_.data() + start, payload);
  }
  std::memcpy(buf_.data() + token, header, h);
  buf_.resize(token + h + payload);
}

}  // namespace discplane::rlp
