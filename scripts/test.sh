#!/usr/bin/env bash
# Sets up and runs every test: installs the Debian dependencies, builds Release with
# -Werror, installs the interop peers from their lockfile, runs the whole suite
# through ctest, then builds the libFuzzer targets with clang and runs each briefly, then
# builds and runs the whole suite again under ASan + UBSan.
# Needs root (apt-get, network namespaces, DPDK vdevs). Usage: ./scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
JOBS=$(nproc)

scripts/install-deps.sh

# ccache, where installed, for all three builds: a re-run (or a clone at the same path) then
# compiles only what changed. CCACHE_BASEDIR makes the cached paths relative to the checkout.
if command -v ccache >/dev/null 2>&1; then
  export CMAKE_C_COMPILER_LAUNCHER=${CMAKE_C_COMPILER_LAUNCHER:-ccache}
  export CMAKE_CXX_COMPILER_LAUNCHER=${CMAKE_CXX_COMPILER_LAUNCHER:-ccache}
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$ROOT}
fi

BUILD=${DISCPLANE_BUILD_DIR:-build}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDISCPLANE_WERROR=ON
cmake --build "$BUILD" -j"$JOBS"

for dir in tests/interop tests/conformance; do
  if [[ -f "$dir/package-lock.json" ]]; then
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
done

ctest --test-dir "$BUILD" --output-on-failure -j"$JOBS"

if [[ "${DISCPLANE_SKIP_FUZZ:-0}" != 1 ]]; then
  FUZZ_BUILD=${DISCPLANE_FUZZ_BUILD_DIR:-build-fuzz}
  CC=clang CXX=clang++ cmake -S . -B "$FUZZ_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DDISCPLANE_FUZZ=ON -DDISCPLANE_WERROR=ON
  cmake --build "$FUZZ_BUILD" -j"$JOBS"
  ctest --test-dir "$FUZZ_BUILD" --output-on-failure
fi
# ASan + UBSan: the whole suite again under the sanitizers (the `asan` preset's settings,
# -Werror included): unit, simulation, e2e (socket, interop, DPDK), conformance. The
# discplane and discctl processes the e2e, interop and conformance tests start are the ASan
# builds too, so these options reach them. Left out: the JS-only interop selftest (no code
# of ours). Built at -O1 -g1 (line tables for the reports' stacks), as the `asan` preset: it
# compiles in about half the time of -O2 -g. See docs/fuzzing.md ("ASan + UBSan suite") for
# the measured times.
if [[ "${DISCPLANE_SKIP_ASAN:-0}" != 1 ]]; then
  ASAN_BUILD=${DISCPLANE_ASAN_BUILD_DIR:-build-asan}
  ASAN_FLAGS="-O1 -g1 -DNDEBUG"
  cmake -S . -B "$ASAN_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDISCPLANE_SANITIZE=ON \
    -DDISCPLANE_WERROR=ON -DDISCPLANE_BENCH=OFF \
    -DCMAKE_C_FLAGS_RELWITHDEBINFO="$ASAN_FLAGS" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$ASAN_FLAGS"
  cmake --build "$ASAN_BUILD" -j"$JOBS"
  # tests/lsan.supp: leaks inside third-party libraries (libxdp under net_af_xdp) only.
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    LSAN_OPTIONS="suppressions=$ROOT/tests/lsan.supp" \
    ctest --test-dir "$ASAN_BUILD" -E "${DISCPLANE_ASAN_EXCLUDE:-^interop_js_selftest$}" \
    --output-on-failure -j"$JOBS" --timeout 600
fi
echo "scripts/test.sh: all test stages passed ($ROOT)"
