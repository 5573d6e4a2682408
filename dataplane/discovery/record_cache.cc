// RecordCache implementation (see record_cache.h).
#include "record_cache.h"

#include <algorithm>

#include "discplane/crypto/keccak.h"

namespace discplane::disc {

RecordCache::RecordCache(std::uint32_t capacity) : map_(std::max<std::uint32_t>(1, capacity)) {}

Result<enr::Record, enr::EnrError> RecordCache::decode(ByteView raw) noexcept {
  const Hash256 key = crypto::keccak256(raw);
  if (const enr::Record* known = map_.find(key); known != nullptr) {
    ++hits_;
    return *known;
  }
  ++misses_;
  auto record = enr::decode(raw);  // verifies the signature
  if (record) {
    (void)map_.insert(key, *record);
  }
  return record;
}

}  // namespace discplane::disc
