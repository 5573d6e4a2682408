#!/usr/bin/env bash
# Side by side: discplane vs @chainsafe/discv5 vs @ethereumjs/devp2p, in ONE run, on loopback.
#
#   scripts/side-by-side.sh [--build DIR] [--out DIR] [--smoke] [-- DISCBENCH OPTIONS...]
#
# Starts three targets on 127.0.0.1, each a process of its own:
#   - discplane (kernel-socket backend, mode bootnode, built binary from DIR, default build/)
#   - one @chainsafe/discv5 node  (tests/interop/bench_peers.mjs --proto v5)
#   - one @ethereumjs/devp2p DPT  (tests/interop/bench_peers.mjs --proto v4)
# then runs ONE `discbench --target=...` process that measures every applicable scenario against
# each (v4-ping, v4-findnode: discplane and ethereumjs; v5-ping, v5-findnode, v5-handshake:
# discplane and chainsafe) the same way, and prints per-level rows and a side-by-side table
# with discplane's ratio to each. Options after `--` go to discbench (e.g. --seconds=5
# --conc=4,16,64 --ids=64); SCENARIOS="v5-ping v4-ping" picks a subset. Everything is bounded: each process has a hard lifetime and is
# killed (by its own pid) on exit. Needs node >= 20 and tests/interop/node_modules (npm ci).
#
# Nothing is pinned or limited: the two cores are shared by the generator and the target under
# test (the other targets are idle). discplane's WHOAREYOU rate limits (defaults: 5/s per IP,
# 2000/s in total) are raised and its FINDNODE/ENRRequest/TALKREQ limits (100/s per IP, 10/s
# per node) are off, since the JS libraries have no limiter by default; the generator's
# identities share 127.2.0.0/16, so loopback is exempt from the table's per-/24 limits (as
# conf/discplane.yaml does). Everything else is discplane's default configuration.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD="$ROOT/build"
OUT=""
SMOKE=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) BUILD=$(cd "$2" && pwd); shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --smoke) SMOKE=1; shift ;;
    --) shift; break ;;
    *) echo "usage: $0 [--build DIR] [--out DIR] [--smoke] [-- discbench options]" >&2; exit 2 ;;
  esac
done
BENCH_ARGS=("$@")

INTEROP="$ROOT/tests/interop"
for need in "$BUILD/discplane" "$BUILD/discbench"; do
  [[ -x "$need" ]] || { echo "side-by-side: $need not built" >&2; exit 2; }
done
command -v node >/dev/null || { echo "side-by-side: node not found" >&2; exit 2; }
[[ -d "$INTEROP/node_modules/@chainsafe/discv5" ]] ||
  { echo "side-by-side: run 'npm ci' in tests/interop first" >&2; exit 2; }

WORK=$(mktemp -d /tmp/side-by-side.XXXXXX)
[[ -n "$OUT" ]] || OUT="$WORK"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
KEEP_WORK=$([[ "$OUT" == "$WORK" ]] && echo 1 || echo 0)
PIDS=()
cleanup() {
  local rc=$?
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  # Without --out the work dir (logs, JSON) is kept only when the run failed.
  if [[ $KEEP_WORK == 0 || $rc == 0 ]]; then rm -rf "$WORK"; else echo "side-by-side: logs kept in $WORK" >&2; fi
}
trap cleanup EXIT

free_port() {  # $1 = udp4 | tcp
  node -e '
    const [kind] = process.argv.slice(1);
    if (kind === "tcp") { const s = require("net").createServer(); s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); }); }
    else { const s = require("dgram").createSocket("udp4"); s.bind(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); }); }' "$1"
}
# Reads the first N lines of a file a background process writes, waiting up to 30 s.
wait_lines() {  # $1 file, $2 count, $3 pid
  for _ in $(seq 300); do
    if [[ $(wc -l <"$1" 2>/dev/null || echo 0) -ge $2 ]]; then return 0; fi
    kill -0 "$3" 2>/dev/null || { echo "side-by-side: target exited early ($1)" >&2; return 1; }
    sleep 0.1
  done
  echo "side-by-side: target did not print its record ($1)" >&2
  return 1
}

