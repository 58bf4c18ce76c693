#include "omendb/hnsw_index.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <limits>
#include <numeric>
#include <set>
#include <thread>
#include <vector>

#include "omendb/flat_index.h"
#include "util/dataset.h"

namespace omendb {
namespace {

struct Data {
  util::Matrix base, queries;
  std::vector<VectorId> ids;
};

Data MakeData(size_t n, size_t nq, size_t dim, uint64_t seed) {
  Data d;
  util::Matrix all = util::GenerateClustered(n + nq, dim, 50, 0.25f, seed);
  d.base.dim = d.queries.dim = dim;
  d.base.rows = n;
  d.queries.rows = nq;
  d.base.data.assign(all.data.begin(), all.data.begin() + n * dim);
  d.queries.data.assign(all.data.begin() + n * dim, all.data.end());
  d.ids.resize(n);
  // Ids far from slot numbers, so a slot/id mix-up cannot pass.
  for (size_t i = 0; i < n; ++i) d.ids[i] = 1000003ull * i + 7;
  return d;
}

std::unique_ptr<HnswIndex> Build(const Data& d, Metric metric, int threads, uint32_t M = 16,
                                 uint32_t efc = 100) {
  HnswOptions o;
  o.dim = static_cast<uint32_t>(d.base.dim);
  o.metric = metric;
  o.M = M;
  o.ef_construction = efc;
  auto idx = HnswIndex::Create(o);
  EXPECT_TRUE(idx.ok()) << idx.status().ToString();
  Status s = (*idx)->AddBatch(d.base.data, d.ids, threads);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return std::move(*idx);
}

// recall@k of the HNSW index against exact search.
double Recall(const HnswIndex& idx, const Data& d, Metric metric, size_t k, size_t ef) {
  auto flat = FlatIndex::Create(static_cast<uint32_t>(d.base.dim), metric);
  EXPECT_TRUE((*flat)->AddBatch(d.base.data, d.ids).ok());
  std::vector<Neighbor> truth(d.queries.rows * k);
  EXPECT_TRUE((*flat)->SearchBatch(d.queries.data, k, truth).ok());
  size_t hit = 0;
  std::vector<Neighbor> out(k);
  for (size_t q = 0; q < d.queries.rows; ++q) {
    auto n = idx.Search({d.queries.row(q), d.queries.dim}, k, ef, out);
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    EXPECT_EQ(*n, k);
    std::set<VectorId> want;
    for (size_t i = 0; i < k; ++i) want.insert(truth[q * k + i].id);
    for (size_t i = 0; i < *n; ++i) hit += want.count(out[i].id);
    for (size_t i = 1; i < *n; ++i) EXPECT_LE(out[i - 1].distance, out[i].distance);
  }
  return static_cast<double>(hit) / static_cast<double>(d.queries.rows * k);
}

TEST(HnswTest, RecallL2IsHighAndGrowsWithEf) {
  Data d = MakeData(5000, 100, 32, 1);
  auto idx = Build(d, Metric::kL2, 1);
  double low = Recall(*idx, d, Metric::kL2, 10, 10);
  double high = Recall(*idx, d, Metric::kL2, 10, 200);
  EXPECT_GE(high, 0.99);
  EXPECT_GE(high, low);
}

TEST(HnswTest, RecallInnerProductAndCosine) {
  Data d = MakeData(3000, 50, 24, 2);
  for (Metric m : {Metric::kInnerProduct, Metric::kCosine}) {
    auto idx = Build(d, m, 1);
    EXPECT_GE(Recall(*idx, d, m, 10, 200), 0.95) << MetricName(m);
  }
}

TEST(HnswTest, DistancesMatchMetricDefinition) {
  Data d = MakeData(500, 5, 16, 3);
  for (Metric m : {Metric::kL2, Metric::kInnerProduct, Metric::kCosine}) {
    auto idx = Build(d, m, 1);
    auto r = idx->Search({d.queries.row(0), 16}, 5, 50);
    ASSERT_TRUE(r.ok());
    for (const Neighbor& nb : *r) {
      size_t row = (nb.id - 7) / 1000003ull;
      const float* v = d.base.row(row);
      const float* q = d.queries.row(0);
      double dot = 0, l2 = 0, nv = 0, nq = 0;
      for (size_t j = 0; j < 16; ++j) {
        dot += double(q[j]) * v[j];
        l2 += (double(q[j]) - v[j]) * (double(q[j]) - v[j]);
        nv += double(v[j]) * v[j];
        nq += double(q[j]) * q[j];
      }
      double want = m == Metric::kL2             ? l2
                    : m == Metric::kInnerProduct ? 1.0 - dot
                                                 : 1.0 - dot / std::sqrt(nv * nq);
      EXPECT_NEAR(nb.distance, want, 1e-3 * std::max(1.0, std::fabs(want))) << MetricName(m);
    }
  }
}

TEST(HnswTest, GraphInvariantsHoldAfterBuild) {
  Data d = MakeData(4000, 1, 16, 4);
  for (int threads : {1, 2}) {
    auto idx = Build(d, Metric::kL2, threads, 8, 64);
    GraphReport r = idx->CheckGraph();
    EXPECT_EQ(r.nodes, 4000u);
    EXPECT_EQ(r.reachable, r.nodes) << "threads=" << threads;
    EXPECT_EQ(r.degree_violations, 0u);
    EXPECT_EQ(r.self_loops, 0u);
    EXPECT_EQ(r.duplicate_edges, 0u);
    EXPECT_EQ(r.invalid_edges, 0u);
    EXPECT_GE(r.max_level, 1u);
    EXPECT_TRUE(r.ok());
  }
}

TEST(HnswTest, SingleThreadBuildIsDeterministic) {
  Data d = MakeData(2000, 20, 16, 5);
  auto a = Build(d, Metric::kL2, 1);
  auto b = Build(d, Metric::kL2, 1);
  for (size_t q = 0; q < d.queries.rows; ++q) {
    auto ra = a->Search({d.queries.row(q), 16}, 10, 40);
    auto rb = b->Search({d.queries.row(q), 16}, 10, 40);
    ASSERT_TRUE(ra.ok() && rb.ok());
    ASSERT_EQ(ra->size(), rb->size());
    for (size_t i = 0; i < ra->size(); ++i) EXPECT_EQ((*ra)[i].id, (*rb)[i].id);
  }
}

TEST(HnswTest, ParallelBuildRecallWithinHalfPointOfSerial) {
  Data d = MakeData(8000, 200, 32, 6);
  auto serial = Build(d, Metric::kL2, 1);
  auto parallel = Build(d, Metric::kL2, 2);
  for (size_t ef : {16, 64}) {
    double rs = Recall(*serial, d, Metric::kL2, 10, ef);
    double rp = Recall(*parallel, d, Metric::kL2, 10, ef);
    EXPECT_GE(rp, rs - 0.005) << "ef=" << ef;
  }
}

TEST(HnswTest, EveryStoredVectorFindsItself) {
  Data d = MakeData(3000, 1, 16, 7);
  auto idx = Build(d, Metric::kL2, 2);
  size_t found = 0;
  for (size_t i = 0; i < d.base.rows; ++i) {
    auto r = idx->Search({d.base.row(i), 16}, 1, 32);
    ASSERT_TRUE(r.ok());
    found += (*r)[0].id == d.ids[i] || (*r)[0].distance == 0.0f;
  }
  EXPECT_GE(found, d.base.rows * 999 / 1000);
}

TEST(HnswTest, BadInputIsRejectedWithClearErrors) {
  HnswOptions o;
  o.dim = 0;
  EXPECT_TRUE(HnswIndex::Create(o).status().IsInvalidArgument());
  o.dim = 4;
  o.M = 1;
  EXPECT_TRUE(HnswIndex::Create(o).status().IsInvalidArgument());
  o.M = 8;
  auto idx = std::move(*HnswIndex::Create(o));

  std::vector<float> q = {1, 2, 3, 4};
  Neighbor out[4];
  // Empty index.
  EXPECT_EQ(idx->Search(q, 1, 10, out).status().code(), StatusCode::kFailedPrecondition);

  EXPECT_TRUE(idx->Add(1, q).ok());
  EXPECT_EQ(idx->Add(1, q).code(), StatusCode::kAlreadyExists);
  std::vector<float> wrong = {1, 2, 3};
  EXPECT_TRUE(idx->Add(2, wrong).IsInvalidArgument());
  std::vector<float> nan = {1, std::numeric_limits<float>::quiet_NaN(), 3, 4};
  std::vector<float> inf = {1, 2, std::numeric_limits<float>::infinity(), 4};
  EXPECT_TRUE(idx->Add(3, nan).IsInvalidArgument());
  EXPECT_TRUE(idx->Add(4, inf).IsInvalidArgument());
  EXPECT_EQ(idx->size(), 1u);

  EXPECT_TRUE(idx->Search(q, 0, 10, out).status().IsInvalidArgument());      // k = 0
  EXPECT_TRUE(idx->Search(q, 2, 10, out).status().IsInvalidArgument());      // k > size
  EXPECT_TRUE(idx->Search(wrong, 1, 10, out).status().IsInvalidArgument());  // wrong dim
  EXPECT_TRUE(idx->Search(nan, 1, 10, out).status().IsInvalidArgument());
  EXPECT_TRUE(idx->Search(q, 1, 10, std::span<Neighbor>(out, 0)).status().IsInvalidArgument());
  auto ok = idx->Search(q, 1, 10, out);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(out[0].id, 1u);

  // A batch with a bad row adds nothing.
  std::vector<float> batch = {0, 0, 0, 1, 0, 0, 0, std::numeric_limits<float>::quiet_NaN()};
  std::vector<VectorId> ids = {10, 11};
  EXPECT_TRUE(idx->AddBatch(batch, ids).IsInvalidArgument());
  EXPECT_EQ(idx->size(), 1u);
  std::vector<VectorId> dup = {12, 12};
  batch[7] = 1;
  EXPECT_TRUE(idx->AddBatch(batch, dup).IsInvalidArgument());
  EXPECT_EQ(idx->size(), 1u);

  // Cosine rejects zero vectors.
  o.metric = Metric::kCosine;
  auto cos = std::move(*HnswIndex::Create(o));
  std::vector<float> zero(4, 0.0f);
  EXPECT_TRUE(cos->Add(1, zero).IsInvalidArgument());
}

TEST(HnswTest, GetVectorAndGrowthPreserveData) {
  Data d = MakeData(1000, 1, 8, 8);
  HnswOptions o;
  o.dim = 8;
  o.initial_capacity = 1;  // force many reallocations
  auto idx = std::move(*HnswIndex::Create(o));
  for (size_t i = 0; i < d.base.rows; ++i) {
    ASSERT_TRUE(idx->Add(d.ids[i], {d.base.row(i), 8}).ok());
  }
  EXPECT_GE(idx->capacity(), 1000u);
  std::vector<float> v(8);
  for (size_t i = 0; i < d.base.rows; i += 37) {
    ASSERT_TRUE(idx->GetVector(d.ids[i], v).ok());
    for (size_t j = 0; j < 8; ++j) EXPECT_EQ(v[j], d.base.row(i)[j]);
  }
  EXPECT_TRUE(idx->GetVector(5, v).IsNotFound());
  EXPECT_TRUE(idx->CheckGraph().ok());
}

TEST(HnswTest, BatchSearchEqualsSingleSearch) {
  Data d = MakeData(3000, 64, 16, 9);
  auto idx = Build(d, Metric::kL2, 1);
  const size_t k = 10;
  std::vector<Neighbor> out(d.queries.rows * k);
  std::vector<uint32_t> counts(d.queries.rows);
  ASSERT_TRUE(idx->SearchBatch(d.queries.data, k, 50, out, counts, 2).ok());
  for (size_t q = 0; q < d.queries.rows; ++q) {
    auto r = idx->Search({d.queries.row(q), 16}, k, 50);
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(counts[q], r->size());
    for (size_t i = 0; i < k; ++i) EXPECT_EQ(out[q * k + i].id, (*r)[i].id);
  }
}

TEST(HnswTest, SearchesRunDuringInserts) {
  // Readers search while a writer inserts (and the index grows). Searches
  // must never fail and must only return ids that were inserted.
  Data d = MakeData(4000, 10, 16, 10);
  HnswOptions o;
  o.dim = 16;
  o.ef_construction = 40;
  auto idx = std::move(*HnswIndex::Create(o));
  ASSERT_TRUE(idx->Add(d.ids[0], {d.base.row(0), 16}).ok());
  std::atomic<bool> stop{false};
  std::atomic<size_t> searches{0};
  std::atomic<bool> bad{false};
  std::thread reader([&] {
    SearchContext ctx;
    Neighbor out[5];
    size_t q = 0;
    while (!stop.load()) {
      auto r = idx->Search({d.queries.row(q % d.queries.rows), 16}, 1, 20, out, &ctx);
      if (!r.ok() || *r != 1 || (out[0].id - 7) % 1000003ull != 0) bad = true;
      ++q;
      searches.fetch_add(1);
    }
  });
  for (size_t i = 1; i < d.base.rows; ++i) {
    ASSERT_TRUE(idx->Add(d.ids[i], {d.base.row(i), 16}).ok());
  }
  stop = true;
  reader.join();
  EXPECT_FALSE(bad.load());
  EXPECT_GT(searches.load(), 0u);
  EXPECT_TRUE(idx->CheckGraph().ok());
}

TEST(FlatIndexTest, ExactSearchAndErrors) {
  auto flat = std::move(*FlatIndex::Create(2, Metric::kL2));
  std::vector<float> v = {0, 0, 1, 0, 0, 2, 3, 3};
  std::vector<VectorId> ids = {10, 11, 12, 13};
  ASSERT_TRUE(flat->AddBatch(v, ids).ok());
  std::vector<float> q = {0.9f, 0.1f};
  Neighbor out[3];
  ASSERT_TRUE(flat->Search(q, 3, out).ok());
  EXPECT_EQ(out[0].id, 11u);
  EXPECT_EQ(out[1].id, 10u);
  EXPECT_EQ(out[2].id, 12u);
  EXPECT_NEAR(out[0].distance, 0.02f, 1e-6);
  EXPECT_TRUE(flat->Search(q, 5, out).IsInvalidArgument());
  EXPECT_TRUE(flat->Search(q, 0, out).IsInvalidArgument());
  std::vector<float> bad = {1};
  EXPECT_TRUE(flat->Search(bad, 1, out).IsInvalidArgument());
  auto empty = std::move(*FlatIndex::Create(2, Metric::kL2));
  EXPECT_EQ(empty->Search(q, 1, out).code(), StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace omendb
