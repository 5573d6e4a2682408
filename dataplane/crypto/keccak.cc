// Keccak-256 (Ethereum's pre-standard padding 0x01). Two implementations live here:
// a small keccak-f[1600] of our own (round constants and rotation offsets generated at
// compile time from the spec's LFSR and (t+1)(t+2)/2 rules) and Crypto++'s Keccak_256.
// keccak256() and Keccak256 use ours, measured ~10-15 % faster with its BMI1/BMI2 build
// (BENCHMARKS.md, "Crypto primitives"); Crypto++ stays callable for the benchmark and as
// the reference in the cross-check test.
#include "discplane/crypto/keccak.h"

#include <array>
#include <bit>
#include <cstring>
#include <new>

#include <crypto++/keccak.h>

namespace discplane::crypto {
namespace {

constexpr std::size_t kRate = 136;  // 1600 - 2 * 256 bits, in bytes
constexpr std::size_t kRateLanes = kRate / 8;

constexpr std::array<std::uint64_t, 24> make_round_constants() {
  std::array<std::uint64_t, 24> rc{};
  std::uint8_t lfsr = 1;  // x^8 + x^6 + x^5 + x^4 + 1, FIPS 202 algorithm 5
  for (auto& c : rc) {
    for (int j = 0; j < 7; ++j) {
      if (lfsr & 1) {
        c ^= std::uint64_t{1} << ((1 << j) - 1);
      }
      lfsr = (lfsr & 0x80) ? static_cast<std::uint8_t>((lfsr << 1) ^ 0x71)
                           : static_cast<std::uint8_t>(lfsr << 1);
    }
  }
  return rc;
}

// rho offsets by lane index x + 5y: walk (x, y) -> (y, 2x + 3y) from (1, 0).
constexpr std::array<int, 25> make_rotations() {
  std::array<int, 25> r{};
  int x = 1;
  int y = 0;
  for (int t = 0; t < 24; ++t) {
    r[x + 5 * y] = ((t + 1) * (t + 2) / 2) % 64;
    const int nx = y;
    y = (2 * x + 3 * y) % 5;
    x = nx;
  }
  return r;
}

constexpr auto kRoundConstants = make_round_constants();
constexpr auto kRotations = make_rotations();
static_assert(kRoundConstants[0] == 0x0000000000000001ULL);
static_assert(kRoundConstants[23] == 0x8000000080008008ULL);
static_assert(kRotations[1] == 1 && kRotations[24] == 14 && kRotations[2] == 62);

// One permutation. The loops have constant bounds and are fully unrolled, so the
// compiler folds every index and rotation and keeps most lanes in registers.
[[gnu::always_inline]] inline void permute(std::uint64_t (&state)[25]) noexcept {
  std::uint64_t a[25];
  std::memcpy(a, state, sizeof a);
  for (int round = 0; round < 24; ++round) {
    std::uint64_t c[5];
#pragma GCC unroll 5
    for (int x = 0; x < 5; ++x) {
      c[x] = a[x] ^ a[x + 5] ^ a[x + 10] ^ a[x + 15] ^ a[x + 20];
    }
    std::uint64_t b[25];
#pragma GCC unroll 5
    for (int x = 0; x < 5; ++x) {
      const std::uint64_t d = c[(x + 4) % 5] ^ std::rotl(c[(x + 1) % 5], 1);
#pragma GCC unroll 5
      for (int y = 0; y < 5; ++y) {
        // theta, rho and pi in one step: B[y, 2x + 3y] = rot(A[x, y] ^ D[x], r[x, y]).
        b[y + 5 * ((2 * x + 3 * y) % 5)] = std::rotl(a[x + 5 * y] ^ d, kRotations[x + 5 * y]);
      }
    }
#pragma GCC unroll 5
    for (int y = 0; y < 5; ++y) {
#pragma GCC unroll 5
      for (int x = 0; x < 5; ++x) {
        a[x + 5 * y] = b[x + 5 * y] ^ (~b[(x + 1) % 5 + 5 * y] & b[(x + 2) % 5 + 5 * y]);
      }
    }
    a[0] ^= kRoundConstants[round];
  }
  std::memcpy(state, a, sizeof a);
}

// The same code built twice: with BMI1/BMI2 the compiler uses andn for chi and rorx for
// rho (~15 % faster here, and what makes it beat Crypto++); the baseline build stays for
// CPUs without them. The choice is made once, on first use.
void keccak_f1600_generic(std::uint64_t (&state)[25]) noexcept {
  permute(state);
}
[[gnu::target("bmi,bmi2")]] void keccak_f1600_bmi2(std::uint64_t (&state)[25]) noexcept {
  permute(state);
}

using PermuteFn = void (*)(std::uint64_t (&)[25]) noexcept;
PermuteFn select_permutation() noexcept {
  __builtin_cpu_init();  // may run from a static initializer, before libgcc's own
  return __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2") ? keccak_f1600_bmi2
                                                                         : keccak_f1600_generic;
}
// Function-local, so a keccak256() called from another file's static initializer still
// finds the choice made.
PermuteFn keccak_f1600_best() noexcept {
  static const PermuteFn best = select_permutation();
  return best;
}

// Sponge over keccak_f1600. Bytes are XORed straight into the state (x86 is little
// endian, the lane order Keccak uses), so there is no separate input buffer.
template <bool kBaseline>
struct PortableContext {
  std::uint64_t lanes[25];
  std::size_t pos;  // bytes absorbed into the current block

