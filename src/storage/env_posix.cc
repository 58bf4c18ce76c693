// The POSIX Env (Env::Default()). See include/omendb/env.h for the contracts.
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#include "omendb/env.h"

namespace omendb {

// Out-of-line virtual destructors give each interface one home for its vtable.
WritableFile::~WritableFile() = default;
SequentialFile::~SequentialFile() = default;
RandomAccessFile::~RandomAccessFile() = default;
MmapRegion::~MmapRegion() = default;
FileLock::~FileLock() = default;
Env::~Env() = default;

Status ErrnoToStatus(std::string_view context, int err) {
  std::string msg(context);
  msg += ": ";
  if (err == 0) {
    msg += "unknown error";
    return Status::IOError(msg);
  }
  switch (err) {
    case ENOENT:
      msg += std::strerror(err);
      return Status::NotFound(msg);
    case ENOSPC:
    case EDQUOT:
      msg += "disk full (";
      msg += std::strerror(err);
      msg += ")";
      return Status::ResourceExhausted(msg);
    default:
      msg += std::strerror(err);
      return Status::IOError(msg);
  }
}

namespace {

// `err` is passed by value so callers read errno before any allocation here
// (malloc is allowed to change errno even when it succeeds).
Status PosixError(const std::string& path, const char* op, int err) {
  std::string context = path;
  context += ": ";
  context += op;
  return ErrnoToStatus(context, err);
}

// close() is not retried on EINTR: on Linux the descriptor is released even
// when close reports EINTR, and retrying could close a descriptor another
// thread has just been given.
int CloseFd(int fd) { return ::close(fd); }

int OpenRetry(const char* path, int flags, mode_t mode = 0) {
  int fd;
  do {
    fd = ::open(path, flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

// Writes all of [data, data + n), looping over short writes and EINTR.
Status WriteAll(int fd, const char* data, size_t n, const std::string& path) {
  while (n > 0) {
    ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return PosixError(path, "write", errno);
    }
    if (w == 0) {
      // write(2) on a regular file only returns 0 for n == 0; looping would spin.
      return Status::IOError(path + ": write: wrote 0 bytes");
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
  return Status::OK();
}

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {
    buf_.reserve(kBufferSize);
  }
  ~PosixWritableFile() override {
    if (fd_ >= 0) (void)Close();  // errors are the caller's to see via Close()
  }

  Status Append(std::string_view data) override {
    if (fd_ < 0) return Closed();
    // Small appends (WAL headers and records) are coalesced into one write(2);
    // data larger than the buffer goes straight to the kernel, after whatever
    // is buffered, to avoid copying it.
    if (buf_.size() + data.size() <= kBufferSize) {
      buf_.append(data);
      return Status::OK();
    }
    OMENDB_RETURN_IF_ERROR(FlushBuffer());
    if (data.size() <= kBufferSize) {
      buf_.append(data);
      return Status::OK();
    }
    return WriteAll(fd_, data.data(), data.size(), path_);
  }

  Status Flush() override {
    if (fd_ < 0) return Closed();
    return FlushBuffer();
  }

  Status Sync() override {
    if (fd_ < 0) return Closed();
    OMENDB_RETURN_IF_ERROR(FlushBuffer());
    // fdatasync also persists the file size (needed to read the data back),
    // skipping only metadata such as mtime.
    int r;
    do {
      r = ::fdatasync(fd_);
    } while (r < 0 && errno == EINTR);
    if (r < 0) return PosixError(path_, "fdatasync", errno);
    return Status::OK();
  }

  Status Close() override {
    if (fd_ < 0) return Status::OK();
    Status s = FlushBuffer();
    if (CloseFd(fd_) < 0 && s.ok()) s = PosixError(path_, "close", errno);
    fd_ = -1;
    return s;
  }

 private:
  static constexpr size_t kBufferSize = 64 * 1024;

  Status FlushBuffer() {
    if (buf_.empty()) return Status::OK();
    Status s = WriteAll(fd_, buf_.data(), buf_.size(), path_);
    // Dropped even on failure: after a failed write the file's contents are
    // unknown and the caller must abandon it, so retrying would only mislead.
    buf_.clear();
    return s;
  }
  Status Closed() const { return Status::FailedPrecondition(path_ + ": file is closed"); }

  std::string path_;
  int fd_;
  std::string buf_;
};

class PosixSequentialFile final : public SequentialFile {
 public:
  PosixSequentialFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixSequentialFile() override { CloseFd(fd_); }

  Result<std::string_view> Read(size_t n, char* scratch) override {
    // Loops until n bytes or end of file, so callers can treat a short read as
    // end of file (read(2) may return less on signals or for pipes).
    size_t got = 0;
    while (got < n) {
      ssize_t r = ::read(fd_, scratch + got, n - got);
      if (r < 0) {
        if (errno == EINTR) continue;
        return PosixError(path_, "read", errno);
      }
      if (r == 0) break;
      got += static_cast<size_t>(r);
    }
    return std::string_view(scratch, got);
  }

  Status Skip(uint64_t n) override {
    if (n > static_cast<uint64_t>(INT64_MAX)) n = INT64_MAX;
    if (::lseek(fd_, static_cast<off_t>(n), SEEK_CUR) < 0) {
      // Seeking past the end of a regular file is allowed; an overflow of the
      // offset is the only way here, and it means "past the end" as well.
      if (errno == EOVERFLOW || errno == EINVAL) {
        if (::lseek(fd_, 0, SEEK_END) >= 0) return Status::OK();
      }
      return PosixError(path_, "lseek", errno);
    }
    return Status::OK();
  }

 private:
  std::string path_;
  int fd_;
};

class PosixRandomAccessFile final : public RandomAccessFile {
 public:
  PosixRandomAccessFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixRandomAccessFile() override { CloseFd(fd_); }

  Result<std::string_view> Read(uint64_t offset, size_t n, char* scratch) const override {
    // pread keeps no shared file position, which is what makes concurrent
    // Reads safe without a lock.
    size_t got = 0;
    while (got < n) {
      uint64_t pos = offset + got;
      if (pos > static_cast<uint64_t>(INT64_MAX)) break;  // beyond any real file
      ssize_t r = ::pread(fd_, scratch + got, n - got, static_cast<off_t>(pos));
      if (r < 0) {
        if (errno == EINTR) continue;
        int err = errno;
        return ErrnoToStatus(path_ + ": pread at offset " + std::to_string(pos), err);
      }
      if (r == 0) break;
      got += static_cast<size_t>(r);
    }
    return std::string_view(scratch, got);
  }

 private:
  std::string path_;
  int fd_;
};

class PosixMmapRegion final : public MmapRegion {
 public:
  PosixMmapRegion(void* base, size_t size) : base_(base), size_(size) {}
  ~PosixMmapRegion() override {
    if (base_ != nullptr) ::munmap(base_, size_);
  }
  const char* data() const override { return static_cast<const char*>(base_); }
  size_t size() const override { return size_; }

 private:
  void* base_;
  size_t size_;
};

class PosixFileLock final : public FileLock {
 public:
  PosixFileLock(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  // Closing the descriptor releases the flock, so destruction alone unlocks.
  ~PosixFileLock() override {
    if (fd_ >= 0) CloseFd(fd_);
  }

  Status Release() {
    Status s;
    if (::flock(fd_, LOCK_UN) < 0) s = PosixError(path_, "flock(LOCK_UN)", errno);
    if (CloseFd(fd_) < 0 && s.ok()) s = PosixError(path_, "close", errno);
    fd_ = -1;
    return s;
  }

 private:
  std::string path_;
  int fd_;
};

class PosixEnv final : public Env {
 public:
  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override {
    return OpenWritable(path, O_WRONLY | O_CREAT | O_TRUNC);
  }

  Result<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& path) override {
    return OpenWritable(path, O_WRONLY | O_CREAT | O_APPEND);
  }

  Result<std::unique_ptr<SequentialFile>> NewSequentialFile(const std::string& path) override {
    int fd = OpenRetry(path.c_str(), O_RDONLY);
    if (fd < 0) return PosixError(path, "open", errno);
    return std::unique_ptr<SequentialFile>(new PosixSequentialFile(path, fd));
  }

  Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(const std::string& path) override {
    int fd = OpenRetry(path.c_str(), O_RDONLY);
    if (fd < 0) return PosixError(path, "open", errno);
    return std::unique_ptr<RandomAccessFile>(new PosixRandomAccessFile(path, fd));
  }

  Result<std::unique_ptr<MmapRegion>> NewMmapRegion(const std::string& path) override {
    int fd = OpenRetry(path.c_str(), O_RDONLY);
    if (fd < 0) return PosixError(path, "open", errno);
    struct stat st;
    if (::fstat(fd, &st) < 0) {
      Status s = PosixError(path, "fstat", errno);
      CloseFd(fd);
      return s;
    }
    if (!S_ISREG(st.st_mode)) {
      CloseFd(fd);
      return Status::IOError(path + ": mmap: not a regular file");
    }
    size_t size = static_cast<size_t>(st.st_size);
    void* base = nullptr;
    // mmap rejects a zero length, so an empty file is an empty region with no
    // mapping behind it.
    if (size > 0) {
      base = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
      if (base == MAP_FAILED) {
        Status s = PosixError(path, "mmap", errno);
        CloseFd(fd);
        return s;
      }
    }
    // The mapping keeps its own reference to the file; the descriptor is not
    // needed any more.
    CloseFd(fd);
    return std::unique_ptr<MmapRegion>(new PosixMmapRegion(base, size));
  }

  Result<bool> FileExists(const std::string& path) override {
    if (::access(path.c_str(), F_OK) == 0) return true;
    if (errno == ENOENT || errno == ENOTDIR) return false;
    return PosixError(path, "access", errno);
  }

  Result<uint64_t> GetFileSize(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) < 0) return PosixError(path, "stat", errno);
    return static_cast<uint64_t>(st.st_size);
  }

  Result<std::vector<std::string>> GetChildren(const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return PosixError(dir, "opendir", errno);
    std::vector<std::string> names;
    for (;;) {
      // readdir signals both end and error with nullptr; only errno tells them apart.
      errno = 0;
      struct dirent* e = ::readdir(d);
      if (e == nullptr) break;
      if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
      names.emplace_back(e->d_name);
    }
    int err = errno;
    ::closedir(d);
    if (err != 0) return PosixError(dir, "readdir", err);
    return names;
  }

  Status RemoveFile(const std::string& path) override {
    if (::unlink(path.c_str()) < 0) return PosixError(path, "unlink", errno);
    return Status::OK();
  }

  Status RenameFile(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) < 0) {
      int err = errno;
      return ErrnoToStatus(from + ": rename to " + to, err);
    }
    return Status::OK();
  }

