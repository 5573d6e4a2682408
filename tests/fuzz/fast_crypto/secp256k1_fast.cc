// FUZZING ONLY: a stand-in for dataplane/crypto/secp256k1.cc with the same API, linked into
// fuzz_engine_fast instead of the real one (never into discplane, discctl or a test). It is
// not cryptography: keys, signatures and shared secrets are keccak-256 constructions, so a
// structured input that signs, verifies and runs a discv5 handshake costs microseconds
// instead of milliseconds, and the engine target reaches millions of executions. Everything
// around it runs for real: RLP, ENR, the discv4 and discv5 codecs, AES-GCM/CTR, SHA-256/HKDF,
// keccak, the engine. The stand-in keeps the properties the engine and the peers rely on:
//   - deterministic: the same key and digest give the same signature;
//   - public keys have a validity rule (y = keccak256(x) with the parity bit free), so a
//     random 64-byte key is refused and compress / parse round-trip;
//   - sign_recoverable / recover round-trip, and a changed signature or digest recovers
//     another key (as ecrecover does), or fails (v > 1, r or s zero);
//   - verify accepts exactly what sign produced for that key and digest;
//   - ecdh(pub(A), priv(B)) == ecdh(pub(B), priv(A)).
// Real-key inputs (the test vectors) fail verification here; the scripted peers of
// engine_fuzz.cc sign with this file too, so their bonds and handshakes succeed.
#include <cstring>

#include "discplane/crypto/keccak.h"
#include "discplane/crypto/random.h"
#include "discplane/crypto/secp256k1.h"

namespace discplane::crypto {
namespace {

Hash256 hash_of(ByteView a, ByteView b = {}, std::uint8_t tag = 0) noexcept {
  Keccak256 h;
  h.update(ByteView(&tag, 1));
  h.update(a);
  h.update(b);
  return h.finish();
}

// The one y that goes with x, up to its parity bit.
PublicKey point_of(ByteView x, std::uint8_t parity) noexcept {
  PublicKey key{};
  std::memcpy(key.data(), x.data(), 32);
  const Hash256 y = hash_of(x, {}, 1);
  std::memcpy(key.data() + 32, y.data(), 32);
  key[63] = static_cast<std::uint8_t>((key[63] & 0xfe) | (parity & 1));
  return key;
}

bool on_curve(const PublicKey& key) noexcept {
  return point_of(ByteView(key.data(), 32), key[63]) == key;
}

bool all_zero(ByteView v) noexcept {
  for (std::uint8_t b : v) {
    if (b != 0) {
      return false;
    }
  }
  return true;
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
  return !all_zero(key);
}

PrivateKey generate_private_key() {
  PrivateKey key;
  do {
    os_random(key);
  } while (!is_valid_private_key(key));
  return key;
}

Result<PublicKey, CryptoError> derive_public_key(const PrivateKey& key) noexcept {
  if (!is_valid_private_key(key)) {
    return fail(CryptoError::kInvalidPrivateKey);
  }
  const Hash256 x = hash_of(key, {}, 2);
  return point_of(x, x[0]);
}

CompressedPublicKey compress(const PublicKey& key) noexcept {
  CompressedPublicKey out;
  out[0] = static_cast<std::uint8_t>(0x02 | (key[63] & 1));
  std::memcpy(out.data() + 1, key.data(), 32);
  return out;
}

Result<PublicKey, CryptoError> parse_public_key(ByteView raw) noexcept {
  if (raw.size() == 64) {
    const PublicKey key = to_array<64>(raw);
    if (!on_curve(key)) {
      return fail(CryptoError::kInvalidPublicKey);
    }
    return key;
  }
  if (raw.size() == 65) {
    if (raw[0] != 0x04) {
      return fail(CryptoError::kInvalidPublicKey);
    }
    return parse_public_key(raw.subspan(1));
  }
  if (raw.size() == 33 && (raw[0] == 0x02 || raw[0] == 0x03)) {
    return point_of(raw.subspan(1), raw[0]);
  }
  return fail(CryptoError::kInvalidPublicKey);
}

NodeId node_id_of(const PublicKey& key) noexcept {
  return keccak256(key);
}

// r = x ^ H(digest) ^ s, s = H(key, digest), v = parity of y: recover() gets x back from any
// r and s, so a changed signature names another signer, as with ECDSA.
RecoverableSignature sign_recoverable(const PrivateKey& key, const Hash256& digest) noexcept {
  RecoverableSignature out{};
  auto pub = derive_public_key(key);
  if (!pub) {
    return out;
  }
  const Hash256 s = hash_of(key, digest, 3);
  const Hash256 mask = hash_of(digest, {}, 4);
  for (std::size_t i = 0; i < 32; ++i) {
    out[i] = static_cast<std::uint8_t>((*pub)[i] ^ mask[i] ^ s[i]);
  }
  std::memcpy(out.data() + 32, s.data(), 32);
  out[64] = static_cast<std::uint8_t>((*pub)[63] & 1);
  return out;
}

Result<PublicKey, CryptoError> recover(ByteView signature65, const Hash256& digest) noexcept {
  if (signature65.size() != 65 || signature65[64] > 1) {
    return fail(CryptoError::kInvalidSignature);
  }
  if (all_zero(signature65.subspan(0, 32)) || all_zero(signature65.subspan(32, 32))) {
    return fail(CryptoError::kInvalidSignature);
  }
  const Hash256 mask = hash_of(digest, {}, 4);
  std::uint8_t x[32];
  for (std::size_t i = 0; i < 32; ++i) {
    x[i] = static_cast<std::uint8_t>(signature65[i] ^ mask[i] ^ signature65[32 + i]);
  }
  return point_of(ByteView(x, 32), signature65[64]);
}

Signature sign(const PrivateKey& key, const Hash256& digest) noexcept {
  Signature out{};
  auto pub = derive_public_key(key);
  if (!pub) {
    return out;
  }
  const Hash256 r = hash_of(*pub, digest, 5);
  const Hash256 s = hash_of(digest, *pub, 6);
  std::memcpy(out.data(), r.data(), 32);
  std::memcpy(out.data() + 32, s.data(), 32);
  return out;
}

bool verify(const PublicKey& key, ByteView signature64, const Hash256& digest) noexcept {
  if (signature64.size() != 64 || !on_curve(key)) {
    return false;
  }
  const Hash256 r = hash_of(key, digest, 5);
  const Hash256 s = hash_of(digest, key, 6);
  return std::memcmp(signature64.data(), r.data(), 32) == 0 &&
         std::memcmp(signature64.data() + 32, s.data(), 32) == 0;
}

// The secret depends on both public keys, in an order both sides agree on.
Result<SharedSecret, CryptoError> ecdh(const PublicKey& remote, const PrivateKey& local) noexcept {
  if (!on_curve(remote)) {
    return fail(CryptoError::kInvalidPublicKey);
  }
  auto own = derive_public_key(local);
  if (!own) {
    return fail(CryptoError::kEcdhFailed);
  }
  const bool own_first = std::memcmp(own->data(), remote.data(), 64) < 0;
  const Hash256 h = own_first ? hash_of(*own, remote, 7) : hash_of(remote, *own, 7);
  SharedSecret out;
  out[0] = static_cast<std::uint8_t>(0x02 | (h[31] & 1));
  std::memcpy(out.data() + 1, h.data(), 32);
  return out;
}

}  // namespace discplane::crypto
