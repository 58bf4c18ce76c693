#include "util/dataset.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <string_view>
#include <utility>

#include "util/fd.h"

namespace omendb::util {
namespace {

// TEXMEX stores every dimension field as a little-endian int32; a dimension
// above this is treated as corruption, so one bad field can never make us
// allocate gigabytes for "one record".
constexpr int64_t kMaxDim = 65536;

// Bytes of whole records read per block: large enough to amortise the per-call
// cost of read()/ZSTD_decompressStream, small enough to stay in L2/L3.
constexpr size_t kBlockBytes = size_t{4} << 20;

// A .zst file cannot plausibly expand more than this; used only to cap the
// up-front reservation taken from an (untrusted) frame header. Data that really
// expands further is still read: the vector then grows geometrically.
constexpr uint64_t kMaxTrustedZstdRatio = 64;

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool IsZstdPath(const std::string& path) { return EndsWith(path, ".zst"); }

std::string ErrnoMessage(const std::string& path, const char* what, int err) {
  return path + ": " + what + ": " + std::strerror(err);
}

Status OpenError(const std::string& path, int err) {
  if (err == ENOENT || err == ENOTDIR) return Status::NotFound(path + ": no such file");
  return Status::IOError(ErrnoMessage(path, "cannot open", err));
}

uint32_t LoadLe32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap32(v);
  return v;
}

void StoreLe32(uint8_t* p, uint32_t v) {
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap32(v);
  std::memcpy(p, &v, 4);
}

// A sequential byte stream: a plain file or a zstd-decompressed one.
class Source {
 public:
  virtual ~Source() = default;
  // Fills dst with up to n bytes; returns fewer than n only at the end of the
  // data. Errors: IOError, Corruption (undecodable compressed data).
  virtual Result<size_t> Read(void* dst, size_t n) = 0;
  // Expected total bytes (exact for plain files, a hint taken from the zstd
  // frame header otherwise), or 0 if unknown. Used to size allocations.
  virtual uint64_t SizeHint() const = 0;
  // True if SizeHint() is the exact size, so truncation can be diagnosed up front.
  virtual bool SizeIsExact() const = 0;
  // Suffix for byte offsets in messages: plain offsets are file offsets,
  // compressed ones refer to the decompressed stream.
  virtual const char* OffsetKind() const = 0;
};

class PlainSource final : public Source {
 public:
  PlainSource(Fd fd, std::string path, uint64_t size)
      : fd_(std::move(fd)), path_(std::move(path)), size_(size) {}

  Result<size_t> Read(void* dst, size_t n) override {
    ssize_t r = ReadFull(fd_.get(), dst, n);
    if (r < 0) return Status::IOError(ErrnoMessage(path_, "read failed", errno));
    return static_cast<size_t>(r);
  }
  uint64_t SizeHint() const override { return size_; }
  bool SizeIsExact() const override { return true; }
  const char* OffsetKind() const override { return "byte offset"; }

 private:
  Fd fd_;
  std::string path_;
  uint64_t size_;
};

struct DctxDeleter {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

// Streams a .zst file through ZSTD_decompressStream with fixed-size buffers,
// so memory use does not depend on the (untrusted) frame header. Concatenated
// frames are decoded in sequence, as the zstd tool does.
class ZstdSource final : public Source {
 public:
  ZstdSource(Fd fd, std::string path, uint64_t compressed_size)
      : fd_(std::move(fd)), path_(std::move(path)), compressed_size_(compressed_size) {}

  Status Init() {
    dctx_.reset(ZSTD_createDCtx());
    if (!dctx_) return Status::ResourceExhausted(path_ + ": cannot allocate a zstd context");
    in_buf_.resize(ZSTD_DStreamInSize());
    OMENDB_RETURN_IF_ERROR(Refill());
    if (in_.size == 0) return Status::Corruption(path_ + ": empty file is not a zstd stream");
    unsigned long long declared = ZSTD_getFrameContentSize(in_.src, in_.size);
    if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared != ZSTD_CONTENTSIZE_ERROR) {
      size_hint_ = std::min<uint64_t>(declared, compressed_size_ * kMaxTrustedZstdRatio);
    }
    return Status::OK();
  }

