#include "util/npy.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

#include "util/fd.h"

namespace omendb::util {
namespace {

// "\x93NUMPY": the magic string every .npy file starts with.
constexpr std::string_view kMagic("\x93NUMPY", 6);

// Same bound as the TEXMEX readers (util/dataset.cc) and the index.
constexpr uint64_t kMaxCols = 65536;

// Rows converted per read() in ReadNpy: large enough to amortise the call,
// small enough that the staging buffer stays a few MiB.
constexpr size_t kChunkBytes = size_t{4} << 20;

Status Malformed(std::string_view what) {
  return Status::Corruption("npy: malformed header: " + std::string(what));
}

// A reader for the Python literal dictionary numpy writes as the header, e.g.
//   {'descr': '<f4', 'fortran_order': False, 'shape': (1000, 128), }
// Only the three value forms that appear there are understood: quoted strings
// (without escapes), True/False and tuples of non-negative integers.
class DictParser {
 public:
  explicit DictParser(std::string_view s) : s_(s) {}

  struct Value {
    enum class Kind { kString, kBool, kTuple, kList } kind = Kind::kString;
    std::string text;             // kString
    bool boolean = false;         // kBool
    std::vector<uint64_t> tuple;  // kTuple
  };

  // Calls `on_entry(key, value)` for each entry; stops at its first error.
  template <class F>
  Status Parse(F&& on_entry) {
    SkipSpace();
    if (!Eat('{')) return Malformed("expected '{'");
    for (;;) {
      SkipSpace();
      if (Eat('}')) break;
      std::string key;
      OMENDB_RETURN_IF_ERROR(ParseString(&key));
      SkipSpace();
      if (!Eat(':')) return Malformed("expected ':' after '" + key + "'");
      SkipSpace();
      Value v;
      OMENDB_RETURN_IF_ERROR(ParseValue(&v));
      OMENDB_RETURN_IF_ERROR(on_entry(key, v));
      SkipSpace();
      if (Eat(',')) continue;  // a trailing comma before '}' is normal
      if (Eat('}')) break;
      return Malformed("expected ',' or '}'");
    }
    // numpy pads the header with spaces and ends it with '\n'.
    SkipSpace();
    if (pos_ != s_.size()) return Malformed("unexpected characters after the dictionary");
    return Status::OK();
  }

