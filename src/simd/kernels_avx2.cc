// AVX2+FMA kernels. Every function that uses AVX2 carries its own target
// attribute instead of the file being built with -mavx2: that way no inline or
// template function the linker could merge with a generic copy is ever
// compiled for AVX2, and the rest of the binary stays runnable on any x86-64.
#include <immintrin.h>

#include "simd/avx2_helpers.h"
#include "simd/kernels_internal.h"

#define OMENDB_AVX2_TARGET __attribute__((target("avx2,fma")))
#define OMENDB_AVX2_INLINE __attribute__((target("avx2,fma"), always_inline)) inline

namespace omendb::simd {
namespace {

using avx2::HorizontalSum;
using avx2::Step;
using avx2::TailMask;

// Squared L2 (kL2) or inner product of a[0..dim), b[0..dim), any alignment.
template <bool kL2>
OMENDB_AVX2_INLINE float Distance(const float* a, const float* b, size_t dim) {
  // An FMA has ~4 cycles of latency but two can issue per cycle, so a single
  // accumulator would leave the FMA units mostly idle waiting on itself. Four
  // independent chains (32 floats per iteration) keep enough work in flight.
  __m256 acc0 = _mm256_setzero_ps();
  __m256 acc1 = _mm256_setzero_ps();
  __m256 acc2 = _mm256_setzero_ps();
  __m256 acc3 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= dim; i += 32) {
    acc0 = Step<kL2>(acc0, _mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
    acc1 = Step<kL2>(acc1, _mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
    acc2 = Step<kL2>(acc2, _mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16));
    acc3 = Step<kL2>(acc3, _mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24));
  }
  // The remainder (< 32 floats) goes to different accumulators per chunk so
  // the short tail does not form one serial dependency chain either.
  if (i + 16 <= dim) {
    acc0 = Step<kL2>(acc0, _mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
    acc1 = Step<kL2>(acc1, _mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
    i += 16;
  }
  if (i + 8 <= dim) {
    acc2 = Step<kL2>(acc2, _mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
    i += 8;
  }
  if (i < dim) {
    // A masked load reads only the valid lanes and suppresses faults on the
    // rest, so the last vector may end right at an unmapped page. Masked-off
    // lanes are 0 in both inputs and add 0 for either distance.
    const __m256i mask = TailMask(dim - i);
    acc3 = Step<kL2>(acc3, _mm256_maskload_ps(a + i, mask), _mm256_maskload_ps(b + i, mask));
  }
  return HorizontalSum(acc0, acc1, acc2, acc3);
}

template <bool kL2>
OMENDB_AVX2_INLINE void Batch(const float* q, const float* const* vecs, size_t n, size_t dim,
                              float* out) {
  // HNSW neighbours are scattered in memory, so each vector is likely a cache
  // miss. Requesting all lines of the vector kPrefetchAhead positions on
  // before computing the current one overlaps those misses with useful work.
  // The batch uses the same inlined Distance as the single-pair kernel, so
  // results are bit-identical.
  for (size_t i = 0; i < n && i < kPrefetchAhead; ++i) PrefetchVector(vecs[i], dim);
  for (size_t i = 0; i < n; ++i) {
    if (i + kPrefetchAhead < n) PrefetchVector(vecs[i + kPrefetchAhead], dim);
    out[i] = Distance<kL2>(q, vecs[i], dim);
  }
}

OMENDB_AVX2_TARGET float L2Sq(const float* a, const float* b, size_t dim) {
  return Distance<true>(a, b, dim);
}

OMENDB_AVX2_TARGET float Dot(const float* a, const float* b, size_t dim) {
  return Distance<false>(a, b, dim);
}

OMENDB_AVX2_TARGET void L2SqBatch(const float* q, const float* const* vecs, size_t n, size_t dim,
                                  float* out) {
  Batch<true>(q, vecs, n, dim, out);
}

OMENDB_AVX2_TARGET void DotBatch(const float* q, const float* const* vecs, size_t n, size_t dim,
                                 float* out) {
  Batch<false>(q, vecs, n, dim, out);
}

constexpr Kernels kAvx2{Isa::kAvx2, "avx2", &L2Sq, &Dot, &L2SqBatch, &DotBatch};

}  // namespace

const Kernels& Avx2Kernels() { return kAvx2; }

}  // namespace omendb::simd
