// Fuzzes the strict RLP decoder: whatever decodes must re-encode to the same bytes
// (canonical input has exactly one encoding), and ListReader must walk it to the end.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "discplane/wire/rlp.h"

using namespace discplane;

namespace {

// Re-encodes a decoded item through the Encoder, element by element.
void reencode(const rlp::Item& item, rlp::Encoder& enc, int depth) {
  if (!item.is_list) {
    enc.add_string(item.payload);
    return;
  }
  if (depth > static_cast<int>(rlp::kMaxDepth)) {
    std::abort();  // decode_exact_deep promised to bound the depth
  }
  const auto token = enc.begin_list();
  rlp::ListReader r(item.payload);
  while (!r.at_end()) {
    auto next = r.next();
    if (!next) {
      std::abort();  // the deep check passed, so every element must decode
    }
    reencode(*next, enc, depth + 1);
  }
  enc.end_list(token);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ByteView in(data, size);
  (void)rlp::decode_prefix(in);
  auto item = rlp::decode_exact_deep(in);
  if (!item) {
    return 0;
  }
  if (!rlp::decode_exact(in)) {
    std::abort();  // deep accepts imply shallow accepts
  }
  (void)rlp::to_uint64(*item);
  // Room for the payload plus 9 bytes per possible list header.
  std::vector<std::uint8_t> out(size + 9 * (rlp::kMaxDepth + 1) * 2 + 16);
  rlp::Encoder enc(out);
  reencode(*item, enc, 0);
  if (!enc.ok() || enc.size() != size || std::memcmp(out.data(), data, size) != 0) {
    std::abort();
  }
  return 0;
}
