// omendb_db_bench: end-to-end measurements of the database layer
// (omendb/db.h), as opposed to bench/micro (kernels) and `omendb bench` (the
// bare index). Four sub-benchmarks:
//
//   churn   graph quality after many rounds of replacing a fraction of the
//           vectors (unreachable nodes, recall vs a fresh build at equal ef),
//           then the space Compact gives back after deleting 30%.
//   filter  recall@k and single-thread QPS of filtered searches at several
//           selectivities, against brute force over the matching vectors.
//   ingest  importing a data set through Upsert under group commit vs
//           building the same HnswIndex in memory.
//   reopen  DB::Open of a checkpointed collection vs rebuilding its index.
//
// Each prints a table and one JSON object per result line (to stdout, and
// appended to --json FILE). docs/bench-db.md explains the protocols.
#include <stdlib.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <numeric>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "omendb/db.h"
#include "omendb/flat_index.h"
#include "omendb/hnsw_index.h"
#include "util/dataset.h"
#include "util/json.h"
#include "util/thread_pool.h"

namespace omendb::dbbench {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void Note(const std::string& msg) {
  std::fprintf(stderr, "omendb_db_bench: %s\n", msg.c_str());
}

// ---------------------------------------------------------------- options

struct CommonOptions {
  std::string data = "siftsmall";
  size_t max_base = 0;    // 0 = every base vector
  size_t queries = 1000;  // cap on queries used
  size_t k = 10;
  int threads = 0;  // 0 = all cores
  uint32_t M = 16;
  uint32_t ef_construction = 200;
  int repeat = 3;
  double min_time = 0.5;  // seconds per timed search repetition
  uint64_t seed = 42;
  std::string scratch;  // parent of the scratch directory
  std::string json_path;
  bool keep = false;
};

void AddCommonOptions(CLI::App* app, CommonOptions* o, const std::string& default_data) {
  o->data = default_data;
  app->add_option("--data", o->data,
                  "data set name (found via $OMENDB_DATA or ../shared/data) or a directory "
                  "holding base/query[/groundtruth] vectors; generated clustered data when "
                  "not found")
      ->capture_default_str();
  app->add_option("--max-base", o->max_base, "use only the first N base vectors (0 = all)");
  app->add_option("--queries", o->queries, "use at most N queries")->capture_default_str();
  app->add_option("--k", o->k, "neighbours per query")->capture_default_str();
  app->add_option("--threads", o->threads, "insert/build threads (0 = all cores)")
      ->capture_default_str();
  app->add_option("--M", o->M, "HNSW M")->capture_default_str();
  app->add_option("--ef-construction", o->ef_construction, "HNSW efConstruction")
      ->capture_default_str();
  app->add_option("--repeat", o->repeat, "timed repetitions (the median is reported)")
      ->capture_default_str();
  app->add_option("--min-time", o->min_time,
                  "search timing: each repetition repeats the query set for at least this "
                  "many seconds")
      ->capture_default_str();
  app->add_option("--seed", o->seed, "seed of the random choices")->capture_default_str();
  app->add_option("--dir", o->scratch,
                  "where to create the scratch directory (default $TMPDIR or /tmp)");
  app->add_option("--json", o->json_path, "also append the JSON lines to this file");
  app->add_flag("--keep", o->keep, "keep the scratch directory");
}

// ---------------------------------------------------------------- output

// One JSON object on one line, built field by field.
class JsonLine {
 public:
  explicit JsonLine(const std::string& bench) { Str("bench", bench); }
  JsonLine& Str(const char* key, const std::string& v) {
    Key(key);
    util::AppendJsonString(&s_, v);
    return *this;
  }
  JsonLine& Int(const char* key, int64_t v) {
    Key(key);
    util::AppendJsonInt(&s_, v);
    return *this;
  }
  JsonLine& Num(const char* key, double v) {
    Key(key);
    util::AppendJsonDouble(&s_, v);
    return *this;
  }
  std::string Finish() const { return s_ + "}"; }

 private:
  void Key(const char* key) {
    s_ += s_.size() > 1 ? "," : "";
    util::AppendJsonString(&s_, key);
    s_ += ":";
  }
  std::string s_ = "{";
};

// JSON lines are printed after each table (so the table stays readable) and
// appended to --json.
class Emitter {
 public:
  explicit Emitter(const CommonOptions& o) : path_(o.json_path) {}
  void Add(const JsonLine& line) { lines_.push_back(line.Finish()); }
  Status Flush() {
    for (const std::string& l : lines_) std::printf("%s\n", l.c_str());
    std::fflush(stdout);
    if (!path_.empty() && !lines_.empty()) {
      std::ofstream f(path_, std::ios::app);
      for (const std::string& l : lines_) f << l << "\n";
      if (!f) return Status::IOError(path_ + ": cannot append the JSON lines");
    }
    lines_.clear();
    return Status::OK();
  }

