"""hnswlib's Python API on OmenDB's HNSW index.

A program written against hnswlib runs unchanged after changing its import::

    import omendb.hnswlib_compat as hnswlib      # was: import hnswlib

    p = hnswlib.Index(space="l2", dim=128)
    p.init_index(max_elements=10000, ef_construction=200, M=16)
    p.add_items(data, ids)
    p.set_ef(50)
    labels, distances = p.knn_query(queries, k=10)

Semantics follow hnswlib 0.6/0.7: labels are uint64, knn_query returns
(labels uint64 [n, k], distances float32 [n, k]); 'l2' gives squared L2,
'ip' 1 - dot, 'cosine' 1 - cos (vectors normalised on insert). ef is the
search beam (default 10, reset by load_index, kept by pickling); adding a
label that exists replaces its vector; mark_deleted hides a label from
searches until unmark_deleted; capacity (max_elements) is enforced and
grown with resize_index. Errors raise RuntimeError with hnswlib's messages
where hnswlib has one (the omendb.Error that caused it is chained).

Differences: save_index writes OmenDB's own single-file format (it reads
back with this module's load_index, not with hnswlib's), and the index
accepts searches concurrently with add_items from other threads.
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any, Callable, Iterator, List, Optional, Tuple, Union

import numpy as np

from . import _omendb

__all__ = ["Index", "BFIndex"]

_SPACES = ("l2", "ip", "cosine")
_FORMAT = "omendb.hnswlib_compat"
_FORMAT_VERSION = 1
_DEFAULT_EF = 10

_NOT_INITIALISED = "Index not initialized: call init_index or load_index first"
_TOO_FEW = "Cannot return the results in a contigious 2D array. Probably ef or M is too small"


@contextlib.contextmanager
def _as_runtime_error() -> Iterator[None]:
    """Re-raises omendb errors as RuntimeError (what hnswlib raises)."""
    try:
        yield
    except _omendb.Error as e:
        raise RuntimeError(str(e)) from e


def _threads(requested: int, default: int) -> int:
    """hnswlib's num_threads (-1 = the index default) as OmenDB's (0 = all cores)."""
    n = requested if requested is not None and requested > 0 else default
    return n if n > 0 else 0


class Index:
    """An HNSW index with hnswlib's interface (see the module docstring).

    Index(space, dim) with space 'l2', 'ip' or 'cosine'; Index(other) copies
    another Index.
    """

    def __init__(self, space: Union[str, "Index"], dim: Optional[int] = None) -> None:
        if isinstance(space, Index):
            other = space
            self.__setstate__(other.__getstate__())
            return
        if space not in _SPACES:
            raise RuntimeError("Space name must be one of l2, ip, or cosine.")
        if dim is None or int(dim) <= 0:
            raise RuntimeError("dim must be a positive integer")
        self.space: str = space
        self.dim: int = int(dim)
        self._index: Optional[_omendb.HnswIndex] = None
        self._max_elements = 0
        self._ef = _DEFAULT_EF
        self._num_threads = os.cpu_count() or 1
        self._allow_replace_deleted = False

    # ---- parameters, as hnswlib exposes them ----

    @property
    def M(self) -> int:
        """Out-degree bound M given to init_index (0 before it)."""
        return self._index.M if self._index is not None else 0

    @property
    def ef_construction(self) -> int:
        """Beam width while inserting, given to init_index (0 before it)."""
        return self._index.ef_construction if self._index is not None else 0

    @property
    def max_elements(self) -> int:
        """Capacity: add_items raises once element_count would pass it."""
        return self._max_elements

    @property
    def element_count(self) -> int:
        """Stored elements, including those marked deleted."""
        return len(self._index) if self._index is not None else 0

    @property
    def ef(self) -> int:
        """Search beam width used by knn_query (max(ef, k) is used)."""
        return self._ef

    @ef.setter
    def ef(self, value: int) -> None:
        self.set_ef(value)

    @property
    def num_threads(self) -> int:
        """Default thread count of add_items / knn_query (num_threads=-1)."""
        return self._num_threads

    @num_threads.setter
    def num_threads(self, value: int) -> None:
        self.set_num_threads(value)

    def set_ef(self, ef: int) -> None:
        """Sets the search beam width for later knn_query calls."""
        ef = int(ef)
        if ef < 1:
            raise RuntimeError("ef must be at least 1")
        self._ef = ef

    def set_num_threads(self, num_threads: int) -> None:
        """Sets the default number of threads (num_threads=-1 in calls)."""
        self._num_threads = int(num_threads)

    def get_max_elements(self) -> int:
        """Same as max_elements."""
        return self._max_elements

    def get_current_count(self) -> int:
        """Same as element_count."""
        return self.element_count

    # ---- building ----

    def init_index(self, max_elements: int, M: int = 16, ef_construction: int = 200,
                   random_seed: int = 100, allow_replace_deleted: bool = False) -> None:
        """Creates the empty index with room for max_elements elements."""
        if self._index is not None:
            raise RuntimeError("The index is already initiated.")
        with _as_runtime_error():
            self._index = _omendb.HnswIndex(self.dim, self.space, int(M), int(ef_construction),
                                            int(random_seed), int(max_elements))
        self._max_elements = int(max_elements)
        self._ef = _DEFAULT_EF
        self._allow_replace_deleted = bool(allow_replace_deleted)

    def _require(self) -> _omendb.HnswIndex:
        """The native index, or RuntimeError before init_index/load_index."""
        if self._index is None:
            raise RuntimeError(_NOT_INITIALISED)
        return self._index

    def _rows(self, data: Any) -> np.ndarray:
        """`data` as an (n, dim) array (a 1-D vector becomes one row)."""
        arr = data if isinstance(data, np.ndarray) else np.asarray(data, dtype=np.float32)
        if arr.ndim == 1:
            arr = arr.reshape(1, -1)
        if arr.ndim != 2 or arr.shape[1] != self.dim:
            raise RuntimeError("Wrong dimensionality of the vectors")
        return arr

    def add_items(self, data: Any, ids: Any = None, num_threads: int = -1,
                  replace_deleted: bool = False) -> None:
        """Inserts rows of `data` (n x dim) under `ids` (default: the next
        element_count .. element_count + n - 1). A label already present has
        its vector replaced (and its deletion mark cleared). With
        replace_deleted (and allow_replace_deleted at init), new labels take
        the place of elements marked deleted when the index is full."""
        index = self._require()
        rows = self._rows(data)
        n = rows.shape[0]
        if ids is None:
            labels = np.arange(self.element_count, self.element_count + n, dtype=np.uint64)
        else:
            labels = np.asarray(ids)
            if labels.ndim == 0:
                labels = labels.reshape(1)
            if labels.ndim != 1 or labels.shape[0] != n:
                raise RuntimeError("Wrong dimensionality of the labels")
        with _as_runtime_error():
            fresh = index.count_absent(labels)
            over = self.element_count + fresh - self._max_elements
            if over > 0 and replace_deleted:
                if not self._allow_replace_deleted:
                    raise RuntimeError("Replacement of deleted elements is disabled in constructor")
                for label in index.marked()[:over]:
                    index.purge(label)
                over = self.element_count + fresh - self._max_elements
            if over > 0:
                raise RuntimeError("The number of elements exceeds the specified limit")
            index.add(rows, labels, _threads(num_threads, self._num_threads))

    def mark_deleted(self, label: int) -> None:
        """Hides `label` from searches (kept in the graph and in the count)."""
        index = self._require()
        with _as_runtime_error():
            if not index.mark(label):
                raise RuntimeError("The requested to delete element is already deleted")

    def unmark_deleted(self, label: int) -> None:
        """Makes a label marked deleted searchable again."""
        index = self._require()
        with _as_runtime_error():
            if not index.unmark(label):
                raise RuntimeError("The requested to undelete element is not deleted")

    def resize_index(self, new_size: int) -> None:
        """Changes the capacity (never below element_count)."""
        index = self._require()
        new_size = int(new_size)
        if new_size < self.element_count:
            raise RuntimeError(
                "Cannot resize, max element is less than the current number of elements")
        with _as_runtime_error():
            index.reserve(new_size)
        self._max_elements = new_size

    # ---- searching and reading ----

    def knn_query(self, data: Any, k: int = 1, num_threads: int = -1,
                  filter: Optional[Callable[[int], bool]] = None) -> Tuple[np.ndarray, np.ndarray]:
        """The k nearest labels of each row of `data` (one vector or n x dim),
        nearest first: (labels uint64 [n, k], distances float32 [n, k]).
        `filter(label) -> bool` restricts the results (evaluated on one
        thread). Raises RuntimeError if fewer than k elements can be
        returned for some query."""
        index = self._index
        if index is None:
            raise RuntimeError(_NOT_INITIALISED)
        k = int(k)
        threads = num_threads if num_threads > 0 else self._num_threads
        try:
            labels, distances, fewest = index.search(data, k, self._ef, max(threads, 0), filter)
        except _omendb.Error as e:
            raise RuntimeError(str(e)) from e
        if fewest < k:
            raise RuntimeError(_TOO_FEW)
        return labels, distances

    def get_items(self, ids: Any = None,
                  return_type: str = "numpy") -> Union[np.ndarray, List[List[float]]]:
        """Stored vectors of `ids` (all labels when None), as an (n, dim)
        float32 array, or a list of lists with return_type='list'.
        Cosine indexes return the normalised vectors."""
        index = self._require()
        labels = index.ids() if ids is None else np.asarray(ids).reshape(-1)
        with _as_runtime_error():
            try:
                out = index.get(labels)
            except _omendb.NotFoundError as e:
                raise RuntimeError("Label not found") from e
        return out.tolist() if return_type == "list" else out

    def get_ids_list(self) -> List[int]:
        """Every stored label (including those marked deleted)."""
        return self._require().ids().tolist()

    # ---- persistence ----

    def _header(self) -> dict:
        """What save_index and pickling keep beside the index itself."""
        index = self._require()
        return {
            "format": _FORMAT,
            "version": _FORMAT_VERSION,
            "space": self.space,
            "dim": self.dim,
            "max_elements": self._max_elements,
            "allow_replace_deleted": self._allow_replace_deleted,
            "marked": index.marked(),
        }

    def _restore(self, header: dict, index: _omendb.HnswIndex) -> None:
        """Checks a saved header against its index and applies its marks."""
        if header.get("format") != _FORMAT or header.get("version") != _FORMAT_VERSION:
            raise RuntimeError("Cannot load index: not written by omendb.hnswlib_compat")
        if index.dim != int(header["dim"]) or index.metric != header["space"]:
            raise RuntimeError("Cannot load index: its header does not match its contents")
        index.set_marked([int(x) for x in header.get("marked", [])])

    def save_index(self, path_to_index: str) -> None:
        """Writes the index (with its capacity and deletion marks) to one file."""
        index = self._require()
        header = json.dumps(self._header()).encode()
        with _as_runtime_error():
            index.save(path_to_index, header)

    def load_index(self, path_to_index: str, max_elements: int = 0,
                   allow_replace_deleted: bool = False) -> None:
        """Replaces this index with the one saved at `path_to_index`. The
        capacity becomes max_elements, or the saved one if max_elements is
        smaller than the element count; ef is reset to 10."""
        with _as_runtime_error():
            raw, index = _omendb.HnswIndex.load(path_to_index)
        try:
            header = json.loads(raw.decode())
        except ValueError as e:
            raise RuntimeError("Cannot load index: damaged header") from e
        if header.get("space") != self.space or int(header.get("dim", -1)) != self.dim:
            raise RuntimeError(
                f"Cannot load index: it holds space={header.get('space')!r} "
                f"dim={header.get('dim')}, "
                f"this Index has space={self.space!r} dim={self.dim}")
        self._restore(header, index)
        count = len(index)
        self._index = index
        wanted = int(max_elements)
        self._max_elements = max(wanted if wanted >= count else int(header["max_elements"]), count)
        self._ef = _DEFAULT_EF
        self._allow_replace_deleted = bool(allow_replace_deleted)

    def __getstate__(self) -> tuple:
        """Pickle state: parameters, ef, thread count and the index bytes."""
        if self._index is None:
            return (1, self.space, self.dim, None, None, self._ef, self._num_threads)
        with _as_runtime_error():
            snapshot = self._index.snapshot()
        return (1, self.space, self.dim, json.dumps(self._header()), snapshot, self._ef,
                self._num_threads)

    def __setstate__(self, state: tuple) -> None:
        """Rebuilds the index from __getstate__'s tuple."""
        _, space, dim, header, snapshot, ef, num_threads = state
        self.space = space
        self.dim = int(dim)
        self._index = None
        self._max_elements = 0
        self._allow_replace_deleted = False
        if snapshot is not None:
            with _as_runtime_error():
                index = _omendb.HnswIndex.from_snapshot(snapshot)
            h = json.loads(header)
            self._restore(h, index)
            self._index = index
            self._max_elements = int(h["max_elements"])
            self._allow_replace_deleted = bool(h.get("allow_replace_deleted", False))
        self._ef = int(ef)
        self._num_threads = int(num_threads)

    def __repr__(self) -> str:
        return f"<omendb.hnswlib_compat.Index(space='{self.space}', dim={self.dim})>"


