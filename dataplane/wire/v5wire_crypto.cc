// discv5.1 handshake crypto (discv5-theory.md "Handshake"): session key derivation (HKDF),
// the id-signature (SHA-256, not keccak) and the initiator / recipient handshake steps.
// Keys and randomness come from the caller; nothing here keeps state.
#include <cstring>

#include "discplane/crypto/sha256.h"
#include "discplane/wire/v5wire.h"

namespace discplane::v5wire {
namespace {

constexpr std::string_view kKeyAgreementInfo = "discovery v5 key agreement";
constexpr std::string_view kIdentityProofPrefix = "discovery v5 identity proof";

}  // namespace

SessionKeys derive_keys(const crypto::SharedSecret& secret, ByteView challenge_data,
                        const NodeId& id_a, const NodeId& id_b) noexcept {
  ByteArray<kKeyAgreementInfo.size() + 2 * sizeof(NodeId)> info;
  std::memcpy(info.data(), kKeyAgreementInfo.data(), kKeyAgreementInfo.size());
  std::memcpy(info.data() + kKeyAgreementInfo.size(), id_a.data(), id_a.size());
  std::memcpy(info.data() + kKeyAgreementInfo.size() + id_a.size(), id_b.data(), id_b.size());
  ByteArray<32> key_data;
  crypto::hkdf_sha256(challenge_data, secret, info, key_data);
  SessionKeys keys;
  std::memcpy(keys.initiator_key.data(), key_data.data(), 16);
  std::memcpy(keys.recipient_key.data(), key_data.data() + 16, 16);
  return keys;
}

Hash256 id_signature_digest(ByteView challenge_data, ByteView eph_pubkey,
                            const NodeId& id_b) noexcept {
  crypto::Sha256 h;
  h.update(as_bytes(kIdentityProofPrefix));
  h.update(challenge_data);
  h.update(eph_pubkey);
  h.update(id_b);
  return h.finish();
}

crypto::Signature id_sign(const crypto::PrivateKey& static_key, ByteView challenge_data,
                          ByteView eph_pubkey, const NodeId& id_b) noexcept {
  return crypto::sign(static_key, id_signature_digest(challenge_data, eph_pubkey, id_b));
}

bool id_verify(const crypto::PublicKey& static_pubkey, ByteView signature, ByteView challenge_data,
               ByteView eph_pubkey, const NodeId& id_b) noexcept {
  if (signature.size() != kIdSignatureSize) {
    return false;
  }
  return crypto::verify(static_pubkey, signature,
                        id_signature_digest(challenge_data, eph_pubkey, id_b));
}

Result<InitiatorHandshake, V5Error> make_initiator_handshake(
    const crypto::PrivateKey& own_static_key, const crypto::PrivateKey& eph_key,
    const crypto::PublicKey& remote_static_pubkey, const NodeId& own_id, const NodeId& remote_id,
    ByteView challenge_data) noexcept {
  auto eph_pub = crypto::derive_public_key(eph_key);
  if (!eph_pub) {
    return fail(V5Error::kBadEphemeralKey);
  }
  auto secret = crypto::ecdh(remote_static_pubkey, eph_key);
  if (!secret) {
    return fail(V5Error::kEcdhFailed);
  }
  InitiatorHandshake hs;
  hs.eph_pubkey = crypto::compress(*eph_pub);
  hs.keys = derive_keys(*secret, challenge_data, own_id, remote_id);
  hs.id_signature = id_sign(own_static_key, challenge_data, hs.eph_pubkey, remote_id);
  return hs;
}

Result<SessionKeys, V5Error> accept_handshake(const Header& handshake, ByteView challenge_data,
                                              const crypto::PublicKey& remote_static_pubkey,
                                              const crypto::PrivateKey& own_static_key,
                                              const NodeId& own_id) noexcept {
  if (handshake.flag != Flag::kHandshake) {
    return fail(V5Error::kBadArgument);
  }
  // Signature first: it needs no key parsing and rejects forgeries before the ECDH.
  if (!id_verify(remote_static_pubkey, handshake.id_signature, challenge_data, handshake.eph_pubkey,
                 own_id)) {
    return fail(V5Error::kBadIdSignature);
  }
  auto eph_pub = crypto::parse_public_key(handshake.eph_pubkey);
  if (!eph_pub) {
    return fail(V5Error::kBadEphemeralKey);
  }
  auto secret = crypto::ecdh(*eph_pub, own_static_key);
  if (!secret) {
    return fail(V5Error::kEcdhFailed);
  }
  return derive_keys(*secret, challenge_data, handshake.src_id, own_id);
}

}  // namespace discplane::v5wire
