// omendb.Database, omendb.Collection, omendb.Record and omendb.Filter: the
// database API (omendb/db.h) for Python.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "bindings.h"
#include "convert.h"
#include "errors.h"
#include "omendb/db.h"
#include "pool.h"

namespace py = pybind11;

namespace omendb::python {
namespace {

// The id written where a batch search found fewer than k results.
constexpr VectorId kNoId = std::numeric_limits<VectorId>::max();
// Largest k accepted (results are buffered per thread).
constexpr size_t kMaxK = size_t{1} << 20;

// An open database. Shared by the Python Database object and every
// Collection obtained from it, so a collection keeps its database alive.
class PyDatabase {
 public:
  PyDatabase(std::unique_ptr<DB> db, std::string path, std::string temp_dir)
      : db_(std::move(db)), path_(std::move(path)), temp_dir_(std::move(temp_dir)) {}
  ~PyDatabase() {
    (void)db_->Close();
    RemoveTemp();
  }
  PyDatabase(const PyDatabase&) = delete;
  PyDatabase& operator=(const PyDatabase&) = delete;

  DB* db() const { return db_.get(); }
  const std::string& path() const { return path_; }
  bool memory() const { return !temp_dir_.empty(); }
  bool closed() const { return closed_.load(std::memory_order_acquire); }

  Status Close() {
    Status s = db_->Close();
    closed_.store(true, std::memory_order_release);
    RemoveTemp();
    return s;
  }

 private:
  void RemoveTemp() {
    std::lock_guard lock(temp_mu_);
    if (temp_dir_.empty() || temp_removed_) return;
    std::error_code ec;
    std::filesystem::remove_all(temp_dir_, ec);
    temp_removed_ = true;
  }

