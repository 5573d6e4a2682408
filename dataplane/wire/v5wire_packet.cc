// discv5.1 packet framing: header unmasking and checks, message sealing and opening, and the
// three packet encoders. Message bodies live in v5wire_message.cc, handshake crypto in
// v5wire_crypto.cc. No allocation; every function is noexcept.
#include <algorithm>
#include <array>
#include <cstring>

#include "discplane/wire/v5wire.h"

namespace discplane::v5wire {
namespace {

constexpr std::size_t kFlagOffset = 8;
constexpr std::size_t kNonceOffset = 9;
constexpr std::size_t kAuthSizeOffset = kNonceOffset + kNonceSize;
// The first unmasking covers the static header plus a message packet's authdata: one AES-CTR
// call for the common case (message packets), and enough for a WHOAREYOU too.
constexpr std::size_t kFirstUnmaskSize = kHeaderPrefixSize;

std::uint16_t load_be16(const std::uint8_t* p) noexcept {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}

std::uint64_t load_be64(const std::uint8_t* p) noexcept {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) {
    v = (v << 8) | p[i];
  }
  return v;
}

void store_be64(std::uint8_t* p, std::uint64_t v) noexcept {
  for (int i = 7; i >= 0; --i) {
    p[i] = static_cast<std::uint8_t>(v);
    v >>= 8;
  }
}

// Writes masking-iv || static header at out[0, 16 + 23).
void write_static_header(std::uint8_t* out, const MaskingIv& masking_iv, Flag flag,
                         const Nonce& nonce, std::size_t authdata_size) noexcept {
  std::memcpy(out, masking_iv.data(), kMaskingIvSize);
  std::uint8_t* h = out + kMaskingIvSize;
  std::memcpy(h, kProtocolId.data(), kProtocolId.size());
  h[6] = static_cast<std::uint8_t>(kVersion >> 8);
  h[7] = static_cast<std::uint8_t>(kVersion);
  h[kFlagOffset] = static_cast<std::uint8_t>(flag);
  std::memcpy(h + kNonceOffset, nonce.data(), kNonceSize);
  h[kAuthSizeOffset] = static_cast<std::uint8_t>(authdata_size >> 8);
  h[kAuthSizeOffset + 1] = static_cast<std::uint8_t>(authdata_size);
}

// Given out[0, 16 + header_size) = masking-iv || unmasked header: seals the plaintext after
// it (AD = that prefix) and then masks the header in place.
Result<ByteView, V5Error> seal_and_mask(MutableByteView out, std::size_t header_size,
                                        const crypto::AesCtr128& dest_masker, const Nonce& nonce,
                                        const crypto::AesGcm128& write_key,
                                        ByteView plaintext) noexcept {
  const std::size_t head = kMaskingIvSize + header_size;
  const std::size_t total = head + plaintext.size() + crypto::kGcmTagSize;
  write_key.seal(nonce, out.first(head), plaintext, out.subspan(head, total - head));
  dest_masker.apply(out.first(kMaskingIvSize), out.subspan(kMaskingIvSize, header_size),
                    out.subspan(kMaskingIvSize, header_size));
  return ByteView(out.data(), total);
}

Result<void, V5Error> check_output(MutableByteView out, std::size_t header_size,
                                   ByteView plaintext) noexcept {
  if (plaintext.empty()) {
    return fail(V5Error::kEmptyMessage);
  }
  const std::size_t total = kMaskingIvSize + header_size + plaintext.size() + crypto::kGcmTagSize;
  if (total > kMaxPacketSize) {
    return fail(V5Error::kTooLarge);
  }
  if (out.size() < total) {
    return fail(V5Error::kBufferTooSmall);
  }
  // The plaintext may sit exactly where the ciphertext goes (in-place) or elsewhere, but must
  // not overlap the header or partially overlap the ciphertext.
  const std::uint8_t* p = plaintext.data();
  const std::uint8_t* cipher = out.data() + kMaskingIvSize + header_size;
  const bool overlaps = p < out.data() + total && p + plaintext.size() > out.data();
  if (overlaps && p != cipher) {
    return fail(V5Error::kBadArgument);
  }
  return {};
}

}  // namespace