  Result<size_t> Read(void* dst, size_t n) override {
    ZSTD_outBuffer out{dst, n, 0};
    while (out.pos < out.size) {
      if (in_.pos == in_.size && !eof_) OMENDB_RETURN_IF_ERROR(Refill());
      size_t in_before = in_.pos, out_before = out.pos;
      size_t ret = ZSTD_decompressStream(dctx_.get(), &out, &in_);
      if (ZSTD_isError(ret)) {
        return Status::Corruption(path_ + ": zstd: " + ZSTD_getErrorName(ret) +
                                  " (compressed byte offset about " +
                                  std::to_string(consumed_ + in_.pos) + ")");
      }
      bool progress = in_.pos != in_before || out.pos != out_before;
      // Only a call that did work says where the stream stands: once a frame
      // is complete, an idle call returns the header size of a next frame.
      if (progress) frame_done_ = ret == 0;
      if (!progress && in_.pos == in_.size && eof_) {
        // No more input and the decoder has flushed everything it holds.
        if (!frame_done_) {
          return Status::Corruption(path_ +
                                    ": truncated zstd stream (the last frame ends early, "
                                    "after " +
                                    std::to_string(produced_ + out.pos) + " decompressed bytes)");
        }
        break;
      }
    }
    produced_ += out.pos;
    return out.pos;
  }
  uint64_t SizeHint() const override { return size_hint_; }
  bool SizeIsExact() const override { return false; }
  const char* OffsetKind() const override { return "decompressed byte offset"; }

 private:
  Status Refill() {
    consumed_ += in_.size;
    ssize_t r = ReadFull(fd_.get(), in_buf_.data(), in_buf_.size());
    if (r < 0) return Status::IOError(ErrnoMessage(path_, "read failed", errno));
    if (r == 0) eof_ = true;
    in_ = ZSTD_inBuffer{in_buf_.data(), static_cast<size_t>(r), 0};
    return Status::OK();
  }

