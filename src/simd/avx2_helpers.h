// Internal to src/simd and src/quant: the AVX2+FMA building blocks that the
// float kernels (simd/kernels_avx2.cc) and the codec kernels
// (quant/sq_kernels_avx2.cc) share. Not part of the public API.
//
// Every function here is always_inline with target("avx2,fma"), so it only
// ever exists inlined into a caller whose own target attribute includes AVX2
// and FMA (a superset such as "avx2,fma,f16c" is fine): no out-of-line AVX2
// copy is emitted that the linker could merge with a generic one.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#define OMENDB_SIMD_AVX2_HELPER __attribute__((target("avx2,fma"), always_inline)) inline

namespace omendb::simd::avx2 {

// Eight -1s then eight 0s: loading 8 ints starting at kTailMask + 8 - r gives a
// mask whose first r lanes are set, for _mm256_maskload_ps. Hidden, so that
// position-independent code addresses it directly, not through the GOT.
alignas(64) inline constexpr int32_t kTailMask[16] __attribute__((visibility("hidden"))) = {
    -1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

// The _mm256_maskload_ps mask whose first r lanes (0 <= r <= 8) are set.
OMENDB_SIMD_AVX2_HELPER __m256i TailMask(size_t r) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kTailMask + 8 - r));
}

// Sum of the 8 lanes.
OMENDB_SIMD_AVX2_HELPER float HorizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Sum of four accumulators' lanes, combined as (acc0 + acc1) + (acc2 + acc3).
OMENDB_SIMD_AVX2_HELPER float HorizontalSum(__m256 acc0, __m256 acc1, __m256 acc2, __m256 acc3) {
  return HorizontalSum(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
}

// One accumulation step of the chosen distance on 8 lanes: acc + (a - b)^2
// (kL2) or acc + a * b, each as one FMA.
template <bool kL2>
OMENDB_SIMD_AVX2_HELPER __m256 Step(__m256 acc, __m256 a, __m256 b) {
  if constexpr (kL2) {
    const __m256 d = _mm256_sub_ps(a, b);
    return _mm256_fmadd_ps(d, d, acc);
  } else {
    return _mm256_fmadd_ps(a, b, acc);
  }
}

}  // namespace omendb::simd::avx2

#undef OMENDB_SIMD_AVX2_HELPER