class BFIndex:
    """hnswlib's exact (brute-force) index: BFIndex(space, dim),
    init_index(max_elements), add_items(data, ids), delete_vector(label),
    knn_query(data, k) -> (labels uint64, distances float32)."""

    def __init__(self, space: str, dim: int) -> None:
        if space not in _SPACES:
            raise RuntimeError("Space name must be one of l2, ip, or cosine.")
        self.space = space
        self.dim = int(dim)
        self._max_elements = 0
        self._labels = np.empty(0, dtype=np.uint64)
        self._data = np.empty((0, self.dim), dtype=np.float32)
        self._inited = False

    @property
    def max_elements(self) -> int:
        """Capacity set by init_index."""
        return self._max_elements

    @property
    def element_count(self) -> int:
        """Stored vectors."""
        return int(self._labels.shape[0])

    def init_index(self, max_elements: int) -> None:
        """Sets the capacity."""
        self._max_elements = int(max_elements)
        self._inited = True

    def _prepare(self, data: Any) -> np.ndarray:
        """`data` as (n, dim) float32 rows, normalised for 'cosine'."""
        arr = np.ascontiguousarray(np.asarray(data, dtype=np.float32))
        if arr.ndim == 1:
            arr = arr.reshape(1, -1)
        if arr.ndim != 2 or arr.shape[1] != self.dim:
            raise RuntimeError("Wrong dimensionality of the vectors")
        if self.space == "cosine":
            norms = np.linalg.norm(arr, axis=1, keepdims=True)
            arr = arr / np.where(norms == 0, 1, norms)
        return arr

    def add_items(self, data: Any, ids: Any = None) -> None:
        """Adds rows under ids (default: the next labels); a present label is replaced."""
        if not self._inited:
            raise RuntimeError(_NOT_INITIALISED)
        rows = self._prepare(data)
        n = rows.shape[0]
        labels = (np.arange(self.element_count, self.element_count + n, dtype=np.uint64)
                  if ids is None else np.asarray(ids, dtype=np.uint64).reshape(-1))
        if labels.shape[0] != n:
            raise RuntimeError("Wrong dimensionality of the labels")
        keep = ~np.isin(self._labels, labels)
        if int(keep.sum()) + n > self._max_elements:
            raise RuntimeError("The number of elements exceeds the specified limit")
        self._labels = np.concatenate([self._labels[keep], labels])
        self._data = np.concatenate([self._data[keep], rows])

    def delete_vector(self, label: int) -> None:
        """Removes a label."""
        keep = self._labels != np.uint64(label)
        self._labels = self._labels[keep]
        self._data = self._data[keep]

    def knn_query(self, data: Any, k: int = 1) -> Tuple[np.ndarray, np.ndarray]:
        """Exact k nearest labels of each row."""
        q = self._prepare(data)
        k = int(k)
        if k > self.element_count:
            raise RuntimeError(_TOO_FEW)
        if self.space == "l2":
            d = ((q * q).sum(1)[:, None] - 2 * q @ self._data.T
                 + (self._data * self._data).sum(1)[None, :])
            d = np.maximum(d, 0)
        else:
            d = 1 - q @ self._data.T
        order = np.argsort(d, axis=1, kind="stable")[:, :k]
        return self._labels[order], np.take_along_axis(d, order, axis=1).astype(np.float32)