 private:
  std::string path_;
  std::vector<std::string> lines_;
};

// ---------------------------------------------------------------- data

struct Data {
  std::string name;
  util::Matrix base;
  util::Matrix queries;
};

Result<Data> LoadData(const CommonOptions& o) {
  Data d;
  std::string dir = o.data.find('/') != std::string::npos ? o.data : util::FindDataDir(o.data);
  const size_t max_base = o.max_base > 0 ? o.max_base : SIZE_MAX;
  if (!dir.empty()) {
    auto t0 = Clock::now();
    OMENDB_ASSIGN_OR_RETURN(util::Dataset ds, util::LoadTexmexDir(dir, max_base, o.queries));
    Note("loaded " + dir + " (" + std::to_string(ds.base.rows) + " x " +
         std::to_string(ds.base.dim) + ", " + std::to_string(ds.queries.rows) + " queries) in " +
         std::to_string(SecondsSince(t0)) + " s");
    d.name = ds.name;
    d.base = std::move(ds.base);
    d.queries = std::move(ds.queries);
    return d;
  }
  // A stand-in of the requested size, so the benchmark runs on a fresh
  // machine: 128-d Gaussian clusters like those `omendb bench` generates.
  size_t n = o.data.find("100k") != std::string::npos ? 100000 : 10000;
  if (o.max_base > 0) n = std::min(n, o.max_base);
  const size_t nq = std::min<size_t>(o.queries, 1000);
  const size_t dim = 128;
  Note("data set '" + o.data + "' not found ($OMENDB_DATA or ../shared/data); using generated " +
       "clustered data, " + std::to_string(n) + " x " + std::to_string(dim));
  util::Matrix all = util::GenerateClustered(n + nq, dim, 100, 1.0f, o.seed);
  d.name = "generated-" + std::to_string(n);
  d.base.dim = d.queries.dim = dim;
  d.base.rows = n;
  d.queries.rows = nq;
  d.base.data.assign(all.data.begin(), all.data.begin() + static_cast<long>(n * dim));
  d.queries.data.assign(all.data.begin() + static_cast<long>(n * dim), all.data.end());
  return d;
}

// The exact k nearest of every query among base rows `rows` (reported under
// `ids`), nearest first: nq * k ids (fewer than k rows: padded with ~0).
Result<std::vector<VectorId>> BruteForce(const Data& d, const std::vector<size_t>& rows,
                                         const std::vector<VectorId>& ids, size_t k,
                                         int threads) {
  const size_t nq = d.queries.rows;
  std::vector<VectorId> truth(nq * k, ~VectorId{0});
  if (rows.empty()) return truth;
  OMENDB_ASSIGN_OR_RETURN(auto flat,
                          FlatIndex::Create(static_cast<uint32_t>(d.base.dim), Metric::kL2));
  std::vector<float> vecs(rows.size() * d.base.dim);
  for (size_t i = 0; i < rows.size(); ++i) {
    std::copy_n(d.base.row(rows[i]), d.base.dim, vecs.data() + i * d.base.dim);
  }
  OMENDB_RETURN_IF_ERROR(flat->AddBatch(vecs, ids));
  const size_t kk = std::min(k, rows.size());
  std::vector<Neighbor> out(nq * kk);
  OMENDB_RETURN_IF_ERROR(flat->SearchBatch(d.queries.data, kk, out, threads));
  for (size_t q = 0; q < nq; ++q) {
    for (size_t j = 0; j < kk; ++j) truth[q * k + j] = out[q * kk + j].id;
  }
  return truth;
}

// Results of one pass over the queries.
struct QueryRun {
  std::vector<VectorId> ids;  // nq * k, padded with ~0
  size_t short_answers = 0;   // queries answered with fewer than expected results
  double qps = 0;             // median over the repetitions
};

// Times the query set `repeat` times (QPS = median), one query per call on
// this thread, and keeps the first pass's answers. `expect` is how many results each query
// should return (min(k, matches)).
Result<QueryRun> RunQueries(const Collection& c, const Data& d, const SearchOptions& so,
                            size_t expect, int repeat, double min_time) {
  QueryRun run;
  const size_t nq = d.queries.rows, k = so.k;
  run.ids.assign(nq * k, ~VectorId{0});
  std::vector<Neighbor> out(k);
  std::vector<double> qps;
  for (int r = 0; r < std::max(1, repeat); ++r) {
    // Whole passes until min_time has elapsed, so a small query set (100
    // queries of siftsmall take about a millisecond) is still timed over a
    // span long enough to average out scheduling noise.
    auto t0 = Clock::now();
    size_t done = 0;
    for (int pass = 0; pass == 0 || SecondsSince(t0) < min_time; ++pass) {
      for (size_t q = 0; q < nq; ++q) {
        OMENDB_ASSIGN_OR_RETURN(
            size_t n,
            c.Search(std::span<const float>(d.queries.row(q), d.queries.dim), so, out));
        if (r == 0 && pass == 0) {
          for (size_t j = 0; j < n; ++j) run.ids[q * k + j] = out[j].id;
          if (n < expect) ++run.short_answers;
        }
      }
      done += nq;
    }
    qps.push_back(static_cast<double>(done) / SecondsSince(t0));
  }
  run.qps = Median(qps);
  return run;
}

// Fraction of the true top-k (ignoring padding) found in the answers.
double Recall(const std::vector<VectorId>& got, const std::vector<VectorId>& truth, size_t nq,
              size_t k) {
  size_t hit = 0, total = 0;
  for (size_t q = 0; q < nq; ++q) {
    const VectorId* t = truth.data() + q * k;
    const VectorId* g = got.data() + q * k;
    for (size_t j = 0; j < k; ++j) {
      if (t[j] == ~VectorId{0}) continue;
      ++total;
      hit += std::find(g, g + k, t[j]) != g + k ? 1 : 0;
    }
  }
  return total == 0 ? 1.0 : static_cast<double>(hit) / static_cast<double>(total);
}

// ---------------------------------------------------------------- database helpers

// A scratch directory for the databases, removed at exit unless --keep.
class Scratch {
 public:
  explicit Scratch(const CommonOptions& o) : keep_(o.keep) {
    std::string parent = o.scratch;
    if (parent.empty()) {
      const char* tmp = std::getenv("TMPDIR");
      parent = tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
    }
    std::string templ = parent + "/omendb_db_bench_XXXXXX";
    std::vector<char> buf(templ.begin(), templ.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) != nullptr) path_ = buf.data();
  }
  ~Scratch() {
    if (path_.empty()) return;
    if (keep_) {
      Note("kept " + path_);
      return;
    }
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;

  bool ok() const { return !path_.empty(); }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }
  // Removes a database directory between repetitions.
  void Remove(const std::string& name) const {
    std::error_code ec;
    std::filesystem::remove_all(Sub(name), ec);
  }

