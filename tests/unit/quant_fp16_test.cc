// Tests for the fp16 codec: the portable half conversions (against their
// definition and, where the CPU has it, F16C), every fp16 kernel this CPU can
// run against the scalar reference and a double-precision reference, batch vs
// single, serialization, and clamping.
#include <gtest/gtest.h>
#include <immintrin.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cpuid.h>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "quant/codec.h"
#include "quant/codecs_internal.h"
#include "quant/fp16.h"
#include "quant/sq_kernels.h"
#include "simd/distance.h"
#include "testutil/testutil.h"

namespace omendb::quant {
namespace {

using simd::Isa;
using testutil::AlignedBytes;
using testutil::IsaName;
using testutil::Normalise;

constexpr uint32_t kDims[] = {1, 7, 16, 63, 64, 100, 128, 784, 960};
constexpr Metric kMetrics[] = {Metric::kL2, Metric::kInnerProduct, Metric::kCosine};


// Every fp16 table this CPU can run, the scalar reference first.
std::vector<const Fp16Kernels*> AvailableTables() {
  std::vector<const Fp16Kernels*> out;
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (const Fp16Kernels* k = Fp16KernelsFor(isa)) out.push_back(k);
  }
  return out;
}

std::unique_ptr<Fp16Codec> MakeCodec(uint32_t dim, Metric m, const Fp16Kernels& k) {
  auto r = MakeFp16CodecWith(dim, m, k);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return std::unique_ptr<Fp16Codec>(static_cast<Fp16Codec*>(r->release()));
}

// The distance the codec defines, in double, with its magnitude (sum of
// |terms|), the scale float rounding errors grow with.
struct Ref {
  double value;
  double magnitude;
};

Ref RefDistance(const float* q, const float* x, size_t dim, Metric m) {
  double s = 0, mag = 0;
  for (size_t i = 0; i < dim; ++i) {
    if (m == Metric::kL2) {
      const double d = double{q[i]} - x[i];
      s += d * d;
      mag += d * d;
    } else {
      const double t = double{q[i]} * x[i];
      s += t;
      mag += std::fabs(t);
    }
  }
  if (m == Metric::kL2) return {s, mag};
  return {1.0 - s, 1.0 + mag};
}

// The bits of the half nearest to f by the definition (ties to even), found
// by brute force over the two neighbours of the truncated value, with the
// codec's clamping and NaN rules.
uint16_t ReferenceHalf(float f) {
  if (std::isnan(f)) return 0;
  const uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  const double a = std::fabs(double{f});
  if (a >= 65520.0) return sign | 0x7bff;
  // Largest magnitude half <= a, by search over the 0x7c00 finite patterns.
  uint16_t lo = 0, hi = 0x7bff;
  while (lo < hi) {
    const uint16_t mid = static_cast<uint16_t>((lo + hi + 1) / 2);
    if (double{HalfToFloat(mid)} <= a) lo = mid; else hi = static_cast<uint16_t>(mid - 1);
  }
  uint16_t best = lo;
  if (lo < 0x7bff || a > 65504.0) {
    const uint16_t up = static_cast<uint16_t>(lo + 1);
    const double dl = a - HalfToFloat(lo);
    const double du = up <= 0x7bff ? double{HalfToFloat(up)} - a : 1e300;
    if (du < dl || (du == dl && (up & 1) == 0)) best = up;
  }
  return static_cast<uint16_t>(sign | best);
}

TEST(QuantFp16Test, HalfToFloatIsExactOnEveryHalf) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const auto hh = static_cast<uint16_t>(h);
    const float f = HalfToFloat(hh);
    const uint32_t e = (h >> 10) & 0x1f, m = h & 0x3ff;
    const double sign = (h & 0x8000) ? -1.0 : 1.0;
    if (e == 31) {
      EXPECT_TRUE(m == 0 ? std::isinf(f) : std::isnan(f)) << h;
      continue;
    }
    const double want = e == 0 ? sign * std::ldexp(double(m), -24)
                               : sign * std::ldexp(1.0 + double(m) / 1024.0, int(e) - 15);
    ASSERT_EQ(double{f}, want) << "half 0x" << std::hex << h;
    ASSERT_EQ(std::signbit(f), (h & 0x8000) != 0) << h;
    // Every finite half survives the round trip bit for bit.
    ASSERT_EQ(FloatToHalf(f), hh) << "half 0x" << std::hex << h;
  }
}

