// Scalar reference kernels of the fp16 and SQ8 codecs, the portable half
// conversions, and the run-time choice of kernel table.
//
// The references define the expected results: one float accumulator summed in
// index order (without -ffast-math the compiler may not reassociate it), or,
// for the int8 SQ8 form, exact int32 sums. They also serve as the fallback on
// CPUs without AVX2.
#include <cpuid.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

#include "quant/sq_kernels.h"
#include "simd/kernels_internal.h"

namespace omendb::quant {

uint16_t FloatToHalf(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  const auto sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return 0;  // NaN -> +0 (see header)
  // 65520 = 0x477ff000 is the midpoint between 65504 and the next binade's
  // first value (would-be 65536): round-to-nearest-even takes it and
  // everything above to infinity, which we clamp to 65504 instead.
  if (ax >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7bffu);
  if (ax >= 0x38800000u) {
    // Normal half (|f| >= 2^-14): rebias the exponent (127 -> 15, i.e.
    // subtract 112 << 23) and drop 13 mantissa bits with round-to-nearest-
    // even: adding 0xfff plus the lowest kept bit carries exactly when the
    // dropped part is above half, or equal to half with an odd kept part. A
    // carry out of the mantissa correctly bumps the exponent.
    uint32_t m = ax - 0x38000000u;
    m += 0xfffu + ((m >> 13) & 1u);
    return static_cast<uint16_t>(sign | (m >> 13));
  }
  // Subnormal half: value = h * 2^-24 with h < 1024. Anything at or below
  // 2^-25 (half the smallest subnormal) rounds to zero (ties to even = 0);
  // this also covers float zeros and subnormals.
  if (ax <= 0x33000000u) return sign;
  const uint32_t e = ax >> 23;                       // 102..112
  const uint32_t mant = (ax & 0x7fffffu) | 0x800000u;  // with the implicit 1
  // value / 2^-24 = mant * 2^(e - 150 + 24) = mant >> (126 - e).
  const uint32_t shift = 126 - e;  // 14..24
  uint32_t h = mant >> shift;
  const uint32_t rem = mant & ((1u << shift) - 1u);
  const uint32_t halfway = 1u << (shift - 1);
  if (rem > halfway || (rem == halfway && (h & 1u) != 0)) ++h;  // may become 0x400: still right
  return static_cast<uint16_t>(sign | h);
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t e = (h >> 10) & 0x1fu;
  const uint32_t m = h & 0x3ffu;
  if (e == 0) {
    // Zero or subnormal: m * 2^-24, exact in float (m < 2^10, power-of-two
    // scale).
    const float v = static_cast<float>(m) * 0x1p-24f;
    return std::bit_cast<float>(std::bit_cast<uint32_t>(v) | sign);
  }
  if (e == 31) return std::bit_cast<float>(sign | 0x7f800000u | (m << 13));
  return std::bit_cast<float>(sign | ((e + 112) << 23) | (m << 13));
}

namespace {

// Rounds t (finite) to the nearest integer, ties to even, and clamps it to
// [-127, 127]. Adding and subtracting 1.5 * 2^23 rounds any |t| <= 2^22 to an
// integer in the default rounding mode, without the libm call std::nearbyint
// costs on baseline x86-64 (no SSE4.1 roundss); the AVX-512 preparation's
// vcvtps2dq rounds the same way. The caller guarantees t is finite (a NaN or
// out-of-range float -> int conversion would be undefined behaviour).
inline int8_t QuantizeWeight(float t) {
  t = std::min(std::max(t, -127.0f), 127.0f);
  constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23
  return static_cast<int8_t>(static_cast<int32_t>((t + kMagic) - kMagic));
}

// max_i |v_i| as a float, compared as bit patterns: for non-negative floats
// the order of the patterns is the order of the values, and a NaN (patterns
// above 0x7f800000) comes out as a non-finite maximum, which the caller
// rejects. The AVX-512 preparation computes the same with vpmaxud.
float MaxAbs(const float* v, size_t n) {
  uint32_t m = 0;
  for (size_t i = 0; i < n; ++i) m = std::max(m, std::bit_cast<uint32_t>(v[i]) & 0x7fffffffu);
  return std::bit_cast<float>(m);
}

// ||q||^2 and sum_i q_i lo_i in double (the L2 estimate cancels large terms,
// so their rounding matters more than the kernels'), and w_i = q_i s_i in
// float. Four partial sums each, so the additions do not form one long
// latency chain.
void PrepareCommon(const float* q, const float* lo, const float* scale, Sq8QueryState* st,
                   float* w) {
  const size_t dim = st->dim;
  double qn2[4] = {0, 0, 0, 0};
  double bias[4] = {0, 0, 0, 0};
  size_t i = 0;
  for (; i + 4 <= dim; i += 4) {
    for (size_t j = 0; j < 4; ++j) {
      const double qi = q[i + j];
      qn2[j] += qi * qi;
      bias[j] += qi * lo[i + j];
    }
  }
  for (; i < dim; ++i) {
    const double qi = q[i];
    qn2[0] += qi * qi;
    bias[0] += qi * lo[i];
  }
  for (i = 0; i < dim; ++i) w[i] = q[i] * scale[i];
  st->q_norm2 = static_cast<float>((qn2[0] + qn2[1]) + (qn2[2] + qn2[3]));
  st->bias = static_cast<float>((bias[0] + bias[1]) + (bias[2] + bias[3]));
  st->delta_hi = 0.0f;
  st->delta_lo = 0.0f;
}

// ---------------------------------------------------------------- fp16

// Squared L2 (kL2) or inner product of q and the dim halves at `code`.
template <bool kL2>
float Fp16Distance(const float* q, const uint8_t* code, size_t dim) {
  float sum = 0.0f;
  for (size_t i = 0; i < dim; ++i) {
    uint16_t h;
    std::memcpy(&h, code + 2 * i, sizeof h);  // codes are little-endian; so is x86
    const float x = HalfToFloat(h);
    if constexpr (kL2) {
      const float d = q[i] - x;
      sum += d * d;
    } else {
      sum += q[i] * x;
    }
  }
  return sum;
}

float Fp16L2(const void* s, const uint8_t* code) {
  const auto* st = static_cast<const Fp16QueryState*>(s);
  return Fp16Distance<true>(st->q, code, st->dim);
}

float Fp16Ip(const void* s, const uint8_t* code) {
  const auto* st = static_cast<const Fp16QueryState*>(s);
  return 1.0f - Fp16Distance<false>(st->q, code, st->dim);
}

// The batch forms: CodeBatchLoop (sq_kernels.h) over the single forms, so a
// batch result is bit-identical to the single-code result. Prefetching pays
// off even here: graph neighbours' codes are usually cache misses.
template <class State, CodeDistFn kDist>
void Batch(const void* s, const uint8_t* const* codes, size_t n, float* out) {
  CodeBatchLoop<State, kDist>(s, codes, n, out);
}

constexpr Fp16Kernels kFp16Scalar{simd::Isa::kScalar,
                                  "scalar",
                                  &Fp16L2,
                                  &Fp16Ip,
                                  &Batch<Fp16QueryState, &Fp16L2>,
                                  &Batch<Fp16QueryState, &Fp16Ip>};

// ---------------------------------------------------------------- SQ8

// sum_i w_i * c_i over the float form.
float Sq8DotFloat(const Sq8QueryState* st, const uint8_t* code) {
  const auto* w = static_cast<const float*>(Sq8Weights(st));
  float sum = 0.0f;
  for (size_t i = 0; i < st->dim; ++i) sum += w[i] * static_cast<float>(code[i]);
  return sum;
}

// sum_i w_i * c_i over the two-level int8 form: the two integer sums are
// exact (|sum| <= 65536 * 255 * 127 < 2^31), so this matches the VNNI
// kernel bit for bit up to the final float operations.
float Sq8DotInt8(const Sq8QueryState* st, const uint8_t* code) {
  const auto* wh = static_cast<const int8_t*>(Sq8Weights(st));
  const int8_t* wl = wh + Sq8Int8Weights(st->dim);
  int32_t hi = 0;
  int32_t lo = 0;
  for (size_t i = 0; i < st->dim; ++i) {
    hi += static_cast<int32_t>(wh[i]) * code[i];
    lo += static_cast<int32_t>(wl[i]) * code[i];
  }
  return st->delta_hi * static_cast<float>(hi) + st->delta_lo * static_cast<float>(lo);
}

template <float (*kDot)(const Sq8QueryState*, const uint8_t*), bool kL2>
float Sq8Dist(const void* s, const uint8_t* code) {
  const auto* st = static_cast<const Sq8QueryState*>(s);
  const float qx = kDot(st, code);
  return kL2 ? Sq8L2From(st, qx, code) : Sq8IpFrom(st, qx);
}

constexpr Sq8Kernels kSq8Scalar{simd::Isa::kScalar,
                                "scalar",
                                Sq8QueryForm::kFloat,
                                &Sq8PrepareFloat,
                                &Sq8Dist<&Sq8DotFloat, true>,
                                &Sq8Dist<&Sq8DotFloat, false>,
                                &Batch<Sq8QueryState, &Sq8Dist<&Sq8DotFloat, true>>,
                                &Batch<Sq8QueryState, &Sq8Dist<&Sq8DotFloat, false>>};

constexpr Sq8Kernels kSq8ScalarInt8{simd::Isa::kScalar,
                                    "scalar-int8",
                                    Sq8QueryForm::kInt8x2,
                                    &Sq8PrepareInt8,
                                    &Sq8Dist<&Sq8DotInt8, true>,
                                    &Sq8Dist<&Sq8DotInt8, false>,
                                    &Batch<Sq8QueryState, &Sq8Dist<&Sq8DotInt8, true>>,
                                    &Batch<Sq8QueryState, &Sq8Dist<&Sq8DotInt8, false>>};

// F16C is a separate CPUID bit (leaf 1, ECX 29) that simd's kAvx2 level does
// not include. Every AVX2 CPU shipped so far has it, but checking costs
// nothing and keeps a hypothetical exception from dying with SIGILL.
bool CpuHasF16c() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0) return false;
  return (ecx & bit_F16C) != 0;
}

}  // namespace

