// Ethereum Node Records (EIP-778), identity scheme "v4" only. A Record keeps its encoded
// RLP inline (no heap) plus the typed fields decoded once, so the engine can hold records
// in its table and answer ENR requests by copying raw() out. Builder (control plane,
// allocates) creates and re-signs records. Text form: "enr:" + unpadded base64url.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "discplane/common/bytes.h"
#include "discplane/common/endpoint.h"
#include "discplane/common/result.h"
#include "discplane/crypto/secp256k1.h"

namespace discplane::enr {

// EIP-778: "The maximum encoded size of a node record is 300 bytes."
inline constexpr std::size_t kMaxRecordSize = 300;
// "enr:" + base64url of 300 bytes.
inline constexpr std::size_t kMaxTextSize = 4 + 400;

enum class EnrError : std::uint8_t {
  kBadPrefix,          // text does not start with "enr:"
  kBadBase64,          // text body is not canonical unpadded base64url
  kTooLarge,           // encoded record over 300 bytes
  kBadRlp,             // not one canonical RLP item
  kNotAList,           // the record is not an RLP list
  kMissingSignature,   // empty list
  kBadSeq,             // seq missing or not a canonical uint64
  kOddKeyValueCount,   // a key without a value
  kBadKey,             // a key that is a list
  kKeysNotSorted,      // keys must be in strictly increasing bytewise order
  kDuplicateKey,       // the same key twice
  kMissingId,          // no "id" entry
  kUnknownScheme,      // "id" is not "v4" (the only scheme we can verify)
  kMissingPublicKey,   // no "secp256k1" entry
  kBadPublicKey,       // "secp256k1" is not a valid 33-byte compressed point
  kBadSignature,       // wrong length or does not verify
  kBadIp,              // "ip" not 4 bytes or "ip6" not 16 bytes
  kBadPort,            // a port that is not a canonical integer <= 65535
  kBadValue,           // Builder::set with a value that is not one RLP item
  kReservedKey,        // Builder::set of "id" or "secp256k1" (sign() writes those)
  kInvalidPrivateKey,  // Builder::sign with a key outside the curve order
};
std::string_view to_string(EnrError e);

// The `eth` entry: RLP [[fork-hash (4 bytes), fork-next (uint)], ...] (EIP-2124 fork id).
struct ForkId {
  ByteArray<4> hash{};
  std::uint64_t next = 0;
  friend bool operator==(const ForkId&, const ForkId&) = default;
};

class Builder;

class Record {
 public:
  Record() = default;  // empty: no record (raw() is empty)

  bool empty() const noexcept { return size_ == 0; }
  // The encoded record, as signed.
  ByteView raw() const noexcept { return {bytes_.data(), size_}; }
  std::uint64_t seq() const noexcept { return seq_; }
  std::string_view id_scheme() const noexcept { return "v4"; }  // the only one decoded
  ByteView signature() const noexcept { return {bytes_.data() + signature_offset_, 64}; }
  const crypto::PublicKey& public_key() const noexcept { return public_key_; }
  const NodeId& node_id() const noexcept { return node_id_; }

  std::optional<IpAddress> ip() const noexcept;
  std::optional<IpAddress> ip6() const noexcept;
  std::optional<std::uint16_t> udp() const noexcept { return port(kUdp); }
  std::optional<std::uint16_t> tcp() const noexcept { return port(kTcp); }
  std::optional<std::uint16_t> udp6() const noexcept { return port(kUdp6); }
  std::optional<std::uint16_t> tcp6() const noexcept { return port(kTcp6); }
  std::optional<ForkId> eth() const noexcept;

  // Endpoints with a non-zero port. For IPv6 a missing udp6/tcp6 falls back to udp/tcp
  // (EIP-778: "If no tcp6/udp6 port are provided, the tcp/udp ports are used for both").
  std::optional<Endpoint> udp_endpoint_v4() const noexcept;
  std::optional<Endpoint> udp_endpoint_v6() const noexcept;
  std::optional<Endpoint> tcp_endpoint_v4() const noexcept;
  std::optional<Endpoint> tcp_endpoint_v6() const noexcept;

  // The full RLP encoding of the value stored under `key` (lists included), a view
  // into raw(). Works for every key, known or not.
  std::optional<ByteView> get(std::string_view key) const noexcept;

  // Same encoded bytes (and so the same everything).
  friend bool operator==(const Record& a, const Record& b) noexcept {
    return equal(a.raw(), b.raw());
  }

