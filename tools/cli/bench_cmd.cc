#include "bench_cmd.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include "alloc_counter.h"
#include "omendb/env.h"
#include "omendb/flat_index.h"
#include "omendb/hnsw_index.h"
#include "omendb/ivf_index.h"
#include "svg_plot.h"
#include "util/dataset.h"
#include "util/json.h"
#include "util/thread_pool.h"

namespace omendb::cli {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Option values, bound to the CLI11 parser; defaults are the documented ones.
struct BenchOptions {
  std::string data_dir;
  std::string dataset;
  size_t n = 10000;
  size_t dim = 128;
  size_t queries = 100;
  size_t clusters = 100;
  // Centres are uniform in [-1,1]^dim, so two centres are about
  // sqrt(2 * dim / 3) apart; sigma = 1 makes neighbouring clusters overlap.
  // Well-separated clusters (sigma <= 0.5) are too easy (recall@10 > 0.9 at
  // ef = 10); with 1.0 recall climbs from ~0.8 to ~0.999 over the default sweep.
  float sigma = 1.0f;
  size_t k = 10;
  uint32_t M = 16;
  uint32_t ef_construction = 200;
  std::vector<size_t> ef_list = {10, 12, 14, 16, 20, 24, 32, 40, 48, 64, 96, 128, 192, 256};
  std::string metric = "l2";
  std::string quant = "none";
  std::vector<size_t> rerank_list = {0};
  std::string rerank_store = "memory";
  int threads = 0;
  double min_time = 1.0;
  int repeat = 3;
  size_t max_queries = 0;  // 0 = all
  uint64_t seed = 42;
  std::string json_path;
  std::string plot_path;
  std::string compare_path;
  bool no_parallel_build = false;
  bool reorder = false;  // HnswIndex::Reorder after the build
  bool n_given = false;  // --n was passed (it caps a --data base set)
  // --index ivf (RunIvf): an IvfIndex over RaBitQ codes, swept over nprobe.
  std::string index_kind = "hnsw";
  uint32_t nlist = 0;  // 0 = about 4 sqrt(n)
  std::vector<size_t> nprobe_list = {1, 2, 4, 8, 16, 32, 64, 128};
  bool quant_given = false;  // --quant was passed (ivf defaults to rabitq:4)
};

// Everything the benchmark searches: vectors plus exact neighbours.
struct Workload {
  std::string name;
  util::Matrix base;
  util::Matrix queries;
  util::IdMatrix groundtruth;  // >= k columns, one row per query
  std::string groundtruth_source;
};

// Measurements at one ef.
struct EfPoint {
  size_t ef = 0;
  size_t rerank = 0;
  double reranked_per_query = 0;
  double recall = 0;
  double qps = 0, qps_min = 0, qps_max = 0;
  std::vector<double> qps_runs;
  double mean_us = 0, p50_us = 0, p99_us = 0;
  double allocs_per_query = 0;
  double dists_per_query = 0;
  double hops_per_query = 0;
  size_t timed_queries = 0;
};

// A text progress bar on stderr, drawn only when stderr is a terminal so logs
// and pipes stay clean. Update() may be called concurrently from the build's
// worker threads: it redraws only when the whole percentage changes, claimed
// with one compare-exchange, so it costs one relaxed load per call otherwise.
class ProgressBar {
 public:
  explicit ProgressBar(std::string label) : label_(std::move(label)), enabled_(isatty(2) == 1) {}
  ~ProgressBar() { Finish(); }
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  void Update(size_t done, size_t total) {
    if (!enabled_ || total == 0) return;
    int pct = static_cast<int>(std::min<size_t>(100, done * 100 / total));
    int last = last_pct_.load(std::memory_order_relaxed);
    if (pct <= last || !last_pct_.compare_exchange_strong(last, pct, std::memory_order_relaxed)) {
      return;
    }
    constexpr int kWidth = 30;
    char bar[kWidth + 1];
    int filled = pct * kWidth / 100;
    for (int i = 0; i < kWidth; ++i) bar[i] = i < filled ? '#' : '.';
    bar[kWidth] = '\0';
    std::fprintf(stderr, "\r%s [%s] %3d%%  %zu/%zu", label_.c_str(), bar, pct, done, total);
    drawn_ = true;
  }
  // Ends the bar's line (once); later updates are ignored.
  void Finish() {
    if (drawn_) std::fputc('\n', stderr);
    drawn_ = false;
    enabled_ = false;
  }

