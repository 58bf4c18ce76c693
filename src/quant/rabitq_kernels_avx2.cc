// AVX2 RaBitQ kernels, for CPUs without AVX-512 (or OMENDB_ISA=avx2). Same
// integers as the scalar reference. A 64-dim block is unpacked as two
// 32-byte halves; fields of width 4 and 2 use 16/64-bit shifts (the masks
// keep only the wanted bits of each byte), width 1 and the sign bit expand a
// 32-bit mask to bytes with vpshufb + vpcmpeqb. Products: vpmaddubsw +
// vpmaddwd for the int8 query (B <= 5), vpmaddwd for the int16 query.
#include <utility>

#include "quant/rabitq_kernels.h"

#define RQ2_INLINE __attribute__((target("avx2,fma"), always_inline)) inline
#define RQ2_FN __attribute__((target("avx2,fma")))

namespace omendb::quant::rabitq_internal {
namespace {

RQ2_INLINE int64_t ReduceAdd32(__m256i v) {
  const __m256i wide = _mm256_add_epi64(_mm256_cvtepi32_epi64(_mm256_castsi256_si128(v)),
                                        _mm256_cvtepi32_epi64(_mm256_extracti128_si256(v, 1)));
  const __m128i s2 = _mm_add_epi64(_mm256_castsi256_si128(wide), _mm256_extracti128_si256(wide, 1));
  return _mm_cvtsi128_si64(s2) + _mm_extract_epi64(s2, 1);
}

// Byte j = 0xFF if bit j of m is set, else 0.
RQ2_INLINE __m256i ExpandBits32(uint32_t m) {
  const __m256i v = _mm256_set1_epi32(static_cast<int>(m));
  const __m256i idx = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,  //
                                       2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
  const __m256i bit = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ull));
  return _mm256_cmpeq_epi8(_mm256_and_si256(_mm256_shuffle_epi8(v, idx), bit), bit);
}

// 16-bit lane j = 0xFFFF if bit j of m is set, else 0.
RQ2_INLINE __m256i ExpandBits16(uint32_t m) {
  const __m256i v = _mm256_set1_epi16(static_cast<short>(m));
  const __m256i bit = _mm256_setr_epi16(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096,
                                        8192, 16384, static_cast<short>(0x8000));
  return _mm256_cmpeq_epi16(_mm256_and_si256(v, bit), bit);
}

// Bytes of half h (dims 32 h .. 32 h + 31) of one block of a width-W field,
// at bit S.
template <uint32_t W, uint32_t S, uint32_t H>
RQ2_INLINE __m256i FieldHalf(const uint8_t* blk) {
  if constexpr (W == 8) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 32 * H));
  } else if constexpr (W == 4) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk));
    const __m256i mask = _mm256_set1_epi8(static_cast<char>((0xFu << S) & 0xFFu));
    if constexpr (H == 0) return _mm256_and_si256(_mm256_slli_epi16(v, S), mask);
    return _mm256_and_si256(_mm256_srli_epi16(v, 4 - S), mask);
  } else if constexpr (W == 2) {
    const __m256i v =
        _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk)));
    // 128-bit lane 0 holds dims 32H .. 32H + 15 (bits 4H), lane 1 the next 16
    // (bits 4H + 2); a count of 64 makes a variable shift give zero.
    constexpr int kC0 = static_cast<int>(4 * H) - static_cast<int>(S);
    constexpr int kC1 = static_cast<int>(4 * H + 2) - static_cast<int>(S);
    constexpr long long kR0 = kC0 >= 0 ? kC0 : 64, kL0 = kC0 < 0 ? -kC0 : 64;
    constexpr long long kR1 = kC1 >= 0 ? kC1 : 64, kL1 = kC1 < 0 ? -kC1 : 64;
    const __m256i x = _mm256_or_si256(_mm256_srlv_epi64(v, _mm256_setr_epi64x(kR0, kR0, kR1, kR1)),
                                      _mm256_sllv_epi64(v, _mm256_setr_epi64x(kL0, kL0, kL1, kL1)));
    return _mm256_and_si256(x, _mm256_set1_epi8(static_cast<char>((0x3u << S) & 0xFFu)));
  } else {
    static_assert(W == 1);
    uint32_t m;
    std::memcpy(&m, blk + 4 * H, 4);
    return _mm256_and_si256(ExpandBits32(m), _mm256_set1_epi8(static_cast<char>(1u << S)));
  }
}

template <uint32_t b, uint32_t f, uint32_t H>
RQ2_INLINE __m256i AddField(__m256i x, const uint8_t* ex, uint32_t dp, size_t k) {
  constexpr uint32_t kW = kFieldSpecs[b].width[f];
  constexpr uint32_t kS = kFieldSpecs[b].shift[f];
  return _mm256_or_si256(x, FieldHalf<kW, kS, H>(ex + FieldBlockOffset(b, f, dp, k)));
}

