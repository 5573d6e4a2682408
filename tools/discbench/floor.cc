// The crypto floor: the raw cost of each primitive the scenarios cannot avoid, measured in
// the same run with include/discplane/crypto/*.h directly (thread CPU time, median of 5
// repetitions). Sizes that vary (keccak, GCM, CTR) are fitted as base + per-unit costs from
// two sizes, so a scenario's floor uses its own packet sizes.
#include <algorithm>
#include <cstring>
#include <functional>
#include <vector>

#include "discplane/crypto/keccak.h"
#include "discplane/crypto/random.h"
#include "discplane/crypto/sha256.h"

#include "bench.h"

namespace discbench {

namespace {
volatile std::uint8_t g_sink = 0;

// ns per call: median over 5 repetitions of `iters` calls.
double time_op(int iters, const std::function<void()>& op) {
  std::vector<double> reps;
  for (int r = 0; r < 5; ++r) {
    const std::int64_t c0 = thread_cpu_ns();
    for (int i = 0; i < iters; ++i) {
      op();
    }
    reps.push_back(static_cast<double>(thread_cpu_ns() - c0) / iters);
  }
  std::sort(reps.begin(), reps.end());
  return reps[2];
}
}  // namespace

double FloorOps::keccak(std::size_t len) const {
  return keccak_base + keccak_block * static_cast<double>(len / 136 + 1);
}
double FloorOps::gcm_seal(std::size_t len) const {
  return seal_base + seal_per_byte * static_cast<double>(len);
}
double FloorOps::gcm_open(std::size_t len) const {
  return open_base + open_per_byte * static_cast<double>(len);
}
double FloorOps::ctr(std::size_t len) const {
  return ctr_base + ctr_per_byte * static_cast<double>(len);
}

FloorOps measure_floor(bool quick) {
  const int slow = quick ? 3 : 60;     // secp256k1 iterations per repetition
  const int fast = quick ? 20 : 4000;  // symmetric primitives
  FloorOps f;
  crypto::DeterministicRandom rng(5);
  crypto::PrivateKey key{};
  do {
    rng.fill(key);
  } while (!crypto::is_valid_private_key(key));
  const crypto::PublicKey pub = *crypto::derive_public_key(key);
  const crypto::CompressedPublicKey pub33 = crypto::compress(pub);
  Hash256 digest{};
  rng.fill(digest);
  const crypto::RecoverableSignature sig65 = crypto::sign_recoverable(key, digest);
  const crypto::Signature sig64 = crypto::sign(key, digest);

  f.recover = time_op(slow, [&] { g_sink = g_sink + crypto::recover(sig65, digest)->at(0); });
  f.sign = time_op(slow, [&] {
    digest[0] = static_cast<std::uint8_t>(digest[0] + 1);  // RFC6979: vary the input
    g_sink = g_sink + crypto::sign_recoverable(key, digest)[0];
  });
  digest = Hash256{};
  rng.fill(digest);
  const crypto::Signature vsig = crypto::sign(key, digest);
  (void)sig64;
  f.verify = time_op(slow, [&] { g_sink = g_sink + crypto::verify(pub, vsig, digest); });
  f.ecdh = time_op(slow, [&] { g_sink = g_sink + crypto::ecdh(pub, key)->at(1); });
  f.parse33 = time_op(slow * 4, [&] { g_sink = g_sink + crypto::parse_public_key(pub33)->at(0); });
  f.parse64 = time_op(fast, [&] { g_sink = g_sink + crypto::parse_public_key(pub)->at(0); });

  std::vector<std::uint8_t> buf(1400);
  rng.fill(buf);
  const double k1 =
      time_op(fast, [&] { g_sink = g_sink + crypto::keccak256(ByteView(buf).first(100))[0]; });
  const double k10 =
      time_op(fast / 4, [&] { g_sink = g_sink + crypto::keccak256(ByteView(buf).first(1300))[0]; });
  f.keccak_block = (k10 - k1) / 9.0;
  f.keccak_base = k1 - f.keccak_block;

  f.sha256_155 =
      time_op(fast, [&] { g_sink = g_sink + crypto::sha256(ByteView(buf).first(155))[0]; });
  std::array<std::uint8_t, 32> okm{};
  f.hkdf = time_op(fast, [&] {
    crypto::hkdf_sha256(ByteView(buf).first(63), ByteView(buf).subspan(100, 33),
                        ByteView(buf).subspan(200, 90), okm);
    g_sink = g_sink + okm[0];
  });
  crypto::BulkRandom bulk;
  std::array<std::uint8_t, 16> r16{};
  f.random16 = time_op(fast, [&] {
    bulk.fill(r16);
    g_sink = g_sink + r16[0];
  });

  crypto::AesKey aes_key{};
  rng.fill(aes_key);
  f.gcm_key = time_op(fast, [&] {
    const crypto::AesGcm128 g(aes_key);
    g_sink = g_sink + 1;
  });
  f.ctr_key = time_op(fast, [&] {
    const crypto::AesCtr128 c(aes_key);
    g_sink = g_sink + 1;
  });
  const crypto::AesGcm128 gcm(aes_key);
  const crypto::AesCtr128 ctr(aes_key);
  std::array<std::uint8_t, 12> nonce{};
  std::vector<std::uint8_t> out(1400 + 16);
  const ByteView ad = ByteView(buf).first(71);
  auto seal = [&](std::size_t n) {
    return time_op(fast, [&] {
      gcm.seal(nonce, ad, ByteView(buf).first(n), MutableByteView(out).first(n + 16));
      g_sink = g_sink + out[0];
    });
  };
  const double s20 = seal(20);
  const double s1000 = seal(1000);
  f.seal_per_byte = (s1000 - s20) / 980.0;
  f.seal_base = s20 - 20 * f.seal_per_byte;
  std::vector<std::uint8_t> sealed20(36);
  std::vector<std::uint8_t> sealed1000(1016);
  gcm.seal(nonce, ad, ByteView(buf).first(20), MutableByteView(sealed20));
  gcm.seal(nonce, ad, ByteView(buf).first(1000), MutableByteView(sealed1000));
  const double o20 = time_op(fast, [&] { g_sink = g_sink + gcm.open(nonce, ad, sealed20, out); });
  const double o1000 =
      time_op(fast, [&] { g_sink = g_sink + gcm.open(nonce, ad, sealed1000, out); });
  f.open_per_byte = (o1000 - o20) / 980.0;
  f.open_base = o20 - 20 * f.open_per_byte;
  const double c23 = time_op(fast, [&] {
    ctr.apply(ByteView(buf).first(16), ByteView(buf).subspan(16, 23),
              MutableByteView(out).first(23));
    g_sink = g_sink + out[0];
  });
  const double c300 = time_op(fast, [&] {
    ctr.apply(ByteView(buf).first(16), ByteView(buf).subspan(16, 300),
              MutableByteView(out).first(300));
    g_sink = g_sink + out[0];
  });
  f.ctr_per_byte = std::max(0.0, (c300 - c23) / 277.0);
  f.ctr_base = c23 - 23 * f.ctr_per_byte;
  return f;
}

}  // namespace discbench
