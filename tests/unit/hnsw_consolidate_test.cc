// Delete consolidation and slot reuse in the HNSW graph
// (HnswGraph::ConsolidateRemoved / ReleaseSlots, docs/design/db.md).
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "index/hnsw_graph.h"
#include "util/dataset.h"

namespace omendb::index_internal {
namespace {

constexpr uint32_t kDim = 16;

std::unique_ptr<HnswGraph> Build(const util::Matrix& m, size_t n, SearchScratch& s) {
  HnswOptions o;
  o.dim = kDim;
  o.M = 8;
  o.ef_construction = 64;
  auto g = std::make_unique<HnswGraph>(o);
  for (size_t i = 0; i < n; ++i) {
    EXPECT_TRUE(g->Insert(i, m.row(i), s).ok());
  }
  return g;
}

void ExpectSound(const HnswGraph& g, const char* when) {
  GraphReport r = g.Check();
  EXPECT_EQ(r.invalid_edges, 0u) << when << ": an edge to an unlinked record or a bad slot";
  EXPECT_EQ(r.self_loops + r.duplicate_edges + r.degree_violations, 0u) << when;
}

TEST(HnswConsolidateTest, UnlinksRemovedRecordsAndReusesTheirSlots) {
  util::Matrix m = util::GenerateClustered(900, kDim, 12, 1.0f, 5);
  SearchScratch s;
  auto g = Build(m, 600, s);
  std::mt19937_64 rng(1);
  std::vector<VectorId> removed;
  for (VectorId id = 0; id < 600; ++id) {
    if (rng() % 3 == 0) {
      ASSERT_TRUE(g->Remove(id, s).ok());
      removed.push_back(id);
    }
  }
  EXPECT_EQ(g->linked_removed(), removed.size());
  std::vector<uint32_t> unlinked;
  EXPECT_EQ(g->ConsolidateRemoved(s, &unlinked), removed.size());
  EXPECT_EQ(unlinked.size(), removed.size());
  EXPECT_EQ(g->linked_removed(), 0u);
  ExpectSound(*g, "after consolidation");
  g->RepairReachability(s);
  GraphReport r = g->Check();
  EXPECT_EQ(r.reachable, r.nodes);
  // Nothing left to consolidate.
  EXPECT_EQ(g->ConsolidateRemoved(s, nullptr), 0u);

  // Searches never return removed ids, before and after the slots are reused.
  auto check_search = [&](const char* when) {
    std::vector<Neighbor> out(20);
    for (size_t q = 600; q < 650; ++q) {
      size_t n = g->Search(m.row(q), 20, 64, out.data(), s, nullptr);
      EXPECT_EQ(n, 20u) << when;
      for (size_t i = 0; i < n; ++i) {
        VectorId id = out[i].id;
        bool was_removed = std::find(removed.begin(), removed.end(), id) != removed.end();
        uint32_t slot;
        EXPECT_TRUE(g->Lookup(id, &slot)) << when << ": returned id " << id << " is not stored";
        EXPECT_FALSE(was_removed && id < 600) << when << ": removed id " << id << " returned";
      }
    }
  };
  check_search("consolidated");

  const size_t slots_before = g->size() + g->deleted_count();
  g->ReleaseSlots(unlinked);
  EXPECT_EQ(g->free_slots(), unlinked.size());
  // New vectors take the freed slots: the record count does not grow.
  for (size_t i = 0; i < removed.size(); ++i) {
    ASSERT_TRUE(g->Insert(1000 + i, m.row(600 + i % 300), s).ok());
  }
  EXPECT_EQ(g->free_slots(), 0u);
  EXPECT_EQ(g->deleted_count(), 0u);
  EXPECT_EQ(g->size() + g->deleted_count(), slots_before);
  ExpectSound(*g, "after reuse");
  check_search("reused");
  for (size_t i = 0; i < removed.size(); ++i) {
    uint32_t slot;
    ASSERT_TRUE(g->Lookup(1000 + i, &slot));
    std::vector<float> v(kDim);
    g->CopyVector(slot, v.data());
    EXPECT_EQ(v, std::vector<float>(m.row(600 + i % 300), m.row(600 + i % 300) + kDim));
  }
}

TEST(HnswConsolidateTest, SnapshotKeepsFreeSlotsFree) {
  util::Matrix m = util::GenerateClustered(400, kDim, 8, 1.0f, 6);
  SearchScratch s;
  auto g = Build(m, 300, s);
  for (VectorId id = 0; id < 300; id += 4) ASSERT_TRUE(g->Remove(id, s).ok());
  // Half consolidated and released, half still linked.
  std::vector<uint32_t> unlinked;
  g->ConsolidateRemoved(s, &unlinked);
  g->ReleaseSlots(unlinked);
  for (VectorId id = 2; id < 300; id += 8) ASSERT_TRUE(g->Remove(id, s).ok());
  const size_t free_before = g->free_slots();
  const size_t linked_before = g->linked_removed();
  ASSERT_GT(free_before, 0u);
  ASSERT_GT(linked_before, 0u);

  std::string bytes;
  ASSERT_TRUE(g->Serialize([&](std::string_view chunk) {
                 bytes.append(chunk);
                 return Status::OK();
               }).ok());
  auto loaded = HnswGraph::Deserialize(bytes);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  HnswGraph& h = **loaded;
  EXPECT_EQ(h.size(), g->size());
  EXPECT_EQ(h.deleted_count(), g->deleted_count());
  EXPECT_EQ(h.free_slots(), free_before);
  EXPECT_EQ(h.linked_removed(), linked_before);
  ExpectSound(h, "loaded");
  // Same answers as the original.
  std::vector<Neighbor> a(10), b(10);
  for (size_t q = 300; q < 340; ++q) {
    size_t na = g->Search(m.row(q), 10, 32, a.data(), s, nullptr);
    size_t nb = h.Search(m.row(q), 10, 32, b.data(), s, nullptr);
    ASSERT_EQ(na, nb);
    for (size_t i = 0; i < na; ++i) EXPECT_EQ(a[i].id, b[i].id);
  }
  // The loaded graph fills its free slots first.
  for (size_t i = 0; i < free_before; ++i) {
    ASSERT_TRUE(h.Insert(5000 + i, m.row(300 + i % 100), s).ok());
  }
  EXPECT_EQ(h.free_slots(), 0u);
  ExpectSound(h, "loaded and refilled");
}

}  // namespace
}  // namespace omendb::index_internal