 private:
  std::string label_;
  bool enabled_;
  std::atomic<bool> drawn_{false};
  std::atomic<int> last_pct_{-1};
};

void Note(const std::string& msg) { std::fprintf(stderr, "omendb bench: %s\n", msg.c_str()); }

std::string Fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// Exact k nearest neighbours of every query by brute force on all cores.
Status ComputeGroundTruth(Workload* w, Metric metric, size_t k) {
  auto t0 = Clock::now();
  OMENDB_ASSIGN_OR_RETURN(auto flat, FlatIndex::Create(static_cast<uint32_t>(w->base.dim), metric));
  std::vector<VectorId> ids(w->base.rows);
  std::iota(ids.begin(), ids.end(), VectorId{0});
  OMENDB_RETURN_IF_ERROR(flat->AddBatch(w->base.data, ids).WithContext("ground truth: base"));
  std::vector<Neighbor> out(w->queries.rows * k);
  OMENDB_RETURN_IF_ERROR(
      flat->SearchBatch(w->queries.data, k, out, /*num_threads=*/0).WithContext("ground truth"));
  util::IdMatrix gt;
  gt.rows = w->queries.rows;
  gt.cols = k;
  gt.data.resize(out.size());
  for (size_t i = 0; i < out.size(); ++i) gt.data[i] = static_cast<int32_t>(out[i].id);
  w->groundtruth = std::move(gt);
  w->groundtruth_source = "computed exactly (FlatIndex, " +
                          std::to_string(util::ResolveThreads(0)) + " threads, " +
                          Fixed(SecondsSince(t0), 2) + " s)";
  return Status::OK();
}

Status LoadWorkload(const BenchOptions& o, Metric metric, Workload* w) {
  std::string dir = o.data_dir;
  if (!o.dataset.empty()) {
    dir = util::FindDataDir(o.dataset);
    if (dir.empty()) {
      return Status::NotFound("data set '" + o.dataset +
                              "' not found ($OMENDB_DATA/<name>, or ../shared/data/<name> beside "
                              "the current directory, its parents or $OMENDB_SOURCE_DIR)");
    }
  }
  if (!dir.empty()) {
    auto t0 = Clock::now();
    OMENDB_ASSIGN_OR_RETURN(util::Dataset ds,
                            util::LoadTexmexDir(dir, o.n_given ? o.n : SIZE_MAX,
                                                o.max_queries > 0 ? o.max_queries : SIZE_MAX));
    Note("loaded " + dir + " in " + Fixed(SecondsSince(t0), 2) + " s");
    w->name = ds.name;
    w->base = std::move(ds.base);
    w->queries = std::move(ds.queries);
    w->groundtruth = std::move(ds.groundtruth);
    w->groundtruth_source = "groundtruth.ivecs (top-" + std::to_string(w->groundtruth.cols) + ")";
  } else {
    size_t nq = o.max_queries > 0 ? std::min(o.queries, o.max_queries) : o.queries;
    // One generator call for base and queries: the queries come from the same
    // clusters but are not base vectors.
    util::Matrix all = util::GenerateClustered(o.n + nq, o.dim, o.clusters, o.sigma, o.seed);
    w->name = "clustered-n" + std::to_string(o.n) + "-d" + std::to_string(o.dim) + "-c" +
              std::to_string(o.clusters) + "-s" + Fixed(o.sigma, 2);
    w->base.dim = w->queries.dim = o.dim;
    w->base.rows = o.n;
    w->queries.rows = nq;
    w->base.data.assign(all.data.begin(), all.data.begin() + static_cast<long>(o.n * o.dim));
    w->queries.data.assign(all.data.begin() + static_cast<long>(o.n * o.dim), all.data.end());
  }
  if (o.k > w->base.rows) {
    return Status::InvalidArgument("k = " + std::to_string(o.k) +
                                   " exceeds the number of base "
                                   "vectors (" +
                                   std::to_string(w->base.rows) + ")");
  }
  // Ground truth files are exact L2 top-K; anything else is recomputed.
  const char* why = nullptr;
  if (w->groundtruth.rows == 0) {
    why = "no usable ground truth in the data set";
  } else if (metric != Metric::kL2) {
    why = "the ground truth file is for l2";
  } else if (w->groundtruth.cols < o.k) {
    why = "the ground truth file has fewer than k neighbours per query";
  }
  if (why != nullptr) {
    Note(std::string(why) + "; computing exact ground truth");
    OMENDB_RETURN_IF_ERROR(ComputeGroundTruth(w, metric, o.k));
  }
  return Status::OK();
}

// Builds an index over the whole base set with `threads` insert threads.
Result<std::unique_ptr<HnswIndex>> BuildIndex(const Workload& w, const BenchOptions& o,
                                              Metric metric, int threads, double* seconds) {
  HnswOptions opt;
  opt.dim = static_cast<uint32_t>(w.base.dim);
  opt.metric = metric;
  opt.M = o.M;
  opt.ef_construction = o.ef_construction;
  opt.seed = o.seed;
  opt.initial_capacity = w.base.rows;
  OMENDB_ASSIGN_OR_RETURN(opt.quant, ParseQuantization(o.quant));
  OMENDB_ASSIGN_OR_RETURN(auto index, HnswIndex::Create(opt));
  std::vector<VectorId> ids(w.base.rows);
  std::iota(ids.begin(), ids.end(), VectorId{0});
  ProgressBar bar("build, " + std::to_string(threads) + (threads == 1 ? " thread " : " threads"));
  auto t0 = Clock::now();
  Status s = index->AddBatch(w.base.data, ids, threads,
                             [&bar](size_t done, size_t total) { bar.Update(done, total); });
  bar.Finish();
  OMENDB_RETURN_IF_ERROR(s.WithContext("build"));
  if (o.reorder) {
    // Part of the build: its time counts in the build time.
    auto r0 = Clock::now();
    OMENDB_RETURN_IF_ERROR(index->Reorder().WithContext("reorder"));
    Note("reordered the graph in " + Fixed(SecondsSince(r0), 2) + " s");
  }
  *seconds = SecondsSince(t0);
  return index;
}

// Saves `index` to a file in `dir`, maps the file and loads the index from
// the mapping, so a quantized index reads its re-rank vectors in place. The
// file is unlinked at once (the mapping keeps its pages).
Result<std::unique_ptr<HnswIndex>> ReloadMapped(const HnswIndex& index, const std::string& dir) {
  Env* env = Env::Default();
  const std::string path = dir + "/omendb-bench-" + std::to_string(::getpid()) + ".hnsw";
  {
    OMENDB_ASSIGN_OR_RETURN(auto file, env->NewWritableFile(path));
    OMENDB_RETURN_IF_ERROR(index.Save([&](std::string_view c) { return file->Append(c); }));
    OMENDB_RETURN_IF_ERROR(file->Close());
  }
  auto region = env->NewMmapRegion(path);
  Status removed = env->RemoveFile(path);
  OMENDB_RETURN_IF_ERROR(region.status());
  OMENDB_RETURN_IF_ERROR(removed);
  std::shared_ptr<const MmapRegion> owner(std::move(*region));
  const std::string_view bytes(owner->data(), owner->size());
  return HnswIndex::Load(bytes, owner);
}

// Same rank convention as peerbench: the ceil(p * n)-th smallest value.
double Percentile(const std::vector<double>& sorted, double p) {
  size_t idx = static_cast<size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  if (idx > 0) --idx;
  return sorted[std::min(idx, sorted.size() - 1)];
}

// What a counting pass adds up over the queries: distance computations
// (HNSW) or codes scanned (IVF), graph hops or lists probed, exact re-ranks.
struct SearchCounts {
  uint64_t dists = 0, hops = 0, reranked = 0;
};

// One sweep point at `knob_name`=`knob` (ef or nprobe), by the protocol both
// index kinds share. search(query, out) runs one query and returns the
// Result<size_t> of the index's Search; counted(query, out, &counts) does the
// same and adds the index's counters to `counts`.
template <class Search, class Counted>
Result<EfPoint> MeasurePoint(const Workload& w, const BenchOptions& o, const char* knob_name,
                             size_t knob, size_t rerank, const Search& search,
                             const Counted& counted) {
  const size_t nq = w.queries.rows, dim = w.queries.dim, k = o.k;
  std::vector<Neighbor> out(k);
  auto query = [&](size_t i) { return std::span<const float>(w.queries.row(i), dim); };
  EfPoint pt;
  pt.ef = knob;
  pt.rerank = rerank;

  // Warm-up pass, which also measures recall@k against groundtruth[:k].
  size_t hits = 0;
  auto tw = Clock::now();
  for (size_t i = 0; i < nq; ++i) {
    auto r = search(query(i), out);
    if (!r.ok()) {
      return r.status().WithContext("search (" + std::string(knob_name) + "=" +
                                    std::to_string(knob) + ")");
    }
    const int32_t* gt = w.groundtruth.row(i);
    for (size_t j = 0; j < *r; ++j) {
      for (size_t t = 0; t < k; ++t) {
        if (static_cast<VectorId>(gt[t]) == out[j].id && gt[t] >= 0) {
          ++hits;
          break;
        }
      }
    }
  }
  const double warm_s = SecondsSince(tw);
  pt.recall = static_cast<double>(hits) / static_cast<double>(nq * k);

  // Counting pass: the context is warm, so any allocation here is one the
  // search itself makes per query. Nothing else allocates inside the loop (an
  // OK Result holds no heap memory).
  SearchCounts counts;
  const uint64_t allocs_before = AllocationCount();
  for (size_t i = 0; i < nq; ++i) {
    auto r = counted(query(i), out, &counts);
    if (!r.ok()) return r.status();
  }
  const uint64_t allocs = AllocationCount() - allocs_before;
  pt.allocs_per_query = static_cast<double>(allocs) / static_cast<double>(nq);
  pt.dists_per_query = static_cast<double>(counts.dists) / static_cast<double>(nq);
  pt.hops_per_query = static_cast<double>(counts.hops) / static_cast<double>(nq);
  pt.reranked_per_query = static_cast<double>(counts.reranked) / static_cast<double>(nq);

  // Timed passes: the whole query set, one query per call, repeated until
  // min_time has passed; R such runs, the median-QPS run is reported.
  std::vector<std::vector<double>> runs_latency;
  for (int rep = 0; rep < o.repeat; ++rep) {
    std::vector<double> lat;
    // Sized from the warm-up so the timed loop never reallocates.
    double passes = std::ceil(o.min_time / std::max(warm_s, 1e-6) * 1.1) + 1;
    lat.reserve(static_cast<size_t>(std::min(passes, 1e8 / static_cast<double>(nq))) * nq);
    double total = 0;
    size_t done = 0;
    while (total < o.min_time || done == 0) {
      if (lat.capacity() < lat.size() + nq) lat.reserve(lat.size() * 2 + nq);
      auto tp = Clock::now();
      for (size_t i = 0; i < nq; ++i) {
        auto t0 = Clock::now();
        auto r = search(query(i), out);
        auto t1 = Clock::now();
        if (!r.ok()) return r.status();
        lat.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
      }
      total += SecondsSince(tp);
      done += nq;
    }
    pt.qps_runs.push_back(static_cast<double>(done) / total);
    runs_latency.push_back(std::move(lat));
  }
  std::vector<size_t> order(pt.qps_runs.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return pt.qps_runs[a] < pt.qps_runs[b]; });
  const size_t med = order[order.size() / 2];
  std::vector<double>& lat = runs_latency[med];
  pt.qps = pt.qps_runs[med];
  pt.qps_min = pt.qps_runs[order.front()];
  pt.qps_max = pt.qps_runs[order.back()];
  pt.mean_us = std::accumulate(lat.begin(), lat.end(), 0.0) / static_cast<double>(lat.size());
  std::sort(lat.begin(), lat.end());
  pt.p50_us = Percentile(lat, 0.50);
  pt.p99_us = Percentile(lat, 0.99);
  pt.timed_queries = lat.size();
  return pt;
}

