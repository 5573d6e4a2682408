// discv5.1 wire codec: header masking, packet framing (message / WHOAREYOU / handshake),
// message encryption, the six message bodies, NODES splitting and handshake crypto.
// It is pure: no session table, no timers, no randomness. The engine owns sessions and
// passes keys, nonces and masking IVs in. Decoding yields views into the packet or a
// caller scratch buffer; encoding writes into caller buffers. Nothing allocates.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <span>
#include <string_view>
#include <variant>

#include "discplane/common/bytes.h"
#include "discplane/common/endpoint.h"
#include "discplane/common/result.h"
#include "discplane/crypto/aes.h"
#include "discplane/crypto/secp256k1.h"
#include "discplane/wire/rlp.h"

namespace discplane::v5wire {

// ---- Constants (discv5-wire.md) --------------------------------------------------------------

inline constexpr std::string_view kProtocolId = "discv5";
inline constexpr std::uint16_t kVersion = 0x0001;
inline constexpr std::size_t kMaskingIvSize = 16;
inline constexpr std::size_t kNonceSize = 12;
inline constexpr std::size_t kIdNonceSize = 16;
// protocol-id(6) || version(2) || flag(1) || nonce(12) || authdata-size(2)
inline constexpr std::size_t kStaticHeaderSize = 6 + 2 + 1 + kNonceSize + 2;
inline constexpr std::size_t kMessageAuthdataSize = 32;                  // src-id
inline constexpr std::size_t kWhoareyouAuthdataSize = kIdNonceSize + 8;  // id-nonce || enr-seq
// src-id(32) || sig-size(1) || eph-key-size(1), then the signature, key and optional record.
inline constexpr std::size_t kHandshakeAuthdataFixedSize = 34;
inline constexpr std::size_t kIdSignatureSize = 64;   // "v4" identity scheme: r || s
inline constexpr std::size_t kEphemeralKeySize = 33;  // compressed secp256k1 point
inline constexpr std::size_t kHandshakeAuthdataMinSize =
    kHandshakeAuthdataFixedSize + kIdSignatureSize + kEphemeralKeySize;
// The smallest valid packet is a WHOAREYOU; the largest any packet may be is 1280.
inline constexpr std::size_t kWhoareyouPacketSize =
    kMaskingIvSize + kStaticHeaderSize + kWhoareyouAuthdataSize;
inline constexpr std::size_t kMinPacketSize = kWhoareyouPacketSize;
inline constexpr std::size_t kMaxPacketSize = 1280;
static_assert(kMinPacketSize == 63);
// challenge-data = masking-iv || unmasked WHOAREYOU header (HKDF salt, id-signature input).
inline constexpr std::size_t kChallengeDataSize = kWhoareyouPacketSize;
// Where the GCM ciphertext of an ordinary message packet starts: an engine can encode the
// plaintext at this offset of the output buffer and have it sealed in place.
inline constexpr std::size_t kMessagePacketHeaderEnd =
    kMaskingIvSize + kStaticHeaderSize + kMessageAuthdataSize;
// A message needs a type byte and the 16-byte GCM tag.
inline constexpr std::size_t kMinMessageCiphertextSize = 1 + crypto::kGcmTagSize;
inline constexpr std::size_t kMaxReqIdSize = 8;
// FINDNODE distances are 0..256; more entries than distinct values is never honest.
inline constexpr std::size_t kMaxFindNodeDistances = 257;
inline constexpr std::uint16_t kMaxDistance = 256;
// Bytes of ENR RLP per NODES message (as geth): 1000 + ~110 bytes of framing < 1280.
inline constexpr std::size_t kNodesRecordBudget = 1000;

enum class Flag : std::uint8_t { kMessage = 0, kWhoareyou = 1, kHandshake = 2 };

using MaskingIv = ByteArray<kMaskingIvSize>;
using Nonce = ByteArray<kNonceSize>;
using IdNonce = ByteArray<kIdNonceSize>;
using ChallengeData = ByteArray<kChallengeDataSize>;

// ---- Errors ----------------------------------------------------------------------------------

enum class V5Error : std::uint8_t {
  // Framing: the datagram is not discv5 (or not for this version); see is_not_discv5().
  kTooSmall,       // < 63 bytes
  kTooLarge,       // > 1280 bytes (decode), or an encoded packet would exceed it
  kBadProtocolId,  // unmasked protocol-id is not "discv5" (wrong key or not discv5)
  kBadVersion,     // version != 0x0001
  // Header
  kBadFlag,            // flag not 0, 1 or 2
  kBadAuthSize,        // authdata-size past the end of the packet, or wrong for the flag
  kUnexpectedMessage,  // WHOAREYOU followed by message bytes
  kMessageTooShort,    // ciphertext shorter than type byte + tag
  kBadSigSize,         // handshake sig-size != 64
  kBadEphKeySize,      // handshake eph-key-size != 33
  // Message
  kDecryptFailed,     // GCM tag did not verify (the engine answers with WHOAREYOU)
  kEmptyMessage,      // no type byte
  kUnknownMessage,    // type not 1..6
  kBadRlp,            // message body is not the RLP list its type requires
  kBadReqId,          // request id longer than 8 bytes
  kBadIp,             // PONG recipient-ip not 4 or 16 bytes
  kBadPort,           // PONG recipient-port > 65535
  kBadDistance,       // FINDNODE distance > 256
  kTooManyDistances,  // FINDNODE with more than 257 entries
  kBadRecord,         // NODES element (or a record to encode) that is not an RLP list
  // Encoding and handshake
  kBufferTooSmall,   // caller buffer (scratch, plaintext or output) too small
  kBadArgument,      // wrong-sized input to an encoder
  kBadEphemeralKey,  // handshake ephemeral key does not parse / invalid private key
  kBadIdSignature,   // id-signature does not verify
  kEcdhFailed,
};
std::string_view to_string(V5Error e) noexcept;

// True for errors meaning "this datagram is not a discv5.1 packet addressed to us": a server
// that shares its port may hand such datagrams to another protocol.
[[nodiscard]] constexpr bool is_not_discv5(V5Error e) noexcept {
  return e == V5Error::kTooSmall || e == V5Error::kTooLarge || e == V5Error::kBadProtocolId ||
         e == V5Error::kBadVersion;
}

// ---- Header decoding -------------------------------------------------------------------------

// A decoded packet header. Views point into the packet (masking_iv, message) or into the
// scratch buffer given to decode_header (everything unmasked), which must outlive it.
struct Header {
  Flag flag = Flag::kMessage;
  Nonce nonce{};
  ByteView masking_iv;  // 16 bytes
  ByteView authdata;    // unmasked
  // masking-iv || unmasked static header || authdata: the GCM associated data of a message
  // or handshake packet, and the challenge-data of a WHOAREYOU packet.
  ByteView header_data;
  ByteView message;  // ciphertext || tag (empty for WHOAREYOU)

