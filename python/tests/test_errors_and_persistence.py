"""Library errors raised as omendb.Error subclasses with the library's
message, and databases persisting across processes."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import omendb
from conftest import python_env


def run_python(code, *args):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args],
                          env=python_env(), capture_output=True, text=True, timeout=120)


def test_hierarchy():
    for cls, extra in [(omendb.InvalidArgumentError, ValueError), (omendb.NotFoundError, KeyError),
                       (omendb.IOError, OSError)]:
        assert issubclass(cls, omendb.Error) and issubclass(cls, extra)
    for cls in (omendb.AlreadyExistsError, omendb.CorruptionError, omendb.NotSupportedError,
                omendb.ResourceExhaustedError, omendb.FailedPreconditionError, omendb.BusyError,
                omendb.InternalError):
        assert issubclass(cls, omendb.Error)
    assert omendb.CorruptionError.code == "corruption"
    assert omendb.NotFoundError.code == "not found"


def test_not_found_message_is_plain(db):
    with pytest.raises(omendb.NotFoundError) as e:
        db.collection("nope")
    assert str(e.value).startswith("no collection") or "nope" in str(e.value)
    assert not str(e.value).startswith("'")


def test_missing_database_without_create(tmp_path):
    with pytest.raises(omendb.NotFoundError):
        omendb.open(tmp_path / "absent", create=False)
    omendb.open(tmp_path / "present").close()
    with pytest.raises(omendb.AlreadyExistsError):
        omendb.open(tmp_path / "present", error_if_exists=True)


def test_io_error_is_oserror(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(OSError) as e:
        omendb.open(blocker / "db")
    assert isinstance(e.value, omendb.Error)


def test_busy_when_open_in_another_process(tmp_path):
    path = str(tmp_path / "db")
    with omendb.open(path):
        r = run_python("""
            import sys, omendb
            try:
                omendb.open(sys.argv[1])
            except omendb.BusyError as e:
                print("busy:", e)
            """, path)
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("busy:"), r.stdout + r.stderr


def test_corruption_error_names_the_file(tmp_path):
    path = tmp_path / "db"
    x = np.random.default_rng(2).standard_normal((300, 8)).astype(np.float32)
    with omendb.open(path) as db:
        db.create_collection("c", 8).upsert(np.arange(300), x)
        db.checkpoint()
    damaged = []
    for name in os.listdir(path):  # the checkpoint (segment) files
        full = path / name
        if not name.endswith(".seg"):
            continue
        data = bytearray(full.read_bytes())
        mid = len(data) // 2
        data[mid:mid + 8] = bytes(b ^ 0xFF for b in data[mid:mid + 8])
        full.write_bytes(bytes(data))
        damaged.append(name)
    assert damaged
    with pytest.raises(omendb.CorruptionError) as e:
        omendb.open(path)
    assert any(name in str(e.value) for name in damaged), str(e.value)


def test_closed_database(db):
    c = db.create_collection("c", 2)
    db.close()
    db.close()  # idempotent
    for call in (lambda: c.upsert(1, [1.0, 2.0]), lambda: c.search([1.0, 2.0]),
                 lambda: db.create_collection("d", 2), db.flush):
        with pytest.raises(omendb.FailedPreconditionError):
            call()
    assert "closed" in repr(db)


def test_persistence_across_processes(tmp_path, small):
    path = str(tmp_path / "db")
    writer = run_python("""
        import json, sys
        import numpy as np
        import omendb
        rng = np.random.default_rng(11)
        x = rng.standard_normal((1500, 32)).astype(np.float32)
        with omendb.open(sys.argv[1]) as db:
            c = db.create_collection("docs", 32, "cosine")
            c.upsert(np.arange(1500), x, metadata={"n": list(range(1500)),
                                                    "tag": ["a", "b", "c"] * 500})
            c.delete([3, 4, 5])
            db.checkpoint()
            # After the checkpoint: only in the log.
            c.upsert([4], x[4] * 2, metadata=[{"n": -4, "tag": "z"}])
            ids, dist = c.search(x[:20], k=10, ef=100, filter={"tag": {"$in": ["a", "z"]}})
            print(json.dumps({"ids": ids.tolist(), "dist": dist.tolist(), "len": len(c)}))
        """, path)
    assert writer.returncode == 0, writer.stderr
    before = json.loads(writer.stdout)
    rng = np.random.default_rng(11)
    x = rng.standard_normal((1500, 32)).astype(np.float32)
    with omendb.open(path) as db:
        assert db.list_collections() == ["docs"]
        c = db.collection("docs")
        assert c.metric == "cosine" and c.dim == 32
        assert len(c) == before["len"] == 1498
        assert c.get(3) is None and c.get(5) is None
        assert c[4].metadata == {"n": -4, "tag": "z"}
        assert c[7].metadata == {"n": 7, "tag": "b"}
        np.testing.assert_allclose(c[7].vector, x[7] / np.linalg.norm(x[7]), rtol=1e-5)
        ids, dist = c.search(x[:20], k=10, ef=100, filter={"tag": {"$in": ["a", "z"]}})
        assert ids.tolist() == before["ids"]
        np.testing.assert_allclose(dist, np.array(before["dist"], dtype=np.float32), rtol=1e-6)
        assert db.verify()["ok"]
