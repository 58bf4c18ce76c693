#!/usr/bin/env bash
# End-to-end test of the `omendb` database commands: create, import (.fvecs
# and .npy), search, get, delete, stats, verify, compact, a corrupted
# checkpoint, --help and usage errors, checking outputs and exit codes.
#
# usage: tests/cli/cli_test.sh PATH/TO/omendb
# Needs /usr/bin/python3 with numpy (to write the test vectors). Run by ctest
# (label `cli`).
set -euo pipefail

BIN=${1:?usage: cli_test.sh PATH/TO/omendb}
PY=/usr/bin/python3
TMP=$(mktemp -d "${TMPDIR:-/tmp}/omendb-cli-test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
DB="$TMP/db"
failures=0

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# run EXPECTED_CODE CMD...: runs CMD, keeps stdout in $TMP/out and stderr in
# $TMP/err, and records a failure if the exit code differs.
run() {
  local want=$1
  shift
  local got=0
  "$@" >"$TMP/out" 2>"$TMP/err" || got=$?
  if [[ $got -ne $want ]]; then
    fail "exit $got (want $want): $*"
    sed 's/^/  stdout: /' "$TMP/out" >&2
    sed 's/^/  stderr: /' "$TMP/err" >&2
  fi
}

# expect_in FILE PATTERN WHAT: FILE must contain the fixed string PATTERN.
expect_in() {
  if ! grep -qF -- "$2" "$1"; then
    fail "$3: '$2' not in $(basename "$1"): $(head -c 400 "$1")"
  fi
}

# Test data: 300 deterministic random vectors of dimension 128 (.fvecs), the
# first 20 of them as queries, 50 vectors of dimension 16 (.npy, float64),
# and a file of the wrong dimension.
"$PY" - "$TMP" <<'EOF'
import struct, sys
import numpy as np
d = sys.argv[1]
rng = np.random.default_rng(7)
base = rng.standard_normal((300, 128)).astype(np.float32)
def fvecs(path, m):
    with open(path, "wb") as f:
        for row in m:
            f.write(struct.pack("<i", m.shape[1]))
            f.write(row.astype("<f4").tobytes())
fvecs(f"{d}/base.fvecs", base)
fvecs(f"{d}/query.fvecs", base[:20])
fvecs(f"{d}/dim8.fvecs", base[:5, :8])
np.save(f"{d}/small.npy", rng.standard_normal((50, 16)))          # float64
np.save(f"{d}/small_q.npy", np.load(f"{d}/small.npy")[:4].astype(np.float32))
EOF

# --- create -----------------------------------------------------------------
run 0 "$BIN" create "$DB" --dim 128 --metric l2
expect_in "$TMP/out" "created collection 'default'" "create"
run 1 "$BIN" create "$DB" --dim 128 --metric l2
expect_in "$TMP/err" "omendb create: error:" "create twice"
expect_in "$TMP/err" "already exists" "create twice"

# --- import -----------------------------------------------------------------
run 0 "$BIN" import "$DB" "$TMP/base.fvecs"
expect_in "$TMP/out" "imported 300 vectors" "import summary"
expect_in "$TMP/out" "ids 0..299" "import summary"
expect_in "$TMP/err" "300/300 rows" "import progress"
run 1 "$BIN" import "$DB" "$TMP/dim8.fvecs"
expect_in "$TMP/err" "dimension 8" "import with the wrong dimension"
expect_in "$TMP/err" "dimension 128" "import with the wrong dimension"
run 1 "$BIN" import "$DB" "$TMP/missing.fvecs"
expect_in "$TMP/err" "missing.fvecs: no such file" "import of a missing file"
run 1 "$BIN" import "$DB" "$TMP/base.fvecs" --metric ip
expect_in "$TMP/err" "does not match" "import with another metric"
# .npy into a new collection (created from the file's dimension), ids from 1000.
run 0 "$BIN" import "$DB" "$TMP/small.npy" --collection np --start-id 1000 --batch 7 --quiet \
  --sync every
expect_in "$TMP/out" "created collection 'np' (dim 16, metric l2)" "npy import"
expect_in "$TMP/out" "ids 1000..1049, 8 batches" "npy import"
[[ -s "$TMP/err" ]] && fail "--quiet import wrote to stderr: $(cat "$TMP/err")"

# --- search -----------------------------------------------------------------
run 0 "$BIN" search "$DB" --query "$TMP/query.fvecs" --k 10
[[ $(wc -l <"$TMP/out") -eq 20 ]] || fail "search: want 20 lines, got $(wc -l <"$TMP/out")"
for q in 0 5 19; do
  # Each query is a stored vector: its nearest neighbour is itself, at 0.
  grep -qE "^query $q: $q:0 " "$TMP/out" || fail "search: query $q: $(grep "^query $q:" "$TMP/out")"
done
[[ $(sed -n 1p "$TMP/out" | wc -w) -eq 12 ]] || fail "search: want 10 hits: $(sed -n 1p "$TMP/out")"
run 0 "$BIN" search "$DB" --query "$TMP/query.fvecs" --k 3 --ef 50 --limit 4 --json
"$PY" - "$TMP/out" <<'EOF' || fail "search --json"
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) == 4, lines
for i, line in enumerate(lines):
    o = json.loads(line)
    assert o["query"] == i and o["ids"][0] == i and o["distances"][0] == 0.0, o
    assert len(o["ids"]) == 3 and o["distances"] == sorted(o["distances"]), o
