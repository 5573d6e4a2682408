// FixedLruMap: a hash map of fixed capacity with least-recently-used eviction.
// All storage is allocated once, in the constructor: inserting, finding and
// erasing never touch the heap, so the engine can keep sessions, challenges,
// pending requests and rate-limit buckets bounded under any flood. Not thread-safe
// (one owner: the dataplane core).
//
// Layout, for tables larger than the cache (thousands of discv5 sessions):
// - the hash chains and the recency list live in a compact array of 12-byte links, apart
//   from the entries, so a find touches the bucket, three links (the entry's and its list
//   neighbours', all in arrays that stay cached) and the one entry it returns;
// - an entry (key, value) is constructed when inserted and destroyed when erased or
//   evicted, in storage reserved at construction but never written before: a table sized
//   for 8192 sessions of 2.4 KB costs memory only for the sessions it holds, and a value may
//   be large and cache-line aligned (a session keeps its key schedules inline, next to its
//   key). Under AddressSanitizer a free entry is poisoned, so a pointer kept past its erase
//   is reported.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <utility>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define DISCPLANE_LRU_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define DISCPLANE_LRU_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define DISCPLANE_LRU_POISON(p, n) ((void)(p), (void)(n))
#define DISCPLANE_LRU_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace discplane::disc {

template <class K, class V, class Hash = std::hash<K>>
class FixedLruMap {
 public:
  static constexpr std::uint32_t kNil = UINT32_MAX;

  explicit FixedLruMap(std::uint32_t capacity)
      : capacity_(capacity == 0 ? 1 : capacity),
        slots_(static_cast<Slot*>(
            ::operator new (sizeof(Slot) * capacity_, std::align_val_t{alignof(Slot)}))),
        links_(capacity_),
        index_(bucket_count_for(capacity_), kNil) {
    for (std::uint32_t i = 0; i < capacity_; ++i) {
      links_[i].next = i + 1 < capacity_ ? i + 1 : kNil;
    }
    free_head_ = 0;
    DISCPLANE_LRU_POISON(slots_, sizeof(Slot) * capacity_);
  }
  ~FixedLruMap() {
    for (std::uint32_t s = lru_head_; s != kNil; s = links_[s].lru_next) {
      std::destroy_at(&slots_[s]);
    }
    DISCPLANE_LRU_UNPOISON(slots_, sizeof(Slot) * capacity_);
    ::operator delete (slots_, std::align_val_t{alignof(Slot)});
  }
  FixedLruMap(const FixedLruMap&) = delete;
  FixedLruMap& operator=(const FixedLruMap&) = delete;

  std::uint32_t size() const noexcept { return size_; }
  std::uint32_t capacity() const noexcept { return capacity_; }
  // Everything reserved at construction (entries, links, buckets). Entry storage is only
  // written, and so only resident, once an entry has been inserted into it.
  std::size_t reserved_bytes() const noexcept {
    return std::size_t{capacity_} * (sizeof(Slot) + sizeof(Links)) +
           index_.size() * sizeof(std::uint32_t);
  }
  bool full() const noexcept { return size_ == capacity_; }

  // Finds without changing recency.
  V* peek(const K& key) noexcept {
    const std::uint32_t s = lookup(key);
    return s == kNil ? nullptr : &slots_[s].value;
  }
  const V* peek(const K& key) const noexcept {
    const std::uint32_t s = const_cast<FixedLruMap*>(this)->lookup(key);
    return s == kNil ? nullptr : &slots_[s].value;
  }
  // Finds and marks most recently used.
  V* find(const K& key) noexcept {
    const std::uint32_t s = lookup(key);
    if (s == kNil) {
      return nullptr;
    }
    unlink(s);
    push_front(s);
    return &slots_[s].value;
  }

  struct InsertResult {
    V* value;
    bool inserted;  // false: the key existed and its value was replaced
    bool evicted;   // an older entry was evicted to make room
    K evicted_key;  // valid when evicted
  };
  // Inserts or replaces; when full, evicts the least recently used entry.
  // (A forwarding reference rather than a by-value V: a session is 2.3 KB and 64-byte
  // aligned, and would be copied once more.)
  template <class U = V>
  InsertResult insert(const K& key, U&& value) noexcept {
    InsertResult r{nullptr, false, false, K{}};
    std::uint32_t s = lookup(key);
    if (s != kNil) {
      slots_[s].value = std::forward<U>(value);
      unlink(s);
      push_front(s);
      r.value = &slots_[s].value;
      return r;
    }
    if (free_head_ == kNil) {
      const std::uint32_t victim = lru_tail_;
      r.evicted = true;
      r.evicted_key = slots_[victim].key;
      erase_slot(victim);
    }
    s = free_head_;
    free_head_ = links_[s].next;
    DISCPLANE_LRU_UNPOISON(&slots_[s], sizeof(Slot));
    std::construct_at(&slots_[s], key, std::forward<U>(value));
    index_insert(s);
    push_front(s);
    ++size_;
    r.value = &slots_[s].value;
    r.inserted = true;
    return r;
  }

