// Which IPsec-mb API to use for discv5's per-packet AES: the direct GCM functions and one CTR
// job at a time (what dataplane/crypto/aes.cc does), against the job API and the burst APIs
// over a whole RX burst of 32 packets. A burst of discv5 messages comes from 32 sessions, so
// every GCM operation has its own key; header unmasking on RX uses one key (our node id), TX
// masking one key per destination. Figures: BENCHMARKS.md, "IPsec-mb: direct vs job vs burst".
#include <array>
#include <cstring>
#include <vector>

#include <benchmark/benchmark.h>
#include <intel-ipsec-mb.h>

namespace {

constexpr int kBurst = 32;
constexpr std::size_t kMsg = 20;     // a discv5 PING/PONG message body, typical size
constexpr std::size_t kAad = 71;     // masking-iv (16) + static header (23) + authdata (32)
constexpr std::size_t kHeader = 55;  // masked part of a message packet header
constexpr std::size_t kTag = 16;

IMB_MGR* mgr() {
  static IMB_MGR* m = [] {
    IMB_MGR* p = alloc_mb_mgr(0);
    init_mb_mgr_auto(p, nullptr);
    return p;
  }();
  return m;
}

struct Burst {
  std::vector<gcm_key_data> gcm_keys = std::vector<gcm_key_data>(kBurst);
  struct alignas(64) CtrKey {
    std::uint8_t enc[16 * 15];
    std::uint8_t dec[16 * 15];
  };
  std::vector<CtrKey> ctr_keys = std::vector<CtrKey>(kBurst);
  std::array<std::array<std::uint8_t, 12>, kBurst> nonce{};
  std::array<std::array<std::uint8_t, 16>, kBurst> iv{};
  std::array<std::array<std::uint8_t, kAad>, kBurst> aad{};
  std::array<std::array<std::uint8_t, kMsg>, kBurst> plain{};
  std::array<std::array<std::uint8_t, kMsg + kTag>, kBurst> sealed{};
  std::array<std::array<std::uint8_t, kHeader>, kBurst> header{};

