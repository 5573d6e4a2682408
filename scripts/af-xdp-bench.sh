#!/usr/bin/env bash
# AF_XDP against the kernel-socket backend on ONE veth pair, same tool, one run (docs/af-xdp.md).
#
#   scripts/af-xdp-bench.sh [--build DIR] [--rounds N] [--smoke] [-- DISCBENCH OPTIONS...]
#
# Two network namespaces made here, joined by one veth pair (addresses 169.254.41.0/24, inside
# those namespaces only): "gen" holds the generator (discbench target mode, its identities on
# 169.254.41.10 and up) and "dut" holds discplane, which is run alternately
#   - on the DPDK backend through net_af_xdp on its veth end (no address on it: DPDK answers
#     ARP for 169.254.41.2 itself), and
#   - on the kernel-socket backend on the same veth end (the kernel holds 169.254.41.2),
# each measured by the same discbench command (v4-ping, v5-ping, v5-handshake unless given),
# rounds interleaved (af_xdp, socket, af_xdp, socket, ...). discplane runs on CPU 1 (DPDK's
# poll loop spins there: its CPU time is a full core by design), discbench on CPU 0.
# Everything is bounded (timeout on every process) and removed at exit. Needs root.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD="$ROOT/build"
ROUNDS=2
SMOKE=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) BUILD=$(cd "$2" && pwd); shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --smoke) SMOKE=1; shift ;;
    --) shift; break ;;
    *) echo "usage: $0 [--build DIR] [--rounds N] [--smoke] [-- discbench options]" >&2; exit 2 ;;
  esac