 private:
  std::string path_;
  bool keep_;
};

CollectionOptions MakeCollectionOptions(const CommonOptions& o, size_t dim) {
  CollectionOptions co;
  co.dim = static_cast<uint32_t>(dim);
  co.M = o.M;
  co.ef_construction = o.ef_construction;
  return co;
}

HnswOptions MakeHnswOptions(const CommonOptions& o, size_t dim) {
  HnswOptions h;
  h.dim = static_cast<uint32_t>(dim);
  h.M = o.M;
  h.ef_construction = o.ef_construction;
  return h;
}

// Upserts base rows `rows` under `ids` in batches of `batch`; `meta`, if
// set, gives each id's metadata.
Status UpsertRows(Collection* c, const Data& d, const std::vector<size_t>& rows,
                  const std::vector<VectorId>& ids, size_t batch,
                  const std::function<Metadata(VectorId)>& meta = nullptr) {
  const size_t dim = d.base.dim;
  std::vector<float> vecs;
  std::vector<Metadata> mds;
  for (size_t b = 0; b < rows.size(); b += batch) {
    const size_t e = std::min(rows.size(), b + batch);
    vecs.resize((e - b) * dim);
    mds.clear();
    for (size_t i = b; i < e; ++i) {
      std::copy_n(d.base.row(rows[i]), dim, vecs.data() + (i - b) * dim);
      if (meta) mds.push_back(meta(ids[i]));
    }
    OMENDB_RETURN_IF_ERROR(
        c->Upsert(std::span<const VectorId>(ids.data() + b, e - b), vecs, mds));
  }
  return Status::OK();
}

// The graph as searches see it (no audit run for the measurement).
Result<GraphReport> GraphOf(const DB& db) {
  std::vector<std::string> names = db.ListCollections();
  if (names.empty()) return Status::Internal("the database holds no collection");
  return db.CheckGraph(names[0]);
}

uint64_t FileBytes(const DB& db) {
  DbStats s = db.Stats();
  return s.log_bytes + s.checkpoint_bytes;
}

std::string Percent(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f%%", 100 * v);
  return buf;
}

// ---------------------------------------------------------------- churn

struct ChurnOptions {
  int rounds = 100;
  double fraction = 0.01;
  std::vector<size_t> ef = {16, 32, 64};
  std::string replace = "heldout";
  double heldout = 0.1;
  double delete_fraction = 0.3;
};

// Deletes `fraction` of the live ids of `c` (random), then compacts; reports
// the files' bytes around it.
Status DeleteAndCompact(DB* db, Collection* c, const std::vector<VectorId>& live, double fraction,
                        uint64_t seed, const std::string& which, const Data& d,
                        Emitter* emit) {
  OMENDB_RETURN_IF_ERROR(db->Checkpoint());
  const uint64_t checkpointed = FileBytes(*db);
  std::vector<VectorId> ids = live;
  std::mt19937_64 rng(seed);
  std::shuffle(ids.begin(), ids.end(), rng);
  ids.resize(static_cast<size_t>(std::llround(fraction * static_cast<double>(ids.size()))));
  auto t0 = Clock::now();
  OMENDB_RETURN_IF_ERROR(c->Delete(ids));
  const double delete_s = SecondsSince(t0);
  const uint64_t before = FileBytes(*db);
  const CollectionStats cs = c->Stats();
  t0 = Clock::now();
  OMENDB_RETURN_IF_ERROR(db->Compact());
  const double compact_s = SecondsSince(t0);
  const uint64_t after = FileBytes(*db);
  const double shrink = before == 0 ? 0 : 1.0 - static_cast<double>(after) / before;
  std::printf("%-8s %10zu %9zu %14" PRIu64 " %14" PRIu64 " %14" PRIu64 " %8.1f%% %8.2f %8.2f\n",
              which.c_str(), cs.live, cs.deleted, checkpointed, before, after, 100 * shrink,
              delete_s, compact_s);
  emit->Add(JsonLine("churn_compact")
                .Str("data", d.name)
                .Str("db", which)
                .Num("deleted_fraction", fraction)
                .Int("live", static_cast<int64_t>(cs.live))
                .Int("removed_records", static_cast<int64_t>(cs.deleted))
                .Int("bytes_checkpointed", static_cast<int64_t>(checkpointed))
                .Int("bytes_before_compact", static_cast<int64_t>(before))
                .Int("bytes_after_compact", static_cast<int64_t>(after))
                .Num("shrink", shrink)
                .Num("delete_seconds", delete_s)
                .Num("compact_seconds", compact_s));
  return Status::OK();
}

