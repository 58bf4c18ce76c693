// AVX-512 kernels of the fp16 codec (AVX-512 F/BW/DQ/VL, the set simd's
// kAvx512 level guarantees) and of the SQ8 codec (the same set plus
// AVX512_VNNI). Every function that uses AVX-512 carries its own target
// attribute instead of the file being built with -mavx512f, so no inline or
// template function the linker could merge with a generic copy is ever
// compiled for AVX-512, and the binary still runs on CPUs without it.
#include <immintrin.h>

#include <bit>
#include <cmath>

#include "quant/sq_kernels.h"
#include "simd/avx512_helpers.h"
#include "simd/kernels_internal.h"

#define OMENDB_AVX512_TARGET \
  __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma,avx2")))
#define OMENDB_AVX512_INLINE                                                              \
  __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma,avx2"), always_inline)) \
  inline
// VNNI functions get their own target so the fp16 kernels above never
// depend on it: simd's kAvx512 level does not include VNNI.
#define OMENDB_VNNI_TARGET \
  __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,fma,avx2")))
#define OMENDB_VNNI_INLINE                                                                   \
  __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,fma,avx2"),          \
                 always_inline)) inline
// Batch kernels: CodeBatchLoop (sq_kernels.h) with the single kernel inlined.
#define OMENDB_AVX512_BATCH \
  __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma,avx2"), flatten))
#define OMENDB_VNNI_BATCH \
  __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,fma,avx2"), flatten))

namespace omendb::quant {
namespace {

using simd::avx512::FirstLanes;
using simd::avx512::ReduceAdd;
using simd::avx512::Step;

// 16 halves widened to floats. Not _mm512_cvtph_ps: GCC 12 expands it with
// an _mm512_undefined_ps() pass-through and then warns (-Wmaybe-uninitialized,
// fatal under OMENDB_WERROR) in every caller, like _mm512_reduce_add_ps. The
// zero-masking form with an all-ones mask compiles to the same instruction.
OMENDB_AVX512_INLINE __m512 HalvesToFloats(__m256i h) {
  return _mm512_maskz_cvtph_ps(static_cast<__mmask16>(0xffff), h);
}

// 16 halves at p (any alignment) widened to floats.
OMENDB_AVX512_INLINE __m512 LoadHalves(const uint8_t* p) {
  return HalvesToFloats(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

// ---------------------------------------------------------------- fp16

// Squared L2 (kL2) or inner product of q[0..dim) and the dim halves at code.
template <bool kL2>
OMENDB_AVX512_INLINE float Fp16Distance(const float* q, const uint8_t* code, size_t dim) {
  // Four independent chains (64 dimensions per iteration) hide the FMA
  // latency, as in simd's float kernel; the remainder spreads its chunks over
  // different accumulators so it adds no serial chain (784 = 12 * 64 + 16).
  __m512 acc0 = _mm512_setzero_ps();
  __m512 acc1 = _mm512_setzero_ps();
  __m512 acc2 = _mm512_setzero_ps();
  __m512 acc3 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 64 <= dim; i += 64) {
    acc0 = Step<kL2>(acc0, _mm512_loadu_ps(q + i), LoadHalves(code + 2 * i));
    acc1 = Step<kL2>(acc1, _mm512_loadu_ps(q + i + 16), LoadHalves(code + 2 * i + 32));
    acc2 = Step<kL2>(acc2, _mm512_loadu_ps(q + i + 32), LoadHalves(code + 2 * i + 64));
    acc3 = Step<kL2>(acc3, _mm512_loadu_ps(q + i + 48), LoadHalves(code + 2 * i + 96));
  }
  if (i + 32 <= dim) {
    acc0 = Step<kL2>(acc0, _mm512_loadu_ps(q + i), LoadHalves(code + 2 * i));
    acc1 = Step<kL2>(acc1, _mm512_loadu_ps(q + i + 16), LoadHalves(code + 2 * i + 32));
    i += 32;
  }
  if (i + 16 <= dim) {
    acc2 = Step<kL2>(acc2, _mm512_loadu_ps(q + i), LoadHalves(code + 2 * i));
    i += 16;
  }
  if (i < dim) {
    // Masked loads touch only the r valid lanes (faults on the rest are
    // suppressed), so neither the query nor the code is read past its end;
    // masked-off lanes are 0.0 in both and add 0 to either distance.
    const __mmask16 mask = FirstLanes(dim - i);
    const __m256i h = _mm256_maskz_loadu_epi16(mask, code + 2 * i);
    acc3 = Step<kL2>(acc3, _mm512_maskz_loadu_ps(mask, q + i), HalvesToFloats(h));
  }
  return ReduceAdd(acc0, acc1, acc2, acc3);
}

OMENDB_AVX512_TARGET float Fp16L2(const void* s, const uint8_t* code) {
  const auto* st = static_cast<const Fp16QueryState*>(s);
  return Fp16Distance<true>(st->q, code, st->dim);
}

OMENDB_AVX512_TARGET float Fp16Ip(const void* s, const uint8_t* code) {
  const auto* st = static_cast<const Fp16QueryState*>(s);
  return 1.0f - Fp16Distance<false>(st->q, code, st->dim);
}

// The fp16 batch kernels: CodeBatchLoop over a single kernel, which
// `flatten` inlines, so batch and single results are bit-identical.
template <CodeDistFn kDist>
OMENDB_AVX512_BATCH void Fp16Batch(const void* s, const uint8_t* const* codes, size_t n,
                                   float* out) {
  CodeBatchLoop<Fp16QueryState, kDist>(s, codes, n, out);
}

// ---------------------------------------------------------------- SQ8 (VNNI)

// Sum of the 16 int32 lanes (exact: the caller's sums fit int32).
OMENDB_VNNI_INLINE int32_t ReduceAddEpi32(__m512i v) {
  const __m256i s8 =
      _mm256_add_epi32(_mm512_extracti32x8_epi32(v, 0), _mm512_extracti32x8_epi32(v, 1));
  __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s8), _mm256_extracti128_si256(s8, 1));
  s4 = _mm_add_epi32(s4, _mm_unpackhi_epi64(s4, s4));
  s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x55));
  return _mm_cvtsi128_si32(s4);
}

