// Internal to src/quant: the per-kind factories TrainCodec and
// DeserializeCodec dispatch to, and the header every serialized codec starts
// with. Not part of the public API.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "omendb/status.h"
#include "omendb/types.h"
#include "quant/codec.h"

namespace omendb::quant {

// Serialized codec = header (8 bytes) + kind-specific body:
//   u8 kind (QuantKind), u8 bits, u8 metric, u8 body format version,
//   u32 dim (little-endian).
struct CodecHeader {
  Quantization quant;
  Metric metric = Metric::kL2;
  uint8_t version = 1;
  uint32_t dim = 0;
};
inline constexpr size_t kCodecHeaderBytes = 8;
void PutCodecHeader(std::string* out, const CodecHeader& h);

// Each factory trains (data may be null when n == 0) or reads a body. The
// Read functions get the parsed header and the body bytes, and return
// Corruption for any inconsistency.
Result<std::unique_ptr<Codec>> MakeFloatCodec(uint32_t dim, Metric metric);
Result<std::unique_ptr<Codec>> ReadFloatCodec(const CodecHeader& h, std::string_view body);

Result<std::unique_ptr<Codec>> MakeFp16Codec(uint32_t dim, Metric metric);
Result<std::unique_ptr<Codec>> ReadFp16Codec(const CodecHeader& h, std::string_view body);

Result<std::unique_ptr<Codec>> TrainSq8Codec(uint32_t dim, Metric metric, const float* data,
                                             size_t n);
Result<std::unique_ptr<Codec>> ReadSq8Codec(const CodecHeader& h, std::string_view body);

Result<std::unique_ptr<Codec>> TrainRaBitQCodec(uint32_t bits, uint32_t dim, Metric metric,
                                                const float* data, size_t n, uint64_t seed);
Result<std::unique_ptr<Codec>> ReadRaBitQCodec(const CodecHeader& h, std::string_view body);

}  // namespace omendb::quant