  NodeId src_id{};  // message and handshake packets
  // WHOAREYOU
  ByteView id_nonce;  // 16 bytes
  std::uint64_t enr_seq = 0;
  // Handshake
  ByteView id_signature;  // 64 bytes
  ByteView eph_pubkey;    // 33 bytes, compressed
  ByteView record;        // the sender's ENR as RLP, empty when absent
};

// Unmasks and checks a packet's header with the masker keyed by our own node id[0:16].
// Checks, cheapest first: size range, protocol id, version, flag, authdata-size (it must fit
// in the packet and match the flag), and per flag the shape of the authdata. `scratch` must
// hold at least packet.size() bytes (kMaxPacketSize always does).
// `prefix`, when given, holds the header's first bytes already unmasked by
// unmask_header_prefixes (one AES-CTR burst for a whole RX burst); decode_header then skips
// its own first unmasking. A prefix of the wrong size is ignored.
[[nodiscard]] Result<Header, V5Error> decode_header(ByteView packet,
                                                    const crypto::AesCtr128& own_id_masker,
                                                    MutableByteView scratch,
                                                    ByteView prefix = {}) noexcept;

// The first unmasking of a header: the static header plus a message packet's authdata (all of
// a message or WHOAREYOU header; a handshake header is unmasked again in full).
inline constexpr std::size_t kHeaderPrefixSize = kStaticHeaderSize + kMessageAuthdataSize;
struct HeaderPrefix {
  std::array<std::uint8_t, kHeaderPrefixSize> bytes;
  std::uint8_t size = 0;  // 0: none (packet outside the discv5 size range)
  ByteView view() const noexcept { return {bytes.data(), size}; }
};
// Unmasks the header prefix of every packet in one AES-CTR burst: out[i] for packets[i]
// (out.size() >= packets.size()). Packets outside [kMinPacketSize, kMaxPacketSize] get none.
void unmask_header_prefixes(std::span<const ByteView> packets,
                            const crypto::AesCtr128& own_id_masker,
                            std::span<HeaderPrefix> out) noexcept;

// The header-masking key for packets sent to `dest`: dest-node-id[0:16].
[[nodiscard]] inline crypto::AesKey masking_key(const NodeId& dest) noexcept {
  crypto::AesKey key;
  std::memcpy(key.data(), dest.data(), key.size());
  return key;
}

// Decrypts the message of a message or handshake packet into `plaintext_out` (at least
// header.message.size() - 16 bytes) and returns the plaintext view. kDecryptFailed when the
// tag does not verify; kMessageTooShort for a WHOAREYOU header (it carries no message).
[[nodiscard]] Result<ByteView, V5Error> open_message(const Header& header,
                                                     const crypto::AesGcm128& read_key,
                                                     MutableByteView plaintext_out) noexcept;

// ---- Packet encoding -------------------------------------------------------------------------
// Each returns the packet (a prefix of `out`). `plaintext` is message-type || RLP; it may
// already lie at its final place in `out` (in-place sealing) but must not overlap otherwise.

[[nodiscard]] Result<ByteView, V5Error> encode_message_packet(
    MutableByteView out, const crypto::AesCtr128& dest_masker, const NodeId& src_id,
    const Nonce& nonce, const MaskingIv& masking_iv, const crypto::AesGcm128& write_key,
    ByteView plaintext) noexcept;

struct WhoareyouPacket {
  ByteView packet;
  ChallengeData challenge_data;  // the engine keeps it to check the handshake
};
// `nonce` is the nonce of the packet that could not be decrypted.
[[nodiscard]] Result<WhoareyouPacket, V5Error> encode_whoareyou(
    MutableByteView out, const crypto::AesCtr128& dest_masker, const Nonce& nonce,
    const IdNonce& id_nonce, std::uint64_t enr_seq, const MaskingIv& masking_iv) noexcept;

// `record` is our ENR's RLP, or empty when the WHOAREYOU enr-seq shows the peer has it.
[[nodiscard]] Result<ByteView, V5Error> encode_handshake(
    MutableByteView out, const crypto::AesCtr128& dest_masker, const NodeId& src_id,
    const Nonce& nonce, const MaskingIv& masking_iv, const crypto::Signature& id_signature,
    const crypto::CompressedPublicKey& eph_pubkey, ByteView record,
    const crypto::AesGcm128& write_key, ByteView plaintext) noexcept;

// ---- Messages --------------------------------------------------------------------------------

enum class MessageType : std::uint8_t {
  kPing = 1,
  kPong = 2,
  kFindNode = 3,
  kNodes = 4,
  kTalkReq = 5,
  kTalkResp = 6,
};
std::string_view name(MessageType t) noexcept;  // "PING", ...

namespace detail {
// Iterates the elements of an RLP list payload that decode_message already validated, so
// stepping cannot fail. Project maps each rlp::Item to the value yielded.
template <class Project>
class ValidatedListIterator {
 public:
  using value_type = decltype(Project{}(rlp::Item{}));
  using difference_type = std::ptrdiff_t;
  using reference = value_type;  // yields values, like std::views::iota
  using pointer = void;
  using iterator_category = std::input_iterator_tag;
  using iterator_concept = std::forward_iterator_tag;

