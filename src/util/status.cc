#include "omendb/status.h"

#include "omendb/types.h"

namespace omendb {

const char* StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "ok";
    case StatusCode::kInvalidArgument: return "invalid argument";
    case StatusCode::kNotFound: return "not found";
    case StatusCode::kAlreadyExists: return "already exists";
    case StatusCode::kCorruption: return "corruption";
    case StatusCode::kIOError: return "I/O error";
    case StatusCode::kNotSupported: return "not supported";
    case StatusCode::kResourceExhausted: return "resource exhausted";
    case StatusCode::kFailedPrecondition: return "failed precondition";
    case StatusCode::kBusy: return "busy";
    case StatusCode::kInternal: return "internal error";
  }
  return "unknown";
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string s = StatusCodeName(code_);
  s += ": ";
  s += message_;
  return s;
}

Status Status::WithContext(std::string_view prefix) const {
  if (ok()) return *this;
  std::string m(prefix);
  m += ": ";
  m += message_;
  return Status(code_, m);
}

const char* MetricName(Metric metric) {
  switch (metric) {
    case Metric::kL2: return "l2";
    case Metric::kInnerProduct: return "ip";
    case Metric::kCosine: return "cosine";
  }
  return "unknown";
}

Result<Metric> ParseMetric(std::string_view name) {
  if (name == "l2" || name == "L2" || name == "euclidean") return Metric::kL2;
  if (name == "ip" || name == "inner_product" || name == "dot") return Metric::kInnerProduct;
  if (name == "cos" || name == "cosine" || name == "angular") return Metric::kCosine;
  return Status::InvalidArgument("unknown metric '" + std::string(name) +
                                 "' (expected l2, ip or cosine)");
}

std::string QuantizationName(Quantization q) {
  switch (q.kind) {
    case QuantKind::kNone: return "none";
    case QuantKind::kFp16: return "fp16";
    case QuantKind::kSq8: return "sq8";
    case QuantKind::kRaBitQ: return "rabitq:" + std::to_string(q.bits);
  }
  return "unknown";
}

Result<Quantization> ParseQuantization(std::string_view name) {
  if (name == "none" || name == "float32" || name == "f32") return Quantization{};
  if (name == "fp16" || name == "f16") return Quantization{QuantKind::kFp16, 0};
  if (name == "sq8") return Quantization{QuantKind::kSq8, 0};
  if (name == "rabitq") return Quantization{QuantKind::kRaBitQ, 4};
  constexpr std::string_view kPrefix = "rabitq:";
  if (name.substr(0, kPrefix.size()) == kPrefix) {
    std::string_view b = name.substr(kPrefix.size());
    if (b.size() == 1 && b[0] >= '1' && b[0] <= '9') {
      return Quantization{QuantKind::kRaBitQ, static_cast<uint8_t>(b[0] - '0')};
    }
    return Status::InvalidArgument("RaBitQ bits must be 1..9 in '" + std::string(name) + "'");
  }
  return Status::InvalidArgument("unknown quantization '" + std::string(name) +
                                 "' (expected none, fp16, sq8 or rabitq:B with B in 1..9)");
}

}  // namespace omendb
