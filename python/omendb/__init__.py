"""OmenDB: an embedded vector database.

Open a database (a directory, or ":memory:"), create collections of vectors
with 64-bit ids and optional metadata, and search them::

    import numpy as np
    import omendb

    with omendb.open("./vectors") as db:
        docs = db.get_or_create_collection("docs", dim=128, metric="cosine")
        docs.upsert(np.arange(1000), np.random.rand(1000, 128).astype(np.float32),
                    metadata={"year": list(range(1000))})
        ids, distances = docs.search(np.random.rand(128).astype(np.float32), k=10,
                                     filter={"year": {"$gte": 500}})

Vectors are read in place from C-contiguous float32 numpy arrays (other
numeric arrays are converted once), results come back as numpy arrays, the
GIL is released while the library works, and failures raise subclasses of
omendb.Error carrying the library's message. omendb.hnswlib_compat offers
hnswlib's Index API on the same engine. See docs/python.md for the reference.
"""

from ._omendb import (
    NO_ID,
    AlreadyExistsError,
    BusyError,
    Collection,
    CorruptionError,
    Database,
    Error,
    FailedPreconditionError,
    Filter,
    HnswIndex,
    InternalError,
    InvalidArgumentError,
    IOError,
    NotFoundError,
    NotSupportedError,
    Record,
    ResourceExhaustedError,
    open,
)

__version__ = "0.1.0"

__all__ = [
    "NO_ID",
    "AlreadyExistsError",
    "BusyError",
    "Collection",
    "CorruptionError",
    "Database",
    "Error",
    "FailedPreconditionError",
    "Filter",
    "HnswIndex",
    "InternalError",
    "InvalidArgumentError",
    "IOError",
    "NotFoundError",
    "NotSupportedError",
    "Record",
    "ResourceExhaustedError",
    "open",
]
