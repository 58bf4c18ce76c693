"""The database API: collections, upsert/get/delete, search with filters,
metrics, dtypes and shapes, stats, lifecycle."""
import os

import numpy as np
import pytest

import omendb


def brute_force(x, q, k, metric="l2", mask=None):
    """Exact ids and distances under the library's metric definitions."""
    x = x.astype(np.float64)
    q = q.astype(np.float64)
    if metric == "l2":
        d = ((x - q) ** 2).sum(1)
    elif metric == "ip":
        d = 1.0 - x @ q
    else:
        d = 1.0 - (x @ q) / (np.linalg.norm(x, axis=1) * np.linalg.norm(q))
    if mask is not None:
        d = np.where(mask, d, np.inf)
    order = np.argsort(d, kind="stable")[:k]
    order = order[np.isfinite(d[order])]
    return order, d[order]


@pytest.fixture
def coll(db, small):
    x, meta = small
    c = db.create_collection("items", dim=32)
    c.upsert(np.arange(len(x)), x, metadata=meta)
    return c


def test_open_memory_and_context_manager():
    with omendb.open(":memory:") as db:
        assert db.path == ":memory:"
        assert not db.closed
        c = db.create_collection("a", 4)
        c.upsert([1, 2], np.eye(2, 4, dtype=np.float32))
        assert len(c) == 2
        stats = db.stats()
        assert stats["collections"][0]["live"] == 2
    assert db.closed
    with pytest.raises(omendb.FailedPreconditionError):
        c.search(np.ones(4, dtype=np.float32))


def test_memory_database_leaves_no_files():
    before = set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()
    db = omendb.open(":memory:")
    db.create_collection("a", 4).upsert(0, np.ones(4, dtype=np.float32))
    db.close()
    after = set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()
    assert not {n for n in after - before if n.startswith("omendb-memory")}


def test_collections_create_get_list(db):
    a = db.create_collection("a", 8, "cosine", index={"M": 8, "ef_construction": 50})
    db.create_collection("b", 3, metric="ip")
    assert sorted(db.list_collections()) == ["a", "b"]
    assert "a" in db and "zzz" not in db
    assert db.collection("a").dim == 8
    assert db["b"].metric == "ip"
    assert a.metric == "cosine"
    assert a.options["index"]["M"] == 8
    assert a.options["index"]["ef_construction"] == 50
    with pytest.raises(omendb.AlreadyExistsError):
        db.create_collection("a", 8)
    with pytest.raises(omendb.NotFoundError):
        db.collection("missing")
    with pytest.raises(KeyError):
        db["missing"]
    assert db.get_or_create_collection("a", 8, "cosine").name == "a"
    assert db.get_or_create_collection("c", 5).dim == 5
    with pytest.raises(omendb.InvalidArgumentError):
        db.get_or_create_collection("a", 9)
    with pytest.raises(omendb.InvalidArgumentError):
        db.create_collection("bad name!", 4)
    with pytest.raises(omendb.InvalidArgumentError):
        db.create_collection("x", 4, "hamming")
    with pytest.raises(omendb.InvalidArgumentError):
        db.create_collection("x", 4, index={"type": "ivf"})


