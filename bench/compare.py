#!/usr/bin/env python3
"""Equal-recall comparison of `omendb bench --json` and peerbench output.

usage: compare.py OUT_DIR ROUNDS
Reads OUT_DIR/omendb_R.jsonl and OUT_DIR/peer_R.jsonl for R = 1..ROUNDS and
prints, per round and as the median over rounds, each engine's best measured
QPS with recall >= 0.90 / 0.95 / 0.99 (no interpolation) and OmenDB's ratio to
each peer at that recall. Build times are compared the same way.
"""
import json
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
    per_round = []  # list of dict engine -> {target: qps, "build": s}
    for r in range(1, rounds + 1):
        engines = {}
        omen = load(f"{out}/omendb_{r}.jsonl")
        engines["omendb"] = {t: best(omen, t) for t in TARGETS}
        engines["omendb"]["build_1t"] = omen[0].get("build_s", 0.0) if omen else 0.0
        engines["omendb"]["build_nt"] = omen[0].get("build_s_parallel", 0.0) if omen else 0.0
        peer = load(f"{out}/peer_{r}.jsonl")
        for name in sorted({p["engine"] for p in peer}):
            pts = [p for p in peer if p["engine"] == name and p.get("phase") == "search"]
            builds = {p["threads"]: p["build_s"] for p in peer
                      if p["engine"] == name and p.get("phase") == "build"}
            engines[name] = {t: best(pts, t) for t in TARGETS}
            engines[name]["build_1t"] = builds.get(1, 0.0)
            engines[name]["build_nt"] = max((v for k, v in builds.items() if k > 1), default=0.0)
        per_round.append(engines)

    peers = [e for e in per_round[0] if e != "omendb"]
    print(f"== {out}: best QPS at recall@10 >= target, and omendb / peer (per round)")
    for r, engines in enumerate(per_round, 1):
        for p in peers:
            cells = []
            for t in TARGETS:
                o, q = engines["omendb"][t], engines[p][t]
                ratio = f"{o / q:.2f}x" if q > 0 else "n/a"
                cells.append(f">={t:.2f}: {o:9.0f} vs {q:9.0f} = {ratio}")
            print(f"round {r} vs {p:12s} " + " | ".join(cells))
    print("== median over rounds")
    for p in peers:
        cells = []
        for t in TARGETS:
            ratios = [e["omendb"][t] / e[p][t] for e in per_round if e[p][t] > 0]
            o = statistics.median(e["omendb"][t] for e in per_round)
            q = statistics.median(e[p][t] for e in per_round)
            rr = f"{statistics.median(ratios):.2f}x" if ratios else "n/a"
            cells.append(f">={t:.2f}: {o:9.0f} vs {q:9.0f}, ratio {rr}")
        print(f"vs {p:12s} " + " | ".join(cells))
        ob = statistics.median(e["omendb"]["build_1t"] for e in per_round)
        pb = statistics.median(e[p]["build_1t"] for e in per_round)
        on = statistics.median(e["omendb"]["build_nt"] for e in per_round)
        print(f"   build 1 thread: omendb {ob:.3f} s vs {p} {pb:.3f} s; "
              f"omendb 2 threads {on:.3f} s (speed-up {ob / on if on else 0:.2f}x)")


if __name__ == "__main__":
    main()