Status RunChurn(const CommonOptions& o, const ChurnOptions& co) {
  if (co.replace != "heldout" && co.replace != "same") {
    return Status::InvalidArgument("--replace must be heldout or same");
  }
  if (co.fraction <= 0 || co.fraction >= 1) return Status::InvalidArgument("--fraction in (0,1)");
  OMENDB_ASSIGN_OR_RETURN(Data d, LoadData(o));
  Scratch scratch(o);
  if (!scratch.ok()) return Status::IOError("cannot create a scratch directory");
  Emitter emit(o);
  const size_t n = d.base.rows;
  const bool heldout = co.replace == "heldout";
  // Held-out rows: vectors the collection does not hold, swapped in by churn.
  size_t held = heldout ? static_cast<size_t>(std::ceil(co.heldout * static_cast<double>(n))) : 0;
  const size_t live_n = n - held;
  const size_t per_round =
      std::max<size_t>(1, static_cast<size_t>(std::llround(co.fraction * live_n)));
  if (heldout && held < per_round) return Status::InvalidArgument("--heldout too small");

  DbOptions dbo;
  dbo.sync = SyncMode::kNone;
  dbo.compaction_threshold = 2.0;  // never compact automatically
  // No automatic checkpoint either: a checkpoint repairs reachability, which
  // would hide what churn alone does to the graph.
  dbo.checkpoint_log_bytes = 0;
  dbo.num_threads = o.threads;
  OMENDB_ASSIGN_OR_RETURN(auto db, DB::Open(scratch.Sub("churn"), dbo));
  OMENDB_ASSIGN_OR_RETURN(Collection * c,
                          db->CreateCollection("v", MakeCollectionOptions(o, d.base.dim)));
  // id -> base row; ids are the initial rows.
  std::vector<size_t> row_of(live_n);
  std::vector<VectorId> ids(live_n);
  std::iota(row_of.begin(), row_of.end(), size_t{0});
  std::iota(ids.begin(), ids.end(), VectorId{0});
  auto t0 = Clock::now();
  OMENDB_RETURN_IF_ERROR(UpsertRows(c, d, row_of, ids, 10000));
  const double load_s = SecondsSince(t0);
  OMENDB_ASSIGN_OR_RETURN(GraphReport g0, GraphOf(*db));

  std::vector<size_t> pool(held);
  std::iota(pool.begin(), pool.end(), live_n);
  std::mt19937_64 rng(o.seed);
  std::vector<VectorId> order = ids;
  double delete_s = 0, upsert_s = 0;
  std::vector<float> vecs(per_round * d.base.dim);
  std::fprintf(stderr, "churn: %d rounds of %zu replacements (%s vectors)\n", co.rounds,
               per_round, co.replace.c_str());
  for (int round = 0; round < co.rounds; ++round) {
    // A uniform random sample of the ids (partial Fisher-Yates).
    for (size_t i = 0; i < per_round; ++i) {
      std::swap(order[i], order[i + rng() % (order.size() - i)]);
    }
    std::vector<VectorId> victims(order.begin(), order.begin() + static_cast<long>(per_round));
    for (size_t i = 0; i < per_round; ++i) {
      if (heldout) {
        // Swap a random held-out row in; the replaced row joins the pool.
        std::swap(pool[rng() % pool.size()], row_of[victims[i]]);
      }
      std::copy_n(d.base.row(row_of[victims[i]]), d.base.dim, vecs.data() + i * d.base.dim);
    }
    t0 = Clock::now();
    OMENDB_RETURN_IF_ERROR(c->Delete(victims));
    delete_s += SecondsSince(t0);
    t0 = Clock::now();
    OMENDB_RETURN_IF_ERROR(c->Upsert(victims, vecs));
    upsert_s += SecondsSince(t0);
    if ((round + 1) % 10 == 0) std::fprintf(stderr, "  round %d\n", round + 1);
  }
  OMENDB_ASSIGN_OR_RETURN(GraphReport g, GraphOf(*db));
  const CollectionStats cs = c->Stats();

  // Ground truth of the final contents.
  OMENDB_ASSIGN_OR_RETURN(std::vector<VectorId> truth,
                          BruteForce(d, row_of, ids, o.k, o.threads));
  // A fresh database holding the same final contents.
  OMENDB_ASSIGN_OR_RETURN(auto fresh_db, DB::Open(scratch.Sub("fresh"), dbo));
  OMENDB_ASSIGN_OR_RETURN(Collection * fresh,
                          fresh_db->CreateCollection("v", MakeCollectionOptions(o, d.base.dim)));
  t0 = Clock::now();
  OMENDB_RETURN_IF_ERROR(UpsertRows(fresh, d, row_of, ids, 10000));
  const double fresh_load_s = SecondsSince(t0);
  OMENDB_ASSIGN_OR_RETURN(GraphReport gf, GraphOf(*fresh_db));

  std::printf("\nchurn on %s: %zu live vectors, %d rounds x %zu replaced (%s), k = %zu\n",
              d.name.c_str(), live_n, co.rounds, per_round,
              heldout ? "held-out vectors" : "their own vectors", o.k);
  std::printf("load %.2f s; churn: delete %.2f s, upsert %.2f s (%.0f replacements/s)\n", load_s,
              delete_s, upsert_s,
              static_cast<double>(per_round) * co.rounds / std::max(1e-9, delete_s + upsert_s));
  std::printf("unreachable: %zu of %zu after load (%s), %zu of %zu after churn (%s); "
              "fresh build %zu of %zu; removed records %zu\n",
              g0.nodes - g0.reachable, g0.nodes,
              Percent(static_cast<double>(g0.nodes - g0.reachable) / g0.nodes).c_str(),
              g.nodes - g.reachable, g.nodes,
              Percent(static_cast<double>(g.nodes - g.reachable) / g.nodes).c_str(),
              gf.nodes - gf.reachable, gf.nodes, cs.deleted);
  emit.Add(JsonLine("churn")
               .Str("data", d.name)
               .Str("replace", co.replace)
               .Int("live", static_cast<int64_t>(live_n))
               .Int("rounds", co.rounds)
               .Int("per_round", static_cast<int64_t>(per_round))
               .Num("load_seconds", load_s)
               .Num("delete_seconds", delete_s)
               .Num("upsert_seconds", upsert_s)
               .Int("unreachable_after_load", static_cast<int64_t>(g0.nodes - g0.reachable))
               .Int("unreachable", static_cast<int64_t>(g.nodes - g.reachable))
               .Num("unreachable_fraction",
                    static_cast<double>(g.nodes - g.reachable) / static_cast<double>(g.nodes))
               .Int("unreachable_fresh", static_cast<int64_t>(gf.nodes - gf.reachable))
               .Int("removed_records", static_cast<int64_t>(cs.deleted))
               .Num("fresh_load_seconds", fresh_load_s));

  std::printf("\n%6s %16s %16s %12s %14s %14s\n", "ef", "recall churned", "recall fresh",
              "diff (pts)", "QPS churned", "QPS fresh");
  for (size_t ef : co.ef) {
    SearchOptions so;
    so.k = o.k;
    so.ef = ef;
    OMENDB_ASSIGN_OR_RETURN(QueryRun rc, RunQueries(*c, d, so, o.k, o.repeat, o.min_time));
    OMENDB_ASSIGN_OR_RETURN(QueryRun rf, RunQueries(*fresh, d, so, o.k, o.repeat, o.min_time));
    const double recall_c = Recall(rc.ids, truth, d.queries.rows, o.k);
    const double recall_f = Recall(rf.ids, truth, d.queries.rows, o.k);
    const double diff = 100 * (recall_c - recall_f);
    std::printf("%6zu %16.4f %16.4f %+12.2f %14.0f %14.0f\n", ef, recall_c, recall_f, diff,
                rc.qps, rf.qps);
    emit.Add(JsonLine("churn_recall")
                 .Str("data", d.name)
                 .Str("replace", co.replace)
                 .Int("rounds", co.rounds)
                 .Num("fraction", co.fraction)
                 .Int("k", static_cast<int64_t>(o.k))
                 .Int("ef", static_cast<int64_t>(ef))
                 .Num("recall_churned", recall_c)
                 .Num("recall_fresh", recall_f)
                 .Num("diff_points", diff)
                 .Num("qps_churned", rc.qps)
                 .Num("qps_fresh", rf.qps)
                 .Int("short_answers", static_cast<int64_t>(rc.short_answers + rf.short_answers)));
  }

  std::printf("\ndelete %.0f%% then Compact (bytes = live log + checkpoint files)\n",
              100 * co.delete_fraction);
  std::printf("%-8s %10s %9s %14s %14s %14s %9s %8s %8s\n", "db", "live", "removed",
              "checkpointed", "before", "after", "shrink", "del s", "comp s");
  OMENDB_RETURN_IF_ERROR(
      DeleteAndCompact(db.get(), c, ids, co.delete_fraction, o.seed + 1, "churned", d, &emit));
  OMENDB_RETURN_IF_ERROR(DeleteAndCompact(fresh_db.get(), fresh, ids, co.delete_fraction,
                                          o.seed + 1, "fresh", d, &emit));
  OMENDB_RETURN_IF_ERROR(db->Close());
  OMENDB_RETURN_IF_ERROR(fresh_db->Close());
  return emit.Flush();
}