  Burst() {
    for (int i = 0; i < kBurst; ++i) {
      std::uint8_t key[16];
      for (int b = 0; b < 16; ++b) {
        key[b] = static_cast<std::uint8_t>(i * 31 + b * 7 + 1);
      }
      IMB_AES128_GCM_PRE(mgr(), key, &gcm_keys[static_cast<std::size_t>(i)]);
      IMB_AES_KEYEXP_128(mgr(), key, ctr_keys[static_cast<std::size_t>(i)].enc,
                         ctr_keys[static_cast<std::size_t>(i)].dec);
      for (std::size_t b = 0; b < 16; ++b) {
        iv[static_cast<std::size_t>(i)][b] = static_cast<std::uint8_t>(i + b * 3);
      }
      for (std::size_t b = 0; b < 12; ++b) {
        nonce[static_cast<std::size_t>(i)][b] = static_cast<std::uint8_t>(i ^ (b * 5));
      }
    }
  }
};

// Seal then open every message of the burst with the direct API.
void BM_Burst32_Gcm_Direct(benchmark::State& state) {
  Burst b;
  std::array<std::uint8_t, kMsg> out{};
  std::array<std::uint8_t, kTag> tag{};
  for (auto _ : state) {
    for (std::size_t i = 0; i < kBurst; ++i) {
      gcm_context_data ctx;
      IMB_AES128_GCM_ENC(mgr(), &b.gcm_keys[i], &ctx, b.sealed[i].data(), b.plain[i].data(), kMsg,
                         b.nonce[i].data(), b.aad[i].data(), kAad, b.sealed[i].data() + kMsg, kTag);
    }
    for (std::size_t i = 0; i < kBurst; ++i) {
      gcm_context_data ctx;
      IMB_AES128_GCM_DEC(mgr(), &b.gcm_keys[i], &ctx, out.data(), b.sealed[i].data(), kMsg,
                         b.nonce[i].data(), b.aad[i].data(), kAad, tag.data(), kTag);
      if (std::memcmp(tag.data(), b.sealed[i].data() + kMsg, kTag) != 0) {
        state.SkipWithError("GCM direct: tag mismatch");
        return;
      }
    }
  }
  state.SetItemsProcessed(state.iterations() * kBurst);
}
BENCHMARK(BM_Burst32_Gcm_Direct);

void fill_gcm_job(IMB_JOB* job, Burst& b, std::size_t i, bool encrypt, std::uint8_t* dst,
                  std::uint8_t* tag_out) {
  job->cipher_mode = IMB_CIPHER_GCM;
  job->hash_alg = IMB_AUTH_AES_GMAC;
  job->cipher_direction = encrypt ? IMB_DIR_ENCRYPT : IMB_DIR_DECRYPT;
  job->chain_order = encrypt ? IMB_ORDER_CIPHER_HASH : IMB_ORDER_HASH_CIPHER;
  job->key_len_in_bytes = IMB_KEY_128_BYTES;
  job->enc_keys = &b.gcm_keys[i];
  job->dec_keys = &b.gcm_keys[i];
  job->src = encrypt ? b.plain[i].data() : b.sealed[i].data();
  job->dst = dst;
  job->cipher_start_src_offset_in_bytes = 0;
  job->msg_len_to_cipher_in_bytes = kMsg;
  job->hash_start_src_offset_in_bytes = 0;
  job->msg_len_to_hash_in_bytes = kMsg;
  job->iv = b.nonce[i].data();
  job->iv_len_in_bytes = 12;
  job->u.GCM.aad = b.aad[i].data();
  job->u.GCM.aad_len_in_bytes = kAad;
  job->auth_tag_output = tag_out;
  job->auth_tag_output_len_in_bytes = kTag;
}

// The same through the job API: 32 seals submitted, then flushed; then 32 opens.
void BM_Burst32_Gcm_JobApi(benchmark::State& state) {
  Burst b;
  std::array<std::array<std::uint8_t, kMsg>, kBurst> out{};
  std::array<std::array<std::uint8_t, kTag>, kBurst> tags{};
  IMB_MGR* m = mgr();
  for (auto _ : state) {
    for (int pass = 0; pass < 2; ++pass) {
      const bool encrypt = pass == 0;
      int done = 0;
      for (std::size_t i = 0; i < kBurst; ++i) {
        IMB_JOB* job = IMB_GET_NEXT_JOB(m);
        fill_gcm_job(job, b, i, encrypt, encrypt ? b.sealed[i].data() : out[i].data(),
                     encrypt ? b.sealed[i].data() + kMsg : tags[i].data());
        for (job = IMB_SUBMIT_JOB(m); job != nullptr; job = IMB_GET_COMPLETED_JOB(m)) {
          done += job->status == IMB_STATUS_COMPLETED;
        }
      }
      for (IMB_JOB* job = IMB_FLUSH_JOB(m); job != nullptr; job = IMB_FLUSH_JOB(m)) {
        done += job->status == IMB_STATUS_COMPLETED;
      }
      if (done != kBurst) {
        state.SkipWithError("GCM job API: not every job completed");
        return;
      }
    }
    for (std::size_t i = 0; i < kBurst; ++i) {
      if (std::memcmp(tags[i].data(), b.sealed[i].data() + kMsg, kTag) != 0) {
        state.SkipWithError("GCM job API: tag mismatch");
        return;
      }
    }
  }
  state.SetItemsProcessed(state.iterations() * kBurst);
}
BENCHMARK(BM_Burst32_Gcm_JobApi);

void fill_ctr_job(IMB_JOB* job, Burst& b, std::size_t i, std::size_t key) {
  job->cipher_mode = IMB_CIPHER_CNTR;
  job->cipher_direction = IMB_DIR_ENCRYPT;
  job->chain_order = IMB_ORDER_CIPHER_HASH;
  job->hash_alg = IMB_AUTH_NULL;
  job->key_len_in_bytes = IMB_KEY_128_BYTES;
  job->enc_keys = b.ctr_keys[key].enc;
  job->dec_keys = b.ctr_keys[key].dec;
  job->src = b.header[i].data();
  job->dst = b.header[i].data();
  job->cipher_start_src_offset_in_bytes = 0;
  job->msg_len_to_cipher_in_bytes = kHeader;
  job->hash_start_src_offset_in_bytes = 0;
  job->msg_len_to_hash_in_bytes = 0;
  job->iv = b.iv[i].data();
  job->iv_len_in_bytes = 16;
  job->auth_tag_output = nullptr;
  job->auth_tag_output_len_in_bytes = 0;
}

// Header masks of a burst (RX: one key for all): one job-API job at a time (the old ctr_job).
void BM_Burst32_Ctr_JobApiOneByOne(benchmark::State& state) {
  Burst b;
  IMB_MGR* m = mgr();
  for (auto _ : state) {
    for (std::size_t i = 0; i < kBurst; ++i) {
      IMB_JOB* job = IMB_GET_NEXT_JOB(m);
      fill_ctr_job(job, b, i, 0);
      job = IMB_SUBMIT_JOB(m);
      while (job == nullptr) {
        job = IMB_FLUSH_JOB(m);
      }
      if (job->status != IMB_STATUS_COMPLETED) {
        state.SkipWithError("CTR job API: job failed");
        return;
      }
    }
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * kBurst);
}
BENCHMARK(BM_Burst32_Ctr_JobApiOneByOne);

// One cipher-burst call per header (what aes.cc does now).
void BM_Burst32_Ctr_CipherBurstOfOne(benchmark::State& state) {
  Burst b;
  IMB_MGR* m = mgr();
  for (auto _ : state) {
    for (std::size_t i = 0; i < kBurst; ++i) {
      IMB_JOB job{};
      fill_ctr_job(&job, b, i, 0);
      if (IMB_SUBMIT_CIPHER_BURST_NOCHECK(m, &job, 1, IMB_CIPHER_CNTR, IMB_DIR_ENCRYPT,
                                          IMB_KEY_128_BYTES) != 1) {
        state.SkipWithError("CTR cipher burst: job failed");
        return;
      }
    }
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * kBurst);
}
BENCHMARK(BM_Burst32_Ctr_CipherBurstOfOne);

// All 32 headers in one cipher-burst call (per-destination keys, as on TX).
void BM_Burst32_Ctr_CipherBurstOf32(benchmark::State& state) {
  Burst b;
  IMB_MGR* m = mgr();
  std::array<IMB_JOB, kBurst> jobs{};
  for (auto _ : state) {
    for (std::size_t i = 0; i < kBurst; ++i) {
      fill_ctr_job(&jobs[i], b, i, i);
    }
    if (IMB_SUBMIT_CIPHER_BURST_NOCHECK(m, jobs.data(), kBurst, IMB_CIPHER_CNTR, IMB_DIR_ENCRYPT,
                                        IMB_KEY_128_BYTES) != kBurst) {
      state.SkipWithError("CTR cipher burst: jobs failed");
      return;
    }
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * kBurst);
}
BENCHMARK(BM_Burst32_Ctr_CipherBurstOf32);

}  // namespace

