// libFuzzer target for the discv5.1 codec. Each input is used three ways: as a packet
// (decode_header with node B's masker, then open_message), as an unmasked packet that is
// masked first (so the fuzzer steers header fields directly), and as a message plaintext
// (decode_message). Decoded messages must re-encode to the very same bytes.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "discplane/crypto/aes.h"
#include "discplane/wire/v5wire.h"

using namespace discplane;
using namespace discplane::v5wire;

namespace {

// Node B of the test vectors: dest of every vector packet, so the seeds decode.
constexpr NodeId kOwnId = {0xbb, 0xbb, 0x9d, 0x04, 0x7f, 0x04, 0x88, 0xc0, 0xb5, 0xa9, 0x3c,
                           0x1c, 0x3f, 0x2d, 0x8b, 0xaf, 0xc7, 0xc8, 0xff, 0x33, 0x70, 0x24,
                           0xa5, 0x54, 0x34, 0xa0, 0xd0, 0x55, 0x5d, 0xe6, 0x4d, 0xb9};

void check(bool ok) {
  if (!ok) {
    std::abort();
  }
}

bool within(ByteView inner, const std::uint8_t* begin, std::size_t size) {
  return inner.empty() || (inner.data() >= begin && inner.data() + inner.size() <= begin + size);
}

void fuzz_header(ByteView packet, const crypto::AesCtr128& masker) {
  static ByteArray<kMaxPacketSize> scratch;
  static ByteArray<kMaxPacketSize> plain;
  auto h = decode_header(packet, masker, scratch);
  if (!h) {
    return;
  }
  check(packet.size() >= kMinPacketSize && packet.size() <= kMaxPacketSize);
  check(within(h->header_data, scratch.data(), scratch.size()));
  check(within(h->message, packet.data(), packet.size()));
  check(h->header_data.size() + h->message.size() == packet.size());
  switch (h->flag) {
    case Flag::kMessage:
      check(h->authdata.size() == kMessageAuthdataSize);
      break;
    case Flag::kWhoareyou:
      check(h->message.empty() && h->id_nonce.size() == kIdNonceSize);
      break;
    case Flag::kHandshake:
      check(h->id_signature.size() == kIdSignatureSize &&
            h->eph_pubkey.size() == kEphemeralKeySize &&
            within(h->record, scratch.data(), scratch.size()));
      break;
  }
  if (h->flag != Flag::kWhoareyou) {
    // The vector PING's read key (all zero): mutated vectors open only when untouched.
    static const crypto::AesGcm128 key(crypto::AesKey{});
    auto pt = open_message(*h, key, plain);
    if (pt) {
      (void)decode_message(*pt);
    }
  }
}

void fuzz_message(ByteView plaintext) {
  static ByteArray<kMaxPacketSize * 64> out;
  auto m = decode_message(plaintext);
  if (!m) {
    return;
  }
  Result<ByteView, V5Error> again = fail(V5Error::kBadArgument);
  if (const auto* p = std::get_if<Ping>(&*m)) {
    again = encode_ping(out, p->req_id, p->enr_seq);
  } else if (const auto* p = std::get_if<Pong>(&*m)) {
    again = encode_pong(out, p->req_id, p->enr_seq, p->recipient_ip, p->recipient_port);
  } else if (const auto* p = std::get_if<FindNode>(&*m)) {
    std::uint16_t distances[kMaxFindNodeDistances];
    std::size_t n = 0;
    for (std::uint16_t d : p->distances) {
      check(d <= kMaxDistance && n < kMaxFindNodeDistances);
      distances[n++] = d;
    }
    check(n == p->distances.size());
    again = encode_findnode(out, p->req_id, {distances, n});
  } else if (const auto* p = std::get_if<Nodes>(&*m)) {
    std::vector<ByteView> records(p->records.begin(), p->records.end());
    check(records.size() == p->records.size());
    again = encode_nodes(out, p->req_id, p->total, records);
  } else if (const auto* p = std::get_if<TalkReq>(&*m)) {
    again = encode_talkreq(out, p->req_id, p->protocol, p->request);
  } else if (const auto* p = std::get_if<TalkResp>(&*m)) {
    again = encode_talkresp(out, p->req_id, p->response);
  }
  // Strict decoding accepts only canonical RLP, so re-encoding gives the input back.
  check(again.has_value() && equal(*again, plaintext));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const crypto::AesCtr128 masker(masking_key(kOwnId));
  const ByteView in(data, size);
  fuzz_header(in, masker);
  if (size >= kMaskingIvSize && size <= kMaxPacketSize) {
    static ByteArray<kMaxPacketSize> masked;
    std::memcpy(masked.data(), data, size);
    masker.apply(in.first(kMaskingIvSize), in.subspan(kMaskingIvSize),
                 MutableByteView(masked).subspan(kMaskingIvSize, size - kMaskingIvSize));
    fuzz_header(ByteView(masked.data(), size), masker);
  }
  fuzz_message(in);
  return 0;
}
