// HNSW over quantized codes (fp16, SQ8, RaBitQ at several bit counts): the
// walk on codes plus exact re-ranking must find the true neighbours, return
// exact distances, train its codec at the documented moment, survive a
// snapshot round trip and reject damaged snapshots.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "omendb/hnsw_index.h"
#include "testutil/testutil.h"

namespace omendb {
namespace {

using testutil::ExactDistance;

// Clustered Gaussian data (testutil::ClusteredData) with this suite's
// centres.
std::vector<float> Clustered(size_t n, size_t dim, uint64_t seed, size_t clusters = 40,
                             float sigma = 0.35f) {
  return testutil::ClusteredData(n, dim, seed, clusters, sigma, 0x0c3a7e5);
}

// Exact top-k ids of every query.
std::vector<std::vector<VectorId>> TrueNeighbours(const std::vector<float>& base,
                                                  const std::vector<float>& queries, size_t dim,
                                                  size_t k, Metric m) {
  const size_t n = base.size() / dim, nq = queries.size() / dim;
  std::vector<std::vector<VectorId>> out(nq);
  std::vector<std::pair<float, VectorId>> d(n);
  for (size_t q = 0; q < nq; ++q) {
    for (size_t i = 0; i < n; ++i) {
      d[i] = {ExactDistance(queries.data() + q * dim, base.data() + i * dim, dim, m), i};
    }
    std::partial_sort(d.begin(), d.begin() + static_cast<long>(k), d.end());
    for (size_t j = 0; j < k; ++j) out[q].push_back(d[j].second);
  }
  return out;
}

struct Case {
  const char* quant;
  Metric metric;
  double min_recall;  // recall@10 at ef = 64 with automatic re-ranking
};

std::string CaseName(const testing::TestParamInfo<Case>& info) {
  std::string q = info.param.quant;
  std::replace(q.begin(), q.end(), ':', '_');
  return q + "_" + MetricName(info.param.metric);
}

class HnswQuantTest : public testing::TestWithParam<Case> {
 protected:
  static constexpr size_t kDim = 72;  // not a multiple of 64: padding is exercised
  static constexpr size_t kN = 3000;
  static constexpr size_t kQueries = 60;
  static constexpr size_t kK = 10;

  HnswOptions Options() const {
    HnswOptions o;
    o.dim = kDim;
    o.metric = GetParam().metric;
    o.M = 12;
    o.ef_construction = 100;
    o.quant = ParseQuantization(GetParam().quant).value();
    return o;
  }

  std::unique_ptr<HnswIndex> Build(const std::vector<float>& base, const HnswOptions& o) {
    auto index = HnswIndex::Create(o);
    EXPECT_TRUE(index.ok()) << index.status().ToString();
    std::vector<VectorId> ids(base.size() / kDim);
    std::iota(ids.begin(), ids.end(), VectorId{0});
    Status s = (*index)->AddBatch(base, ids, 2);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return std::move(*index);
  }

