// Input checks shared by the indexes in src/index.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

#include "omendb/status.h"
#include "omendb/types.h"

namespace omendb::index_internal {

// OK if v[0..dim) is finite and, under cosine, not the zero vector;
// InvalidArgument naming `what` and the component otherwise.
inline Status ValidateVector(const float* v, uint32_t dim, Metric metric, std::string_view what) {
  double norm = 0;
  for (uint32_t i = 0; i < dim; ++i) {
    if (!std::isfinite(v[i])) {
      return Status::InvalidArgument(std::string(what) + " has a non-finite value at component " +
                                     std::to_string(i));
    }
    norm += static_cast<double>(v[i]) * v[i];
  }
  if (metric == Metric::kCosine && norm == 0) {
    return Status::InvalidArgument(std::string(what) + " is a zero vector (cosine needs a norm)");
  }
  return Status::OK();
}

}  // namespace omendb::index_internal
