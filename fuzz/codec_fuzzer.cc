// libFuzzer target: arbitrary bytes as a serialized codec
// (quant::DeserializeCodec, src/quant/codec.h). Reading must never crash; a
// codec that reads must
//   - serialize back to exactly the input, and that must read again and
//     serialize identically;
//   - encode vectors (finite, extreme and non-finite values) and answer
//     PrepareQuery / dist / batch / batch_bounded / lower on those codes and on codes made
//     of arbitrary bytes: an index loads stored codes without re-encoding
//     them, so every kernel must be safe for any code bytes;
//   - give the same results from every kernel table this CPU can run where
//     the codec promises it (fp16 and SQ8 single vs batch, RaBitQ integer
//     inner products and FastScan sums across ISAs).
// Codes are allocated at exactly code_bytes() (8-byte aligned) so ASan sees
// any read past a code's end.
//
// Seeds in fuzz/corpus/codec/ are Codec::Serialize output of codecs trained
// on 1100 (600) random vectors: fp16, sq8, rabitq:1, :4 and :9 (16 centres)
// at dims 8, 72 and 130 over all three metrics, and rabitq:3 / :6 with the
// constant-t encoder (fast_encode) at dim 20.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "quant/codec.h"
#include "quant/codecs_internal.h"
#include "quant/fp16.h"
#include "quant/rabitq.h"
#include "quant/sq8.h"
#include "quant/sq_kernels.h"
#include "simd/distance.h"

namespace {

using omendb::Metric;
using omendb::QuantKind;
namespace quant = omendb::quant;
namespace simd = omendb::simd;

// Larger codecs are only read (and round-tripped), not exercised: encoding a
// RaBitQ vector costs O(Dp 2^b log Dp).
constexpr uint32_t kMaxDim = 4096;
constexpr uint32_t kMaxRaBitQExerciseDim = 1024;

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using Buf = std::unique_ptr<uint8_t[], FreeDeleter>;

// 64-byte aligned, size rounded up to 64 (aligned_alloc's requirement).
Buf Aligned64(size_t n) {
  const size_t rounded = (n + 63) / 64 * 64;
  auto* p = static_cast<uint8_t*>(std::aligned_alloc(64, rounded == 0 ? 64 : rounded));
  if (p == nullptr) std::abort();
  std::memset(p, 0xA5, rounded == 0 ? 64 : rounded);  // never zero by accident
  return Buf(p);
}

// Exactly n bytes from malloc (16-byte aligned), so ASan flags byte n.
Buf Exact(size_t n) {
  auto* p = static_cast<uint8_t*>(std::malloc(n == 0 ? 1 : n));
  if (p == nullptr) std::abort();
  return Buf(p);
}

uint64_t Mix(uint64_t* s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t Hash(const uint8_t* data, size_t size) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < size; ++i) h = (h ^ data[i]) * 0x100000001b3ull;
  return h;
}

void Put32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }

// Vectors to encode: a smooth pattern, zeros, large finite values, values
// outside any trained range with inf / NaN / subnormals (Encode must clamp,
// never be undefined), the raw input bytes read as floats, and FLT_MAX
// everywhere.
std::vector<std::vector<float>> EncodeInputs(uint32_t dim, const uint8_t* data, size_t size,
                                             Metric metric) {
  std::vector<std::vector<float>> v(6, std::vector<float>(dim));
  for (uint32_t i = 0; i < dim; ++i) {
    v[0][i] = std::sin(0.37f * static_cast<float>(i) + 0.1f);
    v[1][i] = 0.0f;
    v[2][i] = (i % 2 ? -1.0f : 1.0f) * (i % 3 == 0 ? 3.0e38f : 1.0e20f);
    switch (i % 6) {
      case 0: v[3][i] = std::numeric_limits<float>::infinity(); break;
      case 1: v[3][i] = -std::numeric_limits<float>::infinity(); break;
      case 2: v[3][i] = std::numeric_limits<float>::quiet_NaN(); break;
      case 3: v[3][i] = std::numeric_limits<float>::denorm_min(); break;
      case 4: v[3][i] = -std::numeric_limits<float>::max(); break;
      default: v[3][i] = 65520.0f; break;  // rounds to inf as a half
    }
    uint32_t w = 0;
    for (int b = 0; b < 4 && size > 0; ++b) {
      w |= uint32_t{data[(4 * size_t{i} + b) % size]} << (8 * b);
    }
    std::memcpy(&v[4][i], &w, 4);
    // Finite, accepted by the indexes, but sums of them overflow float.
    v[5][i] = std::numeric_limits<float>::max();
  }
  if (metric == Metric::kCosine) {
    // The caller normalises under cosine; keep one normalised vector so the
    // usual path is covered too.
    double n2 = 0;
    for (float x : v[0]) n2 += double{x} * x;
    const auto inv = static_cast<float>(1.0 / std::sqrt(n2));
    for (float& x : v[0]) x *= inv;
  }
  return v;
}