 private:
  bool Eat(char c) {
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool EatWord(std::string_view w) {
    if (s_.substr(pos_, w.size()) != w) return false;
    pos_ += w.size();
    return true;
  }
  void SkipSpace() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) {
      ++pos_;
    }
  }
  Status ParseString(std::string* out) {
    if (pos_ >= s_.size() || (s_[pos_] != '\'' && s_[pos_] != '"')) {
      return Malformed("expected a quoted string");
    }
    const char quote = s_[pos_++];
    size_t end = s_.find(quote, pos_);
    if (end == std::string_view::npos) return Malformed("unterminated string");
    std::string_view body = s_.substr(pos_, end - pos_);
    // The keys and dtype strings numpy writes never need escapes.
    if (body.find('\\') != std::string_view::npos) return Malformed("escape in string");
    *out = std::string(body);
    pos_ = end + 1;
    return Status::OK();
  }
  Status ParseValue(Value* v) {
    if (pos_ >= s_.size()) return Malformed("expected a value");
    const char c = s_[pos_];
    if (c == '\'' || c == '"') {
      v->kind = Value::Kind::kString;
      return ParseString(&v->text);
    }
    if (EatWord("True")) {
      v->kind = Value::Kind::kBool;
      v->boolean = true;
      return Status::OK();
    }
    if (EatWord("False")) {
      v->kind = Value::Kind::kBool;
      v->boolean = false;
      return Status::OK();
    }
    if (c == '(') return ParseTuple(v);
    if (c == '[') {
      // A list: only a structured dtype's descr has one, and those are not
      // supported, so its contents are skipped rather than parsed. Strings
      // inside it may hold brackets, so they are skipped as strings.
      v->kind = Value::Kind::kList;
      int depth = 0;
      while (pos_ < s_.size()) {
        const char x = s_[pos_];
        if (x == '\'' || x == '"') {
          std::string ignored;
          OMENDB_RETURN_IF_ERROR(ParseString(&ignored));
          continue;
        }
        ++pos_;
        if (x == '[') ++depth;
        if (x == ']' && --depth == 0) return Status::OK();
      }
      return Malformed("unterminated list");
    }
    return Malformed("unexpected value");
  }
  Status ParseTuple(Value* v) {
    v->kind = Value::Kind::kTuple;
    ++pos_;  // '('
    for (;;) {
      SkipSpace();
      if (Eat(')')) return Status::OK();
      // Bounds the work a hostile header can ask for; real shapes have <= 32.
      if (v->tuple.size() >= 64) return Malformed("shape has too many dimensions");
      if (pos_ < s_.size() && s_[pos_] == '-') return Malformed("negative size in shape");
      uint64_t n = 0;
      auto [end, ec] = std::from_chars(s_.data() + pos_, s_.data() + s_.size(), n);
      if (ec == std::errc::result_out_of_range) return Malformed("size in shape overflows");
      if (ec != std::errc()) return Malformed("expected an integer in shape");
      pos_ = static_cast<size_t>(end - s_.data());
      Eat('L');  // Python 2 wrote long integers as e.g. 1000L
      v->tuple.push_back(n);
      SkipSpace();
      if (Eat(',')) continue;
      if (Eat(')')) return Status::OK();
      return Malformed("expected ',' or ')' in shape");
    }
  }

