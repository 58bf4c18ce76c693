// AVX-512 kernels. Every function that uses AVX-512 carries its own target
// attribute instead of the file being built with -mavx512f: that way no inline
// or template function the linker could merge with a generic copy is ever
// compiled for AVX-512, and the rest of the binary stays runnable on CPUs
// without it.
#include <immintrin.h>

#include "simd/avx512_helpers.h"
#include "simd/kernels_internal.h"

#define OMENDB_AVX512_TARGET \
  __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma,avx2")))
#define OMENDB_AVX512_INLINE                                                              \
  __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma,avx2"), always_inline)) \
  inline

namespace omendb::simd {
namespace {

using avx512::FirstLanes;
using avx512::ReduceAdd;
using avx512::Step;

// Squared L2 (kL2) or inner product of a[0..dim), b[0..dim), any alignment.
template <bool kL2>
OMENDB_AVX512_INLINE float Distance(const float* a, const float* b, size_t dim) {
  // FMA latency is ~4 cycles; with one accumulator every FMA would wait for
  // the previous one. Four independent chains (64 floats per iteration) hide
  // that latency so the loop runs at load throughput instead.
  __m512 acc0 = _mm512_setzero_ps();
  __m512 acc1 = _mm512_setzero_ps();
  __m512 acc2 = _mm512_setzero_ps();
  __m512 acc3 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 64 <= dim; i += 64) {
    acc0 = Step<kL2>(acc0, _mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
    acc1 = Step<kL2>(acc1, _mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
    acc2 = Step<kL2>(acc2, _mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32));
    acc3 = Step<kL2>(acc3, _mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48));
  }
  // The remainder (< 64 floats) uses a different accumulator per chunk, so
  // the tail adds no serial dependency chain (e.g. dim 784 = 12*64 + 16).
  if (i + 32 <= dim) {
    acc0 = Step<kL2>(acc0, _mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
    acc1 = Step<kL2>(acc1, _mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
    i += 32;
  }
  if (i + 16 <= dim) {
    acc2 = Step<kL2>(acc2, _mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
    i += 16;
  }
  if (i < dim) {
    // A masked load touches only the valid lanes (faults on the rest are
    // suppressed), so a vector ending right before an unmapped page is safe,
    // and the tail needs no scalar loop. Zeroed lanes add 0 to either distance.
    const __mmask16 mask = FirstLanes(dim - i);
    acc3 = Step<kL2>(acc3, _mm512_maskz_loadu_ps(mask, a + i), _mm512_maskz_loadu_ps(mask, b + i));
  }
  return ReduceAdd(acc0, acc1, acc2, acc3);
}

template <bool kL2>
OMENDB_AVX512_INLINE void Batch(const float* q, const float* const* vecs, size_t n, size_t dim,
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

OMENDB_AVX512_TARGET float L2Sq(const float* a, const float* b, size_t dim) {
  return Distance<true>(a, b, dim);
}

OMENDB_AVX512_TARGET float Dot(const float* a, const float* b, size_t dim) {
  return Distance<false>(a, b, dim);
}

OMENDB_AVX512_TARGET void L2SqBatch(const float* q, const float* const* vecs, size_t n,
                                    size_t dim, float* out) {
  Batch<true>(q, vecs, n, dim, out);
}

OMENDB_AVX512_TARGET void DotBatch(const float* q, const float* const* vecs, size_t n, size_t dim,
                                   float* out) {
  Batch<false>(q, vecs, n, dim, out);
}

constexpr Kernels kAvx512{Isa::kAvx512, "avx512", &L2Sq, &Dot, &L2SqBatch, &DotBatch};

}  // namespace

const Kernels& Avx512Kernels() { return kAvx512; }

}  // namespace omendb::simd
