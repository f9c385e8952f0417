#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test under the dev preset
# (warnings as errors), then the deterministic simulation's 10 000 seeds under
# AddressSanitizer + UBSan (asan-sim). Other presets by name, e.g.
# `scripts/test.sh asan` for every suite under the sanitizers, `tsan`.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh

presets=("$@")
((${#presets[@]})) || presets=(dev asan-sim)
for preset in "${presets[@]}"; do
  echo "== ${preset}: configure, build, test"
  start=$SECONDS
  cmake --preset "${preset}" >/dev/null
  cmake --build --preset "${preset}"
  ctest --preset "${preset}"
  echo "== ${preset}: done in $((SECONDS - start)) s"
done
