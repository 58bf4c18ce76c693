// Internal to src/quant: the distance kernels of the fp16 and SQ8 codecs, the
// query-state layouts they read, and their per-ISA tables.
//
// As in src/simd, every kernel exists as a scalar reference and as versions
// compiled with per-function target attributes (sq_kernels_avx2.cc,
// sq_kernels_avx512.cc), chosen once at run time. The kernels are the
// CodeDistFn / CodeBatchFn the codecs install in Codec::dist and
// Codec::batch, so a search pays one indirect call per distance (or per
// batch) and nothing else: the ISA is fixed by which function is installed,
// not looked up through the state.
//
// Tests and benchmarks reach every table this CPU can run through
// Fp16KernelsFor / Sq8KernelsFor, and build codecs bound to a chosen table
// through the *With factories in fp16.h and sq8.h.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "quant/codec.h"
#include "simd/distance.h"
#include "simd/kernels_internal.h"

namespace omendb::quant {

// Issues a T0 prefetch for every 64-byte cache line overlapping
// code[0..bytes). Like simd::PrefetchVector but for byte-sized codes; plain
// SSE, so callable from generic and ISA-targeted code alike. Prefetches never
// fault, so `bytes` may run past what the caller owns. always_inline, like
// simd::PrefetchVector: a call GCC has not inlined is dropped as const.
__attribute__((always_inline)) inline void PrefetchCode(const uint8_t* code, size_t bytes) {
  if (bytes == 0) return;
  constexpr uintptr_t kLine = 64;
  const uintptr_t first = reinterpret_cast<uintptr_t>(code) & ~(kLine - 1);
  const uintptr_t last = (reinterpret_cast<uintptr_t>(code) + bytes - 1) & ~(kLine - 1);
  for (uintptr_t line = first; line <= last; line += kLine) {
    _mm_prefetch(reinterpret_cast<const char*>(line), _MM_HINT_T0);
  }
}

// ---------------------------------------------------------------------------
// fp16

// float -> IEEE binary16 with round-to-nearest-even. Deviations from a plain
// conversion (documented in the codec contract): magnitudes that would round
// to infinity (|f| >= 65520, and infinities) clamp to +-65504, the largest
// finite half, and NaN encodes as +0, so a code never holds inf or NaN and no
// distance computed from it can be NaN. Portable bit manipulation; the
// result equals F16C's _mm256_cvtps_ph(_MM_FROUND_TO_NEAREST_INT) on every
// finite input below the clamp.
uint16_t FloatToHalf(float f);

// IEEE binary16 -> float, exact (every half is a float), including
// subnormals; inf and NaN map to float inf and NaN.
float HalfToFloat(uint16_t h);

// The fp16 query state: the caller's float query (not copied: the Codec
// contract lets the state point into q) and the dimension. Codes are dim
// halves, little-endian, zero-padded to a multiple of 8 bytes.
struct Fp16QueryState {
  const float* q;
  size_t dim;
};

// Bytes of one code the batch kernels prefetch: the dim halves.
inline size_t PrefetchBytes(const Fp16QueryState* st) { return 2 * st->dim; }

// One ISA's fp16 kernels. `ip` returns 1 - <q, x> (the inner-product and
// cosine distance); `l2` the squared L2 distance to the decoded code.
struct Fp16Kernels {
  simd::Isa isa;
  const char* name;  // "scalar", "avx2" (AVX2+FMA+F16C), "avx512"
  CodeDistFn l2;
  CodeDistFn ip;
  CodeBatchFn l2_batch;
  CodeBatchFn ip_batch;
};

// The scalar reference: codes decoded with HalfToFloat, one float
// accumulator summed in index order (like simd's scalar kernels).
const Fp16Kernels& Fp16ScalarKernels();
// AVX2 + FMA + F16C. Calling it requires Fp16KernelsFor(kAvx2) != null.
const Fp16Kernels& Fp16Avx2Kernels();
// AVX-512 F/BW/DQ/VL. Calling it requires IsaSupported(Isa::kAvx512).
const Fp16Kernels& Fp16Avx512Kernels();

// The fp16 table for `isa`, or null if this CPU cannot run it (kAvx2 also
// needs F16C, which simd's kAvx2 level does not check).
const Fp16Kernels* Fp16KernelsFor(simd::Isa isa);
// The table for simd::BestIsa() (so OMENDB_ISA applies), falling back to
// the next lower level the CPU can run. Computed once.
const Fp16Kernels& BestFp16Kernels();

// ---------------------------------------------------------------------------
// SQ8
//
// Model: x_i ~ x̂_i = lo_i + s_i c_i with c_i in 0..255. For a query q,
//   <q, x̂> = sum_i q_i lo_i + sum_i (q_i s_i) c_i = bias + sum_i w_i c_i,
// so the kernels only compute sum_i w_i c_i over the code bytes. L2 codes
// carry ||x̂||^2 as a float after the code bytes, and
//   ||q - x̂||^2 = ||q||^2 - 2 <q, x̂> + ||x̂||^2.
// Inner product / cosine codes have no factor: 1 - <q, x̂> needs none.

// How the weights w_i are stored in the query state, i.e. which kernels can
// read it.
enum class Sq8QueryForm : uint8_t {
  // float w[dim] padded with zeros to a multiple of 16 floats: exact up to
  // float rounding. Scalar and AVX2 kernels.
  kFloat = 0,
  // Two-level int8: w_i ~ delta_hi * wh_i + delta_lo * wl_i with wh, wl in
  // [-127, 127] (wl quantizes the residual of wh), each array padded with
  // zeros to a multiple of 64. Products u8 x s8 are summed exactly in int32
  // (VNNI vpdpbusd), so the only error is the weights' quantization, about
  // 1/254 of the one-level error. One level measured 0.3% (SIFT) and 0.5%
  // (MNIST) mean relative error on the 100 nearest L2 distances, p99 1-3%,
  // too coarse for re-ranking; two levels measured 0.001% / 0.0001%, at the
  // cost of a second vpdpbusd on the same loaded code register.
  //
  // Quantization (every int8 preparation): delta_hi = max|w| / 127 and
  // wh_i = round(w_i * (1 / delta_hi)), ties to even, clamped to +-127;
  // r_i = w_i - delta_hi * wh_i rounded once to float (the difference is
  // exact in double: the product has at most 32 significant bits and r_i is
  // small); delta_lo = max|r| / 127 and wl_i = round(r_i * (1 / delta_lo))
  // likewise. A zero or non-finite query, or a step whose inverse overflows,
  // leaves that level's weights and delta 0.
  kInt8x2 = 1,
};

// The SQ8 query state: this 64-byte header, then the weights in the layout
// `form` names, starting at Sq8Weights(state).
struct alignas(64) Sq8QueryState {
  float q_norm2;      // ||q||^2 (used under L2)
  float bias;         // sum_i q_i lo_i
  float delta_hi;     // kInt8x2: scale of wh (0 if every w_i is 0)
  float delta_lo;     // kInt8x2: scale of wl
  uint32_t dim;
  uint32_t norm_offset;     // byte offset of the float ||x̂||^2 in an L2 code
  uint32_t prefetch_bytes;  // bytes of a code the batch kernels prefetch
  uint32_t reserved;
};
static_assert(sizeof(Sq8QueryState) == 64);

inline size_t PrefetchBytes(const Sq8QueryState* st) { return st->prefetch_bytes; }

inline const void* Sq8Weights(const Sq8QueryState* st) { return st + 1; }
inline void* Sq8Weights(Sq8QueryState* st) { return st + 1; }

// Padded weight-array lengths (elements) for each form.
inline size_t Sq8FloatWeights(size_t dim) { return (dim + 15) & ~size_t{15}; }
inline size_t Sq8Int8Weights(size_t dim) { return (dim + 63) & ~size_t{63}; }

// Bytes of a query state of `form` for dimension `dim` (a multiple of 64).
// The int8 form also reserves Sq8FloatWeights(dim) floats after wh and wl:
// scratch PrepareQuery keeps the float weights and residuals in (it may not
// allocate); the kernels never read it.
inline size_t Sq8StateBytes(size_t dim, Sq8QueryForm form) {
  const size_t weights = form == Sq8QueryForm::kFloat
                             ? 4 * Sq8FloatWeights(dim)
                             : 2 * Sq8Int8Weights(dim) + 4 * Sq8FloatWeights(dim);
  return sizeof(Sq8QueryState) + ((weights + 63) & ~size_t{63});
}

// Reads the ||x̂||^2 factor of an L2 code. memcpy: the offset is only
// 4-byte aligned relative to the code, and the compiler turns this into one
// load.
inline float Sq8CodeNorm2(const Sq8QueryState* st, const uint8_t* code) {
  float v;
  std::memcpy(&v, code + st->norm_offset, sizeof v);
  return v;
}

// Final combination, shared by every kernel so they agree on the order of
// the float operations: `qx` = sum_i w_i c_i estimate.
inline float Sq8L2From(const Sq8QueryState* st, float qx, const uint8_t* code) {
  return (st->q_norm2 + Sq8CodeNorm2(st, code)) - 2.0f * (st->bias + qx);
}
inline float Sq8IpFrom(const Sq8QueryState* st, float qx) { return 1.0f - (st->bias + qx); }

// Fills the form-specific part of a query state from the query q and the
// codec's lo and scale (st->dim values each): q_norm2, bias, delta_hi,
// delta_lo and the weights with their zero padding. The caller has set dim,
// norm_offset and prefetch_bytes. Allocates nothing; the int8 form uses the
// state's scratch area.
using Sq8PrepareFn = void (*)(const float* q, const float* lo, const float* scale,
                              Sq8QueryState* st);

// The portable preparations. Every preparation of a form produces the same
// weights and deltas (tests compare them bit for bit); only q_norm2 and
// bias, sums in double, may differ in their last bits with the summation
// order.
void Sq8PrepareFloat(const float* q, const float* lo, const float* scale, Sq8QueryState* st);
void Sq8PrepareInt8(const float* q, const float* lo, const float* scale, Sq8QueryState* st);

// One SQ8 kernel family. Every kernel reads a state of form `form`, which
// `prepare` writes.
struct Sq8Kernels {
  simd::Isa isa;
  const char* name;  // "scalar", "scalar-int8", "avx2", "avx512-vnni"
  Sq8QueryForm form;
  Sq8PrepareFn prepare;
  CodeDistFn l2;
  CodeDistFn ip;
  CodeBatchFn l2_batch;
  CodeBatchFn ip_batch;
};

// Scalar reference for the float form (also the fallback without AVX2):
// sum_i w_i * float(c_i) in one float accumulator in index order.
const Sq8Kernels& Sq8ScalarKernels();
// Scalar reference for the int8 form: the same two int32 sums the VNNI
// kernel computes, so their results agree exactly before the final float
// combination.
const Sq8Kernels& Sq8ScalarInt8Kernels();
// AVX2 + FMA, float form: u8 -> f32 conversion and FMA against w.
const Sq8Kernels& Sq8Avx2Kernels();
// AVX-512 F/BW/DQ/VL + VNNI, int8 form. Calling it requires
// Sq8KernelsFor(kAvx512) != null.
const Sq8Kernels& Sq8VnniKernels();

// True if the CPU runs AVX-512 (simd::IsaSupported(kAvx512)) and has
// AVX512_VNNI. Ignores OMENDB_ISA.
bool CpuHasAvx512Vnni();

// The SQ8 table for `isa`: kScalar the float reference, kAvx2 the AVX2 one,
// kAvx512 the VNNI one; null if this CPU cannot run it (kAvx512 without
// VNNI).
const Sq8Kernels* Sq8KernelsFor(simd::Isa isa);
// The table for simd::BestIsa() (so OMENDB_ISA applies): the VNNI kernels at
// kAvx512 with VNNI, otherwise AVX2 at kAvx2 or kAvx512, otherwise scalar.
// Computed once.
const Sq8Kernels& BestSq8Kernels();

// ---------------------------------------------------------------------------
// The batch loop

// The loop of every fp16 and SQ8 batch kernel: out[i] = kDist(state,
// codes[i]), the same per-code kernel as the table's single form, so batch
// results equal single results bit for bit. Graph neighbours' codes are
// scattered, so each is likely a cache miss: every line of the code
// simd::kPrefetchAhead positions ahead (PrefetchBytes of the State) is
// requested while the current one is computed.
//
// always_inline and generic: an ISA file wraps it in a batch kernel with its
// target attribute plus `flatten`, which inlines its targeted kDist into the
// loop once the loop is inlined there. (kDist cannot be always_inline
// instead: GCC would inline it into this generic template first and fail on
// the target mismatch.)
template <class State, CodeDistFn kDist>
__attribute__((always_inline)) inline void CodeBatchLoop(const void* state,
                                                         const uint8_t* const* codes, size_t n,
                                                         float* out) {
  const size_t bytes = PrefetchBytes(static_cast<const State*>(state));
  for (size_t i = 0; i < n && i < simd::kPrefetchAhead; ++i) PrefetchCode(codes[i], bytes);
  for (size_t i = 0; i < n; ++i) {
    if (i + simd::kPrefetchAhead < n) PrefetchCode(codes[i + simd::kPrefetchAhead], bytes);
    out[i] = kDist(state, codes[i]);
  }
}

}  // namespace omendb::quant
