"""hnswlib's incremental build with save and load, as its README shows it:
index the first half, save, load into a larger index, add the second half.
On siftsmall (or generated data when siftsmall is absent).

This is an hnswlib program: it runs with hnswlib itself, or on OmenDB when
its import line is changed to `import omendb.hnswlib_compat as hnswlib`.
The test suite runs it both ways and compares the recall it prints.
"""
import hnswlib
import numpy as np
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import datasets  # noqa: E402  (the examples' data helper)

ds = datasets.load()
data = ds.base
num_elements, dim = data.shape
data1 = data[:num_elements // 2]
data2 = data[num_elements // 2:]

# Room for the first half only; a smaller build beam than the default.
p = hnswlib.Index(space='l2', dim=dim)
p.init_index(max_elements=num_elements // 2, ef_construction=100, M=16)
p.set_ef(10)
p.set_num_threads(4)

print("adding the first %d elements" % len(data1))
p.add_items(data1)

labels, distances = p.knn_query(data1, k=1)
print("self-recall@1, first half (ef=10):",
      float(np.mean(labels.reshape(-1) == np.arange(len(data1)))))

index_path = os.path.join(tempfile.mkdtemp(), "first_half.bin")
print("saving the index to", index_path)
p.save_index(index_path)
del p

# Load it with room for everything (ef goes back to its default, 10).
p = hnswlib.Index(space='l2', dim=dim)
p.load_index(index_path, max_elements=num_elements)

print("adding the other %d elements" % len(data2))
p.add_items(data2)

labels, distances = p.knn_query(data, k=1)
print("self-recall@1, both halves (ef=10):",
      float(np.mean(labels.reshape(-1) == np.arange(len(data)))))

p.set_ef(50)
labels, distances = p.knn_query(ds.queries, k=10)
print("recall@10, both halves (ef=50):", datasets.recall(labels, ds.groundtruth, 10))
os.remove(index_path)