  Fd fd_;
  std::string path_;
  uint64_t compressed_size_;
  std::unique_ptr<ZSTD_DCtx, DctxDeleter> dctx_;
  std::vector<uint8_t> in_buf_;
  ZSTD_inBuffer in_{nullptr, 0, 0};
  uint64_t consumed_ = 0;  // compressed bytes before in_buf_
  uint64_t produced_ = 0;  // decompressed bytes handed out
  uint64_t size_hint_ = 0;
  bool eof_ = false;
  bool frame_done_ = false;
};

Result<std::unique_ptr<Source>> OpenSource(const std::string& path) {
  int raw = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (raw < 0) return OpenError(path, errno);
  Fd fd(raw);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return Status::IOError(ErrnoMessage(path, "stat failed", errno));
  if (!S_ISREG(st.st_mode)) return Status::InvalidArgument(path + ": not a regular file");
  auto size = static_cast<uint64_t>(st.st_size);
  if (IsZstdPath(path)) {
    auto src = std::make_unique<ZstdSource>(std::move(fd), path, size);
    OMENDB_RETURN_IF_ERROR(src->Init());
    return std::unique_ptr<Source>(std::move(src));
  }
  return std::unique_ptr<Source>(std::make_unique<PlainSource>(std::move(fd), path, size));
}

// Element types of the three formats. Convert() turns one record's payload
// into output values; it returns false (and sets *bad) on a value the format
// does not allow.
struct FloatFormat {
  using Out = float;
  static constexpr size_t kElemBytes = 4;
  static bool Convert(const uint8_t* p, size_t dim, float* out, size_t* bad) {
    // Branch-free so the compiler vectorises it: this loop is most of the cost
    // of loading a large base set. The slow search for the offending column
    // runs only on failure.
    uint32_t non_finite = 0;
    for (size_t j = 0; j < dim; ++j) {
      uint32_t bits = LoadLe32(p + 4 * j);
      // All-ones exponent = inf or NaN; tested on the bits, which no
      // floating-point optimisation can assume away.
      non_finite |= static_cast<uint32_t>((bits & 0x7f800000u) == 0x7f800000u);
      out[j] = std::bit_cast<float>(bits);
    }
    if (non_finite == 0) return true;
    for (size_t j = 0; j < dim; ++j) {
      if (!std::isfinite(out[j])) {
        *bad = j;
        break;
      }
    }
    return false;
  }
};

struct ByteFormat {
  using Out = float;
  static constexpr size_t kElemBytes = 1;
  static bool Convert(const uint8_t* p, size_t dim, float* out, size_t*) {
    for (size_t j = 0; j < dim; ++j) out[j] = static_cast<float>(p[j]);
    return true;
  }
};

struct IntFormat {
  using Out = int32_t;
  static constexpr size_t kElemBytes = 4;
  static bool Convert(const uint8_t* p, size_t dim, int32_t* out, size_t*) {
    for (size_t j = 0; j < dim; ++j) out[j] = static_cast<int32_t>(LoadLe32(p + 4 * j));
    return true;
  }
};

// The output of ReadRecords before it is wrapped in Matrix / IdMatrix.
template <class T>
struct Table {
  std::vector<T> data;
  size_t rows = 0;
  size_t dim = 0;
};

std::string TruncatedMessage(const std::string& path, const Source& src, uint64_t offset,
                             uint64_t record_bytes, uint64_t have) {
  return path + ": truncated record at " + src.OffsetKind() + " " + std::to_string(offset) +
         ": a record is " + std::to_string(record_bytes) + " bytes but only " +
         std::to_string(have) + " remain";
}

// Reads a whole TEXMEX file of format F. Every record's dimension field is
// checked against the first; allocation never exceeds what the data itself
// (file size, or decompressed bytes actually seen) justifies.
template <class F>
Result<Table<typename F::Out>> ReadRecords(const std::string& path, size_t max_rows) {
  using Out = typename F::Out;
  OMENDB_ASSIGN_OR_RETURN(std::unique_ptr<Source> src, OpenSource(path));
  Table<Out> t;

  uint8_t head[4];
  OMENDB_ASSIGN_OR_RETURN(size_t got, src->Read(head, 4));
  if (got == 0) return t;  // an empty file holds zero vectors
  if (got < 4) return Status::Corruption(TruncatedMessage(path, *src, 0, 4, got));
  const auto first_dim = static_cast<int32_t>(LoadLe32(head));
  if (first_dim <= 0 || first_dim > kMaxDim) {
    return Status::Corruption(path + ": invalid dimension field " + std::to_string(first_dim) +
                              " at byte offset 0 (must be 1.." + std::to_string(kMaxDim) + ")");
  }
  const size_t dim = static_cast<size_t>(first_dim);
  const uint64_t record_bytes = 4 + dim * F::kElemBytes;
  t.dim = dim;

  // Whole-file truncation is known before reading anything when the size is
  // exact; report the offset of the incomplete last record.
  uint64_t expected_rows = 0;
  if (src->SizeIsExact()) {
    uint64_t size = src->SizeHint();
    if (size % record_bytes != 0) {
      uint64_t last = size - size % record_bytes;
      return Status::Corruption(TruncatedMessage(path, *src, last, record_bytes, size - last) +
                                " (file size " + std::to_string(size) +
                                " is not a whole number of records of dimension " +
                                std::to_string(dim) + ")");
    }
    expected_rows = size / record_bytes;
  } else {
    expected_rows = src->SizeHint() / record_bytes;
  }
  const uint64_t reserve_rows = std::min<uint64_t>(expected_rows, max_rows);
  t.data.reserve(static_cast<size_t>(reserve_rows * dim));

  // The block holds whole records; the first record's dimension field was
  // already consumed, so it is put back at the front of the first block.
  const size_t block_records = std::max<size_t>(1, kBlockBytes / record_bytes);
  std::vector<uint8_t> block(block_records * record_bytes);
  bool first_block = true;
  uint64_t offset = 0;  // stream offset of block[0]
  while (t.rows < max_rows) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(block_records, max_rows - t.rows));
    size_t want_bytes = want * record_bytes;
    size_t filled = 0;
    if (first_block) {
      std::memcpy(block.data(), head, 4);
      filled = 4;
      first_block = false;
    }
    OMENDB_ASSIGN_OR_RETURN(size_t n, src->Read(block.data() + filled, want_bytes - filled));
    filled += n;
    size_t whole = filled / record_bytes;
    if (filled % record_bytes != 0) {
      uint64_t bad = offset + whole * record_bytes;
      return Status::Corruption(
          TruncatedMessage(path, *src, bad, record_bytes, filled % record_bytes));
    }
    if (whole == 0) break;