TEST(QuantFp16Test, FloatToHalfRoundsToNearestEvenAndClamps) {
  // Edge cases named explicitly.
  EXPECT_EQ(FloatToHalf(65504.0f), 0x7bff);
  EXPECT_EQ(FloatToHalf(65519.996f), 0x7bff);
  EXPECT_EQ(FloatToHalf(65520.0f), 0x7bff);  // would round to inf
  EXPECT_EQ(FloatToHalf(1e30f), 0x7bff);
  EXPECT_EQ(FloatToHalf(-1e30f), 0xfbff);
  EXPECT_EQ(FloatToHalf(std::numeric_limits<float>::infinity()), 0x7bff);
  EXPECT_EQ(FloatToHalf(-std::numeric_limits<float>::infinity()), 0xfbff);
  EXPECT_EQ(FloatToHalf(std::numeric_limits<float>::quiet_NaN()), 0);
  EXPECT_EQ(FloatToHalf(-std::numeric_limits<float>::quiet_NaN()), 0);
  EXPECT_EQ(FloatToHalf(0.0f), 0);
  EXPECT_EQ(FloatToHalf(-0.0f), 0x8000);
  EXPECT_EQ(FloatToHalf(0x1p-24f), 1);          // smallest subnormal
  EXPECT_EQ(FloatToHalf(0x1p-25f), 0);          // tie -> even (0)
  EXPECT_EQ(FloatToHalf(0x1.8p-24f), 2);        // tie 1.5 -> even (2)
  EXPECT_EQ(FloatToHalf(0x1.000002p-25f), 1);   // just above the tie
  EXPECT_EQ(FloatToHalf(0x1p-14f), 0x0400);     // smallest normal
  EXPECT_EQ(FloatToHalf(0x1.ff8p-15f), 0x03ff); // largest subnormal, exactly
  EXPECT_EQ(FloatToHalf(0x1.ffcp-15f), 0x0400); // tie above it rounds up into the normals
  EXPECT_EQ(FloatToHalf(1.0f), 0x3c00);
  EXPECT_EQ(FloatToHalf(1.0f + 0x1p-11f), 0x3c00);  // tie -> even
  EXPECT_EQ(FloatToHalf(1.0f + 0x3p-11f), 0x3c02);  // tie -> even (up)
  EXPECT_EQ(FloatToHalf(std::numeric_limits<float>::denorm_min()), 0);

  // Random bit patterns over every exponent, against the brute-force
  // definition.
  std::mt19937 rng(7);
  for (int t = 0; t < 200000; ++t) {
    const float f = std::bit_cast<float>(static_cast<uint32_t>(rng()));
    ASSERT_EQ(FloatToHalf(f), ReferenceHalf(f)) << std::hexfloat << f;
  }
  // Dense sweep of the half range in float steps around every tie.
  for (uint32_t h = 0; h < 0x7bff; ++h) {
    const float a = HalfToFloat(static_cast<uint16_t>(h));
    const float b = HalfToFloat(static_cast<uint16_t>(h + 1));
    const float mid = a + (b - a) / 2;  // exact: one more bit than the half
    for (float f : {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 1e9f)}) {
      ASSERT_EQ(FloatToHalf(f), ReferenceHalf(f)) << std::hexfloat << f;
      ASSERT_EQ(FloatToHalf(-f), ReferenceHalf(-f)) << std::hexfloat << -f;
    }
  }
}

bool CpuHasF16c() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 && (ecx & bit_F16C) != 0;
}