template <uint32_t b, uint32_t H>
RQ2_INLINE __m256i ExHalf(const uint8_t* ex, uint32_t dp, size_t k) {
  constexpr uint32_t kN = kFieldSpecs[b].n;
  __m256i x = _mm256_setzero_si256();
  if constexpr (kN > 0) x = AddField<b, 0, H>(x, ex, dp, k);
  if constexpr (kN > 1) x = AddField<b, 1, H>(x, ex, dp, k);
  if constexpr (kN > 2) x = AddField<b, 2, H>(x, ex, dp, k);
  return x;
}

// Bytes of half H of block k of x = (kSign ? s << shift : 0) + (kEx ? ex : 0),
// for codes whose values fit a byte.
template <uint32_t b, bool kSign, bool kEx, uint32_t H>
RQ2_INLINE __m256i XHalf(const uint8_t* sign, const uint8_t* ex, uint32_t dp, size_t k) {
  __m256i x = _mm256_setzero_si256();
  if constexpr (kEx && b > 0) x = ExHalf<b, H>(ex, dp, k);
  if constexpr (kSign && (!kEx || b < 8)) {
    uint32_t m;
    std::memcpy(&m, sign + 8 * k + 4 * H, 4);
    const auto top = static_cast<char>(1u << (kEx ? b : 0));
    x = _mm256_or_si256(x, _mm256_and_si256(ExpandBits32(m), _mm256_set1_epi8(top)));
  }
  return x;
}

template <uint32_t B, bool kSign, bool kEx>
RQ2_INLINE int64_t Ip8(const void* state, const uint8_t* code) {
  constexpr uint32_t b = B - 1;
  const uint32_t dp = static_cast<const RaBitQQuery*>(state)->dp;
  const int8_t* qi = QueryInts8(state);
  const uint8_t* sign = code + kCodeFactorBytes;
  const uint8_t* ex = sign + dp / 8;
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i acc0 = _mm256_setzero_si256();
  __m256i acc1 = _mm256_setzero_si256();
  for (size_t k = 0; k < dp / 64; ++k) {
    const __m256i x0 = XHalf<b, kSign, kEx, 0>(sign, ex, dp, k);
    const __m256i x1 = XHalf<b, kSign, kEx, 1>(sign, ex, dp, k);
    const __m256i q0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qi + 64 * k));
    const __m256i q1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qi + 64 * k + 32));
    // |x * q pair| <= 2 * 31 * 127: vpmaddubsw never saturates here.
    acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(_mm256_maddubs_epi16(x0, q0), ones));
    acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(_mm256_maddubs_epi16(x1, q1), ones));
  }
  return ReduceAdd32(_mm256_add_epi32(acc0, acc1));
}

// int16 query. Flushing every 16 blocks keeps each int32 lane below 2^31:
// 16 blocks * 4 products per accumulator lane * 511 * 32767 < 2^31.
template <uint32_t B, bool kSign, bool kEx>
RQ2_INLINE int64_t Ip16(const void* state, const uint8_t* code) {
  constexpr uint32_t b = B - 1;
  constexpr bool kSignWide = kSign && kEx && b == 8;  // x_u up to 511: add in 16 bits
  const uint32_t dp = static_cast<const RaBitQQuery*>(state)->dp;
  const int16_t* qi = QueryInts16(state);
  const uint8_t* sign = code + kCodeFactorBytes;
  const uint8_t* ex = sign + dp / 8;
  const size_t blocks = dp / 64;
  int64_t total = 0;
  for (size_t k0 = 0; k0 < blocks; k0 += 16) {
    const size_t kend = blocks - k0 < 16 ? blocks : k0 + 16;
    __m256i acc0 = _mm256_setzero_si256();
    __m256i acc1 = _mm256_setzero_si256();
    for (size_t k = k0; k < kend; ++k) {
      const __m256i xh[2] = {XHalf<b, kSign, kEx, 0>(sign, ex, dp, k),
                             XHalf<b, kSign, kEx, 1>(sign, ex, dp, k)};
      uint64_t sbits = 0;
      if constexpr (kSignWide) sbits = LoadU64(sign + 8 * k);
      for (int qtr = 0; qtr < 4; ++qtr) {
        const __m256i h = xh[qtr / 2];
        __m256i x16 = _mm256_cvtepu8_epi16(qtr % 2 == 0 ? _mm256_castsi256_si128(h)
                                                         : _mm256_extracti128_si256(h, 1));
        if constexpr (kSignWide) {
          const auto m = static_cast<uint32_t>((sbits >> (16 * qtr)) & 0xFFFFu);
          x16 = _mm256_or_si256(x16, _mm256_and_si256(ExpandBits16(m), _mm256_set1_epi16(256)));
        }
        const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qi + 64 * k + 16 * qtr));
        if (qtr % 2 == 0) {
          acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(x16, q));
        } else {
          acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(x16, q));
        }
      }
    }
    total += ReduceAdd32(acc0) + ReduceAdd32(acc1);
  }
  return total;
}