    size_t base = t.data.size();
    t.data.resize(base + whole * dim);
    for (size_t r = 0; r < whole; ++r) {
      const uint8_t* rec = block.data() + r * record_bytes;
      auto d = static_cast<int32_t>(LoadLe32(rec));
      if (d != first_dim) {
        return Status::Corruption(
            path + ": record " + std::to_string(t.rows + r) + " at " + src->OffsetKind() + " " +
            std::to_string(offset + r * record_bytes) + " has dimension field " +
            std::to_string(d) + ", but the first record has " + std::to_string(first_dim));
      }
      size_t bad_col = 0;
      if (!F::Convert(rec + 4, dim, t.data.data() + base + r * dim, &bad_col)) {
        return Status::InvalidArgument(path + ": non-finite value at row " +
                                       std::to_string(t.rows + r) + " (0-based), component " +
                                       std::to_string(bad_col));
      }
    }
    t.rows += whole;
    offset += filled;
    if (filled < want_bytes) break;  // end of data
  }
  return t;
}

bool PathExists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::exists(path, ec);
}

bool IsDirectory(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_directory(path, ec);
}

struct CctxDeleter {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};

// Writes bytes to a temporary file next to the target and renames it into
// place on Finish(), so a failed or interrupted write never leaves a truncated
// file under the final name. A ".zst" target is compressed on the way.
class Sink {
 public:
  explicit Sink(std::string path) : path_(std::move(path)) {}
  ~Sink() {
    if (!tmp_.empty()) {
      fd_.Close();
      ::unlink(tmp_.c_str());
    }
  }
  Sink(const Sink&) = delete;
  Sink& operator=(const Sink&) = delete;

  Status Open() {
    tmp_ = path_ + ".tmp." + std::to_string(::getpid());
    int raw = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (raw < 0) {
      std::string t = std::move(tmp_);
      tmp_.clear();
      if (errno == ENOENT) return Status::NotFound(path_ + ": directory does not exist");
      return Status::IOError(ErrnoMessage(t, "cannot create", errno));
    }
    fd_ = Fd(raw);
    if (IsZstdPath(path_)) {
      cctx_.reset(ZSTD_createCCtx());
      if (!cctx_) return Status::ResourceExhausted("cannot allocate a zstd context");
      ZSTD_CCtx_setParameter(cctx_.get(), ZSTD_c_compressionLevel, 3);
      ZSTD_CCtx_setParameter(cctx_.get(), ZSTD_c_checksumFlag, 1);
      zbuf_.resize(ZSTD_CStreamOutSize());
    }
    return Status::OK();
  }

  Status Write(const void* data, size_t n) {
    if (!cctx_) return WriteRaw(data, n);
    ZSTD_inBuffer in{data, n, 0};
    while (in.pos < in.size) OMENDB_RETURN_IF_ERROR(Compress(&in, ZSTD_e_continue));
    return Status::OK();
  }

