// Bounded single-producer single-consumer ring: the control thread's command channel to the
// dataplane core (and the way back for replies). Lock-free and wait-free: try_push/try_pop never
// block and never allocate (the slots are allocated once, in the constructor). Exactly one thread
// may push and exactly one (other) thread may pop; anything else is a data race.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>

namespace discplane::control {

// Fixed rather than std::hardware_destructive_interference_size, whose value GCC warns may
// differ between translation units (-Winterference-size). 64 bytes on x86-64 and most ARM.
inline constexpr std::size_t kCacheLineSize = 64;

template <class T>
class SpscRing {
  static_assert(std::is_nothrow_move_constructible_v<T>, "ring elements are moved in and out");
  static_assert(std::is_nothrow_destructible_v<T>);

 public:
  // Capacity is rounded up to a power of two (at least 2) so that an index maps to a slot with a
  // mask; the indices themselves run freely and wrap at 2^64.
  explicit SpscRing(std::size_t min_capacity)
      : capacity_(round_up(min_capacity)),
        mask_(capacity_ - 1),
        slots_(std::make_unique<Slot[]>(capacity_)) {}

  SpscRing(const SpscRing&) = delete;
  SpscRing& operator=(const SpscRing&) = delete;

  ~SpscRing() {
    // Destroy what was pushed and never popped (no other thread may use the ring now).
    for (std::uint64_t i = head_.load(std::memory_order_relaxed);
         i != tail_.load(std::memory_order_relaxed); ++i) {
      slot(i)->~T();
    }
  }

  // Producer only. False (and `value` untouched) if the ring is full.
  [[nodiscard]] bool try_push(T&& value) noexcept { return emplace(std::move(value)); }
  [[nodiscard]] bool try_push(const T& value) noexcept(std::is_nothrow_copy_constructible_v<T>) {
    return emplace(value);
  }

  template <class... Args>
  [[nodiscard]] bool try_emplace(Args&&... args) noexcept(
      std::is_nothrow_constructible_v<T, Args...>) {
    return emplace(std::forward<Args>(args)...);
  }

  // Consumer only. Moves the oldest element into `out`; false if the ring is empty.
  [[nodiscard]] bool try_pop(T& out) noexcept(std::is_nothrow_move_assignable_v<T>) {
    const std::uint64_t head = head_.load(std::memory_order_relaxed);
    if (head == tail_cache_) {
      tail_cache_ = tail_.load(std::memory_order_acquire);  // sees the producer's writes
      if (head == tail_cache_) {
        return false;
      }
    }
    T* element = slot(head);
    out = std::move(*element);
    element->~T();
    head_.store(head + 1, std::memory_order_release);  // hands the slot back to the producer
    return true;
  }

  [[nodiscard]] std::optional<T> try_pop() noexcept {
    const std::uint64_t head = head_.load(std::memory_order_relaxed);
    if (head == tail_cache_) {
      tail_cache_ = tail_.load(std::memory_order_acquire);
      if (head == tail_cache_) {
        return std::nullopt;
      }
    }
    T* element = slot(head);
    std::optional<T> out(std::move(*element));
    element->~T();
    head_.store(head + 1, std::memory_order_release);
    return out;
  }

  std::size_t capacity() const noexcept { return capacity_; }
  // Exact only when called by one side while the other is idle; otherwise a snapshot.
  std::size_t size_approx() const noexcept {
    const std::uint64_t tail = tail_.load(std::memory_order_acquire);
    const std::uint64_t head = head_.load(std::memory_order_acquire);
    return static_cast<std::size_t>(tail - head);
  }
  bool empty_approx() const noexcept { return size_approx() == 0; }

 private:
  struct Slot {
    alignas(T) std::byte storage[sizeof(T)];
  };

  static std::size_t round_up(std::size_t n) noexcept {
    std::size_t c = 2;
    while (c < n) {
      c <<= 1;
    }
    return c;
  }

  T* slot(std::uint64_t index) const noexcept {
    return std::launder(reinterpret_cast<T*>(slots_[index & mask_].storage));
  }

  template <class... Args>
  bool emplace(Args&&... args) {
    const std::uint64_t tail = tail_.load(std::memory_order_relaxed);
    if (tail - head_cache_ == capacity_) {
      head_cache_ = head_.load(std::memory_order_acquire);  // the consumer is done with the slot
      if (tail - head_cache_ == capacity_) {
        return false;
      }
    }
    ::new (static_cast<void*>(slots_[tail & mask_].storage)) T(std::forward<Args>(args)...);
    tail_.store(tail + 1, std::memory_order_release);  // publishes the element
    return true;
  }

  // Read-only after construction: shared by both sides without contention.
  const std::size_t capacity_;
  const std::size_t mask_;
  const std::unique_ptr<Slot[]> slots_;

  // Consumer's line: its index and its cached copy of the producer's.
  alignas(kCacheLineSize) std::atomic<std::uint64_t> head_{0};
  std::uint64_t tail_cache_ = 0;
  // Producer's line. The caches keep each side off the other's line until it looks full/empty.
  alignas(kCacheLineSize) std::atomic<std::uint64_t> tail_{0};
  std::uint64_t head_cache_ = 0;
  // (alignas makes sizeof a multiple of the line, so the next object starts on a fresh one.)
};

}  // namespace discplane::control
