#include "import_cmd.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "db_common.h"
#include "omendb/db.h"

namespace omendb::cli {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

struct ImportOptions {
  std::string dir;
  std::string file;
  std::string collection = kDefaultCollection;
  std::string start_id = "0";  // a string: CLI11 would wrap "-1" into 2^64-1
  size_t batch = 10000;
  std::string sync = "group";
  int threads = 0;
  std::string metric = "l2";
  uint32_t M = 16;
  uint32_t ef_construction = 200;
  bool quiet = false;
  bool metric_given = false;  // set after parsing: --metric was on the command line
};

SyncMode ParseSync(const std::string& s) {
  if (s == "every") return SyncMode::kEveryWrite;
  if (s == "none") return SyncMode::kNone;
  return SyncMode::kGroupCommit;  // "group"; the parser admits nothing else
}

// Rows done / total and the rate, on stderr. On a terminal one line is
// redrawn in place (at most 10 times a second); otherwise, so that logs stay
// short, a line is written every 5 seconds. The last state is always shown.
class Progress {
 public:
  Progress(bool enabled, size_t total)
      : enabled_(enabled && total > 0), tty_(isatty(2) == 1), total_(total) {}

  void Update(size_t done) {
    if (!enabled_) return;
    const auto now = Clock::now();
    const double since_draw = std::chrono::duration<double>(now - last_draw_).count();
    if (done < total_ && drawn_ && since_draw < (tty_ ? 0.1 : 5.0)) return;
    last_draw_ = now;
    drawn_ = true;
    const double secs = std::chrono::duration<double>(now - start_).count();
    const double rate = secs > 0 ? static_cast<double>(done) / secs : 0.0;
    std::fprintf(stderr, "%somendb import: %zu/%zu rows (%.1f%%), %.0f rows/s%s", tty_ ? "\r" : "",
                 done, total_, 100.0 * static_cast<double>(done) / static_cast<double>(total_),
                 rate, tty_ ? "   " : "\n");
    if (tty_ && done == total_) std::fputc('\n', stderr);
  }

 private:
  bool enabled_;
  bool tty_;
  size_t total_;
  bool drawn_ = false;
  Clock::time_point start_ = Clock::now();
  Clock::time_point last_draw_ = start_;
};

Status RunImport(const ImportOptions& o) {
  OMENDB_ASSIGN_OR_RETURN(const VectorId start_id, ParseVectorId(o.start_id));
  OMENDB_ASSIGN_OR_RETURN(const Metric metric, ParseMetric(o.metric));

  // The file first: a bad file should not leave a new, empty database behind.
  const auto t_read = Clock::now();
  OMENDB_ASSIGN_OR_RETURN(util::Matrix m, ReadVectorFile(o.file));
  const double read_s = SecondsSince(t_read);
  if (m.rows > 0 && start_id > std::numeric_limits<VectorId>::max() - (m.rows - 1)) {
    return Status::InvalidArgument("--start-id " + o.start_id + " + " + std::to_string(m.rows) +
                                   " rows would pass the largest id (2^64-1)");
  }

  DbOptions dbo;
  dbo.create_if_missing = true;
  dbo.sync = ParseSync(o.sync);
  dbo.num_threads = o.threads;
  auto opened = DB::Open(o.dir, dbo);
  if (!opened.ok()) return opened.status().WithContext("cannot open or create " + o.dir);
  DB& db = **opened;

  std::string summary;
  Collection* coll = nullptr;
  if (auto existing = db.GetCollection(o.collection); existing.ok()) {
    coll = *existing;
    const CollectionOptions& co = coll->options();
    if (co.dim != m.dim) {
      return Status::InvalidArgument(o.file + " holds vectors of dimension " +
                                     std::to_string(m.dim) + " but collection '" + o.collection +
                                     "' has dimension " + std::to_string(co.dim));
    }
    if (o.metric_given && co.metric != metric) {
      return Status::InvalidArgument("--metric " + std::string(MetricName(metric)) +
                                     " does not match collection '" + o.collection +
                                     "', which uses " + MetricName(co.metric));
    }
  } else if (existing.status().IsNotFound()) {
    CollectionOptions co;
    co.dim = static_cast<uint32_t>(m.dim);
    co.metric = metric;
    co.M = o.M;
    co.ef_construction = o.ef_construction;
    OMENDB_ASSIGN_OR_RETURN(coll, db.CreateCollection(o.collection, co));
    summary += "created collection '" + o.collection + "' (dim " + std::to_string(co.dim) +
               ", metric " + MetricName(co.metric) + ")\n";
  } else {
    return existing.status();
  }

  Progress progress(!o.quiet, m.rows);
  std::vector<VectorId> ids;
  ids.reserve(std::min(o.batch, m.rows));
  size_t batches = 0;
  const auto t_import = Clock::now();
  for (size_t row = 0; row < m.rows; row += o.batch) {
    const size_t n = std::min(o.batch, m.rows - row);
    ids.resize(n);
    for (size_t i = 0; i < n; ++i) ids[i] = start_id + row + i;
    std::span<const float> vectors(m.row(row), n * m.dim);
    Status s = coll->Upsert(ids, vectors);
    if (!s.ok()) {
      // Earlier batches are stored; say which rows failed so a rerun with
      // --start-id can resume.
      return s.WithContext(o.file + " rows " + std::to_string(row) + ".." +
                           std::to_string(row + n - 1) + " (" + std::to_string(row) +
                           " rows before them are stored)");
    }
    ++batches;
    progress.Update(row + n);
  }
  const double import_s = SecondsSince(t_import);

  const auto t_ckpt = Clock::now();
  OMENDB_RETURN_IF_ERROR(db.Checkpoint().WithContext("checkpoint after the import"));
  const double ckpt_s = SecondsSince(t_ckpt);
  const size_t live = coll->size();
  OMENDB_RETURN_IF_ERROR(db.Close());

  char line[640];
  if (m.rows > 0) {
    std::snprintf(line, sizeof line,
                  "imported %zu vectors (dim %zu) from %s into collection '%s': ids %" PRIu64
                  "..%" PRIu64 ", %zu batches\n",
                  m.rows, m.dim, o.file.c_str(), o.collection.c_str(), start_id,
                  start_id + (m.rows - 1), batches);
  } else {
    std::snprintf(line, sizeof line, "%s holds no vectors; nothing imported\n", o.file.c_str());
  }
  summary += line;
  std::snprintf(line, sizeof line,
                "time: read %.2f s, upsert %.2f s (%.0f vectors/s), checkpoint %.2f s; "
                "the collection now holds %zu vectors\n",
                read_s, import_s, import_s > 0 ? static_cast<double>(m.rows) / import_s : 0.0,
                ckpt_s, live);
  summary += line;
  return WriteOut(stdout, summary);
}

}  // namespace

