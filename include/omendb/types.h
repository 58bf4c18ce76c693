// Basic vocabulary shared by every OmenDB index: metrics, ids and results.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "omendb/status.h"

namespace omendb {

// User-visible vector id (the "label" in hnswlib's terms). Any 64-bit value.
using VectorId = uint64_t;

// How distance between two vectors is measured. Smaller distance = nearer.
//   kL2            squared Euclidean distance  sum_i (a_i - b_i)^2
//   kInnerProduct  1 - <a, b>   (may be negative; maximum inner product search)
//   kCosine        1 - <a, b> / (|a| |b|)   (vectors are normalised on insert
//                  and queries on search; a zero vector is rejected)
enum class Metric : uint8_t { kL2 = 0, kInnerProduct = 1, kCosine = 2 };

// "l2", "ip" or "cosine".
const char* MetricName(Metric metric);

// Parses "l2", "ip"/"inner_product", "cos"/"cosine". InvalidArgument otherwise.
Result<Metric> ParseMetric(std::string_view name);

// How an index stores the vectors its graph walk reads. Quantized codes are
// smaller and faster to compare; the full-precision vectors are kept beside
// them and used to re-rank the final candidates, so results carry exact
// distances.
//   kNone    float32 (exact distances throughout)
//   kFp16    IEEE half precision, 2 bytes per dimension
//   kSq8     8-bit scalar quantization, one trained [min, max] per dimension
//   kRaBitQ  Extended RaBitQ (Gao et al., SIGMOD 2024/2025) with `bits` per
//            dimension, 1..9: a random rotation, a sign bit plus bits - 1
//            extra bits, and an unbiased distance estimate with an error bound
enum class QuantKind : uint8_t { kNone = 0, kFp16 = 1, kSq8 = 2, kRaBitQ = 3 };

struct Quantization {
  QuantKind kind = QuantKind::kNone;
  uint8_t bits = 0;  // RaBitQ only: total bits per dimension, 1..9; 0 otherwise
  friend bool operator==(const Quantization&, const Quantization&) = default;
};

// "none", "fp16", "sq8" or "rabitq:B" (e.g. "rabitq:4").
std::string QuantizationName(Quantization q);

// Parses the names QuantizationName produces ("rabitq" alone means
// rabitq:4). InvalidArgument otherwise, and for bits outside 1..9.
Result<Quantization> ParseQuantization(std::string_view name);

// One search hit: the id of a stored vector and its distance to the query
// under the index's metric.
struct Neighbor {
  VectorId id = 0;
  float distance = 0.0f;
};

}  // namespace omendb