// sum_i w_i c_i over the two-level int8 form. vpdpbusd multiplies 64 code
// bytes (unsigned) by 64 weights (signed) and adds each group of four
// products into an int32 lane: 64 dimensions per instruction, exact. Each
// loaded code register feeds both levels. The int32 lanes cannot overflow:
// |sum| <= 65536 * 255 * 127 < 2^31 for any dim the codec accepts.
OMENDB_VNNI_INLINE float Sq8Dot(const Sq8QueryState* st, const uint8_t* code) {
  const size_t dim = st->dim;
  const auto* wh = static_cast<const int8_t*>(Sq8Weights(st));
  const int8_t* wl = wh + Sq8Int8Weights(dim);
  // Two chains per level: vpdpbusd has a multi-cycle latency, and at dim
  // 784 one chain would serialise 13 of them.
  __m512i h0 = _mm512_setzero_si512();
  __m512i h1 = _mm512_setzero_si512();
  __m512i l0 = _mm512_setzero_si512();
  __m512i l1 = _mm512_setzero_si512();
  size_t i = 0;
  for (; i + 128 <= dim; i += 128) {
    const __m512i c0 = _mm512_loadu_si512(code + i);
    const __m512i c1 = _mm512_loadu_si512(code + i + 64);
    h0 = _mm512_dpbusd_epi32(h0, c0, _mm512_load_si512(wh + i));
    l0 = _mm512_dpbusd_epi32(l0, c0, _mm512_load_si512(wl + i));
    h1 = _mm512_dpbusd_epi32(h1, c1, _mm512_load_si512(wh + i + 64));
    l1 = _mm512_dpbusd_epi32(l1, c1, _mm512_load_si512(wl + i + 64));
  }
  if (i + 64 <= dim) {
    const __m512i c = _mm512_loadu_si512(code + i);
    h0 = _mm512_dpbusd_epi32(h0, c, _mm512_load_si512(wh + i));
    l0 = _mm512_dpbusd_epi32(l0, c, _mm512_load_si512(wl + i));
    i += 64;
  }
  if (i < dim) {
    // The masked load reads only the code's remaining bytes (the code may
    // end right before an unmapped page); the weights are zero-padded to a
    // multiple of 64, so they need no mask.
    const __mmask64 mask = _cvtu64_mask64(~uint64_t{0} >> (64 - (dim - i)));
    const __m512i c = _mm512_maskz_loadu_epi8(mask, code + i);
    h1 = _mm512_dpbusd_epi32(h1, c, _mm512_load_si512(wh + i));
    l1 = _mm512_dpbusd_epi32(l1, c, _mm512_load_si512(wl + i));
  }
  const int32_t hi = ReduceAddEpi32(_mm512_add_epi32(h0, h1));
  const int32_t lo = ReduceAddEpi32(_mm512_add_epi32(l0, l1));
  return st->delta_hi * static_cast<float>(hi) + st->delta_lo * static_cast<float>(lo);
}

