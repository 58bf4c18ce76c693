#!/usr/bin/env python3
"""Equal-recall comparison of `omendb bench --json` and peerbench output.

usage: compare.py OUT_DIR ROUNDS
Reads OUT_DIR/omendb<I>_R.jsonl (OmenDB configuration I, its options in
OUT_DIR/omendb<I>.args) and OUT_DIR/peer_R.jsonl for R = 1..ROUNDS and prints,
per round and as the median over rounds, each engine's best measured QPS with
recall >= 0.90 / 0.95 / 0.99 (no interpolation), each OmenDB configuration's
ratio to each peer and to OmenDB's own float32 index at that recall, and the
single-thread build times.
"""
import glob
import json
import os
import statistics
import sys

TARGETS = (0.90, 0.95, 0.99)


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                rows.append(json.loads(line))
    return rows


def best(points, target):
    ok = [p["qps"] for p in points if p["recall"] >= target]
    return max(ok) if ok else 0.0


def main():
    out, rounds = sys.argv[1], int(sys.argv[2])
    # OmenDB configurations: omendb<i>_<round>.jsonl with their options in
    # omendb<i>.args ("" = float32).
    configs = sorted(int(os.path.basename(p)[6:-5]) for p in glob.glob(f"{out}/omendb*.args"))
    names = {}
    for i in configs:
        with open(f"{out}/omendb{i}.args") as f:
            args = f.read().strip()
        names[i] = f"omendb[{args}]" if args else "omendb"
    per_round = []  # list of dict engine -> {target: qps, "build_1t": s, "build_nt": s}
    for r in range(1, rounds + 1):
        engines = {}
        for i in configs:
            omen = load(f"{out}/omendb{i}_{r}.jsonl")
            e = {t: best(omen, t) for t in TARGETS}
            e["build_1t"] = omen[0].get("build_s", 0.0) if omen else 0.0
            e["build_nt"] = omen[0].get("build_s_parallel", 0.0) if omen else 0.0
            engines[names[i]] = e
        peer = load(f"{out}/peer_{r}.jsonl")
        for name in sorted({p["engine"] for p in peer}):
            pts = [p for p in peer if p["engine"] == name and p.get("phase") == "search"]
            builds = {p["threads"]: p["build_s"] for p in peer
                      if p["engine"] == name and p.get("phase") == "build"}
            engines[name] = {t: best(pts, t) for t in TARGETS}
            engines[name]["build_1t"] = builds.get(1, 0.0)
            engines[name]["build_nt"] = max((v for k, v in builds.items() if k > 1), default=0.0)
        per_round.append(engines)

    ours = [names[i] for i in configs]
    others = [e for e in per_round[0] if e not in ours]
    # Each OmenDB configuration against every peer, and against OmenDB's
    # own float32 index when it was measured too.
    pairs = [(o, p) for o in ours for p in others]
    if "omendb" in ours:
        pairs += [(o, "omendb") for o in ours if o != "omendb"]
    print(f"== {out}: best QPS at recall@10 >= target (per round; 0 = not reached)")
    for r, engines in enumerate(per_round, 1):
        for name, e in engines.items():
            cells = " | ".join(f">={t:.2f}: {e[t]:9.0f}" for t in TARGETS)
            print(f"round {r} {name:40s} {cells}")
    print("== median over rounds: QPS and ratio (ratio = median of per-round ratios)")
    for o, p in pairs:
        cells = []
        for t in TARGETS:
            ratios = [e[o][t] / e[p][t] for e in per_round if e[p][t] > 0]
            a = statistics.median(e[o][t] for e in per_round)
            b = statistics.median(e[p][t] for e in per_round)
            rr = f"{statistics.median(ratios):.2f}x" if ratios else "n/a"
            cells.append(f">={t:.2f}: {a:9.0f} vs {b:9.0f}, ratio {rr}")
        print(f"{o} vs {p}: " + " | ".join(cells))
    for o in ours:
        for p in others:
            ob = statistics.median(e[o]["build_1t"] for e in per_round)
            pb = statistics.median(e[p]["build_1t"] for e in per_round)
            print(f"   build 1 thread: {o} {ob:.3f} s vs {p} {pb:.3f} s")


if __name__ == "__main__":
    main()
