// SPSC ring: capacity and FIFO semantics on one thread, then a producer/consumer stress run that
// checks order and loss over a million elements.
#include "discplane/control/spsc_ring.h"

#include <cstdint>
#include <memory>
#include <thread>

#include <catch2/catch.hpp>

using discplane::control::SpscRing;

TEST_CASE("spsc ring: capacity, full, empty, FIFO", "[control][spsc]") {
  SpscRing<int> ring(5);
  CHECK(ring.capacity() == 8);
  CHECK(SpscRing<int>(1).capacity() == 2);
  CHECK(SpscRing<int>(64).capacity() == 64);

  int out = -1;
  CHECK_FALSE(ring.try_pop(out));
  for (int round = 0; round < 3; ++round) {  // wraps the indices around the slots
    for (int i = 0; i < 8; ++i) {
      REQUIRE(ring.try_push(round * 100 + i));
    }
    CHECK_FALSE(ring.try_push(999));
    CHECK(ring.size_approx() == 8);
    for (int i = 0; i < 8; ++i) {
      REQUIRE(ring.try_pop(out));
      CHECK(out == round * 100 + i);
    }
    CHECK_FALSE(ring.try_pop().has_value());
  }
}

TEST_CASE("spsc ring: move-only elements, leftovers destroyed", "[control][spsc]") {
  auto counter = std::make_shared<int>(0);
  {
    SpscRing<std::unique_ptr<std::shared_ptr<int>>> ring(4);
    REQUIRE(ring.try_push(std::make_unique<std::shared_ptr<int>>(counter)));
    REQUIRE(ring.try_emplace(std::make_unique<std::shared_ptr<int>>(counter)));
    REQUIRE(ring.try_push(std::make_unique<std::shared_ptr<int>>(counter)));
    CHECK(counter.use_count() == 4);
    auto first = ring.try_pop();
    REQUIRE(first);
    REQUIRE(*first);
    CHECK(**first == counter);
    first.reset();
    CHECK(counter.use_count() == 3);
  }
  CHECK(counter.use_count() == 1);  // the two left in the ring were destroyed with it
}

TEST_CASE("spsc ring: two threads, order kept and nothing lost", "[control][spsc]") {
  constexpr std::uint64_t kCount = 1'000'000;
  SpscRing<std::uint64_t> ring(1024);
  std::thread producer([&] {
    for (std::uint64_t i = 1; i <= kCount; ++i) {
      while (!ring.try_push(i)) {
        std::this_thread::yield();  // full: let the consumer run (the box may have 2 cores)
      }
    }
  });
  std::uint64_t expected = 1;
  std::uint64_t sum = 0;
  bool in_order = true;
  while (expected <= kCount) {
    std::uint64_t v = 0;
    if (ring.try_pop(v)) {
      in_order = in_order && v == expected;
      sum += v;
      ++expected;
    } else {
      std::this_thread::yield();
    }
  }
  producer.join();
  CHECK(in_order);
  CHECK(sum == kCount * (kCount + 1) / 2);
  std::uint64_t extra = 0;
  CHECK_FALSE(ring.try_pop(extra));
}
