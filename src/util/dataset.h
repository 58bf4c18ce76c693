// Vector data sets: TEXMEX fvecs/ivecs/bvecs files (optionally zstd-compressed)
// and a deterministic generated clustered data set. Used by the CLI, the
// benchmarks and the tests; the index layer never touches files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "omendb/status.h"

namespace omendb::util {

// Row-major float matrix.
struct Matrix {
  std::vector<float> data;
  size_t rows = 0;
  size_t dim = 0;
  const float* row(size_t i) const { return data.data() + i * dim; }
  float* row(size_t i) { return data.data() + i * dim; }
};

// Row-major int32 matrix (ground-truth neighbour ids).
struct IdMatrix {
  std::vector<int32_t> data;
  size_t rows = 0;
  size_t cols = 0;
  const int32_t* row(size_t i) const { return data.data() + i * cols; }
};

// Reads a TEXMEX .fvecs / .bvecs (uint8 components, widened to float) /
// .ivecs file; a path ending in ".zst" is decompressed while reading. At most
// `max_rows` rows are read. Errors: NotFound, IOError, Corruption (truncated
// record, inconsistent or non-positive dimension, dimension above 65536),
// InvalidArgument (non-finite value in an fvecs file).
Result<Matrix> ReadFvecs(const std::string& path, size_t max_rows = SIZE_MAX);
Result<Matrix> ReadBvecs(const std::string& path, size_t max_rows = SIZE_MAX);
Result<IdMatrix> ReadIvecs(const std::string& path, size_t max_rows = SIZE_MAX);

// Reads whichever of `stem`.fvecs, .fvecs.zst, .bvecs, .bvecs.zst exists.
Result<Matrix> ReadVectors(const std::string& stem, size_t max_rows = SIZE_MAX);

Status WriteFvecs(const std::string& path, const Matrix& m);
Status WriteIvecs(const std::string& path, const IdMatrix& m);

// A benchmark data set: base vectors, queries and (optionally) ground truth.
struct Dataset {
  std::string name;
  Matrix base;
  Matrix queries;
  IdMatrix groundtruth;  // rows == 0 when the directory has none
};

// Loads DIR/base.{fvecs,bvecs}[.zst], DIR/query.*, and DIR/groundtruth.ivecs[.zst]
// if present. `max_base` / `max_queries` cap the rows read.
Result<Dataset> LoadTexmexDir(const std::string& dir, size_t max_base = SIZE_MAX,
                              size_t max_queries = SIZE_MAX);

// Deterministic Gaussian-mixture data: `clusters` centres uniform in [-1,1]^dim
// (seeded), each row a centre plus N(0, sigma^2) noise. Same arguments, same
// bytes on every machine.
Matrix GenerateClustered(size_t rows, size_t dim, size_t clusters, float sigma, uint64_t seed);

// Directory of a shared data set named `name` (e.g. "siftsmall"):
// $OMENDB_DATA/name if OMENDB_DATA is set, else the first existing of
// ../shared/data/name relative to the current directory, to the source tree
// (OMENDB_SOURCE_DIR) and its parent. Empty string if none exists.
std::string FindDataDir(const std::string& name);

}  // namespace omendb::util
