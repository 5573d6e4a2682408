// secp256k1 through libsecp256k1 (recovery + ECDH modules) with one long-lived,
// randomised context per process. Keys are kept as raw bytes so they can sit in
// tables and packets; parsing an uncompressed key costs ~0.1 us.
#pragma once

#include <string_view>

#include "discplane/common/bytes.h"
#include "discplane/common/result.h"

namespace discplane::crypto {

using PrivateKey = ByteArray<32>;
using PublicKey = ByteArray<64>;             // uncompressed, x || y (no 0x04 prefix)
using CompressedPublicKey = ByteArray<33>;   // 0x02/0x03 || x
using Signature = ByteArray<64>;             // r || s, low-s
using RecoverableSignature = ByteArray<65>;  // r || s || v, v in {0, 1}
using SharedSecret = ByteArray<33>;          // discv5: the compressed ECDH point

enum class CryptoError {
  kInvalidPrivateKey,
  kInvalidPublicKey,
  kInvalidSignature,
  kRecoveryFailed,
  kEcdhFailed,
};
std::string_view to_string(CryptoError e);

[[nodiscard]] bool is_valid_private_key(const PrivateKey& key) noexcept;
// Fresh key from the OS CSPRNG.
[[nodiscard]] PrivateKey generate_private_key();

[[nodiscard]] Result<PublicKey, CryptoError> derive_public_key(const PrivateKey& key) noexcept;
[[nodiscard]] CompressedPublicKey compress(const PublicKey& key) noexcept;
// Parses a 33-byte compressed or 64/65-byte uncompressed key.
[[nodiscard]] Result<PublicKey, CryptoError> parse_public_key(ByteView raw) noexcept;

// Node id = keccak256(x || y).
[[nodiscard]] NodeId node_id_of(const PublicKey& key) noexcept;

// ECDSA over a 32-byte digest; RFC6979 nonces (deterministic), low-s.
[[nodiscard]] RecoverableSignature sign_recoverable(const PrivateKey& key,
                                                    const Hash256& digest) noexcept;
[[nodiscard]] Result<PublicKey, CryptoError> recover(ByteView signature65,
                                                     const Hash256& digest) noexcept;
[[nodiscard]] Signature sign(const PrivateKey& key, const Hash256& digest) noexcept;
// Accepts only low-s signatures, like geth.
[[nodiscard]] bool verify(const PublicKey& key, ByteView signature64,
                          const Hash256& digest) noexcept;

// discv5 ECDH: the shared point in compressed form (not hashed).
[[nodiscard]] Result<SharedSecret, CryptoError> ecdh(const PublicKey& remote,
                                                     const PrivateKey& local) noexcept;

}  // namespace discplane::crypto
