#!/usr/bin/env bash
# Installs the Debian 12 packages assist-sync needs, and only those missing.
# Idempotent: a second run installs nothing and does not touch the network.
set -euo pipefail

packages=(
  build-essential g++ cmake ninja-build pkg-config git
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev openssl
  libspdlog-dev libfmt-dev
  libcli11-dev libtomlplusplus-dev libsystemd-dev
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  python3 python3-websockets python3-prometheus-client curl
  clang libfuzzer-14-dev  # the `fuzz` preset (docs/fuzzing.md)
  chromium  # headless, for the status page test (tests/apps/status_page_test.cc)
  nats-server libnats-dev  # scale-out through NATS JetStream (docs/scale-out.md)
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "bootstrap: all ${#packages[@]} packages present"
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "bootstrap: missing packages: ${missing[*]}" >&2
  echo "bootstrap: run as root (or install them) and retry" >&2
  exit 1
fi

echo "bootstrap: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
