// discv4 packet codec (devp2p discv4.md with EIP-8 and EIP-868): decoding a datagram into a
// verified Packet of views, and encoding signed packets into caller buffers.
// Pure: no table, no timers, no clock (expiration is checked by the caller through
// is_expired), no allocation. The ENR inside an ENRResponse is left as raw RLP for the ENR codec.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <span>
#include <string_view>
#include <variant>

#include "discplane/common/bytes.h"
#include "discplane/common/endpoint.h"
#include "discplane/common/result.h"
#include "discplane/crypto/secp256k1.h"

namespace discplane::v4wire {

// ---- Layout and limits ----------------------------------------------------------------------

inline constexpr std::size_t kHashSize = 32;
inline constexpr std::size_t kSignatureSize = 65;                       // r || s || v
inline constexpr std::size_t kHeaderSize = kHashSize + kSignatureSize;  // 97: type byte follows
// hash || signature || type (geth's errPacketTooSmall limit); the RLP is checked later.
inline constexpr std::size_t kMinPacketSize = kHeaderSize + 1;
// discv4.md: packets are at most 1280 bytes (the IPv6 minimum MTU).
inline constexpr std::size_t kMaxPacketSize = 1280;

enum class PacketType : std::uint8_t {
  kPing = 0x01,
  kPong = 0x02,
  kFindNode = 0x03,
  kNeighbors = 0x04,
  kENRRequest = 0x05,
  kENRResponse = 0x06,
};
std::string_view to_string(PacketType t);

enum class V4Error : std::uint8_t {
  kTooShort,           // fewer than kMinPacketSize (98) bytes
  kTooLong,            // more than kMaxPacketSize bytes (or an encoding that would be)
  kHashMismatch,       // packet[0:32] != keccak256(packet[32:])
  kUnknownType,        // type byte outside 1..6 (dropped silently by the engine)
  kMalformedRlp,       // packet-data is not an RLP list, or a size is truncated/non-canonical
  kMissingField,       // the list has fewer elements than the message needs
  kBadField,           // element of the wrong kind, length or range, or a non-canonical integer
  kBadSignature,       // public-key recovery failed
  kBufferTooSmall,     // encode: the output buffer cannot hold the packet
  kInvalidPrivateKey,  // encode: the signing key is not a valid secp256k1 scalar
  kBadRecord,          // encode_enrresponse: record_rlp is not exactly one RLP list
};
std::string_view to_string(V4Error e);

// ---- Messages -----------------------------------------------------------------------------

// discv4 endpoint [ip, udp-port, tcp-port]. ip is 4 or 16 bytes; only Ping.from may carry an
// empty ip (family kNone), which geth also accepts since the datagram's source is used anyway.
struct RpcEndpoint {
  IpAddress ip;
  std::uint16_t udp = 0;
  std::uint16_t tcp = 0;
  friend bool operator==(const RpcEndpoint&, const RpcEndpoint&) = default;
};

// EIP-868 puts the sender's ENR sequence number after `expiration` in Ping and Pong. The
// EIP-8 vectors "ping version 555" and "pong" (still must-accept in EIP-8, which is Final)
// carry an RLP *list* in that position; geth rejects them since PR #22842. We decode leniently:
// an element there that is not a canonical uint64 means "no enr_seq", and the packet is kept.
struct Ping {
  std::uint64_t version = 4;  // not checked on decode (EIP-8)
  RpcEndpoint from;
  RpcEndpoint to;
  std::uint64_t expiration = 0;
  std::optional<std::uint64_t> enr_seq;
  friend bool operator==(const Ping&, const Ping&) = default;
};

struct Pong {
  RpcEndpoint to;
  Hash256 ping_hash{};  // hash of the Ping this answers
  std::uint64_t expiration = 0;
  std::optional<std::uint64_t> enr_seq;
  friend bool operator==(const Pong&, const Pong&) = default;
};

struct FindNode {
  crypto::PublicKey target{};  // 64 bytes; the lookup target is keccak256(target)
  std::uint64_t expiration = 0;
  friend bool operator==(const FindNode&, const FindNode&) = default;
};

struct NeighborNode {
  RpcEndpoint endpoint;  // ip is 4 or 16 bytes
  crypto::PublicKey pubkey{};
  friend bool operator==(const NeighborNode&, const NeighborNode&) = default;
};

namespace detail {
// Parses one node of a Neighbors list from the front of `rest` and advances it. Only called
// on payloads that decode() has already validated.
[[nodiscard]] bool next_node(ByteView& rest, NeighborNode& out) noexcept;
}  // namespace detail

// The nodes of a decoded Neighbors packet: a view of the RLP payload of the node list,
// validated by decode(), iterated without allocation (each step parses one node).
class NodeList {
 public:
  class Iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = NeighborNode;
    using difference_type = std::ptrdiff_t;
    using pointer = const NeighborNode*;
    using reference = const NeighborNode&;

