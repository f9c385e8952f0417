#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: the dev preset (warnings
# as errors), then the asan preset (AddressSanitizer + UBSan).
# Usage: scripts/test.sh [preset...]   (default: dev asan)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh

presets=("$@")
((${#presets[@]})) || presets=(dev asan)
for preset in "${presets[@]}"; do
  echo "== ${preset}: configure, build, test"
  cmake --preset "${preset}" >/dev/null
  cmake --build --preset "${preset}"
  ctest --preset "${preset}"
done
