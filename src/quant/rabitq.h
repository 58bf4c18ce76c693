// Extended RaBitQ (RaBitQ: Gao & Long, SIGMOD 2024 [RBQ24]; Extended RaBitQ:
// Gao et al., SIGMOD 2025 [EXT]) as a Codec, plus the internal pieces scans
// and tests use directly: the code layout, the prepared-query layout, the
// grid-scale code search, the incremental (sign bits, then extra bits)
// estimate and the 32-code FastScan estimator.
//
// Notation (shared/design/algorithms.md 1.2). Everything lives in the rotated
// space of dimension Dp = dim padded to a multiple of 64: x' = P x. The codec
// keeps a global mean m' (the "origin") and K <= 16 centres c'_k (k-means on
// the training sample; K = 1, the mean, for small samples). A vector x is
// encoded against its nearest centre: residual r = x' - c'_k, unit o = r/|r|,
// and a code x_u in {0 .. 2^B - 1}^Dp whose grid point g = x_u - (2^B - 1)/2
// is the B-bit codeword nearest to o in angle [EXT]. With b = B - 1, the top
// bit of x_u is the sign of r_i and the low b bits ("ex" bits) the magnitude
// level, complemented for negative r_i, so x_u = (s << b) + ex.
//
// The estimator [RBQ24 section 3.2, eq. 12]: <r, q - c> ~ |r|^2 <g, q - c> / <g, r>,
// unbiased, with |error| <= |r| |q - c| eps0 sqrt((1 - a^2) / a^2) / sqrt(Dp - 1),
// a = <g, r>/(|g||r|), with high probability. Folded into three floats per
// code (F_add, F_rescale, F_err) and per-query, per-centre terms
// (G_add, G_err) as in the library formulation (algorithms.md 1.3-1.4):
//   L2:  |x - q|^2 = |r|^2 + |q - c|^2 - 2 <r, q - c>
//   IP:  1 - <x, q> = 1 - <c, q> - <r, c> - <r, q - c>
//   est  = F_add + G_add[k] + F_rescale * <g, u>,    u = q' - m'
//   lower = est - F_err * G_err[k],                  G_err[k] = |q' - c'_k|
// Deviation from the library: the query is taken relative to the global mean
// m' rather than to the coordinate origin (the library multiplies the code by
// the raw rotated query). <g, c'_k - m'> is then a per-vector constant folded
// into F_add, so per-code work is unchanged, while the quantised query (next
// paragraph) and the float cancellation in F_add + F_rescale <g, u> scale
// with |q - m| instead of |q|, which matters for data far from the origin.
// Inner product (and cosine = IP on normalised inputs) uses its own factor
// set and estimates <r, q - c> around the vector's own centre, i.e. the query
// is normalised w.r.t. the centroid as RaBitQ's footnote prescribes, never the
// L2 factors with the metric swapped (algorithms.md pitfall 1.11.1).
//
// Query quantisation. <x_u, u> is computed in integers against a
// symmetrically quantised query u ~ delta * u~ (deterministic rounding):
// int8 for B <= 5 (VNNI vpdpbusd on unpacked code bytes), int16 for B >= 6
// (vpdpwssd). Deviation from [RBQ24 3.3.1], which uses B_q = 4 bits with
// randomised rounding: the query error must stay well below the code error
// at every B (it halves per extra bit), and an int8 query already adds
// ~1.6% to the error at B = 5; int16 keeps it < 0.1% up to B = 9. The
// constant part uses the quantised query too, <g, u~> = <x_u, u~> + c_B sum(u~),
// so the quantisation error enters as <g, e> with a centred g.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "omendb/status.h"
#include "omendb/types.h"
#include "quant/codec.h"
#include "quant/codecs_internal.h"
#include "quant/rotation.h"
#include "simd/distance.h"