  std::unique_ptr<DB> db_;
  const std::string path_;
  const std::string temp_dir_;  // ":memory:" databases: the directory removed on close
  std::mutex temp_mu_;
  bool temp_removed_ = false;
  std::atomic<bool> closed_{false};
};

// A collection of an open database.
struct PyCollection {
  std::shared_ptr<PyDatabase> owner;
  Collection* coll = nullptr;
};

// A parsed, validated filter reused across searches.
struct PyFilter {
  Filter filter;
};

// Where ":memory:" databases live: /dev/shm when it is a writable directory
// (a RAM file system), else $TMPDIR or /tmp.
std::string TempRoot() {
  struct stat st;
  if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0) {
    return "/dev/shm";
  }
  const char* tmp = std::getenv("TMPDIR");
  return tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
}

SyncMode AsSyncMode(const std::string& durability) {
  if (durability == "full") return SyncMode::kEveryWrite;
  if (durability == "group") return SyncMode::kGroupCommit;
  if (durability == "none") return SyncMode::kNone;
  ThrowInvalid("durability: expected 'full', 'group' or 'none', got '" + durability + "'");
}

std::string PathString(py::handle path) {
  py::object fs = py::module_::import("os").attr("fspath")(path);
  if (!PyUnicode_Check(fs.ptr())) ThrowInvalid("path: expected str or os.PathLike of str");
  return fs.cast<std::string>();
}

std::shared_ptr<PyDatabase> OpenDatabase(py::handle path_obj, bool create, bool error_if_exists,
                                         const std::string& durability,
                                         std::optional<uint64_t> checkpoint_log_bytes,
                                         std::optional<double> compaction_threshold, int threads) {
  DbOptions o;
  o.create_if_missing = create;
  o.error_if_exists = error_if_exists;
  o.sync = AsSyncMode(durability);
  if (checkpoint_log_bytes) o.checkpoint_log_bytes = *checkpoint_log_bytes;
  if (compaction_threshold) o.compaction_threshold = *compaction_threshold;
  if (threads < 0) ThrowInvalid("threads must be >= 0 (0 = all cores)");
  o.num_threads = threads;
  std::string path = PathString(path_obj);
  std::string temp_dir;
  if (path == ":memory:") {
    std::string tmpl = TempRoot() + "/omendb-memory-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) Check(ErrnoToStatus(tmpl, errno));
    temp_dir = tmpl;
    o.create_if_missing = true;
    o.error_if_exists = false;
    o.sync = SyncMode::kNone;    // nothing outlives the process anyway
    o.checkpoint_log_bytes = 0;  // and nothing needs a checkpoint
  }
  Result<std::unique_ptr<DB>> db = Status::Internal("not opened");
  {
    py::gil_scoped_release release;
    db = DB::Open(temp_dir.empty() ? path : temp_dir, o);
  }
  if (!db.ok()) {
    if (!temp_dir.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(temp_dir, ec);
    }
    Check(db.status());
  }
  return std::make_shared<PyDatabase>(std::move(db).value(), path, temp_dir);
}

Quantization AsQuantization(py::handle q) {
  if (q.is_none()) return Quantization{};
  if (!PyUnicode_Check(q.ptr())) {
    ThrowInvalid("quantization: expected None or a name ('fp16', 'sq8', 'rabitq:4', ...)");
  }
  return Unwrap(ParseQuantization(q.cast<std::string>()));
}

CollectionOptions MakeCollectionOptions(uint32_t dim, const std::string& metric, py::handle index,
                                        py::handle quantization, uint32_t quant_train_after) {
  CollectionOptions co;
  co.dim = dim;
  co.metric = AsMetric(metric);
  if (!index.is_none()) {
    if (!PyDict_Check(index.ptr())) {
      ThrowInvalid(
          "index: expected a dict such as {'type': 'hnsw', 'M': 16, 'ef_construction': 200}");
    }
    for (auto item : py::reinterpret_borrow<py::dict>(index)) {
      const std::string key = py::str(item.first).cast<std::string>();
      if (key == "type") {
        const std::string type = py::str(item.second).cast<std::string>();
        if (type != "hnsw")
          ThrowInvalid("index: type '" + type + "' is not supported (only 'hnsw')");
      } else if (key == "M" || key == "m") {
        co.M = item.second.cast<uint32_t>();
      } else if (key == "ef_construction") {
        co.ef_construction = item.second.cast<uint32_t>();
      } else if (key == "seed") {
        co.seed = item.second.cast<uint64_t>();
      } else {
        ThrowInvalid("index: unknown option '" + key + "' (type, M, ef_construction, seed)");
      }
    }
  }
  co.quant = AsQuantization(quantization);
  co.quant_train_after = quant_train_after;
  return co;
}

py::dict OptionsDict(const CollectionOptions& o) {
  py::dict d;
  d["dim"] = o.dim;
  d["metric"] = MetricName(o.metric);
  d["index"] = py::dict(py::arg("type") = "hnsw", py::arg("M") = o.M,
                        py::arg("ef_construction") = o.ef_construction, py::arg("seed") = o.seed);
  d["quantization"] = o.quant.kind == QuantKind::kNone
                          ? py::object(py::none())
                          : py::object(py::str(QuantizationName(o.quant)));
  d["quant_train_after"] = o.quant_train_after;
  return d;
}

py::dict StatsDict(const CollectionStats& s) {
  py::dict d;
  d["name"] = s.name;
  d["live"] = s.live;
  d["deleted"] = s.deleted;
  d["memory_bytes"] = s.memory_bytes;
  d["quant_trained"] = s.quant_trained;
  d["options"] = OptionsDict(s.options);
  return d;
}

Filter FilterArg(py::handle obj) {
  if (py::isinstance<PyFilter>(obj)) return obj.cast<const PyFilter&>().filter;
  return AsFilter(obj);
}

SearchOptions MakeSearchOptions(size_t k, py::handle ef, py::handle filter) {
  if (k == 0) ThrowInvalid("k must be at least 1");
  if (k > kMaxK)
    ThrowInvalid("k = " + std::to_string(k) + " is larger than " + std::to_string(kMaxK));
  SearchOptions so;
  so.k = k;
  if (!ef.is_none()) {
    if (PyBool_Check(ef.ptr()) || PyFloat_Check(ef.ptr()) || PyUnicode_Check(ef.ptr())) {
      ThrowInvalid("ef must be an int or None, got " + py::repr(ef).cast<std::string>());
    }
    const long long e = py::int_(py::reinterpret_borrow<py::object>(ef)).cast<long long>();
    if (e < 1) ThrowInvalid("ef must be at least 1 (or None for the default)");
    so.ef = static_cast<size_t>(e);
  }
  if (!filter.is_none()) so.filter = FilterArg(filter);
  return so;
}

// Searches every row of `q` on `threads` threads, writing k ids and
// distances per row (padding with kNoId / +inf). Returns the first error
// (with the query's row), or OK. Called without the GIL.
Status SearchRows(const Collection& c, const FloatRows& q, const SearchOptions& so, int threads,
                  VectorId* ids, float* dists) {
  const size_t k = so.k;
  const size_t dim = q.dim;
  constexpr size_t kChunk = 8;
  const int nthreads = WorkerPool::ThreadsFor(q.rows, threads, kChunk);
  std::vector<std::vector<Neighbor>> bufs(nthreads, std::vector<Neighbor>(k));
  std::atomic<bool> failed{false};
  Status first;
  std::mutex mu;
  WorkerPool::Get().Run(q.rows, nthreads, kChunk, [&](size_t i, int t) {
    if (failed.load(std::memory_order_relaxed)) return;
    std::vector<Neighbor>& buf = bufs[t];
    Result<size_t> r = c.Search(std::span<const float>(q.data + i * dim, dim), so, buf);
    if (!r.ok()) {
      std::lock_guard lock(mu);
      if (!failed.exchange(true)) first = r.status().WithContext("query " + std::to_string(i));
      return;
    }
    const size_t n = *r;
    VectorId* row_ids = ids + i * k;
    float* row_d = dists + i * k;
    for (size_t j = 0; j < n; ++j) {
      row_ids[j] = buf[j].id;
      row_d[j] = buf[j].distance;
    }
    for (size_t j = n; j < k; ++j) {
      row_ids[j] = kNoId;
      row_d[j] = std::numeric_limits<float>::infinity();
    }
  });
  return first;
}

py::tuple Search(const PyCollection& self, py::handle queries, size_t k, py::handle ef,
                 py::handle filter, int threads) {
  const Collection& c = *self.coll;
  FloatRows q = AsFloatRows(queries, c.options().dim, "queries");
  SearchOptions so = MakeSearchOptions(k, ef, filter);
  if (q.one_row) {
    thread_local std::vector<Neighbor> buf;
    if (buf.size() < k) buf.resize(k);
    Result<size_t> r = size_t{0};
    {
      py::gil_scoped_release release;
      r = c.Search(q.span(), so, std::span<Neighbor>(buf.data(), k));
    }
    const size_t n = Unwrap(std::move(r));
    void* ids_data;
    void* dists_data;
    py::object ids = NewArray(ArrayType::kUint64, static_cast<py::ssize_t>(n), -1, &ids_data);
    py::object dists = NewArray(ArrayType::kFloat32, static_cast<py::ssize_t>(n), -1, &dists_data);
    auto* pi = static_cast<VectorId*>(ids_data);
    auto* pd = static_cast<float*>(dists_data);
    for (size_t j = 0; j < n; ++j) {
      pi[j] = buf[j].id;
      pd[j] = buf[j].distance;
    }
    return py::make_tuple(std::move(ids), std::move(dists));
  }
  const auto nq = static_cast<py::ssize_t>(q.rows);
  const auto kk = static_cast<py::ssize_t>(k);
  py::array_t<VectorId> ids({nq, kk});
  py::array_t<float> dists({nq, kk});
  VectorId* pi = ids.mutable_data();
  float* pd = dists.mutable_data();
  Status s;
  {
    py::gil_scoped_release release;
    s = SearchRows(c, q, so, threads, pi, pd);
  }
  Check(s);
  return py::make_tuple(std::move(ids), std::move(dists));
}

// An int argument (Python or numpy integer, not bool), or InvalidArgument.
long long IntArg(PyObject* obj, const char* name) {
  if (PyBool_Check(obj) || PyFloat_Check(obj)) {
    ThrowInvalid(std::string(name) + " must be an int, got " +
                 py::repr(py::handle(obj)).cast<std::string>());
  }
  PyObject* idx = PyNumber_Index(obj);
  if (idx == nullptr) {
    PyErr_Clear();
    ThrowInvalid(std::string(name) + " must be an int, got " +
                 py::repr(py::handle(obj)).cast<std::string>());
  }
  int overflow = 0;
  const long long v = PyLong_AsLongLongAndOverflow(idx, &overflow);
  Py_DECREF(idx);
  if (overflow != 0) ThrowInvalid(std::string(name) + " is out of range");
  return v;
}

constexpr const char* kSearchDoc =
    "search($self, /, queries, k=10, ef=None, filter=None, threads=0)\n--\n\n"
    "Nearest neighbours, nearest first.\n\n"
    "queries: one vector (dim values) or an (m, dim) batch; C-contiguous float32\n"
    "    is read in place.\n"
    "k: results per query. ef: beam width (None = max(k, 64)); larger is more\n"
    "    accurate and slower.\n"
    "filter: None, a dict such as {\"year\": {\"$gte\": 2020}, \"lang\": \"en\"}, its\n"
    "    JSON text, or an omendb.Filter.\n"
    "threads: threads for a batch (0 = all cores).\n\n"
    "Returns (ids, distances): for one vector, uint64 and float32 arrays of\n"
    "n <= k entries (fewer only when fewer vectors match); for a batch, arrays of\n"
    "shape (m, k) whose rows are exactly the single-query results, padded with\n"
    "omendb.NO_ID and +inf where a query has fewer than k results. The GIL is\n"
    "released while searching.";

// Collection.search called by Python directly (vectorcall): a single-query
// search is a few microseconds, and pybind11's generic argument matching
// (keyword arguments especially) would be a sizeable share of it.
PyObject* SearchFastcall(PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                         PyObject* kwnames) {
  static const char* const kNames[] = {"queries", "k", "ef", "filter", "threads"};
  constexpr Py_ssize_t kCount = 5;
  static PyObject* interned[kCount] = {};
  if (interned[0] == nullptr) {
    for (Py_ssize_t i = 0; i < kCount; ++i) interned[i] = PyUnicode_InternFromString(kNames[i]);
  }
  try {
    PyObject* v[kCount] = {};
    if (nargs > kCount) {
      PyErr_Format(PyExc_TypeError, "search() takes at most %zd arguments (%zd given)", kCount,
                   nargs);
      return nullptr;
    }
    for (Py_ssize_t i = 0; i < nargs; ++i) v[i] = args[i];
    const Py_ssize_t nkw = kwnames != nullptr ? PyTuple_GET_SIZE(kwnames) : 0;
    for (Py_ssize_t j = 0; j < nkw; ++j) {
      PyObject* name = PyTuple_GET_ITEM(kwnames, j);
      Py_ssize_t at = -1;
      for (Py_ssize_t i = 0; i < kCount && at < 0; ++i) {
        if (name == interned[i]) at = i;
      }
      for (Py_ssize_t i = 0; i < kCount && at < 0; ++i) {
        if (PyUnicode_Compare(name, interned[i]) == 0) at = i;
      }
      if (at < 0) {
        PyErr_Format(PyExc_TypeError, "search() got an unexpected keyword argument '%U'", name);
        return nullptr;
      }
      if (v[at] != nullptr) {
        PyErr_Format(PyExc_TypeError, "search() got multiple values for argument '%s'", kNames[at]);
        return nullptr;
      }
      v[at] = args[nargs + j];
    }
    if (v[0] == nullptr) {
      PyErr_SetString(PyExc_TypeError, "search() missing required argument 'queries'");
      return nullptr;
    }
    const long long k = v[1] != nullptr ? IntArg(v[1], "k") : 10;
    if (k < 1) ThrowInvalid("k must be at least 1");
    const long long threads = v[4] != nullptr ? IntArg(v[4], "threads") : 0;
    if (threads < 0) ThrowInvalid("threads must be >= 0 (0 = all cores)");
    const PyCollection& c = py::handle(self).cast<const PyCollection&>();
    py::tuple out = Search(c, v[0], static_cast<size_t>(k),
                           v[2] != nullptr ? py::handle(v[2]) : py::handle(Py_None),
                           v[3] != nullptr ? py::handle(v[3]) : py::handle(Py_None),
                           static_cast<int>(std::min<long long>(threads, 1 << 20)));
    return out.release().ptr();
  } catch (...) {
    SetPythonErrorFromCurrentException();
    return nullptr;
  }
}

void Upsert(const PyCollection& self, py::handle ids_obj, py::handle vectors, py::handle metadata) {
  Collection& c = *self.coll;
  IdList ids = AsIds(ids_obj, "ids");
  FloatRows rows = AsFloatRows(vectors, c.options().dim, "vectors");
  if (ids.size != rows.rows) {
    ThrowInvalid("upsert: " + std::to_string(ids.size) + " ids for " + std::to_string(rows.rows) +
                 " vectors");
  }
  std::vector<Metadata> meta;
  if (ids.scalar && PyDict_Check(metadata.ptr())) {
    meta.push_back(AsMetadata(metadata, "metadata"));
  } else {
    meta = AsMetadataRows(metadata, rows.rows);
  }
  if (rows.rows == 0) return;
  Status s;
  {
    py::gil_scoped_release release;
    s = c.Upsert(ids.span(), rows.span(), meta);
  }
  Check(s);
}

void Delete(const PyCollection& self, py::handle ids_obj) {
  IdList ids = AsIds(ids_obj, "ids");
  if (ids.size == 0) return;
  Status s;
  {
    py::gil_scoped_release release;
    s = self.coll->Delete(ids.span());
  }
  Check(s);
}

py::object RecordObject(Record r) { return py::cast(std::move(r)); }

py::object Get(const PyCollection& self, py::handle ids_obj) {
  IdList ids = AsIds(ids_obj, "ids");
  std::vector<Result<Record>> found;
  found.reserve(ids.size);
  {
    py::gil_scoped_release release;
    for (size_t i = 0; i < ids.size; ++i) found.push_back(self.coll->Get(ids.data[i]));
  }
  py::list out;
  for (auto& r : found) {
    if (r.ok()) {
      out.append(RecordObject(std::move(r).value()));
    } else if (r.status().IsNotFound()) {
      out.append(py::none());
    } else {
      Check(r.status());
    }
  }
  if (ids.scalar) return out[0];
  return out;
}

py::array_t<float> GetVectors(const PyCollection& self, py::handle ids_obj) {
  IdList ids = AsIds(ids_obj, "ids");
  const size_t dim = self.coll->options().dim;
  py::array_t<float> out({static_cast<py::ssize_t>(ids.size), static_cast<py::ssize_t>(dim)});
  float* p = out.mutable_data();
  Status s;
  {
    py::gil_scoped_release release;
    for (size_t i = 0; i < ids.size && s.ok(); ++i) {
      Result<Record> r = self.coll->Get(ids.data[i]);
      if (!r.ok()) {
        s = r.status();
        break;
      }
      std::copy(r->vector.begin(), r->vector.end(), p + i * dim);
    }
  }
  Check(s);
  return out;
}

std::string CollectionRepr(const PyCollection& self) {
  const CollectionOptions& o = self.coll->options();
  std::string r = "<omendb.Collection '" + self.coll->name() + "' dim=" + std::to_string(o.dim) +
                  " metric=" + MetricName(o.metric);
  if (o.quant.kind != QuantKind::kNone) r += " quantization=" + QuantizationName(o.quant);
  if (self.owner->closed()) return r + " (closed)>";
  return r + " size=" + std::to_string(self.coll->size()) + ">";
}

PyCollection CreateCollection(const std::shared_ptr<PyDatabase>& db, const std::string& name,
                              uint32_t dim, const std::string& metric, py::handle index,
                              py::handle quantization, uint32_t quant_train_after) {
  CollectionOptions co = MakeCollectionOptions(dim, metric, index, quantization, quant_train_after);
  Result<Collection*> c = Status::Internal("not created");
  {
    py::gil_scoped_release release;
    c = db->db()->CreateCollection(name, co);
  }
  return PyCollection{db, Unwrap(std::move(c))};
}

PyCollection GetCollection(const std::shared_ptr<PyDatabase>& db, const std::string& name) {
  return PyCollection{db, Unwrap(db->db()->GetCollection(name))};
}

py::dict DbStatsDict(const PyDatabase& db) {
  DbStats s = db.db()->Stats();
  py::dict d;
  py::list colls;
  for (const auto& c : s.collections) colls.append(StatsDict(c));
  d["collections"] = colls;
  d["log_bytes"] = s.log_bytes;
  d["checkpoint_bytes"] = s.checkpoint_bytes;
  d["manifest_sequence"] = s.manifest_sequence;
  d["checkpoints"] = s.checkpoints;
  d["compactions"] = s.compactions;
  return d;
}

py::dict GraphReportDict(const GraphReport& g) {
  py::dict d;
  d["nodes"] = g.nodes;
  d["deleted"] = g.deleted;
  d["reachable"] = g.reachable;
  d["degree_violations"] = g.degree_violations;
  d["self_loops"] = g.self_loops;
  d["duplicate_edges"] = g.duplicate_edges;
  d["invalid_edges"] = g.invalid_edges;
  d["max_level"] = g.max_level;
  d["ok"] = g.ok();
  return d;
}

// Runs `fn` (returning Status) without the GIL and raises its error.
template <class Fn>
void RunReleased(Fn&& fn) {
  Status s;
  {
    py::gil_scoped_release release;
    s = fn();
  }
  Check(s);
}

// Time per search measured inside C++ over the same collection, for the
// overhead benchmark (bench/python_overhead.py): runs the queries (rows of
// a float32 array) one call at a time on this thread ("single"), or all of
// them spread over `threads` threads per pass ("batch"), repeating passes
// until `min_time` seconds have passed. Returns queries per second.
double NativeSearchQps(const PyCollection& self, py::handle queries, size_t k, size_t ef,
                       const std::string& mode, double min_time, int threads) {
  const Collection& c = *self.coll;
  FloatRows q = AsFloatRows(queries, c.options().dim, "queries");
  if (q.rows == 0) ThrowInvalid("queries: empty");
  if (mode != "single" && mode != "batch") ThrowInvalid("mode: 'single' or 'batch'");
  SearchOptions so;
  so.k = k;
  so.ef = ef;
  using Clock = std::chrono::steady_clock;
  Status s;
  size_t done = 0;
  double seconds = 0;
  {
    py::gil_scoped_release release;
    std::vector<Neighbor> out(k);
    std::vector<VectorId> ids(q.rows * k);
    std::vector<float> dists(q.rows * k);
    const auto t0 = Clock::now();
    do {
      if (mode == "single") {
        for (size_t i = 0; i < q.rows && s.ok(); ++i) {
          Result<size_t> r = c.Search(std::span<const float>(q.data + i * q.dim, q.dim), so, out);
          if (!r.ok()) s = r.status();
        }
      } else {
        s = SearchRows(c, q, so, threads, ids.data(), dists.data());
      }
      done += q.rows;
      seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    } while (s.ok() && seconds < min_time);
  }
  Check(s);
  return static_cast<double>(done) / seconds;
}

}  // namespace

