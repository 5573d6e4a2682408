// RecordCache: records already verified, found again by the keccak256 of their bytes.
// Every NODES / Neighbors-era ENR reply repeats records the node has seen before (a crawl
// sees each live record from dozens of neighbours); verifying one costs an ECDSA verify and
// a public-key parse (~40 us), finding it here a hash of at most 300 bytes and a copy (~1 us).
// Keyed by content, not by (id, seq): other bytes under a known id and seq are a different
// record and are verified as new, so a forged record can never ride on a cached signature.
// Fixed capacity, LRU, no allocation after construction (storage is touched as it fills).
#pragma once

#include <cstdint>

#include "discplane/common/bytes.h"
#include "discplane/common/result.h"
#include "discplane/discovery/lru_map.h"
#include "discplane/discovery/node_id.h"
#include "discplane/wire/enr.h"

namespace discplane::disc {

class RecordCache {
 public:
  explicit RecordCache(std::uint32_t capacity);

  // The verified record `raw` encodes: from the cache, or decoded and verified now (and then
  // cached when it verifies). Errors are enr::decode()'s.
  [[nodiscard]] Result<enr::Record, enr::EnrError> decode(ByteView raw) noexcept;

  std::uint64_t hits() const noexcept { return hits_; }
  std::uint64_t misses() const noexcept { return misses_; }
  std::size_t size() const noexcept { return map_.size(); }

 private:
  // The key is the keccak of bytes a peer chose: mixed with the process secret as ids are.
  FixedLruMap<Hash256, enr::Record, NodeIdHash> map_;
  std::uint64_t hits_ = 0;
  std::uint64_t misses_ = 0;
};

}  // namespace discplane::disc