namespace omendb::quant {

// ---------------------------------------------------------------------------
// Constants and code layout.

// The error-bound confidence parameter [RBQ24 3.2.2].
inline constexpr double kRaBitQEpsilon0 = 1.9;
inline constexpr uint32_t kRaBitQMaxCentres = 16;
inline constexpr uint32_t kRaBitQMinBits = 1;
inline constexpr uint32_t kRaBitQMaxBits = 9;

// One code (code_bytes() bytes, 8-byte aligned when stored by an index):
//   [0, 4)    float F_add
//   [4, 8)    float F_rescale
//   [8, 12)   float F_err   (error bound per unit |q - c|, eps0 included)
//   [12]      u8 centre id (< number of centres; readers mask it to 0..15)
//   [13, 16)  zero
//   [16, 16 + Dp/8)           sign plane: bit j of byte i = sign of dim 8i + j
//   [16 + Dp/8, 16 + Dp*B/8)  ex bits (B >= 2), in the field layout below
//   B >= 2 only, 16 bytes at bin_offset = 16 + Dp*B/8: the 1-bit factors of
//     the sign plane (float F1_add, F1_rescale, F1_err, then 4 zero bytes;
//     the centre is the code's own), so a graph walk can compute the 1-bit
//     estimate and bound from the first cache lines of a code and read the
//     ex bits only when the bound leaves the candidate in play
// so code_bytes = 16 + Dp * B / 8 (+ 16 for B >= 2), a multiple of 8 as Dp
// is a multiple of 64: 32 bytes for D = 128, B = 1; 64 for D = 128, B = 2;
// 448 for D = 784 (Dp = 832), B = 4.
//
// Ex-bit fields. The b = B - 1 ex bits of a dimension are split into fields
// of width 4, 2 or 1 (most significant first): b = 1: {1}; 2: {2}; 3: {2,1};
// 4: {4}; 5: {4,1}; 6: {4,2}; 7: {4,2,1}; 8: {8}. Each field is stored as a
// plane (all 64-dim blocks of field 0, then of field 1, ...); in a block the
// field occupies 8 * width bytes:
//   width 8: byte j = dim j
//   width 4: byte j (j < 32) = dim j | dim (j + 32) << 4
//   width 2: byte j (j < 16) = dims j, j+16, j+32, j+48 at bits 0, 2, 4, 6
//   width 1: 8 bytes, bit j of the little-endian u64 = dim j
// Every width unpacks to 64 bytes in natural dimension order with a
// broadcast load, one variable rotate and one AND (AVX-512), or with a
// mask register (width 1), so no query permutation is needed; this is our own
// layout (the library interleaves differently, algorithms.md 1.6 step 7).
inline constexpr size_t kCodeFactorBytes = 16;

struct ExField {
  uint32_t width;   // 1, 2, 4 or 8 bits
  uint32_t shift;   // bit position of the field inside the ex value
  size_t offset;    // byte offset of the field's plane from the start of the ex area
};

struct RaBitQLayout {
  uint32_t dim = 0;
  uint32_t dp = 0;        // padded dimension
  uint32_t bits = 0;      // B, total bits per dimension
  uint32_t ex_bits = 0;   // b = B - 1
  uint32_t num_fields = 0;
  ExField fields[3] = {};
  size_t sign_offset = kCodeFactorBytes;
  size_t ex_offset = 0;
  size_t bin_offset = 0;  // B >= 2: the sign plane's 1-bit factors; 0 for B = 1
  size_t code_bytes = 0;
};
RaBitQLayout MakeRaBitQLayout(uint32_t dim, uint32_t bits);

// Packs the ex values ex[0..dp) (each < 2^ex_bits) into the ex area.
void PackExBits(const RaBitQLayout& l, const uint8_t* ex, uint8_t* ex_area);
// The inverse of PackExBits.
void UnpackExBits(const RaBitQLayout& l, const uint8_t* ex_area, uint8_t* ex);
// Full code values x_u[i] = (sign_i << b) + ex_i, i < dp, of a code.
void UnpackCode(const RaBitQLayout& l, const uint8_t* code, uint16_t* xu);

// Per-code factors, as stored in a code's first 16 bytes.
struct RaBitQFactors {
  float add = 0;
  float rescale = 0;
  float err = 0;
  uint32_t centre = 0;
};
// The centre id is masked to 0..15 so a damaged code can never index out of
// the per-centre query arrays.
inline RaBitQFactors ReadFactors(const uint8_t* code) {
  RaBitQFactors f;
  std::memcpy(&f.add, code, 4);
  std::memcpy(&f.rescale, code + 4, 4);
  std::memcpy(&f.err, code + 8, 4);
  f.centre = code[12] & (kRaBitQMaxCentres - 1);
  return f;
}

// ---------------------------------------------------------------------------
// The grid-scale code search [EXT; algorithms.md 1.6].

// For a non-negative unit vector a[0..n) (|r_i| / |r|) and b ex bits, finds
// y in {0..2^b - 1}^n maximising the cosine between y + 1/2 and a over the
// family y(t) = min(floor(t a), 2^b - 1), t in (0, t_end], t_end =
// (2^b - 1 + 10) / max a, by visiting every critical point t = (y_i + 1)/a_i
// in increasing order with a min-heap. Exact: every state reachable for some
// t <= t_end is evaluated (the library starts at a tabulated fraction of
// t_end to save time; we do not, so the result is provably optimal over the
// range). Writes y[0..n) and returns the cosine. b = 0 gives y = 0.
// `t_best` (optional) receives a t at which the chosen state holds.
double SearchGridScale(const float* a, size_t n, uint32_t ex_bits, uint8_t* y,
                       double* t_best = nullptr);
// The search domain's end, (2^b - 1 + 10) / max_i a_i.
double GridScaleEnd(const float* a, size_t n, uint32_t ex_bits);
// y = min(floor(t a), 2^b - 1) for a fixed t (the "constant-t" fast
// encoder, algorithms.md 1.6 step 6); returns the cosine.
double FixedScaleCode(const float* a, size_t n, uint32_t ex_bits, double t, uint8_t* y);
// Cosine between y + 1/2 and a, in double.
double GridCosine(const float* a, const uint8_t* y, size_t n);

// ---------------------------------------------------------------------------
// The prepared query: a header, the integer query u~[0..dp) (int8 for
// B <= 5, int16 for B >= 6) at kQueryIntsOffset, and the float u = q' - m'
// at QueryFloatOffset(). 64-byte aligned; written by PrepareQuery.
struct alignas(64) RaBitQQuery {
  uint32_t dp;
  uint32_t bits;
  uint32_t ex_bits;
  uint32_t num_centres;
  double delta;     // u ~ delta * u~
  double bias;      // c_B * sum(u~), c_B = -(2^B - 1)/2
  double sum_u;     // sum(u) in float precision, for the 1-bit estimate
  double bin_bias;  // -1/2 * sum(u~)
  float g_add[kRaBitQMaxCentres];  // per centre: |q' - c'_k|^2 (L2), -<c'_k, q'> (IP)
  float g_err[kRaBitQMaxCentres];  // per centre: |q' - c'_k|
};
inline constexpr size_t kQueryIntsOffset = 256;
static_assert(sizeof(RaBitQQuery) <= kQueryIntsOffset);

inline bool QueryIsInt16(uint32_t bits) { return bits >= 6; }
inline size_t QueryFloatOffset(uint32_t dp, uint32_t bits) {
  const size_t ints = size_t{dp} * (QueryIsInt16(bits) ? 2 : 1);
  return kQueryIntsOffset + (ints + 63) / 64 * 64;
}
inline size_t QueryStateBytes(uint32_t dp, uint32_t bits) {
  return QueryFloatOffset(dp, bits) + size_t{dp} * sizeof(float);
}
inline const int8_t* QueryInts8(const void* state) {
  return static_cast<const int8_t*>(state) + kQueryIntsOffset;
}
inline const int16_t* QueryInts16(const void* state) {
  return reinterpret_cast<const int16_t*>(static_cast<const uint8_t*>(state) + kQueryIntsOffset);
}
inline const float* QueryFloats(const void* state) {
  const auto* q = static_cast<const RaBitQQuery*>(state);
  return reinterpret_cast<const float*>(static_cast<const uint8_t*>(state) +
                                        QueryFloatOffset(q->dp, q->bits));
}

// The full B-bit estimate from the integer <x_u, u~> (what `dist` returns).
inline float EstimateFromIp(const void* state, const uint8_t* code, int64_t ip) {
  const auto* q = static_cast<const RaBitQQuery*>(state);
  const RaBitQFactors f = ReadFactors(code);
  const double gu = q->delta * (static_cast<double>(ip) + q->bias);
  return f.add + q->g_add[f.centre] + f.rescale * static_cast<float>(gu);
}

// The incremental form (algorithms.md 1.6): <x_u, u~> = (ip_bin << b) + ip_ex
// with ip_bin = <sign bits, u~> and ip_ex = <ex, u~>. Equals EstimateFromIp
// of the direct inner product exactly (the integers are equal).
inline float EstimateIncremental(const void* state, const uint8_t* code, int64_t ip_bin,
                                 int64_t ip_ex) {
  const auto* q = static_cast<const RaBitQQuery*>(state);
  return EstimateFromIp(state, code, ip_bin * (int64_t{1} << q->ex_bits) + ip_ex);
}

// ---------------------------------------------------------------------------
// 1-bit estimate for scans. A B-bit code's sign plane is itself a 1-bit
// RaBitQ code of the same residual, with its own factors (g = s - 1/2);
// EncodeWithBinFactors returns them so a scan can store them beside the
// sign bits, compute est1 / lower1 from the sign bits alone (FastScan, 32
// codes at a time), and refine only the candidates whose lower bound beats
// the current k-th distance with the ex bits.
//   est1 = F1_add + G_add[k] + F1_rescale * (<s, u> - sum(u)/2)
inline float EstimateBinFromFloatIp(const void* state, const RaBitQFactors& f1, float ip_bin) {
  const auto* q = static_cast<const RaBitQQuery*>(state);
  const double gu = static_cast<double>(ip_bin) - 0.5 * q->sum_u;
  return f1.add + q->g_add[f1.centre & 15] + f1.rescale * static_cast<float>(gu);
}
// The same from the integer <s, u~>.
inline float EstimateBinFromIp(const void* state, const RaBitQFactors& f1, int64_t ip_bin) {
  const auto* q = static_cast<const RaBitQQuery*>(state);
  const double gu = q->delta * (static_cast<double>(ip_bin) + q->bin_bias);
  return f1.add + q->g_add[f1.centre & 15] + f1.rescale * static_cast<float>(gu);
}
// The 1-bit factors a B >= 2 code keeps at `bin_offset` (layout above).
inline RaBitQFactors ReadBinFactors(const uint8_t* code, size_t bin_offset) {
  RaBitQFactors f;
  std::memcpy(&f.add, code + bin_offset, 4);
  std::memcpy(&f.rescale, code + bin_offset + 4, 4);
  std::memcpy(&f.err, code + bin_offset + 8, 4);
  f.centre = code[12] & (kRaBitQMaxCentres - 1);
  return f;
}
// Error bound of a code (or a 1-bit code's factors) for this query.
inline float ErrorBound(const void* state, const RaBitQFactors& f) {
  const auto* q = static_cast<const RaBitQQuery*>(state);
  return f.err * q->g_err[f.centre & 15];
}

// ---------------------------------------------------------------------------
// FastScan [RBQ24 3.3.2]: 1-bit estimates for 32 codes at a time. A block
// holds the sign planes of 32 codes (fewer are zero-padded) regrouped by
// 4-dim nibbles: for each run of 4 nibble groups (16 dims) 64 bytes, byte
// 16 L + j (L < 4, j < 16) = nibble (group 4c + L) of code j in the low half
// and of code j + 16 in the high half. The query becomes one 16-entry u8
// table per nibble group (value of <nibble, u> for each of the 16 nibbles,
// offset by its minimum and quantised with one step for all groups), laid out
// the same way, so one vpshufb looks up four groups for 16 codes. Sums are
// exact integers; the result differs from <s, u> by at most
// (Dp / 4) * step / 2 (per-entry rounding), reported as `max_error`.
inline constexpr size_t kFastScanBatch = 32;
inline size_t FastScanBlockBytes(uint32_t dp) { return size_t{dp} * 4; }
inline size_t FastScanLutBytes(uint32_t dp) { return 64 + size_t{dp} * 4; }

struct alignas(64) FastScanLut {
  uint32_t dp;
  float step;       // <nibble, u> ~ offset_g + step * table entry
  double offset;    // sum over groups of the per-group minima
  double max_error; // (Dp / 4) * step / 2
  // Followed at byte 64 by Dp * 4 table bytes.
};

// Regroups the sign planes of codes[0..n) (n <= 32; full codes of `l`) into
// a FastScan block of FastScanBlockBytes(l.dp) bytes.
void PackFastScanBlock(const RaBitQLayout& l, const uint8_t* const* codes, size_t n,
                       uint8_t* block);
// Builds the table from a prepared query (its float u) into `lut`
// (FastScanLutBytes, 64-byte aligned). Does not allocate.
void PrepareFastScanLut(const void* query_state, void* lut);

// ---------------------------------------------------------------------------
// Kernels, chosen at run time like src/simd's (scalar reference, AVX2,
// AVX-512 with or without VNNI). Integer results are identical across ISAs.
using IpFn = int64_t (*)(const void* state, const uint8_t* code);
// sums[i] = sum over nibble groups of the table entries of code i, i < 32.
using FastScanFn = void (*)(const void* lut, const uint8_t* block, uint32_t* sums);
// PrepareQuery's per-dimension work: u[i] -= mean[i] for i < dp (dp a
// multiple of 64), then u quantised symmetrically into `ints` (int8, or
// int16 when `wide`) with step delta = max|u| / qmax (1 when that is 0 or
// not finite): round to nearest even, clamp to +-qmax, NaN to 0. sum_u is
// accumulated in double in 16 interleaved lanes (lane i % 16) added up in
// lane order, so every ISA returns the same bits.
struct QueryIntsInfo {
  double sum_u;
  double delta;
  int64_t sum_ints;
};
using PrepareIntsFn = QueryIntsInfo (*)(float* u, const float* mean, uint32_t dp, bool wide,
                                        void* ints);

struct RaBitQKernels {
  const char* name;
  CodeDistFn dist[kRaBitQMaxBits + 1];    // indexed by B
  CodeBatchFn batch[kRaBitQMaxBits + 1];
  // Two-stage batch (Codec::batch_bounded): sign plane and 1-bit bound
  // first, ex bits only below the limit. B = 1 has no second stage: the
  // entry computes the plain estimate.
  CodeBoundedBatchFn batch_bounded[kRaBitQMaxBits + 1];
  IpFn ip_code[kRaBitQMaxBits + 1];       // <x_u, u~>
  IpFn ip_bin[kRaBitQMaxBits + 1];        // <sign bits, u~>
  IpFn ip_ex[kRaBitQMaxBits + 1];         // <ex, u~> (0 for B = 1)
  FastScanFn fastscan;
  PrepareIntsFn prepare_ints;
};

// The kernel tables. Avx512 needs IsaSupported(kAvx512); its VNNI form also
// needs RaBitQHasVnni().
const RaBitQKernels& RaBitQScalarKernels();
const RaBitQKernels& RaBitQAvx2Kernels();
const RaBitQKernels& RaBitQAvx512Kernels(bool vnni);
// True if the CPU (and OS) support AVX-512 VNNI, checked by CPUID.
bool RaBitQHasVnni();
// The table for simd::BestIsa() (so OMENDB_ISA applies), with VNNI when the
// CPU has it and the ISA is AVX-512.
const RaBitQKernels& BestRaBitQKernels();

// est1 for the 32 codes of a block from FastScan sums: ip_bin_f[i] =
// offset + step * sums[i].
void FastScanToIp(const void* lut, const uint32_t* sums, float* ip_bin);

// ---------------------------------------------------------------------------
// The codec.

struct RaBitQOptions {
  uint32_t max_centres = kRaBitQMaxCentres;  // 1 = the global mean only
  // Use the constant-t encoder (algorithms.md 1.6 step 6): t fixed at the mean
  // optimum of 100 random Gaussian vectors of this Dp and b, so encoding is
  // O(Dp) instead of O(Dp 2^b log Dp), at a slightly lower cosine.
  bool fast_encode = false;
};

class RaBitQCodec final : public Codec {
 public:
  // Trains on data[0 .. n*dim) (see TrainCodec). bits 1..9.
  static Result<std::unique_ptr<RaBitQCodec>> Train(uint32_t bits, uint32_t dim, Metric metric,
                                                    const float* data, size_t n, uint64_t seed,
                                                    const RaBitQOptions& options = {});
  // Reads a body written by Serialize (after the CodecHeader).
  static Result<std::unique_ptr<RaBitQCodec>> Read(const CodecHeader& h, std::string_view body);