Result<EfPoint> MeasureEf(const HnswIndex& index, const Workload& w, const BenchOptions& o,
                          size_t ef, size_t rerank, SearchContext* ctx) {
  const SearchParams params{ef, rerank};
  return MeasurePoint(
      w, o, "ef", ef, rerank,
      [&](std::span<const float> q, std::span<Neighbor> out) {
        return index.Search(q, o.k, params, out, ctx);
      },
      [&](std::span<const float> q, std::span<Neighbor> out, SearchCounts* counts) {
        SearchStats stats;
        auto r = index.Search(q, o.k, params, out, ctx, &stats);
        counts->dists += stats.distance_computations;
        counts->hops += stats.hops;
        counts->reranked += stats.reranked;
        return r;
      });
}

// Build facts shared by every JSON line and the summary.
struct BuildFacts {
  double build_s = 0;
  double build_s_parallel = NAN;  // NaN when the parallel build was skipped
  int build_threads = 1;
  double bytes_per_vector = 0;
  size_t memory_bytes = 0;
  std::string kernel;
  std::string quant;
  // Per vector: the record's vector or code, the graph (records with their
  // links and headers, upper layers), the full-precision re-rank store.
  double code_bytes = 0, graph_bytes = 0, rerank_bytes = 0;
  bool rerank_mapped = false;
};

