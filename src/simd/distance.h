// Float32 distance kernels and their run-time selection.
//
// Each kernel family exists as a scalar reference and as AVX2+FMA and AVX-512
// versions compiled with per-function target attributes, so the default build
// (no -march) runs the best code this CPU supports and still runs correctly on
// a CPU without AVX-512. The choice is made once (CPUID, overridable with the
// OMENDB_ISA environment variable: "scalar", "avx2" or "avx512") and callers
// keep the returned table; nothing here is mutable global state.
#pragma once

#include <cstddef>

namespace omendb::simd {

enum class Isa : int { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

// Sum of squared differences of a[0..dim) and b[0..dim).
using L2SqFn = float (*)(const float* a, const float* b, size_t dim);
// Inner product of a[0..dim) and b[0..dim).
using DotFn = float (*)(const float* a, const float* b, size_t dim);
// out[i] = distance(q, vecs[i]) for i in [0, n), where distance is the family's
// (squared L2 or dot). Prefetches vecs[i + 1..] while computing vecs[i]. One
// indirect call per batch, not per distance, keeps the hot loop call-free.
using BatchFn = void (*)(const float* q, const float* const* vecs, size_t n, size_t dim,
                         float* out);

struct Kernels {
  Isa isa;
  const char* name;  // "scalar", "avx2", "avx512"
  L2SqFn l2sq;
  DotFn dot;
  BatchFn l2sq_batch;
  BatchFn dot_batch;
};

// The best ISA the CPU and OS support (AVX-512 needs F, BW, DQ, VL and OS
// support for the zmm state), lowered to OMENDB_ISA if that names a level the
// CPU supports. Computed once.
Isa BestIsa();

// True if this CPU can run kernels of `isa`.
bool IsaSupported(Isa isa);

// Kernel table for `isa`. Precondition: IsaSupported(isa).
const Kernels& KernelsFor(Isa isa);

// KernelsFor(BestIsa()).
const Kernels& BestKernels();

// Cosine distance 1 - <a,b>/(|a||b|) with the given table (0-norm -> 1).
float CosineDistance(const Kernels& k, const float* a, const float* b, size_t dim);

}  // namespace omendb::simd
