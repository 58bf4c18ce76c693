// Env: the one seam through which OmenDB touches files and the clock.
//
// Every byte the storage layer reads or writes goes through an Env, so tests
// can substitute one that injects failures or simulates power loss
// (tests/testutil/fault_env.h). Env::Default() is the POSIX implementation.
//
// Errors. Nothing here throws or aborts on a failure from the OS; each call
// returns a Status (or a Result) built by ErrnoToStatus():
//   ENOENT          -> kNotFound
//   ENOSPC, EDQUOT  -> kResourceExhausted, message says "disk full"
//   anything else   -> kIOError
// Messages name the path (and, where it helps, the operation and offset) and
// end with strerror(errno), e.g. "/db/000001.wal: write: No space left on device".
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "omendb/status.h"

namespace omendb {

// Builds the Status the default Env returns when a call on `context`
// (normally a path, optionally followed by ": <operation>") fails with errno
// value `err`; see the mapping above. `err` == 0 yields kIOError with the
// message "<context>: unknown error". Exposed so other Env implementations
// report failures the same way. Thread-safe.
Status ErrnoToStatus(std::string_view context, int err);

// A file opened for sequential writing. Data passed to Append may sit in a
// user-space buffer until Flush, Sync or Close; only Sync makes it durable.
//
// Thread safety: not thread-safe; one thread at a time (external locking).
// Ownership: the object owns its file descriptor. Destroying it without
// Close() still flushes and closes the file, but any error is lost, so call
// Close() when the outcome matters.
class WritableFile {
 public:
  WritableFile() = default;
  virtual ~WritableFile();
  WritableFile(const WritableFile&) = delete;
  WritableFile& operator=(const WritableFile&) = delete;

  // Appends `data` at the end of the file. On error some prefix of `data` may
  // have reached the file; the file should then be abandoned.
  virtual Status Append(std::string_view data) = 0;
  // Hands buffered data to the operating system (it survives a crash of this
  // process but not a power loss).
  virtual Status Flush() = 0;
  // Flush, then wait until the data and the file size are on stable storage
  // (fdatasync). A file newly created also needs its directory synced
  // (Env::SyncDir) before its name is durable.
  virtual Status Sync() = 0;
  // Flush and release the file. Further calls other than Close return
  // kFailedPrecondition; a second Close returns OK.
  virtual Status Close() = 0;
};

// A file read from start to end.
//
// Thread safety: not thread-safe; one thread at a time.
class SequentialFile {
 public:
  SequentialFile() = default;
  virtual ~SequentialFile();
  SequentialFile(const SequentialFile&) = delete;
  SequentialFile& operator=(const SequentialFile&) = delete;

  // Reads up to `n` bytes from the current position. `scratch` must hold at
  // least `n` bytes; the returned view points into `scratch` or into memory
  // owned by the file, and stays valid until the next call on this file or
  // until `scratch` is reused. Fewer than `n` bytes are returned only at end
  // of file (an empty view means the position is at end of file).
  // Errors: kIOError (and the other mappings above).
  virtual Result<std::string_view> Read(size_t n, char* scratch) = 0;
  // Moves the position forward by `n` bytes. Skipping past the end of the
  // file is not an error; later reads return nothing.
  virtual Status Skip(uint64_t n) = 0;
};

// A file read at arbitrary offsets.
//
// Thread safety: Read may be called concurrently from any number of threads.
class RandomAccessFile {
 public:
  RandomAccessFile() = default;
  virtual ~RandomAccessFile();
  RandomAccessFile(const RandomAccessFile&) = delete;
  RandomAccessFile& operator=(const RandomAccessFile&) = delete;

  // Reads up to `n` bytes starting at `offset`; same view lifetime rules as
  // SequentialFile::Read. Fewer than `n` bytes are returned only when the
  // read reaches end of file; an offset at or past the end returns an empty
  // view. Errors: kIOError (and the other mappings above).
  virtual Result<std::string_view> Read(uint64_t offset, size_t n, char* scratch) const = 0;
};

// A read-only memory mapping of a whole file, taken when the region was
// created. The mapping stays valid for the object's lifetime, even if the
// file is later renamed or removed. Writing through data() is undefined
// behaviour (the pages are mapped PROT_READ); if the file is truncated by
// someone else while mapped, touching pages past the new end raises SIGBUS,
// so map only files that are no longer written.
//
// Thread safety: data() and size() may be used from any thread.
class MmapRegion {
 public:
  MmapRegion() = default;
  virtual ~MmapRegion();
  MmapRegion(const MmapRegion&) = delete;
  MmapRegion& operator=(const MmapRegion&) = delete;