// Queries (the index rejects non-finite queries): smooth, zero, huge finite.
std::vector<std::vector<float>> QueryInputs(uint32_t dim) {
  std::vector<std::vector<float>> q(3, std::vector<float>(dim));
  for (uint32_t i = 0; i < dim; ++i) {
    q[0][i] = std::cos(0.11f * static_cast<float>(i)) * 0.5f;
    q[1][i] = 0.0f;
    q[2][i] = (i % 2 ? 1.0f : -1.0f) * std::numeric_limits<float>::max() / (1.0f + (i % 7));
  }
  return q;
}

// Codes of arbitrary bytes: all zero, all 0xFF, floats that are NaN / inf /
// -FLT_MAX / subnormal, a PRNG stream seeded from the input, and the input
// bytes themselves.
std::vector<Buf> RawCodes(size_t bytes, const uint8_t* data, size_t size) {
  std::vector<Buf> codes;
  auto add = [&](auto fill) {
    Buf b = Exact(bytes);
    for (size_t i = 0; i < bytes; ++i) b[i] = fill(i);
    codes.push_back(std::move(b));
  };
  add([](size_t) -> uint8_t { return 0x00; });
  add([](size_t) -> uint8_t { return 0xFF; });
  auto word = [&](uint32_t w) {
    Buf b = Exact(bytes);
    for (size_t i = 0; i + 4 <= bytes; i += 4) Put32(&b[i], w);
    for (size_t i = bytes / 4 * 4; i < bytes; ++i) b[i] = 0x7F;
    codes.push_back(std::move(b));
  };
  word(0x7FC00000u);  // NaN
  word(0x7F800000u);  // +inf
  word(0xFF7FFFFFu);  // -FLT_MAX
  word(0x00000001u);  // subnormal
  word(0x7C007C00u);  // two half infinities
  word(0x7E007E00u);  // two half NaNs
  uint64_t s = Hash(data, size);
  add([&](size_t) -> uint8_t { return static_cast<uint8_t>(Mix(&s) >> 56); });
  add([&](size_t i) -> uint8_t { return size ? data[i % size] : 0; });
  return codes;
}

volatile float g_sink;

void Sink(float f) { g_sink = f; }

bool SameBits(float a, float b) { return std::memcmp(&a, &b, 4) == 0; }

// dist, batch (checked equal bit for bit when `exact_batch`) and lower.
void RunKernels(const quant::Codec& c, quant::CodeDistFn dist, quant::CodeBatchFn batch,
                const void* state, const std::vector<const uint8_t*>& codes, bool exact_batch) {
  std::vector<float> out(codes.size() + 1, 0.0f);
  batch(state, codes.data(), codes.size(), out.data());
  batch(state, codes.data(), 0, out.data() + codes.size());  // n = 0 must be harmless
  for (size_t i = 0; i < codes.size(); ++i) {
    const float d = dist(state, codes[i]);
    if (exact_batch && !SameBits(d, out[i])) std::abort();
    Sink(d);
    if (c.lower != nullptr) Sink(c.lower(state, codes[i], d));
  }
}

// fp16: every kernel table this CPU runs, on the same state (l2 and ip read
// the same code layout, so both run whatever the metric).
void ExerciseFp16(const quant::Fp16Codec& c, const void* state,
                  const std::vector<const uint8_t*>& codes) {
  std::vector<float> dec(c.dim());
  for (const uint8_t* code : codes) c.Decode(code, dec.data());
  for (simd::Isa isa : {simd::Isa::kScalar, simd::Isa::kAvx2, simd::Isa::kAvx512}) {
    const quant::Fp16Kernels* k = quant::Fp16KernelsFor(isa);
    if (k == nullptr) continue;
    RunKernels(c, k->l2, k->l2_batch, state, codes, true);
    RunKernels(c, k->ip, k->ip_batch, state, codes, true);
  }
}

