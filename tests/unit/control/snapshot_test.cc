// SnapshotPublisher: single-thread semantics (versions, skipping when every free slot is pinned)
// and a multi-reader stress run where every snapshot seen must be internally consistent.
#include "discplane/control/snapshot.h"

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

using discplane::control::SnapshotPublisher;

namespace {

// Every field and every vector element equals `version`; the vector's length depends on it, so
// a torn read shows up as mismatched fields or a wrong length.
struct Sample {
  std::uint64_t version = 0;
  std::array<std::uint64_t, 15> fields{};
  std::vector<std::uint64_t> items;

  void fill(std::uint64_t v) {
    version = v;
    fields.fill(v);
    items.assign(v % 97, v);
  }
  bool consistent() const {
    for (auto f : fields) {
      if (f != version) {
        return false;
      }
    }
    if (items.size() != version % 97) {
      return false;
    }
    for (auto i : items) {
      if (i != version) {
        return false;
      }
    }
    return true;
  }
};

}  // namespace

TEST_CASE("snapshot: initial value, versions, copies", "[control][snapshot]") {
  SnapshotPublisher<Sample> pub;
  {
    auto s = pub.acquire();
    REQUIRE(s);
    CHECK(s.version() == 0);
    CHECK(s->consistent());
  }
  for (std::uint64_t v = 1; v <= 10; ++v) {
    REQUIRE(pub.publish([&](Sample& slot) { slot.fill(v); }));
    auto s = pub.acquire();
    CHECK(s.version() == v);
    CHECK(s->version == v);
    CHECK(s->consistent());
  }
  CHECK(pub.published() == 10);
  CHECK(pub.skipped() == 0);
  CHECK(pub.read_copy().version == 10);
}

TEST_CASE("snapshot: pinned slots are never reused; the core skips instead",
          "[control][snapshot]") {
  SnapshotPublisher<Sample, 3> pub;
  auto a = pub.acquire();  // pins the initial slot
  Sample v1;
  v1.fill(1);
  REQUIRE(pub.publish_copy(v1));
  auto b = pub.acquire();  // pins version 1
  CHECK(b.version() == 1);
  Sample v2;
  v2.fill(2);
  REQUIRE(pub.publish_copy(v2));  // the third slot
  // Current is version 2; both other slots are pinned: no slot to fill.
  bool called = false;
  CHECK_FALSE(pub.publish([&](Sample&) { called = true; }));
  CHECK_FALSE(called);
  CHECK(pub.skipped() == 1);
  CHECK(pub.published() == 2);
  // The pinned snapshots are intact, and readers still get the newest.
  CHECK(a.version() == 0);
  CHECK(a->version == 0);
  CHECK(b->version == 1);
  CHECK(b->consistent());
  CHECK(pub.acquire().version() == 2);

  a.reset();  // frees the oldest slot
  Sample v3;
  v3.fill(3);
  CHECK(pub.publish_copy(v3));
  CHECK(pub.acquire()->version == 3);
  CHECK(b->version == 1);  // still pinned, still intact

  auto moved = std::move(b);
  CHECK_FALSE(b);
  CHECK(moved->version == 1);
}

TEST_CASE("snapshot: readers on other threads only see whole snapshots", "[control][snapshot]") {
  SnapshotPublisher<Sample> pub;
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> reads{0};
  std::atomic<std::uint64_t> torn{0};
  std::atomic<std::uint64_t> went_back{0};

  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&, r] {
      std::uint64_t last = 0;
      std::uint64_t n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        auto s = pub.acquire();
        if (!s->consistent() || s->version != s.version()) {
          torn.fetch_add(1);
        }
        if (s.version() < last) {
          went_back.fetch_add(1);
        }
        last = s.version();
        if (r == 0) {
          std::this_thread::yield();  // one reader holds its pin across a reschedule
        }
        ++n;
      }
      reads.fetch_add(n);
    });
  }

  // The core: publish as fast as it can for ~1 s (capped at 2e6 attempts). publish() returns
  // either way; we count how often it had to skip.
  std::uint64_t attempts = 0;
  std::uint64_t version = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (std::chrono::steady_clock::now() < deadline && attempts < 2'000'000) {
    ++attempts;
    const std::uint64_t next = version + 1;
    if (pub.publish([&](Sample& slot) { slot.fill(next); })) {
      version = next;
    }
  }
  stop = true;
  for (auto& t : readers) {
    t.join();
  }
  INFO("attempts " << attempts << ", published " << pub.published() << ", skipped " << pub.skipped()
                   << ", reads " << reads.load());
  CHECK(torn.load() == 0);
  CHECK(went_back.load() == 0);
  CHECK(pub.published() + pub.skipped() == attempts);
  CHECK(pub.published() == version);
  CHECK(pub.published() > 0);
  CHECK(reads.load() > 0);
  CHECK(pub.acquire().version() == version);
}
