// omendb._omendb.HnswIndex: the bare in-memory graph index (omendb/hnsw_index.h)
// with the extras omendb.hnswlib_compat needs: reversible deletion marks,
// replace-on-add, and a single-file save/load with a caller-supplied header.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include "bindings.h"
#include "convert.h"
#include "errors.h"
#include "index/index_access.h"
#include "omendb/env.h"
#include "omendb/hnsw_index.h"
#include "pool.h"
#include "util/coding.h"

namespace py = pybind11;

namespace omendb::python {
namespace {

// File layout of HnswIndex.save (all integers little-endian):
//   8 bytes  magic "OMENHNSW"
//   u32      format version (1)
//   u64      header length H
//   H bytes  the caller's header (hnswlib_compat: JSON with its parameters)
//   ...      the index snapshot (docs/format/hnsw_snapshot.md) to end of file
constexpr char kMagic[8] = {'O', 'M', 'E', 'N', 'H', 'N', 'S', 'W'};
constexpr uint32_t kVersion = 1;
constexpr size_t kPrefixBytes = 8 + 4 + 8;

class PyHnsw {
 public:
  explicit PyHnsw(std::unique_ptr<HnswIndex> index) : index_(std::move(index)) {}

  HnswIndex& index() { return *index_; }
  const HnswIndex& index() const { return *index_; }

  // HnswIndex::Reorder needs the index to itself: waits out every search
  // and insert running on this object.
  Status Reorder() {
    std::unique_lock lock(mu_);
    return index_->Reorder();
  }

  // Inserts rows; an id already present is replaced (its vector updated and
  // its deletion mark cleared), and an id given twice keeps its last row.
  Status Add(const FloatRows& rows, const IdList& ids, int threads) {
    const size_t dim = rows.dim;
    std::vector<size_t> fresh, replace;
    {
      std::unordered_set<VectorId> seen;
      bool dup = false;
      for (size_t i = 0; i < ids.size && !dup; ++i) dup = !seen.insert(ids.data[i]).second;
      if (dup) {
        // Rare: apply the rows one by one so the last row of an id wins.
        std::unique_lock lock(mu_);
        for (size_t i = 0; i < ids.size; ++i) {
          OMENDB_RETURN_IF_ERROR(ReplaceOne(ids.data[i], rows.data + i * dim));
        }
        return Status::OK();
      }
    }
    for (size_t i = 0; i < ids.size; ++i) {
      (index_->Contains(ids.data[i]) ? replace : fresh).push_back(i);
    }
    if (!replace.empty()) {
      std::unique_lock lock(mu_);
      for (size_t i : replace) OMENDB_RETURN_IF_ERROR(ReplaceOne(ids.data[i], rows.data + i * dim));
    }
    if (fresh.empty()) return Status::OK();
    std::shared_lock lock(mu_);
    if (replace.empty()) return index_->AddBatch(rows.span(), ids.span(), threads);
    std::vector<float> vecs(fresh.size() * dim);
    std::vector<VectorId> fids(fresh.size());
    for (size_t j = 0; j < fresh.size(); ++j) {
      std::copy_n(rows.data + fresh[j] * dim, dim, vecs.data() + j * dim);
      fids[j] = ids.data[fresh[j]];
    }
    return index_->AddBatch(vecs, fids, threads);
  }