  static void keccak_f1600(std::uint64_t (&s)[25]) noexcept {
    if constexpr (kBaseline) {
      keccak_f1600_generic(s);
    } else {
      keccak_f1600_best()(s);
    }
  }

  void reset() noexcept {
    std::memset(lanes, 0, sizeof lanes);
    pos = 0;
  }

  void absorb_block(const std::uint8_t* p) noexcept {
    for (std::size_t i = 0; i < kRateLanes; ++i) {
      std::uint64_t v;
      std::memcpy(&v, p + 8 * i, 8);
      lanes[i] ^= v;
    }
    keccak_f1600(lanes);
  }

  void update(ByteView data) noexcept {
    const std::uint8_t* p = data.data();
    std::size_t n = data.size();
    auto* bytes = reinterpret_cast<std::uint8_t*>(lanes);
    if (pos != 0) {
      const std::size_t take = n < kRate - pos ? n : kRate - pos;
      for (std::size_t i = 0; i < take; ++i) {
        bytes[pos + i] ^= p[i];
      }
      pos += take;
      p += take;
      n -= take;
      if (pos < kRate) {
        return;
      }
      keccak_f1600(lanes);
      pos = 0;
    }
    while (n >= kRate) {
      absorb_block(p);
      p += kRate;
      n -= kRate;
    }
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      std::uint64_t v;
      std::memcpy(&v, p + i, 8);
      lanes[i / 8] ^= v;
    }
    for (; i < n; ++i) {
      bytes[i] ^= p[i];
    }
    pos = n;
  }

  Hash256 finish() noexcept {
    auto* bytes = reinterpret_cast<std::uint8_t*>(lanes);
    bytes[pos] ^= 0x01;  // Keccak padding (SHA3 would be 0x06)
    bytes[kRate - 1] ^= 0x80;
    keccak_f1600(lanes);
    Hash256 out;
    std::memcpy(out.data(), lanes, out.size());
    reset();
    return out;
  }
};
static_assert(std::endian::native == std::endian::little, "lane layout assumes little endian");

using BestContext = PortableContext<false>;
using GenericContext = PortableContext<true>;

using CryptoppContext = CryptoPP::Keccak_256;

// The choice, from the measurements in BENCHMARKS.md.
using ChosenContext = BestContext;

static_assert(sizeof(ChosenContext) <= 512 && alignof(ChosenContext) <= 64,
              "Keccak256::state_ is too small for the chosen context");

ChosenContext& context_of(std::uint8_t* state) noexcept {
  return *std::launder(reinterpret_cast<ChosenContext*>(state));
}

}  // namespace

template <class Context>
Hash256 one_shot(ByteView data) noexcept {
  Context ctx;
  ctx.reset();
  ctx.update(data);
  return ctx.finish();
}

Hash256 keccak256_portable(ByteView data) noexcept {
  return one_shot<BestContext>(data);
}

Hash256 keccak256_portable_baseline(ByteView data) noexcept {
  return one_shot<GenericContext>(data);
}

const char* keccak_implementation_name() noexcept {
  return keccak_f1600_best() == keccak_f1600_bmi2 ? "portable-bmi2" : "portable";
}

Hash256 keccak256_cryptopp(ByteView data) noexcept {
  CryptoppContext ctx;
  ctx.Update(data.data(), data.size());
  Hash256 out;
  ctx.TruncatedFinal(out.data(), out.size());
  return out;
}

Hash256 keccak256(ByteView data) noexcept {
  return keccak256_portable(data);
}

Keccak256::Keccak256() noexcept {
  auto* ctx = new (state_) ChosenContext;
  ctx->reset();
}

Keccak256::~Keccak256() {
  context_of(state_).~ChosenContext();
}

void Keccak256::update(ByteView data) noexcept {
  context_of(state_).update(data);
}

Hash256 Keccak256::finish() noexcept {
  return context_of(state_).finish();
}

}  // namespace discplane::crypto
