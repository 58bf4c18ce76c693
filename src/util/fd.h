// Small POSIX file-descriptor helpers shared by the data-set readers
// (dataset.cc, npy.cc), which read user files directly rather than through
// Env: they are tools' input, not database files.
#pragma once

#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <utility>

namespace omendb::util {

// An owned file descriptor (closed on destruction). Movable.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }
  int get() const { return fd_; }
  // Closes now, reporting the error a plain destructor would swallow.
  int Close() {
    int r = fd_ >= 0 ? ::close(fd_) : 0;
    fd_ = -1;
    return r;
  }

 private:
  int fd_ = -1;
};

// Reads up to n bytes, retrying on EINTR and short reads; returns the bytes
// read (< n only at end of file) or -1 with errno set.
inline ssize_t ReadFull(int fd, void* dst, size_t n) {
  auto* p = static_cast<uint8_t*>(dst);
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::read(fd, p + done, n - done);
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (r == 0) break;
    done += static_cast<size_t>(r);
  }
  return static_cast<ssize_t>(done);
}

}  // namespace omendb::util