  // Results of query i go to ids/dists row i (k entries, padded with the
  // maximum id and +inf); counts[i] is the number found. Marked ids are
  // never returned; `filter` (a Python callable on the id, or None) is
  // evaluated with the GIL, which the caller then holds.
  Status Search(const FloatRows& q, size_t k, size_t ef, int threads, py::handle filter,
                VectorId* ids, float* dists, int64_t* counts) const {
    std::shared_lock lock(mu_);
    const size_t live = index_->size();
    const size_t want = std::min(k, live);
    auto pad = [&](size_t i, size_t from) {
      for (size_t j = from; j < k; ++j) {
        ids[i * k + j] = std::numeric_limits<VectorId>::max();
        dists[i * k + j] = std::numeric_limits<float>::infinity();
      }
      counts[i] = static_cast<int64_t>(from);
    };
    if (want == 0) {
      for (size_t i = 0; i < q.rows; ++i) pad(i, 0);
      return Status::OK();
    }
    const bool python_filter = !filter.is_none();
    const bool filtered = python_filter || !marked_.empty();
    if (python_filter) threads = 1;
    constexpr size_t kChunk = 8;
    const int nthreads = WorkerPool::ThreadsFor(q.rows, threads, kChunk);
    std::vector<std::vector<Neighbor>> bufs(nthreads, std::vector<Neighbor>(want));
    const double pass = live == 0 ? 1.0 : 1.0 - static_cast<double>(marked_.size()) / live;
    // A Python filter runs on this thread with the GIL held (threads = 1).
    // The library is never unwound through: the first exception it raises
    // is kept, every later call answers false, and it is re-raised after
    // the search.
    std::exception_ptr py_error;
    std::function<bool(VectorId)> keep = [&](VectorId id) {
      if (marked_.count(id) != 0) return false;
      if (!python_filter) return true;
      if (py_error) return false;
      try {
        return filter(py::int_(id)).cast<bool>();
      } catch (...) {
        py_error = std::current_exception();
        return false;
      }
    };
    std::atomic<bool> failed{false};
    Status first;
    std::mutex err_mu;
    // The pool's threads keep their thread-local search contexts (the
    // index's own, used when none is passed) from one batch to the next.
    WorkerPool::Get().Run(q.rows, nthreads, kChunk, [&](size_t i, int t) {
      if (failed.load(std::memory_order_relaxed) || py_error) return;
      std::span<const float> query(q.data + i * q.dim, q.dim);
      Result<size_t> r = filtered
                             ? index_->SearchFiltered(query, want, ef, keep, bufs[t], pass, 0.02)
                             : index_->Search(query, want, ef, bufs[t]);
      if (!r.ok()) {
        std::lock_guard l(err_mu);
        if (!failed.exchange(true)) first = r.status().WithContext("query " + std::to_string(i));
        return;
      }
      for (size_t j = 0; j < *r; ++j) {
        ids[i * k + j] = bufs[t][j].id;
        dists[i * k + j] = bufs[t][j].distance;
      }
      pad(i, *r);
    });
    if (py_error) std::rethrow_exception(py_error);
    return first;
  }

  // Marks `id` deleted (kept in the graph, never returned). NotFound if
  // absent; false if already marked.
  Result<bool> Mark(VectorId id) {
    std::unique_lock lock(mu_);
    if (!index_->Contains(id)) return Status::NotFound("Label not found");
    return marked_.insert(id).second;
  }
  // Clears the mark; NotFound if absent; false if it was not marked.
  Result<bool> Unmark(VectorId id) {
    std::unique_lock lock(mu_);
    if (!index_->Contains(id)) return Status::NotFound("Label not found");
    return marked_.erase(id) != 0;
  }
  // Removes a marked id from the index for good (its capacity is reused).
  Status Purge(VectorId id) {
    std::unique_lock lock(mu_);
    marked_.erase(id);
    return index_->Remove(id);
  }
  bool IsMarked(VectorId id) const {
    std::shared_lock lock(mu_);
    return marked_.count(id) != 0;
  }
  std::vector<VectorId> Marked() const {
    std::shared_lock lock(mu_);
    std::vector<VectorId> v(marked_.begin(), marked_.end());
    std::sort(v.begin(), v.end());
    return v;
  }
  void SetMarked(const std::vector<VectorId>& ids) {
    std::unique_lock lock(mu_);
    marked_.clear();
    for (VectorId id : ids) {
      if (index_->Contains(id)) marked_.insert(id);
    }
  }
  size_t MarkedCount() const {
    std::shared_lock lock(mu_);
    return marked_.size();
  }

  // Every stored id (marked ones included), ascending.
  std::vector<VectorId> Ids() const {
    std::vector<VectorId> v;
    v.reserve(index_->size());
    index_internal::IndexAccess::Graph(*index_).ForEachLive(
        [&](VectorId id, uint32_t) { v.push_back(id); });
    std::sort(v.begin(), v.end());
    return v;
  }

  // The snapshot with the file prefix and `header` in front, to `sink`.
  Status Write(std::string_view header, const std::function<Status(std::string_view)>& sink) const {
    std::unique_lock lock(mu_);  // no insert may run during Save
    std::string prefix(kMagic, sizeof kMagic);
    util::PutFixed32(&prefix, kVersion);
    util::PutFixed64(&prefix, header.size());
    OMENDB_RETURN_IF_ERROR(sink(prefix));
    OMENDB_RETURN_IF_ERROR(sink(header));
    return index_->Save(sink);
  }

 private:
  Status ReplaceOne(VectorId id, const float* row) {
    const size_t dim = index_->dim();
    if (index_->Contains(id)) OMENDB_RETURN_IF_ERROR(index_->Remove(id));
    marked_.erase(id);
    return index_->Add(id, std::span<const float>(row, dim));
  }

