"""Zero-copy reads of numpy buffers, the GIL released while the library
works, and batch searches equal to single-query searches."""
import threading
import time

import numpy as np
import pytest

import omendb
from omendb import _omendb


@pytest.fixture(scope="module")
def filled(small):
    x, meta = small
    db = omendb.open(":memory:")
    c = db.create_collection("z", 32)
    c.upsert(np.arange(len(x)), x, metadata=meta)
    yield c, x
    db.close()


def test_float32_c_contiguous_is_read_in_place(filled):
    c, x = filled
    q = np.ascontiguousarray(x[:5])
    c.search(q, k=3)
    assert _omendb._last_input_address() == q.ctypes.data
    one = x[7]  # a row view: C-contiguous float32, not at the start of the buffer
    c.search(one, k=3)
    assert _omendb._last_input_address() == one.ctypes.data
    rows = np.random.default_rng(1).standard_normal((10, 32)).astype(np.float32)
    c.upsert(np.arange(10_000, 10_010), rows)
    assert _omendb._last_input_address() == rows.ctypes.data


def test_other_inputs_are_converted_once(filled):
    c, x = filled
    for q in (x[:5].astype(np.float64), np.asfortranarray(x[:5]), x[:5, :].T.copy().T,
              x[:5].astype(">f4")):
        c.search(q, k=3)
        assert _omendb._last_input_address() != q.ctypes.data
    strided = x[::2][:5]  # rows not adjacent: must be gathered
    assert not strided.flags["C_CONTIGUOUS"]
    c.search(strided, k=3)
    assert _omendb._last_input_address() != strided.ctypes.data


def test_batch_equals_single_queries(filled, sift):
    c, x = filled
    rng = np.random.default_rng(3)
    queries = (x[rng.integers(0, len(x), 64)] + rng.normal(0, 0.1, (64, 32))).astype(np.float32)
    for kwargs in ({}, {"ef": 16}, {"filter": {"lang": "en", "year": {"$gte": 2010}}},
                   {"filter": {"$id": {"$in": list(range(0, 2000, 97))}}}):
        for threads in (0, 1, 2):
            ids, dist = c.search(queries, k=10, threads=threads, **kwargs)
            assert ids.shape == (64, 10) and dist.shape == (64, 10)
            for i, q in enumerate(queries):
                one_ids, one_dist = c.search(q, k=10, **kwargs)
                n = len(one_ids)
                np.testing.assert_array_equal(ids[i, :n], one_ids)
                np.testing.assert_array_equal(dist[i, :n], one_dist)
                assert (ids[i, n:] == omendb.NO_ID).all()


def test_batch_equals_single_on_sift(sift):
    with omendb.open(":memory:") as db:
        c = db.create_collection("sift", sift.base.shape[1])
        c.upsert(np.arange(len(sift.base)), sift.base)
        ids, dist = c.search(sift.queries, k=10, ef=32)
        for i, q in enumerate(sift.queries):
            one = c.search(q, k=10, ef=32)
            np.testing.assert_array_equal(ids[i], one[0])
            np.testing.assert_array_equal(dist[i], one[1])


def _python_progress_during(call):
    """Runs call() in a thread while this thread counts loop iterations;
    returns (call seconds, seconds of this thread's progress inside the
    call, iterations inside the call)."""
    window = {}
    done = threading.Event()

    def worker():
        window["start"] = time.perf_counter()
        call()
        window["end"] = time.perf_counter()
        done.set()

    stamps = []
    t = threading.Thread(target=worker)
    t.start()
    while not done.is_set():
        stamps.append(time.perf_counter())
    t.join()
    inside = [s for s in stamps if window["start"] <= s <= window["end"]]
    span = inside[-1] - inside[0] if len(inside) > 1 else 0.0
    return window["end"] - window["start"], span, len(inside)


def test_gil_released_during_batch_search_and_upsert():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((6000, 48)).astype(np.float32)
    with omendb.open(":memory:", threads=1) as db:
        c = db.create_collection("g", 48, index={"ef_construction": 100})
        # Upsert (the graph build) in one thread while this one runs Python.
        dur, span, n = _python_progress_during(lambda: c.upsert(np.arange(len(x)), x))
        assert dur > 0.05
        assert n > 100 and span > 0.5 * dur, (dur, span, n)
        # A batch search long enough to notice: repeat the queries until it takes > 0.2 s.
        q = x[:500]
        t0 = time.perf_counter()
        c.search(q, k=10, ef=200, threads=1)
        reps = max(1, int(0.25 / max(time.perf_counter() - t0, 1e-4)))
        big = np.ascontiguousarray(np.tile(q, (reps, 1)))
        dur, span, n = _python_progress_during(lambda: c.search(big, k=10, ef=200, threads=1))
        assert dur > 0.1
        assert n > 100 and span > 0.5 * dur, (dur, span, n)



def test_reorder_keeps_results_and_waits_for_searches():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3000, 24)).astype(np.float32)
    idx = _omendb.HnswIndex(24, "l2", 8, 64)
    idx.add(x, np.arange(3000, dtype=np.uint64) * 5)
    q = x[:200] + 0.01
    before = idx.search(q, 10, 40)
    stop = threading.Event()
    errors = []

    def searcher():
        while not stop.is_set():
            ids, _, _ = idx.search(q[:20], 10, 40)
            if not np.array_equal(ids, before[0][:20]):
                errors.append("different results while reordering")

    t = threading.Thread(target=searcher)
    t.start()
    for _ in range(3):
        idx.reorder()
    stop.set()
    t.join()
    assert not errors
    after = idx.search(q, 10, 40)
    assert np.array_equal(before[0], after[0])
    assert np.array_equal(before[1], after[1])
    assert len(idx) == 3000
    np.testing.assert_array_equal(idx.get(np.array([5, 10], dtype=np.uint64)), x[1:3])