// ---------------------------------------------------------------- filter

struct FilterOptions {
  std::vector<double> selectivity = {50, 10, 1};  // percent
  std::vector<size_t> ef = {64};
};

// A field independent of the vector (a hash of the id), so a filter keeps a
// random sample of every neighbourhood.
int64_t BucketOf(VectorId id) {
  uint64_t z = id * 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return static_cast<int64_t>((z ^ (z >> 31)) % 10000);
}

Status RunFilter(const CommonOptions& o, const FilterOptions& fo) {
  OMENDB_ASSIGN_OR_RETURN(Data d, LoadData(o));
  Scratch scratch(o);
  if (!scratch.ok()) return Status::IOError("cannot create a scratch directory");
  Emitter emit(o);
  DbOptions dbo;
  dbo.sync = SyncMode::kNone;
  dbo.num_threads = o.threads;
  OMENDB_ASSIGN_OR_RETURN(auto db, DB::Open(scratch.Sub("filter"), dbo));
  OMENDB_ASSIGN_OR_RETURN(Collection * c,
                          db->CreateCollection("v", MakeCollectionOptions(o, d.base.dim)));
  const size_t n = d.base.rows;
  std::vector<size_t> rows(n);
  std::vector<VectorId> ids(n);
  std::iota(rows.begin(), rows.end(), size_t{0});
  std::iota(ids.begin(), ids.end(), VectorId{0});
  auto t0 = Clock::now();
  OMENDB_RETURN_IF_ERROR(UpsertRows(c, d, rows, ids, 10000, [](VectorId id) {
    return Metadata{{"bucket", BucketOf(id)}};
  }));
  Note("loaded " + std::to_string(n) + " vectors with metadata in " +
       std::to_string(SecondsSince(t0)) + " s");

  std::printf("\nfiltered search on %s: %zu vectors, %zu queries, k = %zu, 1 thread, "
              "QPS median of %d\n",
              d.name.c_str(), n, d.queries.rows, o.k, o.repeat);
  std::printf("%-22s %9s %6s %10s %10s %8s\n", "filter", "matches", "ef", "recall", "QPS",
              "short");
  std::vector<double> sels = {100};
  sels.insert(sels.end(), fo.selectivity.begin(), fo.selectivity.end());
  for (double pct : sels) {
    // bucket is uniform in [0, 10000): bucket < pct * 100 passes pct percent.
    const int64_t cut = static_cast<int64_t>(std::llround(pct * 100));
    std::vector<size_t> match_rows;
    std::vector<VectorId> match_ids;
    for (size_t i = 0; i < n; ++i) {
      if (BucketOf(ids[i]) < cut) {
        match_rows.push_back(i);
        match_ids.push_back(ids[i]);
      }
    }
    OMENDB_ASSIGN_OR_RETURN(std::vector<VectorId> truth,
                            BruteForce(d, match_rows, match_ids, o.k, o.threads));
    struct Kind {
      std::string name;
      Filter filter;
    };
    std::vector<Kind> kinds;
    char label[64];
    if (pct >= 100) {
      kinds.push_back({"none", Filter::All()});
    } else {
      std::snprintf(label, sizeof label, "bucket<%g%%", pct);
      kinds.push_back({label, Filter::Lt("bucket", cut)});
      std::snprintf(label, sizeof label, "id allow-list %g%%", pct);
      kinds.push_back({label, Filter::IdIn(match_ids)});
    }
    for (const Kind& kind : kinds) {
      for (size_t ef : fo.ef) {
        SearchOptions so;
        so.k = o.k;
        so.ef = ef;
        so.filter = kind.filter;
        OMENDB_ASSIGN_OR_RETURN(QueryRun run, RunQueries(*c, d, so, std::min(o.k, match_ids.size()),
                                                         o.repeat, o.min_time));
        const double recall = Recall(run.ids, truth, d.queries.rows, o.k);
        std::printf("%-22s %8.2f%% %6zu %10.4f %10.0f %8zu\n", kind.name.c_str(),
                    100.0 * static_cast<double>(match_ids.size()) / n, ef, recall, run.qps,
                    run.short_answers);
        emit.Add(JsonLine("filter")
                     .Str("data", d.name)
                     .Str("filter", kind.name)
                     .Num("selectivity", static_cast<double>(match_ids.size()) / n)
                     .Int("k", static_cast<int64_t>(o.k))
                     .Int("ef", static_cast<int64_t>(ef))
                     .Num("recall", recall)
                     .Num("qps", run.qps)
                     .Int("short_answers", static_cast<int64_t>(run.short_answers)));
      }
    }
  }
  OMENDB_RETURN_IF_ERROR(db->Close());
  return emit.Flush();
}