// `v` as a JSON number with 6 significant digits, as peerbench writes its
// lines; JSON has no NaN or infinity, so those become null.
std::string Number(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

std::string Quote(std::string_view s) {
  std::string out;
  util::AppendJsonString(&out, s);
  return out;
}

// One "search" JSON line. Both index kinds write these fields in this order,
// plus their own, given as ready ",\"name\":value" runs: `index` after
// "phase", `knobs` after "k", `counters` after "allocs_per_query" and `build`
// after "build_s".
std::string SearchJsonLine(const Workload& w, const BenchOptions& o, Metric metric,
                           const BuildFacts& b, const EfPoint& p, const std::string& index,
                           const std::string& knobs, const std::string& counters,
                           const std::string& build) {
  std::string runs = "[";
  for (size_t i = 0; i < p.qps_runs.size(); ++i) runs += (i ? "," : "") + Number(p.qps_runs[i]);
  runs += "]";
  return "{\"engine\":\"omendb\",\"phase\":\"search\"" + index + ",\"dataset\":" + Quote(w.name) +
         ",\"n\":" + std::to_string(w.base.rows) + ",\"dim\":" + std::to_string(w.base.dim) +
         ",\"metric\":" + Quote(MetricName(metric)) +
         ",\"queries\":" + std::to_string(w.queries.rows) + ",\"k\":" + std::to_string(o.k) +
         knobs + ",\"quant\":" + Quote(b.quant) + ",\"rerank\":" + std::to_string(p.rerank) +
         ",\"reranked_per_query\":" + Number(p.reranked_per_query) +
         ",\"threads\":1,\"recall\":" + Number(p.recall) +
         ",\"qps\":" + Number(p.qps) + ",\"qps_runs\":" + runs +
         ",\"mean_us\":" + Number(p.mean_us) + ",\"p50_us\":" + Number(p.p50_us) +
         ",\"p99_us\":" + Number(p.p99_us) + ",\"allocs_per_query\":" + Number(p.allocs_per_query) +
         counters + ",\"timed_queries\":" + std::to_string(p.timed_queries) +
         ",\"build_s\":" + Number(b.build_s) + build + ",\"kernel\":" + Quote(b.kernel) +
         ",\"seed\":" + std::to_string(o.seed) + "}";
}

std::string JsonLine(const Workload& w, const BenchOptions& o, Metric metric, const BuildFacts& b,
                     const EfPoint& p) {
  return SearchJsonLine(
      w, o, metric, b, p, "",
      ",\"M\":" + std::to_string(o.M) +
          ",\"ef_construction\":" + std::to_string(o.ef_construction) +
          ",\"ef\":" + std::to_string(p.ef) +
          ",\"reordered\":" + (o.reorder ? "true" : "false"),
      ",\"dists_per_query\":" + Number(p.dists_per_query) +
          ",\"hops_per_query\":" + Number(p.hops_per_query),
      ",\"build_s_parallel\":" + Number(b.build_s_parallel) +
          ",\"build_threads\":" + std::to_string(b.build_threads) +
          ",\"bytes_per_vector\":" + Number(b.bytes_per_vector) +
          ",\"code_bytes_per_vector\":" + Number(b.code_bytes) +
          ",\"graph_bytes_per_vector\":" + Number(b.graph_bytes) +
          ",\"rerank_bytes_per_vector\":" + Number(b.rerank_bytes) +
          ",\"rerank_store\":" + Quote(b.rerank_mapped ? "mmap" : "memory"));
}

// "12345 (ef=32, r=0.953)" for the best QPS at recall >= target, or "-".
std::string BestCell(const std::vector<PlotPoint>& pts, double target) {
  const PlotPoint* best = nullptr;
  for (const auto& p : pts) {
    if (p.recall >= target && (best == nullptr || p.qps > best->qps)) best = &p;
  }
  if (best == nullptr) return "-";
  std::string s = Fixed(best->qps, 0) + " (";
  if (!best->label.empty()) s += best->label + ", ";
  return s + "r=" + Fixed(best->recall, 3) + ")";
}

Status WriteTextFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return Status::IOError(path + ": cannot create");
  out << text;
  out.close();
  if (!out) return Status::IOError(path + ": write failed");
  return Status::OK();
}