__attribute__((target("f16c"))) uint16_t F16cHalf(float f) {
  return static_cast<uint16_t>(
      _mm_extract_epi16(_mm_cvtps_ph(_mm_set_ss(f), _MM_FROUND_TO_NEAREST_INT), 0));
}

TEST(QuantFp16Test, FloatToHalfMatchesF16cBelowTheClamp) {
  if (!CpuHasF16c()) GTEST_SKIP() << "CPU lacks F16C";
  std::mt19937 rng(11);
  for (int t = 0; t < 1000000; ++t) {
    const float f = std::bit_cast<float>(static_cast<uint32_t>(rng()));
    if (!std::isfinite(f) || std::fabs(f) >= 65520.0f) continue;
    ASSERT_EQ(FloatToHalf(f), F16cHalf(f)) << std::hexfloat << f;
  }
}

class QuantFp16KernelTest : public testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    k_ = Fp16KernelsFor(GetParam());
    if (k_ == nullptr) GTEST_SKIP() << "CPU cannot run this ISA's fp16 kernels";
  }
  const Fp16Kernels* k_ = nullptr;
};

TEST_P(QuantFp16KernelTest, MatchesScalarAndExactDistance) {
  std::mt19937 rng(42);
  std::normal_distribution<float> g(0.0f, 1.0f);
  for (Metric m : kMetrics) {
    for (uint32_t dim : kDims) {
      auto codec = MakeCodec(dim, m, *k_);
      auto ref = MakeCodec(dim, m, Fp16ScalarKernels());
      ASSERT_EQ(codec->code_bytes() % 8, 0u);
      ASSERT_EQ(codec->code_bytes(), ref->code_bytes());
      AlignedBytes st(codec->query_state_bytes()), st_ref(ref->query_state_bytes());
      std::vector<float> q(dim), x(dim), xd(dim);
      for (int trial = 0; trial < 20; ++trial) {
        for (auto& v : q) v = g(rng) * 10.0f;
        for (auto& v : x) v = g(rng) * 10.0f;
        if (m == Metric::kCosine) {
          Normalise(q.data(), dim);
          Normalise(x.data(), dim);
        }
        // Each code in its own exact-size allocation, so ASan sees any read
        // past its end.
        std::vector<uint8_t> code(codec->code_bytes());
        codec->Encode(x.data(), code.data());
        codec->Decode(code.data(), xd.data());
        codec->PrepareQuery(q.data(), st.get());
        ref->PrepareQuery(q.data(), st_ref.get());
        const float got = codec->dist(st.get(), code.data());
        const float want = ref->dist(st_ref.get(), code.data());
        const Ref exact = RefDistance(q.data(), xd.data(), dim, m);
        const double tol = 1e-5 * exact.magnitude + 1e-30;
        ASSERT_FALSE(std::isnan(got));
        EXPECT_NEAR(got, want, 2 * tol) << k_->name << " dim=" << dim << " metric=" << MetricName(m);
        EXPECT_NEAR(got, exact.value, tol) << k_->name << " dim=" << dim;
        // Against the original vector: each component moves by at most half
        // a half-precision ulp, |x - x̂| <= |x| 2^-11 for normal halves and
        // 2^-25 for subnormal ones (nothing here is clamped), and the
        // distance by the sum of its effects.
        double bound = 0;
        for (size_t i = 0; i < dim; ++i) {
          const double e = std::max(std::fabs(double{x[i]}) * 0x1p-11, 0x1p-25);
          ASSERT_LE(std::fabs(double{x[i]} - xd[i]), e) << i;
          bound += m == Metric::kL2
                       ? e * (std::fabs(2.0 * q[i] - x[i] - xd[i]))
                       : e * std::fabs(double{q[i]});
        }
        const Ref orig = RefDistance(q.data(), x.data(), dim, m);
        EXPECT_NEAR(got, orig.value, bound + tol) << k_->name << " dim=" << dim;
      }
    }
  }
}