// ---------------------------------------------------------------- SQ8 query preparation

// GCC 12 expands many AVX-512 intrinsics (max, min, conversions, 256-bit
// extracts) with an _mm512_undefined_*() pass-through and then warns
// (-Wmaybe-uninitialized, fatal under OMENDB_WERROR) wherever they are
// inlined. Their zero-masking forms with an all-ones mask compile to the
// same instructions without the warning; these wrappers name them.
constexpr __mmask16 kAll16 = 0xffff;
constexpr __mmask8 kAll8 = 0xff;
OMENDB_VNNI_INLINE __m512 MaxPs(__m512 a, __m512 b) { return _mm512_maskz_max_ps(kAll16, a, b); }
OMENDB_VNNI_INLINE __m512 MinPs(__m512 a, __m512 b) { return _mm512_maskz_min_ps(kAll16, a, b); }
OMENDB_VNNI_INLINE __m512i MaxEpu32(__m512i a, __m512i b) {
  return _mm512_maskz_max_epu32(kAll16, a, b);
}
// Float -> int32 with the current rounding mode (ties to even by default).
OMENDB_VNNI_INLINE __m512i CvtPsEpi32(__m512 v) { return _mm512_maskz_cvtps_epi32(kAll16, v); }
OMENDB_VNNI_INLINE __m512 CvtEpi32Ps(__m512i v) { return _mm512_maskz_cvtepi32_ps(kAll16, v); }
// Lanes 0-7 / 8-15 of v widened to double.
OMENDB_VNNI_INLINE __m512d LowToPd(__m512 v) {
  return _mm512_maskz_cvtps_pd(kAll8, _mm512_extractf32x8_ps(v, 0));
}
OMENDB_VNNI_INLINE __m512d HighToPd(__m512 v) {
  return _mm512_maskz_cvtps_pd(kAll8, _mm512_extractf32x8_ps(v, 1));
}

// Sum of the 8 double lanes.
OMENDB_VNNI_INLINE double ReduceAddPd(__m512d v) {
  const __m256d s4 = _mm256_add_pd(_mm512_maskz_extractf64x4_pd(kAll8, v, 0),
                                   _mm512_maskz_extractf64x4_pd(kAll8, v, 1));
  __m128d s2 = _mm_add_pd(_mm256_castpd256_pd128(s4), _mm256_extractf128_pd(s4, 1));
  s2 = _mm_add_sd(s2, _mm_unpackhi_pd(s2, s2));
  return _mm_cvtsd_f64(s2);
}