// Opens --json for writing and reads the --compare curves, so that problems
// with either surface before the long run, not after it.
Status OpenOutputs(const BenchOptions& o, std::ofstream* json_out,
                   std::vector<PlotSeries>* peers) {
  if (!o.json_path.empty()) {
    json_out->open(o.json_path, std::ios::trunc);
    if (!*json_out) return Status::IOError(o.json_path + ": cannot create");
  }
  if (!o.compare_path.empty()) {
    OMENDB_ASSIGN_OR_RETURN(*peers, ReadPeerCurves(o.compare_path));
    // A previous omendb run in the comparison file must not share our name.
    for (auto& s : *peers) {
      if (s.name.rfind("omendb", 0) == 0) s.name += " [" + o.compare_path + "]";
    }
  }
  return Status::OK();
}

// Prints the search table's title and column heads (`knob_col` is "ef" or
// "nprobe", `dists_col` the per-query work); returns the recall column name.
std::string PrintSearchHeader(const BenchOptions& o, const char* knob_col, const char* dists_col) {
  std::printf(
      "-- search (1 thread, one query per call; QPS = median of %d run(s), each >= %.2f s)\n",
      o.repeat, o.min_time);
  std::string recall_col = "recall@" + std::to_string(o.k);
  std::printf("%6s %6s %10s %11s %9s %9s %9s %10s %9s %9s\n", knob_col, "rerank",
              recall_col.c_str(), "QPS", "mean_us", "p50_us", "p99_us", dists_col, "exact/q",
              "allocs/q");
  std::fflush(stdout);
  return recall_col;
}

// Reports one measured point at re-rank setting `rr`: its table row, its
// plot point labelled "<knob_name>=<value>" (plus ",rr=..." when the sweep
// has several re-rank settings) in `ours`, and `json_line()` when --json is
// open.
template <class JsonLineFn>
Status ReportPoint(const BenchOptions& o, const EfPoint& p, size_t rr, bool label_rerank,
                   const char* knob_name, const JsonLineFn& json_line, std::ofstream* json_out,
                   std::vector<PlotPoint>* ours) {
  std::printf("%6zu %6s %10.4f %11.1f %9.1f %9.1f %9.1f %10.1f %9.1f %9.2f\n", p.ef,
              rr == 0 ? "auto" : std::to_string(rr).c_str(), p.recall, p.qps, p.mean_us,
              p.p50_us, p.p99_us, p.dists_per_query, p.reranked_per_query, p.allocs_per_query);
  std::fflush(stdout);
  std::string label = std::string(knob_name) + "=" + std::to_string(p.ef);
  if (label_rerank) label += ",rr=" + (rr == 0 ? std::string("auto") : std::to_string(rr));
  ours->push_back(PlotPoint{p.recall, p.qps, label});
  if (json_out->is_open()) {
    *json_out << json_line() << '\n';
    json_out->flush();
    if (!*json_out) return Status::IOError(o.json_path + ": write failed");
  }
  return Status::OK();
}

// The closing of a run: the best-QPS table over our points (as `name`) and
// the peers', the --plot file (subtitle `subtitle`), and notes naming the
// files written.
Status FinishRun(const BenchOptions& o, const Workload& w, Metric metric,
                 const std::string& recall_col, const char* name, std::vector<PlotPoint> ours,
                 const std::vector<PlotSeries>& peers, const std::string& subtitle) {
  std::printf("-- best QPS at %s >= target (measured points, no interpolation)\n",
              recall_col.c_str());
  std::printf("   %-24s %-26s %-26s %s\n", "engine", ">=0.90", ">=0.95", ">=0.99");
  std::vector<PlotSeries> all;
  all.push_back(PlotSeries{name, std::move(ours)});
  all.insert(all.end(), peers.begin(), peers.end());
  for (const auto& s : all) {
    std::printf("   %-24s %-26s %-26s %s\n", s.name.c_str(), BestCell(s.points, 0.90).c_str(),
                BestCell(s.points, 0.95).c_str(), BestCell(s.points, 0.99).c_str());
  }
  std::fflush(stdout);
  if (!o.plot_path.empty()) {
    PlotText text;
    text.title = "Recall vs QPS: " + w.name + " (n=" + std::to_string(w.base.rows) +
                 ", d=" + std::to_string(w.base.dim) + ", " + MetricName(metric) + ")";
    text.subtitle = subtitle;
    text.x_label = recall_col;
    OMENDB_RETURN_IF_ERROR(WriteTextFile(o.plot_path, RenderRecallQpsSvg(all, text)));
    Note("wrote " + o.plot_path);
  }
  if (!o.json_path.empty()) Note("wrote " + o.json_path);
  return Status::OK();
}

Status RunIvf(const BenchOptions& o);

