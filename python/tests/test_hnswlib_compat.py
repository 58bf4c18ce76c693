"""omendb.hnswlib_compat: hnswlib's API and semantics, and hnswlib's README
programs giving the same recall as hnswlib itself when only their import
changes."""
import os
import pickle
import re
import subprocess
import sys

import numpy as np
import pytest

import omendb
import omendb.hnswlib_compat as hnswlib
from conftest import EXAMPLES, python_env

COMPAT_IMPORT = "import omendb.hnswlib_compat as hnswlib"
RUNS = 3  # runs per engine of each hnswlib program (medians compared)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(12)
    return rng.standard_normal((1000, 16)).astype(np.float32)


@pytest.fixture
def index(data):
    p = hnswlib.Index(space="l2", dim=16)
    p.init_index(max_elements=1000, M=16, ef_construction=100)
    p.add_items(data)
    return p


def exact(data, q, k, space):
    if space == "l2":
        d = ((data.astype(np.float64) - q) ** 2).sum(1)
    elif space == "ip":
        d = 1 - data.astype(np.float64) @ q
    else:
        n = data / np.linalg.norm(data, axis=1, keepdims=True)
        d = 1 - n.astype(np.float64) @ (q / np.linalg.norm(q))
    o = np.argsort(d, kind="stable")[:k]
    return o, d[o]


def test_parameters_and_defaults(index):
    assert index.space == "l2" and index.dim == 16
    assert index.M == 16 and index.ef_construction == 100
    assert index.max_elements == 1000 and index.get_max_elements() == 1000
    assert index.element_count == 1000 and index.get_current_count() == 1000
    assert index.ef == 10
    index.set_ef(40)
    assert index.ef == 40
    index.ef = 30
    assert index.ef == 30
    index.set_num_threads(2)
    assert index.num_threads == 2
    assert index.get_ids_list() == list(range(1000))
    assert "space='l2'" in repr(index)


@pytest.mark.parametrize("space", ["l2", "ip", "cosine"])
def test_knn_query_results(data, space):
    p = hnswlib.Index(space=space, dim=16)
    p.init_index(max_elements=1000)
    p.add_items(data, np.arange(1000) * 3)
    p.set_ef(200)
    labels, distances = p.knn_query(data[:20], k=5)
    assert labels.dtype == np.uint64 and distances.dtype == np.float32
    assert labels.shape == (20, 5) and distances.shape == (20, 5)
    for i in range(20):
        want, wd = exact(data, data[i].astype(np.float64), 5, space)
        assert labels[i].tolist() == (want * 3).tolist()
        np.testing.assert_allclose(distances[i], wd, atol=1e-4, rtol=1e-4)
    one_l, one_d = p.knn_query(data[0], k=3)
    assert one_l.shape == (1, 3)
    if space == "cosine":  # stored normalised, as hnswlib does
        v = np.asarray(p.get_items([0]))[0]
        np.testing.assert_allclose(np.linalg.norm(v), 1.0, rtol=1e-5)


def test_capacity_resize_and_errors(data):
    p = hnswlib.Index(space="l2", dim=16)
    with pytest.raises(RuntimeError):
        p.knn_query(data[0])
    p.init_index(max_elements=10)
    with pytest.raises(RuntimeError, match="already"):
        p.init_index(max_elements=10)
    p.add_items(data[:10])
    with pytest.raises(RuntimeError, match="exceeds the specified limit"):
        p.add_items(data[10:11])
    # Replacing an existing label needs no room.
    p.add_items(data[20], 3)
    np.testing.assert_allclose(np.asarray(p.get_items([3]))[0], data[20])
    assert p.element_count == 10
    with pytest.raises(RuntimeError, match="Cannot resize"):
        p.resize_index(5)
    p.resize_index(20)
    assert p.max_elements == 20
    p.add_items(data[10:20], np.arange(10, 20))
    assert p.element_count == 20
    with pytest.raises(RuntimeError, match="contigious 2D array"):
        p.knn_query(data[0], k=21)
    with pytest.raises(RuntimeError):
        p.knn_query(np.zeros((2, 15), np.float32))
    with pytest.raises(RuntimeError, match="Label not found"):
        p.get_items([999])
    with pytest.raises(RuntimeError, match="Space name"):
        hnswlib.Index(space="hamming", dim=4)