std::string_view to_string(V5Error e) noexcept {
  switch (e) {
    case V5Error::kTooSmall:
      return "packet too small";
    case V5Error::kTooLarge:
      return "packet too large";
    case V5Error::kBadProtocolId:
      return "bad protocol id";
    case V5Error::kBadVersion:
      return "bad protocol version";
    case V5Error::kBadFlag:
      return "unknown packet flag";
    case V5Error::kBadAuthSize:
      return "bad authdata size";
    case V5Error::kUnexpectedMessage:
      return "WHOAREYOU with message data";
    case V5Error::kMessageTooShort:
      return "message ciphertext too short";
    case V5Error::kBadSigSize:
      return "bad handshake signature size";
    case V5Error::kBadEphKeySize:
      return "bad handshake ephemeral key size";
    case V5Error::kDecryptFailed:
      return "message decryption failed";
    case V5Error::kEmptyMessage:
      return "empty message";
    case V5Error::kUnknownMessage:
      return "unknown message type";
    case V5Error::kBadRlp:
      return "malformed message RLP";
    case V5Error::kBadReqId:
      return "request id longer than 8 bytes";
    case V5Error::kBadIp:
      return "bad recipient ip";
    case V5Error::kBadPort:
      return "bad recipient port";
    case V5Error::kBadDistance:
      return "FINDNODE distance over 256";
    case V5Error::kTooManyDistances:
      return "too many FINDNODE distances";
    case V5Error::kBadRecord:
      return "record is not an RLP list";
    case V5Error::kBufferTooSmall:
      return "buffer too small";
    case V5Error::kBadArgument:
      return "bad argument";
    case V5Error::kBadEphemeralKey:
      return "bad ephemeral key";
    case V5Error::kBadIdSignature:
      return "id signature does not verify";
    case V5Error::kEcdhFailed:
      return "ECDH failed";
  }
  return "unknown V5Error";
}

void unmask_header_prefixes(std::span<const ByteView> packets,
                            const crypto::AesCtr128& own_id_masker,
                            std::span<HeaderPrefix> out) noexcept {
  constexpr std::size_t kChunk = 32;
  std::array<crypto::AesCtr128::Job, kChunk> jobs;
  std::size_t n = 0;
  for (std::size_t i = 0; i < packets.size() && i < out.size(); ++i) {
    const ByteView p = packets[i];
    if (p.size() < kMinPacketSize || p.size() > kMaxPacketSize) {
      out[i].size = 0;
      continue;
    }
    const std::size_t len = std::min(p.size() - kMaskingIvSize, kFirstUnmaskSize);
    out[i].size = static_cast<std::uint8_t>(len);
    jobs[n++] = {p.data(), p.data() + kMaskingIvSize, out[i].bytes.data(), len};
    if (n == kChunk) {
      own_id_masker.apply_burst(std::span(jobs.data(), n));
      n = 0;
    }
  }
  own_id_masker.apply_burst(std::span(jobs.data(), n));
}