Status RunBench(const BenchOptions& o) {
  if (o.index_kind == "ivf") return RunIvf(o);
  OMENDB_ASSIGN_OR_RETURN(Metric metric, ParseMetric(o.metric));
  OMENDB_ASSIGN_OR_RETURN(Quantization quant, ParseQuantization(o.quant));
  const int threads = util::ResolveThreads(o.threads);

  std::ofstream json_out;
  std::vector<PlotSeries> peers;
  OMENDB_RETURN_IF_ERROR(OpenOutputs(o, &json_out, &peers));

  Workload w;
  OMENDB_RETURN_IF_ERROR(LoadWorkload(o, metric, &w));

  std::printf(
      "== omendb bench  dataset=%s  n=%zu dim=%zu queries=%zu metric=%s k=%zu  M=%u "
      "efConstruction=%u  quant=%s  seed=%" PRIu64 "\n",
      w.name.c_str(), w.base.rows, w.base.dim, w.queries.rows, MetricName(metric), o.k, o.M,
      o.ef_construction, QuantizationName(quant).c_str(), o.seed);
  std::printf("   ground truth: %s\n", w.groundtruth_source.c_str());
  std::fflush(stdout);

  BuildFacts b;
  OMENDB_ASSIGN_OR_RETURN(auto index, BuildIndex(w, o, metric, 1, &b.build_s));
  Note("1-thread build: " + Fixed(b.build_s, 2) + " s");
  b.build_threads = threads;
  if (threads > 1 && !o.no_parallel_build) {
    // Timing only: the searched index is the 1-thread one, as in peerbench.
    double secs = 0;
    OMENDB_ASSIGN_OR_RETURN(auto parallel, BuildIndex(w, o, metric, threads, &secs));
    b.build_s_parallel = secs;
    Note(std::to_string(threads) + "-thread build: " + Fixed(secs, 2) + " s");
  }
  if (o.rerank_store == "mmap") {
    if (quant.kind == QuantKind::kNone) {
      return Status::InvalidArgument("--rerank-store mmap needs a quantized index (--quant)");
    }
    const char* tmp = std::getenv("TMPDIR");
    OMENDB_ASSIGN_OR_RETURN(index, ReloadMapped(*index, tmp != nullptr ? tmp : "/tmp"));
    Note("re-rank vectors are read in place from a memory-mapped snapshot");
  }
  b.memory_bytes = index->MemoryBytes();
  b.bytes_per_vector =
      static_cast<double>(b.memory_bytes) / static_cast<double>(std::max<size_t>(index->size(), 1));
  b.kernel = index->KernelName();
  b.quant = QuantizationName(quant);
  {
    const IndexMemory m = index->Memory();
    const double n = static_cast<double>(std::max<size_t>(index->size(), 1));
    b.code_bytes = static_cast<double>(m.code_bytes_per_vector);
    b.graph_bytes = static_cast<double>(m.graph_bytes) / n;
    b.rerank_bytes = static_cast<double>(m.rerank_bytes) / n;
    b.rerank_mapped = m.rerank_mapped;
  }

  const std::string recall_col = PrintSearchHeader(o, "ef", "dists/q");

  SearchContext ctx;  // one context for the whole sweep, as a server thread would keep
  std::vector<PlotPoint> ours;
  // Without quantization there is nothing to re-rank: one point per ef.
  const std::vector<size_t> reranks =
      quant.kind == QuantKind::kNone ? std::vector<size_t>{0} : o.rerank_list;
  for (size_t ef : o.ef_list) {
    for (size_t rr : reranks) {
      OMENDB_ASSIGN_OR_RETURN(EfPoint p, MeasureEf(*index, w, o, ef, rr, &ctx));
      OMENDB_RETURN_IF_ERROR(ReportPoint(
          o, p, rr, reranks.size() > 1, "ef", [&] { return JsonLine(w, o, metric, b, p); },
          &json_out, &ours));
    }
  }

  std::printf("-- build (M=%u, efConstruction=%u)\n", o.M, o.ef_construction);
  std::printf("   1 thread : %8.2f s  (%.0f vectors/s)\n", b.build_s,
              static_cast<double>(w.base.rows) / b.build_s);
  if (std::isfinite(b.build_s_parallel)) {
    std::printf("   %d threads: %7.2f s  (speedup %.2fx)\n", threads, b.build_s_parallel,
                b.build_s / b.build_s_parallel);
  } else {
    std::printf("   parallel build skipped (%s)\n",
                o.no_parallel_build ? "--no-parallel-build" : "1 thread");
  }
  std::printf("   memory   : %.1f bytes/vector (index %.2f MiB); kernel %s\n", b.bytes_per_vector,
              static_cast<double>(b.memory_bytes) / (1024.0 * 1024.0), b.kernel.c_str());
  std::printf("   per vector: %s code %.0f B; graph (records + upper layers) %.1f B; "
              "re-rank store %.1f B%s\n",
              b.quant.c_str(), b.code_bytes, b.graph_bytes, b.rerank_bytes,
              b.rerank_mapped ? " (memory-mapped file, not counted in memory above)" : "");

  return FinishRun(o, w, metric, recall_col, "omendb", std::move(ours), peers,
                   "k=" + std::to_string(o.k) + ", M=" + std::to_string(o.M) +
                       ", efConstruction=" + std::to_string(o.ef_construction) +
                       "; 1 thread, one query per call; omendb kernel " + b.kernel);
}

// ---------------------------------------------------------------------------
// --index ivf: an IvfIndex (flat or IVF scan over RaBitQ codes with
// bound-driven exact re-ranking, docs/design/quant.md) swept over nprobe
// instead of ef. Same protocol, table and JSON fields as the HNSW sweep
// where they apply; "dists/q" is the codes scanned per query.

// One IVF point, by the protocol of MeasurePoint.
Result<EfPoint> MeasureIvf(const IvfIndex& index, const Workload& w, const BenchOptions& o,
                           size_t nprobe, size_t rerank) {
  const IvfSearchParams params{static_cast<uint32_t>(nprobe), rerank};
  return MeasurePoint(
      w, o, "nprobe", nprobe, rerank,
      [&](std::span<const float> q, std::span<Neighbor> out) {
        return index.Search(q, o.k, params, out);
      },
      [&](std::span<const float> q, std::span<Neighbor> out, SearchCounts* counts) {
        IvfSearchStats stats;
        auto r = index.Search(q, o.k, params, out, &stats);
        counts->dists += stats.codes_scanned;
        counts->hops += stats.lists_probed;
        counts->reranked += stats.reranked;
        return r;
      });
}

