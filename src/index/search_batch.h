// The query fan-out shared by the indexes' SearchBatch in src/index.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>

#include "omendb/status.h"
#include "omendb/types.h"
#include "util/thread_pool.h"

namespace omendb::index_internal {

// Runs search(query_i, out_i) for every query in `queries` (rows of `dim`
// floats) on up to num_threads threads, query i writing its up to k results
// to out[i*k, (i+1)*k) and their number to counts[i]. search returns
// Result<size_t>, the number of neighbours written. InvalidArgument if
// `queries` is not whole rows or the output buffers are too small; otherwise
// the first failure (with "query i" context; that query's count is 0) or OK.
template <class SearchOne>
Status SearchBatchOver(std::span<const float> queries, size_t dim, size_t k,
                       std::span<Neighbor> out, std::span<uint32_t> counts, int num_threads,
                       const SearchOne& search) {
  if (queries.size() % dim != 0) {
    return Status::InvalidArgument("query batch of " + std::to_string(queries.size()) +
                                   " floats is not a multiple of dim " + std::to_string(dim));
  }
  const size_t nq = queries.size() / dim;
  if (out.size() < nq * k || counts.size() < nq) {
    return Status::InvalidArgument("output buffers too small for " + std::to_string(nq) +
                                   " queries x k = " + std::to_string(k));
  }
  std::atomic<bool> failed{false};
  Status first_error;
  std::mutex error_mu;
  util::ParallelFor(nq, num_threads, 16, [&](size_t i, int) {
    auto r = search(queries.subspan(i * dim, dim), out.subspan(i * k, k));
    if (r.ok()) {
      counts[i] = static_cast<uint32_t>(*r);
      return;
    }
    counts[i] = 0;
    if (!failed.exchange(true)) {
      std::lock_guard lock(error_mu);
      first_error = r.status().WithContext("query " + std::to_string(i));
    }
  });
  std::lock_guard lock(error_mu);
  return first_error;
}

}  // namespace omendb::index_internal
