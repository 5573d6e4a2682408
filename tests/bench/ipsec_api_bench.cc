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