  Status Finish() {
    if (cctx_) {
      ZSTD_inBuffer in{nullptr, 0, 0};
      for (;;) {
        OMENDB_ASSIGN_OR_RETURN(size_t remaining, CompressStep(&in, ZSTD_e_end));
        if (remaining == 0) break;
      }
    }
    if (fd_.Close() != 0) return Status::IOError(ErrnoMessage(tmp_, "close failed", errno));
    if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
      return Status::IOError(ErrnoMessage(path_, "rename failed", errno));
    }
    tmp_.clear();
    return Status::OK();
  }

 private:
  Status WriteRaw(const void* data, size_t n) {
    const auto* p = static_cast<const uint8_t*>(data);
    while (n > 0) {
      ssize_t w = ::write(fd_.get(), p, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        return Status::IOError(ErrnoMessage(tmp_, "write failed", errno));
      }
      p += w;
      n -= static_cast<size_t>(w);
    }
    return Status::OK();
  }
  Result<size_t> CompressStep(ZSTD_inBuffer* in, ZSTD_EndDirective mode) {
    ZSTD_outBuffer out{zbuf_.data(), zbuf_.size(), 0};
    size_t ret = ZSTD_compressStream2(cctx_.get(), &out, in, mode);
    if (ZSTD_isError(ret)) return Status::Internal(std::string("zstd: ") + ZSTD_getErrorName(ret));
    OMENDB_RETURN_IF_ERROR(WriteRaw(zbuf_.data(), out.pos));
    return ret;
  }
  Status Compress(ZSTD_inBuffer* in, ZSTD_EndDirective mode) {
    return CompressStep(in, mode).status();
  }

  std::string path_;
  std::string tmp_;
  Fd fd_;
  std::unique_ptr<ZSTD_CCtx, CctxDeleter> cctx_;
  std::vector<uint8_t> zbuf_;
};

// Shared writer: `encode(row, dst)` writes one row's dim * 4 payload bytes.
template <class Encode>
Status WriteRecords(const std::string& path, size_t rows, size_t dim, size_t data_size,
                    Encode encode) {
  if (data_size != rows * dim) {
    return Status::InvalidArgument(path + ": matrix holds " + std::to_string(data_size) +
                                   " values, expected rows * dim = " + std::to_string(rows * dim));
  }
  if (rows > 0 && (dim == 0 || dim > static_cast<size_t>(kMaxDim))) {
    return Status::InvalidArgument(path + ": dimension " + std::to_string(dim) + " is outside 1.." +
                                   std::to_string(kMaxDim));
  }
  Sink sink(path);
  OMENDB_RETURN_IF_ERROR(sink.Open());
  const size_t record_bytes = 4 + 4 * dim;
  const size_t block_records = std::max<size_t>(1, kBlockBytes / record_bytes);
  std::vector<uint8_t> block;
  block.reserve(std::min(rows, block_records) * record_bytes);
  for (size_t r0 = 0; r0 < rows; r0 += block_records) {
    size_t n = std::min(block_records, rows - r0);
    block.resize(n * record_bytes);
    for (size_t r = 0; r < n; ++r) {
      uint8_t* rec = block.data() + r * record_bytes;
      StoreLe32(rec, static_cast<uint32_t>(dim));
      OMENDB_RETURN_IF_ERROR(encode(r0 + r, rec + 4));
    }
    OMENDB_RETURN_IF_ERROR(sink.Write(block.data(), block.size()));
  }
  return sink.Finish();
}

// xoshiro256** seeded through splitmix64 (Blackman and Vigna): fixed integer
// arithmetic, so the stream is identical on every platform and standard library.
class Rng {
 public:
  explicit Rng(uint64_t seed) {
    for (auto& s : s_) s = SplitMix(&seed);
  }
  uint64_t Next() {
    const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
  }
  // Uniform in [0, 1) with 53 random bits.
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  // Uniform integer in [0, n) (Lemire's multiply-shift; the bias of at most
  // n / 2^64 is irrelevant here and keeps the draw count fixed per call).
  uint64_t Below(uint64_t n) {
    __extension__ using U128 = unsigned __int128;  // GCC/Clang builtin; silences -Wpedantic
    return static_cast<uint64_t>((static_cast<U128>(Next()) * n) >> 64);
  }
  // Standard normal by Box-Muller. Both outputs of a pair are used. Computed in
  // double, where libm's last-ulp differences essentially never survive the
  // rounding to float; std::normal_distribution is avoided because its
  // algorithm differs between standard libraries.
  double Gaussian() {
    if (have_spare_) {
      have_spare_ = false;
      return spare_;
    }
    double u1 = 1.0 - Uniform();  // (0, 1]: log(u1) is finite
    double u2 = Uniform();
    double radius = std::sqrt(-2.0 * std::log(u1));
    double angle = 2.0 * 3.14159265358979323846 * u2;
    spare_ = radius * std::sin(angle);
    have_spare_ = true;
    return radius * std::cos(angle);
  }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static uint64_t SplitMix(uint64_t* x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  uint64_t s_[4];
  double spare_ = 0.0;
  bool have_spare_ = false;
};

}  // namespace