namespace {

// Which IPsec-mb code path for GCM: init_mb_mgr_auto picks AVX-512 (VAES + VPCLMULQDQ) on
// this CPU. Its key layout keeps 48 GHASH key powers (768 B) where AVX2's keeps 8 (128 B), so
// with thousands of sessions AVX2 would read fewer, adjacent cache lines: measured here, seal
// then open of one message, keys taken in random order from `keys` sessions.
// Args: {0 = AVX2, 1 = AVX-512}, message bytes, sessions.
void BM_Gcm_SealOpen_Arch(benchmark::State& state) {
  IMB_MGR* m = alloc_mb_mgr(0);
  if (state.range(0) == 0) {
    init_mb_mgr_avx2(m);
  } else {
    init_mb_mgr_avx512(m);
  }
  if (imb_get_errno(m) != 0) {
    free_mb_mgr(m);
    state.SkipWithError("IPsec-mb: this code path is not available on this CPU");
    return;
  }
  const auto len = static_cast<std::size_t>(state.range(1));
  const auto sessions = static_cast<std::size_t>(state.range(2));
  struct alignas(64) Key {
    gcm_key_data k;
  };
  std::vector<Key> keys(sessions);
  for (std::size_t i = 0; i < sessions; ++i) {
    std::uint8_t key[16];
    for (int b = 0; b < 16; ++b) {
      key[b] = static_cast<std::uint8_t>(i * 31 + static_cast<std::size_t>(b) * 7 + (i >> 8));
    }
    IMB_AES128_GCM_PRE(m, key, &keys[i].k);
  }
  std::vector<std::uint32_t> order(4096);
  std::uint32_t x = 12345;
  for (auto& o : order) {
    x = x * 1103515245u + 12345u;
    o = (x >> 8) % static_cast<std::uint32_t>(sessions);
  }
  std::vector<std::uint8_t> plain(len, 0x5a);
  std::vector<std::uint8_t> sealed(len);
  std::vector<std::uint8_t> opened(len);
  std::array<std::uint8_t, kAad> aad{};
  std::array<std::uint8_t, 12> nonce{};
  std::array<std::uint8_t, kTag> tag{};
  std::array<std::uint8_t, kTag> tag2{};
  std::size_t i = 0;
  for (auto _ : state) {
    const Key& k = keys[order[i++ % order.size()]];
    gcm_context_data ctx;
    IMB_AES128_GCM_ENC(m, &k.k, &ctx, sealed.data(), plain.data(), len, nonce.data(), aad.data(),
                       kAad, tag.data(), kTag);
    IMB_AES128_GCM_DEC(m, &k.k, &ctx, opened.data(), sealed.data(), len, nonce.data(), aad.data(),
                       kAad, tag2.data(), kTag);
    if (tag != tag2) {
      state.SkipWithError("GCM: tag mismatch");
      break;
    }
    benchmark::ClobberMemory();
  }
  free_mb_mgr(m);
}
BENCHMARK(BM_Gcm_SealOpen_Arch)
    ->ArgsProduct({{0, 1}, {20, 100, 1000}, {32, 2048}})
    ->ArgNames({"avx512", "bytes", "sessions"});

}  // namespace
