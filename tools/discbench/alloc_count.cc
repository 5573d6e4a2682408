// Replaces the global operator new/delete of the discbench binary with counting wrappers
// around malloc/free. Counting is on only around the measured engine calls, so the count is
// exactly the allocations the engine (or the path under it) made per packet.
#include <execinfo.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "bench.h"

// GCC flags free() of memory from operator new, not knowing that ours is malloc underneath.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace {
std::atomic<bool> g_counting{false};
std::atomic<std::uint64_t> g_allocations{0};

// DISCBENCH_TRACE_ALLOC=N prints the call stacks of the first N counted allocations (to find
// where the engine allocates per packet).
std::atomic<int> g_trace_left{-1};

void note() {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  int left = g_trace_left.load(std::memory_order_relaxed);
  if (left < 0) {
    const char* env = std::getenv("DISCBENCH_TRACE_ALLOC");
    left = env != nullptr ? std::atoi(env) : 0;
    g_trace_left.store(left, std::memory_order_relaxed);
  }
  if (left > 0) {
    g_trace_left.store(left - 1, std::memory_order_relaxed);
    g_counting.store(false, std::memory_order_relaxed);
    void* frames[24];
    const int n = backtrace(frames, 24);
    static const char kSep[] = "---- allocation in the measured phase:\n";
    (void)!::write(2, kSep, sizeof kSep - 1);
    backtrace_symbols_fd(frames, n, 2);
    g_counting.store(true, std::memory_order_relaxed);
  }
}

void* counted(std::size_t size) {
  if (g_counting.load(std::memory_order_relaxed)) {
    note();
  }
  void* p = std::malloc(size == 0 ? 1 : size);
  if (p == nullptr) {
    throw std::bad_alloc();
  }
  return p;
}
void* counted_aligned(std::size_t size, std::align_val_t align) {
  if (g_counting.load(std::memory_order_relaxed)) {
    note();
  }
  void* p = nullptr;
  const std::size_t a = std::max(static_cast<std::size_t>(align), sizeof(void*));
  if (posix_memalign(&p, a, size == 0 ? 1 : size) != 0) {
    throw std::bad_alloc();
  }
  return p;
}
}  // namespace

namespace discbench {
void set_alloc_counting(bool on) noexcept {
  g_counting.store(on, std::memory_order_relaxed);
}
std::uint64_t allocations() noexcept {
  return g_allocations.load(std::memory_order_relaxed);
}
}  // namespace discbench

void* operator new(std::size_t size) {
  return counted(size);
}
void* operator new[](std::size_t size) {
  return counted(size);
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return counted(size);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return counted(size);
  } catch (...) {
    return nullptr;
  }
}
void* operator new(std::size_t size, std::align_val_t align) {
  return counted_aligned(size, align);
}
void* operator new[](std::size_t size, std::align_val_t align) {
  return counted_aligned(size, align);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
