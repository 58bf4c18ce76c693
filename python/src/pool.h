// WorkerPool: the threads batch searches from Python are spread over.
//
// Starting threads per call (util::ParallelFor) costs each call the thread
// start-up and, worse, fresh thread-local search state (visited sets sized
// to the index), which dominates a batch of a few hundred queries. The
// pool's threads live for the whole process, so their thread-local state is
// reused from one batch to the next.
#pragma once

#include <cstddef>
#include <functional>

namespace omendb::python {

class WorkerPool {
 public:
  // The process-wide pool (hardware threads - 1 workers), started on first
  // use and started again in a child process after fork(). Never destroyed.
  static WorkerPool& Get();

  // Calls fn(i, t) for every i in [0, n), handing out chunks of `chunk`
  // items, on min(threads, n / chunk rounded up) threads (threads <= 0: all
  // hardware threads); the calling thread is one of them (t = 0), workers
  // have t = 1, 2, ... < threads. Returns when every item is done. If another
  // call is using the pool at the moment, the caller does all the work
  // itself (t = 0). fn must not throw. Call without the GIL.
  void Run(size_t n, int threads, size_t chunk, const std::function<void(size_t, int)>& fn);

  // Threads Run(..., threads, ...) will use for n items of size `chunk`.
  static int ThreadsFor(size_t n, int threads, size_t chunk);

  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

 private:
  struct State;
  WorkerPool();
  State* state_;  // leaked on purpose: workers may outlive static destruction
};

}  // namespace omendb::python
