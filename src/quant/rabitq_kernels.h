// Internal to the RaBitQ kernels (rabitq_kernels_*.cc) and rabitq.cc: the
// ex-bit field table, scalar block decoding shared by the reference kernels
// and the layout code, and the per-code epilogues every ISA shares so their
// float results are bit-identical.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "quant/rabitq.h"
#include "simd/kernels_internal.h"

namespace omendb::quant::rabitq_internal {

// Ex-bit fields per b = B - 1 (see rabitq.h): widths most significant first,
// the shift of each inside the ex value, and the sum of the widths of the
// fields before it (its plane starts at before * Dp / 8 bytes into the ex
// area).
struct FieldSpec {
  uint32_t n;
  uint32_t width[3];
  uint32_t shift[3];
  uint32_t before[3];
};
inline constexpr FieldSpec kFieldSpecs[9] = {
    {0, {0, 0, 0}, {0, 0, 0}, {0, 0, 0}},  // b = 0 (B = 1): no ex bits
    {1, {1, 0, 0}, {0, 0, 0}, {0, 0, 0}},  // 1
    {1, {2, 0, 0}, {0, 0, 0}, {0, 0, 0}},  // 2
    {2, {2, 1, 0}, {1, 0, 0}, {0, 2, 0}},  // 3 = 2 + 1
    {1, {4, 0, 0}, {0, 0, 0}, {0, 0, 0}},  // 4
    {2, {4, 1, 0}, {1, 0, 0}, {0, 4, 0}},  // 5 = 4 + 1
    {2, {4, 2, 0}, {2, 0, 0}, {0, 4, 0}},  // 6 = 4 + 2
    {3, {4, 2, 1}, {3, 1, 0}, {0, 4, 6}},  // 7 = 4 + 2 + 1
    {1, {8, 0, 0}, {0, 0, 0}, {0, 0, 0}},  // 8
};

// Byte offset of block k (64 dims) of field f inside the ex area.
inline size_t FieldBlockOffset(uint32_t b, uint32_t f, uint32_t dp, size_t k) {
  const FieldSpec& s = kFieldSpecs[b];
  return size_t{s.before[f]} * dp / 8 + k * 8 * s.width[f];
}

// Width-w value of dimension d (< 64) in one block of a width-w field.
inline uint32_t FieldValue(const uint8_t* blk, uint32_t w, uint32_t d) {
  switch (w) {
    case 8: return blk[d];
    case 4: return (blk[d % 32] >> (4 * (d / 32))) & 0xFu;
    case 2: return (blk[d % 16] >> (2 * (d / 16))) & 0x3u;
    case 1: return (blk[d / 8] >> (d % 8)) & 0x1u;
    default: return 0;
  }
}

// ex values of the 64 dims of block k.
inline void DecodeExBlock(const uint8_t* ex_area, uint32_t b, uint32_t dp, size_t k,
                          uint8_t* out) {
  const FieldSpec& s = kFieldSpecs[b];
  for (uint32_t d = 0; d < 64; ++d) out[d] = 0;
  for (uint32_t f = 0; f < s.n; ++f) {
    const uint8_t* blk = ex_area + FieldBlockOffset(b, f, dp, k);
    for (uint32_t d = 0; d < 64; ++d) {
      out[d] = static_cast<uint8_t>(out[d] | (FieldValue(blk, s.width[f], d) << s.shift[f]));
    }
  }
}

inline uint64_t LoadU64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// Offset of a B >= 2 code's 1-bit factors (0 for B = 1, which has none).
inline size_t BinOffsetOf(uint32_t dp, uint32_t bits) {
  return bits >= 2 ? kCodeFactorBytes + size_t{dp} * bits / 8 : 0;
}
inline size_t CodeBytesOf(uint32_t dp, uint32_t bits) {
  return kCodeFactorBytes + size_t{dp} * bits / 8 + (bits >= 2 ? kCodeFactorBytes : 0);
}

// Prefetches every cache line of one code (hint only; never faults).
// always_inline: GCC treats an out-of-line function made only of prefetches
// as const and deletes calls to it, prefetches and all.
__attribute__((always_inline)) inline void PrefetchCode(const uint8_t* code, size_t bytes) {
  constexpr uintptr_t kLine = 64;
  const uintptr_t first = reinterpret_cast<uintptr_t>(code) & ~(kLine - 1);
  const uintptr_t last = (reinterpret_cast<uintptr_t>(code) + bytes - 1) & ~(kLine - 1);
  for (uintptr_t line = first; line <= last; line += kLine) {
    _mm_prefetch(reinterpret_cast<const char*>(line), _MM_HINT_T0);
  }
}

// The batch loop shared by every ISA: the same per-code function as `dist`,
// so batch results equal single results bit for bit. Graph neighbours are
// scattered, so each code is likely a cache miss: request kPrefetchAhead
// codes ahead, as simd's float batch kernels do.
template <class Ip>
__attribute__((always_inline)) inline void BatchLoop(const void* state,
                                                     const uint8_t* const* codes, size_t n,
                                                     float* out, Ip ip) {
  const auto* q = static_cast<const RaBitQQuery*>(state);
  const size_t bytes = CodeBytesOf(q->dp, q->bits);
  constexpr size_t kAhead = simd::kPrefetchAhead;
  for (size_t i = 0; i < n && i < kAhead; ++i) PrefetchCode(codes[i], bytes);
  for (size_t i = 0; i < n; ++i) {
    if (i + kAhead < n) PrefetchCode(codes[i + kAhead], bytes);
    out[i] = EstimateFromIp(state, codes[i], ip(state, codes[i]));
  }
}

// The two-stage batch every ISA shares (Codec::batch_bounded; Extended
// RaBitQ's incremental estimate, algorithms.md 1.6): <s, u~> from the sign
// plane gives the 1-bit estimate and its bound [RBQ24 3.2]; a code whose
// lower bound is >= limit stops there, any other adds <ex, u~> for exactly
// the full estimate `batch` returns (the integers are equal). The bound does
// not include the integer query's rounding; at 8 bits it is a small fraction
// of the 1-bit code's error.
template <class IpBin, class IpEx>
__attribute__((always_inline)) inline void BoundedBatchLoop(const void* state,
                                                            const uint8_t* const* codes, size_t n,
                                                            float limit, float* out, IpBin ip_bin,
                                                            IpEx ip_ex) {
  const auto* q = static_cast<const RaBitQQuery*>(state);
  if (q->bits < 2) {
    for (size_t i = 0; i < n; ++i) {
      out[i] = EstimateFromIp(state, codes[i], ip_bin(state, codes[i]));
    }
    return;
  }
  const size_t bin_offset = BinOffsetOf(q->dp, q->bits);
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* code = codes[i];
    const int64_t bin = ip_bin(state, code);
    const RaBitQFactors f1 = ReadBinFactors(code, bin_offset);
    const float lower1 = EstimateBinFromIp(state, f1, bin) - ErrorBound(state, f1);
    out[i] = lower1 >= limit ? lower1 : EstimateIncremental(state, code, bin, ip_ex(state, code));
  }
}

// The scalar reference for RaBitQKernels::prepare_ints (the AVX2 table uses
// it too).
QueryIntsInfo PrepareIntsScalar(float* u, const float* mean, uint32_t dp, bool wide, void* ints);

// Per-ISA table builders (rabitq_kernels_{scalar,avx2,avx512}.cc).
const RaBitQKernels& ScalarTable();
const RaBitQKernels& Avx2Table();
const RaBitQKernels& Avx512Table();
const RaBitQKernels& Avx512VnniTable();

}  // namespace omendb::quant::rabitq_internal
