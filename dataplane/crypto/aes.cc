// AES-128-GCM (discv5 messages) and AES-128-CTR (discv5 header masking) on Intel IPsec-mb.
// Each thread gets its own IMB_MGR on first use (a manager holds per-thread job state);
// key schedules live in the AesGcm128/AesCtr128 objects, are built once, and are only read
// afterwards, so one object may be used from several threads. GCM uses the direct API
// (~35-70 ns cheaper per call than the job API); CTR exists only in the job API, whose
// 32-bit counter we extend to the 128-bit counter discv5 uses (see AesCtr128::apply).
#include "discplane/crypto/aes.h"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#define NO_COMPAT_IMB_API_053  // the pre-0.53 macro names clash with <openssl/sha.h>
#include <intel-ipsec-mb.h>

namespace discplane::crypto {
namespace {

[[noreturn]] void die(const char* what) noexcept {
  std::fprintf(stderr, "discplane: %s\n", what);
  std::abort();
}

// Frees the thread's manager at thread exit. Kept apart from the raw pointer below so
// that the hot path reads a trivially destructible thread_local (no guard check).
struct ManagerOwner {
  IMB_MGR* mgr = nullptr;
  ~ManagerOwner() {
    if (mgr != nullptr) {
      free_mb_mgr(mgr);
    }
  }
};

thread_local IMB_MGR* t_manager = nullptr;

[[gnu::noinline]] IMB_MGR* create_manager() noexcept {
  IMB_MGR* m = alloc_mb_mgr(0);
  if (m == nullptr) {
    die("IPsec-mb: alloc_mb_mgr failed");
  }
  IMB_ARCH arch = IMB_ARCH_NONE;
  init_mb_mgr_auto(m, &arch);
  if (imb_get_errno(m) != 0 || arch == IMB_ARCH_NONE) {
    die("IPsec-mb: init_mb_mgr_auto failed");
  }
  static thread_local ManagerOwner owner;
  owner.mgr = m;
  t_manager = m;
  return m;
}

IMB_MGR* manager() noexcept {
  IMB_MGR* m = t_manager;
  if (__builtin_expect(m == nullptr, 0)) {
    m = create_manager();
  }
  return m;
}

// IPsec-mb's parameter checks reject null pointers even for zero lengths.
const std::uint8_t kEmpty[1] = {0};
const std::uint8_t* nonnull(ByteView v) noexcept {
  return v.empty() ? kEmpty : v.data();
}

bool tags_equal(const std::uint8_t* a, const std::uint8_t* b) noexcept {
  std::uint8_t diff = 0;  // constant time: no early exit on the first mismatch
  for (std::size_t i = 0; i < kGcmTagSize; ++i) {
    diff |= static_cast<std::uint8_t>(a[i] ^ b[i]);
  }
  return diff == 0;
}

}  // namespace

// ---- AES-128-GCM ----------------------------------------------------------------------------

static_assert(sizeof(gcm_key_data) == 1008, "AesGcm128::kKeyDataSize must match gcm_key_data");

namespace {
const gcm_key_data* gcm_key(const std::uint8_t* storage) noexcept {
  return reinterpret_cast<const gcm_key_data*>(storage);
}
}  // namespace

AesGcm128::AesGcm128(const AesKey& key) noexcept {
  IMB_AES128_GCM_PRE(manager(), key.data(), reinterpret_cast<gcm_key_data*>(key_data_));
}

AesGcm128::~AesGcm128() {
  explicit_bzero(key_data_, sizeof key_data_);
}

void AesGcm128::seal(ByteView nonce12, ByteView ad, ByteView plaintext,
                     MutableByteView out) const noexcept {
  if (nonce12.size() != kGcmNonceSize || out.size() != plaintext.size() + kGcmTagSize) {
    die("AesGcm128::seal: bad nonce or output size");  // caller bug, never input-driven
  }
  gcm_context_data ctx;
  IMB_AES128_GCM_ENC(manager(), gcm_key(key_data_), &ctx, out.data(), nonnull(plaintext),
                     plaintext.size(), nonce12.data(), nonnull(ad), ad.size(),
                     out.data() + plaintext.size(), kGcmTagSize);
}

bool AesGcm128::open(ByteView nonce12, ByteView ad, ByteView in,
                     MutableByteView out) const noexcept {
  if (nonce12.size() != kGcmNonceSize || in.size() < kGcmTagSize) {
    return false;
  }
  const std::size_t len = in.size() - kGcmTagSize;
  if (out.size() < len) {
    return false;
  }
  gcm_context_data ctx;
  std::uint8_t tag[kGcmTagSize];
  std::uint8_t* dst = len == 0 ? tag : out.data();  // any non-null pointer when len == 0
  IMB_AES128_GCM_DEC(manager(), gcm_key(key_data_), &ctx, dst, nonnull(in), len, nonce12.data(),
                     nonnull(ad), ad.size(), tag, kGcmTagSize);
  if (!tags_equal(tag, in.data() + len)) {
    if (len != 0) {
      std::memset(out.data(), 0, len);  // hand out no unauthenticated plaintext
    }
    return false;
  }
  return true;
}

// ---- AES-128-CTR ----------------------------------------------------------------------------

AesCtr128::AesCtr128(const AesKey& key) noexcept {
  // IPsec-mb writes an encryption and a decryption schedule, each with room for AES-256;
  // AES-128 CTR needs the first 11 encryption round keys only.
  alignas(16) std::uint8_t enc[16 * 15];
  alignas(16) std::uint8_t dec[16 * 15];
  IMB_AES_KEYEXP_128(manager(), key.data(), enc, dec);
  std::memcpy(enc_keys_, enc, sizeof enc_keys_);
  explicit_bzero(enc, sizeof enc);
  explicit_bzero(dec, sizeof dec);
}

AesCtr128::~AesCtr128() {
  explicit_bzero(enc_keys_, sizeof enc_keys_);
}

namespace {

// One CTR job. IPsec-mb treats a 16-byte IV as a 96-bit prefix plus a 32-bit big-endian
// counter that wraps on its own, so callers must not cross a 2^32-block boundary here.
// The synchronous cipher-burst API with a single job skips the job manager's queue
// (get-next/submit/flush): 26 vs 42-51 ns for a 57-byte header mask measured side by side
// (BENCHMARKS.md, "Crypto primitives"). NOCHECK: the parameters are ours and fixed (128-bit
// key, 16-byte IV, a length > 0 checked by the caller), so there is nothing to validate.
// One AES-128-CTR job of the cipher-burst API (used by apply and apply_burst).
IMB_JOB ctr_job_for(const std::uint8_t* enc_keys, const std::uint8_t* iv, const std::uint8_t* in,
                    std::uint8_t* out, std::size_t len) noexcept {
  IMB_JOB job{};
  job.cipher_mode = IMB_CIPHER_CNTR;
  job.cipher_direction = IMB_DIR_ENCRYPT;
  job.chain_order = IMB_ORDER_CIPHER_HASH;
  job.hash_alg = IMB_AUTH_NULL;
  job.enc_keys = enc_keys;
  job.dec_keys = enc_keys;  // CTR only ever runs the encryption schedule
  job.key_len_in_bytes = IMB_KEY_128_BYTES;
  job.src = in;
  job.dst = out;
  job.msg_len_to_cipher_in_bytes = len;
  job.iv = iv;
  job.iv_len_in_bytes = 16;
  return job;
}

void ctr_job(IMB_MGR* mgr, const std::uint8_t* enc_keys, const std::uint8_t* iv,
             const std::uint8_t* in, std::uint8_t* out, std::size_t len) noexcept {
  IMB_JOB job = ctr_job_for(enc_keys, iv, in, out, len);
  const std::uint32_t done = IMB_SUBMIT_CIPHER_BURST_NOCHECK(mgr, &job, 1, IMB_CIPHER_CNTR,
                                                             IMB_DIR_ENCRYPT, IMB_KEY_128_BYTES);
  if (done != 1 || job.status != IMB_STATUS_COMPLETED) {
    die("AesCtr128::apply: IPsec-mb rejected the job");  // only bad parameters can cause it
  }
}

}  // namespace

void AesCtr128::apply(ByteView iv16, ByteView in, MutableByteView out) const noexcept {
  if (iv16.size() != 16 || out.size() != in.size()) {
    die("AesCtr128::apply: bad IV or output size");  // caller bug, never input-driven
  }
  if (in.empty()) {
    return;
  }
  IMB_MGR* mgr = manager();
  // discv5 (like Go's cipher.NewCTR and OpenSSL) counts with all 128 bits. A random
  // masking-iv crosses a 32-bit boundary inside a header a few times in 10^9 packets: split
  // the job there and carry into the upper 96 bits ourselves.
  const std::uint64_t low32 = (std::uint64_t{iv16[12]} << 24) | (std::uint64_t{iv16[13]} << 16) |
                              (std::uint64_t{iv16[14]} << 8) | iv16[15];
  const std::uint64_t bytes_to_wrap = ((std::uint64_t{1} << 32) - low32) * 16;
  if (in.size() <= bytes_to_wrap) {
    ctr_job(mgr, enc_keys_, iv16.data(), in.data(), out.data(), in.size());
    return;
  }
  ctr_job(mgr, enc_keys_, iv16.data(), in.data(), out.data(), bytes_to_wrap);
  std::uint8_t next_iv[16];
  std::memcpy(next_iv, iv16.data(), 16);
  std::memset(next_iv + 12, 0, 4);  // low 32 bits wrapped to zero
  for (int i = 11; i >= 0 && ++next_iv[i] == 0; --i) {
  }
  ctr_job(mgr, enc_keys_, next_iv, in.data() + bytes_to_wrap, out.data() + bytes_to_wrap,
          in.size() - bytes_to_wrap);
}

void AesCtr128::apply_burst(std::span<const Job> jobs) const noexcept {
  constexpr std::size_t kChunk = 32;
  IMB_MGR* mgr = manager();
  std::array<IMB_JOB, kChunk> batch;
  std::size_t n = 0;
  const auto submit = [&] {
    if (n == 0) {
      return;
    }
    const std::uint32_t done =
        IMB_SUBMIT_CIPHER_BURST_NOCHECK(mgr, batch.data(), static_cast<std::uint32_t>(n),
                                        IMB_CIPHER_CNTR, IMB_DIR_ENCRYPT, IMB_KEY_128_BYTES);
    if (done != n) {
      die("AesCtr128::apply_burst: IPsec-mb rejected a job");  // only bad parameters can
    }
    n = 0;
  };
  for (const Job& j : jobs) {
    if (j.length == 0) {
      continue;
    }
    const std::uint64_t low32 = (std::uint64_t{j.iv16[12]} << 24) |
                                (std::uint64_t{j.iv16[13]} << 16) |
                                (std::uint64_t{j.iv16[14]} << 8) | j.iv16[15];
    if (j.length > ((std::uint64_t{1} << 32) - low32) * 16) {
      // Crosses a 2^32-block boundary (a few times in 10^9 random IVs): apply() splits it.
      apply(ByteView(j.iv16, 16), ByteView(j.in, j.length), MutableByteView(j.out, j.length));
      continue;
    }
    batch[n++] = ctr_job_for(enc_keys_, j.iv16, j.in, j.out, j.length);
    if (n == kChunk) {
      submit();
    }
  }
  submit();
}

const char* aes_implementation_name() noexcept {
  switch (static_cast<IMB_ARCH>(manager()->used_arch)) {
    case IMB_ARCH_NOAESNI:
      return "noaesni";
    case IMB_ARCH_SSE:
      return "sse";
    case IMB_ARCH_AVX:
      return "avx";
    case IMB_ARCH_AVX2:
      return "avx2";
    case IMB_ARCH_AVX512:
      return "avx512";
    default:
      return "unknown";
  }
}

}  // namespace discplane::crypto
