// Minimal parallel-for over an index range, for batch work (builds, batch
// searches, ground truth). Threads are started per call: the cost is paid
// once per batch, never per item.
#pragma once

#include <cstddef>
#include <functional>

namespace omendb::util {

// Number of threads to use for a request of `requested` (0 or negative = all cores).
int ResolveThreads(int requested);

// Calls fn(i, thread_index) for every i in [0, n) using `num_threads` threads
// (resolved with ResolveThreads). Items are handed out dynamically in chunks of
// `chunk` so uneven work balances. Returns when all items are done. fn must not
// throw.
void ParallelFor(size_t n, int num_threads, size_t chunk,
                 const std::function<void(size_t i, int thread_index)>& fn);

}  // namespace omendb::util