Command AddImportCommand(CLI::App& parent) {
  auto o = std::make_shared<ImportOptions>();
  CLI::App* app = parent.add_subcommand(
      "import", "Upsert the vectors of a .fvecs/.bvecs(.zst)/.npy file into a collection");
  app->footer(ExitCodeFooter(
      "Row r of FILE gets id START-ID + r; existing ids are replaced. The collection is "
      "created with the file's dimension if missing (and the database too). The file is read "
      "into memory first; the database checkpoints at the end.\n"
      "Example: omendb import /data/vectors base.fvecs --batch 5000"));
  app->add_option("DIR", o->dir, "Database directory (created if missing)")->required();
  app->add_option("FILE", o->file, "Vectors: .fvecs, .bvecs (optionally .zst) or .npy")->required();
  AddCollectionOption(app, &o->collection);
  app->add_option("--start-id", o->start_id, "Id of the file's first row")
      ->capture_default_str()
      ->check(VectorIdValidator());
  app->add_option("--batch", o->batch, "Rows per Upsert call (one log record each)")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{1} << 24));
  app->add_option("--sync", o->sync,
                  "Log sync: every (fsync per batch), group (group commit), none (no fsync; "
                  "the final checkpoint still makes the import durable)")
      ->capture_default_str()
      ->check(CLI::IsMember({"every", "group", "none"}));
  app->add_option("--threads", o->threads, "Insert threads per batch (0 = all cores)")
      ->capture_default_str()
      ->check(CLI::Range(0, 4096));
  auto* metric = app->add_option("--metric", o->metric,
                                 "Distance if the collection is created: l2, ip or cosine (if "
                                 "given for an existing collection, it must match)")
                     ->capture_default_str()
                     ->check(MetricValidator());
  app->add_option("--M", o->M, "HNSW M if the collection is created")
      ->capture_default_str()
      ->check(CLI::Range(2, 512));
  app->add_option("--ef-construction", o->ef_construction,
                  "Beam width while inserting, if the collection is created")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app->add_flag("--quiet,-q", o->quiet, "No progress lines on stderr");
  return Command{app, [o, metric]() {
                   o->metric_given = metric->count() > 0;
                   return RunImport(*o);
                 }};
}

}  // namespace omendb::cli
