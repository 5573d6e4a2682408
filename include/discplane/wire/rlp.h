// RLP (Ethereum Yellow Paper, appendix B): strict canonical decoding into views of
// the input buffer (no allocation), and encoding into a caller-provided buffer.
// This file knows nothing of packets; the discv4/discv5/ENR codecs build on it.
#pragma once

#include <cstdint>
#include <string_view>

#include "discplane/common/bytes.h"
#include "discplane/common/result.h"

namespace discplane::rlp {

enum class RlpError : std::uint8_t {
  kEmptyInput,         // nothing to decode
  kTruncated,          // declared length runs past the buffer
  kNonCanonicalSize,   // long form used for a length < 56, or single byte < 0x80 wrapped
  kLeadingZeroInSize,  // length-of-length with a leading zero byte
  kTrailingBytes,      // bytes after the item where none are allowed
  kExpectedList,
  kExpectedString,
  kLeadingZeroInInteger,  // integer with leading zero byte(s) (includes 0x00)
  kIntegerOverflow,       // integer wider than the target type
  kTooManyElements,       // list has more elements than the codec accepts
  kTooFewElements,
  kBadLength,  // string of the wrong fixed length (e.g. a 33-byte key)
  kTooDeep,    // lists nested deeper than kMaxDepth (decode_exact_deep)
};
std::string_view to_string(RlpError e);

struct Item {
  bool is_list = false;
  ByteView payload;  // the bytes after the prefix
  ByteView encoded;  // prefix + payload (what this item occupied in the input)
};

// Decodes the first item of `in`; the remainder is in.subspan(item.encoded.size()).
[[nodiscard]] Result<Item, RlpError> decode_prefix(ByteView in) noexcept;
// Decodes exactly one item spanning all of `in` (kTrailingBytes otherwise). Nested items
// are checked only as they are read (ListReader); decode_exact_deep checks them all.
[[nodiscard]] Result<Item, RlpError> decode_exact(ByteView in) noexcept;

// Like decode_exact, and also checks every nested item: canonical, and inside its
// parent list ("element larger than containing list"). Iterative, with a fixed
// stack of kMaxDepth list ends; deeper nesting is rejected with kTooDeep.
inline constexpr std::size_t kMaxDepth = 32;
[[nodiscard]] Result<Item, RlpError> decode_exact_deep(ByteView in) noexcept;

// Strict unsigned integer from a string item: minimal big-endian, 0 = empty string.
[[nodiscard]] Result<std::uint64_t, RlpError> to_uint64(const Item& item) noexcept;

// Walks the elements of a list payload in order.
class ListReader {
 public:
  explicit ListReader(ByteView list_payload) noexcept : rest_(list_payload) {}
  // From an item that must be a list.
  [[nodiscard]] static Result<ListReader, RlpError> of(const Item& item) noexcept;

  bool at_end() const noexcept { return rest_.empty(); }
  ByteView rest() const noexcept { return rest_; }

  [[nodiscard]] Result<Item, RlpError> next() noexcept;
  [[nodiscard]] Result<ByteView, RlpError> next_string() noexcept;  // string payload
  [[nodiscard]] Result<ByteView, RlpError> next_string(std::size_t exact_len) noexcept;
  [[nodiscard]] Result<std::uint64_t, RlpError> next_uint() noexcept;
  [[nodiscard]] Result<ListReader, RlpError> next_list() noexcept;
  // Counts the remaining elements without consuming them.
  [[nodiscard]] Result<std::size_t, RlpError> count() const noexcept;

 private:
  ByteView rest_;
};

// ---- Encoding ----

// Sizes, so a caller can size a buffer or a list header in advance.
std::size_t encoded_string_size(ByteView s) noexcept;
std::size_t encoded_uint_size(std::uint64_t v) noexcept;
std::size_t list_header_size(std::size_t payload_size) noexcept;
// Writes the header of a list with `payload_size` bytes of payload into `out`, which must
// hold list_header_size(payload_size) bytes (9 always suffice); returns its size. For
// hashing a list whose payload sits elsewhere without copying it.
std::size_t write_list_header(MutableByteView out, std::size_t payload_size) noexcept;

// Writes RLP into a fixed buffer. Lists are opened with begin_list() and closed with
// end_list(); the payload is moved down if its header turns out shorter than the
// space reserved (9 bytes), which costs one small memmove per list. On overflow the
// encoder stops writing and ok() turns false; nothing is ever written past `out`.
class Encoder {
 public:
  explicit Encoder(MutableByteView out) noexcept : out_(out) {}

  void add_string(ByteView s) noexcept;
  void add_uint(std::uint64_t v) noexcept;
  void add_raw(ByteView already_encoded) noexcept;  // a pre-encoded item
  [[nodiscard]] std::size_t begin_list() noexcept;
  void end_list(std::size_t token) noexcept;

  bool ok() const noexcept { return ok_; }
  std::size_t size() const noexcept { return pos_; }
  ByteView view() const noexcept { return {out_.data(), pos_}; }

 private:
  bool reserve(std::size_t n) noexcept;
  MutableByteView out_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

// Growing variant for the control plane and tools (allocates).
class Builder {
 public:
  void add_string(ByteView s);
  void add_uint(std::uint64_t v);
  void add_raw(ByteView already_encoded);
  [[nodiscard]] std::size_t begin_list();
  void end_list(std::size_t token);
  const Bytes& bytes() const { return buf_; }
  Bytes take() { return std::move(buf_); }

 private:
  Bytes buf_;
};

}  // namespace discplane::rlp