  std::unique_ptr<HnswIndex> index_;
  // Exclusive for changes of marked_, replacements and Save; shared for
  // searches and fresh inserts (which the index runs concurrently).
  mutable std::shared_mutex mu_;
  std::unordered_set<VectorId> marked_;
};

// Splits a file written by PyHnsw::Write into header and snapshot.
Status SplitFile(std::string_view bytes, const std::string& path, std::string_view* header,
                 std::string_view* snapshot) {
  if (bytes.size() < kPrefixBytes || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0) {
    return Status::Corruption(path + ": not an OmenDB index file (bad magic)");
  }
  const uint32_t version = util::DecodeFixed32(bytes.data() + 8);
  if (version != kVersion) {
    return Status::NotSupported(path + ": index file version " + std::to_string(version) +
                                " (this build reads " + std::to_string(kVersion) + ")");
  }
  const uint64_t hlen = util::DecodeFixed64(bytes.data() + 12);
  if (hlen > bytes.size() - kPrefixBytes) {
    return Status::Corruption(path + ": header length " + std::to_string(hlen) +
                              " runs past the end of the file");
  }
  *header = bytes.substr(kPrefixBytes, hlen);
  *snapshot = bytes.substr(kPrefixBytes + hlen);
  return Status::OK();
}

Result<std::string> ReadWholeFile(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return ErrnoToStatus(path, errno);
  std::string data;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) data.append(buf, n);
  const bool err = std::ferror(f) != 0;
  const int e = errno;
  std::fclose(f);
  if (err) return ErrnoToStatus(path + ": read", e);
  return data;
}

std::shared_ptr<PyHnsw> Create(uint32_t dim, const std::string& metric, uint32_t M,
                               uint32_t ef_construction, uint64_t seed, size_t capacity) {
  HnswOptions o;
  o.dim = dim;
  o.metric = AsMetric(metric);
  o.M = M;
  o.ef_construction = ef_construction;
  o.seed = seed;
  o.initial_capacity = capacity;
  return std::make_shared<PyHnsw>(Unwrap(HnswIndex::Create(o)));
}

std::shared_ptr<PyHnsw> FromSnapshot(std::string_view snapshot) {
  Result<std::unique_ptr<HnswIndex>> r = Status::Internal("not loaded");
  {
    py::gil_scoped_release release;
    r = HnswIndex::Load(snapshot);
  }
  return std::make_shared<PyHnsw>(Unwrap(std::move(r)));
}

}  // namespace