// SQ8: a codec per kernel table (their query forms differ), same codes.
void ExerciseSq8(const quant::Sq8Codec& c, std::string_view serialized, const float* q,
                 const std::vector<const uint8_t*>& codes) {
  std::vector<float> dec(c.dim());
  for (const uint8_t* code : codes) c.Decode(code, dec.data());
  quant::CodecHeader h;
  h.quant = c.quantization();
  h.metric = c.metric();
  h.version = static_cast<uint8_t>(serialized[3]);
  h.dim = c.dim();
  const std::string_view body = serialized.substr(quant::kCodecHeaderBytes);
  std::vector<const quant::Sq8Kernels*> tables = {&quant::Sq8ScalarKernels(),
                                                  &quant::Sq8ScalarInt8Kernels()};
  for (simd::Isa isa : {simd::Isa::kAvx2, simd::Isa::kAvx512}) {
    if (const quant::Sq8Kernels* k = quant::Sq8KernelsFor(isa)) tables.push_back(k);
  }
  for (const quant::Sq8Kernels* k : tables) {
    auto other = quant::ReadSq8CodecWith(h, body, *k);
    if (!other.ok()) std::abort();  // the same bytes read once already
    const quant::Codec& oc = **other;
    Buf state = Aligned64(oc.query_state_bytes());
    oc.PrepareQuery(q, state.get());
    // Only the metric's kernels: inner-product codes have no norm factor
    // for the L2 kernels to read.
    if (oc.metric() == Metric::kL2) {
      RunKernels(oc, k->l2, k->l2_batch, state.get(), codes, true);
    } else {
      RunKernels(oc, k->ip, k->ip_batch, state.get(), codes, true);
    }
  }
}

