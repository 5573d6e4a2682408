// Fuzzes the ENR decoder (unverified, so the fuzzer reaches the field checks instead of
// stopping at the signature; the verified path is run too) and the text parser. A record
// that decodes must round-trip through its text form and Builder::from.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "discplane/wire/enr.h"

using namespace discplane;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ByteView in(data, size);
  (void)enr::decode(in);
  (void)enr::parse_text(std::string_view(reinterpret_cast<const char*>(data), size));
  auto rec = enr::decode_unverified(in);
  if (!rec) {
    return 0;
  }
  if (!equal(rec->raw(), in)) {
    std::abort();
  }
  // Accessors must be safe on anything that decoded.
  (void)rec->udp_endpoint_v4();
  (void)rec->udp_endpoint_v6();
  (void)rec->tcp_endpoint_v6();
  (void)rec->eth();
  (void)rec->get("eth");
  (void)rec->get("zz");
  const std::string text = enr::to_text(*rec);
  auto again = enr::parse_text(text);
  // parse_text verifies; it must agree with decode() on the same bytes.
  if (static_cast<bool>(again) != static_cast<bool>(enr::decode(in))) {
    std::abort();
  }
  auto builder = enr::Builder::from(*rec);
  if (builder.seq() != rec->seq()) {
    std::abort();
  }
  return 0;
}
