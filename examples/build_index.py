"""Build a collection and search it.

Opens (creating) a database directory, creates a collection, inserts the
siftsmall base vectors (generated vectors when siftsmall is absent) in one
batch, and measures recall@10 of a batch search and of single-query calls.

    python3 examples/build_index.py [DB_DIR]      # default: a temporary directory
"""
import sys
import tempfile
import time

import numpy as np

import omendb
import datasets  # the examples' data helper

path = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="omendb-example-")
ds = datasets.load()
n, dim = ds.base.shape

with omendb.open(path) as db:
    vectors = db.get_or_create_collection("vectors", dim=dim, metric="l2",
                                          index={"M": 16, "ef_construction": 200})
    t0 = time.perf_counter()
    # ds.base is C-contiguous float32: the library reads it in place.
    vectors.upsert(np.arange(n, dtype=np.uint64), ds.base)
    print(f"{ds.name}: inserted {len(vectors)} vectors of dim {dim} in "
          f"{time.perf_counter() - t0:.2f} s into {path}")

    # One call for the whole query batch (spread over all cores).
    ids, distances = vectors.search(ds.queries, k=10, ef=64)
    print(f"batch search: ids {ids.shape} {ids.dtype}, "
          f"distances {distances.shape} {distances.dtype}")
    print(f"recall@10 (ef=64): {datasets.recall(ids, ds.groundtruth, 10):.4f}")

    # One query at a time, as a server answering requests would.
    t0 = time.perf_counter()
    for q in ds.queries:
        ids, distances = vectors.search(q, k=10, ef=64)
    qps = len(ds.queries) / (time.perf_counter() - t0)
    print(f"single queries: {qps:,.0f} per second; nearest to the last query: id {ids[0]}, "
          f"squared distance {distances[0]:.1f}")
    print(vectors.stats())