  std::string_view s_;
  size_t pos_ = 0;
};

// Maps a numpy type string ('<f4', '|u1', ...) to a dtype.
Result<NpyDtype> ParseDescr(const std::string& descr) {
  std::string_view d = descr;
  char order = '|';
  if (!d.empty() && (d[0] == '<' || d[0] == '>' || d[0] == '|' || d[0] == '=')) {
    order = d[0];
    d.remove_prefix(1);
  }
  // A single byte has no byte order, so any marker is fine for i1/u1.
  if (d == "i1" || d == "b") return NpyDtype::kInt8;
  if (d == "u1" || d == "B") return NpyDtype::kUint8;
  if (d == "f4" || d == "f8") {
    // '=' means the writer's native order, which the file does not record;
    // numpy always writes an explicit '<' or '>'.
    if (order != '<') {
      return Status::NotSupported("npy: dtype '" + descr +
                                  "' is not little-endian (only '<f4' and '<f8' are supported)");
    }
    return d == "f4" ? NpyDtype::kFloat32 : NpyDtype::kFloat64;
  }
  return Status::NotSupported("npy: dtype '" + descr +
                              "' is not supported (float32, float64, int8 or uint8)");
}

uint32_t LoadLe(const uint8_t* p, size_t n) {
  uint32_t v = 0;
  for (size_t i = 0; i < n; ++i) v |= static_cast<uint32_t>(p[i]) << (8 * i);
  return v;
}

template <class T>
T LoadLeValue(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  if constexpr (std::endian::native == std::endian::big && sizeof(T) > 1) {
    using U = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
    U u;
    std::memcpy(&u, &v, sizeof u);
    if constexpr (sizeof(T) == 4) {
      u = __builtin_bswap32(u);
    } else {
      u = __builtin_bswap64(u);
    }
    std::memcpy(&v, &u, sizeof v);
  }
  return v;
}

Status BadValue(size_t row, size_t col, const char* what) {
  return Status::InvalidArgument("npy: " + std::string(what) + " at row " + std::to_string(row) +
                                 ", column " + std::to_string(col));
}

// Converts `nrows` rows of raw element bytes (starting at matrix row
// `first_row`, for messages) into floats at `out`.
Status ConvertRows(const NpyHeader& h, const uint8_t* src, size_t first_row, size_t nrows,
                   float* out) {
  const size_t n = nrows * h.cols;
  switch (h.dtype) {
    case NpyDtype::kFloat32:
      for (size_t i = 0; i < n; ++i) {
        float v = LoadLeValue<float>(src + 4 * i);
        if (!std::isfinite(v)) {
          return BadValue(first_row + i / h.cols, i % h.cols, "non-finite value");
        }
        out[i] = v;
      }
      break;
    case NpyDtype::kFloat64:
      for (size_t i = 0; i < n; ++i) {
        double v = LoadLeValue<double>(src + 8 * i);
        if (!std::isfinite(v)) {
          return BadValue(first_row + i / h.cols, i % h.cols, "non-finite value");
        }
        if (std::fabs(v) > static_cast<double>(std::numeric_limits<float>::max())) {
          return BadValue(first_row + i / h.cols, i % h.cols, "value outside float32 range");
        }
        out[i] = static_cast<float>(v);
      }
      break;
    case NpyDtype::kInt8:
      for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(static_cast<int8_t>(src[i]));
      break;
    case NpyDtype::kUint8:
      for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(src[i]);
      break;
  }
  return Status::OK();
}

// Checks that an image of `total` bytes holds exactly the data `h` declares.
Status CheckSize(const NpyHeader& h, uint64_t total) {
  const uint64_t expected = h.data_offset + h.data_bytes;
  if (total < expected) {
    return Status::Corruption("npy: truncated: the header declares " + std::to_string(h.rows) +
                              " x " + std::to_string(h.cols) + " values (" +
                              std::to_string(expected) + " bytes in all) but there are " +
                              std::to_string(total) + " bytes");
  }
  if (total > expected) {
    return Status::Corruption("npy: " + std::to_string(total - expected) +
                              " unexpected bytes after the declared data");
  }
  return Status::OK();
}

// Allocates the output matrix for the first `keep` rows.
Result<Matrix> AllocateMatrix(const NpyHeader& h, size_t keep) {
  Matrix m;
  m.rows = keep;
  m.dim = h.cols;
  // keep * cols fits: it is at most data_bytes, which was checked not to overflow.
  m.data.resize(keep * h.cols);
  return m;
}

// Reads exactly n bytes unless the file ends first; returns the count read
// or an IOError.
Result<size_t> ReadFull(int fd, const std::string& path, void* dst, size_t n) {
  const ssize_t r = util::ReadFull(fd, dst, n);
  if (r < 0) return Status::IOError(path + ": read failed: " + std::strerror(errno));
  return static_cast<size_t>(r);
}

}  // namespace

size_t NpyItemSize(NpyDtype dtype) {
  switch (dtype) {
    case NpyDtype::kFloat32:
      return 4;
    case NpyDtype::kFloat64:
      return 8;
    case NpyDtype::kInt8:
    case NpyDtype::kUint8:
      return 1;
  }
  return 1;
}