void Sq8PrepareFloat(const float* q, const float* lo, const float* scale, Sq8QueryState* st) {
  auto* w = static_cast<float*>(Sq8Weights(st));
  PrepareCommon(q, lo, scale, st, w);
  // The kernels read whole vectors past dim; zero weights make the bytes
  // there (padding, the norm factor) contribute exactly 0.
  std::fill(w + st->dim, w + Sq8FloatWeights(st->dim), 0.0f);
}

void Sq8PrepareInt8(const float* q, const float* lo, const float* scale, Sq8QueryState* st) {
  const size_t dim = st->dim;
  const size_t padded = Sq8Int8Weights(dim);
  auto* wh = static_cast<int8_t*>(Sq8Weights(st));
  int8_t* wl = wh + padded;
  // The float weights, then the residuals, live in the scratch area.
  auto* w = reinterpret_cast<float*>(wh + 2 * padded);
  PrepareCommon(q, lo, scale, st, w);
  std::fill(wh, wh + 2 * padded, int8_t{0});
  const float max_w = MaxAbs(w, dim);
  const float delta_hi = max_w / 127.0f;
  const float inv_hi = 1.0f / delta_hi;
  if (!std::isfinite(max_w) || !(delta_hi > 0.0f) || !std::isfinite(inv_hi)) return;
  for (size_t i = 0; i < dim; ++i) {
    const int8_t k = QuantizeWeight(w[i] * inv_hi);
    wh[i] = k;
    w[i] = static_cast<float>(static_cast<double>(w[i]) - static_cast<double>(delta_hi) * k);
  }
  st->delta_hi = delta_hi;
  const float delta_lo = MaxAbs(w, dim) / 127.0f;
  const float inv_lo = 1.0f / delta_lo;
  if (!(delta_lo > 0.0f) || !std::isfinite(inv_lo)) return;  // first level (nearly) exact
  for (size_t i = 0; i < dim; ++i) wl[i] = QuantizeWeight(w[i] * inv_lo);
  st->delta_lo = delta_lo;
}