// RaBitQ: every table's kernels on the same state; the integer inner
// products and FastScan sums must agree across ISAs.
void ExerciseRaBitQ(const quant::RaBitQCodec& c, const void* state,
                    const std::vector<const uint8_t*>& codes) {
  const quant::RaBitQLayout& l = c.layout();
  const uint32_t bits = l.bits;
  std::vector<const quant::RaBitQKernels*> tables = {&quant::RaBitQScalarKernels()};
  if (simd::IsaSupported(simd::Isa::kAvx2)) tables.push_back(&quant::RaBitQAvx2Kernels());
  if (simd::IsaSupported(simd::Isa::kAvx512)) {
    tables.push_back(&quant::RaBitQAvx512Kernels(false));
    if (quant::RaBitQHasVnni()) tables.push_back(&quant::RaBitQAvx512Kernels(true));
  }
  std::vector<uint16_t> xu(l.dp);
  for (const uint8_t* code : codes) {
    quant::UnpackCode(l, code, xu.data());
    const auto e = c.EstimateExact(state, code);
    Sink(static_cast<float>(e.est + e.bound));
    int64_t ref[3] = {0, 0, 0};
    for (size_t t = 0; t < tables.size(); ++t) {
      const quant::RaBitQKernels& k = *tables[t];
      const int64_t ip[3] = {k.ip_code[bits](state, code), k.ip_bin[bits](state, code),
                             k.ip_ex[bits](state, code)};
      if (t == 0) {
        std::memcpy(ref, ip, sizeof ref);
        // The incremental form equals the direct one exactly.
        if (ip[0] != ip[1] * (int64_t{1} << l.ex_bits) + ip[2]) std::abort();
      } else if (std::memcmp(ref, ip, sizeof ref) != 0) {
        std::abort();
      }
      Sink(quant::EstimateIncremental(state, code, ip[1], ip[2]));
      Sink(quant::EstimateBinFromIp(state, quant::ReadFactors(code), ip[1]));
    }
  }
  for (const quant::RaBitQKernels* k : tables) {
    RunKernels(c, k->dist[bits], k->batch[bits], state, codes, true);
  }
  // The two-stage batch at a few limits (the first code's estimate, +-inf,
  // NaN): identical on every table, and each result either the full estimate
  // or a value >= the limit.
  {
    std::vector<float> full(codes.size()), ref(codes.size()), got(codes.size() + 1);
    tables[0]->batch[bits](state, codes.data(), codes.size(), full.data());
    const float inf = std::numeric_limits<float>::infinity();
    for (float limit : {codes.empty() ? 0.0f : full[0], inf, -inf,
                        std::numeric_limits<float>::quiet_NaN()}) {
      for (size_t t = 0; t < tables.size(); ++t) {
        float* out = t == 0 ? ref.data() : got.data();
        tables[t]->batch_bounded[bits](state, codes.data(), codes.size(), limit, out);
        tables[t]->batch_bounded[bits](state, codes.data(), 0, limit, got.data() + codes.size());
        for (size_t i = 0; i < codes.size(); ++i) {
          if (t > 0 && !SameBits(out[i], ref[i])) std::abort();
          if (!SameBits(out[i], full[i]) && !(out[i] >= limit)) std::abort();
        }
      }
    }
  }
  // FastScan over (up to) the first 32 codes.
  const size_t n = std::min(codes.size(), quant::kFastScanBatch);
  Buf block = Aligned64(quant::FastScanBlockBytes(l.dp));
  quant::PackFastScanBlock(l, codes.data(), n, block.get());
  Buf lut = Aligned64(quant::FastScanLutBytes(l.dp));
  quant::PrepareFastScanLut(state, lut.get());
  uint32_t ref[quant::kFastScanBatch];
  for (size_t t = 0; t < tables.size(); ++t) {
    uint32_t sums[quant::kFastScanBatch];
    tables[t]->fastscan(lut.get(), block.get(), sums);
    if (t == 0) {
      std::memcpy(ref, sums, sizeof ref);
    } else if (std::memcmp(ref, sums, sizeof ref) != 0) {
      std::abort();
    }
  }
  float ipf[quant::kFastScanBatch];
  quant::FastScanToIp(lut.get(), ref, ipf);
  for (size_t i = 0; i < n; ++i) {
    Sink(quant::EstimateBinFromFloatIp(state, quant::ReadFactors(codes[i]), ipf[i]));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  auto r = quant::DeserializeCodec(in);
  if (!r.ok()) return 0;
  const quant::Codec& c = **r;

  // Round trip: the bytes read back are exactly what Serialize writes.
  std::string s1;
  c.Serialize(&s1);
  if (s1 != in) std::abort();
  auto r2 = quant::DeserializeCodec(s1);
  if (!r2.ok()) std::abort();
  std::string s2;
  (*r2)->Serialize(&s2);
  if (s2 != s1) std::abort();
  if ((*r2)->dim() != c.dim() || (*r2)->metric() != c.metric() ||
      !((*r2)->quantization() == c.quantization()) || (*r2)->code_bytes() != c.code_bytes() ||
      (*r2)->query_state_bytes() != c.query_state_bytes()) {
    std::abort();
  }

  const uint32_t dim = c.dim();
  if (dim > kMaxDim) return 0;
  const QuantKind kind = c.quantization().kind;
  if (kind == QuantKind::kRaBitQ && dim > kMaxRaBitQExerciseDim) return 0;
  const size_t cb = c.code_bytes();
  if (cb == 0 || cb % 8 != 0 || c.dist == nullptr || c.batch == nullptr) std::abort();

  // Codes: encoded vectors (Encode must be deterministic), then raw bytes.
  std::vector<Buf> owned;
  const auto inputs = EncodeInputs(dim, data, size, c.metric());
  for (const auto& x : inputs) {
    Buf a = Exact(cb);
    Buf b = Exact(cb);
    std::memset(a.get(), 0x5A, cb);
    std::memset(b.get(), 0xC3, cb);
    c.Encode(x.data(), a.get());
    (*r2)->Encode(x.data(), b.get());
    if (std::memcmp(a.get(), b.get(), cb) != 0) std::abort();
    owned.push_back(std::move(a));
  }
  for (Buf& b : RawCodes(cb, data, size)) owned.push_back(std::move(b));
  std::vector<const uint8_t*> codes;
  for (const Buf& b : owned) codes.push_back(b.get());

  const bool exact_batch = kind != QuantKind::kNone;  // float batch kernels may sum differently
  for (const auto& q : QueryInputs(dim)) {
    // The state may point into q; q outlives it here.
    Buf state = Aligned64(c.query_state_bytes());
    c.PrepareQuery(q.data(), state.get());
    RunKernels(c, c.dist, c.batch, state.get(), codes, exact_batch);
    switch (kind) {
      case QuantKind::kFp16:
        ExerciseFp16(static_cast<const quant::Fp16Codec&>(c), state.get(), codes);
        break;
      case QuantKind::kSq8:
        ExerciseSq8(static_cast<const quant::Sq8Codec&>(c), in, q.data(), codes);
        break;
      case QuantKind::kRaBitQ:
        ExerciseRaBitQ(static_cast<const quant::RaBitQCodec&>(c), state.get(), codes);
        break;
      case QuantKind::kNone:
        break;
    }
  }
  return 0;
}