Result<NpyHeader> ParseNpyHeader(std::string_view prefix) {
  if (prefix.size() < kMagic.size() || prefix.substr(0, kMagic.size()) != kMagic) {
    return Status::Corruption("npy: not a .npy file (bad magic string)");
  }
  if (prefix.size() < 8) return Status::Corruption("npy: truncated before the format version");
  NpyHeader h;
  const auto* u = reinterpret_cast<const uint8_t*>(prefix.data());
  h.major_version = u[6];
  const int minor = u[7];
  size_t len_bytes = 0;
  if (h.major_version == 1) {
    len_bytes = 2;
  } else if (h.major_version == 2 || h.major_version == 3) {
    len_bytes = 4;
  } else {
    return Status::NotSupported("npy: format version " + std::to_string(h.major_version) + "." +
                                std::to_string(minor) + " is not supported (1.0, 2.0, 3.0)");
  }
  if (minor != 0) {
    return Status::NotSupported("npy: format version " + std::to_string(h.major_version) + "." +
                                std::to_string(minor) + " is not supported (1.0, 2.0, 3.0)");
  }
  const size_t start = 8 + len_bytes;
  if (prefix.size() < start) return Status::Corruption("npy: truncated in the header length");
  const uint32_t header_len = LoadLe(u + 8, len_bytes);
  if (header_len > kMaxNpyHeaderBytes) {
    return Status::Corruption("npy: header length " + std::to_string(header_len) +
                              " exceeds the limit of " + std::to_string(kMaxNpyHeaderBytes));
  }
  if (prefix.size() - start < header_len) {
    return Status::Corruption("npy: truncated header (" + std::to_string(header_len) +
                              " bytes declared, " + std::to_string(prefix.size() - start) +
                              " present)");
  }
  h.data_offset = start + header_len;
  const std::string_view dict = prefix.substr(start, header_len);

  std::optional<std::string> descr;
  std::optional<bool> fortran;
  std::optional<std::vector<uint64_t>> shape;
  using V = DictParser::Value;
  OMENDB_RETURN_IF_ERROR(DictParser(dict).Parse([&](const std::string& key, V& v) -> Status {
    if (key == "descr") {
      if (descr) return Malformed("repeated key 'descr'");
      if (v.kind == V::Kind::kList) {
        return Status::NotSupported("npy: structured dtypes are not supported");
      }
      if (v.kind != V::Kind::kString) return Malformed("'descr' is not a string");
      descr = std::move(v.text);
    } else if (key == "fortran_order") {
      if (fortran) return Malformed("repeated key 'fortran_order'");
      if (v.kind != V::Kind::kBool) return Malformed("'fortran_order' is not True or False");
      fortran = v.boolean;
    } else if (key == "shape") {
      if (shape) return Malformed("repeated key 'shape'");
      if (v.kind != V::Kind::kTuple) return Malformed("'shape' is not a tuple");
      shape = std::move(v.tuple);
    } else {
      return Malformed("unknown key '" + key + "'");
    }
    return Status::OK();
  }));
  if (!descr || !fortran || !shape) {
    return Malformed("missing key '" +
                     std::string(!descr     ? "descr"
                                 : !fortran ? "fortran_order"
                                            : "shape") +
                     "'");
  }
  OMENDB_ASSIGN_OR_RETURN(h.dtype, ParseDescr(*descr));

  const std::vector<uint64_t>& s = *shape;
  uint64_t rows = 0, cols = 0;
  if (s.size() == 1) {
    rows = 1;
    cols = s[0];
  } else if (s.size() == 2) {
    rows = s[0];
    cols = s[1];
  } else {
    return Status::NotSupported("npy: a " + std::to_string(s.size()) +
                                "-D array is not a matrix of vectors (1-D or 2-D expected)");
  }
  // In Fortran order a 2-D array is stored column by column, which equals C
  // order only when at most one of its sizes exceeds 1.
  if (*fortran && s.size() == 2 && rows > 1 && cols > 1) {
    return Status::NotSupported(
        "npy: Fortran-order arrays are not supported (save a C-contiguous array, e.g. "
        "numpy.ascontiguousarray)");
  }
  if (cols == 0 || cols > kMaxCols) {
    return Status::NotSupported("npy: vector dimension " + std::to_string(cols) +
                                " is out of range (1.." + std::to_string(kMaxCols) + ")");
  }
  const uint64_t item = NpyItemSize(h.dtype);
  const uint64_t row_bytes = cols * item;  // <= 65536 * 8
  bool too_large = rows > (std::numeric_limits<uint64_t>::max() - h.data_offset) / row_bytes;
  if constexpr (sizeof(size_t) < sizeof(uint64_t)) {
    too_large = too_large || rows * row_bytes > std::numeric_limits<size_t>::max();
  }
  if (too_large) {
    return Malformed("shape (" + std::to_string(rows) + ", " + std::to_string(cols) +
                     ") is too large");
  }
  h.rows = static_cast<size_t>(rows);
  h.cols = static_cast<size_t>(cols);
  h.data_bytes = rows * row_bytes;
  return h;
}

