// Keccak-256 (the pre-standard padding 0x01 used by Ethereum, not SHA3-256).
#pragma once

#include "discplane/common/bytes.h"

namespace discplane::crypto {

Hash256 keccak256(ByteView data) noexcept;

// The two candidates behind keccak256(), kept callable for the benchmark and the
// cross-check test: our own keccak-f[1600] sponge and Crypto++'s Keccak_256.
Hash256 keccak256_portable(ByteView data) noexcept;
Hash256 keccak256_cryptopp(ByteView data) noexcept;
// keccak256_portable without the BMI1/BMI2 build it picks on CPUs that have them (for tests).
Hash256 keccak256_portable_baseline(ByteView data) noexcept;
// Which permutation keccak256() runs ("portable-bmi2", "portable").
const char* keccak_implementation_name() noexcept;

// Incremental form for hashing a packet made of several pieces without a copy.
class Keccak256 {
 public:
  Keccak256() noexcept;
  ~Keccak256();
  Keccak256(const Keccak256&) = delete;
  Keccak256& operator=(const Keccak256&) = delete;
  void update(ByteView data) noexcept;
  Hash256 finish() noexcept;  // resets the state afterwards

 private:
  alignas(64) std::uint8_t state_[512];  // opaque, holds the implementation's context
};

}  // namespace discplane::crypto
