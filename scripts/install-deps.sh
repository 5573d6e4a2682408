#!/usr/bin/env bash
# Installs every build, test and run dependency from Debian packages (needs root).
# Skips apt entirely when everything is already installed, so reruns are fast and
# work offline.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git clang clang-format
  libdpdk-dev dpdk dpdk-dev
  libsecp256k1-dev libipsec-mb-dev libssl-dev libcrypto++-dev
  libyaml-cpp-dev libexpected-dev nlohmann-json3-dev libcli11-dev libcpp-httplib-dev
  libspdlog-dev
  catch2 libbenchmark-dev
  libc-ares-dev dnsmasq-base nsd
  iproute2 iputils-ping ethtool procps nodejs npm
  systemd dpkg-dev file
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# nodejs may come from elsewhere (node 20 is preinstalled on some images): accept any node >= 18.
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
  filtered=()
  for p in "${missing[@]}"; do
    [[ "$p" == nodejs || "$p" == npm ]] || filtered+=("$p")
  done
  missing=("${filtered[@]}")
fi

if ((${#missing[@]})); then
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; fi
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all Debian packages present"
fi
