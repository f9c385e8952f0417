#!/usr/bin/env bash
# Installs what is missing, builds the release preset, and runs the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
cmake --preset release >/dev/null
cmake --build --preset release --target assist-sync
exec ./build/release/apps/assist-sync demo "$@"