  ValidatedListIterator() noexcept = default;
  explicit ValidatedListIterator(ByteView rest) noexcept : rest_(rest) { load(); }
  value_type operator*() const noexcept { return Project{}(item_); }
  ValidatedListIterator& operator++() noexcept {
    rest_ = rest_.subspan(item_.encoded.size());
    load();
    return *this;
  }
  ValidatedListIterator operator++(int) noexcept {
    auto copy = *this;
    ++*this;
    return copy;
  }
  friend bool operator==(const ValidatedListIterator& a, const ValidatedListIterator& b) noexcept {
    return a.rest_.size() == b.rest_.size();  // both walk the same list
  }

 private:
  void load() noexcept {
    if (!rest_.empty()) {
      item_ = rlp::decode_prefix(rest_).value_or(rlp::Item{false, {}, rest_});
    }
  }
  ByteView rest_;
  rlp::Item item_;
};

struct ProjectDistance {
  std::uint16_t operator()(const rlp::Item& item) const noexcept {
    return static_cast<std::uint16_t>(rlp::to_uint64(item).value_or(0));
  }
};
struct ProjectEncoded {
  ByteView operator()(const rlp::Item& item) const noexcept { return item.encoded; }
};

template <class Project>
class ValidatedList {
 public:
  using iterator = ValidatedListIterator<Project>;
  ValidatedList() noexcept = default;
  ValidatedList(ByteView payload, std::size_t count) noexcept : payload_(payload), count_(count) {}
  iterator begin() const noexcept { return iterator(payload_); }
  iterator end() const noexcept { return iterator(payload_.last(0)); }
  std::size_t size() const noexcept { return count_; }
  bool empty() const noexcept { return count_ == 0; }
  ByteView payload() const noexcept { return payload_; }  // the list payload, as received

