// discv4 packet codec: decode (size, hash, type, RLP fields, then signer recovery) and the
// signed encoders. The field rules follow discv4.md, with EIP-8 leniency (extra elements and
// trailing bytes ignored, Ping version unchecked) and EIP-868's optional enr-seq.
// Nothing here allocates or reads the clock.
#include "discplane/wire/v4wire.h"

#include <algorithm>
#include <array>
#include <cstring>

#include "discplane/crypto/keccak.h"
#include "discplane/wire/rlp.h"

namespace discplane::v4wire {

std::string_view to_string(PacketType t) {
  switch (t) {
    case PacketType::kPing:
      return "PING/v4";
    case PacketType::kPong:
      return "PONG/v4";
    case PacketType::kFindNode:
      return "FINDNODE/v4";
    case PacketType::kNeighbors:
      return "NEIGHBORS/v4";
    case PacketType::kENRRequest:
      return "ENRREQUEST/v4";
    case PacketType::kENRResponse:
      return "ENRRESPONSE/v4";
  }
  return "unknown/v4";
}

std::string_view to_string(V4Error e) {
  switch (e) {
    case V4Error::kTooShort:
      return "packet too short";
    case V4Error::kTooLong:
      return "packet too long";
    case V4Error::kHashMismatch:
      return "hash mismatch";
    case V4Error::kUnknownType:
      return "unknown packet type";
    case V4Error::kMalformedRlp:
      return "malformed RLP";
    case V4Error::kMissingField:
      return "missing field";
    case V4Error::kBadField:
      return "bad field";
    case V4Error::kBadSignature:
      return "bad signature";
    case V4Error::kBufferTooSmall:
      return "output buffer too small";
    case V4Error::kInvalidPrivateKey:
      return "invalid private key";
    case V4Error::kBadRecord:
      return "record is not one RLP list";
  }
  return "unknown error";
}

namespace {

constexpr std::size_t kTypeOffset = kHeaderSize;  // 97
constexpr std::size_t kDataOffset = kHeaderSize + 1;

// RLP errors inside a message: structural ones make the whole data malformed, the rest are
// fields of the wrong shape.
V4Error field_error(rlp::RlpError e) noexcept {
  switch (e) {
    case rlp::RlpError::kTooFewElements:
      return V4Error::kMissingField;
    case rlp::RlpError::kEmptyInput:
    case rlp::RlpError::kTruncated:
    case rlp::RlpError::kNonCanonicalSize:
    case rlp::RlpError::kLeadingZeroInSize:
    case rlp::RlpError::kTrailingBytes:
    case rlp::RlpError::kTooDeep:
      return V4Error::kMalformedRlp;
    default:
      return V4Error::kBadField;
  }
}

#define V4_TRY(var, expr)                      \
  auto var##_r = (expr);                       \
  if (!var##_r) {                              \
    return fail(field_error(var##_r.error())); \
  }                                            \
  auto var = *var##_r

// Ports are read leniently: at most 2 bytes, leading zeros allowed. @ethereumjs/devp2p
// writes every port as 2 fixed bytes (port 0 as 0x820000, port 80 as 0x820050), and a strict
// uint decode would drop its whole Ping. Nothing depends on the canonical form of a port.
Result<std::uint16_t, V4Error> read_port(rlp::ListReader& r) noexcept {
  V4_TRY(raw, r.next_string());
  if (raw.size() > 2) {
    return fail(V4Error::kBadField);
  }
  std::uint16_t v = 0;
  for (std::uint8_t b : raw) {
    v = static_cast<std::uint16_t>(v << 8 | b);
  }
  return v;
}

// [ip, udp, tcp, ...]: ip is 4 or 16 bytes, or empty where allow_empty_ip (Ping.from).
Result<RpcEndpoint, V4Error> read_endpoint_fields(rlp::ListReader& r,
                                                  bool allow_empty_ip) noexcept {
  RpcEndpoint ep;
  V4_TRY(ip, r.next_string());
  if (!ip.empty() || !allow_empty_ip) {
    auto addr = IpAddress::from_bytes(ip);
    if (!addr) {
      return fail(V4Error::kBadField);
    }
    ep.ip = *addr;
  }
  auto udp = read_port(r);
  if (!udp) {
    return fail(udp.error());
  }
  auto tcp = read_port(r);
  if (!tcp) {
    return fail(tcp.error());
  }
  ep.udp = *udp;
  ep.tcp = *tcp;
  return ep;  // extra endpoint elements are ignored (EIP-8)
}

Result<RpcEndpoint, V4Error> read_endpoint(rlp::ListReader& r, bool allow_empty_ip) noexcept {
  V4_TRY(list, r.next_list());
  return read_endpoint_fields(list, allow_empty_ip);
}

template <std::size_t N>
Result<ByteArray<N>, V4Error> read_fixed(rlp::ListReader& r) noexcept {
  V4_TRY(s, r.next_string(N));
  return to_array<N>(s);
}

// EIP-868 enr-seq, read leniently (see the comment on Ping in v4wire.h): anything that is not
// a canonical uint64 (a list in the EIP-8 vectors) counts as absent.
std::optional<std::uint64_t> read_optional_seq(rlp::ListReader& r) noexcept {
  if (r.at_end()) {
    return std::nullopt;
  }
  auto item = r.next();
  if (!item) {
    return std::nullopt;
  }
  auto v = rlp::to_uint64(*item);
  if (!v) {
    return std::nullopt;
  }
  return *v;
}

// Each decoder reads the fields it knows and ignores what follows (EIP-8).
Result<Message, V4Error> decode_ping(rlp::ListReader& r) noexcept {
  Ping p;
  V4_TRY(version, r.next_uint());
  p.version = version;
  auto from = read_endpoint(r, /*allow_empty_ip=*/true);
  if (!from) {
    return fail(from.error());
  }
  auto to = read_endpoint(r, false);
  if (!to) {
    return fail(to.error());
  }
  p.from = *from;
  p.to = *to;
  V4_TRY(expiration, r.next_uint());
  p.expiration = expiration;
  p.enr_seq = read_optional_seq(r);
  return Message(p);
}

Result<Message, V4Error> decode_pong(rlp::ListReader& r) noexcept {
  Pong p;
  auto to = read_endpoint(r, false);
  if (!to) {
    return fail(to.error());
  }
  p.to = *to;
  auto hash = read_fixed<32>(r);
  if (!hash) {
    return fail(hash.error());
  }
  p.ping_hash = *hash;
  V4_TRY(expiration, r.next_uint());
  p.expiration = expiration;
  p.enr_seq = read_optional_seq(r);
  return Message(p);
}

Result<Message, V4Error> decode_findnode(rlp::ListReader& r) noexcept {
  FindNode f;
  auto target = read_fixed<64>(r);
  if (!target) {
    return fail(target.error());
  }
  f.target = *target;
  V4_TRY(expiration, r.next_uint());
  f.expiration = expiration;
  return Message(f);
}

// One node [ip, udp, tcp, pubkey, ...] from the front of `nodes`.
Result<NeighborNode, V4Error> read_node(rlp::ListReader& nodes) noexcept {
  V4_TRY(fields, nodes.next_list());
  NeighborNode n;
  auto ep = read_endpoint_fields(fields, false);
  if (!ep) {
    return fail(ep.error());
  }
  n.endpoint = *ep;
  auto key = read_fixed<64>(fields);
  if (!key) {
    return fail(key.error());
  }
  n.pubkey = *key;
  return n;
}

Result<Message, V4Error> decode_neighbors(rlp::ListReader& r) noexcept {
  V4_TRY(list_item, r.next());
  if (!list_item.is_list) {
    return fail(V4Error::kBadField);
  }
  // Validate every node now so that NodeList iteration cannot fail later.
  rlp::ListReader nodes(list_item.payload);
  std::size_t count = 0;
  while (!nodes.at_end()) {
    auto n = read_node(nodes);
    if (!n) {
      return fail(n.error());
    }
    ++count;
  }
  Neighbors m;
  m.nodes = NodeList(list_item.payload, count);
  V4_TRY(expiration, r.next_uint());
  m.expiration = expiration;
  return Message(m);
}

Result<Message, V4Error> decode_enrrequest(rlp::ListReader& r) noexcept {
  V4_TRY(expiration, r.next_uint());
  return Message(ENRRequest{expiration});
}

Result<Message, V4Error> decode_enrresponse(rlp::ListReader& r) noexcept {
  ENRResponse m;
  auto hash = read_fixed<32>(r);
  if (!hash) {
    return fail(hash.error());
  }
  m.request_hash = *hash;
  V4_TRY(record, r.next());
  if (!record.is_list) {
    return fail(V4Error::kBadField);
  }
  m.record_rlp = record.encoded;
  return Message(m);
}

}  // namespace

// ---- NodeList ----

namespace detail {
bool next_node(ByteView& rest, NeighborNode& out) noexcept {
  if (rest.empty()) {
    return false;
  }
  rlp::ListReader r(rest);
  auto n = read_node(r);
  if (!n) {
    rest = {};  // cannot happen on a list decode() accepted; end the iteration
    return false;
  }
  out = *n;
  rest = r.rest();
  return true;
}
}  // namespace detail

bool operator==(const NodeList& a, const NodeList& b) noexcept {
  return a.count_ == b.count_ && equal(a.payload_, b.payload_);
}

// ---- Decoding ----

bool hash_matches(ByteView packet) noexcept {
  if (packet.size() < kMinPacketSize) {
    return false;
  }
  const Hash256 h = crypto::keccak256(packet.subspan(kHashSize));
  return std::memcmp(h.data(), packet.data(), kHashSize) == 0;
}

Result<Packet, V4Error> decode(ByteView packet, DecodeOptions options) noexcept {
  if (packet.size() < kMinPacketSize) {
    return fail(V4Error::kTooShort);
  }
  if (packet.size() > kMaxPacketSize) {
    return fail(V4Error::kTooLong);
  }
  if (!options.hash_already_checked && !hash_matches(packet)) {
    return fail(V4Error::kHashMismatch);
  }
  const std::uint8_t type = packet[kTypeOffset];
  if (type < static_cast<std::uint8_t>(PacketType::kPing) ||
      type > static_cast<std::uint8_t>(PacketType::kENRResponse)) {
    return fail(V4Error::kUnknownType);
  }
  // The RLP list; bytes after it are ignored (EIP-8).
  auto data = rlp::decode_prefix(packet.subspan(kDataOffset));
  if (!data) {
    return fail(V4Error::kMalformedRlp);
  }
  if (!data->is_list) {
    return fail(V4Error::kMalformedRlp);
  }
  rlp::ListReader fields(data->payload);
  Result<Message, V4Error> message = fail(V4Error::kUnknownType);
  switch (static_cast<PacketType>(type)) {
    case PacketType::kPing:
      message = decode_ping(fields);
      break;
    case PacketType::kPong:
      message = decode_pong(fields);
      break;
    case PacketType::kFindNode:
      message = decode_findnode(fields);
      break;
    case PacketType::kNeighbors:
      message = decode_neighbors(fields);
      break;
    case PacketType::kENRRequest:
      message = decode_enrrequest(fields);
      break;
    case PacketType::kENRResponse:
      message = decode_enrresponse(fields);
      break;
  }
  if (!message) {
    return fail(message.error());
  }
  // Only now the expensive part: the signer, over keccak256(type || data || trailing).
  const Hash256 digest = crypto::keccak256(packet.subspan(kTypeOffset));
  auto sender = crypto::recover(packet.subspan(kHashSize, kSignatureSize), digest);
  if (!sender) {
    return fail(V4Error::kBadSignature);
  }
  Packet p;
  p.type = static_cast<PacketType>(type);
  p.hash = to_array<kHashSize>(packet.first(kHashSize));
  p.sender = *sender;
  p.sender_id = crypto::node_id_of(*sender);
  p.message = *message;
  return p;
}

// ---- Encoding ----

namespace {

// The RLP is built in a stack scratch first: rlp::Encoder reserves 9 bytes per open list, so
// it needs slack that an exactly-sized caller buffer lacks. The copy costs far less than the
// signature.
constexpr std::size_t kScratchSize = kMaxPacketSize + 64;

void add_endpoint(rlp::Encoder& e, const RpcEndpoint& ep) noexcept {
  const std::size_t list = e.begin_list();
  e.add_string(ep.ip.view());
  e.add_uint(ep.udp);
  e.add_uint(ep.tcp);
  e.end_list(list);
}

// Seals `type || rlp` (in scratch[0 .. body_size)) into out: hole, signature, hash.
Result<Encoded, V4Error> seal(const crypto::PrivateKey& key, ByteView body,
                              MutableByteView out) noexcept {
  const std::size_t size = kHeaderSize + body.size();
  if (size > kMaxPacketSize) {
    return fail(V4Error::kTooLong);
  }
  if (size > out.size()) {
    return fail(V4Error::kBufferTooSmall);
  }
  if (!crypto::is_valid_private_key(key)) {
    return fail(V4Error::kInvalidPrivateKey);
  }
  std::memcpy(out.data() + kHeaderSize, body.data(), body.size());
  const crypto::RecoverableSignature sig = crypto::sign_recoverable(key, crypto::keccak256(body));
  std::memcpy(out.data() + kHashSize, sig.data(), kSignatureSize);
  Encoded enc;
  enc.size = size;
  enc.hash = crypto::keccak256(ByteView(out.data() + kHashSize, size - kHashSize));
  std::memcpy(out.data(), enc.hash.data(), kHashSize);
  return enc;
}

// Builds type || RLP with `fill(encoder)` writing the list elements, then seals it.
template <class Fill>
Result<Encoded, V4Error> encode_with(const crypto::PrivateKey& key, PacketType type,
                                     MutableByteView out, Fill&& fill) noexcept {
  std::array<std::uint8_t, kScratchSize> scratch;
  scratch[0] = static_cast<std::uint8_t>(type);
  rlp::Encoder e(MutableByteView(scratch).subspan(1));
  const std::size_t list = e.begin_list();
  fill(e);
  e.end_list(list);
  if (!e.ok()) {
    return fail(V4Error::kTooLong);
  }
  return seal(key, ByteView(scratch.data(), 1 + e.size()), out);
}

}  // namespace

Result<Encoded, V4Error> encode_ping(const crypto::PrivateKey& key, const Ping& ping,
                                     MutableByteView out) noexcept {
  return encode_with(key, PacketType::kPing, out, [&](rlp::Encoder& e) {
    e.add_uint(ping.version);
    add_endpoint(e, ping.from);
    add_endpoint(e, ping.to);
    e.add_uint(ping.expiration);
    if (ping.enr_seq) {
      e.add_uint(*ping.enr_seq);
    }
  });
}

Result<Encoded, V4Error> encode_pong(const crypto::PrivateKey& key, const Pong& pong,
                                     MutableByteView out) noexcept {
  return encode_with(key, PacketType::kPong, out, [&](rlp::Encoder& e) {
    add_endpoint(e, pong.to);
    e.add_string(pong.ping_hash);
    e.add_uint(pong.expiration);
    if (pong.enr_seq) {
      e.add_uint(*pong.enr_seq);
    }
  });
}

Result<Encoded, V4Error> encode_findnode(const crypto::PrivateKey& key, const FindNode& findnode,
                                         MutableByteView out) noexcept {
  return encode_with(key, PacketType::kFindNode, out, [&](rlp::Encoder& e) {
    e.add_string(findnode.target);
    e.add_uint(findnode.expiration);
  });
}

Result<Encoded, V4Error> encode_enrrequest(const crypto::PrivateKey& key, const ENRRequest& request,
                                           MutableByteView out) noexcept {
  return encode_with(key, PacketType::kENRRequest, out,
                     [&](rlp::Encoder& e) { e.add_uint(request.expiration); });
}

Result<Encoded, V4Error> encode_enrresponse(const crypto::PrivateKey& key,
                                            const ENRResponse& response,
                                            MutableByteView out) noexcept {
  auto record = rlp::decode_exact(response.record_rlp);
  if (!record || !record->is_list) {
    return fail(V4Error::kBadRecord);
  }
  return encode_with(key, PacketType::kENRResponse, out, [&](rlp::Encoder& e) {
    e.add_string(response.request_hash);
    e.add_raw(response.record_rlp);
  });
}

Result<EncodedNeighbors, V4Error> encode_neighbors(const crypto::PrivateKey& key,
                                                   std::span<const NeighborNode> nodes,
                                                   std::uint64_t expiration,
                                                   MutableByteView out) noexcept {
  const std::size_t n = std::min(nodes.size(), kMaxNeighborsPerPacket);
  for (std::size_t i = 0; i < n; ++i) {
    if (!nodes[i].endpoint.ip.valid()) {
      return fail(V4Error::kBadField);
    }
  }
  auto enc = encode_with(key, PacketType::kNeighbors, out, [&](rlp::Encoder& e) {
    const std::size_t list = e.begin_list();
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t node = e.begin_list();
      e.add_string(nodes[i].endpoint.ip.view());
      e.add_uint(nodes[i].endpoint.udp);
      e.add_uint(nodes[i].endpoint.tcp);
      e.add_string(nodes[i].pubkey);
      e.end_list(node);
    }
    e.end_list(list);
    e.add_uint(expiration);
  });
  if (!enc) {
    return fail(enc.error());
  }
  return EncodedNeighbors{*enc, n};
}

}  // namespace discplane::v4wire

#undef V4_TRY
