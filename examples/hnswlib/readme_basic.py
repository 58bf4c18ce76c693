"""hnswlib's basic usage (build, set ef, query, pickle, parameters), as its
README shows it, on siftsmall (or generated data when siftsmall is absent).

This is an hnswlib program: it runs with hnswlib itself, or on OmenDB when
its import line is changed to `import omendb.hnswlib_compat as hnswlib`.
The test suite runs it both ways and compares the recall it prints.
"""
import hnswlib
import numpy as np
import pickle
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import datasets  # noqa: E402  (the examples' data helper)

ds = datasets.load()
data = ds.base
num_elements, dim = data.shape
ids = np.arange(num_elements)

# An index over squared L2 distance ('ip' and 'cosine' are the other spaces).
p = hnswlib.Index(space='l2', dim=dim)

# Capacity, graph degree and build beam are fixed up front.
p.init_index(max_elements=num_elements, ef_construction=200, M=16)

# Insert every base vector under its row number (may be called repeatedly).
p.add_items(data, ids)

# The search beam: larger is more accurate and slower; keep it above k.
p.set_ef(50)

# Each base vector's nearest neighbour should be itself.
labels, distances = p.knn_query(data, k=1)
print("self-recall@1 (ef=50):", float(np.mean(labels.reshape(-1) == ids)))

# Ten nearest neighbours of the query set, against the ground truth.
labels, distances = p.knn_query(ds.queries, k=10)
print("recall@10 (ef=50):", datasets.recall(labels, ds.groundtruth, 10))

# A pickle round trip copies the index, ef included.
p_copy = pickle.loads(pickle.dumps(p))
print(f"space={p_copy.space} dim={p_copy.dim}")
print(f"M={p_copy.M} ef_construction={p_copy.ef_construction}")
print(f"element_count={p_copy.element_count} max_elements={p_copy.max_elements}")
print(f"ef={p_copy.ef}")
labels, distances = p_copy.knn_query(ds.queries, k=10)
print("recall@10 of the pickled copy (ef=50):", datasets.recall(labels, ds.groundtruth, 10))
