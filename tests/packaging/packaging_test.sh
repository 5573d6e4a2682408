#!/usr/bin/env bash
# Packaging test (ctest "packaging"): usage packaging_test.sh BUILD_DIR
#  1. cmake --install BUILD_DIR --prefix TMP: the expected files, nothing else in bin/; the
#     installed discplane accepts every installed config (--check-config) and rejects a bad one.
#  2. The systemd unit: its keys (ExecStart on the installed paths, hardening), then
#     systemd-analyze verify (must print nothing) and `security --offline` (exposure <= 2.0),
#     with and without the DPDK drop-in (loaded through SYSTEMD_UNIT_PATH).
#  3. cpack -G DEB: dpkg-deb -I / -c show the metadata, conffiles, dependencies and files; the
#     unpacked package's discplane checks its own /etc config.
# No network; about 10 s. Every failure names what was expected.
set -euo pipefail

BUILD=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
TMP=$(mktemp -d /tmp/discplane-packaging-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
fails=0
pass() { echo "ok: $*"; }
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
check() {  # check "what" command...
  local what=$1
  shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}

# ---- 1. cmake --install ------------------------------------------------------------------
P=$TMP/prefix
cmake --install "$BUILD" --prefix "$P" >"$TMP/install.log"
expected=(
  bin/discplane bin/discctl
  etc/discplane/discplane.yaml etc/discplane/mainnet.yaml etc/discplane/dpdk-tap.yaml
  etc/discplane/dpdk-af-packet.yaml etc/discplane/dpdk-af-xdp.yaml etc/discplane/dpdk-pci.yaml
  lib/systemd/system/discplane.service
  share/doc/discplane/README.md share/doc/discplane/security.md
  share/doc/discplane/examples/discplane-dpdk.conf
  share/doc/discplane/examples/grafana-discplane.json
)
for f in "${expected[@]}"; do
  check "installed $f" test -f "$P/$f"
done
check "binaries are executable" test -x "$P/bin/discplane" -a -x "$P/bin/discctl"
check "only discplane and discctl in bin/" \
  test "$(cd "$P/bin" && ls | sort | tr '\n' ' ')" = "discctl discplane "
check "install_manifest lists the configs" grep -q "$P/etc/discplane/discplane.yaml" \
  "$BUILD/install_manifest.txt"
for f in "$P"/etc/discplane/*.yaml; do
  check "installed discplane --check-config $(basename "$f")" \
    sh -c "'$P/bin/discplane' --check-config '$f' | grep -q ': OK'"
done
printf 'mode: node\nnetwork:\n  listen: 127.0.0.1:99999\n' >"$TMP/bad.yaml"
set +e
"$P/bin/discplane" --check-config "$TMP/bad.yaml" 2>"$TMP/bad.err" >/dev/null
rc=$?
set -e
check "a bad config is rejected with exit 2 and file:line" \
  sh -c "[ $rc -eq 2 ] && grep -q 'bad.yaml:3' '$TMP/bad.err'"
check "installed discctl runs" sh -c "'$P/bin/discctl' --help | grep -qi usage"

# ---- 2. the systemd unit -----------------------------------------------------------------
U=$P/lib/systemd/system/discplane.service
key() { grep -qxF "$1" "$U"; }
for k in "Type=simple" \
  "ExecStart=$P/bin/discplane --config $P/etc/discplane/discplane.yaml --quiet" \
  "ExecStartPre=$P/bin/discplane --check-config $P/etc/discplane/discplane.yaml" \
  "DynamicUser=yes" "User=discplane" "StateDirectory=discplane" \
  "WorkingDirectory=/var/lib/discplane" "NoNewPrivileges=yes" "ProtectSystem=strict" \
  "ProtectHome=yes" "PrivateTmp=yes" "PrivateDevices=yes" "CapabilityBoundingSet=" \
  "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX" "SystemCallFilter=@system-service" \
  "Restart=on-failure" "WantedBy=multi-user.target"; do
  check "unit has $k" key "$k"
done
check "unit has [Unit] [Service] [Install]" \
  sh -c "grep -qx '\[Unit\]' '$U' && grep -qx '\[Service\]' '$U' && grep -qx '\[Install\]' '$U'"
check "unit has no unsubstituted @VARS@" sh -c "! grep -q '@[A-Z_]*@' '$U' '$P/share/doc/discplane/examples/discplane-dpdk.conf'"
if ! command -v systemd-analyze >/dev/null; then
  fail "systemd-analyze is missing (Debian package systemd): cannot verify the unit"
else
  out=$(systemd-analyze verify "$U" 2>&1) && rc=0 || rc=$?
  check "systemd-analyze verify: exit 0, no complaints (got: $out)" test "$rc" -eq 0 -a -z "$out"
  score=$(systemd-analyze security --offline=yes "$U" 2>&1 | sed -n 's/.*exposure level for discplane.service: \([0-9.]*\).*/\1/p')
  check "systemd-analyze security exposure <= 2.0 (got ${score:-none})" \
    awk -v s="${score:-99}" 'BEGIN { exit !(s <= 2.0) }'
  # The DPDK drop-in, loaded the way systemd would load /etc/systemd/system/*.service.d/.
  D=$TMP/units
  mkdir -p "$D/discplane.service.d"
  cp "$U" "$D/"
  cp "$P/share/doc/discplane/examples/discplane-dpdk.conf" "$D/discplane.service.d/dpdk.conf"
  out=$(SYSTEMD_UNIT_PATH="$D:" systemd-analyze verify "$D/discplane.service" 2>&1) && rc=0 || rc=$?
  check "systemd-analyze verify with the DPDK drop-in (got: $out)" test "$rc" -eq 0 -a -z "$out"
  dscore=$(SYSTEMD_UNIT_PATH="$D:" systemd-analyze security --offline=yes "$D/discplane.service" 2>&1 | sed -n 's/.*exposure level for discplane.service: \([0-9.]*\).*/\1/p')
  check "the DPDK drop-in applies (exposure ${score:-?} -> ${dscore:-none}: root, devices)" \
    awk -v a="${score:-99}" -v b="${dscore:-0}" 'BEGIN { exit !(b > a) }'
fi

# ---- 3. the .deb -------------------------------------------------------------------------
cpack --config "$BUILD/CPackConfig.cmake" -G DEB -B "$TMP/pkg" >"$TMP/cpack.log" 2>&1 ||
  { cat "$TMP/cpack.log" >&2; fail "cpack -G DEB"; }
deb=$(ls "$TMP"/pkg/discplane_*.deb 2>/dev/null | head -1 || true)
check "cpack produced discplane_<version>-1_<arch>.deb" test -n "$deb"
if [ -n "$deb" ]; then
  version=$(sed -n 's/^project(discplane VERSION \([0-9.]*\).*/\1/p' "$(dirname "$0")/../../CMakeLists.txt")
  info=$(dpkg-deb -I "$deb")
  field() { dpkg-deb -f "$deb" "$1"; }
  check "Package: discplane" test "$(field Package)" = discplane
  check "Version: $version-1 (from project())" test "$(field Version)" = "$version-1"
  check "Architecture: $(dpkg --print-architecture)" test "$(field Architecture)" = "$(dpkg --print-architecture)"
  check "Maintainer set" test -n "$(field Maintainer)"
  check "Section: net" test "$(field Section)" = net
  check "Description mentions discv4 and discv5" sh -c "dpkg-deb -f '$deb' Description | grep -q 'discv4 + discv5'"
  deps=$(field Depends)
  depends_on() { tr ',' '\n' <<<"$deps" | sed 's/^ *//; s/ .*//' | grep -qxF "$1"; }
  in_control() { grep -qw "$1" <<<"$info"; }
  contains() { grep -qxF "$1" <<<"$contents"; }
  for lib in libc6 libstdc++6 librte-eal23 librte-ethdev23 librte-telemetry23 librte-mempool-ring23 \
    libsecp256k1-1 libssl3 libyaml-cpp0.7 libipsec-mb1; do
    check "Depends on $lib" depends_on "$lib"
  done
  for member in conffiles postinst prerm postrm md5sums; do
    check "control archive has $member" in_control "$member"
  done
  mkdir -p "$TMP/ctl"
  dpkg-deb -e "$deb" "$TMP/ctl"
  for f in discplane.yaml mainnet.yaml dpdk-tap.yaml dpdk-af-packet.yaml dpdk-af-xdp.yaml dpdk-pci.yaml; do
    check "conffile /etc/discplane/$f" grep -qxF "/etc/discplane/$f" "$TMP/ctl/conffiles"
  done
  for s in postinst prerm postrm; do
    check "$s is valid sh" sh -n "$TMP/ctl/$s"
  done
  contents=$(dpkg-deb -c "$deb" | awk '{print $6}')
  for f in ./usr/bin/discplane ./usr/bin/discctl ./etc/discplane/discplane.yaml \
    ./etc/discplane/dpdk-tap.yaml ./usr/lib/systemd/system/discplane.service \
    ./usr/share/doc/discplane/README.md ./usr/share/doc/discplane/examples/discplane-dpdk.conf; do
    check "package contains $f" contains "$f"
  done
  check "package has nothing under /usr/local or /usr/etc" \
    bash -c "! grep -qE '^\\./usr/(local|etc)/' <<<\"\$1\"" _ "$contents"
  X=$TMP/root
  dpkg-deb -x "$deb" "$X"
  check "packaged unit runs /usr/bin/discplane on /etc/discplane/discplane.yaml" \
    grep -qxF "ExecStart=/usr/bin/discplane --config /etc/discplane/discplane.yaml --quiet" \
    "$X/usr/lib/systemd/system/discplane.service"
  check "packaged discplane --check-config packaged discplane.yaml" \
    sh -c "'$X/usr/bin/discplane' --check-config '$X/etc/discplane/discplane.yaml' | grep -q ': OK'"
  check "packaged binaries are stripped" sh -c "! file '$X/usr/bin/discplane' | grep -q 'not stripped'"
fi

echo "packaging: $fails failed"
[ "$fails" -eq 0 ]