    Iterator() noexcept = default;
    explicit Iterator(ByteView rest) noexcept : rest_(rest) { advance(); }
    reference operator*() const noexcept { return node_; }
    pointer operator->() const noexcept { return &node_; }
    Iterator& operator++() noexcept {
      advance();
      return *this;
    }
    Iterator operator++(int) noexcept {
      Iterator old = *this;
      advance();
      return old;
    }
    // Iterators compare by position; every end iterator compares equal.
    friend bool operator==(const Iterator& a, const Iterator& b) noexcept {
      return a.at_end_ == b.at_end_ && (a.at_end_ || a.current_ == b.current_);
    }

   private:
    void advance() noexcept {
      current_ = rest_.data();
      at_end_ = !detail::next_node(rest_, node_);
    }
    ByteView rest_;                          // after the current node
    const std::uint8_t* current_ = nullptr;  // where the current node starts
    NeighborNode node_{};
    bool at_end_ = true;
  };

  NodeList() noexcept = default;
  NodeList(ByteView payload, std::size_t count) noexcept : payload_(payload), count_(count) {}

  Iterator begin() const noexcept { return Iterator(payload_); }
  Iterator end() const noexcept { return Iterator(); }
  std::size_t size() const noexcept { return count_; }
  bool empty() const noexcept { return count_ == 0; }
  ByteView payload() const noexcept { return payload_; }  // RLP of the nodes, list header off

  friend bool operator==(const NodeList& a, const NodeList& b) noexcept;

 private:
  ByteView payload_;
  std::size_t count_ = 0;
};

struct Neighbors {
  NodeList nodes;  // views the decoded packet: valid while its buffer is
  std::uint64_t expiration = 0;
  friend bool operator==(const Neighbors&, const Neighbors&) = default;
};

struct ENRRequest {
  std::uint64_t expiration = 0;
  friend bool operator==(const ENRRequest&, const ENRRequest&) = default;
};

struct ENRResponse {
  Hash256 request_hash{};  // hash of the ENRRequest packet this answers
  ByteView record_rlp;     // the whole record (RLP list), for the ENR codec to verify
  friend bool operator==(const ENRResponse& a, const ENRResponse& b) noexcept {
    return a.request_hash == b.request_hash && equal(a.record_rlp, b.record_rlp);
  }
};

using Message = std::variant<Ping, Pong, FindNode, Neighbors, ENRRequest, ENRResponse>;

// A verified packet. Neighbors and ENRResponse hold views into the decoded buffer.
struct Packet {
  PacketType type = PacketType::kPing;
  Hash256 hash{};              // packet[0:32]: what a Pong / ENRResponse echoes
  crypto::PublicKey sender{};  // recovered from the signature
  NodeId sender_id{};          // keccak256(sender)
  Message message;
};

// ---- Decoding -----------------------------------------------------------------------------

// True when the datagram is at least kMinPacketSize bytes and starts with keccak256 of the rest:
// the cheap discv4-vs-discv5 classifier.
[[nodiscard]] bool hash_matches(ByteView packet) noexcept;

struct DecodeOptions {
  // Set when hash_matches() already returned true for this buffer, to skip the second keccak.
  bool hash_already_checked = false;
};

// Checks, in order: size, hash, type byte, RLP and every field (all cheap), then recovers the
// signer over keccak256(packet[97:]) (~44 us, so garbage never reaches it). Extra list
// elements and bytes after the RLP list are ignored (EIP-8). Expiration is not checked here.
[[nodiscard]] Result<Packet, V4Error> decode(ByteView packet, DecodeOptions options = {}) noexcept;

