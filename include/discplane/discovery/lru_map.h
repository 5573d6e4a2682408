// FixedLruMap: a hash map of fixed capacity with least-recently-used eviction.
// All storage is allocated once, in the constructor: inserting, finding and
// erasing never touch the heap, so the engine can keep sessions, challenges,
// pending requests and rate-limit buckets bounded under any flood. Not thread-safe
// (one owner: the dataplane core).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

namespace discplane::disc {

template <class K, class V, class Hash = std::hash<K>>
class FixedLruMap {
 public:
  static constexpr std::uint32_t kNil = UINT32_MAX;

  explicit FixedLruMap(std::uint32_t capacity)
      : capacity_(capacity == 0 ? 1 : capacity),
        slots_(capacity_),
        index_(bucket_count_for(capacity_), kNil) {
    for (std::uint32_t i = 0; i < capacity_; ++i) {
      slots_[i].next = i + 1 < capacity_ ? i + 1 : kNil;
    }
    free_head_ = 0;
  }

  std::uint32_t size() const noexcept { return size_; }
  std::uint32_t capacity() const noexcept { return capacity_; }
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
  InsertResult insert(const K& key, V value) noexcept {
    InsertResult r{nullptr, false, false, K{}};
    std::uint32_t s = lookup(key);
    if (s != kNil) {
      slots_[s].value = std::move(value);
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
    free_head_ = slots_[s].next;
    slots_[s].key = key;
    slots_[s].value = std::move(value);
    slots_[s].used = true;
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
      const std::uint32_t next = slots_[s].lru_next;
      if (fn(static_cast<const K&>(slots_[s].key), slots_[s].value)) {
        erase_slot(s);
      }
      s = next;
    }
  }
  template <class Fn>
  void for_each(Fn&& fn) const {
    for (std::uint32_t s = lru_head_; s != kNil; s = slots_[s].lru_next) {
      fn(slots_[s].key, slots_[s].value);
    }
  }
  void clear() noexcept {
    erase_if([](const K&, V&) { return true; });
  }

 private:
  struct Slot {
    K key{};
    V value{};
    std::uint32_t next = kNil;  // free list, or the hash chain when used
    std::uint32_t lru_prev = kNil;
    std::uint32_t lru_next = kNil;
    bool used = false;
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
    for (std::uint32_t s = index_[bucket_of(key)]; s != kNil; s = slots_[s].next) {
      if (slots_[s].key == key) {
        return s;
      }
    }
    return kNil;
  }
  void index_insert(std::uint32_t s) noexcept {
    std::uint32_t& head = index_[bucket_of(slots_[s].key)];
    slots_[s].next = head;
    head = s;
  }
  void index_remove(std::uint32_t s) noexcept {
    std::uint32_t* link = &index_[bucket_of(slots_[s].key)];
    while (*link != s) {
      link = &slots_[*link].next;
    }
    *link = slots_[s].next;
  }
  void unlink(std::uint32_t s) noexcept {
    Slot& e = slots_[s];
    if (e.lru_prev != kNil) {
      slots_[e.lru_prev].lru_next = e.lru_next;
    } else {
      lru_head_ = e.lru_next;
    }
    if (e.lru_next != kNil) {
      slots_[e.lru_next].lru_prev = e.lru_prev;
    } else {
      lru_tail_ = e.lru_prev;
    }
    e.lru_prev = e.lru_next = kNil;
  }
  void push_front(std::uint32_t s) noexcept {
    slots_[s].lru_prev = kNil;
    slots_[s].lru_next = lru_head_;
    if (lru_head_ != kNil) {
      slots_[lru_head_].lru_prev = s;
    }
    lru_head_ = s;
    if (lru_tail_ == kNil) {
      lru_tail_ = s;
    }
  }
  void erase_slot(std::uint32_t s) noexcept {
    index_remove(s);
    unlink(s);
    slots_[s].used = false;
    slots_[s].value = V{};
    slots_[s].next = free_head_;
    free_head_ = s;
    --size_;
  }

  std::uint32_t capacity_;
  std::vector<Slot> slots_;
  std::vector<std::uint32_t> index_;
  std::uint32_t free_head_ = kNil;
  std::uint32_t lru_head_ = kNil;
  std::uint32_t lru_tail_ = kNil;
  std::uint32_t size_ = 0;
};

}  // namespace discplane::disc