EOF
run 0 "$BIN" search "$DB" --query "$TMP/query.fvecs" --k 5 --filter '{"$id": {"$in": [3, 4]}}'
grep -qE '^query 0: (3|4):[0-9.e+]+ (3|4):[0-9.e+]+$' "$TMP/out" ||
  fail "filtered search: $(sed -n 1p "$TMP/out")"
run 0 "$BIN" search "$DB" --collection np --query "$TMP/small_q.npy" --k 1
expect_in "$TMP/out" "query 3: 1003:0" "search with .npy queries"
run 1 "$BIN" search "$DB" --query "$TMP/dim8.fvecs"
expect_in "$TMP/err" "dimension 8" "search with the wrong dimension"
run 1 "$BIN" search "$DB" --collection nope --query "$TMP/query.fvecs"
expect_in "$TMP/err" "no collection 'nope'" "search in a missing collection"
run 1 "$BIN" search "$TMP/no-such-db" --query "$TMP/query.fvecs"
expect_in "$TMP/err" "no such directory" "search in a missing database"
run 2 "$BIN" search "$DB" --query "$TMP/query.fvecs" --filter '{"year": {"$foo": 1}}'

# --- get --------------------------------------------------------------------
run 0 "$BIN" get "$DB" 7 0
expect_in "$TMP/out" "id: 7" "get"
expect_in "$TMP/out" "metadata: {}" "get"
[[ $(grep -c '^vector: ' "$TMP/out") -eq 2 ]] || fail "get: want 2 vectors"
run 0 "$BIN" get "$DB" 5 --json
"$PY" - "$TMP/out" "$TMP/base.fvecs" <<'EOF' || fail "get --json: vector differs from the file"
import json, sys
import numpy as np
o = json.loads(open(sys.argv[1]).read())
raw = np.fromfile(sys.argv[2], dtype="<f4").reshape(300, 129)[:, 1:]
assert o["id"] == 5 and o["metadata"] == {}, o
assert np.array_equal(np.array(o["vector"], dtype=np.float32), raw[5]), o["vector"][:4]
EOF
run 0 "$BIN" get "$DB" 1010 --collection np --no-vector
grep -q '^vector' "$TMP/out" && fail "get --no-vector printed a vector"
run 1 "$BIN" get "$DB" 4 123456
expect_in "$TMP/out" "id: 4" "get with one missing id still prints the other"
expect_in "$TMP/err" "omendb get: error: not found: id 123456" "get of a missing id"

# --- delete -----------------------------------------------------------------
run 0 "$BIN" delete "$DB" 7 8 99999
expect_in "$TMP/out" "deleted 2 of 3 ids" "delete"
run 1 "$BIN" get "$DB" 7
expect_in "$TMP/err" "not found" "get after delete"
printf '9\n\n# a comment\n 10 \n' >"$TMP/ids.txt"
run 0 "$BIN" delete "$DB" --ids-file "$TMP/ids.txt"
expect_in "$TMP/out" "deleted 2 of 2 ids" "delete --ids-file"
expect_in "$TMP/out" "now holds 296 vectors" "delete --ids-file"
printf '11\nbanana\n' >"$TMP/bad_ids.txt"
run 1 "$BIN" delete "$DB" --ids-file "$TMP/bad_ids.txt"
expect_in "$TMP/err" "bad_ids.txt:2" "delete with a malformed ids file"
run 0 "$BIN" search "$DB" --query "$TMP/query.fvecs" --k 10
grep -qE ' (7|8|9|10):[0-9]' "$TMP/out" && fail "search returned a deleted id: $(grep -E ' (7|8|9|10):[0-9]' "$TMP/out" | head -1)"