def test_upsert_get_delete(db):
    c = db.create_collection("c", 3)
    c.upsert([10, 20, 30], [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
             metadata=[{"a": 1}, None, {"b": "x", "c": True, "d": 2.5}])
    assert len(c) == 3
    r = c.get(10)
    assert r.id == 10
    np.testing.assert_array_equal(r.vector, [1, 0, 0])
    assert r.vector.dtype == np.float32
    assert r.metadata == {"a": 1}
    assert c.get(20).metadata == {}
    assert c.get(30).metadata == {"b": "x", "c": True, "d": 2.5}
    assert c.get(99) is None
    got = c.get([30, 99, 10])
    assert [g.id if g else None for g in got] == [30, None, 10]
    assert c[20].id == 20
    with pytest.raises(omendb.NotFoundError):
        c[99]
    assert 10 in c and 99 not in c
    np.testing.assert_array_equal(c.get_vectors([20, 30]), [[0, 1, 0], [0, 0, 1]])
    with pytest.raises(omendb.NotFoundError):
        c.get_vectors([20, 99])

    # Replacing an id replaces vector and metadata.
    c.upsert(10, np.array([0.5, 0.5, 0], dtype=np.float32), metadata={"z": -1})
    assert len(c) == 3
    np.testing.assert_allclose(c[10].vector, [0.5, 0.5, 0])
    assert c[10].metadata == {"z": -1}

    c.delete([20, 12345])
    assert len(c) == 2 and c.get(20) is None
    ids, _ = c.search(np.array([0, 1, 0], dtype=np.float32), k=3)
    assert 20 not in ids.tolist()
    c.delete(10)
    assert len(c) == 1
    c.flush()


def test_metadata_columns_and_numpy_values(db):
    c = db.create_collection("m", 2)
    years = np.array([2019, 2020, 2021], dtype=np.int64)
    c.upsert(np.array([1, 2, 3], dtype=np.uint64), np.ones((3, 2), dtype=np.float32),
             metadata={"year": years, "lang": ["en", None, "fr"],
                       "ok": np.array([True, False, True])})
    assert c[1].metadata == {"year": 2019, "lang": "en", "ok": True}
    assert c[2].metadata == {"year": 2020, "ok": False}
    assert isinstance(c[1].metadata["year"], int)
    with pytest.raises(omendb.InvalidArgumentError, match="column"):
        c.upsert([1, 2], np.ones((2, 2), np.float32), metadata={"year": [1]})
    with pytest.raises(omendb.InvalidArgumentError, match="one per id"):
        c.upsert([1, 2], np.ones((2, 2), np.float32), metadata=[{"a": 1}])
    with pytest.raises(omendb.InvalidArgumentError):
        c.upsert([1], np.ones((1, 2), np.float32), metadata=[{"$bad": 1}])
    with pytest.raises(omendb.InvalidArgumentError):
        c.upsert([1], np.ones((1, 2), np.float32), metadata=[{"a": [1, 2]}])
    with pytest.raises(omendb.InvalidArgumentError):
        c.upsert([1], np.ones((1, 2), np.float32), metadata=[{"a": float("nan")}])


def test_search_matches_brute_force(coll, small):
    x, _ = small
    q = x[17] + 0.01
    ids, dist = coll.search(q, k=10, ef=200)
    assert ids.dtype == np.uint64 and dist.dtype == np.float32
    assert ids.shape == (10,) and dist.shape == (10,)
    want, wd = brute_force(x, q, 10)
    assert len(set(ids.tolist()) & set(want.tolist())) >= 9
    assert ids[0] == 17
    assert np.all(np.diff(dist) >= 0)
    # Distances are the exact squared L2 distances of the returned ids.
    np.testing.assert_allclose(dist, ((x[ids.astype(np.int64)] - q) ** 2).sum(1), rtol=1e-4)


@pytest.mark.parametrize("metric", ["ip", "cosine"])
def test_metric_distances(db, small, metric):
    x, _ = small
    xs = x / np.linalg.norm(x, axis=1, keepdims=True) if metric == "ip" else x
    c = db.create_collection(metric, 32, metric)
    c.upsert(np.arange(len(xs)), xs)
    q = xs[5]
    ids, dist = c.search(q, k=5, ef=200)
    want, wd = brute_force(xs, q, 5, metric)
    assert ids.tolist() == want.tolist()
    np.testing.assert_allclose(dist, wd, atol=1e-4)


def test_filters(coll, small):
    x, meta = small
    years = np.array(meta["year"])
    langs = np.array(meta["lang"])
    q = x[3]
    cases = [
        ({"year": {"$gte": 2020}, "lang": "en"}, (years >= 2020) & (langs == "en")),
        ({"lang": {"$in": ["fr", "de"]}}, langs != "en"),
        ({"$or": [{"year": 2001}, {"year": 2024}]}, (years == 2001) | (years == 2024)),
        ({"year": {"$gt": 2003, "$lte": 2005}}, (years > 2003) & (years <= 2005)),
        ({"$not": {"lang": "en"}}, langs != "en"),
        ({"even": True, "score": {"$lt": 0.25}},
         (np.arange(2000) % 2 == 0) & (np.array(meta["score"]) < 0.25)),
        ({"$id": {"$in": [5, 6, 7, 1999]}}, np.isin(np.arange(2000), [5, 6, 7, 1999])),
        ({"missing": {"$exists": True}}, np.zeros(2000, dtype=bool)),
    ]
    for spec, mask in cases:
        for form in (spec, omendb.Filter(spec)):
            ids, dist = coll.search(q, k=10, ef=400, filter=form)
            got = ids.astype(np.int64)
            assert mask[got].all(), spec
            want, _ = brute_force(x, q, 10, mask=mask)
            assert len(got) == min(10, int(mask.sum())), spec
            assert len(set(got.tolist()) & set(want.tolist())) >= len(want) - 1, spec


def test_rare_filter_is_exact(coll, small):
    x, meta = small
    mask = np.isin(np.arange(2000), [11, 22, 33])
    ids, dist = coll.search(x[0], k=10, filter={"$id": {"$in": [11, 22, 33]}})
    want, wd = brute_force(x, x[0], 10, mask=mask)
    assert ids.tolist() == want.tolist()
    np.testing.assert_allclose(dist, wd, rtol=1e-4)


def test_filter_object_and_json(coll, small):
    f = omendb.Filter({"year": {"$gte": 2020}, "lang": "en"})
    assert "2020" in str(f)
    assert f.matches({"year": 2021, "lang": "en"})
    assert not f.matches({"year": 2019, "lang": "en"})
    x, _ = small
    a = coll.search(x[1], k=5, filter=f)
    b = coll.search(x[1], k=5, filter='{"year": {"$gte": 2020}, "lang": "en"}')
    np.testing.assert_array_equal(a[0], b[0])
    with pytest.raises(omendb.InvalidArgumentError, match="unknown operator"):
        coll.search(x[1], filter={"year": {"$near": 1}})
    with pytest.raises(omendb.InvalidArgumentError):
        omendb.Filter({"year": {"$gte": float("nan")}})
    with pytest.raises(omendb.InvalidArgumentError):
        coll.search(x[1], filter=42)


def test_batch_padding_when_fewer_match(coll, small):
    x, _ = small
    ids, dist = coll.search(x[:4], k=6, filter={"$id": {"$in": [1, 2, 3]}})
    assert ids.shape == (4, 6)
    assert (ids[:, 3:] == omendb.NO_ID).all()
    assert np.isinf(dist[:, 3:]).all()
    assert set(ids[:, :3].ravel().tolist()) == {1, 2, 3}
    one, _ = coll.search(x[0], k=6, filter={"$id": {"$in": [1, 2, 3]}})
    assert len(one) == 3


def test_k_larger_than_collection(db):
    c = db.create_collection("tiny", 2)
    c.upsert([1, 2], np.eye(2, dtype=np.float32))
    ids, _ = c.search(np.array([1, 0], np.float32), k=5)
    assert ids.tolist() == [1, 2]
    empty = db.create_collection("empty", 2)
    ids, dist = empty.search(np.array([1, 0], np.float32), k=3)
    assert len(ids) == 0 and len(dist) == 0


def test_dtypes_and_shapes(coll, small):
    x, _ = small
    q32 = x[:3]
    ref = coll.search(q32, k=5)
    for q in (q32.astype(np.float64), q32.tolist(), np.asfortranarray(q32)):
        got = coll.search(q, k=5)
        np.testing.assert_array_equal(got[0], ref[0])
        np.testing.assert_allclose(got[1], ref[1])
    one = coll.search(x[0].tolist(), k=5)
    np.testing.assert_array_equal(one[0], ref[0][0])
    with pytest.raises(omendb.InvalidArgumentError, match=r"shape \(n, 32\), got shape \(3, 31\)"):
        coll.search(x[:3, :31])
    with pytest.raises(omendb.InvalidArgumentError, match=r"got shape \(2, 3, 32\)"):
        coll.search(np.zeros((2, 3, 32), np.float32))
    with pytest.raises(ValueError, match="numbers"):
        coll.search(np.array(["a"] * 32))
    with pytest.raises(omendb.InvalidArgumentError, match="k must be at least 1"):
        coll.search(x[0], k=0)
    with pytest.raises(omendb.InvalidArgumentError):
        coll.search(np.full(32, np.nan, np.float32))
    with pytest.raises(omendb.InvalidArgumentError, match="ids for"):
        coll.upsert([1, 2], x[:3])
    with pytest.raises(omendb.InvalidArgumentError, match="negative"):
        coll.upsert(np.array([-1]), x[:1])
    with pytest.raises(omendb.InvalidArgumentError, match="integers"):
        coll.upsert(np.array([1.5]), x[:1])
    with pytest.raises(omendb.InvalidArgumentError):
        coll.upsert([1, 1], x[:2])  # an id twice in one batch
    # Ids span the whole uint64 range.
    coll.upsert(2**64 - 2, x[0])
    assert coll[2**64 - 2].id == 2**64 - 2


def test_quantized_collection(db, small):
    x, _ = small
    c = db.create_collection("q", 32, quantization="sq8", quant_train_after=500)
    c.upsert(np.arange(len(x)), x)
    st = c.stats()
    assert st["quant_trained"] and st["options"]["quantization"] == "sq8"
    ids, dist = c.search(x[9], k=5, ef=100)
    assert ids[0] == 9
    # Results carry exact distances.
    exact = ((x[ids.astype(np.int64)] - x[9]) ** 2).sum(1)
    np.testing.assert_allclose(dist, exact, rtol=1e-4, atol=1e-4)
    with pytest.raises(omendb.InvalidArgumentError):
        db.create_collection("q2", 32, quantization="zip")


def test_stats_checkpoint_compact_verify(tmp_path, small):
    x, _ = small
    with omendb.open(tmp_path / "db") as db:
        c = db.create_collection("s", 32)
        c.upsert(np.arange(500), x[:500])
        c.delete(np.arange(200))
        st = c.stats()
        assert st["live"] == 300 and st["name"] == "s" and st["memory_bytes"] > 0
        db.checkpoint()
        db.compact("s")
        report = db.verify()
        assert report["ok"], report["problems"]
        assert report["graphs"]["s"]["nodes"] == 300
        s = db.stats()
        assert s["checkpoints"] >= 1 and s["compactions"] >= 1 and s["checkpoint_bytes"] > 0
        assert len(c) == 300
        assert "<omendb.Collection 's' dim=32 metric=l2 size=300>" == repr(c)
        assert c.database.path.endswith("db")
