#include "util/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

namespace omendb::util {

int ResolveThreads(int requested) {
  if (requested > 0) return requested;
  unsigned hc = std::thread::hardware_concurrency();
  return hc == 0 ? 1 : static_cast<int>(hc);
}

void ParallelFor(size_t n, int num_threads, size_t chunk,
                 const std::function<void(size_t, int)>& fn) {
  if (n == 0) return;
  chunk = std::max<size_t>(chunk, 1);
  int threads = ResolveThreads(num_threads);
  threads = static_cast<int>(std::min<size_t>(threads, (n + chunk - 1) / chunk));
  std::atomic<size_t> next{0};
  auto worker = [&](int t) {
    for (;;) {
      size_t begin = next.fetch_add(chunk, std::memory_order_relaxed);
      if (begin >= n) return;
      size_t end = std::min(n, begin + chunk);
      for (size_t i = begin; i < end; ++i) fn(i, t);
    }
  };
  if (threads <= 1) {
    worker(0);
    return;
  }
  std::vector<std::thread> pool;
  pool.reserve(threads - 1);
  for (int t = 1; t < threads; ++t) pool.emplace_back(worker, t);
  worker(0);
  for (auto& th : pool) th.join();
}

}  // namespace omendb::util
