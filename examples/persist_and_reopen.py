"""Persist a database and open it again in another process.

The first run (no argument) writes a database with durable upserts and a
delete, prints the results of a search, and starts this script again as a
new process that reopens the directory and checks that it finds the same
vectors, metadata and search results.

    python3 examples/persist_and_reopen.py [DB_DIR]
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

import omendb

DIM = 64


def data():
    rng = np.random.default_rng(2024)
    return rng.standard_normal((5000, DIM)).astype(np.float32)


def write(path):
    x = data()
    with omendb.open(path, durability="full") as db:  # every write is fsynced before it returns
        notes = db.create_collection("notes", dim=DIM, metric="cosine")
        notes.upsert(np.arange(5000), x, metadata=[{"chapter": i // 100} for i in range(5000)])
        notes.delete(np.arange(0, 5000, 10))
        db.checkpoint()                      # optional: a compact snapshot of the log
        notes.upsert(7, x[7] * 3, metadata={"chapter": -1, "edited": True})
        ids, distances = notes.search(x[:5], k=5, filter={"chapter": {"$lt": 10}})
        print(f"wrote {len(notes)} vectors to {path}")
        return {"ids": ids.tolist(), "distances": distances.tolist()}


def reopen(path, expected):
    x = data()
    with omendb.open(path, create=False) as db:
        notes = db.collection("notes")
        assert len(notes) == 4500
        assert notes.get(10) is None                # deleted before the checkpoint
        assert notes[7].metadata == {"chapter": -1, "edited": True}  # written after it
        ids, distances = notes.search(x[:5], k=5, filter={"chapter": {"$lt": 10}})
        assert ids.tolist() == expected["ids"]
        assert np.allclose(distances, expected["distances"])
        assert db.verify()["ok"]
        print(f"reopened {path} in process {os.getpid()}: {len(notes)} vectors, same results")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--reopen":
        reopen(sys.argv[2], json.loads(sys.argv[3]))
    else:
        path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(tempfile.mkdtemp(), "db")
        expected = write(path)
        print(f"process {os.getpid()} closed the database; reopening it in a new process")
        subprocess.run([sys.executable, __file__, "--reopen", path, json.dumps(expected)],
                       check=True)