Result<Matrix> ReadFvecs(const std::string& path, size_t max_rows) {
  OMENDB_ASSIGN_OR_RETURN(auto t, ReadRecords<FloatFormat>(path, max_rows));
  return Matrix{std::move(t.data), t.rows, t.dim};
}

Result<Matrix> ReadBvecs(const std::string& path, size_t max_rows) {
  OMENDB_ASSIGN_OR_RETURN(auto t, ReadRecords<ByteFormat>(path, max_rows));
  return Matrix{std::move(t.data), t.rows, t.dim};
}

Result<IdMatrix> ReadIvecs(const std::string& path, size_t max_rows) {
  OMENDB_ASSIGN_OR_RETURN(auto t, ReadRecords<IntFormat>(path, max_rows));
  return IdMatrix{std::move(t.data), t.rows, t.dim};
}

Result<Matrix> ReadVectors(const std::string& stem, size_t max_rows) {
  // Plain files first: they are faster to read than their compressed twins.
  for (const char* ext : {".fvecs", ".fvecs.zst"}) {
    if (PathExists(stem + ext)) return ReadFvecs(stem + ext, max_rows);
  }
  for (const char* ext : {".bvecs", ".bvecs.zst"}) {
    if (PathExists(stem + ext)) return ReadBvecs(stem + ext, max_rows);
  }
  return Status::NotFound(stem + ".{fvecs,bvecs}[.zst]: no such file");
}

Status WriteFvecs(const std::string& path, const Matrix& m) {
  return WriteRecords(path, m.rows, m.dim, m.data.size(), [&](size_t r, uint8_t* dst) {
    const float* row = m.row(r);
    for (size_t j = 0; j < m.dim; ++j) {
      // Refuse what ReadFvecs would refuse, so a written file always reads back.
      if (!std::isfinite(row[j])) {
        return Status::InvalidArgument(path + ": non-finite value at row " + std::to_string(r) +
                                       ", component " + std::to_string(j));
      }
      StoreLe32(dst + 4 * j, std::bit_cast<uint32_t>(row[j]));
    }
    return Status::OK();
  });
}

Status WriteIvecs(const std::string& path, const IdMatrix& m) {
  return WriteRecords(path, m.rows, m.cols, m.data.size(), [&](size_t r, uint8_t* dst) {
    const int32_t* row = m.row(r);
    for (size_t j = 0; j < m.cols; ++j) StoreLe32(dst + 4 * j, static_cast<uint32_t>(row[j]));
    return Status::OK();
  });
}

