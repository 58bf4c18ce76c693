// ReadGate: a grace-period barrier that lets lock-free readers keep using an
// object while a writer replaces it, and tells the writer when the last reader
// that could still hold the old object has left.
//
// It is the "two counters and a phase bit" form of read-copy-update (RCU,
// McKenney and Slingwine 1998). Readers bracket their use of shared objects
// with Enter/Exit (two atomic increments on a counter sharded by thread, so
// readers on different cores rarely share a cache line); a writer unpublishes
// an object, calls Synchronize(), and may then free it.
//
// Why it is correct: a reader increments the counter of the current phase and
// then re-reads the phase; if the phase moved meanwhile it backs out and
// retries. Synchronize flips the phase and waits for the old phase's counters
// to drain. All operations are sequentially consistent, so either the
// writer's drain check sees the reader's increment (and waits), or the
// reader's re-read sees the new phase (and it retries in the new phase, where
// it can only find the newly published object).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <thread>

namespace omendb::util {

class ReadGate {
 public:
  // Token returned by Enter and given back to Exit.
  struct Token {
    uint32_t phase;
    uint32_t shard;
  };

  ReadGate() = default;
  ReadGate(const ReadGate&) = delete;
  ReadGate& operator=(const ReadGate&) = delete;

  // Starts a read-side section. Wait-free unless a writer flips the phase
  // between the two loads (then it retries once per flip). Thread-safe.
  Token Enter() const {
    const uint32_t shard = ThreadShard();
    for (;;) {
      const uint64_t phase = phase_.load(std::memory_order_seq_cst);
      std::atomic<uint64_t>& c = counts_[phase & 1][shard].n;
      c.fetch_add(1, std::memory_order_seq_cst);
      if (phase_.load(std::memory_order_seq_cst) == phase) {
        return Token{static_cast<uint32_t>(phase & 1), shard};
      }
      c.fetch_sub(1, std::memory_order_release);
    }
  }

  // Ends the section started by the Enter that returned `token`.
  void Exit(Token token) const {
    counts_[token.phase][token.shard].n.fetch_sub(1, std::memory_order_release);
  }

  // Waits until every read-side section that began before this call has
  // ended. Callers serialise Synchronize among themselves (one writer). Must
  // not be called from inside a read-side section (it would wait forever).
  void Synchronize() const {
    const uint64_t old = phase_.fetch_add(1, std::memory_order_seq_cst);
    auto& counters = counts_[old & 1];
    for (size_t i = 0; i < kShards; ++i) {
      while (counters[i].n.load(std::memory_order_acquire) != 0) std::this_thread::yield();
    }
  }

 private:
  static constexpr size_t kShards = 32;
  struct alignas(64) Counter {
    std::atomic<uint64_t> n{0};
  };
  static uint32_t ThreadShard() {
    static std::atomic<uint32_t> next{0};
    thread_local const uint32_t shard =
        next.fetch_add(1, std::memory_order_relaxed) % static_cast<uint32_t>(kShards);
    return shard;
  }

  mutable std::atomic<uint64_t> phase_{0};
  mutable Counter counts_[2][kShards];
};

// RAII read-side section.
class ReadGuard {
 public:
  explicit ReadGuard(const ReadGate& gate) : gate_(gate), token_(gate.Enter()) {}
  ~ReadGuard() { gate_.Exit(token_); }
  ReadGuard(const ReadGuard&) = delete;
  ReadGuard& operator=(const ReadGuard&) = delete;

 private:
  const ReadGate& gate_;
  ReadGate::Token token_;
};

}  // namespace omendb::util
