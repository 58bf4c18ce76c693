// The fp16 codec: half-precision codes compared against a float query.
#include "quant/fp16.h"

#include <cstring>

#include "quant/codecs_internal.h"

namespace omendb::quant {

Fp16Codec::Fp16Codec(uint32_t dim, Metric metric, const Fp16Kernels& kernels)
    : dim_(dim), metric_(metric), kernels_(&kernels) {
  const bool l2 = metric == Metric::kL2;
  dist = l2 ? kernels.l2 : kernels.ip;
  batch = l2 ? kernels.l2_batch : kernels.ip_batch;
}

void Fp16Codec::Encode(const float* x, uint8_t* code) const {
  // Scalar on purpose: encoding runs once per insert, where it is noise next
  // to the graph search, and one portable conversion keeps codes identical
  // whatever the CPU (F16C would also turn overflow into inf, not 65504).
  for (uint32_t i = 0; i < dim_; ++i) {
    const uint16_t h = FloatToHalf(x[i]);
    std::memcpy(code + 2 * size_t{i}, &h, sizeof h);  // little-endian host (x86-64 only)
  }
  const size_t used = 2 * size_t{dim_};
  std::memset(code + used, 0, code_bytes() - used);
}

void Fp16Codec::PrepareQuery(const float* q, void* state) const {
  *static_cast<Fp16QueryState*>(state) = Fp16QueryState{q, dim_};
}

void Fp16Codec::Serialize(std::string* out) const {
  PutCodecHeader(out, CodecHeader{quantization(), metric_, 1, dim_});
}

void Fp16Codec::Decode(const uint8_t* code, float* out) const {
  for (uint32_t i = 0; i < dim_; ++i) {
    uint16_t h;
    std::memcpy(&h, code + 2 * size_t{i}, sizeof h);
    out[i] = HalfToFloat(h);
  }
}

Result<std::unique_ptr<Codec>> MakeFp16CodecWith(uint32_t dim, Metric metric,
                                                 const Fp16Kernels& kernels) {
  if (dim == 0 || dim > 65536) return Status::InvalidArgument("fp16 codec: dim must be 1..65536");
  return std::unique_ptr<Codec>(new Fp16Codec(dim, metric, kernels));
}

Result<std::unique_ptr<Codec>> MakeFp16Codec(uint32_t dim, Metric metric) {
  return MakeFp16CodecWith(dim, metric, BestFp16Kernels());
}

Result<std::unique_ptr<Codec>> ReadFp16Codec(const CodecHeader& h, std::string_view body) {
  if (h.version != 1) return Status::NotSupported("fp16 codec: unknown version");
  // Version 1 has no parameters: anything after the header, or a bit count
  // (meaningful only for RaBitQ), means the bytes are not what we wrote.
  if (h.quant.bits != 0) return Status::Corruption("fp16 codec: nonzero bit count");
  if (!body.empty()) return Status::Corruption("fp16 codec: unexpected body");
  if (h.dim == 0 || h.dim > 65536) return Status::Corruption("fp16 codec: bad dim");
  return MakeFp16Codec(h.dim, h.metric);
}

}  // namespace omendb::quant
