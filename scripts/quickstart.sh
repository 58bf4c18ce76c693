#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine, builds the optimised binaries and runs the
# main job, `omendb bench`: build an HNSW index, sweep ef, print recall and
# speed. Any arguments are passed to `omendb bench` (see `omendb bench --help`),
# e.g. scripts/quickstart.sh --data ../shared/data/siftsmall --plot curve.svg
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release
exec build/release/omendb bench "$@"
