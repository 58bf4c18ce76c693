// Tests for the float32 distance kernels and run-time ISA selection.
//
// Every kernel of every ISA this CPU supports is checked against a
// double-precision reference for every dim in [1, 1025] (covering every tail
// length of every unroll width), on unaligned inputs.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "simd/distance.h"
#include "simd/kernels_internal.h"
#include "testutil/testutil.h"

namespace omendb::simd {
namespace {

using testutil::IsaName;

constexpr size_t kMaxDim = 1025;
constexpr double kRelTol = 1e-5;

// A 64-byte aligned float buffer, so offsets of 1..3 floats give pointers that
// are known to be misaligned for 16/32/64-byte vector loads.
class AlignedFloats {
 public:
  explicit AlignedFloats(size_t n)
      : p_(static_cast<float*>(std::aligned_alloc(64, RoundUp(n * sizeof(float))))) {}
  float* data() { return p_.get(); }

 private:
  static size_t RoundUp(size_t bytes) { return (bytes + 63) / 64 * 64; }
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  std::unique_ptr<float, Free> p_;
};

struct Reference {
  double value;      // the exact-ish result, accumulated in double
  double magnitude;  // sum of |terms|: the scale float rounding errors grow with
};

Reference RefL2Sq(const float* a, const float* b, size_t dim) {
  double s = 0;
  for (size_t i = 0; i < dim; ++i) {
    const double d = static_cast<double>(a[i]) - b[i];
    s += d * d;
  }
  return {s, s};
}

Reference RefDot(const float* a, const float* b, size_t dim) {
  double s = 0, m = 0;
  for (size_t i = 0; i < dim; ++i) {
    const double t = static_cast<double>(a[i]) * b[i];
    s += t;
    m += std::fabs(t);
  }
  return {s, m};
}

double RefCosine(const float* a, const float* b, size_t dim) {
  const double ab = RefDot(a, b, dim).value;
  const double aa = RefDot(a, a, dim).value;
  const double bb = RefDot(b, b, dim).value;
  return 1.0 - ab / std::sqrt(aa * bb);
}

void ExpectNear(float got, const Reference& ref, size_t dim, const char* what) {
  const double tol = kRelTol * ref.magnitude + std::numeric_limits<float>::min();
  EXPECT_LE(std::fabs(static_cast<double>(got) - ref.value), tol)
      << what << " dim=" << dim << " got=" << got << " want=" << ref.value;
}

void FillRandom(float* p, size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (size_t i = 0; i < n; ++i) p[i] = u(rng);
}

class SimdKernelTest : public testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    if (!IsaSupported(GetParam())) GTEST_SKIP() << "CPU lacks this ISA";
    k_ = &KernelsFor(GetParam());
  }
  const Kernels* k_ = nullptr;
};

TEST_P(SimdKernelTest, TableMatchesIsa) {
  EXPECT_EQ(k_->isa, GetParam());
  EXPECT_EQ(std::string(k_->name), IsaName({GetParam(), 0}));
  EXPECT_NE(k_->l2sq, nullptr);
  EXPECT_NE(k_->dot, nullptr);
  EXPECT_NE(k_->l2sq_batch, nullptr);
  EXPECT_NE(k_->dot_batch, nullptr);
}

TEST_P(SimdKernelTest, L2SqAndDotMatchReferenceForEveryDim) {
  std::mt19937 rng(1234);
  AlignedFloats abuf(kMaxDim + 4), bbuf(kMaxDim + 4);
  for (size_t dim = 1; dim <= kMaxDim; ++dim) {
    // Offsets 1..3 floats, varied per dim and different for a and b.
    float* a = abuf.data() + 1 + dim % 3;
    float* b = bbuf.data() + 1 + (dim + 1) % 3;
    FillRandom(a, dim, rng);
    FillRandom(b, dim, rng);
    ExpectNear(k_->l2sq(a, b, dim), RefL2Sq(a, b, dim), dim, "l2sq");
    ExpectNear(k_->dot(a, b, dim), RefDot(a, b, dim), dim, "dot");
  }
}

