// The counting allocator shared by the allocation test (tests/unit/discovery/alloc_test.cc)
// and discbench: alloc_count.cc replaces the global operator new/delete with wrappers around
// malloc/free that count while a section is open. It is the CMake OBJECT library
// dp_alloc_count, linked into exactly those two binaries (a binary may replace operator new
// once only, so nothing else may define it there). Not for the product.
#pragma once

#include <cstdint>

namespace discplane::alloc_count {

// Which allocations a section counts: the opening thread's only (other threads, e.g. other
// tests of the same binary, see plain malloc), or every thread's.
enum class Scope { kThisThread, kAllThreads };

// Counting on for `scope`. With `record_first`, the first counted allocation records its call
// stack (for print_first_allocation()).
void start(Scope scope, bool record_first = false) noexcept;
// Counting off for `scope` (kThisThread: the calling thread's switch).
void stop(Scope scope) noexcept;
// Every allocation counted since the program started.
std::uint64_t total() noexcept;
// Prints the call stack recorded by the first counted allocation since the last
// start(..., true) to stderr; prints nothing when there was none.
void print_first_allocation() noexcept;
// Prints the call stacks of the next `n` counted allocations to stderr as they happen.
void trace_next(int n) noexcept;

// RAII: counts while alive; stop() ends it early and gives the count.
class Section {
 public:
  explicit Section(Scope scope, bool record_first = false) noexcept
      : scope_(scope), start_(total()) {
    alloc_count::start(scope, record_first);
  }
  ~Section() { (void)stop(); }
  Section(const Section&) = delete;
  Section& operator=(const Section&) = delete;

  // Counting off; the allocations counted since this section opened.
  std::uint64_t stop() noexcept {
    if (open_) {
      alloc_count::stop(scope_);
      open_ = false;
      count_ = total() - start_;
    }
    return count_;
  }

 private:
  Scope scope_;
  std::uint64_t start_;
  std::uint64_t count_ = 0;
  bool open_ = true;
};

}  // namespace discplane::alloc_count
