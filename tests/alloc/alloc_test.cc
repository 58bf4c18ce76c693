// Counts heap allocations around searches with a replaced global allocator:
// a search in steady state must make none.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <vector>

#include "omendb/hnsw_index.h"
#include "util/dataset.h"

namespace {
std::atomic<uint64_t> g_allocs{0};
}  // namespace

// The replaced operators below pair malloc with free by design; once GCC
// inlines them into a caller it sees `new` meeting `free` and warns.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

void* operator new(size_t n) {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n) { return operator new(n); }
void* operator new(size_t n, std::align_val_t al) {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  size_t a = static_cast<size_t>(al);
  if (void* p = std::aligned_alloc(a, (n + a - 1) / a * a)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n, std::align_val_t al) { return operator new(n, al); }
void* operator new(size_t n, const std::nothrow_t&) noexcept {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n ? n : 1);
}
void* operator new(size_t n, std::align_val_t al, const std::nothrow_t&) noexcept {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  size_t a = static_cast<size_t>(al);
  return std::aligned_alloc(a, (n + a - 1) / a * a);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t, std::align_val_t) noexcept { std::free(p); }

namespace omendb {
namespace {

class AllocTest : public ::testing::Test {
 protected:
  void SetUp() override {
    util::Matrix all = util::GenerateClustered(5000 + 1100, 64, 40, 0.3f, 11);
    base_.assign(all.data.begin(), all.data.begin() + 5000 * 64);
    queries_.assign(all.data.begin() + 5000 * 64, all.data.end());
    std::vector<VectorId> ids(5000);
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = i * 3;
    HnswOptions o;
    o.dim = 64;
    o.ef_construction = 100;
    index_ = std::move(*HnswIndex::Create(o));
    ASSERT_TRUE(index_->AddBatch(base_, ids, 2).ok());
  }
  std::span<const float> Query(size_t i) const { return {queries_.data() + i * 64, 64}; }

  std::vector<float> base_, queries_;
  std::unique_ptr<HnswIndex> index_;
};

TEST_F(AllocTest, CounterSeesAllocations) {
  uint64_t before = g_allocs.load();
  auto* v = new std::vector<int>(100);
  delete v;
  EXPECT_GE(g_allocs.load() - before, 2u);
}

TEST_F(AllocTest, SteadyStateSearchWithContextAllocatesNothing) {
  SearchContext ctx;
  Neighbor out[10];
  SearchStats stats;
  for (size_t i = 0; i < 100; ++i) ASSERT_TRUE(index_->Search(Query(i), 10, 64, out, &ctx).ok());
  uint64_t before = g_allocs.load();
  size_t found = 0;
  for (size_t i = 0; i < 1000; ++i) {
    auto r = index_->Search(Query(100 + i), 10, 64, out, &ctx, &stats);
    found += r.ok() ? *r : 0;
  }
  EXPECT_EQ(g_allocs.load() - before, 0u);
  EXPECT_EQ(found, 10000u);
  EXPECT_GT(stats.distance_computations, 0u);
}

TEST_F(AllocTest, SteadyStateSearchWithThreadLocalContextAllocatesNothing) {
  Neighbor out[10];
  for (size_t i = 0; i < 100; ++i) ASSERT_TRUE(index_->Search(Query(i), 10, 128, out).ok());
  uint64_t before = g_allocs.load();
  for (size_t i = 0; i < 1000; ++i) {
    // Varying ef below the warm-up maximum must not grow anything either.
    auto r = index_->Search(Query(100 + i), 10, 16 + i % 100, out);
    ASSERT_TRUE(r.ok());
  }
  EXPECT_EQ(g_allocs.load() - before, 0u);
}

}  // namespace
}  // namespace omendb

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
