// Internal to src/simd: the per-ISA kernel tables and the pieces of ISA
// selection that tests exercise directly. Not part of the public API.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "simd/distance.h"

namespace omendb::simd {

// The scalar reference table: plain loops accumulating in float, in index
// order. Runs on any x86-64 CPU.
const Kernels& ScalarKernels();

// The AVX2+FMA table. Calling its kernels requires IsaSupported(Isa::kAvx2).
const Kernels& Avx2Kernels();

// The AVX-512 (F, BW, DQ, VL) table. Calling its kernels requires
// IsaSupported(Isa::kAvx512).
const Kernels& Avx512Kernels();

// The highest ISA level this CPU and OS support, ignoring OMENDB_ISA: kAvx512
// needs AVX-512 F/BW/DQ/VL plus OS-enabled opmask/zmm state (XCR0), kAvx2
// needs AVX2 and FMA plus OS-enabled ymm state. Cached after the first call.
Isa DetectCpuIsa();

// Applies an OMENDB_ISA value to `best` (the CPU's level): "scalar", "avx2" or
// "avx512" (ASCII case-insensitive) give min(named level, best), so an
// override can only lower the choice. Null, empty or any other string leaves
// `best` unchanged.
Isa ParseIsaOverride(const char* env, Isa best);

// ParseIsaOverride(getenv("OMENDB_ISA"), DetectCpuIsa()), evaluated now and
// not cached (BestIsa() caches the first result). Not safe to call while
// another thread modifies the environment.
Isa ResolveIsa();

// How many vectors ahead the batch kernels prefetch. Computing one dim-128
// distance takes ~5 ns but a DRAM miss ~100 ns, so prefetching only the next
// vector barely helps; keeping ~4 vectors (32 lines at dim 128) in flight
// measured ~30% faster than no prefetch on random 256 MiB data (EPYC, AVX-512
// and AVX2), while 8 was no better. Costs nothing extra when data is cached:
// each vector is prefetched exactly once whatever the distance.
inline constexpr size_t kPrefetchAhead = 4;

// Issues a T0 prefetch for every 64-byte cache line overlapping
// v[0..dim). Never faults (prefetches are hints), so v may be any pointer to
// dim readable floats; dim == 0 prefetches nothing. Plain SSE, so safe to call
// from generic and ISA-targeted code alike. always_inline: GCC deems a
// function made only of prefetches const, and drops a call to it that it has
// not inlined, prefetches and all.
__attribute__((always_inline)) inline void PrefetchVector(const float* v, size_t dim) {
  if (dim == 0) return;
  constexpr uintptr_t kLine = 64;
  const uintptr_t first = reinterpret_cast<uintptr_t>(v) & ~(kLine - 1);
  const uintptr_t last = (reinterpret_cast<uintptr_t>(v + dim) - 1) & ~(kLine - 1);
  for (uintptr_t line = first; line <= last; line += kLine) {
    _mm_prefetch(reinterpret_cast<const char*>(line), _MM_HINT_T0);
  }
}

}  // namespace omendb::simd