Result<Dataset> LoadTexmexDir(const std::string& dir, size_t max_base, size_t max_queries) {
  if (!IsDirectory(dir)) {
    if (PathExists(dir)) return Status::InvalidArgument(dir + ": not a directory");
    return Status::NotFound(dir + ": data directory does not exist");
  }
  Dataset ds;
  // "a/b/" normalises to a path whose filename() is empty; name it "b" too.
  std::filesystem::path norm = std::filesystem::path(dir).lexically_normal();
  ds.name = norm.has_filename() ? norm.filename().string() : norm.parent_path().filename().string();

  OMENDB_ASSIGN_OR_RETURN(ds.base, ReadVectors(dir + "/base", max_base));
  OMENDB_ASSIGN_OR_RETURN(ds.queries, ReadVectors(dir + "/query", max_queries));
  if (ds.base.rows == 0) return Status::InvalidArgument(dir + ": base file holds no vectors");
  if (ds.queries.rows == 0) return Status::InvalidArgument(dir + ": query file holds no vectors");
  if (ds.base.dim != ds.queries.dim) {
    return Status::InvalidArgument(dir + ": dimension mismatch: base vectors have dimension " +
                                   std::to_string(ds.base.dim) + ", queries have " +
                                   std::to_string(ds.queries.dim));
  }

  std::string gt_path;
  for (const char* name : {"/groundtruth.ivecs", "/groundtruth.ivecs.zst"}) {
    if (PathExists(dir + name)) {
      gt_path = dir + name;
      break;
    }
  }
  if (gt_path.empty()) return ds;
  // Only the rows of the queries actually loaded are needed.
  OMENDB_ASSIGN_OR_RETURN(ds.groundtruth, ReadIvecs(gt_path, ds.queries.rows));
  if (ds.groundtruth.rows < ds.queries.rows) {
    return Status::Corruption(gt_path + ": holds " + std::to_string(ds.groundtruth.rows) +
                              " rows but there are " + std::to_string(ds.queries.rows) +
                              " queries");
  }
  // Ids must name base rows. If the base was capped by max_base, ids beyond the
  // cap are expected: that ground truth no longer applies and is dropped, so
  // the caller recomputes it. Otherwise an out-of-range id is corruption.
  const bool base_capped = ds.base.rows == max_base;
  for (size_t i = 0; i < ds.groundtruth.data.size(); ++i) {
    int32_t id = ds.groundtruth.data[i];
    if (id >= 0 && static_cast<size_t>(id) < ds.base.rows) continue;
    if (id >= 0 && base_capped) {
      ds.groundtruth = IdMatrix{};
      return ds;
    }
    return Status::Corruption(gt_path + ": id " + std::to_string(id) + " in row " +
                              std::to_string(i / ds.groundtruth.cols) + " is not a base row (0.." +
                              std::to_string(ds.base.rows - 1) + ")");
  }
  return ds;
}

Matrix GenerateClustered(size_t rows, size_t dim, size_t clusters, float sigma, uint64_t seed) {
  Matrix m;
  m.rows = rows;
  m.dim = dim;
  m.data.resize(rows * dim);
  if (rows == 0 || dim == 0) return m;
  clusters = std::max<size_t>(clusters, 1);
  Rng rng(seed);
  // All centres are drawn first, then rows: the output for a given
  // (clusters, dim, seed) does not depend on how many rows are asked for, so a
  // longer run's prefix equals a shorter run.
  std::vector<float> centres(clusters * dim);
  for (float& c : centres) c = static_cast<float>(2.0 * rng.Uniform() - 1.0);
  for (size_t r = 0; r < rows; ++r) {
    const float* c = centres.data() + rng.Below(clusters) * dim;
    float* out = m.row(r);
    for (size_t j = 0; j < dim; ++j) {
      out[j] = static_cast<float>(static_cast<double>(c[j]) +
                                  static_cast<double>(sigma) * rng.Gaussian());
    }
  }
  return m;
}

std::string FindDataDir(const std::string& name) {
  // A name is one path component; anything else could escape the data folder.
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos) {
    return "";
  }
  namespace fs = std::filesystem;
  if (const char* env = std::getenv("OMENDB_DATA"); env != nullptr && *env != '\0') {
    // An explicit OMENDB_DATA is the only place looked at, so a typo there
    // is noticed instead of silently falling back to another copy.
    std::string p = (fs::path(env) / name).string();
    return IsDirectory(p) ? p : "";
  }
  std::vector<fs::path> roots;
  std::error_code ec;
  // The current directory and its ancestors, so the CLI finds the data from
  // the checkout root as well as from build/<preset>/.
  for (fs::path p = fs::current_path(ec); !ec && !p.empty(); p = p.parent_path()) {
    roots.push_back(p);
    if (p == p.parent_path()) break;
  }
  if (const char* src = std::getenv("OMENDB_SOURCE_DIR"); src != nullptr && *src != '\0') {
    fs::path source = fs::path(src).lexically_normal();
    if (!source.has_filename()) source = source.parent_path();  // drop a trailing '/'
    roots.push_back(source);
    roots.push_back(source.parent_path());
  }
  for (const fs::path& root : roots) {
    std::string p = (root / ".." / "shared" / "data" / name).lexically_normal().string();
    if (IsDirectory(p)) return p;
  }
  return "";
}

}  // namespace omendb::util
