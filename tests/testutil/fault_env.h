// FaultInjectionEnv: an Env wrapper for tests that makes chosen operations
// fail, counts operations, and simulates a power loss by discarding data that
// was never synced.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "omendb/env.h"

namespace omendb::testutil {

// Kinds of mutating operation, for fault injection and counters.
enum class FaultOp : int {
  kWrite = 0,  // WritableFile::Append
  kSync,       // WritableFile::Sync
  kRename,     // Env::RenameFile
  kRemove,     // Env::RemoveFile
  kTruncate,   // Env::TruncateFile
  kCreate,     // Env::NewWritableFile, NewAppendableFile, CreateDir
  kSyncDir,    // Env::SyncDir
  kAny,        // for InjectFault only: every kind above, counted together
};
inline constexpr int kNumFaultOps = static_cast<int>(FaultOp::kAny);

// The error an injected fault returns: what EIO or ENOSPC from the OS would
// give (kIOError, or kResourceExhausted "disk full"), with "injected" in the
// message.
enum class FaultError { kIO, kNoSpace };

// Wraps `base` (not owned; must outlive this object). Every call is forwarded
// to `base` unless a fault fires, in which case nothing is forwarded and the
// injected error is returned.
//
// Unsynced data is tracked for files opened for writing through this Env:
// DropUnsyncedData() then behaves like a power loss. What is modelled:
//  * data appended but not synced (WritableFile::Sync) is lost;
//  * a file created through this Env whose directory was not synced
//    (SyncDir) after the creation is deleted;
// What is not: renames and removals are treated as durable at once, and
// nothing is reordered or torn inside a synced range.
//
// Writable files from this Env pass every Append straight through to the base
// file and flush it, so the base never holds buffered data that could reach
// the disk after a simulated power loss.
//
// Thread safety: all methods may be called concurrently.
class FaultInjectionEnv : public Env {
 public:
  explicit FaultInjectionEnv(Env* base);
  ~FaultInjectionEnv() override;

  // Makes the `nth` (1-based) operation of kind `op` counted from now fail
  // with `error`. With `persistent`, that operation and every later one of the
  // kind fail until ClearFaults(). Replaces any earlier fault for `op`; faults
  // on different kinds (including kAny) are independent. `nth` == 0 is
  // treated as 1.
  void InjectFault(FaultOp op, uint64_t nth, FaultError error = FaultError::kIO,
                   bool persistent = false);
  // Removes every pending fault.
  void ClearFaults();
  // Number of faults that have fired since construction.
  uint64_t faults_fired() const;

  // Operations of kind `op` attempted since construction or ResetCounters
  // (including ones that failed). `op` must not be kAny.
  uint64_t OpCount(FaultOp op) const;
  void ResetCounters();

  // Simulates a power loss: every tracked file is truncated to its last synced
  // size, and tracked files created since their directory's last SyncDir are
  // deleted. Files still open from this Env become dead: every later call on
  // them returns kIOError. Tracking restarts from the surviving state. Returns
  // the first error from the base Env (other files are still processed).
  Status DropUnsyncedData();

  // Bytes appended to `path` through this Env and not yet synced; 0 if not
  // tracked.
  uint64_t UnsyncedBytes(const std::string& path) const;

  // Env interface.
  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override;
  Result<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& path) override;
  Result<std::unique_ptr<SequentialFile>> NewSequentialFile(const std::string& path) override;
  Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(const std::string& path) override;
  Result<std::unique_ptr<MmapRegion>> NewMmapRegion(const std::string& path) override;
  Result<bool> FileExists(const std::string& path) override;
  Result<uint64_t> GetFileSize(const std::string& path) override;
  Result<std::vector<std::string>> GetChildren(const std::string& dir) override;
  Status RemoveFile(const std::string& path) override;
  Status RenameFile(const std::string& from, const std::string& to) override;
  Status CreateDir(const std::string& dir) override;
  Status SyncDir(const std::string& dir) override;
  Status TruncateFile(const std::string& path, uint64_t size) override;
  Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) override;
  Status UnlockFile(std::unique_ptr<FileLock> lock) override;
  uint64_t NowMicros() override;

 private:
  class FaultWritableFile;

  struct FileState {
    uint64_t size = 0;              // bytes in the file as written through us
    uint64_t synced_size = 0;       // size at the last successful Sync
    bool new_unsynced_dir = false;  // created here; directory not synced since
  };
  struct Fault {
    bool armed = false;
    uint64_t remaining = 0;  // operations to let pass before failing
    FaultError error = FaultError::kIO;
    bool persistent = false;
  };

  // Counts an operation of kind `op` on `what` and returns the injected error
  // if a fault fires for it, else OK.
  Status Check(FaultOp op, const std::string& what);
  Status CheckLocked(FaultOp op, const std::string& what);
  Result<std::unique_ptr<WritableFile>> OpenWritable(const std::string& path, bool truncate);
  // Hooks for FaultWritableFile, called with mu_ not held.
  Status FileAppend(const std::string& path, uint64_t epoch, WritableFile* base,
                    std::string_view data);
  Status FileSync(const std::string& path, uint64_t epoch, WritableFile* base);
  bool Alive(uint64_t epoch) const;

  Env* const base_;
  mutable std::mutex mu_;
  std::map<std::string, FileState> files_;
  Fault faults_[kNumFaultOps + 1];
  uint64_t counts_[kNumFaultOps] = {};
  uint64_t faults_fired_ = 0;
  uint64_t epoch_ = 0;  // bumped by DropUnsyncedData; files from older epochs are dead
};

}  // namespace omendb::testutil
