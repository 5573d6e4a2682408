// secp256k1 keys, ECDSA (recoverable and plain) and the discv5 ECDH on libsecp256k1.
// One process-wide context, created and randomised (blinding against side channels) on
// first use; after that it is only read, which libsecp256k1 allows from any thread.
// Keys cross this API as raw bytes; parsing a 64-byte key back costs ~0.13 us.
#include "discplane/crypto/secp256k1.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <secp256k1.h>
#include <secp256k1_ecdh.h>
#include <secp256k1_recovery.h>

#include "discplane/crypto/keccak.h"
#include "discplane/crypto/random.h"

namespace discplane::crypto {
namespace {

const secp256k1_context* context() noexcept {
  static const secp256k1_context* const ctx = [] {
    secp256k1_context* c = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    std::uint8_t seed[32];
    os_random(MutableByteView(seed, sizeof seed));
    if (c == nullptr || secp256k1_context_randomize(c, seed) != 1) {
      std::fprintf(stderr, "discplane: secp256k1 context setup failed\n");
      std::abort();
    }
    std::memset(seed, 0, sizeof seed);
    return c;
  }();
  return ctx;
}

// Uncompressed x || y (no prefix) -> libsecp256k1's internal form.
bool parse_raw64(const PublicKey& key, secp256k1_pubkey& out) noexcept {
  std::uint8_t buf[65];
  buf[0] = 0x04;
  std::memcpy(buf + 1, key.data(), 64);
  return secp256k1_ec_pubkey_parse(context(), &out, buf, sizeof buf) == 1;
}

PublicKey serialize_raw64(const secp256k1_pubkey& key) noexcept {
  std::uint8_t buf[65];
  std::size_t len = sizeof buf;
  secp256k1_ec_pubkey_serialize(context(), buf, &len, &key, SECP256K1_EC_UNCOMPRESSED);
  PublicKey out;
  std::memcpy(out.data(), buf + 1, 64);
  return out;
}

// ECDH "hash" that returns the shared point itself, compressed: 0x02/0x03 || x.
int compressed_point(unsigned char* output, const unsigned char* x32, const unsigned char* y32,
                     void* /*data*/) {
  output[0] = static_cast<unsigned char>(0x02 | (y32[31] & 1));
  std::memcpy(output + 1, x32, 32);
  return 1;
}

}  // namespace

std::string_view to_string(CryptoError e) {
  switch (e) {
    case CryptoError::kInvalidPrivateKey:
      return "invalid private key";
    case CryptoError::kInvalidPublicKey:
      return "invalid public key";
    case CryptoError::kInvalidSignature:
      return "invalid signature";
    case CryptoError::kRecoveryFailed:
      return "public key recovery failed";
    case CryptoError::kEcdhFailed:
      return "ECDH failed";
  }
  return "unknown crypto error";
}

bool is_valid_private_key(const PrivateKey& key) noexcept {
  return secp256k1_ec_seckey_verify(context(), key.data()) == 1;
}

PrivateKey generate_private_key() {
  PrivateKey key;
  do {  // a random 32-byte string is >= n or zero with probability ~2^-128
    os_random(key);
  } while (!is_valid_private_key(key));
  return key;
}

Result<PublicKey, CryptoError> derive_public_key(const PrivateKey& key) noexcept {
  secp256k1_pubkey pub;
  if (secp256k1_ec_pubkey_create(context(), &pub, key.data()) != 1) {
    return fail(CryptoError::kInvalidPrivateKey);
  }
  return serialize_raw64(pub);
}

CompressedPublicKey compress(const PublicKey& key) noexcept {
  // Pure byte shuffle: the parity of y picks the prefix. No curve check (the key is
  // assumed to come from parse_public_key or derive_public_key).
  CompressedPublicKey out;
  out[0] = static_cast<std::uint8_t>(0x02 | (key[63] & 1));
  std::memcpy(out.data() + 1, key.data(), 32);
  return out;
}

Result<PublicKey, CryptoError> parse_public_key(ByteView raw) noexcept {
  secp256k1_pubkey pub;
  if (raw.size() == 64) {
    if (!parse_raw64(to_array<64>(raw), pub)) {
      return fail(CryptoError::kInvalidPublicKey);
    }
    // parse_raw64 checked the point is on the curve; the bytes are already canonical.
    return to_array<64>(raw);
  }
  if (raw.size() == 65 && raw[0] != 0x04) {
    return fail(CryptoError::kInvalidPublicKey);  // no hybrid (0x06/0x07) encodings
  }
  if ((raw.size() != 33 && raw.size() != 65) ||
      secp256k1_ec_pubkey_parse(context(), &pub, raw.data(), raw.size()) != 1) {
    return fail(CryptoError::kInvalidPublicKey);
  }
  return serialize_raw64(pub);
}

NodeId node_id_of(const PublicKey& key) noexcept {
  return keccak256(key);
}

RecoverableSignature sign_recoverable(const PrivateKey& key, const Hash256& digest) noexcept {
  RecoverableSignature out{};
  secp256k1_ecdsa_recoverable_signature sig;
  // nullptr nonce function = RFC6979; libsecp256k1 always produces low-s.
  if (secp256k1_ecdsa_sign_recoverable(context(), &sig, digest.data(), key.data(), nullptr,
                                       nullptr) != 1) {
    return out;  // invalid key: all zeros, which recover() and verify() reject
  }
  int recid = 0;
  secp256k1_ecdsa_recoverable_signature_serialize_compact(context(), out.data(), &recid, &sig);
  out[64] = static_cast<std::uint8_t>(recid);
  return out;
}

Result<PublicKey, CryptoError> recover(ByteView signature65, const Hash256& digest) noexcept {
  if (signature65.size() != 65 || signature65[64] > 1) {
    return fail(CryptoError::kInvalidSignature);
  }
  // recid 2/3 (r >= n - p) never occurs in practice and geth rejects it too. High-s is
  // accepted here, as geth's Ecrecover does: the EIP-8 vectors were not signed low-s.
  secp256k1_ecdsa_recoverable_signature sig;
  if (secp256k1_ecdsa_recoverable_signature_parse_compact(context(), &sig, signature65.data(),
                                                          signature65[64]) != 1) {
    return fail(CryptoError::kInvalidSignature);
  }
  secp256k1_pubkey pub;
  if (secp256k1_ecdsa_recover(context(), &pub, &sig, digest.data()) != 1) {
    return fail(CryptoError::kRecoveryFailed);
  }
  return serialize_raw64(pub);
}

Signature sign(const PrivateKey& key, const Hash256& digest) noexcept {
  Signature out{};
  secp256k1_ecdsa_signature sig;
  if (secp256k1_ecdsa_sign(context(), &sig, digest.data(), key.data(), nullptr, nullptr) != 1) {
    return out;  // invalid key: all zeros, which verify() rejects
  }
  secp256k1_ecdsa_signature_serialize_compact(context(), out.data(), &sig);
  return out;
}

bool verify(const PublicKey& key, ByteView signature64, const Hash256& digest) noexcept {
  if (signature64.size() != 64) {
    return false;
  }
  secp256k1_ecdsa_signature sig;
  if (secp256k1_ecdsa_signature_parse_compact(context(), &sig, signature64.data()) != 1) {
    return false;
  }
  // normalize() returns 1 when s was high: reject malleable signatures explicitly
  // (secp256k1_ecdsa_verify would refuse them too, this states the rule).
  if (secp256k1_ecdsa_signature_normalize(context(), nullptr, &sig) == 1) {
    return false;
  }
  secp256k1_pubkey pub;
  if (!parse_raw64(key, pub)) {
    return false;
  }
  return secp256k1_ecdsa_verify(context(), &sig, digest.data(), &pub) == 1;
}

Result<SharedSecret, CryptoError> ecdh(const PublicKey& remote, const PrivateKey& local) noexcept {
  secp256k1_pubkey pub;
  if (!parse_raw64(remote, pub)) {
    return fail(CryptoError::kInvalidPublicKey);
  }
  SharedSecret out;
  if (secp256k1_ecdh(context(), out.data(), &pub, local.data(), compressed_point, nullptr) != 1) {
    return fail(CryptoError::kEcdhFailed);  // local key zero or >= n
  }
  return out;
}

}  // namespace discplane::crypto