template <uint32_t B, bool kSign, bool kEx>
RQ2_INLINE int64_t Ip(const void* state, const uint8_t* code) {
  if constexpr (B >= 6) {
    return Ip16<B, kSign, kEx>(state, code);
  } else {
    return Ip8<B, kSign, kEx>(state, code);
  }
}

template <uint32_t B>
RQ2_FN int64_t IpCode(const void* state, const uint8_t* code) {
  return Ip<B, true, true>(state, code);
}
template <uint32_t B>
RQ2_FN int64_t IpBin(const void* state, const uint8_t* code) {
  return Ip<B, true, false>(state, code);
}
template <uint32_t B>
RQ2_FN int64_t IpEx(const void* state, const uint8_t* code) {
  if constexpr (B == 1) {
    return 0;
  } else {
    return Ip<B, false, true>(state, code);
  }
}
template <uint32_t B>
RQ2_FN float Dist(const void* state, const uint8_t* code) {
  return EstimateFromIp(state, code, Ip<B, true, true>(state, code));
}
template <uint32_t B>
RQ2_FN void Batch(const void* state, const uint8_t* const* codes, size_t n, float* out) {
  BatchLoop(state, codes, n, out, &IpCode<B>);
}
template <uint32_t B>
RQ2_FN void BatchBounded(const void* state, const uint8_t* const* codes, size_t n, float limit,
                         float* out) {
  // For B = 1 the sign plane is the whole code and IpBin<1> its full product.
  BoundedBatchLoop(state, codes, n, limit, out, &IpBin<B>, &IpEx<B>);
}

RQ2_INLINE __m256i AddU8AsU16(__m256i acc, __m256i r) {
  acc = _mm256_add_epi16(acc, _mm256_cvtepu8_epi16(_mm256_castsi256_si128(r)));
  return _mm256_add_epi16(acc, _mm256_cvtepu8_epi16(_mm256_extracti128_si256(r, 1)));
}

// FastScan with 32-byte halves of each 64-byte chunk (2 nibble groups per
// vpshufb). Each u16 lane gains at most 4 * 255 per chunk, so the u16 sums
// are flushed to u32 every 64 chunks.
RQ2_FN void FastScan(const void* lut, const uint8_t* block, uint32_t* sums) {
  const auto* hdr = static_cast<const FastScanLut*>(lut);
  const uint8_t* table = static_cast<const uint8_t*>(lut) + 64;
  const size_t chunks = hdr->dp / 16;
  const __m256i nib = _mm256_set1_epi8(0x0F);
  __m256i tot[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),
                    _mm256_setzero_si256()};  // u32: codes 0-7, 8-15, 16-23, 24-31
  for (size_t c0 = 0; c0 < chunks; c0 += 64) {
    const size_t cend = chunks - c0 < 64 ? chunks : c0 + 64;
    __m256i lo = _mm256_setzero_si256();  // u16, codes 0..15
    __m256i hi = _mm256_setzero_si256();  // u16, codes 16..31
    for (size_t c = c0; c < cend; ++c) {
      for (size_t half = 0; half < 2; ++half) {
        const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + 64 * c + 32 * half));
        const __m256i t = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(table + 64 * c + 32 * half));
        lo = AddU8AsU16(lo, _mm256_shuffle_epi8(t, _mm256_and_si256(v, nib)));
        hi = AddU8AsU16(hi, _mm256_shuffle_epi8(t, _mm256_and_si256(_mm256_srli_epi16(v, 4), nib)));
      }
    }
    tot[0] = _mm256_add_epi32(tot[0], _mm256_cvtepu16_epi32(_mm256_castsi256_si128(lo)));
    tot[1] = _mm256_add_epi32(tot[1], _mm256_cvtepu16_epi32(_mm256_extracti128_si256(lo, 1)));
    tot[2] = _mm256_add_epi32(tot[2], _mm256_cvtepu16_epi32(_mm256_castsi256_si128(hi)));
    tot[3] = _mm256_add_epi32(tot[3], _mm256_cvtepu16_epi32(_mm256_extracti128_si256(hi, 1)));
  }
  for (int i = 0; i < 4; ++i) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(sums + 8 * i), tot[i]);
  }
}

template <size_t... I>
constexpr RaBitQKernels MakeTable(std::index_sequence<I...>) {
  return RaBitQKernels{
      "avx2",
      {&Dist<I == 0 ? 1 : I>...},
      {&Batch<I == 0 ? 1 : I>...},
      {&BatchBounded<I == 0 ? 1 : I>...},
      {&IpCode<I == 0 ? 1 : I>...},
      {&IpBin<I == 0 ? 1 : I>...},
      {&IpEx<I == 0 ? 1 : I>...},
      &FastScan,
      &PrepareIntsScalar,
  };
}

constexpr RaBitQKernels kAvx2 = MakeTable(std::make_index_sequence<kRaBitQMaxBits + 1>());

}  // namespace

const RaBitQKernels& Avx2Table() { return kAvx2; }

}  // namespace omendb::quant::rabitq_internal
