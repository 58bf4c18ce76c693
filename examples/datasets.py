"""Data for the examples, tests and benchmarks: the siftsmall set when it is
on disk, generated clustered vectors otherwise. Pure numpy.

The set is looked up as $OMENDB_DATA/<name> (only there when OMENDB_DATA is
set), else ../shared/data/<name> beside the repository (or beside the
current directory or one of its parents).
"""

from __future__ import annotations

import os
from typing import NamedTuple, Optional

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Dataset(NamedTuple):
    name: str
    base: np.ndarray         # (n, dim) float32
    queries: np.ndarray      # (q, dim) float32
    groundtruth: np.ndarray  # (q, >= 10) int64, nearest first (squared L2)


def find_data_dir(name: str) -> Optional[str]:
    """The directory of data set `name`, or None."""
    env = os.environ.get("OMENDB_DATA")
    if env:
        path = os.path.join(env, name)
        return path if os.path.isdir(path) else None
    roots = [os.environ.get("OMENDB_SOURCE_DIR") or REPO]
    here = os.path.abspath(os.getcwd())
    while True:
        roots.append(here)
        parent = os.path.dirname(here)
        if parent == here:
            break
        here = parent
    for root in roots:
        path = os.path.normpath(os.path.join(root, "..", "shared", "data", name))
        if os.path.isdir(path):
            return path
    return None


def read_vecs(path: str, dtype) -> np.ndarray:
    """A TEXMEX .fvecs (float32) or .ivecs (int32) file as a 2-D array."""
    raw = np.fromfile(path, dtype=np.int32)
    if raw.size == 0:
        return np.empty((0, 0), dtype=dtype)
    dim = int(raw[0])
    rows = raw.reshape(-1, dim + 1)
    return np.ascontiguousarray(rows[:, 1:]).view(dtype)


def exact_neighbours(base: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Exact k nearest base rows of each query under squared L2."""
    b2 = np.einsum("ij,ij->i", base, base, dtype=np.float64)
    out = np.empty((queries.shape[0], k), dtype=np.int64)
    for start in range(0, queries.shape[0], 256):
        q = queries[start:start + 256].astype(np.float64)
        d = b2[None, :] - 2.0 * q @ base.T.astype(np.float64)
        part = np.argpartition(d, k, axis=1)[:, :k]
        order = np.take_along_axis(d, part, axis=1).argsort(axis=1, kind="stable")
        out[start:start + 256] = np.take_along_axis(part, order, axis=1)
    return out


def generate(n: int = 10000, dim: int = 128, queries: int = 100, clusters: int = 100,
             sigma: float = 1.0, seed: int = 42) -> Dataset:
    """Gaussian clusters (centres uniform in [-1, 1]^dim, per-component noise
    sigma) with exact ground truth; queries come from the same clusters."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-1.0, 1.0, size=(clusters, dim)).astype(np.float32)
    labels = rng.integers(0, clusters, size=n + queries)
    points = centres[labels] + rng.normal(0.0, sigma, size=(n + queries, dim)).astype(np.float32)
    base = np.ascontiguousarray(points[:n], dtype=np.float32)
    q = np.ascontiguousarray(points[n:], dtype=np.float32)
    return Dataset(f"clustered-n{n}-d{dim}", base, q, exact_neighbours(base, q, 100))


def load(name: str = "siftsmall", fallback: bool = True) -> Optional[Dataset]:
    """siftsmall (or another TEXMEX directory name) if found; otherwise the
    generated set when `fallback`, else None."""
    path = find_data_dir(name)
    if path is not None and os.path.exists(os.path.join(path, "base.fvecs")):
        base = read_vecs(os.path.join(path, "base.fvecs"), np.float32)
        queries = read_vecs(os.path.join(path, "query.fvecs"), np.float32)
        gt_path = os.path.join(path, "groundtruth.ivecs")
        gt = (read_vecs(gt_path, np.int32).astype(np.int64) if os.path.exists(gt_path)
              else exact_neighbours(base, queries, 100))
        return Dataset(name, base, queries, gt)
    return generate() if fallback else None


def recall(found: np.ndarray, groundtruth: np.ndarray, k: int) -> float:
    """Mean fraction of each query's true k nearest among its first k results."""
    found = np.asarray(found)[:, :k].astype(np.int64)
    hits = sum(len(np.intersect1d(found[i], groundtruth[i, :k])) for i in range(found.shape[0]))
    return hits / (found.shape[0] * k)
