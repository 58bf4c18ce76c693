#include "alloc_counter.h"

#include <atomic>
#include <cstdlib>
#include <new>

namespace omendb::cli {
namespace {

// Constant-initialised, so it is valid before any dynamic initialiser runs
// (other static constructors may allocate before main).
constinit std::atomic<uint64_t> g_allocations{0};

// Relaxed is enough: the counter orders nothing, and a benchmark reads it on
// the same thread that performed the allocations it measures.
void Count() { g_allocations.fetch_add(1, std::memory_order_relaxed); }

void* TryAllocate(std::size_t size) {
  // malloc(0) may return null; operator new must return a unique pointer.
  void* p = std::malloc(size == 0 ? 1 : size);
  if (p != nullptr) Count();
  return p;
}

void* TryAllocateAligned(std::size_t size, std::align_val_t align) {
  std::size_t a = static_cast<std::size_t>(align);
  if (a < sizeof(void*)) a = sizeof(void*);  // posix_memalign's minimum
  void* p = nullptr;
  if (posix_memalign(&p, a, size == 0 ? 1 : size) != 0) return nullptr;
  Count();
  return p;
}

// The throwing forms follow the standard's loop: call the installed
// new_handler until it either frees memory or throws; without one, throw.
template <class Alloc>
void* AllocateOrThrow(Alloc alloc) {
  for (;;) {
    if (void* p = alloc()) return p;
    std::new_handler handler = std::get_new_handler();
    if (handler == nullptr) throw std::bad_alloc();
    handler();
  }
}

}  // namespace

uint64_t AllocationCount() { return g_allocations.load(std::memory_order_relaxed); }

}  // namespace omendb::cli

using omendb::cli::AllocateOrThrow;
using omendb::cli::TryAllocate;
using omendb::cli::TryAllocateAligned;

void* operator new(std::size_t size) {
  return AllocateOrThrow([&] { return TryAllocate(size); });
}
void* operator new[](std::size_t size) {
  return AllocateOrThrow([&] { return TryAllocate(size); });
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept { return TryAllocate(size); }
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept { return TryAllocate(size); }
void* operator new(std::size_t size, std::align_val_t align) {
  return AllocateOrThrow([&] { return TryAllocateAligned(size, align); });
}
void* operator new[](std::size_t size, std::align_val_t align) {
  return AllocateOrThrow([&] { return TryAllocateAligned(size, align); });
}
void* operator new(std::size_t size, std::align_val_t align, const std::nothrow_t&) noexcept {
  return TryAllocateAligned(size, align);
}
void* operator new[](std::size_t size, std::align_val_t align, const std::nothrow_t&) noexcept {
  return TryAllocateAligned(size, align);
}

// Every block above came from malloc or posix_memalign, both released by free.
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
