// AVX2 kernels of the fp16 (AVX2 + FMA + F16C) and SQ8 (AVX2 + FMA) codecs.
// As in src/simd, every function that uses these instructions carries its own
// target attribute instead of the file being built with -mavx2, so no inline
// or template function the linker could merge with a generic copy is ever
// compiled for AVX2, and the binary still runs on any x86-64.
#include <immintrin.h>

#include <cstring>

#include "quant/sq_kernels.h"
#include "simd/avx2_helpers.h"
#include "simd/kernels_internal.h"

#define OMENDB_AVX2_TARGET __attribute__((target("avx2,fma,f16c")))
#define OMENDB_AVX2_INLINE __attribute__((target("avx2,fma,f16c"), always_inline)) inline
// A batch kernel: CodeBatchLoop (sq_kernels.h) with the single kernel inlined.
#define OMENDB_AVX2_BATCH __attribute__((target("avx2,fma,f16c"), flatten))

namespace omendb::quant {
namespace {

using simd::avx2::HorizontalSum;
using simd::avx2::Step;
using simd::avx2::TailMask;

// 8 halves at p (any alignment) widened to floats.
OMENDB_AVX2_INLINE __m256 LoadHalves(const uint8_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// ---------------------------------------------------------------- fp16

// Squared L2 (kL2) or inner product of q[0..dim) and the dim halves at code.
template <bool kL2>
OMENDB_AVX2_INLINE float Fp16Distance(const float* q, const uint8_t* code, size_t dim) {
  // Four independent accumulators (32 dimensions per iteration) hide the FMA
  // latency, as in simd's float kernels. The half -> float conversion costs
  // one extra instruction per 8 lanes but halves the bytes loaded.
  __m256 acc0 = _mm256_setzero_ps();
  __m256 acc1 = _mm256_setzero_ps();
  __m256 acc2 = _mm256_setzero_ps();
  __m256 acc3 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= dim; i += 32) {
    acc0 = Step<kL2>(acc0, _mm256_loadu_ps(q + i), LoadHalves(code + 2 * i));
    acc1 = Step<kL2>(acc1, _mm256_loadu_ps(q + i + 8), LoadHalves(code + 2 * i + 16));
    acc2 = Step<kL2>(acc2, _mm256_loadu_ps(q + i + 16), LoadHalves(code + 2 * i + 32));
    acc3 = Step<kL2>(acc3, _mm256_loadu_ps(q + i + 24), LoadHalves(code + 2 * i + 48));
  }
  if (i + 16 <= dim) {
    acc0 = Step<kL2>(acc0, _mm256_loadu_ps(q + i), LoadHalves(code + 2 * i));
    acc1 = Step<kL2>(acc1, _mm256_loadu_ps(q + i + 8), LoadHalves(code + 2 * i + 16));
    i += 16;
  }
  if (i + 8 <= dim) {
    acc2 = Step<kL2>(acc2, _mm256_loadu_ps(q + i), LoadHalves(code + 2 * i));
    i += 8;
  }
  if (i < dim) {
    // The last r < 8 halves: the code is padded only to 8 bytes, so a full
    // 16-byte load could cross into an unmapped page. AVX2 has no 16-bit
    // masked load, so copy them into a zeroed buffer (the zero halves decode
    // to 0.0, and the masked query lanes are 0 too, so both distances get 0
    // from the unused lanes).
    const size_t r = dim - i;
    alignas(16) uint8_t tail[16] = {};
    std::memcpy(tail, code + 2 * i, 2 * r);
    const __m256i mask = TailMask(r);
    acc3 = Step<kL2>(acc3, _mm256_maskload_ps(q + i, mask), LoadHalves(tail));
  }
  return HorizontalSum(acc0, acc1, acc2, acc3);
}

OMENDB_AVX2_TARGET float Fp16L2(const void* s, const uint8_t* code) {
  const auto* st = static_cast<const Fp16QueryState*>(s);
  return Fp16Distance<true>(st->q, code, st->dim);
}

OMENDB_AVX2_TARGET float Fp16Ip(const void* s, const uint8_t* code) {
  const auto* st = static_cast<const Fp16QueryState*>(s);
  return 1.0f - Fp16Distance<false>(st->q, code, st->dim);
}

// ---------------------------------------------------------------- SQ8

// 8 code bytes at p widened to floats.
OMENDB_AVX2_INLINE __m256 LoadCodes(const uint8_t* p) {
  const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
  return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b));
}