void BindHnswIndex(py::module_& m) {
  py::class_<PyHnsw, std::shared_ptr<PyHnsw>>(
      m, "HnswIndex",
      "The bare in-memory HNSW index behind omendb.hnswlib_compat (no persistence of its own "
      "beyond save/load, no metadata). Ids are uint64; searches and inserts release the GIL.")
      .def(py::init(&Create), py::arg("dim"), py::arg("metric") = "l2", py::arg("M") = 16,
           py::arg("ef_construction") = 200, py::arg("seed") = 42, py::arg("capacity") = 0,
           "An empty index; raises InvalidArgumentError for out-of-range options.")
      .def_property_readonly(
          "dim", [](const PyHnsw& h) { return h.index().dim(); }, "Vector dimension.")
      .def_property_readonly(
          "metric", [](const PyHnsw& h) { return MetricName(h.index().metric()); },
          "'l2', 'ip' or 'cosine'.")
      .def_property_readonly(
          "M", [](const PyHnsw& h) { return h.index().options().M; }, "Out-degree bound M.")
      .def_property_readonly(
          "ef_construction", [](const PyHnsw& h) { return h.index().options().ef_construction; },
          "Beam width while inserting.")
      .def_property_readonly(
          "seed", [](const PyHnsw& h) { return h.index().options().seed; },
          "Seed of the level sampling.")
      .def_property_readonly(
          "capacity", [](const PyHnsw& h) { return h.index().capacity(); },
          "Slots allocated (the index grows past it as needed).")
      .def(
          "__len__", [](const PyHnsw& h) { return h.index().size(); },
          "Stored vectors, marked ones included.")
      .def(
          "add",
          [](PyHnsw& h, py::handle vectors, py::handle ids_obj, int threads) {
            FloatRows rows = AsFloatRows(vectors, h.index().dim(), "data");
            IdList ids = AsIds(ids_obj, "ids");
            if (ids.size != rows.rows) {
              ThrowInvalid(std::to_string(ids.size) + " ids for " + std::to_string(rows.rows) +
                           " vectors");
            }
            Status s;
            {
              py::gil_scoped_release release;
              s = h.Add(rows, ids, threads);
            }
            Check(s);
          },
          py::arg("vectors"), py::arg("ids"), py::arg("threads") = 0,
          "Inserts rows (an (n, dim) array) under ids on `threads` threads (0 = all cores). "
          "An id already present is replaced and its deletion mark cleared.")
      .def(
          "search",
          [](const PyHnsw& h, py::handle queries, size_t k, size_t ef, int threads,
             py::handle filter) {
            if (k == 0) ThrowInvalid("k must be at least 1");
            FloatRows q = AsFloatRows(queries, h.index().dim(), "queries");
            const auto nq = static_cast<py::ssize_t>(q.rows);
            const auto kk = static_cast<py::ssize_t>(k);
            py::array_t<VectorId> ids({nq, kk});
            py::array_t<float> dists({nq, kk});
            std::vector<int64_t> counts(q.rows);
            VectorId* pi = ids.mutable_data();
            float* pd = dists.mutable_data();
            int64_t* pc = counts.data();
            Status s;
            if (filter.is_none()) {
              py::gil_scoped_release release;
              s = h.Search(q, k, ef, threads, filter, pi, pd, pc);
            } else {
              s = h.Search(q, k, ef, threads, filter, pi, pd, pc);
            }
            Check(s);
            const int64_t fewest = counts.empty() ? static_cast<int64_t>(k)
                                                  : *std::min_element(counts.begin(), counts.end());
            return py::make_tuple(std::move(ids), std::move(dists), fewest);
          },
          py::arg("queries"), py::arg("k"), py::arg("ef") = 10, py::arg("threads") = 0,
          py::arg("filter") = py::none(),
          "(ids, distances, fewest) for one vector or an (m, dim) batch: (m, k) arrays "
          "(m = 1 for one vector) padded with the largest uint64 and +inf, and the smallest "
          "number of results any query found (< k only when fewer vectors are stored or "
          "pass). Marked ids are skipped; `filter` is None or a callable(id) -> bool.")
      .def(
          "mark",
          [](PyHnsw& h, py::handle id) { return Unwrap(h.Mark(AsIds(id, "label").data[0])); },
          py::arg("id"), "Marks id deleted; False if it already was. NotFoundError if absent.")
      .def(
          "unmark",
          [](PyHnsw& h, py::handle id) { return Unwrap(h.Unmark(AsIds(id, "label").data[0])); },
          py::arg("id"), "Clears the mark; False if it was not marked. NotFoundError if absent.")
      .def(
          "purge",
          [](PyHnsw& h, py::handle id) {
            const VectorId v = AsIds(id, "label").data[0];
            Status s;
            {
              py::gil_scoped_release release;
              s = h.Purge(v);
            }
            Check(s);
          },
          py::arg("id"), "Removes id from the index for good (its graph links are repaired).")
      .def(
          "is_marked",
          [](const PyHnsw& h, py::handle id) { return h.IsMarked(AsIds(id, "label").data[0]); },
          py::arg("id"), "True if id is marked deleted.")
      .def("marked", &PyHnsw::Marked, "The marked ids, ascending.")
      .def("set_marked", &PyHnsw::SetMarked, py::arg("ids"),
           "Replaces the marked set (ids not stored are ignored).")
      .def("marked_count", &PyHnsw::MarkedCount, "How many ids are marked deleted.")
      .def(
          "count_absent",
          [](const PyHnsw& h, py::handle ids_obj) {
            IdList ids = AsIds(ids_obj, "ids");
            std::unordered_set<VectorId> absent;
            for (size_t i = 0; i < ids.size; ++i) {
              if (!h.index().Contains(ids.data[i])) absent.insert(ids.data[i]);
            }
            return absent.size();
          },
          py::arg("ids"), "How many distinct ids of `ids` are not stored.")
      .def(
          "__contains__",
          [](const PyHnsw& h, py::handle id) {
            IdList ids = AsIds(id, "label");
            return ids.scalar && h.index().Contains(ids.data[0]);
          },
          py::arg("id"), "True if id is stored (marked or not).")
      .def(
          "get",
          [](const PyHnsw& h, py::handle ids_obj) {
            IdList ids = AsIds(ids_obj, "ids");
            const size_t dim = h.index().dim();
            py::array_t<float> out(
                {static_cast<py::ssize_t>(ids.size), static_cast<py::ssize_t>(dim)});
            float* p = out.mutable_data();
            for (size_t i = 0; i < ids.size; ++i) {
              Check(h.index().GetVector(ids.data[i], std::span<float>(p + i * dim, dim)));
            }
            return out;
          },
          py::arg("ids"),
          "Stored vectors of ids as an (n, dim) float32 array; NotFoundError if one is absent.")
      .def(
          "ids",
          [](const PyHnsw& h) {
            std::vector<VectorId> v = h.Ids();
            py::array_t<VectorId> a(static_cast<py::ssize_t>(v.size()));
            std::copy(v.begin(), v.end(), a.mutable_data());
            return a;
          },
          "Every stored id (marked ones included), ascending, as a uint64 array.")
      .def(
          "reserve",
          [](PyHnsw& h, size_t n) {
            Status s;
            {
              py::gil_scoped_release release;
              s = h.index().Reserve(n);
            }
            Check(s);
          },
          py::arg("capacity"), "Allocates room for `capacity` vectors up front.")
      .def(
          "reorder",
          [](PyHnsw& h) {
            Status s;
            {
              py::gil_scoped_release release;
              s = h.Reorder();
            }
            Check(s);
          },
          "Lays the graph out again in breadth-first order (HnswIndex::Reorder): "
          "the same results. Call after a bulk load; other calls on this index "
          "wait meanwhile.")
      .def(
          "save",
          [](const PyHnsw& h, py::handle path_obj, py::bytes header) {
            const std::string path = py::str(py::module_::import("os").attr("fspath")(path_obj));
            const std::string head = header;
            const std::string tmp = path + ".tmp";
            Status s;
            {
              py::gil_scoped_release release;
              std::FILE* f = std::fopen(tmp.c_str(), "wb");
              if (f == nullptr) {
                s = ErrnoToStatus(tmp, errno);
              } else {
                s = h.Write(head, [&](std::string_view chunk) {
                  if (std::fwrite(chunk.data(), 1, chunk.size(), f) != chunk.size()) {
                    return ErrnoToStatus(tmp + ": write", errno);
                  }
                  return Status::OK();
                });
                if (std::fflush(f) != 0 && s.ok()) s = ErrnoToStatus(tmp + ": write", errno);
                if (std::fclose(f) != 0 && s.ok()) s = ErrnoToStatus(tmp + ": close", errno);
                if (s.ok() && std::rename(tmp.c_str(), path.c_str()) != 0) {
                  s = ErrnoToStatus(path + ": rename", errno);
                }
                if (!s.ok()) std::remove(tmp.c_str());
              }
            }
            Check(s);
          },
          py::arg("path"), py::arg("header"),
          "Writes the index (marks not included) to one file, after `header` (bytes), "
          "replacing `path` atomically.")
      .def_static(
          "load",
          [](py::handle path_obj) {
            const std::string path = py::str(py::module_::import("os").attr("fspath")(path_obj));
            Result<std::string> data = Status::Internal("not read");
            {
              py::gil_scoped_release release;
              data = ReadWholeFile(path);
            }
            std::string bytes = Unwrap(std::move(data));
            std::string_view header, snapshot;
            Check(SplitFile(bytes, path, &header, &snapshot));
            Result<std::unique_ptr<HnswIndex>> r = Status::Internal("not loaded");
            {
              py::gil_scoped_release release;
              r = HnswIndex::Load(snapshot);
            }
            if (!r.ok()) Check(r.status().WithContext(path));
            return py::make_tuple(py::bytes(header.data(), header.size()),
                                  std::make_shared<PyHnsw>(std::move(r).value()));
          },
          py::arg("path"),
          "(header, index) from a file written by save. CorruptionError for a damaged file.")
      .def(
          "snapshot",
          [](const PyHnsw& h) {
            std::string out;
            Status s;
            {
              py::gil_scoped_release release;
              s = h.Write({}, [&](std::string_view chunk) {
                out.append(chunk);
                return Status::OK();
              });
            }
            Check(s);
            return py::bytes(out);
          },
          "The index as bytes (the save format with an empty header).")
      .def_static(
          "from_snapshot",
          [](py::bytes data) {
            std::string bytes = data;
            std::string_view header, snapshot;
            Check(SplitFile(bytes, "snapshot", &header, &snapshot));
            return FromSnapshot(snapshot);
          },
          py::arg("data"), "An index from snapshot() bytes.")
      .def_property_readonly(
          "kernel", [](const PyHnsw& h) { return h.index().KernelName(); },
          "The SIMD kernel set in use ('avx512', 'avx2', 'scalar').");
}

}  // namespace omendb::python
