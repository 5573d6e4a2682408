// Microbenchmarks of the crypto room: both keccak-256 candidates, the secp256k1 operations a
// discv4/discv5 packet costs, AES-GCM/CTR at discv5 message sizes, SHA-256/HKDF, randomness.
// Figures and the commands that produced them are in BENCHMARKS.md ("Crypto primitives").
#include <benchmark/benchmark.h>

#include "discplane/crypto/aes.h"
#include "discplane/crypto/keccak.h"
#include "discplane/crypto/random.h"
#include "discplane/crypto/secp256k1.h"
#include "discplane/crypto/sha256.h"

namespace {

using namespace discplane;
using namespace discplane::crypto;

Bytes random_bytes(std::size_t n, std::uint64_t seed) {
  Bytes b(n);
  DeterministicRandom(seed).fill(b);
  return b;
}

PrivateKey bench_key(std::uint64_t seed) {
  DeterministicRandom rng(seed);
  PrivateKey k;
  do {
    rng.fill(k);
  } while (!is_valid_private_key(k));
  return k;
}

// ---- keccak-256: the two candidates --------------------------------------------------------

void BM_Keccak256_Portable(benchmark::State& state) {
  const Bytes data = random_bytes(static_cast<std::size_t>(state.range(0)), 1);
  for (auto _ : state) {
    benchmark::DoNotOptimize(keccak256_portable(data));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_Keccak256_Portable)->Arg(32)->Arg(100)->Arg(300)->Arg(1280);

void BM_Keccak256_PortableBaseline(benchmark::State& state) {  // without BMI1/BMI2
  const Bytes data = random_bytes(static_cast<std::size_t>(state.range(0)), 1);
  for (auto _ : state) {
    benchmark::DoNotOptimize(keccak256_portable_baseline(data));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_Keccak256_PortableBaseline)->Arg(32)->Arg(100)->Arg(300)->Arg(1280);

void BM_Keccak256_CryptoPP(benchmark::State& state) {
  const Bytes data = random_bytes(static_cast<std::size_t>(state.range(0)), 1);
  for (auto _ : state) {
    benchmark::DoNotOptimize(keccak256_cryptopp(data));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_Keccak256_CryptoPP)->Arg(32)->Arg(100)->Arg(300)->Arg(1280);

// ---- secp256k1 -------------------------------------------------------------------------------

void BM_Secp256k1_Recover(benchmark::State& state) {
  const PrivateKey key = bench_key(2);
  const Hash256 digest = keccak256(as_bytes("discv4 packet"));
  const RecoverableSignature sig = sign_recoverable(key, digest);
  for (auto _ : state) {
    benchmark::DoNotOptimize(recover(sig, digest));
  }
}
BENCHMARK(BM_Secp256k1_Recover);

void BM_Secp256k1_Verify(benchmark::State& state) {
  const PrivateKey key = bench_key(3);
  const PublicKey pub = *derive_public_key(key);
  const Hash256 digest = keccak256(as_bytes("enr content"));
  const Signature sig = sign(key, digest);
  for (auto _ : state) {
    benchmark::DoNotOptimize(verify(pub, sig, digest));
  }
}
BENCHMARK(BM_Secp256k1_Verify);

void BM_Secp256k1_SignRecoverable(benchmark::State& state) {
  const PrivateKey key = bench_key(4);
  Hash256 digest = keccak256(as_bytes("pong"));
  for (auto _ : state) {
    benchmark::DoNotOptimize(sign_recoverable(key, digest));
    ++digest[0];  // a different message each time, as in real traffic
  }
}
BENCHMARK(BM_Secp256k1_SignRecoverable);

void BM_Secp256k1_Ecdh(benchmark::State& state) {
  const PrivateKey local = bench_key(5);
  const PublicKey remote = *derive_public_key(bench_key(6));
  for (auto _ : state) {
    benchmark::DoNotOptimize(ecdh(remote, local));
  }
}
BENCHMARK(BM_Secp256k1_Ecdh);

void BM_Secp256k1_DerivePublicKey(benchmark::State& state) {
  const PrivateKey key = bench_key(7);
  for (auto _ : state) {
    benchmark::DoNotOptimize(derive_public_key(key));
  }
}
BENCHMARK(BM_Secp256k1_DerivePublicKey);

void BM_Secp256k1_ParseCompressed(benchmark::State& state) {
  const CompressedPublicKey c = compress(*derive_public_key(bench_key(8)));
  for (auto _ : state) {
    benchmark::DoNotOptimize(parse_public_key(c));
  }
}
BENCHMARK(BM_Secp256k1_ParseCompressed);

void BM_Secp256k1_ParseUncompressed(benchmark::State& state) {
  const PublicKey p = *derive_public_key(bench_key(9));
  for (auto _ : state) {
    benchmark::DoNotOptimize(parse_public_key(p));
  }
}
BENCHMARK(BM_Secp256k1_ParseUncompressed);

// ---- AES (IPsec-mb) --------------------------------------------------------------------------

void BM_AesGcm128_SealOpen60(benchmark::State& state) {
  const AesGcm128 gcm(to_array<16>(random_bytes(16, 10)));
  const Bytes nonce = random_bytes(12, 11);
  const Bytes ad = random_bytes(16 + 23 + 32, 12);  // masking-iv || header of a message packet
  const Bytes pt = random_bytes(60, 13);
  Bytes sealed(pt.size() + kGcmTagSize);
  Bytes opened(pt.size());
  for (auto _ : state) {
    gcm.seal(nonce, ad, pt, sealed);
    benchmark::DoNotOptimize(gcm.open(nonce, ad, sealed, opened));
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_AesGcm128_SealOpen60);

void BM_AesCtr128_Mask57(benchmark::State& state) {
  const AesCtr128 ctr(to_array<16>(random_bytes(16, 14)));
  const Bytes iv = random_bytes(16, 15);
  Bytes header = random_bytes(57, 16);  // static header 23 + src-id 32 + 2 spare
  for (auto _ : state) {
    ctr.apply(iv, header, header);
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_AesCtr128_Mask57);

// ---- SHA-256 / HMAC / HKDF -------------------------------------------------------------------

void BM_Sha256(benchmark::State& state) {
  const Bytes data = random_bytes(static_cast<std::size_t>(state.range(0)), 17);
  for (auto _ : state) {
    benchmark::DoNotOptimize(sha256(data));
  }
}
BENCHMARK(BM_Sha256)->Arg(32)->Arg(155);  // 155 B = the discv5 id-signature input

void BM_HkdfSha256_32(benchmark::State& state) {
  const Bytes salt = random_bytes(63, 18);  // challenge-data
  const Bytes ikm = random_bytes(33, 19);   // compressed ECDH point
  const Bytes info = random_bytes(26 + 64, 20);
  ByteArray<32> out;
  for (auto _ : state) {
    hkdf_sha256(salt, ikm, info, out);
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_HkdfSha256_32);

// ---- randomness ------------------------------------------------------------------------------

void BM_BulkRandom28(benchmark::State& state) {
  BulkRandom rng;
  ByteArray<28> out;
  for (auto _ : state) {
    rng.fill(out);
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_BulkRandom28);

void BM_OsRandom28(benchmark::State& state) {  // the per-call syscall BulkRandom avoids
  ByteArray<28> out;
  for (auto _ : state) {
    os_random(out);
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_OsRandom28);

}  // namespace