// ---------------------------------------------------------------- ingest

struct IngestOptions {
  std::vector<size_t> batches = {1000, 10000};
  std::string sync = "group";
};

Status RunIngest(const CommonOptions& o, const IngestOptions& io) {
  SyncMode mode;
  if (io.sync == "group") {
    mode = SyncMode::kGroupCommit;
  } else if (io.sync == "every") {
    mode = SyncMode::kEveryWrite;
  } else if (io.sync == "none") {
    mode = SyncMode::kNone;
  } else {
    return Status::InvalidArgument("--sync must be group, every or none");
  }
  OMENDB_ASSIGN_OR_RETURN(Data d, LoadData(o));
  Scratch scratch(o);
  if (!scratch.ok()) return Status::IOError("cannot create a scratch directory");
  Emitter emit(o);
  const size_t n = d.base.rows;
  const int threads = util::ResolveThreads(o.threads);
  std::vector<size_t> rows(n);
  std::vector<VectorId> ids(n);
  std::iota(rows.begin(), rows.end(), size_t{0});
  std::iota(ids.begin(), ids.end(), VectorId{0});

  // The in-memory baselines: AddBatch on the same threads, and one Add per
  // vector (what a single-threaded insert path costs).
  std::vector<double> mem, mem_one;
  for (int r = 0; r < o.repeat; ++r) {
    OMENDB_ASSIGN_OR_RETURN(auto index, HnswIndex::Create(MakeHnswOptions(o, d.base.dim)));
    auto t0 = Clock::now();
    OMENDB_RETURN_IF_ERROR(index->AddBatch(d.base.data, ids, threads));
    mem.push_back(SecondsSince(t0));
    OMENDB_ASSIGN_OR_RETURN(auto index1, HnswIndex::Create(MakeHnswOptions(o, d.base.dim)));
    t0 = Clock::now();
    for (size_t i = 0; i < n; ++i) {
      OMENDB_RETURN_IF_ERROR(
          index1->Add(ids[i], std::span<const float>(d.base.row(i), d.base.dim)));
    }
    mem_one.push_back(SecondsSince(t0));
  }
  const double mem_s = Median(mem), mem_one_s = Median(mem_one);

  std::printf("\ningest of %s (%zu x %zu), %d threads, median of %d\n", d.name.c_str(), n,
              d.base.dim, threads, o.repeat);
  std::printf("%-34s %10s %12s %14s\n", "how", "seconds", "vectors/s", "vs AddBatch");
  std::printf("%-34s %10.3f %12.0f %14s\n", "HnswIndex::AddBatch (in memory)", mem_s, n / mem_s,
              "1.00x");
  std::printf("%-34s %10.3f %12.0f %13.2fx\n", "HnswIndex::Add, one by one", mem_one_s,
              n / mem_one_s, mem_one_s / mem_s);
  emit.Add(JsonLine("ingest")
               .Str("data", d.name)
               .Str("how", "hnsw_addbatch")
               .Int("threads", threads)
               .Num("seconds", mem_s)
               .Num("ratio", 1.0));
  emit.Add(JsonLine("ingest")
               .Str("data", d.name)
               .Str("how", "hnsw_add_one_by_one")
               .Int("threads", 1)
               .Num("seconds", mem_one_s)
               .Num("ratio", mem_one_s / mem_s));

  for (size_t batch : io.batches) {
    if (batch == 0) return Status::InvalidArgument("--batches: 0");
    std::vector<double> times;
    uint64_t bytes = 0;
    for (int r = 0; r < o.repeat; ++r) {
      scratch.Remove("ingest");
      DbOptions dbo;
      dbo.sync = mode;
      dbo.num_threads = threads;
      OMENDB_ASSIGN_OR_RETURN(auto db, DB::Open(scratch.Sub("ingest"), dbo));
      OMENDB_ASSIGN_OR_RETURN(Collection * c,
                              db->CreateCollection("v", MakeCollectionOptions(o, d.base.dim)));
      auto t0 = Clock::now();
      OMENDB_RETURN_IF_ERROR(UpsertRows(c, d, rows, ids, batch));
      times.push_back(SecondsSince(t0));
      bytes = FileBytes(*db);
      OMENDB_RETURN_IF_ERROR(db->Close());
    }
    const double s = Median(times);
    const std::string how = "DB Upsert, batches of " + std::to_string(batch) + " (" + io.sync + ")";
    std::printf("%-34s %10.3f %12.0f %13.2fx\n", how.c_str(), s, n / s, s / mem_s);
    emit.Add(JsonLine("ingest")
                 .Str("data", d.name)
                 .Str("how", "db_upsert")
                 .Str("sync", io.sync)
                 .Int("batch", static_cast<int64_t>(batch))
                 .Int("threads", threads)
                 .Num("seconds", s)
                 .Num("ratio", s / mem_s)
                 .Int("file_bytes", static_cast<int64_t>(bytes)));
  }
  return emit.Flush();
}

