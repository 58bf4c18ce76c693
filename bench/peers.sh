#!/usr/bin/env bash
# Measures OmenDB and its peers back to back on one data set and prints the
# equal-recall QPS ratios.
#
#   bench/peers.sh DATA_DIR [ROUNDS] [ENGINES]
#
# Each round runs ../shared/tools/peerbench (ENGINES, default hnswlib) and then
# `omendb bench` on DATA_DIR with the same protocol (M=16, efConstruction=200,
# k=10, one thread, one query per call, the same ef list, each point the median
# of 3 timed runs of >= 1 s). bench/compare.py then reports, per round and as
# the median over ROUNDS (default 3), each engine's best measured QPS at
# recall@10 >= 0.90 / 0.95 / 0.99 and OmenDB's ratio to it. Results go to
# build/peers/<dataset>/. Set EF_LIST to change the sweep, MAX_QUERIES to use
# only the first N queries, PEERBENCH_DIR to use another peerbench checkout,
# OMENDB_CONFIGS to measure several OmenDB configurations per round ('|'
# between their extra `omendb bench` options, e.g. "|--quant sq8|--quant
# rabitq:4": float, SQ8 and 4-bit RaBitQ; default one float run),
# PEER_THREADS for peerbench's second, parallel build (1 skips it), TAG to
# name the output folder build/peers/<dataset><TAG>.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
data="${1:?usage: bench/peers.sh DATA_DIR [ROUNDS] [ENGINES]}"
rounds="${2:-3}"
engines="${3:-hnswlib}"
ef_list="${EF_LIST:-10,12,14,16,18,20,24,28,32,40,48,64,80,96,128,192,256}"
src="${PEERBENCH_DIR:-$root/../shared/tools/peerbench}"
name="$(basename "$data")"
qopt=()
[ -n "${MAX_QUERIES:-}" ] && qopt=(--max-queries "$MAX_QUERIES")
out="$root/build/peers/$name${TAG:-}"
IFS="|" read -r -a configs <<< "${OMENDB_CONFIGS:-}"
[ ${#configs[@]} -eq 0 ] && configs=("")
rm -f "$out"/omendb*.jsonl "$out"/omendb*.args
mkdir -p "$out"

omendb="$root/build/release/omendb"
[ -x "$omendb" ] || { echo "peers.sh: build the release preset first (cmake --build --preset release)" >&2; exit 2; }

"$root/scripts/install-deps.sh" --bench
# peerbench's folder is read-only: build a copy inside build/.
pb="$root/build/peerbench"
if [ ! -x "$pb/peerbench" ] || [ "$src/peerbench.cpp" -nt "$pb/peerbench" ]; then
  rm -rf "$pb" && cp -r "$src" "$pb" && chmod -R u+w "$pb"
  (cd "$pb" && ./build.sh >&2)
fi

for r in $(seq 1 "$rounds"); do
  echo "peers.sh: round $r/$rounds: peerbench ($engines)" >&2
  "$pb/peerbench" "$data" --engines "$engines" --threads "${PEER_THREADS:-2}" --repeat 3 \
      --no-serialize --ef-list "$ef_list" "${qopt[@]}" > "$out/peer_$r.txt"
  grep '^{' "$out/peer_$r.txt" > "$out/peer_$r.jsonl"
  for i in "${!configs[@]}"; do
    read -r -a extra <<< "${configs[$i]}"
    echo "peers.sh: round $r/$rounds: omendb ${configs[$i]}" >&2
    printf '%s\n' "${configs[$i]}" > "$out/omendb$i.args"
    "$omendb" bench --data "$data" --threads 2 --repeat 3 --ef "$ef_list" "${qopt[@]}" \
        "${extra[@]}" --json "$out/omendb${i}_$r.jsonl" > "$out/omendb${i}_$r.txt"
  done
done
/usr/bin/python3 "$here/compare.py" "$out" "$rounds" | tee "$out/summary.txt"