// sum_i w_i c_i over the float form: exact products of small integers and
// floats, summed in float.
OMENDB_AVX2_INLINE float Sq8Dot(const Sq8QueryState* st, const uint8_t* code) {
  const auto* w = static_cast<const float*>(Sq8Weights(st));
  const size_t dim = st->dim;
  __m256 acc0 = _mm256_setzero_ps();
  __m256 acc1 = _mm256_setzero_ps();
  __m256 acc2 = _mm256_setzero_ps();
  __m256 acc3 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= dim; i += 32) {
    acc0 = _mm256_fmadd_ps(_mm256_load_ps(w + i), LoadCodes(code + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_load_ps(w + i + 8), LoadCodes(code + i + 8), acc1);
    acc2 = _mm256_fmadd_ps(_mm256_load_ps(w + i + 16), LoadCodes(code + i + 16), acc2);
    acc3 = _mm256_fmadd_ps(_mm256_load_ps(w + i + 24), LoadCodes(code + i + 24), acc3);
  }
  // Up to four 8-byte chunks remain, the last one partial. No masking is
  // needed: an 8-byte load at a multiple of 8 below dim stays inside the code
  // (code_bytes is a multiple of 8 and at least dim), and the bytes past dim
  // (padding, the L2 norm factor) meet weights the state zero-pads, adding
  // exactly 0.
  if (i < dim) {
    acc0 = _mm256_fmadd_ps(_mm256_load_ps(w + i), LoadCodes(code + i), acc0);
    i += 8;
  }
  if (i < dim) {
    acc1 = _mm256_fmadd_ps(_mm256_load_ps(w + i), LoadCodes(code + i), acc1);
    i += 8;
  }
  if (i < dim) {
    acc2 = _mm256_fmadd_ps(_mm256_load_ps(w + i), LoadCodes(code + i), acc2);
    i += 8;
  }
  if (i < dim) acc3 = _mm256_fmadd_ps(_mm256_load_ps(w + i), LoadCodes(code + i), acc3);
  return HorizontalSum(acc0, acc1, acc2, acc3);
}

OMENDB_AVX2_TARGET float Sq8L2(const void* s, const uint8_t* code) {
  const auto* st = static_cast<const Sq8QueryState*>(s);
  return Sq8L2From(st, Sq8Dot(st, code), code);
}

OMENDB_AVX2_TARGET float Sq8Ip(const void* s, const uint8_t* code) {
  const auto* st = static_cast<const Sq8QueryState*>(s);
  return Sq8IpFrom(st, Sq8Dot(st, code));
}

// The batch kernels: CodeBatchLoop over a single kernel, which `flatten`
// inlines, so batch and single results are bit-identical.
template <class State, CodeDistFn kDist>
OMENDB_AVX2_BATCH void Batch(const void* s, const uint8_t* const* codes, size_t n, float* out) {
  CodeBatchLoop<State, kDist>(s, codes, n, out);
}

constexpr Fp16Kernels kFp16Avx2{simd::Isa::kAvx2,
                                "avx2",
                                &Fp16L2,
                                &Fp16Ip,
                                &Batch<Fp16QueryState, &Fp16L2>,
                                &Batch<Fp16QueryState, &Fp16Ip>};
// The float preparation is the portable one: ~100 ns at dim 128 (measured),
// small next to a search.
constexpr Sq8Kernels kSq8Avx2{simd::Isa::kAvx2,
                              "avx2",
                              Sq8QueryForm::kFloat,
                              &Sq8PrepareFloat,
                              &Sq8L2,
                              &Sq8Ip,
                              &Batch<Sq8QueryState, &Sq8L2>,
                              &Batch<Sq8QueryState, &Sq8Ip>};

}  // namespace

const Fp16Kernels& Fp16Avx2Kernels() { return kFp16Avx2; }
const Sq8Kernels& Sq8Avx2Kernels() { return kSq8Avx2; }

}  // namespace omendb::quant
