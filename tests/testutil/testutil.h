// Helpers shared by the GoogleTest suites: scratch directories and
// deterministic random data.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "omendb/types.h"
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

// Writes `data` to `path` through Env::Default() (replacing it); fails the
// calling test on error.
void WriteFile(const std::string& path, std::string_view data);

// The whole content of `path` through Env::Default(); fails the calling test
// and returns "" on error.
std::string ReadFile(const std::string& path);

}  // namespace omendb::testutil
