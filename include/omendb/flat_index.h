// FlatIndex: exact nearest-neighbour search by scanning every stored vector.
// Used for ground truth, for tests, and for collections small enough that a
// SIMD scan beats a graph.
//
// Thread safety: const methods may run concurrently with each other; Add must
// not run concurrently with anything else on the same index.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <vector>

#include "omendb/status.h"
#include "omendb/types.h"

namespace omendb {

class FlatIndex {
 public:
  // Creates an empty exact index. InvalidArgument if dim is 0 or above 65536.
  static Result<std::unique_ptr<FlatIndex>> Create(uint32_t dim, Metric metric);

  ~FlatIndex();
  FlatIndex(const FlatIndex&) = delete;
  FlatIndex& operator=(const FlatIndex&) = delete;

  // Appends ids.size() vectors (row-major, ids.size() * dim() floats, copied).
  // Duplicate ids are allowed (they are separate rows). Errors: InvalidArgument
  // for a size mismatch, NaN/inf, or a zero vector under cosine.
  Status AddBatch(std::span<const float> vectors, std::span<const VectorId> ids);

  // Writes the exact k nearest (nearest first; ties broken by smaller row) to
  // out[0..k). Errors: InvalidArgument (wrong size, NaN/inf, k == 0,
  // k > size(), out.size() < k), FailedPrecondition (empty index).
  Status Search(std::span<const float> query, size_t k, std::span<Neighbor> out) const;

  // Exact search for queries.size() / dim() queries on `num_threads` threads
  // (0 = all cores); query i's k results go to out[i*k .. (i+1)*k).
  Status SearchBatch(std::span<const float> queries, size_t k, std::span<Neighbor> out,
                     int num_threads = 0) const;

  size_t size() const;
  uint32_t dim() const;
  Metric metric() const;

 private:
  struct Impl;
  explicit FlatIndex(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace omendb