Result<Header, V5Error> decode_header(ByteView packet, const crypto::AesCtr128& own_id_masker,
                                      MutableByteView scratch, ByteView prefix) noexcept {
  if (packet.size() < kMinPacketSize) {
    return fail(V5Error::kTooSmall);
  }
  if (packet.size() > kMaxPacketSize) {
    return fail(V5Error::kTooLarge);
  }
  if (scratch.size() < packet.size()) {
    return fail(V5Error::kBufferTooSmall);
  }
  const ByteView iv = packet.first(kMaskingIvSize);
  const ByteView masked = packet.subspan(kMaskingIvSize);  // >= 47 bytes
  std::uint8_t* const s = scratch.data();
  std::uint8_t* const h = s + kMaskingIvSize;
  std::memcpy(s, iv.data(), kMaskingIvSize);

  std::size_t unmasked = std::min(masked.size(), kFirstUnmaskSize);
  if (prefix.size() == unmasked) {
    std::memcpy(h, prefix.data(), unmasked);  // unmasked with the rest of the burst
  } else {
    own_id_masker.apply(iv, masked.first(unmasked), {h, unmasked});
  }

  if (std::memcmp(h, kProtocolId.data(), kProtocolId.size()) != 0) {
    return fail(V5Error::kBadProtocolId);
  }
  if (load_be16(h + kProtocolId.size()) != kVersion) {
    return fail(V5Error::kBadVersion);
  }
  const std::uint8_t flag = h[kFlagOffset];
  if (flag > static_cast<std::uint8_t>(Flag::kHandshake)) {
    return fail(V5Error::kBadFlag);
  }
  const std::size_t auth_size = load_be16(h + kAuthSizeOffset);
  const std::size_t header_size = kStaticHeaderSize + auth_size;
  if (header_size > masked.size()) {
    return fail(V5Error::kBadAuthSize);
  }

  Header out;
  out.flag = static_cast<Flag>(flag);
  std::memcpy(out.nonce.data(), h + kNonceOffset, kNonceSize);
  out.masking_iv = iv;
  out.message = masked.subspan(header_size);
  const std::uint8_t* const auth = h + kStaticHeaderSize;

  switch (out.flag) {
    case Flag::kMessage:
      if (auth_size != kMessageAuthdataSize) {
        return fail(V5Error::kBadAuthSize);
      }
      if (out.message.size() < kMinMessageCiphertextSize) {
        return fail(V5Error::kMessageTooShort);
      }
      std::memcpy(out.src_id.data(), auth, out.src_id.size());
      break;
    case Flag::kWhoareyou:
      if (auth_size != kWhoareyouAuthdataSize) {
        return fail(V5Error::kBadAuthSize);
      }
      if (!out.message.empty()) {
        return fail(V5Error::kUnexpectedMessage);
      }
      out.id_nonce = ByteView(auth, kIdNonceSize);
      out.enr_seq = load_be64(auth + kIdNonceSize);
      break;
    case Flag::kHandshake: {
      if (auth_size < kHandshakeAuthdataMinSize) {
        return fail(V5Error::kBadAuthSize);
      }
      // The rest of the authdata lies past the first unmasking: unmask the whole header
      // again in one call (CTR restarts at the masking-iv).
      unmasked = header_size;
      own_id_masker.apply(iv, masked.first(unmasked), {h, unmasked});
      const std::size_t sig_size = auth[32];
      const std::size_t key_size = auth[33];
      if (sig_size != kIdSignatureSize) {
        return fail(V5Error::kBadSigSize);
      }
      if (key_size != kEphemeralKeySize) {
        return fail(V5Error::kBadEphKeySize);
      }
      if (out.message.size() < kMinMessageCiphertextSize) {
        return fail(V5Error::kMessageTooShort);
      }
      std::memcpy(out.src_id.data(), auth, out.src_id.size());
      const std::uint8_t* p = auth + kHandshakeAuthdataFixedSize;
      out.id_signature = ByteView(p, kIdSignatureSize);
      p += kIdSignatureSize;
      out.eph_pubkey = ByteView(p, kEphemeralKeySize);
      p += kEphemeralKeySize;
      out.record = ByteView(p, auth + auth_size);
      break;
    }
  }
  out.authdata = ByteView(auth, auth_size);
  out.header_data = ByteView(s, kMaskingIvSize + header_size);
  return out;
}

Result<ByteView, V5Error> open_message(const Header& header, const crypto::AesGcm128& read_key,
                                       MutableByteView plaintext_out) noexcept {
  if (header.flag == Flag::kWhoareyou || header.message.size() < kMinMessageCiphertextSize) {
    return fail(V5Error::kMessageTooShort);
  }
  const std::size_t size = header.message.size() - crypto::kGcmTagSize;
  if (plaintext_out.size() < size) {
    return fail(V5Error::kBufferTooSmall);
  }
  if (!read_key.open(header.nonce, header.header_data, header.message, plaintext_out)) {
    return fail(V5Error::kDecryptFailed);
  }
  return ByteView(plaintext_out.data(), size);
}

