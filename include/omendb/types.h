// Basic vocabulary shared by every OmenDB index: metrics, ids and results.
#pragma once

#include <cstdint>
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

// One search hit: the id of a stored vector and its distance to the query
// under the index's metric.
struct Neighbor {
  VectorId id = 0;
  float distance = 0.0f;
};

}  // namespace omendb