  Status CreateDir(const std::string& dir) override {
    if (::mkdir(dir.c_str(), 0755) == 0) return Status::OK();
    int err = errno;
    if (err == EEXIST) {
      struct stat st;
      if (::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return Status::OK();
      return Status::AlreadyExists(dir + ": mkdir: exists and is not a directory");
    }
    return PosixError(dir, "mkdir", err);
  }

  Status SyncDir(const std::string& dir) override {
    int fd = OpenRetry(dir.c_str(), O_RDONLY | O_DIRECTORY);
    if (fd < 0) return PosixError(dir, "open directory", errno);
    Status s;
    int r;
    do {
      r = ::fsync(fd);
    } while (r < 0 && errno == EINTR);
    if (r < 0) s = PosixError(dir, "fsync directory", errno);
    CloseFd(fd);
    return s;
  }

  Status TruncateFile(const std::string& path, uint64_t size) override {
    if (size > static_cast<uint64_t>(INT64_MAX)) {
      return Status::InvalidArgument(path + ": truncate: size too large");
    }
    int r;
    do {
      r = ::truncate(path.c_str(), static_cast<off_t>(size));
    } while (r < 0 && errno == EINTR);
    if (r < 0) return PosixError(path, "truncate", errno);
    return Status::OK();
  }

  Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) override {
    int fd = OpenRetry(path.c_str(), O_RDWR | O_CREAT, 0644);
    if (fd < 0) return PosixError(path, "open lock file", errno);
    // flock, unlike fcntl record locks, belongs to the open file description:
    // a second open+flock in this same process conflicts too (fcntl locks
    // would silently succeed there), and closing some unrelated descriptor
    // for the same file does not drop the lock.
    int r;
    do {
      r = ::flock(fd, LOCK_EX | LOCK_NB);
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
      int err = errno;
      CloseFd(fd);
      if (err == EWOULDBLOCK) {
        return Status::Busy(path +
                            ": lock is held by another process or another handle in this "
                            "process (is the database already open?)");
      }
      return PosixError(path, "flock", err);
    }
    return std::unique_ptr<FileLock>(new PosixFileLock(path, fd));
  }

  Status UnlockFile(std::unique_ptr<FileLock> lock) override {
    if (lock == nullptr) return Status::InvalidArgument("UnlockFile: null lock");
    // Every FileLock this Env hands out is a PosixFileLock; a lock from another
    // Env here is a caller bug the contract rules out.
    return static_cast<PosixFileLock*>(lock.get())->Release();
  }

  uint64_t NowMicros() override {
    struct timeval tv;
    ::gettimeofday(&tv, nullptr);
    return static_cast<uint64_t>(tv.tv_sec) * 1000000u + static_cast<uint64_t>(tv.tv_usec);
  }

 private:
  Result<std::unique_ptr<WritableFile>> OpenWritable(const std::string& path, int flags) {
    int fd = OpenRetry(path.c_str(), flags, 0644);
    if (fd < 0) return PosixError(path, "open", errno);
    return std::unique_ptr<WritableFile>(new PosixWritableFile(path, fd));
  }
};

}  // namespace

Env* Env::Default() {
  // Leaked on purpose: destroying it at exit could race with threads (or
  // static destructors) still doing I/O.
  static Env* const env = new PosixEnv;
  return env;
}

}  // namespace omendb