// Maximum of the 16 unsigned 32-bit lanes.
OMENDB_VNNI_INLINE uint32_t ReduceMaxEpu32(__m512i v) {
  const __m256i m8 =
      _mm256_max_epu32(_mm512_extracti32x8_epi32(v, 0), _mm512_extracti32x8_epi32(v, 1));
  __m128i m4 = _mm_max_epu32(_mm256_castsi256_si128(m8), _mm256_extracti128_si256(m8, 1));
  m4 = _mm_max_epu32(m4, _mm_unpackhi_epi64(m4, m4));
  m4 = _mm_max_epu32(m4, _mm_shuffle_epi32(m4, 0x55));
  return static_cast<uint32_t>(_mm_cvtsi128_si32(m4));
}

// Lanes [i, min(i + 16, dim)) of a 16-lane block.
OMENDB_VNNI_INLINE __mmask16 BlockMask(size_t i, size_t dim) {
  return dim - i >= 16 ? static_cast<__mmask16>(0xffff) : FirstLanes(dim - i);
}

// One quantization level over w[0..dim): out_i = round(clamp(w_i * inv,
// +-127)) with vcvtps2dq (ties to even under the default MXCSR, like the
// portable magic-number rounding). With kResidual, w_i becomes the residual
// w_i - delta * out_i: one FMA, correctly rounded, which equals the portable
// double computation rounded to float because the difference is exact in
// double (sq_kernels.h). Returns max |w_i| after the pass as bit patterns
// (residual passes only).
template <bool kResidual>
OMENDB_VNNI_INLINE uint32_t QuantizeLevel(float* w, int8_t* out, size_t dim, float delta,
                                          float inv) {
  const __m512 vinv = _mm512_set1_ps(inv);
  const __m512 vdelta = _mm512_set1_ps(delta);
  const __m512 lo = _mm512_set1_ps(-127.0f);
  const __m512 hi = _mm512_set1_ps(127.0f);
  const __m512i abs_mask = _mm512_set1_epi32(0x7fffffff);
  __m512i max_bits = _mm512_setzero_si512();
  for (size_t i = 0; i < dim; i += 16) {
    const __mmask16 k = BlockMask(i, dim);
    const __m512 x = _mm512_maskz_loadu_ps(k, w + i);
    const __m512 t = MinPs(MaxPs(_mm512_mul_ps(x, vinv), lo), hi);
    const __m512i q = CvtPsEpi32(t);
    _mm512_mask_cvtepi32_storeu_epi8(out + i, k, q);
    if constexpr (kResidual) {
      const __m512 r = _mm512_fnmadd_ps(vdelta, CvtEpi32Ps(q), x);
      _mm512_mask_storeu_ps(w + i, k, r);
      max_bits = MaxEpu32(max_bits, _mm512_and_si512(_mm512_castps_si512(r), abs_mask));
    }
  }
  return ReduceMaxEpu32(max_bits);
}

