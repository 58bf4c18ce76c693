#include "testutil/testutil.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>
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

std::vector<float> ClusteredData(size_t n, size_t dim, uint64_t seed, size_t clusters,
                                 float sigma, uint64_t centre_seed) {
  std::mt19937_64 centre_rng(centre_seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::normal_distribution<float> g(0.0f, sigma);
  std::vector<float> centres(clusters * dim);
  for (float& c : centres) c = u(centre_rng);
  std::mt19937_64 rng(seed);
  std::vector<float> out(n * dim);
  for (size_t i = 0; i < n; ++i) {
    const float* c = centres.data() + (rng() % clusters) * dim;
    for (size_t j = 0; j < dim; ++j) out[i * dim + j] = c[j] + g(rng);
  }
  return out;
}

float ExactDistance(const float* a, const float* b, size_t dim, Metric m) {
  double dot = 0, l2 = 0, na = 0, nb = 0;
  for (size_t i = 0; i < dim; ++i) {
    dot += double{a[i]} * b[i];
    l2 += (double{a[i]} - b[i]) * (double{a[i]} - b[i]);
    na += double{a[i]} * a[i];
    nb += double{b[i]} * b[i];
  }
  if (m == Metric::kL2) return static_cast<float>(l2);
  if (m == Metric::kInnerProduct) return static_cast<float>(1.0 - dot);
  return static_cast<float>(1.0 - dot / std::sqrt(na * nb));
}

void Normalise(float* v, size_t dim) {
  double n = 0;
  for (size_t i = 0; i < dim; ++i) n += double{v[i]} * v[i];
  const double inv = n > 0 ? 1.0 / std::sqrt(n) : 0.0;
  for (size_t i = 0; i < dim; ++i) v[i] = static_cast<float>(v[i] * inv);
}

GuardedPages::GuardedPages(size_t pages) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t region = pages * page;
  void* mem = mmap(nullptr, region + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
  if (mem == MAP_FAILED) {
    ADD_FAILURE() << "mmap of " << region + page << " bytes failed";
    return;
  }
  mem_ = mem;
  bytes_ = region + page;
  auto* base = static_cast<uint8_t*>(mem);
  if (mprotect(base + region, page, PROT_NONE) != 0) {
    ADD_FAILURE() << "mprotect of the guard page failed";
    return;
  }
  end_ = base + region;
}

GuardedPages::~GuardedPages() {
  if (mem_ != nullptr) munmap(mem_, bytes_);
}

std::string IsaName(const testing::TestParamInfo<simd::Isa>& info) {
  switch (info.param) {
    case simd::Isa::kScalar: return "scalar";
    case simd::Isa::kAvx2: return "avx2";
    case simd::Isa::kAvx512: return "avx512";
  }
  return "unknown";
}

void WriteFile(const std::string& path, std::string_view data) {
  auto f = Env::Default()->NewWritableFile(path);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  ASSERT_TRUE((*f)->Append(data).ok());
  ASSERT_TRUE((*f)->Close().ok());
}

std::string Snapshot(const HnswIndex& index) {
  std::string out;
  Status s = index.Save([&](std::string_view chunk) {
    out.append(chunk);
    return Status::OK();
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

std::string ReadFile(const std::string& path) {
  auto r = Env::Default()->NewMmapRegion(path);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok() || (*r)->size() == 0) return {};
  return std::string((*r)->data(), (*r)->size());
}

}  // namespace omendb::testutil