// ---------------------------------------------------------------- reopen

struct ReopenOptions {
  bool replay = false;
};

// Times DB::Open of the database in `dir` (plus finding its collection)
// `repeat` times; checks it holds `n` vectors.
Result<double> TimeOpen(const std::string& dir, size_t n, int threads, int repeat) {
  std::vector<double> times;
  for (int r = 0; r < repeat; ++r) {
    DbOptions dbo;
    dbo.num_threads = threads;
    dbo.create_if_missing = false;
    auto t0 = Clock::now();
    OMENDB_ASSIGN_OR_RETURN(auto db, DB::Open(dir, dbo));
    OMENDB_ASSIGN_OR_RETURN(Collection * c, db->GetCollection("v"));
    times.push_back(SecondsSince(t0));
    if (c->size() != n) {
      return Status::Internal("reopened collection holds " + std::to_string(c->size()) +
                              " vectors, expected " + std::to_string(n));
    }
    OMENDB_RETURN_IF_ERROR(db->Close());
  }
  return Median(times);
}

Status RunReopen(const CommonOptions& o, const ReopenOptions& ro) {
  OMENDB_ASSIGN_OR_RETURN(Data d, LoadData(o));
  Scratch scratch(o);
  if (!scratch.ok()) return Status::IOError("cannot create a scratch directory");
  Emitter emit(o);
  const size_t n = d.base.rows;
  const int threads = util::ResolveThreads(o.threads);
  std::vector<size_t> rows(n);
  std::vector<VectorId> ids(n);
  std::iota(rows.begin(), rows.end(), size_t{0});
  std::iota(ids.begin(), ids.end(), VectorId{0});

  // The database: everything upserted, then checkpointed, so Open loads the
  // checkpoint and replays an empty log.
  uint64_t checkpoint_bytes = 0;
  double build_s = 0;
  {
    DbOptions dbo;
    dbo.sync = SyncMode::kNone;
    dbo.num_threads = threads;
    OMENDB_ASSIGN_OR_RETURN(auto db, DB::Open(scratch.Sub("checkpointed"), dbo));
    OMENDB_ASSIGN_OR_RETURN(Collection * c,
                            db->CreateCollection("v", MakeCollectionOptions(o, d.base.dim)));
    auto t0 = Clock::now();
    OMENDB_RETURN_IF_ERROR(UpsertRows(c, d, rows, ids, 10000));
    OMENDB_RETURN_IF_ERROR(db->Checkpoint());
    build_s = SecondsSince(t0);
    checkpoint_bytes = db->Stats().checkpoint_bytes;
    OMENDB_RETURN_IF_ERROR(db->Close());
  }
  OMENDB_ASSIGN_OR_RETURN(double open_s,
                          TimeOpen(scratch.Sub("checkpointed"), n, threads, o.repeat));

  std::vector<double> rebuild;
  for (int r = 0; r < o.repeat; ++r) {
    OMENDB_ASSIGN_OR_RETURN(auto index, HnswIndex::Create(MakeHnswOptions(o, d.base.dim)));
    auto t0 = Clock::now();
    OMENDB_RETURN_IF_ERROR(index->AddBatch(d.base.data, ids, threads));
    rebuild.push_back(SecondsSince(t0));
  }
  const double rebuild_s = Median(rebuild);

  std::printf("\nreopen of %s (%zu x %zu), %d threads, median of %d (warm page cache)\n",
              d.name.c_str(), n, d.base.dim, threads, o.repeat);
  std::printf("upsert + checkpoint took %.2f s; checkpoint file %.1f MB\n", build_s,
              static_cast<double>(checkpoint_bytes) / 1e6);
  std::printf("%-40s %10s %14s\n", "how", "seconds", "vs rebuild");
  std::printf("%-40s %10.3f %13.4fx\n", "DB::Open of the checkpoint", open_s, open_s / rebuild_s);
  std::printf("%-40s %10.3f %14s\n", "HnswIndex::AddBatch from the vectors", rebuild_s, "1x");
  emit.Add(JsonLine("reopen")
               .Str("data", d.name)
               .Str("how", "open_checkpoint")
               .Int("threads", threads)
               .Num("seconds", open_s)
               .Num("ratio", open_s / rebuild_s)
               .Num("load_mb_per_s", static_cast<double>(checkpoint_bytes) / 1e6 / open_s)
               .Int("checkpoint_bytes", static_cast<int64_t>(checkpoint_bytes)));
  emit.Add(JsonLine("reopen")
               .Str("data", d.name)
               .Str("how", "rebuild_addbatch")
               .Int("threads", threads)
               .Num("seconds", rebuild_s)
               .Num("ratio", 1.0));

  if (ro.replay) {
    // The same contents left in the log: Open replays every upsert on one
    // thread (replay is deterministic by design).
    {
      DbOptions dbo;
      dbo.sync = SyncMode::kNone;
      dbo.num_threads = threads;
      dbo.checkpoint_log_bytes = 0;
      OMENDB_ASSIGN_OR_RETURN(auto db, DB::Open(scratch.Sub("log"), dbo));
      OMENDB_ASSIGN_OR_RETURN(Collection * c,
                              db->CreateCollection("v", MakeCollectionOptions(o, d.base.dim)));
      OMENDB_RETURN_IF_ERROR(UpsertRows(c, d, rows, ids, 10000));
      OMENDB_RETURN_IF_ERROR(db->Close());
    }
    OMENDB_ASSIGN_OR_RETURN(double replay_s, TimeOpen(scratch.Sub("log"), n, threads, o.repeat));
    std::printf("%-40s %10.3f %13.4fx\n", "DB::Open replaying the log", replay_s,
                replay_s / rebuild_s);
    emit.Add(JsonLine("reopen")
                 .Str("data", d.name)
                 .Str("how", "open_log_replay")
                 .Int("threads", threads)
                 .Num("seconds", replay_s)
                 .Num("ratio", replay_s / rebuild_s));
  }
  return emit.Flush();
}

}  // namespace
}  // namespace omendb::dbbench