 private:
  ByteView payload_;
  std::size_t count_ = 0;
};
}  // namespace detail

// FINDNODE distances in the order received, each 0..256. Duplicates are kept: the engine
// skips them when it collects nodes (as geth does).
using DistanceList = detail::ValidatedList<detail::ProjectDistance>;
// NODES records: each element's full RLP (a list), to be decoded by the ENR layer.
using RecordList = detail::ValidatedList<detail::ProjectEncoded>;

struct Ping {
  ByteView req_id;
  std::uint64_t enr_seq = 0;
};
struct Pong {
  ByteView req_id;
  std::uint64_t enr_seq = 0;
  IpAddress recipient_ip;
  std::uint16_t recipient_port = 0;
};
struct FindNode {
  ByteView req_id;
  DistanceList distances;
};
// `total` is passed through as received; the spec says it is >= 1, the engine decides.
struct Nodes {
  ByteView req_id;
  std::uint64_t total = 0;
  RecordList records;
};
struct TalkReq {
  ByteView req_id;
  ByteView protocol;
  ByteView request;
};
struct TalkResp {
  ByteView req_id;
  ByteView response;
};

// Alternative index + 1 == the wire message type.
using Message = std::variant<Ping, Pong, FindNode, Nodes, TalkReq, TalkResp>;
inline MessageType type_of(const Message& m) noexcept {
  return static_cast<MessageType>(m.index() + 1);
}

// Decodes message-type || RLP list. Strict like geth: exactly the fields of the type (no extra
// list elements, no trailing bytes), canonical RLP, minimal integers.
[[nodiscard]] Result<Message, V5Error> decode_message(ByteView plaintext) noexcept;

// Message encoders write message-type || RLP into `out` and return that prefix.
[[nodiscard]] Result<ByteView, V5Error> encode_ping(MutableByteView out, ByteView req_id,
                                                    std::uint64_t enr_seq) noexcept;
[[nodiscard]] Result<ByteView, V5Error> encode_pong(MutableByteView out, ByteView req_id,
                                                    std::uint64_t enr_seq,
                                                    const IpAddress& recipient_ip,
                                                    std::uint16_t recipient_port) noexcept;
[[nodiscard]] Result<ByteView, V5Error> encode_findnode(
    MutableByteView out, ByteView req_id, std::span<const std::uint16_t> distances) noexcept;
// `records` are full ENR RLP lists.
[[nodiscard]] Result<ByteView, V5Error> encode_nodes(MutableByteView out, ByteView req_id,
                                                     std::uint64_t total,
                                                     std::span<const ByteView> records) noexcept;
[[nodiscard]] Result<ByteView, V5Error> encode_talkreq(MutableByteView out, ByteView req_id,
                                                       ByteView protocol,
                                                       ByteView request) noexcept;
[[nodiscard]] Result<ByteView, V5Error> encode_talkresp(MutableByteView out, ByteView req_id,
                                                        ByteView response) noexcept;

// ---- NODES splitting -------------------------------------------------------------------------
// Records are packed greedily, in order, into messages of at most `budget` bytes of record RLP
// (a single record larger than the budget gets a message of its own). An empty answer is one
// message with no records.

[[nodiscard]] std::size_t nodes_message_count(std::span<const ByteView> records,
                                              std::size_t budget = kNodesRecordBudget) noexcept;
// Encodes NODES message `index` (0 <= index < count) with total = nodes_message_count().
[[nodiscard]] Result<ByteView, V5Error> encode_nodes_part(
    MutableByteView out, ByteView req_id, std::span<const ByteView> records, std::size_t index,
    std::size_t budget = kNodesRecordBudget) noexcept;

// ---- Handshake crypto (discv5-theory.md) -----------------------------------------------------

struct SessionKeys {
  crypto::AesKey initiator_key;  // A -> B (A = the node that received WHOAREYOU)
  crypto::AesKey recipient_key;  // B -> A
};

// HKDF-SHA256(salt = challenge-data, IKM = secret, info = "discovery v5 key agreement" ||
// id-A || id-B, L = 32), split in two.
[[nodiscard]] SessionKeys derive_keys(const crypto::SharedSecret& secret, ByteView challenge_data,
                                      const NodeId& id_a, const NodeId& id_b) noexcept;

// sha256("discovery v5 identity proof" || challenge-data || eph-pubkey || id-B)
[[nodiscard]] Hash256 id_signature_digest(ByteView challenge_data, ByteView eph_pubkey,
                                          const NodeId& id_b) noexcept;
[[nodiscard]] crypto::Signature id_sign(const crypto::PrivateKey& static_key,
                                        ByteView challenge_data, ByteView eph_pubkey,
                                        const NodeId& id_b) noexcept;
[[nodiscard]] bool id_verify(const crypto::PublicKey& static_pubkey, ByteView signature,
                             ByteView challenge_data, ByteView eph_pubkey,
                             const NodeId& id_b) noexcept;

// Initiator (A) side, after a WHOAREYOU: `eph_key` comes from the engine's random source.
struct InitiatorHandshake {
  SessionKeys keys;
  crypto::CompressedPublicKey eph_pubkey;
  crypto::Signature id_signature;
};
[[nodiscard]] Result<InitiatorHandshake, V5Error> make_initiator_handshake(
    const crypto::PrivateKey& own_static_key, const crypto::PrivateKey& eph_key,
    const crypto::PublicKey& remote_static_pubkey, const NodeId& own_id, const NodeId& remote_id,
    ByteView challenge_data) noexcept;

// Recipient (B) side: checks the id-signature of a decoded handshake header against the
// sender's static key (from its record or our table) and derives the session keys.
[[nodiscard]] Result<SessionKeys, V5Error> accept_handshake(
    const Header& handshake, ByteView challenge_data, const crypto::PublicKey& remote_static_pubkey,
    const crypto::PrivateKey& own_static_key, const NodeId& own_id) noexcept;

}  // namespace discplane::v5wire
