#!/usr/bin/env bash
# Sets up and runs the appliance: installs the Debian dependencies, builds Release, starts
# discplane with conf/discplane.yaml (kernel-socket backend on 127.0.0.1:30303) and a small
# local discovery network of DEMO_PEERS more discplane instances (own keys, 127.0.0.2...),
# all bootstrapping through the first. The first instance prints its enode:// URL and enr:
# record, then one line per PeerTable change as nodes are found, per protocol.
# Stop with Ctrl-C (or set DISCPLANE_DEMO_SECONDS to stop by itself). Nothing leaves loopback.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
BUILD=${DISCPLANE_RUN_BUILD_DIR:-build-release}
# Configure only a new build dir: re-running this on an existing one (a developer's, with tests)
# would switch its tests and benchmarks off. `cmake --build` re-configures by itself when needed.
if [[ ! -f "$BUILD/CMakeCache.txt" ]]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDISCPLANE_TESTS=OFF \
    -DDISCPLANE_BENCH=OFF >/dev/null
fi
cmake --build "$BUILD" --target discplane discctl

DEMO_PEERS=${DEMO_PEERS:-4}
CONFIG=${DISCPLANE_CONFIG:-conf/discplane.yaml}
work=$(mktemp -d /tmp/discplane-demo.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

"$BUILD/discplane" --config "$CONFIG" > >(tee "$work/main.out") &
main_pid=$!
pids+=("$main_pid")
for _ in $(seq 1 100); do
  [[ $(grep -c -E '^(enode://|enr:)' "$work/main.out" 2>/dev/null || true) -ge 2 ]] && break
  kill -0 "$main_pid" 2>/dev/null || { echo "discplane failed to start" >&2; exit 1; }
  sleep 0.1
done
enode=$(grep -m1 '^enode://' "$work/main.out")
enr=$(grep -m1 '^enr:' "$work/main.out")

echo "demo: starting $DEMO_PEERS local peers bootstrapping through $enode" >&2
for i in $(seq 1 "$DEMO_PEERS"); do
  cat > "$work/peer$i.yaml" <<YAML
identity:
  key_file: $work/peer$i.key
network:
  listen: 127.0.0.$((i + 1)):30303
bootnodes:
  - "$enode"
  - "$enr"
timers:
  lookup_interval: {discv4: 5s, discv5: 5s}
api:
  listen: 127.0.0.1:$((30380 + i))
YAML
  "$BUILD/discplane" --quiet --config "$work/peer$i.yaml" >"$work/peer$i.log" 2>&1 &
  pids+=("$!")
done

if [[ -n "${DISCPLANE_DEMO_SECONDS:-}" ]]; then
  sleep "$DISCPLANE_DEMO_SECONDS"
  exit 0
fi
wait "$main_pid"
