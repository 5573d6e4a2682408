// SnapshotPublisher<T>: the dataplane core publishes immutable snapshots (table view, counters)
// and any number of reader threads (API, metrics) read them. The core never blocks, never waits
// for a reader and never allocates here; readers never see a half-written snapshot.
//
// Why this shape:
//  - std::atomic<std::shared_ptr<const T>> is not lock-free with libstdc++ 12 (is_lock_free()
//    returns false: it takes an internal lock), and it would free on the core.
//  - A seqlock (readers copy, then re-check a version) cannot hold a T with heap members: a
//    reader could follow a vector pointer that the core is reallocating.
//  - So: kSlots preallocated slots, each with a reader pin count. `current_` names the newest
//    slot. The core fills a slot that is neither current nor pinned, then publishes its index.
//    If every other slot is pinned by slow readers, the core SKIPS this publication and counts it
//    (skipped()), rather than wait. Readers pin the current slot, then re-check that it is still
//    current; if not, they unpin and retry (lock-free: a retry means the core made progress).
//  - Slots are reused in place, so a T holding vectors keeps its capacity: once warmed up the core
//    fills snapshots without allocating. The fill callback sees the slot's old content (from an
//    older publication) and must overwrite all of it.
// Memory order: the pin (readers.fetch_add), the re-check (current_.load), the publication
// (current_.store) and the core's free check (readers.load) are seq_cst. That is the Dekker
// pattern: either the core sees the pin and skips the slot, or the reader sees the slot is no
// longer current and unpins. Unpin is a release that the core's free check acquires.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "discplane/control/spsc_ring.h"  // kCacheLineSize

namespace discplane::control {

template <class T, std::size_t kSlots = 4>
class SnapshotPublisher {
  // current + one being filled + at least one that may be pinned by a reader.
  static_assert(kSlots >= 3, "needs a current slot, a slot to fill and a slot readers may pin");

 public:
  // A reader's hold on one published snapshot. While it lives, the core will not reuse the slot,
  // so keep it short (copy out what you need, or render the response, then drop it).
  class Pinned {
   public:
    Pinned() = default;
    Pinned(Pinned&& other) noexcept
        : owner_(std::exchange(other.owner_, nullptr)), slot_(other.slot_) {}
    Pinned& operator=(Pinned&& other) noexcept {
      if (this != &other) {
        reset();
        owner_ = std::exchange(other.owner_, nullptr);
        slot_ = other.slot_;
      }
      return *this;
    }
    Pinned(const Pinned&) = delete;
    Pinned& operator=(const Pinned&) = delete;
    ~Pinned() { reset(); }

    explicit operator bool() const noexcept { return owner_ != nullptr; }
    const T& operator*() const noexcept { return owner_->slots_[slot_].value; }
    const T* operator->() const noexcept { return &owner_->slots_[slot_].value; }
    const T& get() const noexcept { return **this; }
    // 0 for the initial value, then 1, 2, ... for each successful publication.
    std::uint64_t version() const noexcept { return owner_->slots_[slot_].version; }

    void reset() noexcept {
      if (owner_ != nullptr) {
        owner_->slots_[slot_].readers.fetch_sub(1, std::memory_order_release);
        owner_ = nullptr;
      }
    }

   private:
    friend class SnapshotPublisher;
    Pinned(const SnapshotPublisher* owner, std::uint32_t slot) noexcept
        : owner_(owner), slot_(slot) {}
    const SnapshotPublisher* owner_ = nullptr;
    std::uint32_t slot_ = 0;
  };

  // Every slot starts as a copy of `initial`, published as version 0.
  explicit SnapshotPublisher(const T& initial = T{}) {
    for (auto& s : slots_) {
      s.value = initial;
    }
  }
  SnapshotPublisher(const SnapshotPublisher&) = delete;
  SnapshotPublisher& operator=(const SnapshotPublisher&) = delete;

  // ---- Core side: one thread only. ----

  // Fills a free slot with fill(T&) and publishes it. Returns false, without calling fill, if
  // every non-current slot is pinned (counted in skipped()). Never blocks.
  template <class Fill>
  bool publish(Fill&& fill) noexcept(std::is_nothrow_invocable_v<Fill, T&>) {
    const std::uint32_t current = current_.load(std::memory_order_relaxed);  // we wrote it
    for (std::uint32_t step = 1; step < kSlots; ++step) {
      // Start after current: the oldest slots come first, and they are the least likely pinned.
      const std::uint32_t i = static_cast<std::uint32_t>((current + step) % kSlots);
      Slot& s = slots_[i];
      if (s.readers.load(std::memory_order_seq_cst) != 0) {
        continue;
      }
      std::forward<Fill>(fill)(s.value);
      s.version = ++last_version_;
      current_.store(i, std::memory_order_seq_cst);
      published_.store(published_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      return true;
    }
    skipped_.store(skipped_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    return false;
  }

  bool publish_copy(const T& value) noexcept(std::is_nothrow_copy_assignable_v<T>) {
    return publish([&](T& slot) { slot = value; });
  }

  // ---- Reader side: any thread, any number. ----

  // Pins the newest snapshot. Lock-free: it loops only while the core publishes concurrently.
  [[nodiscard]] Pinned acquire() const noexcept {
    for (;;) {
      const std::uint32_t i = current_.load(std::memory_order_seq_cst);
      slots_[i].readers.fetch_add(1, std::memory_order_seq_cst);
      if (current_.load(std::memory_order_seq_cst) == i) {
        return Pinned(this, i);
      }
      slots_[i].readers.fetch_sub(1, std::memory_order_release);  // superseded meanwhile: retry
    }
  }

  // Copy of the newest snapshot (allocates if T does; for readers, never for the core).
  [[nodiscard]] T read_copy() const { return acquire().get(); }

  // Counters, readable from any thread.
  std::uint64_t published() const noexcept { return published_.load(std::memory_order_relaxed); }
  std::uint64_t skipped() const noexcept { return skipped_.load(std::memory_order_relaxed); }

 private:
  struct Slot {
    alignas(kCacheLineSize) mutable std::atomic<std::uint32_t> readers{0};
    std::uint64_t version = 0;
    alignas(kCacheLineSize) T value{};
  };

  std::array<Slot, kSlots> slots_;
  alignas(kCacheLineSize) std::atomic<std::uint32_t> current_{0};
  std::uint64_t last_version_ = 0;  // core only
  std::atomic<std::uint64_t> published_{0};
  std::atomic<std::uint64_t> skipped_{0};
};

}  // namespace discplane::control
