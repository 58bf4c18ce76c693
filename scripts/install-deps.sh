#!/usr/bin/env bash
# The one list of Debian 12 packages OmenDB uses. Nothing else is ever
# downloaded. Skips apt entirely when everything asked for is present.
#
#   scripts/install-deps.sh          build and test dependencies (what CI needs)
#   scripts/install-deps.sh --bench  also the peers benchmarked against and the profilers
#
# Run as root, or with sudo available.
set -euo pipefail

pkgs=(
  # toolchain
  g++ cmake ninja-build clang-14 libclang-rt-14-dev lld-14 llvm-14
  # libraries and test frameworks
  libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev libzstd-dev zstd
  # python package (python3-wheel: pip's setuptools build of it)
  pybind11-dev python3-dev python3-numpy python3-pytest python3-pip python3-setuptools python3-wheel
  # hnswlib's Python module: the test suite runs hnswlib programs on it and on
  # omendb.hnswlib_compat and compares their recall (never linked or imported
  # by the package itself)
  python3-hnswlib
)
bench_pkgs=(
  # peers, for comparisons only (never linked into the library)
  libhnswlib-dev libfaiss-dev libopenblas-openmp-dev
  # profiling
  heaptrack valgrind linux-perf
)
for a in "$@"; do
  case "$a" in
    --bench) pkgs+=("${bench_pkgs[@]}") ;;
    -h|--help) sed -n 2,8p "$0"; exit 0 ;;
    *) echo "install-deps: unknown argument $a" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