TEST_P(QuantFp16KernelTest, ExactOnSmallIntegersForEveryDim) {
  // Small integers are exact halves and every partial sum is exact in float
  // whatever the order, so any dropped or doubled tail element shows up as an
  // exact mismatch. Every dim 1..300 covers every tail length of every
  // unroll width.
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> u(-4, 4);
  for (uint32_t dim = 1; dim <= 300; ++dim) {
    for (Metric m : {Metric::kL2, Metric::kInnerProduct}) {
      auto codec = MakeCodec(dim, m, *k_);
      std::vector<float> q(dim), x(dim);
      for (auto& v : q) v = static_cast<float>(u(rng));
      for (auto& v : x) v = static_cast<float>(u(rng));
      std::vector<uint8_t> code(codec->code_bytes());
      codec->Encode(x.data(), code.data());
      AlignedBytes st(codec->query_state_bytes());
      codec->PrepareQuery(q.data(), st.get());
      double want = 0;
      for (size_t i = 0; i < dim; ++i) {
        want += m == Metric::kL2 ? (q[i] - x[i]) * (q[i] - x[i]) : q[i] * x[i];
      }
      if (m != Metric::kL2) want = 1.0 - want;
      ASSERT_EQ(codec->dist(st.get(), code.data()), static_cast<float>(want)) << "dim=" << dim;
    }
  }
}

TEST_P(QuantFp16KernelTest, BatchEqualsSingle) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-2.0f, 2.0f);
  for (Metric m : kMetrics) {
    for (uint32_t dim : kDims) {
      auto codec = MakeCodec(dim, m, *k_);
      constexpr size_t kN = 37;  // not a multiple of the prefetch distance
      std::vector<std::vector<uint8_t>> codes(kN, std::vector<uint8_t>(codec->code_bytes()));
      std::vector<const uint8_t*> ptrs(kN);
      std::vector<float> x(dim), q(dim);
      for (size_t j = 0; j < kN; ++j) {
        for (auto& v : x) v = u(rng);
        codec->Encode(x.data(), codes[j].data());
        ptrs[j] = codes[j].data();
      }
      for (auto& v : q) v = u(rng);
      AlignedBytes st(codec->query_state_bytes());
      codec->PrepareQuery(q.data(), st.get());
      for (size_t n : {size_t{0}, size_t{1}, size_t{3}, kN}) {
        std::vector<float> out(kN, -7.0f);
        codec->batch(st.get(), ptrs.data(), n, out.data());
        for (size_t j = 0; j < n; ++j) {
          ASSERT_EQ(out[j], codec->dist(st.get(), ptrs[j])) << "dim=" << dim << " j=" << j;
        }
        for (size_t j = n; j < kN; ++j) ASSERT_EQ(out[j], -7.0f);  // nothing written past n
      }
    }
  }
}

TEST_P(QuantFp16KernelTest, CodesEndingAtAnUnmappedPage) {
  // The tails must never read past the code's last byte, even by a few
  // bytes: the last record of a mapping may end right before a guard page.
  const testutil::GuardedPages mem(4);
  ASSERT_NE(mem.end(), nullptr);
  for (uint32_t dim = 1; dim <= 1000; dim += (dim < 140 ? 1 : 61)) {
    for (Metric m : {Metric::kL2, Metric::kInnerProduct}) {
      auto codec = MakeCodec(dim, m, *k_);
      uint8_t* code = mem.end() - codec->code_bytes();
      std::vector<float> x(dim, 0.5f), q(dim, 2.0f);
      codec->Encode(x.data(), code);
      AlignedBytes st(codec->query_state_bytes());
      codec->PrepareQuery(q.data(), st.get());
      const float want = m == Metric::kL2 ? 2.25f * dim : 1.0f - 1.0f * dim;
      EXPECT_EQ(codec->dist(st.get(), code), want) << dim;
      const uint8_t* ptrs[1] = {code};
      float out = 0;
      codec->batch(st.get(), ptrs, 1, &out);
      EXPECT_EQ(out, want) << dim;
    }
  }
}