# --- stats ------------------------------------------------------------------
run 0 "$BIN" stats "$DB"
expect_in "$TMP/out" "collection 'default'" "stats"
expect_in "$TMP/out" "vectors:           296" "stats"
run 0 "$BIN" stats "$DB" --json
"$PY" - "$TMP/out" <<'EOF' || fail "stats --json"
import json, sys
o = json.loads(open(sys.argv[1]).read())
c = {x["name"]: x for x in o["collections"]}
assert c["default"]["live"] == 296 and c["default"]["dim"] == 128, c
assert c["np"]["live"] == 50 and c["np"]["metric"] == "l2", c
EOF

# --- verify and compact -----------------------------------------------------
run 0 "$BIN" verify "$DB"
expect_in "$TMP/out" "verify: OK" "verify"
run 0 "$BIN" compact "$DB" --collection default
expect_in "$TMP/out" "file bytes before" "compact"
expect_in "$TMP/out" "file bytes after" "compact"
run 0 "$BIN" stats "$DB" --json
"$PY" -c 'import json,sys; c=json.load(open(sys.argv[1]))["collections"]; assert all(x["deleted"] == 0 for x in c), c' \
  "$TMP/out" || fail "compact left deleted records"
run 0 "$BIN" verify "$DB"
run 1 "$BIN" compact "$DB" --collection nope

# A damaged checkpoint: flip one byte in the middle of each .seg file.
cp -r "$DB" "$TMP/bad"
segs=("$TMP"/bad/*.seg)
[[ -e "${segs[0]}" ]] || fail "no .seg file in the database directory"
for seg in "${segs[@]}"; do
  "$PY" - "$seg" <<'EOF'
import os, sys
with open(sys.argv[1], "r+b") as f:
    f.seek(os.path.getsize(sys.argv[1]) // 2)
    b = f.read(1)
    f.seek(-1, 1)
    f.write(bytes([b[0] ^ 0xFF]))
EOF
done
run 1 "$BIN" verify "$TMP/bad"
expect_in "$TMP/err" "omendb verify: error:" "verify of a damaged database"
expect_in "$TMP/err" "corruption" "verify of a damaged database"
run 1 "$BIN" stats "$TMP/bad"

# --- bench: the same recall with and without --reorder ----------------------
for flag in "" --reorder; do
  run 0 "$BIN" bench --n 3000 --dim 16 --queries 50 --ef 32 --min-time 0.05 --repeat 1 \
      --threads 1 $flag --json "$TMP/bench$flag.jsonl"
done
recall_of() { grep -o '"recall":[0-9.]*' "$1" | head -1; }
[[ -n "$(recall_of "$TMP/bench.jsonl")" ]] || fail "bench wrote no recall"
[[ "$(recall_of "$TMP/bench.jsonl")" == "$(recall_of "$TMP/bench--reorder.jsonl")" ]] ||
  fail "bench --reorder changed the recall"
expect_in "$TMP/bench--reorder.jsonl" '"reordered":true' "bench --reorder"
expect_in "$TMP/bench.jsonl" '"reordered":false' "bench without --reorder"

# --- help and usage errors --------------------------------------------------
for cmd in create import search get delete stats verify compact; do
  run 0 "$BIN" "$cmd" --help
  expect_in "$TMP/out" "Exit codes" "$cmd --help"
  run 2 "$BIN" "$cmd" "$DB" --no-such-option
  expect_in "$TMP/err" "omendb $cmd: error:" "$cmd with a bad option"
done
run 2 "$BIN" create "$TMP/db3"                       # --dim missing
run 2 "$BIN" create "$TMP/db3" --dim 0
run 2 "$BIN" create "$TMP/db3" --dim 4 --metric manhattan
[[ -e "$TMP/db3" ]] && fail "a usage error created a directory"
run 2 "$BIN" import "$DB"                            # FILE missing
run 2 "$BIN" import "$DB" "$TMP/base.fvecs" --sync sometimes
run 2 "$BIN" import "$DB" "$TMP/base.fvecs" --start-id -1
run 2 "$BIN" search "$DB" --k 10                     # --query missing
run 2 "$BIN" search "$DB" --query "$TMP/query.fvecs" --k 0
run 2 "$BIN" get "$DB" 1x
run 2 "$BIN" get "$DB"                               # no id
run 2 "$BIN" delete "$DB"                            # no id and no --ids-file
run 2 "$BIN"                                         # no command
run 2 "$BIN" frobnicate

if [[ $failures -gt 0 ]]; then
  echo "cli_test: $failures failure(s)" >&2
  exit 1
fi
echo "cli_test: all checks passed"
