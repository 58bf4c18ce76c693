// Internal to src/quant: the SQ8 codec, exposed so tests and benchmarks can
// bind it to a chosen kernel table and read its trained parameters.
//
// Training: per dimension, lo_i / hi_i = the minimum / maximum of the finite
// training values; a dimension with none (in particular n == 0) gets the
// default range [-1, 1], which suits normalised (cosine) vectors. Scale
// s_i = (hi_i - lo_i) / 255, computed in double; s_i == 0 (a constant
// dimension) is allowed and encodes every value as 0.
//
// Code: c_i = round((x_i - lo_i) / s_i) clamped to 0..255 (NaN -> 0, s_i == 0
// -> 0), standing for x̂_i = lo_i + s_i * c_i (float arithmetic). Under L2 the
// float ||x̂||^2 follows at byte offset round_up(dim, 4); inner product and
// cosine codes have no factor. code_bytes() pads to a multiple of 8 and
// depends only on (dim, metric), never on the training data.
//
// Serialized body (version 1): lo[dim] then hi[dim], float32 little-endian
// (8 * dim bytes). Reading checks every value is finite with lo_i <= hi_i.
//
// Distances: see sq_kernels.h. Estimates are computed from ||q||^2, <q, x̂>
// and ||x̂||^2, so an L2 estimate for a query almost equal to x̂ can come out
// slightly negative; values whose squares overflow float give inf, as the
// float kernels do.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "omendb/status.h"
#include "omendb/types.h"
#include "quant/codec.h"
#include "quant/codecs_internal.h"
#include "quant/sq_kernels.h"

namespace omendb::quant {

class Sq8Codec final : public Codec {
 public:
  // Preconditions (checked by the factories): 1 <= dim <= 65536, lo and hi
  // hold dim finite values with lo[i] <= hi[i].
  Sq8Codec(uint32_t dim, Metric metric, std::vector<float> lo, std::vector<float> hi,
           const Sq8Kernels& kernels);

  Quantization quantization() const override { return {QuantKind::kSq8, 0}; }
  uint32_t dim() const override { return dim_; }
  Metric metric() const override { return metric_; }
  size_t code_bytes() const override { return code_bytes_; }
  void Encode(const float* x, uint8_t* code) const override;
  size_t query_state_bytes() const override { return Sq8StateBytes(dim_, kernels_->form); }
  void PrepareQuery(const float* q, void* state) const override;
  void Serialize(std::string* out) const override;

  // Writes x̂ (the dim floats a code stands for) to out.
  void Decode(const uint8_t* code, float* out) const;
  const std::vector<float>& lo() const { return lo_; }
  const std::vector<float>& hi() const { return hi_; }
  const std::vector<float>& scale() const { return scale_; }
  const Sq8Kernels& kernels() const { return *kernels_; }

  // Byte offset of the ||x̂||^2 factor in an L2 code.
  size_t norm_offset() const { return (size_t{dim_} + 3) & ~size_t{3}; }

 private:
  uint32_t dim_;
  Metric metric_;
  size_t code_bytes_;
  std::vector<float> lo_;
  std::vector<float> hi_;
  std::vector<float> scale_;  // s_i
  const Sq8Kernels* kernels_;
};

// TrainSq8Codec / ReadSq8Codec with an explicit kernel table (any table this
// CPU can run) instead of BestSq8Kernels().
Result<std::unique_ptr<Codec>> TrainSq8CodecWith(uint32_t dim, Metric metric, const float* data,
                                                 size_t n, const Sq8Kernels& kernels);
Result<std::unique_ptr<Codec>> ReadSq8CodecWith(const CodecHeader& h, std::string_view body,
                                                const Sq8Kernels& kernels);

}  // namespace omendb::quant
