#!/usr/bin/env python3
"""What calling OmenDB from Python costs, and how it compares with hnswlib's
Python module.

On siftsmall (generated 10,000 x 128 data when it is absent) with M = 16 and
ef_construction = 200, for each ef:
  * recall@10 of the collection;
  * Python single-query QPS: collection.search(q, k=10, ef=ef), one call per
    query in a Python loop;
  * C++ single-query QPS: the same Collection::Search calls timed inside C++
    (omendb._omendb._native_search_qps, mode 'single');
  * Python batch QPS: collection.search(Q, k=10, ef=ef) over all queries
    (spread over the threads), repeated;
  * C++ batch QPS: the same batch timed inside C++ (mode 'batch');
  * hnswlib (python3-hnswlib) single-query QPS: index.knn_query(q, k=10)
    per query after set_ef(ef), with its recall.
Each QPS is the median of --repeat runs of at least --min-time seconds.
For reference, when the `omendb` program is built (--cli, default
build/release/omendb), `omendb bench` is run at the same ef values: its
single-query QPS of the bare HnswIndex (built with one thread, so its recall
differs slightly) is printed beside the Python figure.
Then the ratios: Python/C++ batch and single at each ef, and Python
single-query QPS at recall@10 >= 0.95 against hnswlib's at the same recall
(best measured QPS at or above it, no interpolation).

usage: bench/python_overhead.py [--ef 10,12,...] [--min-time 0.5] [--repeat 3]
       [--threads 0] [--json FILE]
Run with Debian's interpreter and the package on the path, e.g.
    PYTHONPATH=build/release/python /usr/bin/python3 bench/python_overhead.py
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "examples"))
import datasets  # noqa: E402

import omendb  # noqa: E402
from omendb import _omendb  # noqa: E402


def median_rate(fn, items_per_call, min_time, repeat):
    """Median over `repeat` runs of items per second, each run calling fn()
    until min_time seconds have passed."""
    rates = []
    for _ in range(repeat):
        calls = 0
        t0 = time.perf_counter()
        while True:
            fn()
            calls += 1
            elapsed = time.perf_counter() - t0
            if elapsed >= min_time:
                break
        rates.append(calls * items_per_call / elapsed)
    return statistics.median(rates)


def single_loop(search, queries):
    def run():
        for q in queries:
            search(q)
    return run


def best_at(points, key_recall, key_qps, target):
    ok = [p for p in points if p[key_recall] >= target]
    return max(ok, key=lambda p: p[key_qps]) if ok else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ef", default="10,12,14,16,20,24,32,48,64,96")
    ap.add_argument("--min-time", type=float, default=0.5)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="batch threads (0 = all cores)")
    ap.add_argument("--json", help="write one JSON object per ef to this file")
    ap.add_argument("--cli",
                    default=os.path.join(os.path.dirname(HERE), "build", "release", "omendb"),
                    help="the omendb program, for `omendb bench` at the same ef "
                         "(skipped if absent)")
    args = ap.parse_args()
    efs = [int(e) for e in args.ef.split(",")]
    k = 10

    ds = datasets.load()
    queries = np.ascontiguousarray(ds.queries, dtype=np.float32)
    n, dim = ds.base.shape
    print(f"data: {ds.name} ({n} x {dim}, {len(queries)} queries); k={k}, M=16, "
          f"ef_construction=200; QPS = median of {args.repeat} runs of >= {args.min_time} s; "
          f"batch threads: {args.threads or os.cpu_count()}")

    db = omendb.open(":memory:")
    coll = db.create_collection("bench", dim, index={"M": 16, "ef_construction": 200})
    t0 = time.perf_counter()
    coll.upsert(np.arange(n), ds.base)
    print(f"omendb build: {time.perf_counter() - t0:.2f} s")

    try:
        import hnswlib
    except ImportError:
        hnswlib = None
        print("hnswlib (python3-hnswlib) not installed: no comparison")
    if hnswlib is not None:
        h = hnswlib.Index(space="l2", dim=dim)
        h.init_index(max_elements=n, M=16, ef_construction=200)
        t0 = time.perf_counter()
        h.add_items(ds.base, np.arange(n))
        print(f"hnswlib build: {time.perf_counter() - t0:.2f} s")

    points = []
    header = (f"{'ef':>4} {'recall':>7} | {'py 1q':>9} {'C++ 1q':>9} {'ratio':>6} | "
              f"{'py batch':>9} {'C++ batch':>9} {'ratio':>6} | {'hnswlib':>7} {'1q QPS':>9}")
    print(header)
    print("-" * len(header))
    for ef in efs:
        ids, _ = coll.search(queries, k=k, ef=ef)
        recall = datasets.recall(ids, ds.groundtruth, k)
        py1 = median_rate(single_loop(lambda q: coll.search(q, k=k, ef=ef), queries),
                          len(queries), args.min_time, args.repeat)
        cpp1 = statistics.median(
            _omendb._native_search_qps(coll, queries, k, ef, "single", args.min_time)
            for _ in range(args.repeat))
        pyb = median_rate(lambda: coll.search(queries, k=k, ef=ef, threads=args.threads),
                          len(queries), args.min_time, args.repeat)
        cppb = statistics.median(
            _omendb._native_search_qps(coll, queries, k, ef, "batch", args.min_time, args.threads)
            for _ in range(args.repeat))
        p = {"ef": ef, "recall": recall, "py_single_qps": py1, "cpp_single_qps": cpp1,
             "py_batch_qps": pyb, "cpp_batch_qps": cppb}
        if hnswlib is not None:
            h.set_ef(ef)
            labels, _ = h.knn_query(queries, k=k)
            p["hnswlib_recall"] = datasets.recall(labels, ds.groundtruth, k)
            p["hnswlib_single_qps"] = median_rate(
                single_loop(lambda q: h.knn_query(q, k=k), queries), len(queries),
                args.min_time, args.repeat)
        points.append(p)
        hn = (f"{p['hnswlib_recall']:7.3f} {p['hnswlib_single_qps']:9.0f}" if hnswlib else "")
        print(f"{ef:4d} {recall:7.3f} | {py1:9.0f} {cpp1:9.0f} {py1 / cpp1:6.2f} | "
              f"{pyb:9.0f} {cppb:9.0f} {pyb / cppb:6.2f} | {hn}", flush=True)

    print()
    target = 0.95
    ours = best_at(points, "recall", "py_single_qps", target)
    if ours is not None:
        e = ours["ef"]
        print(f"at ef={e} (best Python single-query QPS with recall@10 >= {target}, "
              f"recall {ours['recall']:.3f}):")
        print(f"  Python batch / C++ batch QPS:   {ours['py_batch_qps']:.0f} / "
              f"{ours['cpp_batch_qps']:.0f} = {ours['py_batch_qps'] / ours['cpp_batch_qps']:.2f}"
              "  (target >= 0.80)")
        print(f"  Python single / C++ single QPS: {ours['py_single_qps']:.0f} / "
              f"{ours['cpp_single_qps']:.0f} = {ours['py_single_qps'] / ours['cpp_single_qps']:.2f}"
              "  (target >= 0.50)")
    worst_b = min(p["py_batch_qps"] / p["cpp_batch_qps"] for p in points)
    worst_1 = min(p["py_single_qps"] / p["cpp_single_qps"] for p in points)
    print(f"lowest ratio over the sweep: batch {worst_b:.2f}, single {worst_1:.2f}")
    if hnswlib is not None:
        theirs = best_at(points, "hnswlib_recall", "hnswlib_single_qps", target)
        if ours is not None and theirs is not None:
            print(f"Python single-query QPS at recall@10 >= {target}: omendb "
                  f"{ours['py_single_qps']:.0f} (ef={ours['ef']}, recall {ours['recall']:.3f}) vs "
                  f"hnswlib {theirs['hnswlib_single_qps']:.0f} (ef={theirs['ef']}, recall "
                  f"{theirs['hnswlib_recall']:.3f}) = "
                  f"{ours['py_single_qps'] / theirs['hnswlib_single_qps']:.2f}x  (target >= 1.3x)")
        else:
            print(f"recall {target} not reached by one of the engines: widen --ef")
    cli_points = run_cli_bench(args, ds.name, efs)
    if cli_points:
        print("\n`omendb bench` (bare HnswIndex from C++, 1-thread build, one query per call):")
        print(f"{'ef':>4} {'recall':>7} {'C++ 1q':>9} | {'py 1q':>9} {'py/C++':>7}")
        for p in points:
            c = cli_points.get(p["ef"])
            if c is not None:
                p["cli_single_qps"] = c["qps"]
                print(f"{p['ef']:4d} {c['recall']:7.3f} {c['qps']:9.0f} | "
                      f"{p['py_single_qps']:9.0f} "
                      f"{p['py_single_qps'] / c['qps']:7.2f}")
    if args.json:
        with open(args.json, "w") as f:
            for p in points:
                f.write(json.dumps(p) + "\n")
    db.close()


def run_cli_bench(args, name, efs):
    """{ef: {"qps", "recall"}} from `omendb bench` on the same data, or {}."""
    if not os.access(args.cli, os.X_OK):
        print(f"\n{args.cli} not found: no `omendb bench` reference")
        return {}
    data_dir = datasets.find_data_dir(name)
    if data_dir is None:  # `omendb bench` generates other vectors than datasets.generate
        print("\nno data directory: no `omendb bench` reference")
        return {}
    data_args = ["--data", data_dir]
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "bench.jsonl")
        cmd = [args.cli, "bench", *data_args, "--ef", ",".join(map(str, efs)), "--k", "10",
               "--M", "16", "--ef-construction", "200", "--repeat", str(args.repeat),
               "--min-time", str(args.min_time), "--no-parallel-build", "--json", out]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            print(f"\n`omendb bench` failed: {r.stderr.strip()}")
            return {}
        points = {}
        with open(out) as f:
            for line in f:
                row = json.loads(line)
                if row.get("phase") == "search":
                    points[int(row["ef"])] = {"qps": float(row["qps"]),
                                              "recall": float(row["recall"])}
        return points


if __name__ == "__main__":
    main()
