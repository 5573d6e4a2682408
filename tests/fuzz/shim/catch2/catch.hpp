// Stand-in for Catch2 in the libFuzzer targets (tests/fuzz/), which share the hand-driven
// test peers of the unit tests (tests/unit/discovery/raw_peers.h) but run without a test
// framework: a failed REQUIRE there is a harness bug, so it aborts (libFuzzer reports it).
#pragma once

#include <cstdlib>

#define REQUIRE(...)      \
  do {                    \
    if (!(__VA_ARGS__)) { \
      std::abort();       \
    }                     \
  } while (false)
