// The SQ8 codec: per-dimension 8-bit scalar quantization (format and
// training rules in sq8.h, kernels in sq_kernels_*.cc).
#include "quant/sq8.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

#include "util/coding.h"

namespace omendb::quant {
namespace {

constexpr uint8_t kSq8Version = 1;

// Default range of a dimension without training data (see sq8.h).
constexpr float kDefaultLo = -1.0f;
constexpr float kDefaultHi = 1.0f;

// s = (hi - lo) / 255 in double: hi - lo can overflow float for finite
// inputs of opposite signs near FLT_MAX, while the quotient always fits.
float ScaleOf(float lo, float hi) {
  return static_cast<float>((static_cast<double>(hi) - static_cast<double>(lo)) / 255.0);
}

// x̂ for code byte c: the one expression Encode (for ||x̂||^2) and Decode
// share, so the stored factor is exactly the norm of what Decode returns.
inline float Reconstruct(float lo, float scale, uint8_t c) {
  return lo + scale * static_cast<float>(c);
}

}  // namespace

Sq8Codec::Sq8Codec(uint32_t dim, Metric metric, std::vector<float> lo, std::vector<float> hi,
                   const Sq8Kernels& kernels)
    : dim_(dim),
      metric_(metric),
      code_bytes_(metric == Metric::kL2 ? ((((size_t{dim} + 3) & ~size_t{3}) + 4 + 7) & ~size_t{7})
                                        : ((size_t{dim} + 7) & ~size_t{7})),
      lo_(std::move(lo)),
      hi_(std::move(hi)),
      scale_(dim),
      kernels_(&kernels) {
  for (uint32_t i = 0; i < dim_; ++i) scale_[i] = ScaleOf(lo_[i], hi_[i]);
  const bool l2 = metric == Metric::kL2;
  dist = l2 ? kernels.l2 : kernels.ip;
  batch = l2 ? kernels.l2_batch : kernels.ip_batch;
}

void Sq8Codec::Encode(const float* x, uint8_t* code) const {
  std::memset(code, 0, code_bytes_);
  double norm2 = 0;
  for (uint32_t i = 0; i < dim_; ++i) {
    uint8_t c = 0;
    if (scale_[i] > 0.0f) {
      // Written so every input is defined: NaN fails both comparisons and
      // encodes as 0; +-inf and far out-of-range values clamp to 255 / 0
      // before any float -> integer conversion.
      const float t = (x[i] - lo_[i]) / scale_[i];
      if (t >= 255.0f) {
        c = 255;
      } else if (t > 0.0f) {
        c = static_cast<uint8_t>(std::nearbyint(t));
      }
    }
    code[i] = c;
    const double r = Reconstruct(lo_[i], scale_[i], c);
    norm2 += r * r;
  }
  if (metric_ == Metric::kL2) {
    const auto f = static_cast<float>(norm2);
    std::memcpy(code + norm_offset(), &f, sizeof f);
  }
}

void Sq8Codec::PrepareQuery(const float* q, void* state) const {
  auto* st = static_cast<Sq8QueryState*>(state);
  st->dim = dim_;
  st->norm_offset = static_cast<uint32_t>(norm_offset());
  st->prefetch_bytes =
      static_cast<uint32_t>(metric_ == Metric::kL2 ? norm_offset() + sizeof(float) : dim_);
  st->reserved = 0;
  // The rest depends on the kernels' query form (and, for speed, their ISA).
  kernels_->prepare(q, lo_.data(), scale_.data(), st);
}

void Sq8Codec::Serialize(std::string* out) const {
  PutCodecHeader(out, CodecHeader{quantization(), metric_, kSq8Version, dim_});
  out->reserve(out->size() + 8 * size_t{dim_});
  for (float v : lo_) util::PutFixed32(out, std::bit_cast<uint32_t>(v));
  for (float v : hi_) util::PutFixed32(out, std::bit_cast<uint32_t>(v));
}

void Sq8Codec::Decode(const uint8_t* code, float* out) const {
  for (uint32_t i = 0; i < dim_; ++i) out[i] = Reconstruct(lo_[i], scale_[i], code[i]);
}

Result<std::unique_ptr<Codec>> TrainSq8CodecWith(uint32_t dim, Metric metric, const float* data,
                                                 size_t n, const Sq8Kernels& kernels) {
  if (dim == 0 || dim > 65536) return Status::InvalidArgument("sq8 codec: dim must be 1..65536");
  if (n > 0 && data == nullptr) return Status::InvalidArgument("sq8 codec: training data is null");
  std::vector<float> lo(dim, std::numeric_limits<float>::infinity());
  std::vector<float> hi(dim, -std::numeric_limits<float>::infinity());
  for (size_t r = 0; r < n; ++r) {
    const float* x = data + r * dim;
    for (uint32_t i = 0; i < dim; ++i) {
      // Non-finite values (which the indexes reject before they get here)
      // are skipped rather than allowed to make the range infinite.
      const float v = x[i];
      if (!std::isfinite(v)) continue;
      lo[i] = std::min(lo[i], v);
      hi[i] = std::max(hi[i], v);
    }
  }
  for (uint32_t i = 0; i < dim; ++i) {
    if (lo[i] > hi[i]) {  // no finite training value in this dimension
      lo[i] = kDefaultLo;
      hi[i] = kDefaultHi;
    }
  }
  return std::unique_ptr<Codec>(new Sq8Codec(dim, metric, std::move(lo), std::move(hi), kernels));
}

Result<std::unique_ptr<Codec>> ReadSq8CodecWith(const CodecHeader& h, std::string_view body,
                                                const Sq8Kernels& kernels) {
  if (h.version != kSq8Version) return Status::NotSupported("sq8 codec: unknown version");
  if (h.quant.bits != 0) return Status::Corruption("sq8 codec: nonzero bit count");
  if (h.dim == 0 || h.dim > 65536) return Status::Corruption("sq8 codec: bad dim");
  if (body.size() != 8 * size_t{h.dim}) return Status::Corruption("sq8 codec: body size mismatch");
  std::vector<float> lo(h.dim);
  std::vector<float> hi(h.dim);
  for (uint32_t i = 0; i < h.dim; ++i) {
    lo[i] = std::bit_cast<float>(util::DecodeFixed32(body.data() + 4 * size_t{i}));
    hi[i] = std::bit_cast<float>(util::DecodeFixed32(body.data() + 4 * (size_t{h.dim} + i)));
    // Training never produces these, so they can only be damage.
    if (!std::isfinite(lo[i]) || !std::isfinite(hi[i]) || lo[i] > hi[i]) {
      return Status::Corruption("sq8 codec: bad range for dimension " + std::to_string(i));
    }
  }
  return std::unique_ptr<Codec>(
      new Sq8Codec(h.dim, h.metric, std::move(lo), std::move(hi), kernels));
}

Result<std::unique_ptr<Codec>> TrainSq8Codec(uint32_t dim, Metric metric, const float* data,
                                             size_t n) {
  return TrainSq8CodecWith(dim, metric, data, n, BestSq8Kernels());
}

Result<std::unique_ptr<Codec>> ReadSq8Codec(const CodecHeader& h, std::string_view body) {
  return ReadSq8CodecWith(h, body, BestSq8Kernels());
}

}  // namespace omendb::quant
