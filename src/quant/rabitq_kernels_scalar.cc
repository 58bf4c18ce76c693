// Scalar reference RaBitQ kernels. They define the expected integers: each
// code is decoded one 64-dim block at a time into plain values and
// multiplied with the integer query in int64, in index order. The SIMD
// kernels must produce the same integers (they are exact sums, so order does
// not matter) and hence bit-identical estimates.
#include <cmath>
#include <utility>

#include "quant/rabitq_kernels.h"

namespace omendb::quant::rabitq_internal {
namespace {

template <uint32_t B, class QInt>
int64_t IpImpl(const void* state, const uint8_t* code, bool use_sign, bool use_ex) {
  constexpr uint32_t b = B - 1;
  const auto* q = static_cast<const RaBitQQuery*>(state);
  const uint32_t dp = q->dp;
  const QInt* qi = reinterpret_cast<const QInt*>(static_cast<const uint8_t*>(state) +
                                                  kQueryIntsOffset);
  const uint8_t* sign = code + kCodeFactorBytes;
  const uint8_t* ex = sign + dp / 8;
  int64_t sum = 0;
  uint8_t exv[64];
  for (size_t k = 0; k < dp / 64; ++k) {
    if (use_ex && b > 0) {
      DecodeExBlock(ex, b, dp, k, exv);
    } else {
      for (uint8_t& e : exv) e = 0;
    }
    const uint64_t s = LoadU64(sign + 8 * k);
    for (uint32_t d = 0; d < 64; ++d) {
      int64_t x = exv[d];
      if (use_sign) x += static_cast<int64_t>((s >> d) & 1u) << b;
      sum += x * qi[64 * k + d];
    }
  }
  return sum;
}

template <uint32_t B>
using QIntFor = std::conditional_t<(B >= 6), int16_t, int8_t>;

template <uint32_t B>
int64_t IpCode(const void* state, const uint8_t* code) {
  return IpImpl<B, QIntFor<B>>(state, code, true, true);
}
template <uint32_t B>
int64_t IpBin(const void* state, const uint8_t* code) {
  // The sign plane alone as a 0/1 vector: <s, u~>.
  constexpr uint32_t kOne = 1;
  return IpImpl<kOne, QIntFor<B>>(state, code, true, false);
}
template <uint32_t B>
int64_t IpEx(const void* state, const uint8_t* code) {
  return IpImpl<B, QIntFor<B>>(state, code, false, true);
}
template <uint32_t B>
float Dist(const void* state, const uint8_t* code) {
  return EstimateFromIp(state, code, IpCode<B>(state, code));
}
template <uint32_t B>
void Batch(const void* state, const uint8_t* const* codes, size_t n, float* out) {
  BatchLoop(state, codes, n, out, &IpCode<B>);
}
template <uint32_t B>
void BatchBounded(const void* state, const uint8_t* const* codes, size_t n, float limit,
                  float* out) {
  // For B = 1 the sign plane is the whole code and IpBin<1> its full product.
  BoundedBatchLoop(state, codes, n, limit, out, &IpBin<B>, &IpEx<B>);
}

void FastScan(const void* lut, const uint8_t* block, uint32_t* sums) {
  const auto* h = static_cast<const FastScanLut*>(lut);
  const uint8_t* table = static_cast<const uint8_t*>(lut) + 64;
  for (size_t i = 0; i < kFastScanBatch; ++i) sums[i] = 0;
  for (size_t c = 0; c < h->dp / 16; ++c) {
    for (size_t l = 0; l < 4; ++l) {
      const uint8_t* t = table + 64 * c + 16 * l;
      const uint8_t* v = block + 64 * c + 16 * l;
      for (size_t j = 0; j < 16; ++j) {
        sums[j] += t[v[j] & 0xF];
        sums[j + 16] += t[v[j] >> 4];
      }
    }
  }
}

}  // namespace

QueryIntsInfo PrepareIntsScalar(float* u, const float* mean, uint32_t dp, bool wide, void* ints) {
  double lanes[16] = {};
  float maxabs = 0;
  for (uint32_t i = 0; i < dp; ++i) {
    const float v = u[i] - mean[i];
    u[i] = v;
    lanes[i % 16] += v;
    const float m = std::fabs(v);
    if (m > maxabs) maxabs = m;  // NaN never compares greater
  }
  double sum_u = 0;
  for (double l : lanes) sum_u += l;
  const float qmax = wide ? 32767.0f : 127.0f;
  const double delta =
      maxabs > 0 && std::isfinite(maxabs) ? static_cast<double>(maxabs) / qmax : 1.0;
  const float inv = static_cast<float>(1.0 / delta);
  int64_t sum_ints = 0;
  for (uint32_t i = 0; i < dp; ++i) {
    float s = std::nearbyint(u[i] * inv);
    if (!(s >= -qmax)) s = (s > 0 || s < 0) ? -qmax : 0.0f;  // NaN -> 0
    if (s > qmax) s = qmax;
    const auto q = static_cast<int32_t>(s);
    if (wide) {
      static_cast<int16_t*>(ints)[i] = static_cast<int16_t>(q);
    } else {
      static_cast<int8_t*>(ints)[i] = static_cast<int8_t>(q);
    }
    sum_ints += q;
  }
  return QueryIntsInfo{sum_u, delta, sum_ints};
}

namespace {

template <size_t... I>
constexpr RaBitQKernels MakeTable(std::index_sequence<I...>) {
  // Index 0 is unused (B starts at 1); it repeats B = 1 so no entry is null.
  return RaBitQKernels{
      "scalar",
      {&Dist<I == 0 ? 1 : I>...},
      {&Batch<I == 0 ? 1 : I>...},
      {&BatchBounded<I == 0 ? 1 : I>...},
      {&IpCode<I == 0 ? 1 : I>...},
      {&IpBin<I == 0 ? 1 : I>...},
      {&IpEx<I == 0 ? 1 : I>...},
      &FastScan,
      &PrepareIntsScalar,
  };
}

constexpr RaBitQKernels kScalar = MakeTable(std::make_index_sequence<kRaBitQMaxBits + 1>());

}  // namespace

const RaBitQKernels& ScalarTable() { return kScalar; }

}  // namespace omendb::quant::rabitq_internal