void BindDatabase(py::module_& m) {
  m.attr("NO_ID") = py::int_(kNoId);

  py::class_<Record>(m, "Record",
                     "One stored vector as returned by Collection.get: its id, its vector "
                     "(float32, as stored: normalised under cosine) and its metadata dict.")
      .def_readonly("id", &Record::id, "The vector's id (int).")
      .def_property_readonly(
          "vector",
          [](const Record& r) {
            py::array_t<float> a(static_cast<py::ssize_t>(r.vector.size()));
            std::copy(r.vector.begin(), r.vector.end(), a.mutable_data());
            return a;
          },
          "The stored vector (a new float32 array).")
      .def_property_readonly(
          "metadata", [](const Record& r) { return ToPython(r.metadata); },
          "The metadata fields (a new dict; empty when none were stored).")
      .def("__repr__", [](const Record& r) {
        return "Record(id=" + std::to_string(r.id) + ", dim=" + std::to_string(r.vector.size()) +
               ", metadata=" + py::repr(ToPython(r.metadata)).cast<std::string>() + ")";
      });

  py::class_<PyFilter>(m, "Filter",
                       "A parsed and validated search filter, reusable across searches.\n\n"
                       "Filter(spec) takes a dict in the MongoDB style, e.g.\n"
                       "{'year': {'$gte': 2020}, 'lang': 'en'}, or its JSON text. Operators:\n"
                       "$eq $ne $gt $gte $lt $lte $in $exists $not $and $or, and $id (an id or\n"
                       "{'$in': [ids]}). Members of a dict are ANDed. Raises\n"
                       "InvalidArgumentError for a malformed filter.")
      .def(py::init([](py::handle spec) {
             if (py::isinstance<PyFilter>(spec)) return spec.cast<PyFilter>();
             return PyFilter{AsFilter(spec)};
           }),
           py::arg("spec"), "Parses and validates `spec` (dict, JSON text or Filter).")
      .def(
          "__str__", [](const PyFilter& f) { return f.filter.ToString(); },
          "The filter as JSON text (the library's rendering).")
      .def("__repr__",
           [](const PyFilter& f) { return "omendb.Filter(" + f.filter.ToString() + ")"; })
      .def(
          "matches",
          [](const PyFilter& f, py::handle metadata, VectorId id) {
            return f.filter.Matches(id, AsMetadata(metadata, "metadata"));
          },
          py::arg("metadata"), py::arg("id") = 0,
          "True if a vector with this metadata dict (and id) passes the filter.");

  py::class_<PyCollection> collection(
      m, "Collection",
      "A named collection of vectors inside a Database, fixed at creation "
      "to a dimension, a metric and index options. Obtained from "
      "Database.create_collection / Database.collection. Every method may "
      "be called from any thread; searches, upserts and deletes release "
      "the GIL.");
  collection
      .def_property_readonly(
          "name", [](const PyCollection& c) { return c.coll->name(); }, "The collection's name.")
      .def_property_readonly(
          "dim", [](const PyCollection& c) { return c.coll->options().dim; }, "Vector dimension.")
      .def_property_readonly(
          "metric", [](const PyCollection& c) { return MetricName(c.coll->options().metric); },
          "'l2' (squared Euclidean), 'ip' (1 - dot) or 'cosine' (1 - cos).")
      .def_property_readonly(
          "options", [](const PyCollection& c) { return OptionsDict(c.coll->options()); },
          "The creation options: dim, metric, index {type, M, ef_construction, seed}, "
          "quantization, quant_train_after.")
      .def("upsert", &Upsert, py::arg("ids"), py::arg("vectors"), py::arg("metadata") = py::none(),
           R"doc(Inserts or replaces vectors.

ids: an int, or a sequence / 1-D integer array of n ids (0 .. 2**64 - 1).
vectors: one vector (dim values) for a single id, or an (n, dim) array. A
    C-contiguous float32 array is read in place; other numeric arrays are
    converted to float32 once.
metadata: None, a dict (single id), a list of n dicts (None entries = no
    metadata), or a dict of columns {field: n values}. Values are str, int,
    float or bool; None values are left out.

Replacing an id replaces its vector and its metadata. The batch is
all-or-nothing and durable when it returns (per the database's durability).
Raises InvalidArgumentError (shape, NaN, duplicate id in the batch, bad
metadata), FailedPreconditionError (closed database).)doc")
      .def("delete", &Delete, py::arg("ids"),
           "Removes ids (an int or a sequence); ids not present are ignored.")
      .def("get", &Get, py::arg("ids"),
           "For an int: its Record, or None if absent. For a sequence of ids: a list with a "
           "Record or None per id.")
      .def("get_vectors", &GetVectors, py::arg("ids"),
           "The stored vectors of `ids` as a new (n, dim) float32 array; raises NotFoundError "
           "if one is absent.")
      .def(
          "__len__", [](const PyCollection& c) { return c.coll->size(); },
          "Number of live vectors.")
      .def(
          "__contains__",
          [](const PyCollection& c, py::handle id) {
            IdList ids = AsIds(id, "id");
            if (!ids.scalar) ThrowInvalid("id: expected an int");
            return c.coll->Contains(ids.data[0]);
          },
          py::arg("id"), "True if `id` is stored.")
      .def(
          "__getitem__",
          [](const PyCollection& c, py::handle id) {
            IdList ids = AsIds(id, "id");
            if (!ids.scalar) ThrowInvalid("id: expected an int");
            Result<Record> r = Status::Internal("not read");
            {
              py::gil_scoped_release release;
              r = c.coll->Get(ids.data[0]);
            }
            return Unwrap(std::move(r));
          },
          py::arg("id"), "The Record of `id`; raises NotFoundError (a KeyError) if absent.")
      .def(
          "stats", [](const PyCollection& c) { return StatsDict(c.coll->Stats()); },
          "A dict: name, live, deleted, memory_bytes, quant_trained, options.")
      .def(
          "flush",
          [](const PyCollection& c) { RunReleased([&] { return c.owner->db()->Flush(); }); },
          "Makes every write that returned so far durable (syncs the database's log).")
      .def_property_readonly(
          "database", [](const PyCollection& c) { return c.owner; },
          "The Database this collection belongs to.")
      .def("__repr__", &CollectionRepr);
  {
    static PyMethodDef search_def = {
        "search", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&SearchFastcall)),
        METH_FASTCALL | METH_KEYWORDS, kSearchDoc};
    PyObject* descr =
        PyDescr_NewMethod(reinterpret_cast<PyTypeObject*>(collection.ptr()), &search_def);
    if (descr == nullptr) throw py::error_already_set();
    collection.attr("search") = py::reinterpret_steal<py::object>(descr);
  }

  py::class_<PyDatabase, std::shared_ptr<PyDatabase>>(
      m, "Database",
      "An open OmenDB database: a directory of named collections with a write-ahead log and "
      "checkpoints. Returned by omendb.open(); a context manager that closes it (syncing the "
      "log and releasing the directory lock) on exit.")
      .def_property_readonly("path", &PyDatabase::path,
                             "The path given to open() (':memory:' for a throw-away database).")
      .def_property_readonly("closed", &PyDatabase::closed, "True after close().")
      .def(
          "create_collection",
          [](const std::shared_ptr<PyDatabase>& db, const std::string& name, uint32_t dim,
             const std::string& metric, py::handle index, py::handle quantization,
             uint32_t quant_train_after) {
            return CreateCollection(db, name, dim, metric, index, quantization, quant_train_after);
          },
          py::arg("name"), py::arg("dim"), py::arg("metric") = "l2", py::kw_only(),
          py::arg("index") = py::none(), py::arg("quantization") = py::none(),
          py::arg("quant_train_after") = 1000,
          R"doc(Creates a collection (durably) and returns it.

name: 1..128 characters of [A-Za-z0-9_.-].
dim: vector dimension (1..65536). metric: 'l2', 'ip' or 'cosine'.
index: None or {'type': 'hnsw', 'M': 16, 'ef_construction': 200, 'seed': 42}.
quantization: None, 'fp16', 'sq8' or 'rabitq:B' (B = 1..9 bits): the graph
    walk reads compact codes (trained once the collection holds
    quant_train_after vectors) and results are re-ranked exactly.
Raises AlreadyExistsError if the name is taken, InvalidArgumentError for bad
options.)doc")
      .def("collection", &GetCollection, py::arg("name"),
           "The collection named `name`; raises NotFoundError if there is none.")
      .def(
          "get_or_create_collection",
          [](const std::shared_ptr<PyDatabase>& db, const std::string& name, uint32_t dim,
             const std::string& metric, py::handle index, py::handle quantization,
             uint32_t quant_train_after) {
            Result<Collection*> c = db->db()->GetCollection(name);
            if (c.ok()) {
              const CollectionOptions& have = (*c)->options();
              if (have.dim != dim || have.metric != AsMetric(metric)) {
                ThrowInvalid("collection '" + name + "' exists with dim " +
                             std::to_string(have.dim) + " and metric " + MetricName(have.metric));
              }
              return PyCollection{db, *c};
            }
            if (!c.status().IsNotFound()) Check(c.status());
            return CreateCollection(db, name, dim, metric, index, quantization, quant_train_after);
          },
          py::arg("name"), py::arg("dim"), py::arg("metric") = "l2", py::kw_only(),
          py::arg("index") = py::none(), py::arg("quantization") = py::none(),
          py::arg("quant_train_after") = 1000,
          "The collection `name` if it exists (its dim and metric must match), else a new one "
          "created with these options.")
      .def(
          "list_collections", [](const PyDatabase& db) { return db.db()->ListCollections(); },
          "Names of the collections.")
      .def(
          "__contains__",
          [](const PyDatabase& db, const std::string& name) {
            return db.db()->GetCollection(name).ok();
          },
          py::arg("name"), "True if a collection of that name exists.")
      .def("__getitem__", &GetCollection, py::arg("name"),
           "The collection `name`; NotFoundError (a KeyError) if there is none.")
      .def(
          "flush", [](const PyDatabase& db) { RunReleased([&] { return db.db()->Flush(); }); },
          "Syncs the log: every write that returned before this call is durable.")
      .def(
          "checkpoint",
          [](const PyDatabase& db) { RunReleased([&] { return db.db()->Checkpoint(); }); },
          "Writes every collection to a new checkpoint file and starts a new log.")
      .def(
          "compact",
          [](const PyDatabase& db, const std::string& name) {
            RunReleased([&] { return db.db()->Compact(name); });
          },
          py::arg("name") = "",
          "Rebuilds collection `name` (all when empty) without removed vectors, then "
          "checkpoints.")
      .def(
          "verify",
          [](const PyDatabase& db) {
            Result<VerifyReport> r = Status::Internal("not run");
            {
              py::gil_scoped_release release;
              r = db.db()->Verify();
            }
            VerifyReport rep = Unwrap(std::move(r));
            py::dict d;
            d["ok"] = rep.ok();
            d["files_checked"] = rep.files_checked;
            d["bytes_checked"] = rep.bytes_checked;
            d["problems"] = rep.problems;
            py::dict graphs;
            for (const auto& [name, g] : rep.graphs) graphs[py::str(name)] = GraphReportDict(g);
            d["graphs"] = graphs;
            return d;
          },
          "Reads every file back and audits each graph; a dict with 'ok', 'problems' (list of "
          "str), 'files_checked', 'bytes_checked' and 'graphs'.")
      .def("stats", &DbStatsDict,
           "A dict: collections (list of Collection.stats() dicts), log_bytes, checkpoint_bytes, "
           "manifest_sequence, checkpoints, compactions.")
      .def(
          "close", [](PyDatabase& db) { Check(db.Close()); },
          "Syncs the log and releases the directory lock (a ':memory:' database is deleted). "
          "Later calls on the database or its collections raise FailedPreconditionError. "
          "Idempotent.")
      .def(
          "__enter__", [](const std::shared_ptr<PyDatabase>& db) { return db; },
          "Returns the database itself.")
      .def(
          "__exit__",
          [](PyDatabase& db, py::handle, py::handle, py::handle) {
            Check(db.Close());
            return false;
          },
          py::arg("exc_type"), py::arg("exc"), py::arg("tb"),
          "Closes the database (exceptions raised in the block propagate).")
      .def("__repr__", [](const PyDatabase& db) {
        return "<omendb.Database '" + db.path() + "'" + (db.closed() ? " (closed)" : "") + ">";
      });

  m.def("open", &OpenDatabase, py::arg("path"), py::kw_only(), py::arg("create") = true,
        py::arg("error_if_exists") = false, py::arg("durability") = "full",
        py::arg("checkpoint_log_bytes") = py::none(), py::arg("compaction_threshold") = py::none(),
        py::arg("threads") = 0,
        R"doc(Opens (by default creating) the database in directory `path`.

path: a directory (str or os.PathLike), or ':memory:' for a throw-away
    database kept in a temporary directory (on /dev/shm when available) and
    deleted on close.
create: create the directory and an empty database if missing.
error_if_exists: raise AlreadyExistsError if it already holds a database.
durability: 'full' (fsync before every write returns), 'group' (durable,
    concurrent writers share syncs) or 'none' (no sync; survives a process
    crash, not a power cut). ':memory:' always uses 'none'.
checkpoint_log_bytes: take a checkpoint once the log reaches this size
    (0 disables; default 256 MiB).
compaction_threshold: compact a collection once this fraction of its
    records is removed (default 0.25).
threads: threads for large inserts and compaction (0 = all cores).

Raises BusyError if another process holds the database, CorruptionError for
damaged files, NotFoundError if missing and create is False.)doc");

  m.def("_native_search_qps", &NativeSearchQps, py::arg("collection"), py::arg("queries"),
        py::arg("k"), py::arg("ef"), py::arg("mode"), py::arg("min_time") = 1.0,
        py::arg("threads") = 0,
        "Benchmark hook: queries per second of Collection searches timed inside C++ "
        "(mode 'single': one query per call on this thread; 'batch': each pass over all "
        "queries spread over `threads`). Used by bench/python_overhead.py as the C++ "
        "reference.");
}

}  // namespace omendb::python