int main(int argc, char** argv) {
  using namespace omendb::dbbench;  // NOLINT(google-build-using-namespace): main only
  CLI::App app("omendb_db_bench: end-to-end database benchmarks (docs/bench-db.md)",
               "omendb_db_bench");
  app.require_subcommand(1);

  CommonOptions churn_o, filter_o, ingest_o, reopen_o;
  ChurnOptions churn;
  FilterOptions filter;
  IngestOptions ingest;
  ReopenOptions reopen;

  CLI::App* c = app.add_subcommand("churn", "recall and reachability after replacement rounds, "
                                            "then delete 30% and Compact");
  AddCommonOptions(c, &churn_o, "siftsmall");
  c->add_option("--rounds", churn.rounds, "replacement rounds")->capture_default_str();
  c->add_option("--fraction", churn.fraction, "fraction of the vectors replaced per round")
      ->capture_default_str();
  c->add_option("--ef", churn.ef, "search beam widths compared")->delimiter(',');
  c->add_option("--replace", churn.replace,
                "heldout: replaced ids get vectors of rows the collection does not hold; "
                "same: they get their own vectors back")
      ->capture_default_str();
  c->add_option("--heldout", churn.heldout, "fraction of the rows held out (heldout mode)")
      ->capture_default_str();
  c->add_option("--delete", churn.delete_fraction, "fraction deleted before Compact")
      ->capture_default_str();

  CLI::App* f = app.add_subcommand("filter", "filtered-search recall and QPS by selectivity");
  AddCommonOptions(f, &filter_o, "siftsmall");
  f->add_option("--selectivity", filter.selectivity, "percent of the vectors passing")
      ->delimiter(',');
  f->add_option("--ef", filter.ef, "search beam widths")->delimiter(',');

  CLI::App* i = app.add_subcommand("ingest", "DB import under group commit vs in-memory build");
  AddCommonOptions(i, &ingest_o, "siftsmall");
  i->add_option("--batches", ingest.batches, "Upsert batch sizes")->delimiter(',');
  i->add_option("--sync", ingest.sync, "group, every or none")->capture_default_str();

  CLI::App* r = app.add_subcommand("reopen", "DB::Open of a checkpoint vs rebuilding the index");
  AddCommonOptions(r, &reopen_o, "sift-photos-100k");
  r->add_flag("--replay", reopen.replay, "also time an open that replays the whole log");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  omendb::Status s;
  try {
    if (c->parsed()) s = RunChurn(churn_o, churn);
    if (f->parsed()) s = RunFilter(filter_o, filter);
    if (i->parsed()) s = RunIngest(ingest_o, ingest);
    if (r->parsed()) s = RunReopen(reopen_o, reopen);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "omendb_db_bench: error: %s\n", e.what());
    return 1;
  }
  if (!s.ok()) {
    std::fprintf(stderr, "omendb_db_bench: error: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
