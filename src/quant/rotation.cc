// The Hadamard + Kac-walk rotation (see rotation.h for the construction).
#include "quant/rotation.h"

#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "simd/distance.h"

namespace omendb::quant {
namespace {

constexpr uint8_t kKindHadamardKac = 1;

uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint32_t HadamardBlock(uint32_t n) {
  uint32_t h = 1;
  while (h * 2 <= n) h *= 2;
  return h;
}

// The steps are written once, as always-inline templates, and instantiated
// in one plain and two ISA-targeted wrappers: the loops are simple enough for
// the compiler to vectorise at whatever width the wrapper's target allows
// (the query rotation is on the search path, once per query).

// Negates the coordinates whose bit is set: an exact operation (sign flip).
__attribute__((always_inline)) inline void FlipSigns(float* v, const uint64_t* bits, uint32_t n) {
  for (uint32_t i = 0; i < n; ++i) {
    const uint32_t flip = static_cast<uint32_t>((bits[i / 64] >> (i % 64)) & 1u) << 31;
    uint32_t u;
    std::memcpy(&u, &v[i], 4);
    u ^= flip;
    std::memcpy(&v[i], &u, 4);
  }
}

// Orthonormal Walsh-Hadamard transform of v[0..h), h a power of two >= 64.
__attribute__((always_inline)) inline void Hadamard(float* v, uint32_t h) {
  // The first three levels (butterfly spans 1, 2, 4) as one 8-point
  // transform per block: short spans vectorise badly as separate loops.
  for (uint32_t i = 0; i < h; i += 8) {
    float* p = v + i;
    const float a0 = p[0] + p[1], a1 = p[0] - p[1], a2 = p[2] + p[3], a3 = p[2] - p[3];
    const float a4 = p[4] + p[5], a5 = p[4] - p[5], a6 = p[6] + p[7], a7 = p[6] - p[7];
    const float b0 = a0 + a2, b2 = a0 - a2, b1 = a1 + a3, b3 = a1 - a3;
    const float b4 = a4 + a6, b6 = a4 - a6, b5 = a5 + a7, b7 = a5 - a7;
    p[0] = b0 + b4;
    p[4] = b0 - b4;
    p[1] = b1 + b5;
    p[5] = b1 - b5;
    p[2] = b2 + b6;
    p[6] = b2 - b6;
    p[3] = b3 + b7;
    p[7] = b3 - b7;
  }
  for (uint32_t len = 8; len < h; len *= 2) {
    for (uint32_t i = 0; i < h; i += 2 * len) {
      float* lo = v + i;
      float* hi = v + i + len;
      for (uint32_t j = 0; j < len; ++j) {
        const float a = lo[j];
        const float b = hi[j];
        lo[j] = a + b;
        hi[j] = a - b;
      }
    }
  }
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(h)));
  for (uint32_t i = 0; i < h; ++i) v[i] *= scale;
}

// (v[i], v[i + n/2]) -> ((a + b) / sqrt 2, (a - b) / sqrt 2) for i < n/2.
__attribute__((always_inline)) inline void Givens(float* v, uint32_t n) {
  const float s = static_cast<float>(1.0 / std::sqrt(2.0));
  const uint32_t half = n / 2;
  float* lo = v;
  float* hi = v + half;
  for (uint32_t i = 0; i < half; ++i) {
    const float a = lo[i];
    const float b = hi[i];
    lo[i] = (a + b) * s;
    hi[i] = (a - b) * s;
  }
}

struct Plan {
  uint32_t n;
  uint32_t h;
  const uint64_t* signs;  // kRounds * n / 64 words
};

__attribute__((always_inline)) inline void Forward(const Plan& p, float* v) {
  const uint32_t words = p.n / 64;
  for (uint32_t r = 0; r < Rotation::kRounds; ++r) {
    FlipSigns(v, p.signs + r * words, p.n);
    Hadamard(v + (r % 2 == 0 ? 0 : p.n - p.h), p.h);
    if (p.h < p.n) Givens(v, p.n);
  }
}

// Every step is an involution (a sign flip, the orthonormal Hadamard matrix
// and the pi/4 Givens matrix are symmetric and orthogonal), so the inverse
// runs the same steps in reverse order.
__attribute__((always_inline)) inline void Inverse(const Plan& p, float* v) {
  const uint32_t words = p.n / 64;
  for (uint32_t r = Rotation::kRounds; r-- > 0;) {
    if (p.h < p.n) Givens(v, p.n);
    Hadamard(v + (r % 2 == 0 ? 0 : p.n - p.h), p.h);
    FlipSigns(v, p.signs + r * words, p.n);
  }
}