TEST_P(SimdKernelTest, ExactOnSmallIntegers) {
  // Small integers make every partial sum exact in float whatever the
  // summation order, so any dropped or double-counted tail element shows up as
  // an exact mismatch.
  std::mt19937 rng(99);
  std::uniform_int_distribution<int> u(-3, 3);
  AlignedFloats abuf(kMaxDim + 4), bbuf(kMaxDim + 4);
  for (size_t dim = 1; dim <= kMaxDim; ++dim) {
    float* a = abuf.data() + 3 - dim % 3;
    float* b = bbuf.data() + 1 + dim % 3;
    for (size_t i = 0; i < dim; ++i) {
      a[i] = static_cast<float>(u(rng));
      b[i] = static_cast<float>(u(rng));
    }
    EXPECT_EQ(k_->l2sq(a, b, dim), static_cast<float>(RefL2Sq(a, b, dim).value)) << dim;
    EXPECT_EQ(k_->dot(a, b, dim), static_cast<float>(RefDot(a, b, dim).value)) << dim;
    EXPECT_EQ(k_->l2sq(a, a, dim), 0.0f) << dim;
  }
}

TEST_P(SimdKernelTest, BatchMatchesSingleAndReferenceForEveryDim) {
  constexpr size_t kMaxN = 9;  // batch sizes below, at and above kPrefetchAhead
  static_assert(kMaxN > kPrefetchAhead + 1);
  std::mt19937 rng(42);
  AlignedFloats qbuf(kMaxDim + 4);
  std::vector<AlignedFloats> bufs;
  for (size_t j = 0; j < kMaxN; ++j) bufs.emplace_back(kMaxDim + 4);
  for (size_t dim = 1; dim <= kMaxDim; ++dim) {
    const size_t n = 1 + dim % kMaxN;
    float* q = qbuf.data() + 1 + dim % 3;
    FillRandom(q, dim, rng);
    // Exactly n pointers on the heap, so under ASan reading vecs[n] (e.g. a
    // prefetch running past the batch) is reported.
    std::vector<const float*> vecs(n);
    for (size_t j = 0; j < n; ++j) {
      float* v = bufs[j].data() + 1 + (dim + j) % 3;
      FillRandom(v, dim, rng);
      vecs[j] = v;
    }
    for (bool l2 : {true, false}) {
      // One extra slot holds a sentinel: the batch must write exactly n outputs.
      std::vector<float> out(n + 1, -12345.0f);
      (l2 ? k_->l2sq_batch : k_->dot_batch)(q, vecs.data(), n, dim, out.data());
      for (size_t j = 0; j < n; ++j) {
        const float single = (l2 ? k_->l2sq : k_->dot)(q, vecs[j], dim);
        EXPECT_EQ(out[j], single) << (l2 ? "l2sq" : "dot") << " dim=" << dim << " j=" << j;
        ExpectNear(out[j], l2 ? RefL2Sq(q, vecs[j], dim) : RefDot(q, vecs[j], dim), dim,
                   l2 ? "l2sq_batch" : "dot_batch");
      }
      EXPECT_EQ(out[n], -12345.0f) << "wrote past out[n-1], dim=" << dim;
    }
  }
}

TEST_P(SimdKernelTest, BatchOfZeroWritesNothing) {
  float q[4] = {1, 2, 3, 4};
  float out[1] = {-7.0f};
  k_->l2sq_batch(q, nullptr, 0, 4, out);
  k_->dot_batch(q, nullptr, 0, 4, out);
  EXPECT_EQ(out[0], -7.0f);
}

TEST_P(SimdKernelTest, CosineMatchesReferenceForEveryDim) {
  std::mt19937 rng(7);
  AlignedFloats abuf(kMaxDim + 4), bbuf(kMaxDim + 4);
  for (size_t dim = 1; dim <= kMaxDim; ++dim) {
    float* a = abuf.data() + 2 - dim % 2;
    float* b = bbuf.data() + 1 + dim % 3;
    FillRandom(a, dim, rng);
    FillRandom(b, dim, rng);
    const double want = RefCosine(a, b, dim);
    EXPECT_NEAR(CosineDistance(*k_, a, b, dim), want, kRelTol) << "dim=" << dim;
  }
}

