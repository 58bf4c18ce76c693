// HnswIndex::Reorder: the same answers afterwards, a layout in which graph
// neighbours sit together, and an index that keeps working (inserts,
// removals, snapshots, mapped re-rank vectors).
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "index/index_access.h"
#include "omendb/hnsw_index.h"
#include "testutil/testutil.h"
#include "util/dataset.h"

namespace omendb {
namespace {

constexpr uint32_t kDim = 16;

using testutil::Snapshot;

HnswOptions Options(Metric metric, Quantization quant) {
  HnswOptions o;
  o.dim = kDim;
  o.M = 8;
  o.metric = metric;
  o.ef_construction = 64;
  o.quant = quant;
  o.quant_train_after = 500;
  return o;
}

// n clustered vectors with ids 100 + 3i, a few removed.
std::unique_ptr<HnswIndex> Build(size_t n, Metric metric, Quantization quant,
                                 util::Matrix* data) {
  *data = util::GenerateClustered(n, kDim, 20, 0.5f, 11);
  auto idx = std::move(*HnswIndex::Create(Options(metric, quant)));
  std::vector<VectorId> ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = 100 + 3 * i;
  EXPECT_TRUE(idx->AddBatch(data->data, ids, 1).ok());
  for (size_t i = 0; i < n; i += 97) EXPECT_TRUE(idx->Remove(100 + 3 * i).ok());
  return idx;
}

void ExpectSameSearches(const HnswIndex& a, const HnswIndex& b, const util::Matrix& q) {
  for (size_t i = 0; i < q.rows; ++i) {
    auto ra = a.Search({q.row(i), kDim}, 10, 40);
    auto rb = b.Search({q.row(i), kDim}, 10, 40);
    ASSERT_TRUE(ra.ok() && rb.ok());
    ASSERT_EQ(ra->size(), rb->size());
    for (size_t j = 0; j < ra->size(); ++j) {
      EXPECT_EQ((*ra)[j].id, (*rb)[j].id) << "query " << i << " rank " << j;
      EXPECT_EQ((*ra)[j].distance, (*rb)[j].distance);
    }
  }
}

// Mean squared distance between the vectors of consecutive slots.
double ConsecutiveSpread(const HnswIndex& idx) {
  const auto& g = index_internal::IndexAccess::Graph(idx);
  std::vector<std::pair<uint32_t, VectorId>> live;
  g.ForEachLive([&](VectorId id, uint32_t slot) { live.emplace_back(slot, id); });
  std::sort(live.begin(), live.end());
  std::vector<float> x(kDim), y(kDim);
  double sum = 0;
  for (size_t i = 1; i < live.size(); ++i) {
    EXPECT_TRUE(idx.GetVector(live[i - 1].second, x).ok());
    EXPECT_TRUE(idx.GetVector(live[i].second, y).ok());
    for (uint32_t d = 0; d < kDim; ++d) sum += (x[d] - y[d]) * (x[d] - y[d]);
  }
  return sum / static_cast<double>(live.size() - 1);
}

TEST(HnswReorderTest, SameResultsAndVectorsForEveryMetricAndCodec) {
  const Quantization codecs[] = {{}, {QuantKind::kSq8, 0}, {QuantKind::kRaBitQ, 4}};
  for (Metric metric : {Metric::kL2, Metric::kInnerProduct, Metric::kCosine}) {
    for (const Quantization& quant : codecs) {
      SCOPED_TRACE(std::string(MetricName(metric)) + " " + QuantizationName(quant));
      util::Matrix data;
      auto idx = Build(3000, metric, quant, &data);
      auto copy = HnswIndex::Load(Snapshot(*idx));
      ASSERT_TRUE(copy.ok()) << copy.status().ToString();
      ASSERT_TRUE((*copy)->Reorder().ok());

      EXPECT_EQ((*copy)->size(), idx->size());
      EXPECT_EQ((*copy)->deleted_count(), idx->deleted_count());
      // The same graph, renumbered: every invariant and count as before
      // (inner product graphs may leave a few nodes unreachable; reordering
      // neither adds nor hides any).
      const GraphReport before = idx->CheckGraph(), after = (*copy)->CheckGraph();
      EXPECT_EQ(after.ok(), before.ok());
      EXPECT_EQ(after.nodes, before.nodes);
      EXPECT_EQ(after.deleted, before.deleted);
      EXPECT_EQ(after.reachable, before.reachable);
      EXPECT_EQ(after.max_level, before.max_level);
      EXPECT_EQ(after.degree_violations + after.self_loops + after.duplicate_edges +
                    after.invalid_edges,
                0u);
      std::vector<float> x(kDim), y(kDim);
      for (size_t i = 0; i < data.rows; ++i) {
        const VectorId id = 100 + 3 * i;
        ASSERT_EQ((*copy)->Contains(id), idx->Contains(id));
        if (!idx->Contains(id)) continue;
        ASSERT_TRUE(idx->GetVector(id, x).ok());
        ASSERT_TRUE((*copy)->GetVector(id, y).ok());
        ASSERT_EQ(x, y) << id;
      }
      ExpectSameSearches(*idx, **copy, util::GenerateClustered(60, kDim, 20, 0.5f, 12));
    }
  }
}

TEST(HnswReorderTest, GraphNeighboursEndUpTogether) {
  util::Matrix data;
  auto idx = Build(4000, Metric::kL2, {}, &data);
  const double before = ConsecutiveSpread(*idx);
  ASSERT_TRUE(idx->Reorder().ok());
  const double after = ConsecutiveSpread(*idx);
  // Insertion order interleaves the 20 clusters; breadth-first order puts
  // a node's neighbours (mostly its own cluster) in consecutive slots.
  // Measured: about half the spread of insertion order.
  EXPECT_LT(after, 0.7 * before) << "before " << before << " after " << after;
}

TEST(HnswReorderTest, IndexKeepsWorkingAfterwards) {
  util::Matrix data;
  auto idx = Build(2000, Metric::kL2, {QuantKind::kRaBitQ, 4}, &data);
  ASSERT_TRUE(idx->Reorder().ok());
  // New vectors (some reuse no slot, the index grows) and removals.
  util::Matrix more = util::GenerateClustered(500, kDim, 20, 0.5f, 13);
  std::vector<VectorId> ids(more.rows);
  for (size_t i = 0; i < more.rows; ++i) ids[i] = 1000000 + i;
  ASSERT_TRUE(idx->AddBatch(more.data, ids, 2).ok());
  for (size_t i = 1; i < data.rows; i += 50) ASSERT_TRUE(idx->Remove(100 + 3 * i).ok());
  EXPECT_TRUE(idx->CheckGraph().ok());
  size_t found = 0;
  for (size_t i = 0; i < more.rows; ++i) {
    auto r = idx->Search({more.row(i), kDim}, 1, 64);
    ASSERT_TRUE(r.ok());
    found += !r->empty() && (*r)[0].id == ids[i];
  }
  EXPECT_GE(found, more.rows * 95 / 100);
  // A second reorder, and a snapshot of the reordered index, answer alike.
  std::string snap = Snapshot(*idx);
  auto loaded = HnswIndex::Load(snap);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ASSERT_TRUE(idx->Reorder().ok());
  ExpectSameSearches(*idx, **loaded, util::GenerateClustered(40, kDim, 20, 0.5f, 14));
}

TEST(HnswReorderTest, MappedRerankVectorsMoveIntoMemory) {
  util::Matrix data;
  auto idx = Build(2000, Metric::kL2, {QuantKind::kRaBitQ, 1}, &data);
  auto bytes = std::make_shared<std::string>(Snapshot(*idx));
  auto mapped = HnswIndex::Load(*bytes, bytes);
  ASSERT_TRUE(mapped.ok()) << mapped.status().ToString();
  ASSERT_TRUE((*mapped)->Memory().rerank_mapped);
  ASSERT_TRUE((*mapped)->Reorder().ok());
  EXPECT_FALSE((*mapped)->Memory().rerank_mapped);
  bytes->assign(bytes->size(), '\0');  // the old bytes are no longer read
  ExpectSameSearches(*idx, **mapped, util::GenerateClustered(40, kDim, 20, 0.5f, 15));
}

TEST(HnswReorderTest, EmptyAndTinyIndexes) {
  auto empty = std::move(*HnswIndex::Create(Options(Metric::kL2, {})));
  EXPECT_TRUE(empty->Reorder().ok());
  EXPECT_EQ(empty->size(), 0u);
  const std::vector<float> v(kDim, 1.0f);
  ASSERT_TRUE(empty->Add(7, v).ok());
  EXPECT_TRUE(empty->Reorder().ok());
  auto r = empty->Search(v, 1, 10);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].id, 7u);
}

}  // namespace
}  // namespace omendb