 private:
  friend Result<Record, EnrError> decode_impl(ByteView, bool) noexcept;
  enum PortIndex : std::uint8_t { kUdp, kTcp, kUdp6, kTcp6 };
  enum Flag : std::uint8_t {
    kHasIp = 1,
    kHasIp6 = 2,
    kHasEth = 4,
  };
  std::optional<std::uint16_t> port(PortIndex i) const noexcept {
    if (!(port_mask_ & (1u << i))) {
      return std::nullopt;
    }
    return ports_[i];
  }

  std::array<std::uint8_t, kMaxRecordSize> bytes_{};
  std::uint16_t size_ = 0;
  std::uint16_t signature_offset_ = 0;
  std::uint8_t flags_ = 0;
  std::uint8_t port_mask_ = 0;
  std::array<std::uint16_t, 4> ports_{};
  std::uint64_t seq_ = 0;
  std::array<std::uint8_t, 4> ip_{};
  std::array<std::uint8_t, 16> ip6_{};
  ForkId eth_{};
  crypto::PublicKey public_key_{};
  NodeId node_id_{};
};

// Decodes and verifies the v4 signature (~40 us, most of it the ECDSA verify). Use this
// on everything that comes from the network.
[[nodiscard]] Result<Record, EnrError> decode(ByteView rlp) noexcept;
inline Result<Record, EnrError> decode_verified(ByteView rlp) noexcept {
  return decode(rlp);
}
// Same checks except the signature. For tools and tests only: a record decoded this way
// proves nothing about who made it.
[[nodiscard]] Result<Record, EnrError> decode_unverified(ByteView rlp) noexcept;
// The TCP port an encoded record announces for one family: `tcp`, or for IPv6 `tcp6` falling
// back to `tcp` (EIP-778). Reads the key/value pairs only (no public-key parse: well under a
// microsecond, where decode_unverified() costs ~7 us), so the record must have been decoded
// and verified before (the engine's table). nullopt: no such entry, or not a port.
[[nodiscard]] std::optional<std::uint16_t> tcp_port_of(ByteView raw, bool ipv6) noexcept;

// "enr:<base64url>" -> verified record.
[[nodiscard]] Result<Record, EnrError> parse_text(std::string_view text) noexcept;
std::string to_text(const Record& record);

// Entries an operator adds to the appliance's record (config enr.extra / enr.eth, discctl enr
// encode --entry / --eth): the checks both share.
// The keys discplane writes itself from its identity, addresses and settings (id, secp256k1,
// ip, ip6, udp, udp6, tcp, tcp6, eth).
[[nodiscard]] bool is_reserved_key(std::string_view key) noexcept;
// 1 to 64 printable ASCII characters, no spaces.
[[nodiscard]] bool is_valid_extra_key(std::string_view key) noexcept;
// "0x83626172" or "83626172": one complete RLP item in hex (lists allowed) -> its bytes.
[[nodiscard]] std::optional<Bytes> parse_hex_rlp(std::string_view text);
// "0x9f3d2254" or "9f3d2254": a 4-byte fork hash in hex.
[[nodiscard]] std::optional<ByteArray<4>> parse_fork_hash(std::string_view text);

// Creates records (control plane; allocates). Keys are kept sorted; sign() adds
// "id" = "v4" and "secp256k1" = the compressed public key of the signing key.
class Builder {
 public:
  Builder() = default;
  // Starts from an existing record: same seq, and every entry byte-exact (unknown keys
  // included). Bump the seq before re-signing a changed record.
  static Builder from(const Record& record);

  Builder& set_seq(std::uint64_t seq) {
    seq_ = seq;
    return *this;
  }
  std::uint64_t seq() const { return seq_; }
  // An IPv4 address sets "ip", an IPv6 address sets "ip6".
  Builder& set_ip(const IpAddress& ip);
  Builder& set_udp(std::uint16_t port) { return set_port("udp", port); }
  Builder& set_tcp(std::uint16_t port) { return set_port("tcp", port); }
  Builder& set_udp6(std::uint16_t port) { return set_port("udp6", port); }
  Builder& set_tcp6(std::uint16_t port) { return set_port("tcp6", port); }
  Builder& set_eth(const ForkId& fork);
  // Any key with a pre-encoded RLP value (one complete item, lists allowed).
  [[nodiscard]] Result<void, EnrError> set(std::string_view key, ByteView rlp_value);
  Builder& remove(std::string_view key);
  bool has(std::string_view key) const { return pairs_.count(std::string(key)) != 0; }

  [[nodiscard]] Result<Record, EnrError> sign(const crypto::PrivateKey& key) const;

 private:
  Builder& set_port(std::string_view key, std::uint16_t port);
  std::uint64_t seq_ = 0;
  // std::string orders by char_traits<char>::compare, which compares as unsigned char:
  // the bytewise order EIP-778 asks for.
  std::map<std::string, Bytes> pairs_;
};

}  // namespace discplane::enr
