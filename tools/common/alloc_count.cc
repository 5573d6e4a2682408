// Replaces the global operator new/delete of the binary it is linked into with counting
// wrappers around malloc/free (see alloc_count.h). Counting is off unless a section is open,
// so outside one every allocation is a plain malloc.
#include "common/alloc_count.h"

#include <execinfo.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdlib>
#include <new>

// GCC flags free() of memory from operator new, not knowing that ours is malloc underneath.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace discplane::alloc_count {
namespace {

std::atomic<bool> g_counting{false};   // Scope::kAllThreads
thread_local bool t_counting = false;  // Scope::kThisThread
thread_local bool t_in_note = false;   // backtrace() must not recurse into the counter
std::atomic<std::uint64_t> g_allocations{0};
std::atomic<int> g_trace_left{0};

// The first counted allocation's call stack, claimed by whichever thread makes it.
std::atomic<bool> g_record{false};
std::atomic<bool> g_have_record{false};
std::array<void*, 48> g_record_frames{};
int g_record_depth = 0;

bool counting() noexcept {
  return (t_counting || g_counting.load(std::memory_order_relaxed)) && !t_in_note;
}

void note() noexcept {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  t_in_note = true;
  if (g_record.exchange(false, std::memory_order_relaxed)) {
    g_record_depth = backtrace(g_record_frames.data(), static_cast<int>(g_record_frames.size()));
    g_have_record.store(true, std::memory_order_release);
  }
  int left = g_trace_left.load(std::memory_order_relaxed);
  while (left > 0 && !g_trace_left.compare_exchange_weak(left, left - 1)) {
  }
  if (left > 0) {
    void* frames[24];
    const int n = backtrace(frames, 24);
    static const char kSep[] = "---- allocation in the measured phase:\n";
    (void)!::write(STDERR_FILENO, kSep, sizeof kSep - 1);
    backtrace_symbols_fd(frames, n, STDERR_FILENO);
  }
  t_in_note = false;
}

void* counted_alloc(std::size_t size) noexcept {
  if (counting()) {
    note();
  }
  return std::malloc(size == 0 ? 1 : size);
}

void* counted_aligned_alloc(std::size_t size, std::align_val_t align) noexcept {
  if (counting()) {
    note();
  }
  void* p = nullptr;
  const std::size_t a = std::max(static_cast<std::size_t>(align), sizeof(void*));
  if (posix_memalign(&p, a, size == 0 ? 1 : size) != 0) {
    return nullptr;
  }
  return p;
}

void* checked(void* p) {
  if (p == nullptr) {
#if defined(__cpp_exceptions)
    throw std::bad_alloc();
#else
    std::abort();
#endif
  }
  return p;
}

}  // namespace

void start(Scope scope, bool record_first) noexcept {
  g_have_record.store(false, std::memory_order_relaxed);
  g_record.store(record_first, std::memory_order_relaxed);
  if (scope == Scope::kThisThread) {
    t_counting = true;
  } else {
    g_counting.store(true, std::memory_order_relaxed);
  }
}

void stop(Scope scope) noexcept {
  if (scope == Scope::kThisThread) {
    t_counting = false;
  } else {
    g_counting.store(false, std::memory_order_relaxed);
  }
}

std::uint64_t total() noexcept {
  return g_allocations.load(std::memory_order_relaxed);
}

void print_first_allocation() noexcept {
  if (!g_have_record.load(std::memory_order_acquire)) {
    return;
  }
  static const char kHead[] = "first allocation in the measured section:\n";
  (void)!::write(STDERR_FILENO, kHead, sizeof kHead - 1);
  backtrace_symbols_fd(g_record_frames.data(), g_record_depth, STDERR_FILENO);
}

void trace_next(int n) noexcept {
  g_trace_left.store(std::max(n, 0), std::memory_order_relaxed);
}

}  // namespace discplane::alloc_count

using discplane::alloc_count::checked;
using discplane::alloc_count::counted_aligned_alloc;
using discplane::alloc_count::counted_alloc;

// ---- the replaced global allocation functions (forward to malloc/free) ------------------------
void* operator new(std::size_t n) {
  return checked(counted_alloc(n));
}
void* operator new[](std::size_t n) {
  return checked(counted_alloc(n));
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  return counted_alloc(n);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  return counted_alloc(n);
}
void* operator new(std::size_t n, std::align_val_t a) {
  return checked(counted_aligned_alloc(n, a));
}
void* operator new[](std::size_t n, std::align_val_t a) {
  return checked(counted_aligned_alloc(n, a));
}
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return counted_aligned_alloc(n, a);
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return counted_aligned_alloc(n, a);
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
void operator delete(void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
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
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  std::free(p);
}