def test_mark_and_unmark(index, data):
    index.set_ef(100)
    labels, _ = index.knn_query(data[5], k=1)
    assert labels[0, 0] == 5
    index.mark_deleted(5)
    labels, _ = index.knn_query(data[5], k=10)
    assert 5 not in labels[0].tolist()
    assert index.element_count == 1000  # still stored, as in hnswlib
    assert 5 in index.get_ids_list()
    with pytest.raises(RuntimeError, match="already deleted"):
        index.mark_deleted(5)
    with pytest.raises(RuntimeError, match="Label not found"):
        index.mark_deleted(123456)
    # k above the unmarked count cannot be answered.
    small = hnswlib.Index(space="l2", dim=16)
    small.init_index(3)
    small.add_items(data[:3])
    small.mark_deleted(0)
    with pytest.raises(RuntimeError, match="contigious"):
        small.knn_query(data[0], k=3)
    index.unmark_deleted(5)
    labels, _ = index.knn_query(data[5], k=1)
    assert labels[0, 0] == 5
    with pytest.raises(RuntimeError, match="not deleted"):
        index.unmark_deleted(5)
    # Adding a marked label again replaces it and clears the mark.
    index.mark_deleted(6)
    index.add_items(data[6], 6)
    assert index.knn_query(data[6], k=1)[0][0, 0] == 6


def test_replace_deleted(data):
    p = hnswlib.Index(space="l2", dim=16)
    p.init_index(max_elements=5, allow_replace_deleted=True)
    p.add_items(data[:5])
    p.mark_deleted(2)
    with pytest.raises(RuntimeError, match="exceeds"):
        p.add_items(data[7], 7)
    p.add_items(data[7], 7, replace_deleted=True)
    assert p.element_count == 5
    assert sorted(p.get_ids_list()) == [0, 1, 3, 4, 7]
    assert p.knn_query(data[7], k=1)[0][0, 0] == 7


def test_filter_callable(index, data):
    index.set_ef(100)
    labels, _ = index.knn_query(data[:5], k=5, filter=lambda label: label % 2 == 1)
    assert all(int(x) % 2 == 1 for x in labels.ravel())

    def boom(label):
        raise ValueError("filter failed")

    with pytest.raises(ValueError, match="filter failed"):
        index.knn_query(data[:2], k=3, filter=boom)


