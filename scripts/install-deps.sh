#!/usr/bin/env bash
# The one list of Debian 12 packages OmenDB needs to build, test and benchmark.
# Nothing else is ever downloaded. Skips apt entirely when everything is present.
# Usage: scripts/install-deps.sh            (run as root, or with sudo available)
set -euo pipefail

pkgs=(
  # toolchain
  g++ cmake ninja-build clang-14 libclang-rt-14-dev lld-14
  # libraries and test frameworks
  libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev libxxhash-dev libzstd-dev zstd
  # python package
  pybind11-dev python3-dev python3-numpy python3-pytest python3-pip python3-setuptools
  # peers, for comparisons only (never linked into the library)
  libhnswlib-dev libfaiss-dev libopenblas-openmp-dev python3-hnswlib
  # profiling
  heaptrack valgrind
)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
