// NumPy .npy files holding a matrix of vectors (one vector per row), as
// written by numpy.save. Used by the CLI to import and query vectors; the
// index layer never touches files.
//
// Supported: format versions 1.0, 2.0 and 3.0; dtypes float32, float64, int8
// and uint8 (little-endian where byte order matters); 2-D arrays in C order
// (a 2-D array whose shape makes C and Fortran order coincide is accepted
// either way) and 1-D arrays, read as a single row. Every value is converted
// to float. Anything else is an error, never a crash: the header is untrusted
// input and is checked before any size it declares is used.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "omendb/status.h"
#include "util/dataset.h"

namespace omendb::util {

// Element types the reader converts to float.
enum class NpyDtype : uint8_t { kFloat32, kFloat64, kInt8, kUint8 };

// Bytes per element of `dtype`.
size_t NpyItemSize(NpyDtype dtype);

// What a .npy header declares, reduced to the matrix it describes.
struct NpyHeader {
  int major_version = 0;  // 1, 2 or 3
  NpyDtype dtype = NpyDtype::kFloat32;
  size_t rows = 0;  // a 1-D array of n elements is 1 row of n columns
  size_t cols = 0;  // the vector dimension, 1..65536
  // Offset of the first data byte: magic, version, length field and header.
  size_t data_offset = 0;
  // rows * cols * NpyItemSize(dtype), checked not to overflow.
  uint64_t data_bytes = 0;
};

// Largest header dictionary accepted, in bytes. numpy writes well under 200
// bytes for the arrays read here; a cap keeps a corrupt length field from
// making the reader allocate or scan gigabytes.
inline constexpr size_t kMaxNpyHeaderBytes = 64 * 1024;

// Parses the magic string, version, header length and header dictionary at
// the start of a .npy image. `prefix` holds the image's first bytes: at least
// the whole header (data_offset bytes), more is fine and ignored.
// Errors: Corruption for a malformed or truncated header (bad magic, header
// length beyond `prefix` or kMaxNpyHeaderBytes, a dictionary that does not
// parse, missing or repeated keys, a shape with negative or overflowing
// sizes); NotSupported for well-formed headers this reader does not handle
// (another format version, dtype or byte order, Fortran order, 0-D or more
// than 2-D arrays, a dimension of 0 or above 65536).
Result<NpyHeader> ParseNpyHeader(std::string_view prefix);

// Decodes a whole .npy image held in memory into a float matrix, keeping at
// most `max_rows` rows. Errors: ParseNpyHeader's; Corruption if `bytes` is
// shorter or longer than the header declares; InvalidArgument for a NaN or
// infinite value, or a float64 value outside float32's range (naming its row
// and column).
Result<Matrix> DecodeNpy(std::string_view bytes, size_t max_rows = SIZE_MAX);

// Reads the .npy file at `path` like DecodeNpy, reading only the rows kept
// (the file's size is still checked against the header). Errors: DecodeNpy's,
// plus NotFound for a missing file and IOError for other OS failures.
Result<Matrix> ReadNpy(const std::string& path, size_t max_rows = SIZE_MAX);

}  // namespace omendb::util
