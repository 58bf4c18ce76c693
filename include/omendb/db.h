// DB: OmenDB's durable database. A directory holding named collections of
// vectors (each with a 64-bit id and optional metadata), a write-ahead log and
// checkpoint files.
//
// Typical use:
//   auto db = DB::Open("/data/vectors", DbOptions{});          // creates if missing
//   CollectionOptions co; co.dim = 128;
//   auto coll = (*db)->CreateCollection("images", co);        // Result<Collection*>
//   Status s = (*coll)->Upsert(ids, vectors, /*metadata=*/{});
//   SearchOptions so; so.k = 10; so.filter = Filter::Eq("lang", "en");
//   auto hits = (*coll)->Search(query, so);                   // Result<vector<Neighbor>>
//
// Durability. A write (Upsert, Delete, CreateCollection) is appended to the
// write-ahead log before it becomes visible; once it returns OK under the
// default WriteOptions it is on stable storage and survives a crash of the
// process or the machine. On open, the newest checkpoint is loaded and the
// log's valid prefix replayed (a torn record at the end of the log, left by a
// crash, is dropped: it was never acknowledged). A write that returns an error
// may or may not have taken effect; after a failed log write or sync the
// database refuses further writes (every write returns the first error) until
// it is reopened.
//
// Concurrency. One process at a time may open a directory (a lock on
// DIR/LOCK; a second Open gets kBusy). Inside the process every method may
// be called from any thread without user-side locking: writes are serialised
// internally (concurrent writers share log syncs under group commit), and
// searches and gets take no lock at all, run concurrently with writes,
// checkpoints and compactions, and are never blocked by them. A search that
// overlaps a write may or may not see it; a search that starts after a
// Delete returned never returns the deleted id. Replacing an id is not atomic
// for a search that overlaps it: such a search may miss the id (it never
// returns it twice). Get and Contains wait out a replacement in flight, so
// they always find an id that exists before and after it.
//
// Errors. Nothing here throws or aborts on bad input or a bad disk: every
// failure is a Status. kInvalidArgument for malformed arguments, kNotFound
// for a missing collection or id, kBusy for a locked directory, kCorruption
// for damaged files (naming the file), kResourceExhausted for a full disk,
// kIOError for other OS failures, kFailedPrecondition after Close or after a
// fatal write error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "omendb/env.h"
#include "omendb/filter.h"
#include "omendb/hnsw_index.h"
#include "omendb/metadata.h"
#include "omendb/status.h"
#include "omendb/types.h"

