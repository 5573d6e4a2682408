// Random sources: os_random() (getrandom(2), for keys and seeds), BulkRandom (the
// production RandomSource: a 4 KiB buffer refilled in one call from OpenSSL's CSPRNG, which
// OpenSSL seeds from the OS, so a packet's nonce or IV costs a memcpy), and
// DeterministicRandom (xoshiro256**, for tests and simulations).
#include "discplane/crypto/random.h"

#include <sys/random.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <openssl/rand.h>

namespace discplane::crypto {

void os_random(MutableByteView out) noexcept {
  std::uint8_t* p = out.data();
  std::size_t left = out.size();
  while (left > 0) {
    const ssize_t got = getrandom(p, left, 0);
    if (got < 0) {
      if (errno == EINTR) {
        continue;
      }
      std::fprintf(stderr, "discplane: getrandom failed: %s\n", std::strerror(errno));
      std::abort();  // no entropy source: nothing secure can run
    }
    p += got;
    left -= static_cast<std::size_t>(got);
  }
}

BulkRandom::BulkRandom() noexcept = default;

void BulkRandom::refill() noexcept {
  // OpenSSL's DRBG (AES-CTR, reseeded from getrandom by OpenSSL): ~1 us per 4 KiB against
  // ~10 us for getrandom itself, which would be most of the cost of every draw.
  if (RAND_bytes(buffer_, static_cast<int>(sizeof buffer_)) != 1) {
    std::fprintf(stderr, "discplane: RAND_bytes failed\n");
    std::abort();
  }
  used_ = 0;
}

void BulkRandom::fill(MutableByteView out) noexcept {
  std::uint8_t* p = out.data();
  std::size_t left = out.size();
  while (left > 0) {
    if (used_ == sizeof buffer_) {
      refill();
    }
    const std::size_t avail = sizeof buffer_ - used_;
    const std::size_t take = left < avail ? left : avail;
    std::memcpy(p, buffer_ + used_, take);
    // Wipe what was handed out, so a later memory disclosure cannot reveal past nonces/keys.
    std::memset(buffer_ + used_, 0, take);
    used_ += take;
    p += take;
    left -= take;
  }
}

namespace {
std::uint64_t splitmix64(std::uint64_t& x) noexcept {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
std::uint64_t rotl(std::uint64_t x, int k) noexcept {
  return (x << k) | (x >> (64 - k));
}
}  // namespace

DeterministicRandom::DeterministicRandom(std::uint64_t seed) noexcept {
  for (auto& s : s_) {
    s = splitmix64(seed);
  }
}

std::uint64_t DeterministicRandom::next() noexcept {
  const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const std::uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

void DeterministicRandom::fill(MutableByteView out) noexcept {
  std::size_t i = 0;
  while (i < out.size()) {
    std::uint64_t v = next();
    for (int b = 0; b < 8 && i < out.size(); ++b, ++i) {
      out[i] = static_cast<std::uint8_t>(v);  // little-endian byte order on every host
      v >>= 8;
    }
  }
}

}  // namespace discplane::crypto