Result<ByteView, V5Error> encode_message_packet(MutableByteView out,
                                                const crypto::AesCtr128& dest_masker,
                                                const NodeId& src_id, const Nonce& nonce,
                                                const MaskingIv& masking_iv,
                                                const crypto::AesGcm128& write_key,
                                                ByteView plaintext) noexcept {
  constexpr std::size_t header_size = kStaticHeaderSize + kMessageAuthdataSize;
  if (auto ok = check_output(out, header_size, plaintext); !ok) {
    return fail(ok.error());
  }
  write_static_header(out.data(), masking_iv, Flag::kMessage, nonce, kMessageAuthdataSize);
  std::memcpy(out.data() + kMaskingIvSize + kStaticHeaderSize, src_id.data(), src_id.size());
  return seal_and_mask(out, header_size, dest_masker, nonce, write_key, plaintext);
}

Result<WhoareyouPacket, V5Error> encode_whoareyou(MutableByteView out,
                                                  const crypto::AesCtr128& dest_masker,
                                                  const Nonce& nonce, const IdNonce& id_nonce,
                                                  std::uint64_t enr_seq,
                                                  const MaskingIv& masking_iv) noexcept {
  if (out.size() < kWhoareyouPacketSize) {
    return fail(V5Error::kBufferTooSmall);
  }
  WhoareyouPacket result;
  std::uint8_t* c = result.challenge_data.data();
  write_static_header(c, masking_iv, Flag::kWhoareyou, nonce, kWhoareyouAuthdataSize);
  std::uint8_t* auth = c + kMaskingIvSize + kStaticHeaderSize;
  std::memcpy(auth, id_nonce.data(), kIdNonceSize);
  store_be64(auth + kIdNonceSize, enr_seq);

  std::memcpy(out.data(), masking_iv.data(), kMaskingIvSize);
  constexpr std::size_t header_size = kWhoareyouPacketSize - kMaskingIvSize;
  dest_masker.apply(masking_iv, ByteView(c + kMaskingIvSize, header_size),
                    out.subspan(kMaskingIvSize, header_size));
  result.packet = ByteView(out.data(), kWhoareyouPacketSize);
  return result;
}

Result<ByteView, V5Error> encode_handshake(
    MutableByteView out, const crypto::AesCtr128& dest_masker, const NodeId& src_id,
    const Nonce& nonce, const MaskingIv& masking_iv, const crypto::Signature& id_signature,
    const crypto::CompressedPublicKey& eph_pubkey, ByteView record,
    const crypto::AesGcm128& write_key, ByteView plaintext) noexcept {
  const std::size_t auth_size = kHandshakeAuthdataMinSize + record.size();
  const std::size_t header_size = kStaticHeaderSize + auth_size;
  if (header_size > kMaxPacketSize) {
    return fail(V5Error::kTooLarge);
  }
  if (!record.empty() && record[0] < 0xc0) {
    return fail(V5Error::kBadRecord);
  }
  if (auto ok = check_output(out, header_size, plaintext); !ok) {
    return fail(ok.error());
  }
  write_static_header(out.data(), masking_iv, Flag::kHandshake, nonce, auth_size);
  std::uint8_t* p = out.data() + kMaskingIvSize + kStaticHeaderSize;
  std::memcpy(p, src_id.data(), src_id.size());
  p[32] = static_cast<std::uint8_t>(kIdSignatureSize);
  p[33] = static_cast<std::uint8_t>(kEphemeralKeySize);
  p += kHandshakeAuthdataFixedSize;
  std::memcpy(p, id_signature.data(), kIdSignatureSize);
  p += kIdSignatureSize;
  std::memcpy(p, eph_pubkey.data(), kEphemeralKeySize);
  p += kEphemeralKeySize;
  if (!record.empty()) {
    std::memcpy(p, record.data(), record.size());
  }
  return seal_and_mask(out, header_size, dest_masker, nonce, write_key, plaintext);
}

}  // namespace discplane::v5wire