Result<Matrix> DecodeNpy(std::string_view bytes, size_t max_rows) {
  OMENDB_ASSIGN_OR_RETURN(NpyHeader h, ParseNpyHeader(bytes));
  OMENDB_RETURN_IF_ERROR(CheckSize(h, bytes.size()));
  const size_t keep = std::min(h.rows, max_rows);
  OMENDB_ASSIGN_OR_RETURN(Matrix m, AllocateMatrix(h, keep));
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data()) + h.data_offset;
  OMENDB_RETURN_IF_ERROR(ConvertRows(h, data, 0, keep, m.data.data()));
  return m;
}

Result<Matrix> ReadNpy(const std::string& path, size_t max_rows) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT || errno == ENOTDIR) return Status::NotFound(path + ": no such file");
    return Status::IOError(path + ": cannot open: " + std::strerror(errno));
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) {
    return Status::IOError(path + ": stat failed: " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) return Status::InvalidArgument(path + ": not a regular file");
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);

  // The fixed part (magic, version, 4-byte length at most) first, then the
  // header it announces; ParseNpyHeader checks both.
  std::string head(12, '\0');
  OMENDB_ASSIGN_OR_RETURN(size_t got, ReadFull(fd.get(), path, head.data(), head.size()));
  head.resize(got);
  if (got >= 10 && head.substr(0, kMagic.size()) == kMagic) {
    const auto* u = reinterpret_cast<const uint8_t*>(head.data());
    const size_t len_bytes = u[6] == 1 ? 2 : 4;
    const size_t start = 8 + len_bytes;
    if (got >= start) {
      const uint64_t header_len = LoadLe(u + 8, len_bytes);
      // Beyond the limit (or the file) the parser reports the error without
      // needing the bytes.
      if (header_len <= kMaxNpyHeaderBytes && start + header_len <= file_size) {
        const size_t want = start + static_cast<size_t>(header_len);
        const size_t have = head.size();
        if (want > have) {
          head.resize(want);
          OMENDB_ASSIGN_OR_RETURN(size_t more,
                                  ReadFull(fd.get(), path, head.data() + have, want - have));
          head.resize(have + more);
        }
      }
    }
  }
  auto parsed = ParseNpyHeader(head);
  if (!parsed.ok()) return parsed.status().WithContext(path);
  const NpyHeader& h = *parsed;
  if (Status s = CheckSize(h, file_size); !s.ok()) return s.WithContext(path);
  if (::lseek(fd.get(), static_cast<off_t>(h.data_offset), SEEK_SET) < 0) {
    return Status::IOError(path + ": seek failed: " + std::strerror(errno));
  }

  const size_t keep = std::min(h.rows, max_rows);
  OMENDB_ASSIGN_OR_RETURN(Matrix m, AllocateMatrix(h, keep));
  const size_t row_bytes = h.cols * NpyItemSize(h.dtype);
  const size_t chunk_rows = std::max<size_t>(1, kChunkBytes / row_bytes);
  std::vector<uint8_t> buf(std::min(keep, chunk_rows) * row_bytes);
  for (size_t row = 0; row < keep;) {
    const size_t n = std::min(chunk_rows, keep - row);
    OMENDB_ASSIGN_OR_RETURN(size_t got_bytes, ReadFull(fd.get(), path, buf.data(), n * row_bytes));
    // The size was checked, so a short read means the file shrank meanwhile.
    if (got_bytes != n * row_bytes) return Status::Corruption(path + ": npy: file ended early");
    Status s = ConvertRows(h, buf.data(), row, n, m.row(row));
    if (!s.ok()) return s.WithContext(path);
    row += n;
  }
  return m;
}

}  // namespace omendb::util