// Expiration is an absolute Unix time in seconds; a packet is expired once it lies in the past.
// The field is read as a SIGNED 64-bit time, as geth does: a value of 2^64 - t is the time
// -t, long past (geth's conformance suite sends exactly that to test past expirations).
[[nodiscard]] constexpr bool is_expired(std::uint64_t expiration, std::int64_t now_unix) noexcept {
  return static_cast<std::int64_t>(expiration) < now_unix;
}

// ---- Encoding -----------------------------------------------------------------------------
// Each encoder writes hash || signature || type || RLP into `out` (never past its end), signing
// keccak256(type || RLP) with RFC6979 nonces. It returns the size and the packet hash (remember
// a Ping's hash to match the Pong, an ENRRequest's to match the ENRResponse).

struct Encoded {
  std::size_t size = 0;
  Hash256 hash{};
};

[[nodiscard]] Result<Encoded, V4Error> encode_ping(const crypto::PrivateKey& key, const Ping& ping,
                                                   MutableByteView out) noexcept;
[[nodiscard]] Result<Encoded, V4Error> encode_pong(const crypto::PrivateKey& key, const Pong& pong,
                                                   MutableByteView out) noexcept;
[[nodiscard]] Result<Encoded, V4Error> encode_findnode(const crypto::PrivateKey& key,
                                                       const FindNode& findnode,
                                                       MutableByteView out) noexcept;
[[nodiscard]] Result<Encoded, V4Error> encode_enrrequest(const crypto::PrivateKey& key,
                                                         const ENRRequest& request,
                                                         MutableByteView out) noexcept;
// response.record_rlp must be exactly one RLP list (the signed record); it is copied verbatim.
[[nodiscard]] Result<Encoded, V4Error> encode_enrresponse(const crypto::PrivateKey& key,
                                                          const ENRResponse& response,
                                                          MutableByteView out) noexcept;

// Worst-case sizes behind kMaxNeighborsPerPacket: IPv6 ip, 2-byte ports, 8-byte expiration.
namespace detail {
constexpr std::size_t rlp_header(std::size_t payload) noexcept {
  std::size_t n = 1;
  if (payload >= 56) {
    for (std::size_t p = payload; p != 0; p >>= 8) {
      ++n;
    }
  }
  return n;
}
constexpr std::size_t kMaxNodeSize = [] {
  constexpr std::size_t payload = (1 + 16) + (1 + 2) + (1 + 2) + (rlp_header(64) + 64);
  return rlp_header(payload) + payload;
}();
constexpr std::size_t max_neighbors_packet_size(std::size_t nodes) noexcept {
  const std::size_t list = nodes * kMaxNodeSize;
  const std::size_t payload = rlp_header(list) + list + (1 + 8);
  return kHeaderSize + 1 + rlp_header(payload) + payload;
}
}  // namespace detail

// geth MaxNeighbors: 12 worst-case nodes take 1205 bytes, 13 would take 1296 > 1280.
inline constexpr std::size_t kMaxNeighborsPerPacket = 12;
static_assert(detail::max_neighbors_packet_size(kMaxNeighborsPerPacket) == 1205);
static_assert(detail::max_neighbors_packet_size(kMaxNeighborsPerPacket) <= kMaxPacketSize);
static_assert(detail::max_neighbors_packet_size(kMaxNeighborsPerPacket + 1) > kMaxPacketSize);

struct EncodedNeighbors {
  Encoded packet;
  std::size_t nodes_written = 0;  // min(nodes.size(), kMaxNeighborsPerPacket)
};

// Writes the first min(nodes.size(), kMaxNeighborsPerPacket) nodes; call again with the rest.
// Every node's ip must be 4 or 16 bytes (kBadField otherwise).
[[nodiscard]] Result<EncodedNeighbors, V4Error> encode_neighbors(
    const crypto::PrivateKey& key, std::span<const NeighborNode> nodes, std::uint64_t expiration,
    MutableByteView out) noexcept;

}  // namespace discplane::v4wire
