// TrainCodec / DeserializeCodec dispatch, and the float32 passthrough codec
// (the code is the vector itself), which lets an index treat "no
// quantization" exactly like any other codec.
#include "quant/codec.h"

#include <cstring>

#include "quant/codecs_internal.h"
#include "simd/distance.h"
#include "util/coding.h"

namespace omendb::quant {

void PutCodecHeader(std::string* out, const CodecHeader& h) {
  out->push_back(static_cast<char>(h.quant.kind));
  out->push_back(static_cast<char>(h.quant.bits));
  out->push_back(static_cast<char>(h.metric));
  out->push_back(static_cast<char>(h.version));
  util::PutFixed32(out, h.dim);
}

Result<std::unique_ptr<Codec>> TrainCodec(Quantization q, uint32_t dim, Metric metric,
                                          const float* data, size_t n, uint64_t seed) {
  if (dim == 0 || dim > 65536) return Status::InvalidArgument("codec dim must be 1..65536");
  if (n > 0 && data == nullptr) return Status::InvalidArgument("codec training data is null");
  switch (q.kind) {
    case QuantKind::kNone:
      return MakeFloatCodec(dim, metric);
    case QuantKind::kFp16:
      return MakeFp16Codec(dim, metric);
    case QuantKind::kSq8:
      return TrainSq8Codec(dim, metric, data, n);
    case QuantKind::kRaBitQ:
      if (q.bits < 1 || q.bits > 9) return Status::InvalidArgument("RaBitQ bits must be 1..9");
      return TrainRaBitQCodec(q.bits, dim, metric, data, n, seed);
  }
  return Status::InvalidArgument("unknown quantization kind");
}

Result<std::unique_ptr<Codec>> DeserializeCodec(std::string_view bytes) {
  if (bytes.size() < kCodecHeaderBytes) return Status::Corruption("codec: truncated header");
  CodecHeader h;
  const auto kind = static_cast<uint8_t>(bytes[0]);
  h.quant.bits = static_cast<uint8_t>(bytes[1]);
  const auto metric = static_cast<uint8_t>(bytes[2]);
  h.version = static_cast<uint8_t>(bytes[3]);
  h.dim = util::DecodeFixed32(bytes.data() + 4);
  if (metric > static_cast<uint8_t>(Metric::kCosine)) return Status::Corruption("codec: bad metric");
  h.metric = static_cast<Metric>(metric);
  if (h.dim == 0 || h.dim > 65536) return Status::Corruption("codec: bad dim");
  const std::string_view body = bytes.substr(kCodecHeaderBytes);
  switch (kind) {
    case static_cast<uint8_t>(QuantKind::kNone):
      h.quant.kind = QuantKind::kNone;
      return ReadFloatCodec(h, body);
    case static_cast<uint8_t>(QuantKind::kFp16):
      h.quant.kind = QuantKind::kFp16;
      return ReadFp16Codec(h, body);
    case static_cast<uint8_t>(QuantKind::kSq8):
      h.quant.kind = QuantKind::kSq8;
      return ReadSq8Codec(h, body);
    case static_cast<uint8_t>(QuantKind::kRaBitQ):
      h.quant.kind = QuantKind::kRaBitQ;
      if (h.quant.bits < 1 || h.quant.bits > 9) return Status::Corruption("codec: bad RaBitQ bits");
      return ReadRaBitQCodec(h, body);
    default:
      return Status::NotSupported("codec: unknown quantization kind " + std::to_string(kind));
  }
}

namespace {

// The float32 passthrough. Query state: the kernel table's functions, the
// dimension, and a pointer to the caller's query, which must outlive the
// search (the index keeps its query copy in the search scratch).
struct FloatState {
  const float* q;
  size_t dim;
  simd::L2SqFn l2;
  simd::DotFn dot;
  simd::BatchFn l2_batch;
  simd::BatchFn dot_batch;
};

float FloatL2(const void* s, const uint8_t* code) {
  const auto* st = static_cast<const FloatState*>(s);
  return st->l2(st->q, reinterpret_cast<const float*>(code), st->dim);
}
float FloatIp(const void* s, const uint8_t* code) {
  const auto* st = static_cast<const FloatState*>(s);
  return 1.0f - st->dot(st->q, reinterpret_cast<const float*>(code), st->dim);
}
void FloatL2Batch(const void* s, const uint8_t* const* codes, size_t n, float* out) {
  const auto* st = static_cast<const FloatState*>(s);
  st->l2_batch(st->q, reinterpret_cast<const float* const*>(codes), n, st->dim, out);
}
void FloatIpBatch(const void* s, const uint8_t* const* codes, size_t n, float* out) {
  const auto* st = static_cast<const FloatState*>(s);
  st->dot_batch(st->q, reinterpret_cast<const float* const*>(codes), n, st->dim, out);
  for (size_t i = 0; i < n; ++i) out[i] = 1.0f - out[i];
}

class FloatCodec final : public Codec {
 public:
  FloatCodec(uint32_t dim, Metric metric) : dim_(dim), metric_(metric) {
    const bool l2 = metric == Metric::kL2;
    dist = l2 ? FloatL2 : FloatIp;
    batch = l2 ? FloatL2Batch : FloatIpBatch;
  }
  Quantization quantization() const override { return {}; }
  uint32_t dim() const override { return dim_; }
  Metric metric() const override { return metric_; }
  size_t code_bytes() const override { return (size_t{dim_} * 4 + 7) & ~size_t{7}; }
  void Encode(const float* x, uint8_t* code) const override {
    std::memset(code, 0, code_bytes());
    std::memcpy(code, x, size_t{dim_} * 4);
  }
  size_t query_state_bytes() const override { return sizeof(FloatState); }
  void PrepareQuery(const float* q, void* state) const override {
    const simd::Kernels& k = simd::BestKernels();
    *static_cast<FloatState*>(state) = FloatState{q, dim_, k.l2sq, k.dot, k.l2sq_batch, k.dot_batch};
  }
  void Serialize(std::string* out) const override {
    PutCodecHeader(out, CodecHeader{quantization(), metric_, 1, dim_});
  }

 private:
  uint32_t dim_;
  Metric metric_;
};

}  // namespace

Result<std::unique_ptr<Codec>> MakeFloatCodec(uint32_t dim, Metric metric) {
  return std::unique_ptr<Codec>(new FloatCodec(dim, metric));
}

Result<std::unique_ptr<Codec>> ReadFloatCodec(const CodecHeader& h, std::string_view body) {
  if (h.version != 1) return Status::NotSupported("float codec: unknown version");
  // As for fp16: a bit count (meaningful only for RaBitQ) means the bytes
  // are not what Serialize wrote (it writes 0).
  if (h.quant.bits != 0) return Status::Corruption("float codec: nonzero bit count");
  if (!body.empty()) return Status::Corruption("float codec: unexpected body");
  return MakeFloatCodec(h.dim, h.metric);
}

}  // namespace omendb::quant
