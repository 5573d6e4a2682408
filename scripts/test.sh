#!/usr/bin/env bash
# Sets up and runs every test: installs the Debian dependencies, builds Release with
# -Werror, installs the interop peers from their lockfile, runs the whole suite
# through ctest, then builds the libFuzzer targets with clang and runs each briefly.
# Needs root (apt-get, network namespaces, DPDK vdevs). Usage: ./scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
JOBS=$(nproc)

scripts/install-deps.sh

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
echo "scripts/test.sh: all test stages passed ($ROOT)"