TEST_P(QuantFp16KernelTest, ClampedExtremesGiveNoNaN) {
  for (Metric m : kMetrics) {
    for (uint32_t dim : kDims) {
      auto codec = MakeCodec(dim, m, *k_);
      std::vector<float> x(dim), q(dim), xd(dim);
      const float inf = std::numeric_limits<float>::infinity();
      const float specials[] = {1e30f, -1e30f, inf, -inf, std::nanf(""), 65519.0f, -70000.0f, 1e-30f};
      for (size_t i = 0; i < dim; ++i) {
        x[i] = specials[i % 8];
        q[i] = (i % 2 ? -1.0f : 1.0f) * 1000.0f;
      }
      std::vector<uint8_t> code(codec->code_bytes());
      codec->Encode(x.data(), code.data());
      codec->Decode(code.data(), xd.data());
      for (size_t i = 0; i < dim; ++i) {
        ASSERT_TRUE(std::isfinite(xd[i])) << i;
        ASSERT_LE(std::fabs(xd[i]), 65504.0f);
        if (std::isnan(x[i])) {
          EXPECT_EQ(xd[i], 0.0f);
        } else if (std::fabs(x[i]) >= 65520.0f) {
          EXPECT_EQ(std::fabs(xd[i]), 65504.0f);
        }
      }
      AlignedBytes st(codec->query_state_bytes());
      codec->PrepareQuery(q.data(), st.get());
      const float d = codec->dist(st.get(), code.data());
      EXPECT_TRUE(std::isfinite(d)) << k_->name << " dim=" << dim << " d=" << d;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Quant, QuantFp16KernelTest,
                         testing::Values(Isa::kScalar, Isa::kAvx2, Isa::kAvx512), IsaName);

TEST(QuantFp16Test, DispatchFollowsBestIsa) {
  const Fp16Kernels& best = BestFp16Kernels();
  EXPECT_LE(static_cast<int>(best.isa), static_cast<int>(simd::BestIsa()));
  EXPECT_EQ(Fp16KernelsFor(best.isa), &best);
  // The public factory installs the best table's kernels.
  auto codec = TrainCodec({QuantKind::kFp16, 0}, 64, Metric::kL2, nullptr, 0, 0);
  ASSERT_TRUE(codec.ok()) << codec.status().ToString();
  EXPECT_EQ((*codec)->quantization(), (Quantization{QuantKind::kFp16, 0}));
  EXPECT_EQ((*codec)->dist, best.l2);
  EXPECT_EQ((*codec)->batch, best.l2_batch);
  EXPECT_EQ((*codec)->lower, nullptr);
  auto ip = TrainCodec({QuantKind::kFp16, 0}, 64, Metric::kCosine, nullptr, 0, 0);
  ASSERT_TRUE(ip.ok());
  EXPECT_EQ((*ip)->dist, best.ip);
  // The AVX-512 fp16 kernels need only simd's kAvx512 level; AVX2 needs F16C
  // too, which this machine (and every AVX2 CPU so far) has.
  if (simd::IsaSupported(Isa::kAvx512)) {
    EXPECT_NE(Fp16KernelsFor(Isa::kAvx512), nullptr);
  }
  if (simd::IsaSupported(Isa::kAvx2) && CpuHasF16c()) {
    EXPECT_NE(Fp16KernelsFor(Isa::kAvx2), nullptr);
  }
}

TEST(QuantFp16Test, EncodeIsDeterministicAndPadsWithZeros) {
  std::vector<float> x = testutil::RandomMatrix(1, 63, 9).data;
  auto a = MakeCodec(63, Metric::kL2, Fp16ScalarKernels());
  std::vector<uint8_t> c1(a->code_bytes(), 0xAB), c2(a->code_bytes(), 0xCD);
  a->Encode(x.data(), c1.data());
  a->Encode(x.data(), c2.data());
  EXPECT_EQ(c1, c2);
  EXPECT_EQ(a->code_bytes(), 128u);
  for (size_t i = 126; i < 128; ++i) EXPECT_EQ(c1[i], 0) << i;
  for (const Fp16Kernels* k : AvailableTables()) {
    auto b = MakeCodec(63, Metric::kL2, *k);
    std::vector<uint8_t> c3(b->code_bytes());
    b->Encode(x.data(), c3.data());
    EXPECT_EQ(c1, c3) << k->name;
  }
}

TEST(QuantFp16Test, SerializeRoundTrip) {
  for (Metric m : kMetrics) {
    for (uint32_t dim : kDims) {
      auto made = MakeFp16Codec(dim, m);
      ASSERT_TRUE(made.ok());
      std::string bytes;
      (*made)->Serialize(&bytes);
      ASSERT_EQ(bytes.size(), kCodecHeaderBytes);
      auto back = DeserializeCodec(bytes);
      ASSERT_TRUE(back.ok()) << back.status().ToString();
      EXPECT_EQ((*back)->quantization(), (Quantization{QuantKind::kFp16, 0}));
      EXPECT_EQ((*back)->dim(), dim);
      EXPECT_EQ((*back)->metric(), m);
      EXPECT_EQ((*back)->code_bytes(), (*made)->code_bytes());
      std::string again;
      (*back)->Serialize(&again);
      EXPECT_EQ(again, bytes);
    }
  }
}

TEST(QuantFp16Test, DamagedSerializationIsRejectedNotCrashed) {
  auto made = MakeFp16Codec(100, Metric::kInnerProduct);
  ASSERT_TRUE(made.ok());
  std::string bytes;
  (*made)->Serialize(&bytes);
  for (size_t len = 0; len < bytes.size(); ++len) {
    auto r = DeserializeCodec(std::string_view(bytes).substr(0, len));
    ASSERT_FALSE(r.ok()) << len;
    EXPECT_TRUE(r.status().IsCorruption()) << len << " " << r.status().ToString();
  }
  auto longer = DeserializeCodec(bytes + std::string(1, '\0'));
  EXPECT_TRUE(longer.status().IsCorruption()) << longer.status().ToString();
  // Every single-bit flip of the header: an error (Corruption, or NotSupported
  // for an unknown kind or version) or a codec that works.
  for (size_t bit = 0; bit < 8 * bytes.size(); ++bit) {
    std::string b = bytes;
    b[bit / 8] = static_cast<char>(b[bit / 8] ^ (1 << (bit % 8)));
    auto r = DeserializeCodec(b);
    if (!r.ok()) {
      EXPECT_TRUE(r.status().IsCorruption() || r.status().code() == StatusCode::kNotSupported)
          << bit << " " << r.status().ToString();
      continue;
    }
    const Codec& c = **r;
    std::vector<float> x(c.dim(), 0.25f);
    std::vector<uint8_t> code(c.code_bytes());
    c.Encode(x.data(), code.data());
    AlignedBytes st(c.query_state_bytes());
    c.PrepareQuery(x.data(), st.get());
    EXPECT_FALSE(std::isnan(c.dist(st.get(), code.data()))) << bit;
  }
  // Unknown body version.
  std::string v2 = bytes;
  v2[3] = 2;
  EXPECT_EQ(DeserializeCodec(v2).status().code(), StatusCode::kNotSupported);
}

TEST(QuantFp16Test, RejectsBadDim) {
  EXPECT_TRUE(MakeFp16CodecWith(0, Metric::kL2, Fp16ScalarKernels()).status().IsInvalidArgument());
  EXPECT_TRUE(
      MakeFp16CodecWith(65537, Metric::kL2, Fp16ScalarKernels()).status().IsInvalidArgument());
  EXPECT_TRUE(MakeFp16CodecWith(65536, Metric::kL2, Fp16ScalarKernels()).ok());
}

}  // namespace
}  // namespace omendb::quant
