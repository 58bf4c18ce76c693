#include "pool.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "util/thread_pool.h"

namespace omendb::python {

struct WorkerPool::State {
  int workers = 0;
  std::mutex run_mu;  // held by the one Run using the workers

  // The current job, published under mu with a new generation.
  std::mutex mu;
  std::condition_variable wake;      // workers wait for a new generation
  std::condition_variable finished;  // Run waits for the participants
  uint64_t generation = 0;
  const std::function<void(size_t, int)>* fn = nullptr;
  size_t n = 0, chunk = 1;
  int participants = 0;  // workers taking part (t = 1 .. participants)
  int pending = 0;       // of those, not yet done
  std::atomic<size_t> next{0};

  void Work(int t) {
    for (;;) {
      size_t begin = next.fetch_add(chunk, std::memory_order_relaxed);
      if (begin >= n) return;
      size_t end = std::min(n, begin + chunk);
      for (size_t i = begin; i < end; ++i) (*fn)(i, t);
    }
  }

  void Loop(int t) {
    uint64_t seen = 0;
    std::unique_lock lock(mu);
    for (;;) {
      wake.wait(lock, [&] { return generation != seen; });
      seen = generation;
      if (t > participants) continue;
      lock.unlock();
      Work(t);
      lock.lock();
      if (--pending == 0) finished.notify_one();
    }
  }
};

namespace {

WorkerPool* g_pool = nullptr;
std::once_flag g_atfork_once;

}  // namespace

WorkerPool::WorkerPool() : state_(new State) {
  state_->workers = util::ResolveThreads(0) - 1;
  for (int t = 1; t <= state_->workers; ++t) {
    std::thread([s = state_, t] { s->Loop(t); }).detach();
  }
}

WorkerPool& WorkerPool::Get() {
  static std::mutex get_mu;
  std::call_once(g_atfork_once, [] {
    // The child of a fork has none of the workers (and possibly a locked
    // mutex): it starts a pool of its own on first use.
    pthread_atfork(nullptr, nullptr, [] { g_pool = nullptr; });
  });
  std::lock_guard lock(get_mu);
  if (g_pool == nullptr) g_pool = new WorkerPool();
  return *g_pool;
}

int WorkerPool::ThreadsFor(size_t n, int threads, size_t chunk) {
  // hardware_concurrency() reads /sys on every call: asked once.
  static const int hardware = util::ResolveThreads(0);
  chunk = std::max<size_t>(chunk, 1);
  const size_t chunks = (n + chunk - 1) / chunk;
  const int t = threads > 0 ? std::min(threads, hardware) : hardware;
  return std::max(1, static_cast<int>(std::min<size_t>(static_cast<size_t>(t), chunks)));
}

void WorkerPool::Run(size_t n, int threads, size_t chunk,
                     const std::function<void(size_t, int)>& fn) {
  if (n == 0) return;
  chunk = std::max<size_t>(chunk, 1);
  const int use = std::min(ThreadsFor(n, threads, chunk), state_->workers + 1);
  std::unique_lock run(state_->run_mu, std::defer_lock);
  if (use <= 1 || !run.try_lock()) {
    for (size_t i = 0; i < n; ++i) fn(i, 0);
    return;
  }
  State& s = *state_;
  {
    std::lock_guard lock(s.mu);
    s.fn = &fn;
    s.n = n;
    s.chunk = chunk;
    s.next.store(0, std::memory_order_relaxed);
    s.participants = use - 1;
    s.pending = use - 1;
    ++s.generation;
  }
  s.wake.notify_all();
  s.Work(0);
  std::unique_lock lock(s.mu);
  s.finished.wait(lock, [&] { return s.pending == 0; });
  s.fn = nullptr;
}

}  // namespace omendb::python
