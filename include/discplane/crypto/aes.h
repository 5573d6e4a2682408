// AES-128-GCM and AES-128-CTR through Intel IPsec-mb. Key schedules are computed
// once when an object is built and reused for every packet under that key
// (sessions keep their AesGcm128; the header-mask key of our own id is built once).
// The schedules are held inline, cache-line aligned, so that a holder (a discv5 session)
// keeps its keys next to its other hot fields: no pointer to chase, no allocation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "discplane/common/bytes.h"

namespace discplane::crypto {

using AesKey = ByteArray<16>;
inline constexpr std::size_t kGcmTagSize = 16;
inline constexpr std::size_t kGcmNonceSize = 12;

class AesGcm128 {
 public:
  explicit AesGcm128(const AesKey& key) noexcept;
  AesGcm128(const AesGcm128&) noexcept = default;  // copies the schedule (1 KB)
  AesGcm128& operator=(const AesGcm128&) noexcept = default;
  ~AesGcm128();  // wipes the schedule

  // out.size() must be plaintext.size() + 16 (ciphertext || tag). In-place allowed.
  void seal(ByteView nonce12, ByteView ad, ByteView plaintext, MutableByteView out) const noexcept;
  // in = ciphertext || tag; out.size() >= in.size() - 16. Returns false when the tag
  // does not verify (out is then unspecified) or in is shorter than a tag.
  [[nodiscard]] bool open(ByteView nonce12, ByteView ad, ByteView in,
                          MutableByteView out) const noexcept;

 private:
  // IPsec-mb's gcm_key_data (round keys, then the GHASH key powers); aes.cc checks the size.
  static constexpr std::size_t kKeyDataSize = 1008;
  alignas(64) std::uint8_t key_data_[kKeyDataSize];
};

// AES-128-CTR with a 16-byte IV (the discv5 masking-iv is the full initial counter block).
class AesCtr128 {
 public:
  explicit AesCtr128(const AesKey& key) noexcept;
  AesCtr128(const AesCtr128&) noexcept = default;
  AesCtr128& operator=(const AesCtr128&) noexcept = default;
  ~AesCtr128();  // wipes the schedule
  // out.size() == in.size(); in-place allowed.
  void apply(ByteView iv16, ByteView in, MutableByteView out) const noexcept;

  // Many independent messages under this key, each with its own IV, in one IPsec-mb cipher
  // burst (up to 32 per call into the library): ~15 ns per 55-byte discv5 header instead of
  // ~30 ns one at a time. Each job's in/out as in apply(); empty jobs are skipped.
  struct Job {
    const std::uint8_t* iv16;
    const std::uint8_t* in;
    std::uint8_t* out;
    std::size_t length;
  };
  void apply_burst(std::span<const Job> jobs) const noexcept;

 private:
  // The 11 round keys of AES-128 encryption (CTR never decrypts).
  static constexpr std::size_t kRoundKeysSize = 11 * 16;
  alignas(16) std::uint8_t enc_keys_[kRoundKeysSize];
};

// Which IPsec-mb code path was chosen at start ("avx512", "avx2", "sse", ...).
const char* aes_implementation_name() noexcept;

}  // namespace discplane::crypto