LIFETIME=900
[[ $SMOKE == 1 ]] && LIFETIME=120

# discplane: its own config in the work dir.
DP_PORT=$(free_port udp4)
API_PORT=$(free_port tcp)
cat >"$WORK/discplane.yaml" <<EOF
mode: bootnode
identity:
  key_file: $WORK/nodekey
network:
  listen: 127.0.0.1:$DP_PORT
  external_ip: 127.0.0.1
table:
  ip_limit_exempt: [127.0.0.0/8]
discv4:
  request_rate_per_ip: 0
  request_rate_per_node: 0
discv5:
  whoareyou_rate_per_ip: 1048576
  whoareyou_rate_global: 16777216
  request_rate_per_ip: 0
  request_rate_per_node: 0
api:
  listen: 127.0.0.1:$API_PORT
logging:
  level: warn
EOF
timeout -s TERM "$LIFETIME" "$BUILD/discplane" --config "$WORK/discplane.yaml" \
  >"$WORK/discplane.out" 2>"$OUT/discplane.stderr.log" &
DP_TIMEOUT_PID=$!
PIDS+=("$DP_TIMEOUT_PID")

# The JS targets: one node per process, each with a hard lifetime of its own.
node "$INTEROP/bench_peers.mjs" --proto v5 --max-seconds "$LIFETIME" </dev/null \
  >"$WORK/cs.out" 2>>"$OUT/bench_peers.stderr.log" &
CS_PID=$!
PIDS+=("$CS_PID")
node "$INTEROP/bench_peers.mjs" --proto v4 --max-seconds "$LIFETIME" </dev/null \
  >"$WORK/ejs.out" 2>>"$OUT/bench_peers.stderr.log" &
EJS_PID=$!
PIDS+=("$EJS_PID")

wait_lines "$WORK/discplane.out" 2 "$DP_TIMEOUT_PID"
DP_PID=$(pgrep -P "$DP_TIMEOUT_PID" | head -1 || true)  # discplane itself, for its CPU time
[[ -n "$DP_PID" ]] || { echo "side-by-side: cannot find discplane's pid" >&2; exit 1; }
wait_lines "$WORK/cs.out" 1 "$CS_PID"
wait_lines "$WORK/ejs.out" 1 "$EJS_PID"

DP_ENODE=$(sed -n 1p "$WORK/discplane.out")
DP_ENR=$(sed -n 2p "$WORK/discplane.out")
CS_ENR=$(sed -n 1p "$WORK/cs.out")
EJS_ENODE=$(sed -n 1p "$WORK/ejs.out")
{
  echo "discplane  pid $DP_PID  $DP_ENODE"
  echo "discplane  pid $DP_PID  $DP_ENR"
  echo "chainsafe  pid $CS_PID  $CS_ENR"
  echo "ethereumjs pid $EJS_PID  $EJS_ENODE"
  echo "node $(node --version); $(nproc) CPUs; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT/targets.txt"

EXTRA=()
[[ $SMOKE == 1 ]] && EXTRA+=(--smoke)
set +e  # keep going to the checks below when discbench reports a failure
timeout -s TERM "$LIFETIME" "$BUILD/discbench" \
  "--target=discplane,$DP_ENODE,$DP_PID" "--target=discplane,$DP_ENR,$DP_PID" \
  "--target=ethereumjs,$EJS_ENODE,$EJS_PID" "--target=chainsafe,$CS_ENR,$CS_PID" \
  ${SCENARIOS:-v4-ping v4-findnode v5-ping v5-findnode v5-handshake} \
  --json="$OUT/side-by-side.json" "${EXTRA[@]}" "${BENCH_ARGS[@]}" | tee "$OUT/side-by-side.txt"
rc=${PIPESTATUS[0]}
set -e
for p in "$DP_PID" "$CS_PID" "$EJS_PID"; do
  kill -0 "$p" 2>/dev/null || { echo "side-by-side: a target died during the run (pid $p)" >&2; rc=1; }
done
[[ "$OUT" == "$WORK" ]] || echo "side-by-side: results in $OUT"
exit "$rc"