  // First byte of the file's contents; nullptr when size() == 0.
  virtual const char* data() const = 0;
  // Length of the file when it was mapped.
  virtual size_t size() const = 0;
};

// An exclusive advisory lock on a file, held while this object lives.
// Obtained from Env::LockFile; release it with Env::UnlockFile to see errors
// (destroying it also releases the lock, silently).
class FileLock {
 public:
  FileLock() = default;
  virtual ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
};

// Access to the file system and the clock.
//
// Thread safety: every method may be called concurrently from any thread.
// Paths are passed to the OS unchanged (relative paths resolve against the
// current directory). Returned file objects are owned by the caller and must
// not outlive the Env that created them.
class Env {
 public:
  Env() = default;
  virtual ~Env();
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;

  // The process-wide POSIX Env. Never null, never destroyed; safe to call from
  // any thread, including during static initialisation.
  static Env* Default();

  // Creates `path`, or truncates it to zero length if it exists, and opens it
  // for writing. Errors: kNotFound (missing directory), kIOError, ...
  virtual Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) = 0;
  // Opens `path` for writing at its end, creating it (empty) if missing.
  virtual Result<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& path) = 0;
  // Opens an existing file for reading from its start. kNotFound if missing.
  virtual Result<std::unique_ptr<SequentialFile>> NewSequentialFile(const std::string& path) = 0;
  // Opens an existing file for positional reads. kNotFound if missing.
  virtual Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string& path) = 0;
  // Maps all of an existing file read-only (an empty file gives an empty
  // region). kNotFound if missing; kIOError if it cannot be mapped.
  virtual Result<std::unique_ptr<MmapRegion>> NewMmapRegion(const std::string& path) = 0;

  // True if `path` names an existing file or directory, false if it does not
  // exist; an error (e.g. kIOError for a permission problem) if the OS cannot
  // tell.
  virtual Result<bool> FileExists(const std::string& path) = 0;
  // Size in bytes of the file at `path`. kNotFound if missing.
  virtual Result<uint64_t> GetFileSize(const std::string& path) = 0;
  // Names (not paths) of the entries of directory `dir`, excluding "." and
  // "..", in no particular order. kNotFound if `dir` is missing.
  virtual Result<std::vector<std::string>> GetChildren(const std::string& dir) = 0;
  // Removes the file `path` (not a directory). kNotFound if missing. The
  // removal is durable only after SyncDir on its directory.
  virtual Status RemoveFile(const std::string& path) = 0;
  // Atomically renames `from` to `to`, replacing `to` if it exists (POSIX
  // rename). kNotFound if `from` is missing. Durable only after SyncDir on
  // the directory (both directories, if they differ).
  virtual Status RenameFile(const std::string& from, const std::string& to) = 0;
  // Creates directory `dir` (mode 0755 before umask). OK if a directory
  // already exists there; kAlreadyExists if something else does; kNotFound if
  // the parent is missing. Does not create parents.
  virtual Status CreateDir(const std::string& dir) = 0;
  // Makes the directory's entries (creations, renames, removals) durable
  // (fsync on the directory). kNotFound if `dir` is missing.
  virtual Status SyncDir(const std::string& dir) = 0;
  // Sets the size of file `path` to `size` bytes, cutting or zero-extending.
  // kNotFound if missing. Not durable until the file is synced.
  virtual Status TruncateFile(const std::string& path, uint64_t size) = 0;

  // Takes an exclusive advisory lock on `path` (creating the file if needed),
  // without waiting. A lock held by another process, or by another FileLock
  // in this process, makes this return kBusy with a message naming the path.
  // The lock is released by UnlockFile, by destroying the FileLock, or when
  // the process exits (including a crash). Advisory: it only excludes other
  // LockFile callers.
  virtual Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) = 0;
  // Releases a lock from LockFile of this Env and destroys it.
  // kInvalidArgument if `lock` is null.
  virtual Status UnlockFile(std::unique_ptr<FileLock> lock) = 0;

  // Wall-clock time in microseconds since the Unix epoch. Not monotonic (it
  // follows clock adjustments); use std::chrono::steady_clock for intervals.
  virtual uint64_t NowMicros() = 0;
};

}  // namespace omendb
