// Internal to src/quant: the fp16 codec, exposed so tests and benchmarks can
// bind it to a chosen kernel table and decode codes.
//
// Code: dim IEEE binary16 values (FloatToHalf: round to nearest even, overflow
// clamped to +-65504, NaN -> +0), little-endian, zero-padded to a multiple of
// 8 bytes. No trained parameters: the serialized body is empty (version 1).
// Query state: Fp16QueryState, pointing at the caller's float query, which is
// compared in full precision against the widened halves.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "omendb/status.h"
#include "omendb/types.h"
#include "quant/codec.h"
#include "quant/sq_kernels.h"

namespace omendb::quant {

class Fp16Codec final : public Codec {
 public:
  // Precondition: 1 <= dim <= 65536 (checked by the factories).
  Fp16Codec(uint32_t dim, Metric metric, const Fp16Kernels& kernels);

  Quantization quantization() const override { return {QuantKind::kFp16, 0}; }
  uint32_t dim() const override { return dim_; }
  Metric metric() const override { return metric_; }
  size_t code_bytes() const override { return (size_t{dim_} * 2 + 7) & ~size_t{7}; }
  void Encode(const float* x, uint8_t* code) const override;
  size_t query_state_bytes() const override { return sizeof(Fp16QueryState); }
  void PrepareQuery(const float* q, void* state) const override;
  void Serialize(std::string* out) const override;

  // Writes the dim floats a code stands for to out.
  void Decode(const uint8_t* code, float* out) const;
  const Fp16Kernels& kernels() const { return *kernels_; }

 private:
  uint32_t dim_;
  Metric metric_;
  const Fp16Kernels* kernels_;
};

// MakeFp16Codec with an explicit kernel table (any table this CPU can run)
// instead of BestFp16Kernels(). InvalidArgument for dim outside 1..65536.
Result<std::unique_ptr<Codec>> MakeFp16CodecWith(uint32_t dim, Metric metric,
                                                 const Fp16Kernels& kernels);

}  // namespace omendb::quant