namespace omendb {

// When a write's log record is forced to stable storage.
enum class SyncMode : uint8_t {
  // fsync the log before every write returns (one sync per write). Durable.
  kEveryWrite,
  // Durable too: the write returns once its record is synced, but writes
  // issued concurrently from several threads are appended together and share
  // one sync (group commit), so throughput grows with the number of writers.
  kGroupCommit,
  // No sync: the record is handed to the OS before the write returns. It
  // survives a crash of the process, not a power loss or OS crash.
  kNone,
};

struct DbOptions {
  // Create the directory (one level) and an empty database if missing.
  bool create_if_missing = true;
  // Fail with kAlreadyExists if the directory already holds a database.
  bool error_if_exists = false;
  // Sync policy for writes that do not pass their own WriteOptions.
  SyncMode sync = SyncMode::kEveryWrite;
  // A checkpoint is taken automatically after a write once the log holds at
  // least this many bytes (0 disables automatic checkpoints).
  uint64_t checkpoint_log_bytes = 256ull << 20;
  // A collection is compacted at the next checkpoint once removed vectors
  // make up at least this fraction of its records (> 1 disables automatic
  // compaction; Compact() still works).
  double compaction_threshold = 0.25;
  // Threads used to insert large batches and to build during compaction
  // (0 = all cores). Log replay on open is always single-threaded, so two
  // opens of the same files give identical indexes.
  int num_threads = 0;
  // File system; nullptr means Env::Default(). Not owned; must outlive the DB.
  Env* env = nullptr;
};

struct WriteOptions {
  // Overrides DbOptions::sync for this write when set.
  std::optional<SyncMode> sync;
};

// Fixed when a collection is created.
struct CollectionOptions {
  uint32_t dim = 0;  // required, 1..65536
  Metric metric = Metric::kL2;
  uint32_t M = 16;                 // see HnswOptions
  uint32_t ef_construction = 200;  // see HnswOptions
  uint64_t seed = 42;              // see HnswOptions
  // Quantized graph walk with exact re-ranking (HnswOptions::quant): codes
  // are trained once the collection first holds quant_train_after vectors
  // (HnswOptions::quant_train_after, >= 1; until then searches are exact on
  // the floats); the full-precision vectors are kept too (Get returns them).
  Quantization quant;
  uint32_t quant_train_after = 1000;
};

struct SearchOptions {
  size_t k = 10;
  // Beam width; 0 means max(k, 64). Larger = higher recall, slower.
  size_t ef = 0;
  // Quantized collections: candidates re-ranked with exact distances
  // (SearchParams::rerank; 0 = automatic). Ignored otherwise.
  size_t rerank = 0;
  // Only vectors matching the filter are returned (default: all). A filtered
  // search returns k results whenever k matching vectors exist: rare filters
  // (estimated to pass under 2% of the collection) are answered by an exact
  // scan of the matches; others by a graph walk that passes through
  // non-matching vectors.
  Filter filter;
};

// One stored vector as returned by Get.
struct Record {
  VectorId id = 0;
  std::vector<float> vector;  // as stored (normalised under cosine)
  Metadata metadata;
};

struct CollectionStats {
  std::string name;
  CollectionOptions options;
  size_t live = 0;     // vectors stored
  size_t deleted = 0;  // removed vectors whose records are not yet reclaimed
  size_t memory_bytes = 0;  // index + metadata in memory
  // Quantized collections: true once the codec is trained (searches walk
  // on codes); false for float collections.
  bool quant_trained = false;
};

struct DbStats {
  std::vector<CollectionStats> collections;
  uint64_t log_bytes = 0;         // live write-ahead log
  uint64_t checkpoint_bytes = 0;  // live checkpoint files
  uint64_t manifest_sequence = 0;
  uint64_t checkpoints = 0;   // taken by this DB object
  uint64_t compactions = 0;   // done by this DB object
};

// Result of DB::Verify.
struct VerifyReport {
  uint64_t files_checked = 0;
  uint64_t bytes_checked = 0;
  std::vector<std::string> problems;  // human-readable, one per problem
  std::vector<std::pair<std::string, GraphReport>> graphs;  // per collection
  bool ok() const { return problems.empty(); }
};

// A named collection inside a DB. Owned by the DB: the pointer stays valid
// until the DB is closed or destroyed. All methods are thread-safe.
class Collection {
 public:
  virtual ~Collection();

  // Inserts or replaces ids.size() vectors, stored row-major in `vectors`
  // (ids.size() * dim floats). `metadata` is empty (no metadata) or holds one
  // entry per id. Replacing an id replaces its vector and its metadata. The
  // batch is all-or-nothing: every row is validated first (dimension,
  // finite values, non-zero under cosine, ValidateMetadata, no id twice in
  // the batch: kInvalidArgument naming the row) and logged as one record.
  virtual Status Upsert(std::span<const VectorId> ids, std::span<const float> vectors,
                        std::span<const Metadata> metadata = {},
                        const WriteOptions& options = {}) = 0;
  // Removes ids (ids not present are ignored). Searches that start after
  // this returns never return them. The graph around each removed vector is
  // repaired (MN-RU, docs/design/db.md).
  virtual Status Delete(std::span<const VectorId> ids, const WriteOptions& options = {}) = 0;

