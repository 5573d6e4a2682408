// SHA-256, HMAC-SHA256 and HKDF-SHA256 (RFC 2104, RFC 5869) on OpenSSL's low-level
// SHA-256 (SHA-NI on this hardware). HMAC and HKDF are built here from precomputed
// inner/outer SHA-256 states: ~0.4 us for a 32-byte HKDF against ~2.3 us through EVP_KDF,
// whose per-call fetch and context allocation dominate (see /work/shared/CRYPTO-NOTES.md).
#include "discplane/crypto/sha256.h"

#include <cstdlib>
#include <cstring>

#include <openssl/crypto.h>
#include <openssl/sha.h>

// SHA256_Init/Update/Final are deprecated in OpenSSL 3 in favour of EVP_Digest*, which
// adds a provider fetch and a heap context per call. They remain exported and supported
// in 3.x, and this file is their only user, so the warning is silenced here alone.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

namespace discplane::crypto {
namespace {

constexpr std::size_t kBlock = 64;

static_assert(sizeof(SHA256_CTX) <= 128 && alignof(SHA256_CTX) <= 16,
              "Sha256::state_ is too small for SHA256_CTX");

SHA256_CTX* ctx_of(std::uint8_t* state) noexcept {
  return reinterpret_cast<SHA256_CTX*>(state);
}

// HMAC key schedule: SHA-256 states after absorbing key^ipad and key^opad.
struct HmacKey {
  SHA256_CTX inner;
  SHA256_CTX outer;

  explicit HmacKey(ByteView key) noexcept {
    std::uint8_t block[kBlock] = {};
    if (key.size() > kBlock) {
      const Hash256 k = sha256(key);
      std::memcpy(block, k.data(), k.size());
    } else if (!key.empty()) {
      std::memcpy(block, key.data(), key.size());
    }
    std::uint8_t pad[kBlock];
    for (std::size_t i = 0; i < kBlock; ++i) {
      pad[i] = block[i] ^ 0x36;
    }
    SHA256_Init(&inner);
    SHA256_Update(&inner, pad, kBlock);
    for (std::size_t i = 0; i < kBlock; ++i) {
      pad[i] = block[i] ^ 0x5c;
    }
    SHA256_Init(&outer);
    SHA256_Update(&outer, pad, kBlock);
    OPENSSL_cleanse(block, sizeof block);
    OPENSSL_cleanse(pad, sizeof pad);
  }

  // HMAC over the concatenation of up to three pieces.
  void mac(ByteView a, ByteView b, ByteView c, std::uint8_t* out32) const noexcept {
    SHA256_CTX ctx = inner;
    SHA256_Update(&ctx, a.data(), a.size());
    SHA256_Update(&ctx, b.data(), b.size());
    SHA256_Update(&ctx, c.data(), c.size());
    std::uint8_t digest[32];
    SHA256_Final(digest, &ctx);
    ctx = outer;
    SHA256_Update(&ctx, digest, sizeof digest);
    SHA256_Final(out32, &ctx);
  }
};

}  // namespace

Hash256 sha256(ByteView data) noexcept {
  // Not the one-shot SHA256(): in OpenSSL 3 it goes through EVP_Q_digest, whose algorithm
  // fetch costs ~250 ns, several times the hash itself.
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  SHA256_Update(&ctx, data.data(), data.size());
  Hash256 out;
  SHA256_Final(out.data(), &ctx);
  return out;
}

Sha256::Sha256() noexcept {
  SHA256_Init(ctx_of(state_));
}

void Sha256::update(ByteView data) noexcept {
  SHA256_Update(ctx_of(state_), data.data(), data.size());
}

Hash256 Sha256::finish() noexcept {
  Hash256 out;
  SHA256_Final(out.data(), ctx_of(state_));
  SHA256_Init(ctx_of(state_));
  return out;
}

Hash256 hmac_sha256(ByteView key, ByteView data) noexcept {
  Hash256 out;
  HmacKey(key).mac(data, {}, {}, out.data());
  return out;
}

void hkdf_sha256(ByteView salt, ByteView ikm, ByteView info, MutableByteView out) noexcept {
  if (out.size() > 255 * 32) {
    std::abort();  // caller bug: RFC 5869 caps L at 255 * HashLen
  }
  // Extract. An empty salt is HMAC with a zero key, which the zero padding already gives.
  std::uint8_t prk[32];
  HmacKey(salt).mac(ikm, {}, {}, prk);
  // Expand: T(i) = HMAC(PRK, T(i-1) || info || i).
  const HmacKey expand_key(ByteView(prk, sizeof prk));
  std::uint8_t t[32];
  std::size_t t_len = 0;
  std::size_t done = 0;
  for (std::uint8_t counter = 1; done < out.size(); ++counter) {
    expand_key.mac(ByteView(t, t_len), info, ByteView(&counter, 1), t);
    t_len = sizeof t;
    const std::size_t take = out.size() - done < sizeof t ? out.size() - done : sizeof t;
    std::memcpy(out.data() + done, t, take);
    done += take;
  }
  OPENSSL_cleanse(prk, sizeof prk);
  OPENSSL_cleanse(t, sizeof t);
}

}  // namespace discplane::crypto

#pragma GCC diagnostic pop
