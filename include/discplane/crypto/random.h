// Randomness. The engine never calls a RNG itself: it is handed a RandomSource,
// so simulations and vectors replay exactly. Production uses BulkRandom, which
// refills a 4 KiB buffer from the OS CSPRNG (RAND_bytes per packet costs ~700 ns).
#pragma once

#include <cstdint>

#include "discplane/common/bytes.h"

namespace discplane::crypto {

// Fills out straight from the OS CSPRNG (getrandom(2)); aborts if the kernel cannot
// deliver (not per-packet: use BulkRandom there). For keys and seeds.
void os_random(MutableByteView out) noexcept;

class RandomSource {
 public:
  virtual ~RandomSource() = default;
  virtual void fill(MutableByteView out) noexcept = 0;
  std::uint64_t next_u64() noexcept {
    std::uint64_t v;
    fill({reinterpret_cast<std::uint8_t*>(&v), sizeof v});
    return v;
  }
};

class BulkRandom final : public RandomSource {
 public:
  BulkRandom() noexcept;
  void fill(MutableByteView out) noexcept override;

 private:
  void refill() noexcept;
  std::uint8_t buffer_[4096];
  std::size_t used_ = sizeof buffer_;
};

// Deterministic (xoshiro256**), for tests and simulations only: not secure.
class DeterministicRandom final : public RandomSource {
 public:
  explicit DeterministicRandom(std::uint64_t seed) noexcept;
  void fill(MutableByteView out) noexcept override;

 private:
  std::uint64_t next() noexcept;
  std::uint64_t s_[4];
};

}  // namespace discplane::crypto
