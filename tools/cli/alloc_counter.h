// Heap-allocation counting for the omendb program.
//
// alloc_counter.cc replaces every form of the global operator new / new[]
// (plain, nothrow, aligned, aligned nothrow) and the matching operator
// delete / delete[] for the whole `omendb` binary. Each successful operator
// new call increments one process-wide counter; memory still comes from
// malloc / posix_memalign, so behaviour is otherwise unchanged. Allocations
// made with malloc directly (C code, some libraries) are not counted.
#pragma once

#include <cstdint>

namespace omendb::cli {

// Number of global operator new / new[] calls (all forms, all threads) that
// returned memory since the program started. Thread-safe and lock-free; the
// counter is relaxed, so a delta is exact only for allocations made by the
// calling thread or by threads it has synchronised with. Typical use:
//   uint64_t before = AllocationCount(); DoWork(); uint64_t n = AllocationCount() - before;
uint64_t AllocationCount();

}  // namespace omendb::cli
