// Codec: how an index turns full-precision vectors into compact codes and
// estimates a query's distance to a code.
//
// Every quantizer (float32 passthrough, fp16, SQ8, Extended RaBitQ) is a
// Codec. The graph and scan indexes call the virtual methods only outside the
// per-distance loop: once at training, once per encoded vector, once per
// search (PrepareQuery). Distances themselves go through the plain function
// pointers `dist` and `batch` (chosen at run time for the CPU), which take the
// prepared query state as an opaque pointer: no virtual call per distance and
// one indirect call per batch.
//
// Distances are those of the metric the codec was trained for, as the float
// index defines them (types.h): squared L2 for kL2, 1 - <q, x> for
// kInnerProduct and for kCosine (whose vectors and queries the caller has
// already normalised). Codes and query states are plain bytes; code pointers
// handed to the kernels are 8-byte aligned (query states 64-byte aligned).
//
// Thread safety: a trained Codec is immutable; every const method may run
// concurrently. A query state belongs to one search at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "omendb/status.h"
#include "omendb/types.h"

namespace omendb::quant {

// Estimated distance from the prepared query `state` to one code.
using CodeDistFn = float (*)(const void* state, const uint8_t* code);
// out[i] = estimated distance to codes[i] for i < n; prefetches codes a few
// entries ahead while computing.
using CodeBatchFn = void (*)(const void* state, const uint8_t* const* codes, size_t n, float* out);
// out[i] for i < n as CodeBatchFn computes it, except that a code whose
// cheaper first-stage lower bound on the distance is already >= `limit` may
// get that bound instead (a value >= limit) without its full estimate. A
// caller that keeps only distances below `limit` therefore keeps what it
// would keep with CodeBatchFn, up to the bound's failure probability (a
// probabilistic bound: RaBitQ's is exceeded for a few percent of codes
// near the limit). Does not prefetch: the caller has issued the loads.
using CodeBoundedBatchFn = void (*)(const void* state, const uint8_t* const* codes, size_t n,
                                    float limit, float* out);
// Lower bound on the true distance given the estimate `est` for this code
// (est - error bound). Null for codecs without a bound.
using CodeLowerFn = float (*)(const void* state, const uint8_t* code, float est);

class Codec {
 public:
  virtual ~Codec() = default;

  virtual Quantization quantization() const = 0;
  virtual uint32_t dim() const = 0;
  virtual Metric metric() const = 0;

  // Bytes of one encoded vector, including any per-vector factors. A
  // multiple of 8.
  virtual size_t code_bytes() const = 0;

  // Encodes x[0..dim) (normalised by the caller under cosine) into
  // code[0..code_bytes()). Deterministic. Values outside the trained range
  // are clamped, never undefined.
  virtual void Encode(const float* x, uint8_t* code) const = 0;

  // Bytes of a prepared query state (PrepareQuery's output).
  virtual size_t query_state_bytes() const = 0;
  // Prepares `q` (dim floats, normalised under cosine) for the kernels:
  // writes query_state_bytes() bytes to `state` (64-byte aligned). Does not
  // allocate. The state may point into `q`, which must stay unchanged while
  // the state is in use.
  virtual void PrepareQuery(const float* q, void* state) const = 0;

  // Kernels for this codec on this CPU. `lower` may be null.
  CodeDistFn dist = nullptr;
  CodeBatchFn batch = nullptr;
  CodeLowerFn lower = nullptr;
  // Null unless the codec has a cheaper first stage (RaBitQ with B >= 2).
  CodeBoundedBatchFn batch_bounded = nullptr;

  // Appends the codec's trained parameters (not the codes) to `out`, in a
  // self-describing form that DeserializeCodec reads back bit for bit.
  virtual void Serialize(std::string* out) const = 0;
};

// Trains a codec of kind `q` for dim-dimensional vectors under `metric` on
// data[0 .. n*dim) (row-major; normalised by the caller under cosine; n may
// be 0, giving a codec with default parameters). `seed` fixes any random
// choice (RaBitQ's rotation). kNone gives the float32 passthrough codec.
// InvalidArgument for a bad dim or bit count.
Result<std::unique_ptr<Codec>> TrainCodec(Quantization q, uint32_t dim, Metric metric,
                                          const float* data, size_t n, uint64_t seed);

// Reads a codec written by Codec::Serialize. Corruption (never a crash) for
// any malformed, truncated or inconsistent input; NotSupported for an
// unknown kind or version.
Result<std::unique_ptr<Codec>> DeserializeCodec(std::string_view bytes);

}  // namespace omendb::quant
