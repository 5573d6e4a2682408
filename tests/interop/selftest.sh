#!/usr/bin/env bash
# Self-test of the interop harness, no discplane involved: start 4 discv5 +
# 4 discv4 JS nodes on 127.0.0.1 (node 0 of each kind bootstraps the others),
# poll {"cmd":"table"} until every node knows >= MIN_PEERS others, then quit.
# Exit 0 on success, non-zero with a message otherwise. Bounded by timeout 120.
#
# Env: SELFTEST_V5 (4) SELFTEST_V4 (4) SELFTEST_MIN_PEERS (2) SELFTEST_DEADLINE (60 s)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
V5="${SELFTEST_V5:-4}"
V4="${SELFTEST_V4:-4}"
MIN_PEERS="${SELFTEST_MIN_PEERS:-2}"
DEADLINE="${SELFTEST_DEADLINE:-60}"

if ! command -v node >/dev/null 2>&1; then
  echo "interop selftest: FAIL: node is not installed (need node >= 20)" >&2
  exit 2
fi
for m in @chainsafe/discv5 @chainsafe/enr @ethereumjs/devp2p; do
  if [[ ! -d "$HERE/node_modules/$m" ]]; then
    echo "interop selftest: FAIL: $HERE/node_modules/$m is missing;" \
         "run 'npm ci --no-audit --no-fund' in $HERE first" >&2
    exit 2
  fi
done
if ! grep -q "discplane-patch" "$HERE/node_modules/@chainsafe/enr/lib/util.js"; then
  echo "interop selftest: FAIL: @chainsafe/enr is not patched (postinstall patch-enr.mjs did not run;" \
       "npm ci with --ignore-scripts?). Run 'node patch-enr.mjs' in $HERE" >&2
  exit 2
fi

exec timeout --kill-after=5 120 node "$HERE/selftest-driver.mjs" \
  --v5 "$V5" --v4 "$V4" --min-peers "$MIN_PEERS" --deadline "$DEADLINE"
