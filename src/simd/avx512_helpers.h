// Internal to src/simd and src/quant: the AVX-512 building blocks that the
// float kernels (simd/kernels_avx512.cc) and the codec kernels
// (quant/sq_kernels_avx512.cc) share. Not part of the public API.
//
// Every function here is always_inline with the target of simd's kAvx512
// level (AVX-512 F/BW/DQ/VL, FMA, AVX2), so it only ever exists inlined into
// a caller whose own target attribute includes that set (a superset such as
// one adding VNNI is fine): no out-of-line AVX-512 copy is emitted that the
// linker could merge with a generic one.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#define OMENDB_SIMD_AVX512_HELPER                                                        \
  __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma,avx2"), always_inline)) \
  inline

namespace omendb::simd::avx512 {

// Sum of the 16 lanes. Does the same halving as _mm512_reduce_add_ps, which
// is not used because GCC 12 expands it through _mm256_undefined_pd() and then
// emits a false -Wuninitialized warning in every caller (fatal under
// OMENDB_WERROR). extractf32x8 (AVX-512 DQ) has a zero pass-through instead.
OMENDB_SIMD_AVX512_HELPER float ReduceAdd(__m512 v) {
  const __m256 s8 = _mm256_add_ps(_mm512_extractf32x8_ps(v, 0), _mm512_extractf32x8_ps(v, 1));
  __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  s4 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  s4 = _mm_add_ss(s4, _mm_movehdup_ps(s4));
  return _mm_cvtss_f32(s4);
}

// Sum of four accumulators' lanes, combined as (acc0 + acc1) + (acc2 + acc3).
OMENDB_SIMD_AVX512_HELPER float ReduceAdd(__m512 acc0, __m512 acc1, __m512 acc2, __m512 acc3) {
  return ReduceAdd(_mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
}

// The mask of the first r lanes of 16 (0 <= r < 16).
OMENDB_SIMD_AVX512_HELPER __mmask16 FirstLanes(size_t r) {
  return static_cast<__mmask16>((1u << r) - 1u);
}

// One accumulation step of the chosen distance on 16 lanes: acc + (a - b)^2
// (kL2) or acc + a * b, each as one FMA.
template <bool kL2>
OMENDB_SIMD_AVX512_HELPER __m512 Step(__m512 acc, __m512 a, __m512 b) {
  if constexpr (kL2) {
    const __m512 d = _mm512_sub_ps(a, b);
    return _mm512_fmadd_ps(d, d, acc);
  } else {
    return _mm512_fmadd_ps(a, b, acc);
  }
}

}  // namespace omendb::simd::avx512

#undef OMENDB_SIMD_AVX512_HELPER
