// Scalar reference kernels. These define the expected results: a single float
// accumulator summed in index order, so the rounding is easy to reason about.
// Without -ffast-math the compiler may not reassociate the sum, so it cannot
// silently turn these into vector code with a different rounding.
#include "simd/kernels_internal.h"

namespace omendb::simd {
namespace {

float L2Sq(const float* a, const float* b, size_t dim) {
  float sum = 0.0f;
  for (size_t i = 0; i < dim; ++i) {
    const float d = a[i] - b[i];
    sum += d * d;
  }
  return sum;
}

float Dot(const float* a, const float* b, size_t dim) {
  float sum = 0.0f;
  for (size_t i = 0; i < dim; ++i) sum += a[i] * b[i];
  return sum;
}

// The batch forms call the same functions as the single forms, so a batch
// result is bit-identical to the single-pair result. Prefetching still pays
// off on CPUs without AVX2: the next vectors are usually cache misses.
void L2SqBatch(const float* q, const float* const* vecs, size_t n, size_t dim, float* out) {
  for (size_t i = 0; i < n && i < kPrefetchAhead; ++i) PrefetchVector(vecs[i], dim);
  for (size_t i = 0; i < n; ++i) {
    if (i + kPrefetchAhead < n) PrefetchVector(vecs[i + kPrefetchAhead], dim);
    out[i] = L2Sq(q, vecs[i], dim);
  }
}

void DotBatch(const float* q, const float* const* vecs, size_t n, size_t dim, float* out) {
  for (size_t i = 0; i < n && i < kPrefetchAhead; ++i) PrefetchVector(vecs[i], dim);
  for (size_t i = 0; i < n; ++i) {
    if (i + kPrefetchAhead < n) PrefetchVector(vecs[i + kPrefetchAhead], dim);
    out[i] = Dot(q, vecs[i], dim);
  }
}

constexpr Kernels kScalar{Isa::kScalar, "scalar", &L2Sq, &Dot, &L2SqBatch, &DotBatch};

}  // namespace

const Kernels& ScalarKernels() { return kScalar; }

}  // namespace omendb::simd