  // The stored vector and metadata of `id`; kNotFound if absent.
  virtual Result<Record> Get(VectorId id) const = 0;
  virtual bool Contains(VectorId id) const = 0;

  // Nearest neighbours of `query` (dim floats), nearest first, written to
  // out[0..n); returns n (< k only when fewer vectors match). Errors:
  // kInvalidArgument (wrong size, NaN/inf, k == 0, out too small, invalid
  // filter). An empty collection returns 0 results. Unfiltered searches make
  // no heap allocation once the calling thread has searched a collection of
  // this size.
  virtual Result<size_t> Search(std::span<const float> query, const SearchOptions& options,
                                std::span<Neighbor> out) const = 0;
  // Convenience form returning a new vector.
  Result<std::vector<Neighbor>> Search(std::span<const float> query,
                                       const SearchOptions& options) const;

  virtual size_t size() const = 0;  // live vectors
  virtual const std::string& name() const = 0;
  virtual const CollectionOptions& options() const = 0;
  virtual CollectionStats Stats() const = 0;
};

class DB {
 public:
  // Opens (or, per options, creates) the database in directory `dir`.
  // Errors: kNotFound (missing and !create_if_missing), kAlreadyExists
  // (error_if_exists), kBusy (another DB holds the directory), kCorruption
  // (a damaged manifest, checkpoint or log record), Env errors.
  static Result<std::unique_ptr<DB>> Open(const std::string& dir, const DbOptions& options = {});

  virtual ~DB();  // Close(), ignoring its status.

  // Creates a collection (durably, like a write). kAlreadyExists if the name
  // is taken; kInvalidArgument for a bad name (1..128 bytes of [A-Za-z0-9_.-])
  // or options.
  virtual Result<Collection*> CreateCollection(std::string_view name,
                                               const CollectionOptions& options) = 0;
  // The collection named `name`, or kNotFound.
  virtual Result<Collection*> GetCollection(std::string_view name) const = 0;
  virtual std::vector<std::string> ListCollections() const = 0;

  // Syncs the log: every write that returned before this call is durable
  // once it returns OK (useful with SyncMode::kNone).
  virtual Status Flush() = 0;
  // Writes every collection to a new checkpoint file, starts a new log and
  // removes the files no longer needed. Writers wait; searches do not.
  virtual Status Checkpoint() = 0;
  // Rebuilds collection `name` without its removed vectors (all collections
  // when empty), then checkpoints, giving the space back on disk. Searches
  // keep running on the old index until the new one replaces it.
  virtual Status Compact(std::string_view name = {}) = 0;
  // Reads every file back and checks it (checksums, record framing, log
  // record contents), and audits each collection's graph (CheckGraph). The
  // reachability audit a checkpoint would run on changes not yet audited
  // runs first (a few nodes stranded by recent removals are the normal state
  // between audits, not damage), so an unreachable node in the report is one
  // the repair could not reconnect. Problems are listed in the report; the
  // Status is an error only if the check itself could not run. Writers wait
  // while it runs; searches do not.
  virtual Result<VerifyReport> Verify() = 0;
  // Audits the graph of collection `name` as searches see it now, without
  // repairing anything (unlike Verify): nodes, removed records, reachable
  // nodes, structural violations. O(size * M); writers wait while it runs,
  // searches do not. kNotFound for an unknown collection.
  virtual Result<GraphReport> CheckGraph(std::string_view name) const = 0;
  // Finds nodes no longer reachable in each collection's graph and links
  // them back; returns how many were reconnected.
  virtual Result<size_t> RepairGraphs() = 0;

  virtual DbStats Stats() const = 0;
  virtual const std::string& path() const = 0;

  // Syncs the log and releases the directory lock. Later calls on this DB
  // or its collections return kFailedPrecondition. Idempotent.
  virtual Status Close() = 0;

 protected:
  DB() = default;
};

}  // namespace omendb