std::string IvfJsonLine(const Workload& w, const BenchOptions& o, Metric metric,
                        const BuildFacts& b, uint32_t nlist, const EfPoint& p) {
  return SearchJsonLine(
      w, o, metric, b, p, ",\"index\":\"ivf\"",
      ",\"nlist\":" + std::to_string(nlist) + ",\"nprobe\":" + std::to_string(p.ef),
      ",\"codes_scanned_per_query\":" + Number(p.dists_per_query) +
          ",\"lists_probed_per_query\":" + Number(p.hops_per_query),
      ",\"build_threads\":" + std::to_string(b.build_threads) +
          ",\"bytes_per_vector\":" + Number(b.bytes_per_vector) +
          ",\"code_bytes_per_vector\":" + Number(b.code_bytes) +
          ",\"rerank_bytes_per_vector\":" + Number(b.rerank_bytes));
}

Status RunIvf(const BenchOptions& o) {
  OMENDB_ASSIGN_OR_RETURN(Metric metric, ParseMetric(o.metric));
  Quantization quant{QuantKind::kRaBitQ, 4};
  if (o.quant_given) {
    OMENDB_ASSIGN_OR_RETURN(quant, ParseQuantization(o.quant));
    if (quant.kind != QuantKind::kRaBitQ) {
      return Status::InvalidArgument("--index ivf needs --quant rabitq[:B], got " + o.quant);
    }
  }
  if (o.rerank_store != "memory") {
    return Status::InvalidArgument("--index ivf keeps its re-rank vectors in memory");
  }
  std::ofstream json_out;
  std::vector<PlotSeries> peers;
  OMENDB_RETURN_IF_ERROR(OpenOutputs(o, &json_out, &peers));

  Workload w;
  OMENDB_RETURN_IF_ERROR(LoadWorkload(o, metric, &w));
  std::printf(
      "== omendb bench  dataset=%s  n=%zu dim=%zu queries=%zu metric=%s k=%zu  index=ivf "
      "nlist=%s  quant=%s  seed=%" PRIu64 "\n",
      w.name.c_str(), w.base.rows, w.base.dim, w.queries.rows, MetricName(metric), o.k,
      o.nlist == 0 ? "auto" : std::to_string(o.nlist).c_str(), QuantizationName(quant).c_str(),
      o.seed);
  std::printf("   ground truth: %s\n", w.groundtruth_source.c_str());
  std::fflush(stdout);

  IvfOptions opt;
  opt.dim = static_cast<uint32_t>(w.base.dim);
  opt.metric = metric;
  opt.quant = quant;
  opt.nlist = o.nlist;
  opt.seed = o.seed;
  OMENDB_ASSIGN_OR_RETURN(auto index, IvfIndex::Create(opt));
  std::vector<VectorId> ids(w.base.rows);
  std::iota(ids.begin(), ids.end(), VectorId{0});
  BuildFacts b;
  auto t0 = Clock::now();
  OMENDB_RETURN_IF_ERROR(index->AddBatch(w.base.data, ids).WithContext("build"));
  b.build_s = SecondsSince(t0);
  b.build_threads = util::ResolveThreads(0);  // k-means and encoding use every core
  const IvfMemory m = index->Memory();
  const double n = static_cast<double>(std::max<size_t>(index->size(), 1));
  b.memory_bytes = m.total();
  b.bytes_per_vector = static_cast<double>(m.total()) / n;
  b.code_bytes = static_cast<double>(m.code_bytes_per_vector);
  b.rerank_bytes = static_cast<double>(m.rerank_bytes) / n;
  b.kernel = index->KernelName();
  b.quant = QuantizationName(quant);
  Note("build (train + add, " + std::to_string(b.build_threads) + " threads): " +
       Fixed(b.build_s, 2) + " s, nlist " + std::to_string(index->nlist()));

  const std::string recall_col = PrintSearchHeader(o, "nprobe", "codes/q");
  std::vector<PlotPoint> ours;
  for (size_t nprobe : o.nprobe_list) {
    for (size_t rr : o.rerank_list) {
      OMENDB_ASSIGN_OR_RETURN(EfPoint p, MeasureIvf(*index, w, o, nprobe, rr));
      OMENDB_RETURN_IF_ERROR(ReportPoint(
          o, p, rr, o.rerank_list.size() > 1, "nprobe",
          [&] { return IvfJsonLine(w, o, metric, b, index->nlist(), p); }, &json_out, &ours));
    }
  }

  std::printf("-- build (nlist=%u)\n", index->nlist());
  std::printf("   %d threads: %7.2f s  (%.0f vectors/s)\n", b.build_threads, b.build_s,
              static_cast<double>(w.base.rows) / b.build_s);
  std::printf("   memory   : %.1f bytes/vector (index %.2f MiB); kernel %s\n", b.bytes_per_vector,
              static_cast<double>(b.memory_bytes) / (1024.0 * 1024.0), b.kernel.c_str());
  std::printf("   per vector: %s codes %.0f B (FastScan block share + 1-bit factors + full code); "
              "re-rank store %.1f B\n",
              b.quant.c_str(), b.code_bytes, b.rerank_bytes);
  return FinishRun(o, w, metric, recall_col, "omendb-ivf", std::move(ours), peers,
                   "k=" + std::to_string(o.k) + ", IVF nlist=" + std::to_string(index->nlist()) +
                       ", " + b.quant + "; 1 thread, one query per call; omendb kernel " +
                       b.kernel);
}

}  // namespace

