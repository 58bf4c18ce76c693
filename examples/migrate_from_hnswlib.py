"""Moving an hnswlib program to OmenDB: change the import, nothing else.

The program below was written for hnswlib. Its first import line is the only
change: `import hnswlib` became the line underneath, so the same calls
(init_index, add_items, set_ef, knn_query, mark_deleted, save_index /
load_index, get_items) now run on OmenDB's index. Run it with the original
import to compare (the test suite does both and compares the recall).

    python3 examples/migrate_from_hnswlib.py
"""
import omendb.hnswlib_compat as hnswlib  # was: import hnswlib

import os
import tempfile
import time

import numpy as np

import datasets  # the examples' data helper: siftsmall, or generated vectors

ds = datasets.load()
num_elements, dim = ds.base.shape
print(f"data: {ds.name}, {num_elements} x {dim}, {len(ds.queries)} queries")

index = hnswlib.Index(space="l2", dim=dim)
index.init_index(max_elements=num_elements, M=16, ef_construction=200, random_seed=100)
t0 = time.perf_counter()
index.add_items(ds.base, np.arange(num_elements))
print(f"built in {time.perf_counter() - t0:.2f} s: {index.element_count} elements")

for ef in (20, 50, 100):
    index.set_ef(ef)
    labels, distances = index.knn_query(ds.queries, k=10)
    print(f"recall@10 (ef={ef}): {datasets.recall(labels, ds.groundtruth, 10):.4f}")

# Hide the true nearest neighbour of query 0; it must disappear from the results.
nearest = int(ds.groundtruth[0, 0])
index.mark_deleted(nearest)
labels, _ = index.knn_query(ds.queries[0], k=10)
assert nearest not in labels[0].tolist()
index.unmark_deleted(nearest)
labels, _ = index.knn_query(ds.queries[0], k=10)
assert labels[0, 0] == nearest
print("mark_deleted / unmark_deleted: ok")

# Save to one file, load into a new object with more room, keep adding.
path = os.path.join(tempfile.mkdtemp(), "index.bin")
index.save_index(path)
loaded = hnswlib.Index(space="l2", dim=dim)
loaded.load_index(path, max_elements=num_elements + 10)
loaded.set_ef(50)
labels, _ = loaded.knn_query(ds.queries, k=10)
print(f"recall@10 after load (ef=50): {datasets.recall(labels, ds.groundtruth, 10):.4f}")
extra = ds.queries[:10]
loaded.add_items(extra, np.arange(num_elements, num_elements + 10))
labels, distances = loaded.knn_query(extra, k=1)
assert (labels[:, 0] == np.arange(num_elements, num_elements + 10)).all()
stored = np.asarray(loaded.get_items([num_elements]))
assert np.allclose(stored[0], extra[0])
print(f"after adding 10 more: {loaded.element_count} elements, capacity {loaded.max_elements}")
os.remove(path)
