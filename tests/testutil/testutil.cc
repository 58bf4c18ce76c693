#include "testutil/testutil.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstring>
#include <filesystem>
#include <vector>

#include "omendb/env.h"

namespace omendb::testutil {

TempDir::TempDir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string templ =
      std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/omendb_test_XXXXXX";
  // mkdtemp needs a writable buffer; it picks a name no one else has.
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp(" << templ << ") failed: " << std::strerror(errno);
    return;
  }
  path_ = buf.data();
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  std::error_code ec;  // cleanup failure must not throw from a destructor
  std::filesystem::remove_all(path_, ec);
}

Quantization TestQuantization() {
  const char* q = std::getenv("OMENDB_TEST_QUANT");
  if (q == nullptr || *q == '\0') return Quantization{};
  auto parsed = ParseQuantization(q);
  if (!parsed.ok()) {
    ADD_FAILURE() << "OMENDB_TEST_QUANT: " << parsed.status().ToString();
    return Quantization{};
  }
  return *parsed;
}

uint32_t TestQuantTrainAfter() {
  const char* v = std::getenv("OMENDB_TEST_QUANT_TRAIN_AFTER");
  if (v == nullptr || *v == '\0') return 64;
  const long n = std::strtol(v, nullptr, 10);
  if (n < 1) {
    ADD_FAILURE() << "OMENDB_TEST_QUANT_TRAIN_AFTER must be >= 1";
    return 64;
  }
  return static_cast<uint32_t>(n);
}

util::Matrix RandomMatrix(size_t rows, size_t dim, uint64_t seed) {
  util::Matrix m;
  m.rows = rows;
  m.dim = dim;
  m.data.resize(rows * dim);
  uint64_t state = seed;
  for (float& v : m.data) {
    // splitmix64: tiny, full-period, and the same on every standard library.
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    // 24 random bits give every float in the grid exactly; * 2 - 1 maps to [-1, 1).
    v = static_cast<float>(z >> 40) * 0x1.0p-23f - 1.0f;
  }
  return m;
}

void WriteFile(const std::string& path, std::string_view data) {
  auto f = Env::Default()->NewWritableFile(path);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  ASSERT_TRUE((*f)->Append(data).ok());
  ASSERT_TRUE((*f)->Close().ok());
}

std::string ReadFile(const std::string& path) {
  auto r = Env::Default()->NewMmapRegion(path);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok() || (*r)->size() == 0) return {};
  return std::string((*r)->data(), (*r)->size());
}

}  // namespace omendb::testutil