done
BENCH_ARGS=("$@")
[[ ${#BENCH_ARGS[@]} -gt 0 ]] || BENCH_ARGS=(--ids=64 --conc=64 --seconds=3)
SCENARIOS=${SCENARIOS:-"v4-ping v5-ping v5-handshake"}
((SMOKE)) && { ROUNDS=1; BENCH_ARGS=(--smoke --ids=4 --conc=4); }
for need in "$BUILD/discplane" "$BUILD/discbench"; do
  [[ -x "$need" ]] || { echo "af-xdp-bench: $need not built" >&2; exit 2; }
done
[[ $(id -u) == 0 ]] || { echo "af-xdp-bench: needs root (namespaces, veth, XDP)" >&2; exit 2; }

tag=$$
GEN="afxb_gen_$tag"
DUT="afxb_dut_$tag"
VG="afxg$tag"  # generator's end
VD="afxd$tag"  # discplane's end
WORK=$(mktemp -d /tmp/af-xdp-bench.XXXXXX)
DP_PID=""
cleanup() {
  [[ -n "$DP_PID" ]] && kill "$DP_PID" 2>/dev/null && wait "$DP_PID" 2>/dev/null
  ip netns del "$GEN" 2>/dev/null || true
  ip netns del "$DUT" 2>/dev/null || true
  rm -rf "/var/run/dpdk/afxb$tag" "$WORK"
}
trap cleanup EXIT

ip netns add "$GEN"
ip netns add "$DUT"
ip -n "$GEN" link add "$VG" type veth peer name "$VD" netns "$DUT"
ip -n "$GEN" link set lo up
ip -n "$DUT" link set lo up
ip -n "$GEN" addr add 169.254.41.1/24 dev "$VG"
ids=$(grep -o -- '--ids=[0-9]*' <<<"${BENCH_ARGS[*]}" | tail -n1 | cut -d= -f2)
ids=${ids:-64}
for ((i = 0; i < ids; i++)); do  # one source address per synthetic identity
  ip -n "$GEN" addr add "169.254.41.$((10 + i))/32" dev "$VG"
done
# veth leaves UDP checksums to a NIC (CHECKSUM_PARTIAL) that XDP runs before: software
# checksums on the generator's end, for both runs alike (docs/af-xdp.md).
ip netns exec "$GEN" ethtool -K "$VG" tx off >/dev/null
ip -n "$GEN" link set "$VG" up
ip -n "$DUT" link set "$VD" up

# $1 = af_xdp | socket: writes $WORK/$1.yaml
config() {
  local kind=$1
  {
    echo "mode: bootnode"
    echo "identity: {key_file: $WORK/nodekey}"
    echo "network: {listen: \"169.254.41.2:30303\", external_ip: 169.254.41.2}"
    echo "protocols: [discv4, discv5]"
    echo "bootnodes: []"
    # The generator's identities each handshake from their own address; v5-handshake makes
    # fresh identities as fast as the target answers them: raise the WHOAREYOU limits, turn
    # the request limits off and exempt the generator's /24 from the table's IP limits, as
    # scripts/side-by-side.sh does. Everything else is the default configuration.
    echo "discv5: {whoareyou_rate_per_ip: 1000000, whoareyou_rate_global: 1000000,"
    echo "         request_rate_per_ip: 0, request_rate_per_node: 0}"
    echo "discv4: {request_rate_per_ip: 0, request_rate_per_node: 0}"
    echo "table: {ip_limit_exempt: [169.254.41.0/24]}"
    echo "api: {listen: \"127.0.0.1:30380\"}"
    echo "logging: {level: warn}"
    if [[ $kind == af_xdp ]]; then
      echo "dataplane:"
      echo "  backend: dpdk"
      echo "  dpdk:"
      echo "    eal_args: [--no-huge, --no-pci, -m, \"1024\", -l, \"1\","
      echo "               \"--vdev=net_af_xdp0,iface=$VD,start_queue=0,queue_count=1\","
      echo "               --file-prefix, afxb$tag, \"--log-level=lib.eal:warning\"]"
      echo "    ipv4: 169.254.41.2/24"
    else
      echo "dataplane: {backend: socket}"
    fi
  } >"$WORK/$kind.yaml"
}

# $1 = kind, $2 = round: starts discplane in DUT, runs discbench in GEN, stops discplane.
measure() {
  local kind=$1 round=$2 out="$WORK/$1-$2.out"
  if [[ $kind == socket ]]; then
    ip -n "$DUT" addr add 169.254.41.2/24 dev "$VD"
  else
    ip -n "$DUT" addr flush dev "$VD"
  fi
  # ip and taskset exec: $! is discplane itself (discbench reads its CPU time by pid). A
  # watchdog bounds its life; cleanup and the end of the round stop it first.
  ip netns exec "$DUT" taskset -c 1 "$BUILD/discplane" --config "$WORK/$kind.yaml" \
    >"$out" 2>"$WORK/$kind-$round.err" &
  DP_PID=$!
  (sleep 900; kill "$DP_PID" 2>/dev/null) </dev/null >/dev/null 2>&1 &
  disown $!
  local enr="" enode=""
  for _ in $(seq 1 300); do  # up to 30 s for the EAL and the identity lines
    enr=$(grep -m1 '^enr:' "$out" || true)
    enode=$(grep -m1 '^enode:' "$out" || true)
    [[ -n "$enr" && -n "$enode" ]] && break
    kill -0 "$DP_PID" 2>/dev/null || break
    sleep 0.1
  done
  if [[ -z "$enr" || -z "$enode" ]]; then
    echo "af-xdp-bench: discplane ($kind) did not start:" >&2
    cat "$WORK/$kind-$round.err" >&2
    exit 1
  fi
  local targets=()
  for s in $SCENARIOS; do
    case $s in v4-*) targets+=("--target=$kind,$enode,$DP_PID") ;; esac
  done
  targets=($(printf '%s\n' "${targets[@]}" | sort -u))
  targets+=("--target=$kind,$enr,$DP_PID")
  echo "== round $round: discplane on $kind"
  ip netns exec "$GEN" timeout 600 taskset -c 0 "$BUILD/discbench" "${targets[@]}" \
    --source=169.254.41.10 "${BENCH_ARGS[@]}" $SCENARIOS --json="$WORK/$kind-$round.json"
  kill "$DP_PID"
  wait "$DP_PID" 2>/dev/null || true
  DP_PID=""
}

config af_xdp
config socket
for ((r = 1; r <= ROUNDS; r++)); do
  measure af_xdp "$r"
  measure socket "$r"
done
echo "af-xdp-bench: done ($ROUNDS rounds)"