def test_save_load_and_pickle(index, data, tmp_path):
    index.set_ef(77)
    index.mark_deleted(9)
    path = str(tmp_path / "index.bin")
    index.save_index(path)
    loaded = hnswlib.Index(space="l2", dim=16)
    loaded.load_index(path)
    assert loaded.ef == 10  # load_index resets ef, like hnswlib
    assert loaded.max_elements == 1000 and loaded.element_count == 1000
    loaded.set_ef(77)
    a = index.knn_query(data[:50], k=5)
    b = loaded.knn_query(data[:50], k=5)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert 9 not in b[0].ravel().tolist()  # the mark survived
    bigger = hnswlib.Index(space="l2", dim=16)
    bigger.load_index(path, max_elements=1500)
    assert bigger.max_elements == 1500
    bigger.add_items(data[:500], np.arange(1000, 1500))
    assert bigger.element_count == 1500

    copy = pickle.loads(pickle.dumps(index))
    assert copy.ef == 77 and copy.M == 16 and copy.max_elements == 1000
    c = copy.knn_query(data[:50], k=5)
    np.testing.assert_array_equal(a[0], c[0])
    clone = hnswlib.Index(index)
    np.testing.assert_array_equal(clone.knn_query(data[:50], k=5)[0], a[0])

    wrong = hnswlib.Index(space="l2", dim=8)
    with pytest.raises(RuntimeError, match="dim"):
        wrong.load_index(path)
    with open(path, "r+b") as f:
        f.seek(os.path.getsize(path) // 2)
        f.write(b"\xff" * 16)
    with pytest.raises(RuntimeError) as e:
        hnswlib.Index(space="l2", dim=16).load_index(path)
    assert isinstance(e.value.__cause__, omendb.CorruptionError)
    with pytest.raises(RuntimeError):
        hnswlib.Index(space="l2", dim=16).load_index(str(tmp_path / "missing.bin"))


def test_bf_index(data):
    bf = hnswlib.BFIndex(space="l2", dim=16)
    bf.init_index(100)
    bf.add_items(data[:100])
    labels, distances = bf.knn_query(data[:3], k=4)
    for i in range(3):
        want, wd = exact(data[:100], data[i].astype(np.float64), 4, "l2")
        assert labels[i].tolist() == want.tolist()
    bf.delete_vector(0)
    assert 0 not in bf.knn_query(data[0], k=3)[0].ravel().tolist()


# ---- hnswlib programs, run with hnswlib and with the compat module ----

def run_program(path, workdir, import_line=None):
    """Runs an example program, with its hnswlib import line changed to
    `import_line` (a copy in workdir) or as it is (import_line None)."""
    if import_line is not None:
        source = open(path).read()
        line = re.search(r"^import (hnswlib|omendb\.hnswlib_compat as hnswlib)\b.*$", source, re.M)
        assert line, path
        source = source[:line.start()] + import_line + source[line.end():]
        path = os.path.join(workdir, os.path.basename(path))
        with open(path, "w") as f:
            f.write(source)
    r = subprocess.run([sys.executable, path], env=python_env(), capture_output=True,
                       text=True, timeout=300, cwd=workdir)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def recalls(output):
    out = {}
    for line in output.splitlines():
        m = re.match(r"(.*recall[^:]*):\s*([0-9.]+)\s*$", line)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


# Why one line gets a wider tolerance: two siftsmall queries (85 and 87)
# lie beside a second basin. An ef=50 walk on layer 0 reaches their true
# neighbours from only about half of all entry points, in OmenDB's graphs and
# in hnswlib's alike, so whether a build answers them depends on where its
# upper layers happen to end the descent. Over 100 level seeds on siftsmall
# (M 16, efC 100), 11 one-thread hnswlib builds and 7 four-thread ones score
# 0.975-0.986 instead of about 0.996; OmenDB: 15 and 14. hnswlib's example
# always uses the same seed, which lands well; OmenDB's parallel build also
# varies with thread timing, so the median of RUNS can fall on a low build.
KNOWN_GAPS = {("readme_incremental.py", "recall@10, both halves (ef=50)"): 0.03}


@pytest.mark.parametrize("program", [
    os.path.join(EXAMPLES, "hnswlib", "readme_basic.py"),
    os.path.join(EXAMPLES, "hnswlib", "readme_incremental.py"),
    os.path.join(EXAMPLES, "migrate_from_hnswlib.py"),
])
def test_hnswlib_programs_match_hnswlib_recall(program, tmp_path):
    """Both engines build with several threads, so a run's recall varies a
    little from run to run (for hnswlib as for OmenDB): each program runs
    RUNS times per engine and the medians are compared."""
    pytest.importorskip("hnswlib", reason="hnswlib (python3-hnswlib) is not installed")
    outputs = {"omendb": [], "hnswlib": []}
    for _ in range(RUNS):
        outputs["omendb"].append(run_program(program, tmp_path, COMPAT_IMPORT))
        outputs["hnswlib"].append(run_program(program, tmp_path, "import hnswlib"))
    ours, theirs = outputs["omendb"][0], outputs["hnswlib"][0]
    med = {}
    for engine, outs in outputs.items():
        runs = [recalls(o) for o in outs]
        med[engine] = {name: float(np.median([r[name] for r in runs])) for name in runs[0]}
    r_ours, r_theirs = med["omendb"], med["hnswlib"]
    assert r_ours and r_ours.keys() == r_theirs.keys(), (ours, theirs)
    for name, value in r_theirs.items():
        print(f"{os.path.basename(program)}: {name}: omendb {r_ours[name]:.4f}, "
              f"hnswlib {value:.4f} (medians of {RUNS} runs)")
        tolerance = KNOWN_GAPS.get((os.path.basename(program), name), 0.01)
        assert abs(r_ours[name] - value) <= tolerance, \
            f"{name}: omendb {r_ours[name]} vs hnswlib {value}"
    # Everything else they print (parameters, counts) is the same too.
    other = lambda out: [l for l in out.splitlines()
                         if "recall" not in l and "saving" not in l and "built in" not in l]
    assert other(ours) == other(theirs)
