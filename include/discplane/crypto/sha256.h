// SHA-256, HMAC-SHA256 and HKDF-SHA256 (RFC 5869) on OpenSSL's libcrypto.
#pragma once

#include "discplane/common/bytes.h"

namespace discplane::crypto {

Hash256 sha256(ByteView data) noexcept;

class Sha256 {
 public:
  Sha256() noexcept;
  void update(ByteView data) noexcept;
  Hash256 finish() noexcept;

 private:
  alignas(16) std::uint8_t state_[128];  // opaque SHA256_CTX
};

Hash256 hmac_sha256(ByteView key, ByteView data) noexcept;
// HKDF extract + expand; out.size() <= 255 * 32.
void hkdf_sha256(ByteView salt, ByteView ikm, ByteView info, MutableByteView out) noexcept;

}  // namespace discplane::crypto
