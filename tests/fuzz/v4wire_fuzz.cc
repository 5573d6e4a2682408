// libFuzzer target for the discv4 codec. Each input is decoded twice: as received (every
// check, hash included) and with its hash recomputed, so mutations reach the type, RLP and
// signature paths. A decoded packet must decode to the same fields again (also when the hash
// check is skipped), and its message, re-encoded with a fixed key, must decode back equal.
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "discplane/crypto/keccak.h"
#include "discplane/crypto/secp256k1.h"
#include "discplane/wire/v4wire.h"

using namespace discplane;
using namespace discplane::v4wire;

namespace {

void check(bool ok) {
  if (!ok) {
    std::abort();
  }
}

const crypto::PrivateKey kKey = [] {
  crypto::PrivateKey k{};
  k.fill(0x11);
  return k;
}();

std::vector<NeighborNode> nodes_of(const Neighbors& m) {
  std::vector<NeighborNode> out;
  for (const NeighborNode& n : m.nodes) {
    out.push_back(n);
  }
  return out;
}

Result<Encoded, V4Error> reencode(const Message& m, MutableByteView out) {
  if (const auto* p = std::get_if<Ping>(&m)) {
    return encode_ping(kKey, *p, out);
  }
  if (const auto* p = std::get_if<Pong>(&m)) {
    return encode_pong(kKey, *p, out);
  }
  if (const auto* p = std::get_if<FindNode>(&m)) {
    return encode_findnode(kKey, *p, out);
  }
  if (const auto* p = std::get_if<ENRRequest>(&m)) {
    return encode_enrrequest(kKey, *p, out);
  }
  if (const auto* p = std::get_if<ENRResponse>(&m)) {
    return encode_enrresponse(kKey, *p, out);
  }
  const auto& n = std::get<Neighbors>(m);
  const auto nodes = nodes_of(n);
  auto r = encode_neighbors(kKey, nodes, n.expiration, out);
  if (!r) {
    return tl::unexpected(r.error());
  }
  check(r->nodes_written == std::min(nodes.size(), kMaxNeighborsPerPacket));
  return r->packet;
}

void check_decoded(ByteView input, const Packet& p) {
  check(input.size() >= kMinPacketSize && input.size() <= kMaxPacketSize);
  check(hash_matches(input));
  check(p.sender_id == crypto::node_id_of(p.sender));
  check(static_cast<std::size_t>(p.message.index()) + 1 == static_cast<std::size_t>(p.type));

  auto again = decode(input, DecodeOptions{.hash_already_checked = true});
  check(again.has_value());
  check(again->type == p.type && again->hash == p.hash && again->sender == p.sender &&
        again->message == p.message);

  if (const auto* n = std::get_if<Neighbors>(&p.message)) {
    check(nodes_of(*n).size() == n->nodes.size());
  }

  std::array<std::uint8_t, kMaxPacketSize> out;
  auto enc = reencode(p.message, out);
  check(enc.has_value());  // canonical and without extras, so never larger than the input
  auto back = decode(ByteView(out).first(enc->size));
  check(back.has_value());
  check(back->hash == enc->hash && back->type == p.type);
  if (const auto* n = std::get_if<Neighbors>(&p.message)) {
    const auto want = nodes_of(*n);
    const auto got = nodes_of(std::get<Neighbors>(back->message));
    check(got.size() == std::min(want.size(), kMaxNeighborsPerPacket));
    check(std::equal(got.begin(), got.end(), want.begin()));
    check(std::get<Neighbors>(back->message).expiration == n->expiration);
  } else {
    check(back->message == p.message);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ByteView input(data, size);
  if (auto p = decode(input)) {
    check_decoded(input, *p);
  }

  // Same bytes with a valid hash, so the fuzzer explores what lies behind it.
  if (size < kMinPacketSize || size > kMaxPacketSize) {
    return 0;
  }
  std::array<std::uint8_t, kMaxPacketSize> fixed;
  std::memcpy(fixed.data(), data, size);
  const Hash256 h = crypto::keccak256(ByteView(fixed.data() + kHashSize, size - kHashSize));
  std::memcpy(fixed.data(), h.data(), kHashSize);
  const ByteView rehashed(fixed.data(), size);
  if (auto p = decode(rehashed)) {
    check_decoded(rehashed, *p);
  }
  return 0;
}
