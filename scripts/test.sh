#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine, builds, and runs every test: the optimised
# build, then the same suite under ASan+UBSan and under ThreadSanitizer, then
# the libFuzzer targets (clang-14) for 30 seconds each.
# Usage: scripts/test.sh [preset ...]     (default: release asan tsan fuzz)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
presets=("$@")
[ ${#presets[@]} -eq 0 ] && presets=(release asan tsan fuzz)
for preset in "${presets[@]}"; do
  echo "=== ${preset}: configure and build" >&2
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset"
  echo "=== ${preset}: test" >&2
  ctest --preset "$preset"
done