  double Recall(const HnswIndex& index, const std::vector<float>& base,
                const std::vector<float>& queries, const SearchParams& p) {
    const auto truth = TrueNeighbours(base, queries, kDim, kK, GetParam().metric);
    size_t hits = 0;
    std::vector<Neighbor> out(kK);
    for (size_t q = 0; q < truth.size(); ++q) {
      auto r = index.Search({queries.data() + q * kDim, kDim}, kK, p, out);
      EXPECT_TRUE(r.ok()) << r.status().ToString();
      if (!r.ok()) return 0;
      for (size_t j = 0; j < *r; ++j) {
        hits += std::count(truth[q].begin(), truth[q].end(), out[j].id);
      }
    }
    return static_cast<double>(hits) / static_cast<double>(truth.size() * kK);
  }
};

TEST_P(HnswQuantTest, FindsTrueNeighboursWithExactDistances) {
  const auto base = Clustered(kN, kDim, 1);
  const auto queries = Clustered(kQueries, kDim, 2);
  auto index = Build(base, Options());
  ASSERT_TRUE(index->quantizer_trained());
  EXPECT_EQ(index->quantization(), Options().quant);
  const double recall = Recall(*index, base, queries, SearchParams{64, 0});
  EXPECT_GE(recall, GetParam().min_recall);
  // Re-ranking everything the beam holds can only help.
  EXPECT_GE(Recall(*index, base, queries, SearchParams{64, 64}) + 1e-9, recall - 0.02);

  // Returned distances are exact (of the re-ranked candidates), sorted.
  std::vector<Neighbor> out(kK);
  SearchStats stats;
  auto r = index->Search({queries.data(), kDim}, kK, SearchParams{64, 0}, out, nullptr, &stats);
  ASSERT_TRUE(r.ok());
  EXPECT_GT(stats.reranked, 0u);
  for (size_t j = 0; j < *r; ++j) {
    const float want = ExactDistance(queries.data(), base.data() + out[j].id * kDim, kDim,
                                     GetParam().metric);
    EXPECT_NEAR(out[j].distance, want, 1e-3f * std::max(1.0f, std::fabs(want)));
    if (j > 0) {
      EXPECT_LE(out[j - 1].distance, out[j].distance);
    }
  }
}

TEST_P(HnswQuantTest, MemoryIsSplitIntoCodesGraphAndRerankStore) {
  const auto base = Clustered(2000, kDim, 3);
  auto index = Build(base, Options());
  const IndexMemory m = index->Memory();
  EXPECT_LT(m.code_bytes_per_vector, kDim * sizeof(float));
  EXPECT_GE(m.rerank_bytes, index->size() * kDim * sizeof(float));
  EXPECT_EQ(index->MemoryBytes(), m.graph_bytes + m.rerank_bytes + m.id_map_bytes);
}

TEST_P(HnswQuantTest, TrainsOnceEnoughVectorsArrive) {
  HnswOptions o = Options();
  o.quant_train_after = 500;
  auto created = HnswIndex::Create(o);
  ASSERT_TRUE(created.ok());
  HnswIndex& index = **created;
  const auto base = Clustered(1200, kDim, 4);
  const auto queries = Clustered(20, kDim, 5);
  std::vector<Neighbor> out(kK);
  for (size_t i = 0; i < 499; ++i) {
    ASSERT_TRUE(index.Add(i, {base.data() + i * kDim, kDim}).ok());
  }
  EXPECT_FALSE(index.quantizer_trained());
  // Untrained: the walk uses exact distances, so search works as without codes.
  auto r = index.Search({queries.data(), kDim}, kK, 64, out);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, kK);
  ASSERT_TRUE(index.Add(499, {base.data() + 499 * kDim, kDim}).ok());
  EXPECT_TRUE(index.quantizer_trained());
  for (size_t i = 500; i < 1200; ++i) {
    ASSERT_TRUE(index.Add(i, {base.data() + i * kDim, kDim}).ok());
  }
  EXPECT_GE(Recall(index, base, queries, SearchParams{64, 0}), GetParam().min_recall - 0.03);
}

TEST_P(HnswQuantTest, SnapshotRoundTripGivesIdenticalSearches) {
  const auto base = Clustered(1500, kDim, 6);
  const auto queries = Clustered(30, kDim, 7);
  auto index = Build(base, Options());
  ASSERT_TRUE(index->Remove(17).ok());
  const std::string snap = testutil::Snapshot(*index);
  ASSERT_FALSE(HasFailure());
  auto loaded = HnswIndex::Load(snap);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_TRUE((*loaded)->quantizer_trained());
  EXPECT_EQ((*loaded)->quantization(), Options().quant);
  EXPECT_EQ((*loaded)->size(), index->size());
  std::vector<Neighbor> a(kK), b(kK);
  for (size_t q = 0; q < 30; ++q) {
    std::span<const float> query(queries.data() + q * kDim, kDim);
    auto ra = index->Search(query, kK, SearchParams{40, 0}, a);
    auto rb = (*loaded)->Search(query, kK, SearchParams{40, 0}, b);
    ASSERT_TRUE(ra.ok() && rb.ok());
    ASSERT_EQ(*ra, *rb);
    for (size_t j = 0; j < *ra; ++j) {
      EXPECT_EQ(a[j].id, b[j].id);
      EXPECT_EQ(a[j].distance, b[j].distance);
      EXPECT_NE(a[j].id, 17u);
    }
  }
  std::vector<float> v(kDim);
  ASSERT_TRUE((*loaded)->GetVector(5, v).ok());
  if (GetParam().metric != Metric::kCosine) {
    for (size_t j = 0; j < kDim; ++j) EXPECT_EQ(v[j], base[5 * kDim + j]);
  }
}

TEST_P(HnswQuantTest, DamagedSnapshotsAreRejected) {
  const auto base = Clustered(300, kDim, 8);
  HnswOptions o = Options();
  o.quant_train_after = 100;
  auto index = Build(base, o);
  const std::string snap = testutil::Snapshot(*index);
  ASSERT_FALSE(HasFailure());
  // Every truncation point in the header, the codec and the section
  // boundaries, and a spread of others.
  for (size_t cut = 0; cut < snap.size(); cut += (cut < 200 ? 1 : 97)) {
    auto r = HnswIndex::Load(std::string_view(snap).substr(0, cut));
    ASSERT_FALSE(r.ok()) << "cut at " << cut;
    EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << r.status().ToString();
  }
  std::mt19937 rng(9);
  for (int i = 0; i < 200; ++i) {
    std::string bad = snap;
    const size_t at = rng() % bad.size();
    bad[at] = static_cast<char>(bad[at] ^ (1u << (rng() % 8)));
    auto r = HnswIndex::Load(bad);
    EXPECT_FALSE(r.ok()) << "flip at " << at;
  }
}

TEST_P(HnswQuantTest, SearchesRunWhileTrainingAndInserting) {
  HnswOptions o = Options();
  o.quant_train_after = 800;
  auto created = HnswIndex::Create(o);
  ASSERT_TRUE(created.ok());
  HnswIndex& index = **created;
  const auto base = Clustered(2000, kDim, 10);
  for (size_t i = 0; i < 200; ++i) ASSERT_TRUE(index.Add(i, {base.data() + i * kDim, kDim}).ok());
  std::atomic<bool> stop{false};
  std::atomic<size_t> failures{0};
  std::thread reader([&] {
    std::vector<Neighbor> out(kK);
    size_t q = 0;
    while (!stop.load()) {
      auto r = index.Search({base.data() + (q++ % 200) * kDim, kDim}, kK, SearchParams{32, 0}, out);
      if (!r.ok() || *r != kK) failures.fetch_add(1);
    }
  });
  std::vector<VectorId> ids(1800);
  std::iota(ids.begin(), ids.end(), VectorId{200});
  Status s = index.AddBatch({base.data() + 200 * kDim, 1800 * kDim}, ids, 2);
  stop.store(true);
  reader.join();
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(index.quantizer_trained());
  EXPECT_EQ(failures.load(), 0u);
  EXPECT_TRUE(index.CheckGraph().ok());
}

INSTANTIATE_TEST_SUITE_P(
    Codecs, HnswQuantTest,
    testing::Values(Case{"fp16", Metric::kL2, 0.97}, Case{"sq8", Metric::kL2, 0.97},
                    Case{"sq8", Metric::kInnerProduct, 0.95}, Case{"sq8", Metric::kCosine, 0.95},
                    Case{"rabitq:1", Metric::kL2, 0.90}, Case{"rabitq:4", Metric::kL2, 0.95},
                    Case{"rabitq:4", Metric::kCosine, 0.95},
                    Case{"rabitq:4", Metric::kInnerProduct, 0.95},
                    Case{"rabitq:9", Metric::kL2, 0.97}),
    CaseName);

TEST(HnswQuantOptions, BadQuantizationIsRejected) {
  HnswOptions o;
  o.dim = 16;
  o.quant = Quantization{QuantKind::kRaBitQ, 12};
  EXPECT_EQ(HnswIndex::Create(o).status().code(), StatusCode::kInvalidArgument);
  o.quant = Quantization{QuantKind::kSq8, 0};
  o.quant_train_after = 0;
  EXPECT_EQ(HnswIndex::Create(o).status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(ParseQuantization("rabitq:0").ok());
  EXPECT_FALSE(ParseQuantization("pq").ok());
  EXPECT_EQ(QuantizationName(ParseQuantization("rabitq:7").value()), "rabitq:7");
  EXPECT_EQ(QuantizationName(ParseQuantization("sq8").value()), "sq8");
}

}  // namespace
}  // namespace omendb