TEST_P(SimdKernelTest, CosineSpecialCases) {
  const float a[5] = {1, -2, 3, 0.5f, 4};
  const float neg[5] = {-2, 4, -6, -1, -8};  // -2 * a
  const float zero[5] = {};
  EXPECT_NEAR(CosineDistance(*k_, a, a, 5), 0.0f, 1e-6);
  EXPECT_NEAR(CosineDistance(*k_, a, neg, 5), 2.0f, 1e-6);
  EXPECT_EQ(CosineDistance(*k_, a, zero, 5), 1.0f);
  EXPECT_EQ(CosineDistance(*k_, zero, a, 5), 1.0f);
  EXPECT_EQ(CosineDistance(*k_, zero, zero, 5), 1.0f);
  // Norms whose product overflows float must still give a finite cosine.
  const float big[2] = {6e9f, 8e9f};
  const float big2[2] = {8e9f, 6e9f};
  EXPECT_NEAR(CosineDistance(*k_, big, big2, 2), 1.0 - 24.0 / 25.0, 1e-6);
}

TEST_P(SimdKernelTest, NeverReadsPastTheLastElement) {
  // Vectors end exactly at the start of an inaccessible page: reading even
  // one float past the end (e.g. an unmasked vector load in the tail) faults.
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t data_bytes = (kMaxDim * sizeof(float) + page - 1) / page * page;
  const size_t total = 2 * (data_bytes + page);
  void* mem = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  char* base = static_cast<char*>(mem);
  char* guard_a = base + data_bytes;
  char* guard_b = base + 2 * data_bytes + page;
  ASSERT_EQ(mprotect(guard_a, page, PROT_NONE), 0);
  ASSERT_EQ(mprotect(guard_b, page, PROT_NONE), 0);
  for (size_t dim = 1; dim <= kMaxDim; ++dim) {
    float* a = reinterpret_cast<float*>(guard_a) - dim;
    float* b = reinterpret_cast<float*>(guard_b) - dim;
    for (size_t i = 0; i < dim; ++i) a[i] = b[i] = 1.0f;
    EXPECT_EQ(k_->l2sq(a, b, dim), 0.0f);
    EXPECT_EQ(k_->dot(a, b, dim), static_cast<float>(dim));
    const float* vecs[2] = {a, b};
    float out[2];
    k_->l2sq_batch(b, vecs, 2, dim, out);
    EXPECT_EQ(out[1], 0.0f);
    k_->dot_batch(a, vecs, 2, dim, out);
    EXPECT_EQ(out[0], static_cast<float>(dim));
  }
  munmap(mem, total);
}

INSTANTIATE_TEST_SUITE_P(Simd, SimdKernelTest,
                         testing::Values(Isa::kScalar, Isa::kAvx2, Isa::kAvx512), IsaName);

// The ISA level /proc/cpuinfo implies (Linux lists AVX/AVX-512 flags only when
// the kernel also enables their register state), or nullopt if unreadable.
std::optional<Isa> IsaFromProcCpuinfo() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    std::set<std::string> flags;
    for (std::string w; words >> w;) flags.insert(w);
    auto has = [&](const char* f) { return flags.count(f) != 0; };
    if (!has("avx2") || !has("fma")) return Isa::kScalar;
    if (has("avx512f") && has("avx512bw") && has("avx512dq") && has("avx512vl")) {
      return Isa::kAvx512;
    }
    return Isa::kAvx2;
  }
  return std::nullopt;
}

TEST(SimdIsaTest, DetectCpuIsaAgreesWithProcCpuinfo) {
  const std::optional<Isa> expected = IsaFromProcCpuinfo();
  if (!expected) GTEST_SKIP() << "/proc/cpuinfo has no flags line";
  EXPECT_EQ(DetectCpuIsa(), *expected);
}

TEST(SimdIsaTest, IsaSupportedFollowsDetectedLevel) {
  EXPECT_TRUE(IsaSupported(Isa::kScalar));
  const Isa cpu = DetectCpuIsa();
  EXPECT_EQ(IsaSupported(Isa::kAvx2), cpu >= Isa::kAvx2);
  EXPECT_EQ(IsaSupported(Isa::kAvx512), cpu == Isa::kAvx512);
}