// The int8 preparation (Sq8PrepareInt8's contract and results) vectorized:
// the portable one costs ~0.5 us at dim 128 and ~3 us at 784 (measured),
// which next to a ~5 us search at dim 128 is too much. Same passes: w, the
// double sums and max|w|; the first level and residuals; the second level.
OMENDB_VNNI_TARGET void PrepareInt8(const float* q, const float* lo, const float* scale,
                                    Sq8QueryState* st) {
  const size_t dim = st->dim;
  const size_t padded = Sq8Int8Weights(dim);
  auto* wh = static_cast<int8_t*>(Sq8Weights(st));
  int8_t* wl = wh + padded;
  auto* w = reinterpret_cast<float*>(wh + 2 * padded);
  const __m512i abs_mask = _mm512_set1_epi32(0x7fffffff);
  // Two double accumulators per sum (the low and high 8 lanes): q_i^2 and
  // q_i lo_i are exact in double, so only the summation order differs from
  // the portable version.
  __m512d qq0 = _mm512_setzero_pd(), qq1 = _mm512_setzero_pd();
  __m512d ql0 = _mm512_setzero_pd(), ql1 = _mm512_setzero_pd();
  __m512i max_bits = _mm512_setzero_si512();
  for (size_t i = 0; i < dim; i += 16) {
    const __mmask16 k = BlockMask(i, dim);
    const __m512 qv = _mm512_maskz_loadu_ps(k, q + i);
    const __m512 lv = _mm512_maskz_loadu_ps(k, lo + i);
    const __m512 wv = _mm512_mul_ps(qv, _mm512_maskz_loadu_ps(k, scale + i));
    _mm512_mask_storeu_ps(w + i, k, wv);
    max_bits = MaxEpu32(max_bits, _mm512_and_si512(_mm512_castps_si512(wv), abs_mask));
    const __m512d q0 = LowToPd(qv);
    const __m512d q1 = HighToPd(qv);
    qq0 = _mm512_fmadd_pd(q0, q0, qq0);
    qq1 = _mm512_fmadd_pd(q1, q1, qq1);
    ql0 = _mm512_fmadd_pd(q0, LowToPd(lv), ql0);
    ql1 = _mm512_fmadd_pd(q1, HighToPd(lv), ql1);
  }
  st->q_norm2 = static_cast<float>(ReduceAddPd(_mm512_add_pd(qq0, qq1)));
  st->bias = static_cast<float>(ReduceAddPd(_mm512_add_pd(ql0, ql1)));
  st->delta_hi = 0.0f;
  st->delta_lo = 0.0f;
  // Zero both levels including their padding (the kernels read it).
  for (size_t i = 0; i < 2 * padded; i += 64) {
    _mm512_store_si512(reinterpret_cast<__m512i*>(wh + i), _mm512_setzero_si512());
  }
  // The same guards as the portable version, in the same scalar arithmetic.
  const float max_w = std::bit_cast<float>(ReduceMaxEpu32(max_bits));
  const float delta_hi = max_w / 127.0f;
  const float inv_hi = 1.0f / delta_hi;
  if (!std::isfinite(max_w) || !(delta_hi > 0.0f) || !std::isfinite(inv_hi)) return;
  const uint32_t max_r = QuantizeLevel<true>(w, wh, dim, delta_hi, inv_hi);
  st->delta_hi = delta_hi;
  const float delta_lo = std::bit_cast<float>(max_r) / 127.0f;
  const float inv_lo = 1.0f / delta_lo;
  if (!(delta_lo > 0.0f) || !std::isfinite(inv_lo)) return;
  QuantizeLevel<false>(w, wl, dim, delta_lo, inv_lo);
  st->delta_lo = delta_lo;
}

OMENDB_VNNI_TARGET float Sq8L2(const void* s, const uint8_t* code) {
  const auto* st = static_cast<const Sq8QueryState*>(s);
  return Sq8L2From(st, Sq8Dot(st, code), code);
}

OMENDB_VNNI_TARGET float Sq8Ip(const void* s, const uint8_t* code) {
  const auto* st = static_cast<const Sq8QueryState*>(s);
  return Sq8IpFrom(st, Sq8Dot(st, code));
}

// The SQ8 batch kernels, as Fp16Batch.
template <CodeDistFn kDist>
OMENDB_VNNI_BATCH void Sq8Batch(const void* s, const uint8_t* const* codes, size_t n, float* out) {
  CodeBatchLoop<Sq8QueryState, kDist>(s, codes, n, out);
}

constexpr Fp16Kernels kFp16Avx512{simd::Isa::kAvx512,       "avx512",
                                  &Fp16L2,                 &Fp16Ip,
                                  &Fp16Batch<&Fp16L2>,     &Fp16Batch<&Fp16Ip>};
constexpr Sq8Kernels kSq8Vnni{simd::Isa::kAvx512, "avx512-vnni",      Sq8QueryForm::kInt8x2,
                              &PrepareInt8,       &Sq8L2,             &Sq8Ip,
                              &Sq8Batch<&Sq8L2>,  &Sq8Batch<&Sq8Ip>};

}  // namespace

const Fp16Kernels& Fp16Avx512Kernels() { return kFp16Avx512; }
const Sq8Kernels& Sq8VnniKernels() { return kSq8Vnni; }

}  // namespace omendb::quant