  bool erase(const K& key) noexcept {
    const std::uint32_t s = lookup(key);
    if (s == kNil) {
      return false;
    }
    erase_slot(s);
    return true;
  }

  // The least recently used entry, if any.
  std::optional<std::pair<const K*, V*>> oldest() noexcept {
    if (lru_tail_ == kNil) {
      return std::nullopt;
    }
    return std::make_pair(&slots_[lru_tail_].key, &slots_[lru_tail_].value);
  }

  // Visits entries from most to least recently used; `fn(key, value)` returns true
  // to erase the entry.
  template <class Fn>
  void erase_if(Fn&& fn) noexcept {
    std::uint32_t s = lru_head_;
    while (s != kNil) {
      const std::uint32_t next = links_[s].lru_next;
      if (fn(static_cast<const K&>(slots_[s].key), slots_[s].value)) {
        erase_slot(s);
      }
      s = next;
    }
  }
  template <class Fn>
  void for_each(Fn&& fn) const {
    for (std::uint32_t s = lru_head_; s != kNil; s = links_[s].lru_next) {
      fn(slots_[s].key, slots_[s].value);
    }
  }
  void clear() noexcept {
    erase_if([](const K&, V&) { return true; });
  }

 private:
  // Constructed only while its entry is in the map.
  struct Slot {
    template <class U>
    Slot(const K& k, U&& v) : key(k), value(std::forward<U>(v)) {}
    K key;
    V value;
  };
  struct Links {
    std::uint32_t next = kNil;  // free list, or the hash chain when used
    std::uint32_t lru_prev = kNil;
    std::uint32_t lru_next = kNil;
  };

  static std::uint32_t bucket_count_for(std::uint32_t capacity) {
    std::uint32_t n = 1;
    while (n < capacity * 2) {
      n <<= 1;
    }
    return n;
  }
  std::uint32_t bucket_of(const K& key) const noexcept {
    return static_cast<std::uint32_t>(Hash{}(key)) & static_cast<std::uint32_t>(index_.size() - 1);
  }
  std::uint32_t lookup(const K& key) noexcept {
    for (std::uint32_t s = index_[bucket_of(key)]; s != kNil; s = links_[s].next) {
      if (slots_[s].key == key) {
        return s;
      }
    }
    return kNil;
  }
  void index_insert(std::uint32_t s) noexcept {
    std::uint32_t& head = index_[bucket_of(slots_[s].key)];
    links_[s].next = head;
    head = s;
  }
  void index_remove(std::uint32_t s) noexcept {
    std::uint32_t* link = &index_[bucket_of(slots_[s].key)];
    while (*link != s) {
      link = &links_[*link].next;
    }
    *link = links_[s].next;
  }
  void unlink(std::uint32_t s) noexcept {
    Links& e = links_[s];
    if (e.lru_prev != kNil) {
      links_[e.lru_prev].lru_next = e.lru_next;
    } else {
      lru_head_ = e.lru_next;
    }
    if (e.lru_next != kNil) {
      links_[e.lru_next].lru_prev = e.lru_prev;
    } else {
      lru_tail_ = e.lru_prev;
    }
    e.lru_prev = e.lru_next = kNil;
  }
  void push_front(std::uint32_t s) noexcept {
    links_[s].lru_prev = kNil;
    links_[s].lru_next = lru_head_;
    if (lru_head_ != kNil) {
      links_[lru_head_].lru_prev = s;
    }
    lru_head_ = s;
    if (lru_tail_ == kNil) {
      lru_tail_ = s;
    }
  }
  void erase_slot(std::uint32_t s) noexcept {
    index_remove(s);
    unlink(s);
    std::destroy_at(&slots_[s]);
    DISCPLANE_LRU_POISON(&slots_[s], sizeof(Slot));
    links_[s].next = free_head_;
    free_head_ = s;
    --size_;
  }

  std::uint32_t capacity_;
  Slot* slots_;  // capacity_ entries of storage; see the header comment
  std::vector<Links> links_;
  std::vector<std::uint32_t> index_;
  std::uint32_t free_head_ = kNil;
  std::uint32_t lru_head_ = kNil;
  std::uint32_t lru_tail_ = kNil;
  std::uint32_t size_ = 0;
};

}  // namespace discplane::disc

#undef DISCPLANE_LRU_POISON
#undef DISCPLANE_LRU_UNPOISON
