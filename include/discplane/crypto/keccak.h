// Keccak-256 (the pre-standard padding 0x01 used by Ethereum, not SHA3-256).
#pragma once

#include "discplane/common/bytes.h"

namespace discplane::crypto {

Hash256 keccak256(ByteView data) noexcept;

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