TEST(SimdIsaTest, ParseIsaOverrideOnlyLowers) {
  EXPECT_EQ(ParseIsaOverride(nullptr, Isa::kAvx512), Isa::kAvx512);
  EXPECT_EQ(ParseIsaOverride("", Isa::kAvx512), Isa::kAvx512);
  EXPECT_EQ(ParseIsaOverride("scalar", Isa::kAvx512), Isa::kScalar);
  EXPECT_EQ(ParseIsaOverride("avx2", Isa::kAvx512), Isa::kAvx2);
  EXPECT_EQ(ParseIsaOverride("avx512", Isa::kAvx512), Isa::kAvx512);
  EXPECT_EQ(ParseIsaOverride("AVX2", Isa::kAvx512), Isa::kAvx2);
  EXPECT_EQ(ParseIsaOverride("Scalar", Isa::kAvx2), Isa::kScalar);
  // Never raised above what the CPU supports.
  EXPECT_EQ(ParseIsaOverride("avx512", Isa::kAvx2), Isa::kAvx2);
  EXPECT_EQ(ParseIsaOverride("avx512", Isa::kScalar), Isa::kScalar);
  EXPECT_EQ(ParseIsaOverride("avx2", Isa::kScalar), Isa::kScalar);
  // Unknown or malformed values are ignored.
  EXPECT_EQ(ParseIsaOverride("avx", Isa::kAvx512), Isa::kAvx512);
  EXPECT_EQ(ParseIsaOverride("avx2 ", Isa::kAvx512), Isa::kAvx512);
  EXPECT_EQ(ParseIsaOverride("sse4", Isa::kAvx2), Isa::kAvx2);
  EXPECT_EQ(ParseIsaOverride("avx5120", Isa::kAvx512), Isa::kAvx512);
}

// Sets OMENDB_ISA for one scope and restores the previous value.
class ScopedIsaEnv {
 public:
  explicit ScopedIsaEnv(const char* value) {
    if (const char* old = std::getenv("OMENDB_ISA")) old_ = old;
    if (value) {
      setenv("OMENDB_ISA", value, 1);
    } else {
      unsetenv("OMENDB_ISA");
    }
  }
  ~ScopedIsaEnv() {
    if (old_) {
      setenv("OMENDB_ISA", old_->c_str(), 1);
    } else {
      unsetenv("OMENDB_ISA");
    }
  }

 private:
  std::optional<std::string> old_;
};

Isa MinIsa(Isa a, Isa b) { return a < b ? a : b; }

TEST(SimdIsaTest, ResolveIsaReadsEnvironment) {
  const Isa cpu = DetectCpuIsa();
  {
    ScopedIsaEnv env(nullptr);
    EXPECT_EQ(ResolveIsa(), cpu);
  }
  {
    ScopedIsaEnv env("scalar");
    EXPECT_EQ(ResolveIsa(), Isa::kScalar);
  }
  {
    ScopedIsaEnv env("avx2");
    EXPECT_EQ(ResolveIsa(), MinIsa(Isa::kAvx2, cpu));
  }
  {
    ScopedIsaEnv env("avx512");
    EXPECT_EQ(ResolveIsa(), cpu);
  }
}

TEST(SimdIsaTest, BestIsaIsCpuLevelUnlessOverridden) {
  const char* env = std::getenv("OMENDB_ISA");
  const Isa expected = ParseIsaOverride(env, DetectCpuIsa());
  EXPECT_EQ(BestIsa(), expected);
  if (env == nullptr) {
    EXPECT_EQ(BestIsa(), DetectCpuIsa());
    // The machine this suite is developed on has AVX-512; elsewhere the
    // /proc/cpuinfo cross-check above covers detection.
    if (IsaFromProcCpuinfo() == Isa::kAvx512) {
      EXPECT_EQ(BestIsa(), Isa::kAvx512);
    }
  }
  EXPECT_EQ(BestKernels().isa, expected);
  EXPECT_EQ(&BestKernels(), &KernelsFor(expected));
  EXPECT_EQ(&BestKernels(), &BestKernels());
}

}  // namespace
}  // namespace omendb::simd
