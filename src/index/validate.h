// Input checks shared by the indexes in src/index.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "omendb/status.h"
#include "omendb/types.h"

namespace omendb::index_internal {

// OK if v[0..dim) is finite and, under cosine, not the zero vector;
// InvalidArgument naming `what` and the component otherwise.
inline Status ValidateVector(const float* v, uint32_t dim, Metric metric, std::string_view what) {
  // Every query passes through here, so the common case is one branch-free
  // pass over the bits that the compiler vectorises: a component is
  // non-finite iff its exponent bits are all ones, and the vector is zero
  // iff every component is +-0.
  uint32_t non_finite = 0, any_bits = 0;
  for (uint32_t i = 0; i < dim; ++i) {
    uint32_t b;
    std::memcpy(&b, v + i, 4);
    non_finite |= static_cast<uint32_t>((b & 0x7F800000u) == 0x7F800000u);
    any_bits |= b & 0x7FFFFFFFu;
  }
  if (non_finite != 0) {
    uint32_t i = 0;
    while (i < dim && std::isfinite(v[i])) ++i;
    return Status::InvalidArgument(std::string(what) + " has a non-finite value at component " +
                                   std::to_string(i));
  }
  if (metric == Metric::kCosine && any_bits == 0) {
    return Status::InvalidArgument(std::string(what) + " is a zero vector (cosine needs a norm)");
  }
  return Status::OK();
}

}  // namespace omendb::index_internal