Command AddBenchCommand(CLI::App& parent) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* app = parent.add_subcommand(
      "bench", "Build an HNSW index and measure recall@k vs single-thread QPS over an ef sweep");
  app->footer(
      "Data: --data DIR (TEXMEX base/query[/groundtruth] .fvecs/.bvecs, optionally .zst), "
      "--dataset NAME (a shared data set, e.g. siftsmall), or neither for generated clustered "
      "data. Ground truth is computed exactly when the data set has none.\n"
      "Exit codes: 0 success, 1 runtime error, 2 usage error.");

  // Paths are not checked by the parser: a missing data set or file is a
  // runtime error (exit 1) with the loader's message, not a usage error.
  auto* data = app->add_option("--data", o->data_dir, "TEXMEX data directory");
  app->add_option("--dataset", o->dataset, "Shared data set name, e.g. siftsmall, mnist-784")
      ->excludes(data);
  auto* n = app->add_option("--n", o->n, "Base vectors to generate (caps --data base if given)")
                ->capture_default_str()
                ->check(CLI::Range(size_t{1}, size_t{1} << 32));
  app->add_option("--dim", o->dim, "Dimension of generated data")
      ->capture_default_str()
      ->check(CLI::Range(1, 65536));
  app->add_option("--queries", o->queries, "Queries to generate")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{1} << 24));
  app->add_option("--clusters", o->clusters, "Clusters in generated data")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{1} << 24));
  app->add_option("--sigma", o->sigma, "Per-component noise of generated data")
      ->capture_default_str()
      ->check(CLI::Range(0.0f, 1000.0f));
  app->add_option("--k", o->k, "Neighbours per query; recall@k against groundtruth[:k]")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  app->add_option("--M", o->M, "HNSW out-degree bound M (layer 0: 2M)")
      ->capture_default_str()
      ->check(CLI::Range(2, 512));
  app->add_option("--ef-construction", o->ef_construction, "Beam width while building")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app->add_option("--ef", o->ef_list, "Comma-separated ef values to sweep")
      ->delimiter(',')
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  auto* quant_opt =
      app->add_option("--quant", o->quant,
                      "Quantization of the graph walk: none, fp16, sq8 or rabitq:B (B = 1..9); "
                      "--index ivf needs rabitq:B (default there rabitq:4)")
          ->capture_default_str();
  app->add_option("--index", o->index_kind,
                  "Index to benchmark: hnsw (graph, ef sweep) or ivf (IVF/flat scan over RaBitQ "
                  "codes, nprobe sweep)")
      ->check(CLI::IsMember({"hnsw", "ivf"}))
      ->capture_default_str();
  app->add_option("--nlist", o->nlist, "--index ivf: lists (0 = about 4 sqrt(n); 1 = flat scan)")
      ->capture_default_str()
      ->check(CLI::Range(0u, 1u << 24));
  app->add_option("--nprobe", o->nprobe_list,
                  "--index ivf: comma-separated nprobe values to sweep (instead of --ef)")
      ->delimiter(',')
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 24));
  app->add_option("--rerank", o->rerank_list,
                  "Comma-separated re-rank counts to sweep per ef (quantized only; 0 = auto)")
      ->delimiter(',')
      ->capture_default_str();
  app->add_option("--rerank-store", o->rerank_store,
                  "Where a quantized index keeps its full-precision vectors: memory, or mmap "
                  "(saved to $TMPDIR and read in place from the mapped file)")
      ->check(CLI::IsMember({"memory", "mmap"}))
      ->capture_default_str();
  app->add_option("--metric", o->metric, "Distance: l2, ip or cosine")
      ->capture_default_str()
      ->check([](const std::string& s) -> std::string {
        auto m = ParseMetric(s);
        return m.ok() ? std::string() : m.status().message();
      });
  app->add_option("--threads", o->threads, "Threads for the parallel build (0 = all cores)")
      ->capture_default_str()
      ->check(CLI::Range(0, 4096));
  app->add_option("--min-time", o->min_time, "Seconds per timed measurement")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 3600.0));
  app->add_option("--repeat", o->repeat, "Timed runs per ef; the median-QPS run is reported")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  app->add_option("--max-queries", o->max_queries, "Use at most this many queries (0 = all)")
      ->capture_default_str()
      ->check(kNotNegative);
  app->add_option("--seed", o->seed, "Seed for generated data and the index's level sampling")
      ->capture_default_str();
  app->add_option("--json", o->json_path, "Write one JSON object per ef to FILE (JSON lines)");
  app->add_option("--plot", o->plot_path, "Write a recall-vs-QPS SVG chart to FILE.svg");
  app->add_option("--compare", o->compare_path,
                  "peerbench JSON-lines output whose engines are added to the plot and summary");
  app->add_flag("--no-parallel-build", o->no_parallel_build, "Skip the timing-only parallel build");
  app->add_flag("--reorder", o->reorder,
                "Lay the graph out in breadth-first order after the build (HnswIndex::Reorder)");

  return Command{app, [o, n, quant_opt]() {
                   o->n_given = n->count() > 0;
                   o->quant_given = quant_opt->count() > 0;
                   return RunBench(*o);
                 }};
}

}  // namespace omendb::cli
