// Helpers shared by the GoogleTest suites: scratch directories,
// deterministic random data, and buffers for the kernel suites.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "omendb/hnsw_index.h"
#include "omendb/types.h"
#include "simd/distance.h"
#include "util/dataset.h"

namespace omendb::testutil {

// A fresh, uniquely named directory under /tmp (or $TMPDIR), created by the
// constructor and removed with everything in it by the destructor. Creation
// failure aborts the test (ADD_FAILURE plus an empty path()). Not copyable or
// movable: it owns the directory for exactly its own lifetime.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // Absolute path of the directory, without a trailing '/'.
  const std::string& path() const { return path_; }
  // path() + "/" + name. Creates nothing.
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// The quantization the database suites give their collections: the value
// of $OMENDB_TEST_QUANT ("sq8", "rabitq:4", ...), default none. CTest runs
// the crash-safety suites once more with it set (tests/CMakeLists.txt), so a
// quantized collection must pass exactly the checks a float one does. A bad
// value fails the calling test.
Quantization TestQuantization();
// The training threshold those suites give a quantized collection: 64, so
// that their small collections train their codec and run on codes
// (OMENDB_TEST_QUANT_TRAIN_AFTER overrides it).
uint32_t TestQuantTrainAfter();

// rows x dim matrix of values uniform in [-1, 1), fully determined by `seed`
// (own PRNG, identical on every platform). Never contains non-finite values.
util::Matrix RandomMatrix(size_t rows, size_t dim, uint64_t seed);

// n x dim row-major clustered Gaussian data: `clusters` centres uniform in
// [-1, 1]^dim drawn from `centre_seed` alone (so rows drawn with another
// `seed` come from the same mixture), each row a centre chosen at random plus
// per-component N(0, sigma) noise. Deterministic in (seed, centre_seed) with
// this standard library (std::mt19937_64 and its distributions).
std::vector<float> ClusteredData(size_t n, size_t dim, uint64_t seed, size_t clusters,
                                 float sigma, uint64_t centre_seed);

// The index distance between a[0..dim) and b[0..dim) under `m`, computed in
// double and rounded once: squared L2, 1 - <a, b>, or 1 - cosine similarity.
float ExactDistance(const float* a, const float* b, size_t dim, Metric m);

// Scales v[0..dim) to unit L2 norm in place (the zero vector stays zero):
// the caller's job under cosine.
void Normalise(float* v, size_t dim);

// A 64-byte aligned byte buffer of at least n bytes (query states must be
// 64-byte aligned).
struct AlignedBytes {
  explicit AlignedBytes(size_t n)
      : p(static_cast<uint8_t*>(std::aligned_alloc(64, (n + 63) / 64 * 64))) {}
  struct Free {
    void operator()(uint8_t* q) const { std::free(q); }
  };
  std::unique_ptr<uint8_t, Free> p;
  void* get() const { return p.get(); }
};

// `pages` readable and writable pages followed by an inaccessible guard
// page, for checking that a kernel never reads past the end of its input:
// data placed to end at end() faults on any read beyond it. A mapping
// failure fails the calling test and leaves end() null.
class GuardedPages {
 public:
  explicit GuardedPages(size_t pages);
  ~GuardedPages();
  GuardedPages(const GuardedPages&) = delete;
  GuardedPages& operator=(const GuardedPages&) = delete;

  // The first byte of the guard page.
  uint8_t* end() const { return end_; }

 private:
  void* mem_ = nullptr;
  size_t bytes_ = 0;
  uint8_t* end_ = nullptr;
};

// Parameter names for suites over simd::Isa: "scalar", "avx2", "avx512".
std::string IsaName(const testing::TestParamInfo<simd::Isa>& info);

// The whole snapshot HnswIndex::Save writes, as one string; fails the
// calling test if Save fails.
std::string Snapshot(const HnswIndex& index);

// Writes `data` to `path` through Env::Default() (replacing it); fails the
// calling test on error.
void WriteFile(const std::string& path, std::string_view data);

// The whole content of `path` through Env::Default(); fails the calling test
// and returns "" on error.
std::string ReadFile(const std::string& path);

}  // namespace omendb::testutil