void ForwardScalar(const Plan& p, float* v) { Forward(p, v); }
void InverseScalar(const Plan& p, float* v) { Inverse(p, v); }
__attribute__((target("avx2,fma"))) void ForwardAvx2(const Plan& p, float* v) { Forward(p, v); }
__attribute__((target("avx2,fma"))) void InverseAvx2(const Plan& p, float* v) { Inverse(p, v); }
// The forward transform by hand for AVX-512: the query is rotated once per
// search, and the compiler leaves the sign flips and the 8-point butterflies
// above mostly scalar. Every output is computed with the same operations in
// the same order as the templates (each butterfly level is a + b / a - b of
// the same pair, then one multiply by the same scale), so the result is
// bit-identical to ForwardScalar: only the instruction selection differs.
#define OMENDB_RT512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")))

// One butterfly level of span s < 16 inside a register: y holds each lane's
// partner (lane i ^ s); the low lane of a pair gets x + y = lo + hi, the
// high lane y - x = lo - hi.
OMENDB_RT512 inline __m512 InRegisterLevel(__m512 x, __m512i partner, __mmask16 high) {
  // (The masked form with every lane selected: the unmasked intrinsic's
  // undefined pass-through operand trips GCC 12's -Wmaybe-uninitialized.)
  const __m512 y = _mm512_mask_permutexvar_ps(x, 0xFFFF, partner, x);
  return _mm512_mask_sub_ps(_mm512_add_ps(x, y), high, y, x);
}

OMENDB_RT512 void FlipSigns512(float* v, const uint64_t* bits, uint32_t n) {
  const __m512 sign = _mm512_castsi512_ps(_mm512_set1_epi32(static_cast<int>(0x80000000u)));
  for (uint32_t i = 0; i < n; i += 16) {
    const auto m = static_cast<__mmask16>((bits[i / 64] >> (i % 64)) & 0xFFFFu);
    const __m512 x = _mm512_loadu_ps(v + i);
    _mm512_storeu_ps(v + i, _mm512_mask_xor_ps(x, m, x, sign));
  }
}

OMENDB_RT512 void Hadamard512(float* v, uint32_t h) {
  const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  const __m512i p1 = _mm512_xor_si512(lane, _mm512_set1_epi32(1));
  const __m512i p2 = _mm512_xor_si512(lane, _mm512_set1_epi32(2));
  const __m512i p4 = _mm512_xor_si512(lane, _mm512_set1_epi32(4));
  const __m512i p8 = _mm512_xor_si512(lane, _mm512_set1_epi32(8));
  for (uint32_t i = 0; i < h; i += 16) {
    __m512 x = _mm512_loadu_ps(v + i);
    x = InRegisterLevel(x, p1, 0xAAAA);
    x = InRegisterLevel(x, p2, 0xCCCC);
    x = InRegisterLevel(x, p4, 0xF0F0);
    x = InRegisterLevel(x, p8, 0xFF00);
    _mm512_storeu_ps(v + i, x);
  }
  for (uint32_t len = 16; len < h; len *= 2) {
    for (uint32_t i = 0; i < h; i += 2 * len) {
      float* lo = v + i;
      float* hi = v + i + len;
      for (uint32_t j = 0; j < len; j += 16) {
        const __m512 a = _mm512_loadu_ps(lo + j);
        const __m512 b = _mm512_loadu_ps(hi + j);
        _mm512_storeu_ps(lo + j, _mm512_add_ps(a, b));
        _mm512_storeu_ps(hi + j, _mm512_sub_ps(a, b));
      }
    }
  }
  const __m512 scale = _mm512_set1_ps(static_cast<float>(1.0 / std::sqrt(static_cast<double>(h))));
  for (uint32_t i = 0; i < h; i += 16) _mm512_storeu_ps(v + i, _mm512_mul_ps(_mm512_loadu_ps(v + i), scale));
}

OMENDB_RT512 void Givens512(float* v, uint32_t n) {
  const __m512 s = _mm512_set1_ps(static_cast<float>(1.0 / std::sqrt(2.0)));
  const uint32_t half = n / 2;  // a multiple of 32
  for (uint32_t i = 0; i < half; i += 16) {
    const __m512 a = _mm512_loadu_ps(v + i);
    const __m512 b = _mm512_loadu_ps(v + half + i);
    _mm512_storeu_ps(v + i, _mm512_mul_ps(_mm512_add_ps(a, b), s));
    _mm512_storeu_ps(v + half + i, _mm512_mul_ps(_mm512_sub_ps(a, b), s));
  }
}

