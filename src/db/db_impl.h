// DbImpl: the database behind omendb::DB (docs/design/db.md).
//
// Writes go through a queue (leveldb's writer queue): the writer at the front
// appends its log record and those of the writers queued behind it, syncs
// once, applies them in log order and wakes them. Operations that need the
// database to themselves (checkpoint, compaction, verify, close) take the
// front position alone. Searches never enter the queue.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "db/collection_impl.h"
#include "db/records.h"
#include "omendb/db.h"
#include "storage/manifest.h"
#include "storage/wal.h"

namespace omendb::db {

class DbImpl final : public DB {
 public:
  static Result<std::unique_ptr<DB>> Open(const std::string& dir, const DbOptions& options);
  ~DbImpl() override;

  Result<Collection*> CreateCollection(std::string_view name,
                                       const CollectionOptions& options) override;
  Result<Collection*> GetCollection(std::string_view name) const override;
  std::vector<std::string> ListCollections() const override;
  Status Flush() override;
  Status Checkpoint() override;
  Status Compact(std::string_view name) override;
  Result<VerifyReport> Verify() override;
  Result<size_t> RepairGraphs() override;
  Result<GraphReport> CheckGraph(std::string_view name) const override;
  DbStats Stats() const override;
  const std::string& path() const override { return dir_; }
  Status Close() override;

  // ---- For collections. ----
  // Logs `record` and then runs `apply` as one write, in log order with all
  // other writes. A failure to log or apply poisons the database for writes.
  Status Write(std::string_view record, const std::function<Status()>& apply,
               const WriteOptions& options);
  // kFailedPrecondition once closed.
  Status CheckOpen() const;
  // CheckOpen, then the error that poisoned writes, if any.
  Status CheckWritable() const;
  // Takes a checkpoint if the log has grown past DbOptions::checkpoint_log_bytes.
  void MaybeCheckpoint();
  int threads() const { return threads_; }

 private:
  struct Writer;

  DbImpl(Env* env, std::string dir, const DbOptions& options);
  Status OpenOrCreate();
  Status LoadCheckpoint(const std::string& name);
  Status ReplayLog(const std::string& name, bool last);
  Status ApplyRecord(const LogRecord& r);
  // Runs `fn` with the database to itself (no write in flight).
  Status RunExclusive(const std::function<Status()>& fn) const;
  Status Enqueue(Writer* w) const;
  // Body of Checkpoint / Compact, run exclusively.
  Status DoCheckpoint(bool compact_all, std::string_view only);
  void SetFatal(const Status& s) const;
  CollectionImpl* Find(std::string_view name) const;
  std::string FilePath(const std::string& name) const { return dir_ + "/" + name; }
  std::string NewFileName(const char* ext);

  Env* const env_;
  const std::string dir_;
  const DbOptions options_;
  const int threads_;
  std::unique_ptr<FileLock> lock_;

  // Writer queue.
  mutable std::mutex mu_;
  mutable std::deque<Writer*> writers_;
  mutable Status fatal_;  // guarded by mu_; first failure that poisons writes
  std::atomic<bool> closed_{false};
  std::atomic<bool> poisoned_{false};

  // Owned by the writer at the front of the queue.
  std::unique_ptr<WritableFile> log_file_;
  std::unique_ptr<storage::WalWriter> log_;
  storage::Manifest manifest_;
  uint64_t next_file_ = 1;

  // Read by Stats and MaybeCheckpoint without the queue.
  std::atomic<uint64_t> log_bytes_{0};
  std::atomic<uint64_t> checkpoint_bytes_{0};
  std::atomic<uint64_t> manifest_sequence_{0};
  std::atomic<uint64_t> checkpoints_{0};
  std::atomic<uint64_t> compactions_{0};

  // Collections in creation order; never removed while the DB lives.
  mutable std::shared_mutex collections_mu_;
  std::vector<std::unique_ptr<CollectionImpl>> collections_;
  std::mutex create_mu_;  // serialises CreateCollection's name check and write
};

}  // namespace omendb::db
