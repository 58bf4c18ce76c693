// Tests for the SQ8 codec: training, encoding and clamping, every SQ8 kernel
// this CPU can run against its scalar reference and against the exact
// distance to the reconstruction (tight) and to the original vector (bounded
// by the quantization step), batch vs single, serialization and damaged
// input, ranking quality after re-ranking, and the measured error of the
// int8 query quantization on real data.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "quant/codec.h"
#include "quant/codecs_internal.h"
#include "quant/sq8.h"
#include "quant/sq_kernels.h"
#include "simd/distance.h"
#include "testutil/testutil.h"
#include "util/dataset.h"

namespace omendb::quant {
namespace {

using simd::Isa;
using testutil::AlignedBytes;
using testutil::Normalise;

constexpr uint32_t kDims[] = {1, 7, 16, 63, 64, 100, 128, 784, 960};
constexpr Metric kMetrics[] = {Metric::kL2, Metric::kInnerProduct, Metric::kCosine};


// The kernel tables under test: the two scalar references and the SIMD
// tables Sq8KernelsFor hands out.
enum class Table { kScalar, kScalarInt8, kAvx2, kVnni };

const Sq8Kernels* TableFor(Table t) {
  switch (t) {
    case Table::kScalar: return &Sq8ScalarKernels();
    case Table::kScalarInt8: return &Sq8ScalarInt8Kernels();
    case Table::kAvx2: return Sq8KernelsFor(Isa::kAvx2);
    case Table::kVnni: return Sq8KernelsFor(Isa::kAvx512);
  }
  return nullptr;
}

// The scalar reference for a table's query form.
const Sq8Kernels& ReferenceFor(const Sq8Kernels& k) {
  return k.form == Sq8QueryForm::kFloat ? Sq8ScalarKernels() : Sq8ScalarInt8Kernels();
}

std::unique_ptr<Sq8Codec> Train(uint32_t dim, Metric m, const std::vector<float>& data,
                                const Sq8Kernels& k) {
  auto r = TrainSq8CodecWith(dim, m, data.data(), data.size() / dim, k);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return std::unique_ptr<Sq8Codec>(static_cast<Sq8Codec*>(r->release()));
}

// Rows whose dimensions have different offsets and spreads (like SIFT's or
// MNIST's), so per-dimension ranges matter; normalised under cosine.
std::vector<float> SkewedData(size_t n, uint32_t dim, Metric m, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> offset(dim), spread(dim);
  std::mt19937 shape(1234);  // same per-dimension shape for every seed
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  for (uint32_t i = 0; i < dim; ++i) {
    offset[i] = 10.0f * (u(shape) - 0.5f);
    spread[i] = 0.1f + 5.0f * u(shape);
  }
  std::vector<float> out(n * dim);
  for (size_t r = 0; r < n; ++r) {
    for (uint32_t i = 0; i < dim; ++i) out[r * dim + i] = offset[i] + spread[i] * g(rng);
    if (m == Metric::kCosine) Normalise(out.data() + r * dim, dim);
  }
  return out;
}

// The codec's distance in double from q and a vector v, plus the magnitude
// the float rounding of the estimate scales with (the size of the terms the
// L2 form ||q||^2 - 2<q, v> + ||v||^2 cancels).
struct Ref {
  double value;
  double magnitude;
};

Ref RefDistance(const float* q, const float* v, size_t dim, Metric m) {
  double qq = 0, vv = 0, qv = 0, aqv = 0, l2 = 0;
  for (size_t i = 0; i < dim; ++i) {
    qq += double{q[i]} * q[i];
    vv += double{v[i]} * v[i];
    qv += double{q[i]} * v[i];
    aqv += std::fabs(double{q[i]} * v[i]);
    l2 += (double{q[i]} - v[i]) * (double{q[i]} - v[i]);
  }
  if (m == Metric::kL2) return {l2, qq + vv + 2 * aqv};
  return {1.0 - qv, 1.0 + aqv};
}

// Upper bound on |sum_i w_i c_i - estimate| for the state's form: 0 for the
// float form (only rounding), else sum_i |w_i - (delta_hi wh_i + delta_lo
// wl_i)| c_i, read back from the prepared state.
double WeightErrorBound(const Sq8Codec& codec, const float* q, const void* state,
                        const uint8_t* code) {
  if (codec.kernels().form == Sq8QueryForm::kFloat) return 0;
  const auto* st = static_cast<const Sq8QueryState*>(state);
  const auto* wh = static_cast<const int8_t*>(Sq8Weights(st));
  const int8_t* wl = wh + Sq8Int8Weights(codec.dim());
  double bound = 0;
  for (uint32_t i = 0; i < codec.dim(); ++i) {
    const double w = q[i] * codec.scale()[i];
    const double approx = double{st->delta_hi} * wh[i] + double{st->delta_lo} * wl[i];
    bound += std::fabs(w - approx) * code[i];
  }
  return bound;
}

class QuantSq8KernelTest : public testing::TestWithParam<Table> {
 protected:
  void SetUp() override {
    k_ = TableFor(GetParam());
    if (k_ == nullptr) GTEST_SKIP() << "CPU cannot run these SQ8 kernels";
  }
  const Sq8Kernels* k_ = nullptr;
};

TEST_P(QuantSq8KernelTest, TableIsConsistent) {
  EXPECT_NE(k_->l2, nullptr);
  EXPECT_NE(k_->ip, nullptr);
  EXPECT_NE(k_->l2_batch, nullptr);
  EXPECT_NE(k_->ip_batch, nullptr);
  if (GetParam() == Table::kVnni) {
    EXPECT_EQ(k_->form, Sq8QueryForm::kInt8x2);
    EXPECT_TRUE(CpuHasAvx512Vnni());
  }
  if (GetParam() == Table::kAvx2) {
    EXPECT_EQ(k_->form, Sq8QueryForm::kFloat);
  }
}

TEST_P(QuantSq8KernelTest, MatchesReferenceAndExactDistances) {
  for (Metric m : kMetrics) {
    for (uint32_t dim : kDims) {
      const std::vector<float> train = SkewedData(300, dim, m, 1);
      auto codec = Train(dim, m, train, *k_);
      auto ref = Train(dim, m, train, ReferenceFor(*k_));
      ASSERT_EQ(codec->code_bytes(), ref->code_bytes());
      ASSERT_EQ(codec->code_bytes() % 8, 0u);
      const std::vector<float> queries = SkewedData(8, dim, m, 2);
      // Training rows (inside the range) and fresh rows (partly outside it).
      std::vector<float> xs(train.begin(), train.begin() + 6 * dim);
      const std::vector<float> fresh = SkewedData(6, dim, m, 3);
      xs.insert(xs.end(), fresh.begin(), fresh.end());
      AlignedBytes st(codec->query_state_bytes()), st_ref(ref->query_state_bytes());
      std::vector<float> xd(dim);
      for (size_t qi = 0; qi < 8; ++qi) {
        const float* q = queries.data() + qi * dim;
        codec->PrepareQuery(q, st.get());
        ref->PrepareQuery(q, st_ref.get());
        for (size_t xi = 0; xi < xs.size() / dim; ++xi) {
          const float* x = xs.data() + xi * dim;
          std::vector<uint8_t> code(codec->code_bytes());  // exact size: ASan sees overreads
          codec->Encode(x, code.data());
          codec->Decode(code.data(), xd.data());
          const float got = codec->dist(st.get(), code.data());
          const float want = ref->dist(st_ref.get(), code.data());
          ASSERT_TRUE(std::isfinite(got));
          const Ref hat = RefDistance(q, xd.data(), dim, m);
          const double round = 1e-5 * hat.magnitude + 1e-6;
          const double factor = m == Metric::kL2 ? 2.0 : 1.0;
          const double wbound = factor * WeightErrorBound(*codec, q, st.get(), code.data());
          // Same query form: the same estimate up to float rounding (the
          // int8 forms agree exactly before the last few float operations).
          const double same = k_->form == Sq8QueryForm::kFloat ? round : 1e-6 * hat.magnitude;
          EXPECT_NEAR(got, want, same + 1e-6) << k_->name << " dim=" << dim << " " << MetricName(m);
          // The reconstruction: tight.
          EXPECT_NEAR(got, hat.value, wbound + round) << k_->name << " dim=" << dim;
          // The original vector: each in-range component is within half a
          // step of its reconstruction, and the distance moves by at most
          // the sum of the components' effects.
          double qbound = 0;
          for (uint32_t i = 0; i < dim; ++i) {
            const double e = std::fabs(double{x[i]} - xd[i]);
            if (x[i] >= codec->lo()[i] && x[i] <= codec->hi()[i]) {
              // Slack: t = (x - lo) / s is rounded in float before it is
              // rounded to a code, which can pick the farther code by ~1e-5 s.
              ASSERT_LE(e, codec->scale()[i] * (0.5 + 1e-4) + 1e-6 * std::fabs(x[i]))
                  << "dim " << i;
            }
            qbound += m == Metric::kL2 ? e * std::fabs(2.0 * q[i] - x[i] - xd[i])
                                       : e * std::fabs(double{q[i]});
          }
          const Ref orig = RefDistance(q, x, dim, m);
          EXPECT_NEAR(got, orig.value, qbound + wbound + round) << k_->name << " dim=" << dim;
        }
      }
    }
  }
}

TEST_P(QuantSq8KernelTest, PreparationMatchesThePortableOneBitForBit) {
  // The VNNI table prepares queries with AVX-512; its weights and steps must
  // equal the portable preparation's exactly (only ||q||^2 and the bias may
  // differ, in their last bits, by summation order).
  std::mt19937 rng(77);
  std::normal_distribution<float> g(0.0f, 1.0f);
  for (uint32_t dim = 1; dim <= 300; dim += (dim < 70 ? 1 : 23)) {
    const std::vector<float> data = SkewedData(50, dim, Metric::kL2, 10);
    auto codec = Train(dim, Metric::kL2, data, *k_);
    auto ref = Train(dim, Metric::kL2, data, ReferenceFor(*k_));
    ASSERT_EQ(codec->query_state_bytes(), ref->query_state_bytes());
    AlignedBytes a(codec->query_state_bytes()), b(ref->query_state_bytes());
    std::vector<float> q(dim);
    for (int trial = 0; trial < 6; ++trial) {
      for (auto& v : q) v = g(rng) * (trial == 3 ? 1e-20f : trial == 4 ? 1e20f : 3.0f);
      if (trial == 5) std::fill(q.begin(), q.end(), 0.0f);
      if (trial == 2) q[dim / 2] = 1e4f;  // one dominant weight
      codec->PrepareQuery(q.data(), a.get());
      ref->PrepareQuery(q.data(), b.get());
      const auto* sa = static_cast<const Sq8QueryState*>(a.get());
      const auto* sb = static_cast<const Sq8QueryState*>(b.get());
      ASSERT_EQ(sa->delta_hi, sb->delta_hi) << dim << " " << trial;
      ASSERT_EQ(sa->delta_lo, sb->delta_lo) << dim << " " << trial;
      EXPECT_EQ(sa->dim, dim);
      // Queries near 1e20 overflow ||q||^2 (and a float distance) to +inf
      // on both paths; finite values agree to rounding.
      if (std::isinf(sb->q_norm2)) {
        EXPECT_EQ(sa->q_norm2, sb->q_norm2);
      } else {
        EXPECT_NEAR(sa->q_norm2, sb->q_norm2, 1e-6 * std::fabs(sb->q_norm2));
      }
      double bias_mag = 0;
      for (uint32_t i = 0; i < dim; ++i) bias_mag += std::fabs(double{q[i]} * codec->lo()[i]);
      if (std::isinf(sb->bias)) {
        EXPECT_EQ(sa->bias, sb->bias);
      } else {
        EXPECT_NEAR(sa->bias, sb->bias, 1e-6 * bias_mag + 1e-30);
      }
      const size_t weight_bytes = k_->form == Sq8QueryForm::kFloat
                                      ? 4 * Sq8FloatWeights(dim)
                                      : 2 * Sq8Int8Weights(dim);
      ASSERT_EQ(std::memcmp(Sq8Weights(sa), Sq8Weights(sb), weight_bytes), 0)
          << k_->name << " dim=" << dim << " trial=" << trial;
    }
  }
}

TEST_P(QuantSq8KernelTest, BatchEqualsSingle) {
  for (Metric m : kMetrics) {
    for (uint32_t dim : kDims) {
      const std::vector<float> data = SkewedData(41, dim, m, 4);
      auto codec = Train(dim, m, data, *k_);
      constexpr size_t kN = 41;  // not a multiple of the prefetch distance
      std::vector<std::vector<uint8_t>> codes(kN, std::vector<uint8_t>(codec->code_bytes()));
      std::vector<const uint8_t*> ptrs(kN);
      for (size_t j = 0; j < kN; ++j) {
        codec->Encode(data.data() + j * dim, codes[j].data());
        ptrs[j] = codes[j].data();
      }
      AlignedBytes st(codec->query_state_bytes());
      codec->PrepareQuery(data.data() + 5 * dim, st.get());
      for (size_t n : {size_t{0}, size_t{1}, size_t{4}, kN}) {
        std::vector<float> out(kN, -7.0f);
        codec->batch(st.get(), ptrs.data(), n, out.data());
        for (size_t j = 0; j < n; ++j) {
          ASSERT_EQ(out[j], codec->dist(st.get(), ptrs[j])) << k_->name << " dim=" << dim;
        }
        for (size_t j = n; j < kN; ++j) ASSERT_EQ(out[j], -7.0f);
      }
    }
  }
}

TEST_P(QuantSq8KernelTest, CodesEndingAtAnUnmappedPage) {
  // No kernel may read past a code's last byte: the last record of a mapping
  // may end right before a guard page.
  const testutil::GuardedPages mem(4);
  ASSERT_NE(mem.end(), nullptr);
  for (uint32_t dim = 1; dim <= 1000; dim += (dim < 200 ? 1 : 53)) {
    for (Metric m : {Metric::kL2, Metric::kInnerProduct}) {
      const std::vector<float> data = SkewedData(20, dim, m, 5);
      auto codec = Train(dim, m, data, *k_);
      auto ref = Train(dim, m, data, ReferenceFor(*k_));
      uint8_t* code = mem.end() - codec->code_bytes();
      codec->Encode(data.data() + dim, code);
      AlignedBytes st(codec->query_state_bytes()), st_ref(ref->query_state_bytes());
      codec->PrepareQuery(data.data(), st.get());
      ref->PrepareQuery(data.data(), st_ref.get());
      const float want = ref->dist(st_ref.get(), code);
      const float got = codec->dist(st.get(), code);
      EXPECT_NEAR(got, want, 1e-4 * (std::fabs(want) + 1)) << dim;
      const uint8_t* ptrs[1] = {code};
      float out = 0;
      codec->batch(st.get(), ptrs, 1, &out);
      EXPECT_EQ(out, got) << dim;
    }
  }
}

TEST_P(QuantSq8KernelTest, LargestDimDoesNotOverflowTheIntegerSums) {
  // dim 65536 with every code 255 and every weight at the top of its range:
  // 65536 * 255 * 127 is just below 2^31, the int8 forms' worst case.
  constexpr uint32_t kDim = 65536;
  std::vector<float> data(2 * size_t{kDim}, 0.0f);
  std::fill(data.begin() + kDim, data.end(), 255.0f);  // lo = 0, hi = 255, s = 1
  for (Metric m : {Metric::kL2, Metric::kInnerProduct}) {
    auto codec = Train(kDim, m, data, *k_);
    std::vector<uint8_t> code(codec->code_bytes());
    codec->Encode(data.data() + kDim, code.data());
    for (uint32_t i = 0; i < kDim; ++i) ASSERT_EQ(code[i], 255);
    const std::vector<float> q(kDim, 1.0f);
    AlignedBytes st(codec->query_state_bytes());
    codec->PrepareQuery(q.data(), st.get());
    const double dot = 255.0 * kDim;
    const double want = m == Metric::kL2 ? kDim * 254.0 * 254.0 : 1.0 - dot;
    EXPECT_NEAR(codec->dist(st.get(), code.data()), want, 1e-6 * (dot * 2 + 255.0 * dot))
        << k_->name;
  }
}

TEST_P(QuantSq8KernelTest, DegenerateInputsGiveNoNaN) {
  for (Metric m : kMetrics) {
    for (uint32_t dim : kDims) {
      // Half the dimensions constant (scale 0), half with a real range.
      std::vector<float> data(10 * size_t{dim});
      for (size_t r = 0; r < 10; ++r) {
        for (uint32_t i = 0; i < dim; ++i) data[r * dim + i] = i % 2 ? 3.0f : 0.1f * r;
      }
      auto codec = Train(dim, m, data, *k_);
      auto untrained = TrainSq8CodecWith(dim, m, nullptr, 0, *k_);
      ASSERT_TRUE(untrained.ok());
      const float inf = std::numeric_limits<float>::infinity();
      const float specials[] = {0.0f, 1e30f, -1e30f, inf, -inf, std::nanf(""), 3.0f, -0.0f};
      std::vector<float> x(dim), q0(dim, 0.0f), qbig(dim), qmix(dim);
      for (uint32_t i = 0; i < dim; ++i) {
        x[i] = specials[i % 8];
        qbig[i] = i % 3 ? 1e6f : -1e6f;
        qmix[i] = i % 5 ? 0.0f : 1e-30f;
      }
      const Codec* codecs[] = {codec.get(), untrained->get()};
      for (const Codec* c : codecs) {
        std::vector<uint8_t> code(c->code_bytes());
        c->Encode(x.data(), code.data());
        AlignedBytes st(c->query_state_bytes());
        for (const auto* q : {&q0, &qbig, &qmix}) {
          c->PrepareQuery(q->data(), st.get());
          const float d = c->dist(st.get(), code.data());
          EXPECT_TRUE(std::isfinite(d)) << k_->name << " dim=" << dim << " d=" << d;
        }
      }
    }
  }
}

std::string TableName(const testing::TestParamInfo<Table>& param) {
  switch (param.param) {
    case Table::kScalar: return "scalar";
    case Table::kScalarInt8: return "scalar_int8";
    case Table::kAvx2: return "avx2";
    case Table::kVnni: return "avx512_vnni";
  }
  return "unknown";
}

INSTANTIATE_TEST_SUITE_P(Quant, QuantSq8KernelTest,
                         testing::Values(Table::kScalar, Table::kScalarInt8, Table::kAvx2,
                                         Table::kVnni),
                         TableName);

TEST(QuantSq8Test, TrainsPerDimensionMinMax) {
  const std::vector<float> data = {1.0f, -2.0f, 5.0f,  //
                                   3.0f, -4.0f, 5.0f,  //
                                   2.0f, std::nanf(""), 5.0f};
  auto codec = Train(3, Metric::kL2, data, Sq8ScalarKernels());
  EXPECT_EQ(codec->lo(), (std::vector<float>{1.0f, -4.0f, 5.0f}));
  EXPECT_EQ(codec->hi(), (std::vector<float>{3.0f, -2.0f, 5.0f}));  // NaN skipped
  EXPECT_EQ(codec->scale()[0], static_cast<float>(2.0 / 255.0));
  EXPECT_EQ(codec->scale()[2], 0.0f);  // constant dimension
  // A constant dimension encodes as 0 and decodes to its value.
  std::vector<uint8_t> code(codec->code_bytes());
  const float x[3] = {3.0f, -4.0f, 7.0f};
  codec->Encode(x, code.data());
  EXPECT_EQ(code[0], 255);
  EXPECT_EQ(code[1], 0);
  EXPECT_EQ(code[2], 0);
  float xd[3];
  codec->Decode(code.data(), xd);
  EXPECT_EQ(xd[2], 5.0f);
}

TEST(QuantSq8Test, UntrainedUsesDefaultRangeAndSameCodeSize) {
  for (Metric m : kMetrics) {
    for (uint32_t dim : kDims) {
      auto untrained = TrainCodec({QuantKind::kSq8, 0}, dim, m, nullptr, 0, 0);
      ASSERT_TRUE(untrained.ok()) << untrained.status().ToString();
      const auto& c = static_cast<const Sq8Codec&>(**untrained);
      for (uint32_t i = 0; i < dim; ++i) {
        ASSERT_EQ(c.lo()[i], -1.0f);
        ASSERT_EQ(c.hi()[i], 1.0f);
      }
      // The index sizes its records from an untrained codec, so training must
      // not change code_bytes.
      const std::vector<float> data = SkewedData(10, dim, m, 6);
      auto trained = TrainCodec({QuantKind::kSq8, 0}, dim, m, data.data(), 10, 0);
      ASSERT_TRUE(trained.ok());
      EXPECT_EQ((*trained)->code_bytes(), c.code_bytes());
      const size_t want = m == Metric::kL2 ? (((dim + 3) / 4 * 4 + 4 + 7) / 8 * 8)
                                           : (dim + 7) / 8 * 8;
      EXPECT_EQ(c.code_bytes(), want) << dim;
    }
  }
}

TEST(QuantSq8Test, OutOfRangeValuesClamp) {
  const std::vector<float> data = {-1.0f, 0.0f, 10.0f, 1.0f, 1.0f, 20.0f};
  auto codec = Train(3, Metric::kL2, data, Sq8ScalarKernels());
  const float inf = std::numeric_limits<float>::infinity();
  struct Case {
    float x[3];
    uint8_t want[3];
  };
  const Case cases[] = {
      {{5.0f, -3.0f, 1e30f}, {255, 0, 255}},
      {{-5.0f, 3.0f, -1e30f}, {0, 255, 0}},
      {{inf, -inf, std::nanf("")}, {255, 0, 0}},
      {{-1.0f, 1.0f, 12.0f}, {0, 255, 51}},  // in range: (12 - 10) / (10 / 255) = 51
  };
  for (const Case& c : cases) {
    std::vector<uint8_t> code(codec->code_bytes());
    codec->Encode(c.x, code.data());
    for (int i = 0; i < 3; ++i) EXPECT_EQ(code[i], c.want[i]) << i;
    float xd[3];
    codec->Decode(code.data(), xd);
    for (int i = 0; i < 3; ++i) {
      EXPECT_GE(xd[i], codec->lo()[i]);
      EXPECT_LE(xd[i], codec->hi()[i] * (1 + 1e-6f));
    }
  }
}

TEST(QuantSq8Test, EncodeIsDeterministicWithStoredNorm) {
  for (Metric m : kMetrics) {
    const uint32_t dim = 63;
    const std::vector<float> data = SkewedData(50, dim, m, 7);
    auto a = Train(dim, m, data, Sq8ScalarKernels());
    std::vector<uint8_t> c1(a->code_bytes(), 0xAB), c2(a->code_bytes(), 0xCD);
    a->Encode(data.data() + dim, c1.data());
    a->Encode(data.data() + dim, c2.data());
    EXPECT_EQ(c1, c2);
    for (Table t : {Table::kScalarInt8, Table::kAvx2, Table::kVnni}) {
      if (TableFor(t) == nullptr) continue;
      auto b = Train(dim, m, data, *TableFor(t));
      std::vector<uint8_t> c3(b->code_bytes());
      b->Encode(data.data() + dim, c3.data());
      EXPECT_EQ(c1, c3) << TableFor(t)->name;
    }
    // Padding is zero; under L2 the factor is float(||x̂||^2).
    std::vector<float> xd(dim);
    a->Decode(c1.data(), xd.data());
    double n2 = 0;
    for (float v : xd) n2 += double{v} * v;
    if (m == Metric::kL2) {
      float f;
      std::memcpy(&f, c1.data() + a->norm_offset(), 4);
      EXPECT_EQ(f, static_cast<float>(n2));
      for (size_t i = dim; i < a->norm_offset(); ++i) EXPECT_EQ(c1[i], 0);
      for (size_t i = a->norm_offset() + 4; i < c1.size(); ++i) EXPECT_EQ(c1[i], 0);
    } else {
      for (size_t i = dim; i < c1.size(); ++i) EXPECT_EQ(c1[i], 0);
    }
  }
}

TEST(QuantSq8Test, SerializeRoundTripIsBitIdentical) {
  for (Metric m : kMetrics) {
    for (uint32_t dim : kDims) {
      const std::vector<float> data = SkewedData(30, dim, m, 8);
      auto trained = TrainCodec({QuantKind::kSq8, 0}, dim, m, data.data(), 30, 0);
      ASSERT_TRUE(trained.ok());
      std::string bytes;
      (*trained)->Serialize(&bytes);
      ASSERT_EQ(bytes.size(), kCodecHeaderBytes + 8 * size_t{dim});
      auto back = DeserializeCodec(bytes);
      ASSERT_TRUE(back.ok()) << back.status().ToString();
      std::string again;
      (*back)->Serialize(&again);
      EXPECT_EQ(again, bytes);
      const auto& a = static_cast<const Sq8Codec&>(**trained);
      const auto& b = static_cast<const Sq8Codec&>(**back);
      EXPECT_EQ(std::memcmp(a.scale().data(), b.scale().data(), 4 * size_t{dim}), 0);
      EXPECT_EQ(b.code_bytes(), a.code_bytes());
      EXPECT_EQ(b.metric(), m);
      EXPECT_EQ(&b.kernels(), &BestSq8Kernels());
      std::vector<uint8_t> ca(a.code_bytes()), cb(b.code_bytes());
      a.Encode(data.data() + 3 * dim, ca.data());
      b.Encode(data.data() + 3 * dim, cb.data());
      EXPECT_EQ(ca, cb);
      AlignedBytes sa(a.query_state_bytes()), sb(b.query_state_bytes());
      a.PrepareQuery(data.data(), sa.get());
      b.PrepareQuery(data.data(), sb.get());
      EXPECT_EQ(a.dist(sa.get(), ca.data()), b.dist(sb.get(), cb.data()));
    }
  }
}

TEST(QuantSq8Test, DamagedSerializationIsRejectedNotCrashed) {
  for (Metric m : {Metric::kL2, Metric::kCosine}) {
    const uint32_t dim = 24;
    const std::vector<float> data = SkewedData(30, dim, m, 9);
    auto trained = TrainCodec({QuantKind::kSq8, 0}, dim, m, data.data(), 30, 0);
    ASSERT_TRUE(trained.ok());
    std::string bytes;
    (*trained)->Serialize(&bytes);
    // Every truncation is Corruption.
    for (size_t len = 0; len < bytes.size(); ++len) {
      auto r = DeserializeCodec(std::string_view(bytes).substr(0, len));
      ASSERT_TRUE(r.status().IsCorruption()) << len << " " << r.status().ToString();
    }
    EXPECT_TRUE(DeserializeCodec(bytes + "x").status().IsCorruption());
    // Every single-bit flip: an error, or a codec that encodes and computes
    // distances without crashing.
    size_t ok = 0, corrupt = 0;
    for (size_t bit = 0; bit < 8 * bytes.size(); ++bit) {
      std::string b = bytes;
      b[bit / 8] = static_cast<char>(b[bit / 8] ^ (1 << (bit % 8)));
      auto r = DeserializeCodec(b);
      if (!r.ok()) {
        ASSERT_TRUE(r.status().IsCorruption() || r.status().code() == StatusCode::kNotSupported)
            << bit << " " << r.status().ToString();
        ++corrupt;
        continue;
      }
      ++ok;
      const Codec& c = **r;
      std::vector<float> x(c.dim(), 0.5f);
      std::vector<uint8_t> code(c.code_bytes());
      c.Encode(x.data(), code.data());
      AlignedBytes st(c.query_state_bytes());
      c.PrepareQuery(x.data(), st.get());
      float out = 0;
      const uint8_t* ptrs[1] = {code.data()};
      c.batch(st.get(), ptrs, 1, &out);
      EXPECT_EQ(out, c.dist(st.get(), code.data()));
    }
    EXPECT_GT(corrupt, 0u);
    EXPECT_GT(ok, 0u);  // most flips of a float's low bits leave a valid range
    // Named inconsistencies.
    auto put = [&](size_t index, float v) {
      std::string b = bytes;
      const auto u = std::bit_cast<uint32_t>(v);
      std::memcpy(b.data() + kCodecHeaderBytes + 4 * index, &u, 4);
      return DeserializeCodec(b).status();
    };
    EXPECT_TRUE(put(0, std::nanf("")).IsCorruption());
    EXPECT_TRUE(put(dim + 3, std::numeric_limits<float>::infinity()).IsCorruption());
    EXPECT_TRUE(put(5, 1e9f).IsCorruption());         // lo > hi
    EXPECT_TRUE(put(dim + 5, -1e9f).IsCorruption());  // hi < lo
    std::string bits = bytes;
    bits[1] = 4;
    EXPECT_TRUE(DeserializeCodec(bits).status().IsCorruption());
    std::string v2 = bytes;
    v2[3] = 2;
    EXPECT_EQ(DeserializeCodec(v2).status().code(), StatusCode::kNotSupported);
  }
}

TEST(QuantSq8Test, RejectsBadArguments) {
  const Sq8Kernels& k = Sq8ScalarKernels();
  EXPECT_TRUE(TrainSq8CodecWith(0, Metric::kL2, nullptr, 0, k).status().IsInvalidArgument());
  EXPECT_TRUE(TrainSq8CodecWith(65537, Metric::kL2, nullptr, 0, k).status().IsInvalidArgument());
  EXPECT_TRUE(TrainSq8CodecWith(4, Metric::kL2, nullptr, 3, k).status().IsInvalidArgument());
}

TEST(QuantSq8Test, DispatchFollowsBestIsa) {
  const Sq8Kernels& best = BestSq8Kernels();
  EXPECT_LE(static_cast<int>(best.isa), static_cast<int>(simd::BestIsa()));
  if (simd::BestIsa() == Isa::kAvx512 && CpuHasAvx512Vnni()) {
    EXPECT_EQ(&best, &Sq8VnniKernels());
  } else if (simd::BestIsa() >= Isa::kAvx2) {
    EXPECT_EQ(&best, &Sq8Avx2Kernels());
  } else {
    EXPECT_EQ(&best, &Sq8ScalarKernels());
  }
  auto codec = TrainCodec({QuantKind::kSq8, 0}, 32, Metric::kL2, nullptr, 0, 0);
  ASSERT_TRUE(codec.ok());
  EXPECT_EQ((*codec)->dist, best.l2);
  EXPECT_EQ((*codec)->batch, best.l2_batch);
  EXPECT_EQ((*codec)->lower, nullptr);
  EXPECT_EQ((*codec)->query_state_bytes() % 64, 0u);
}

// Exact distance of q to every row of base under m (m's float definition).
std::vector<std::pair<double, uint32_t>> ExactRanking(const float* q, const std::vector<float>& base,
                                                      uint32_t dim, Metric m) {
  const size_t n = base.size() / dim;
  std::vector<std::pair<double, uint32_t>> d(n);
  for (size_t i = 0; i < n; ++i) {
    d[i] = {RefDistance(q, base.data() + i * dim, dim, m).value, static_cast<uint32_t>(i)};
  }
  std::sort(d.begin(), d.end());
  return d;
}

TEST(QuantSq8Test, RerankedTop10MatchesExactTop10) {
  // 2,000 x 128 Gaussian mixture; the top 40 by the SQ8 estimate, re-ranked
  // by exact distance, must hold the exact top 10 (recall >= 0.99), for every
  // kernel table this CPU runs.
  constexpr uint32_t kDim = 128;
  constexpr size_t kBase = 2000, kQueries = 100, kK = 10, kShort = 40;
  for (Metric m : {Metric::kL2, Metric::kInnerProduct, Metric::kCosine}) {
    util::Matrix all = util::GenerateClustered(kBase + kQueries, kDim, 40, 0.35f, 17);
    // Inner product on the raw vectors (norms differ), cosine on unit ones.
    if (m == Metric::kCosine) {
      for (size_t r = 0; r < all.rows; ++r) Normalise(all.row(r), kDim);
    }
    const std::vector<float> base(all.data.begin(), all.data.begin() + kBase * kDim);
    std::vector<std::vector<std::pair<double, uint32_t>>> exact(kQueries);
    for (size_t qi = 0; qi < kQueries; ++qi) {
      exact[qi] = ExactRanking(all.row(kBase + qi), base, kDim, m);
      exact[qi].resize(kK);
    }
    for (Table t : {Table::kScalar, Table::kScalarInt8, Table::kAvx2, Table::kVnni}) {
      const Sq8Kernels* k = TableFor(t);
      if (k == nullptr) continue;
      auto codec = Train(kDim, m, base, *k);
      std::vector<uint8_t> codes(kBase * codec->code_bytes());
      std::vector<const uint8_t*> ptrs(kBase);
      for (size_t i = 0; i < kBase; ++i) {
        ptrs[i] = codes.data() + i * codec->code_bytes();
        codec->Encode(base.data() + i * kDim, codes.data() + i * codec->code_bytes());
      }
      AlignedBytes st(codec->query_state_bytes());
      std::vector<float> est(kBase);
      size_t hits = 0;
      for (size_t qi = 0; qi < kQueries; ++qi) {
        const float* q = all.row(kBase + qi);
        codec->PrepareQuery(q, st.get());
        codec->batch(st.get(), ptrs.data(), kBase, est.data());
        std::vector<uint32_t> order(kBase);
        for (uint32_t i = 0; i < kBase; ++i) order[i] = i;
        std::partial_sort(order.begin(), order.begin() + kShort, order.end(),
                          [&](uint32_t a, uint32_t b) { return est[a] < est[b]; });
        std::vector<std::pair<double, uint32_t>> shortlist;
        for (size_t j = 0; j < kShort; ++j) {
          shortlist.push_back(
              {RefDistance(q, base.data() + size_t{order[j]} * kDim, kDim, m).value, order[j]});
        }
        std::sort(shortlist.begin(), shortlist.end());
        for (size_t j = 0; j < kK; ++j) {
          for (size_t l = 0; l < kK; ++l) hits += shortlist[l].second == exact[qi][j].second;
        }
      }
      const double recall = double(hits) / double(kQueries * kK);
      EXPECT_GE(recall, 0.99) << k->name << " " << MetricName(m);
    }
  }
}

// Relative error of the L2 estimate against the exact distance to the
// reconstruction, over each query's 100 nearest reconstructions, for the
// two-level int8 query (the VNNI form, computed by the scalar-int8 reference
// so it runs anywhere) and, for comparison, its first level alone.
struct ErrorStats {
  double mean = 0, p99 = 0, max = 0;
};

ErrorStats Summarise(std::vector<double> v) {
  ErrorStats s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  for (double x : v) s.mean += x;
  s.mean /= static_cast<double>(v.size());
  s.p99 = v[v.size() * 99 / 100];
  s.max = v.back();
  return s;
}

void MeasureInt8Error(const std::string& name, const util::Matrix& base,
                      const util::Matrix& queries) {
  const auto dim = static_cast<uint32_t>(base.dim);
  auto codec = Train(dim, Metric::kL2, base.data, Sq8ScalarInt8Kernels());
  const size_t n = base.rows;
  std::vector<uint8_t> codes(n * codec->code_bytes());
  std::vector<float> hats(n * dim);
  for (size_t i = 0; i < n; ++i) {
    codec->Encode(base.row(i), codes.data() + i * codec->code_bytes());
    codec->Decode(codes.data() + i * codec->code_bytes(), hats.data() + i * dim);
  }
  AlignedBytes st(codec->query_state_bytes());
  std::vector<double> two, one;
  for (size_t qi = 0; qi < queries.rows; ++qi) {
    const float* q = queries.row(qi);
    codec->PrepareQuery(q, st.get());
    const auto* s = static_cast<const Sq8QueryState*>(st.get());
    const auto* wh = static_cast<const int8_t*>(Sq8Weights(s));
    const auto exact = ExactRanking(q, hats, dim, Metric::kL2);
    for (size_t j = 0; j < 100; ++j) {
      const uint8_t* code = codes.data() + size_t{exact[j].second} * codec->code_bytes();
      const double d = exact[j].first;
      if (d <= 0) continue;
      two.push_back(std::fabs(codec->dist(st.get(), code) - d) / d);
      int64_t hi = 0;
      for (uint32_t i = 0; i < dim; ++i) hi += int64_t{wh[i]} * code[i];
      const float one_level = Sq8L2From(s, s->delta_hi * static_cast<float>(hi), code);
      one.push_back(std::fabs(one_level - d) / d);
    }
  }
  const ErrorStats t = Summarise(two), o = Summarise(one);
  std::printf("[ sq8 int8 ] %s (%zu x %u, %zu queries): relative L2 error over the 100 nearest: "
              "two-level mean %.5f%% p99 %.5f%% max %.5f%%; one level mean %.4f%% p99 %.4f%% "
              "max %.4f%%\n",
              name.c_str(), n, dim, queries.rows, 100 * t.mean, 100 * t.p99, 100 * t.max,
              100 * o.mean, 100 * o.p99, 100 * o.max);
  testing::Test::RecordProperty(name + "_two_level_mean_pct", std::to_string(100 * t.mean));
  testing::Test::RecordProperty(name + "_two_level_max_pct", std::to_string(100 * t.max));
  testing::Test::RecordProperty(name + "_one_level_mean_pct", std::to_string(100 * o.mean));
  // The threshold the design set: the estimate must stay well within 0.2%
  // of the distance for re-ranking to work at high recall.
  EXPECT_LT(t.max, 0.002) << name;
  EXPECT_LT(t.mean, 0.0002) << name;
}

TEST(QuantSq8Test, Int8QueryErrorIsSmall) {
  util::Matrix gen = util::GenerateClustered(5050, 128, 40, 0.35f, 23);
  util::Matrix base, queries;
  base.dim = queries.dim = 128;
  base.rows = 5000;
  queries.rows = 50;
  base.data.assign(gen.data.begin(), gen.data.begin() + 5000 * 128);
  queries.data.assign(gen.data.begin() + 5000 * 128, gen.data.end());
  MeasureInt8Error("clustered", base, queries);
  // Real data when the shared data sets are present (not required).
  for (const char* name : {"siftsmall", "mnist-784"}) {
    const std::string dir = util::FindDataDir(name);
    if (dir.empty()) continue;
    auto ds = util::LoadTexmexDir(dir, 10000, 20);
    if (!ds.ok()) continue;
    MeasureInt8Error(name, ds->base, ds->queries);
  }
}

}  // namespace
}  // namespace omendb::quant
