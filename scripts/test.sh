#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine, builds, and runs every test: the optimised
# build, then the same suite under ASan+UBSan and under ThreadSanitizer.
# Usage: scripts/test.sh [preset ...]     (default: release asan tsan)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
presets=("$@")
[ ${#presets[@]} -eq 0 ] && presets=(release asan tsan)
for preset in "${presets[@]}"; do
  echo "=== ${preset}: configure and build" >&2
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset"
  echo "=== ${preset}: test" >&2
  ctest --preset "$preset"
done