// n is a multiple of 64, so h >= 64 and n - h is a multiple of 64.
OMENDB_RT512 void ForwardAvx512(const Plan& p, float* v) {
  const uint32_t words = p.n / 64;
  for (uint32_t r = 0; r < Rotation::kRounds; ++r) {
    FlipSigns512(v, p.signs + r * words, p.n);
    Hadamard512(v + (r % 2 == 0 ? 0 : p.n - p.h), p.h);
    if (p.h < p.n) Givens512(v, p.n);
  }
}
#undef OMENDB_RT512
__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma"))) void InverseAvx512(
    const Plan& p, float* v) {
  Inverse(p, v);
}

using TransformFn = void (*)(const Plan&, float*);

// The ISA only changes instruction selection: with -ffp-contract=off (ISO
// C++ mode) no FMA is formed, so all three give bit-identical results.
TransformFn ForwardFn() {
  static const TransformFn fn = [] {
    switch (simd::BestIsa()) {
      case simd::Isa::kAvx512: return &ForwardAvx512;
      case simd::Isa::kAvx2: return &ForwardAvx2;
      case simd::Isa::kScalar: break;
    }
    return &ForwardScalar;
  }();
  return fn;
}

TransformFn InverseFn() {
  static const TransformFn fn = [] {
    switch (simd::BestIsa()) {
      case simd::Isa::kAvx512: return &InverseAvx512;
      case simd::Isa::kAvx2: return &InverseAvx2;
      case simd::Isa::kScalar: break;
    }
    return &InverseScalar;
  }();
  return fn;
}

}  // namespace

Rotation Rotation::Make(uint32_t dim, uint64_t seed) {
  Rotation r;
  r.dim_ = dim;
  r.n_ = PaddedDim(dim);
  r.h_ = HadamardBlock(r.n_);
  r.signs_.resize(size_t{kRounds} * r.n_ / 64);
  // Domain-separate the seed so a caller using the same seed elsewhere (e.g.
  // for k-means) does not get correlated streams.
  uint64_t state = seed ^ 0x5241426974517652ull;  // "RaBitqRv"
  for (uint64_t& w : r.signs_) w = SplitMix64(&state);
  return r;
}

void Rotation::Apply(const float* x, float* out) const {
  std::memcpy(out, x, size_t{dim_} * sizeof(float));
  std::memset(out + dim_, 0, size_t{n_ - dim_} * sizeof(float));
  ApplyInPlace(out);
}

void Rotation::ApplyInPlace(float* v) const { ForwardFn()(Plan{n_, h_, signs_.data()}, v); }

void Rotation::InverseInPlace(float* v) const { InverseFn()(Plan{n_, h_, signs_.data()}, v); }

void Rotation::ApplyInPlaceWith(simd::Isa isa, float* v) const {
  const Plan p{n_, h_, signs_.data()};
  switch (isa) {
    case simd::Isa::kAvx512: ForwardAvx512(p, v); return;
    case simd::Isa::kAvx2: ForwardAvx2(p, v); return;
    case simd::Isa::kScalar: break;
  }
  ForwardScalar(p, v);
}

void Rotation::Serialize(std::string* out) const {
  out->push_back(static_cast<char>(kKindHadamardKac));
  out->push_back(static_cast<char>(kRounds));
  for (uint64_t w : signs_) {
    for (int b = 0; b < 8; ++b) out->push_back(static_cast<char>((w >> (8 * b)) & 0xFF));
  }
}

Result<Rotation> Rotation::Read(uint32_t dim, std::string_view* in) {
  if (dim == 0 || dim > 65536) return Status::Corruption("rotation: bad dim");
  if (in->size() < 2) return Status::Corruption("rotation: truncated");
  const auto kind = static_cast<uint8_t>((*in)[0]);
  const auto rounds = static_cast<uint8_t>((*in)[1]);
  if (kind != kKindHadamardKac) return Status::NotSupported("rotation: unknown kind");
  if (rounds != kRounds) return Status::Corruption("rotation: bad round count");
  Rotation r;
  r.dim_ = dim;
  r.n_ = PaddedDim(dim);
  r.h_ = HadamardBlock(r.n_);
  const size_t words = size_t{kRounds} * r.n_ / 64;
  if (in->size() - 2 < words * 8) return Status::Corruption("rotation: truncated signs");
  r.signs_.resize(words);
  const auto* p = reinterpret_cast<const uint8_t*>(in->data() + 2);
  for (size_t i = 0; i < words; ++i) {
    uint64_t w = 0;
    for (int b = 0; b < 8; ++b) w |= uint64_t{p[8 * i + b]} << (8 * b);
    r.signs_[i] = w;
  }
  in->remove_prefix(2 + words * 8);
  return r;
}

}  // namespace omendb::quant