  Quantization quantization() const override {
    return Quantization{QuantKind::kRaBitQ, static_cast<uint8_t>(layout_.bits)};
  }
  uint32_t dim() const override { return layout_.dim; }
  Metric metric() const override { return metric_; }
  size_t code_bytes() const override { return layout_.code_bytes; }
  void Encode(const float* x, uint8_t* code) const override { EncodeWithBinFactors(x, code, nullptr); }
  size_t query_state_bytes() const override { return QueryStateBytes(layout_.dp, layout_.bits); }
  void PrepareQuery(const float* q, void* state) const override;
  void Serialize(std::string* out) const override;

  // Encode, also returning the 1-bit factors of the sign plane (may be null).
  void EncodeWithBinFactors(const float* x, uint8_t* code, RaBitQFactors* bin) const;

  const RaBitQLayout& layout() const { return layout_; }
  const Rotation& rotation() const { return rotation_; }
  uint32_t num_centres() const { return num_centres_; }
  // Rotated centre c'_k (padded_dim floats), k < num_centres(); and the
  // rotated global mean m'.
  const float* centre(uint32_t k) const { return &centres_[size_t{k} * layout_.dp]; }
  const float* mean() const { return mean_.data(); }
  bool fast_encode() const { return fast_encode_; }
  const RaBitQKernels& kernels() const { return *kernels_; }

  // Reference estimate with the float query u (no query quantisation), in
  // double: est and the bound, for tests of the estimator itself.
  struct Estimate {
    double est;
    double bound;
  };
  Estimate EstimateExact(const void* state, const uint8_t* code) const;

 private:
  RaBitQCodec(uint32_t bits, uint32_t dim, Metric metric);
  void Finish();  // derives per-centre data and kernels after the parameters are set

  RaBitQLayout layout_;
  Metric metric_;
  Rotation rotation_;
  uint64_t seed_ = 0;
  uint32_t num_centres_ = 1;
  bool fast_encode_ = false;
  float fixed_t_ = 0;             // constant-t encoder's t (fast_encode_ only)
  std::vector<float> mean_;       // m' (rotated), dp floats
  std::vector<float> centres_;    // c'_k (rotated), num_centres_ * dp floats
  std::vector<float> offsets_;    // c'_k - m', num_centres_ * dp floats (derived)
  const RaBitQKernels* kernels_ = nullptr;
};

}  // namespace omendb::quant