const Fp16Kernels& Fp16ScalarKernels() { return kFp16Scalar; }

const Fp16Kernels* Fp16KernelsFor(simd::Isa isa) {
  if (!simd::IsaSupported(isa)) return nullptr;
  switch (isa) {
    case simd::Isa::kAvx512: return &Fp16Avx512Kernels();
    case simd::Isa::kAvx2: {
      static const bool f16c = CpuHasF16c();
      return f16c ? &Fp16Avx2Kernels() : nullptr;
    }
    case simd::Isa::kScalar: break;
  }
  return &kFp16Scalar;
}

const Fp16Kernels& BestFp16Kernels() {
  static const Fp16Kernels& best = [] () -> const Fp16Kernels& {
    for (int level = static_cast<int>(simd::BestIsa()); level > 0; --level) {
      if (const Fp16Kernels* k = Fp16KernelsFor(static_cast<simd::Isa>(level))) return *k;
    }
    return kFp16Scalar;
  }();
  return best;
}

const Sq8Kernels& Sq8ScalarKernels() { return kSq8Scalar; }
const Sq8Kernels& Sq8ScalarInt8Kernels() { return kSq8ScalarInt8; }

bool CpuHasAvx512Vnni() {
  // simd::IsaSupported(kAvx512) covers the OS side (zmm and opmask state in
  // XCR0) that __builtin_cpu_supports does not check. __builtin_cpu_init
  // makes the builtin safe even when first called from a static initializer.
  static const bool vnni = [] {
    if (!simd::IsaSupported(simd::Isa::kAvx512)) return false;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512vnni") != 0;
  }();
  return vnni;
}

const Sq8Kernels* Sq8KernelsFor(simd::Isa isa) {
  if (!simd::IsaSupported(isa)) return nullptr;
  switch (isa) {
    case simd::Isa::kAvx512: return CpuHasAvx512Vnni() ? &Sq8VnniKernels() : nullptr;
    case simd::Isa::kAvx2: return &Sq8Avx2Kernels();
    case simd::Isa::kScalar: break;
  }
  return &kSq8Scalar;
}

const Sq8Kernels& BestSq8Kernels() {
  // An AVX-512 CPU without VNNI (Skylake-SP, the only such server family)
  // gets the AVX2 float kernels: no AVX-512 float-form kernel is written,
  // since every later AVX-512 CPU has VNNI.
  static const Sq8Kernels& best = [] () -> const Sq8Kernels& {
    for (int level = static_cast<int>(simd::BestIsa()); level > 0; --level) {
      if (const Sq8Kernels* k = Sq8KernelsFor(static_cast<simd::Isa>(level))) return *k;
    }
    return kSq8Scalar;
  }();
  return best;
}

}  // namespace omendb::quant
