// Removal (MN-RU repair), churn and filtered search on the HNSW index.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <random>
#include <thread>
#include <set>
#include <unordered_map>
#include <vector>

#include "omendb/hnsw_index.h"
#include "util/dataset.h"

namespace omendb {
namespace {

constexpr size_t kDim = 24;

// Exact top-k among `live` (id -> row of `m`).
std::vector<VectorId> BruteForce(const util::Matrix& m,
                                 const std::unordered_map<VectorId, size_t>& live,
                                 const float* q, size_t k,
                                 const std::function<bool(VectorId)>& pass = nullptr) {
  std::vector<std::pair<float, VectorId>> all;
  for (const auto& [id, row] : live) {
    if (pass && !pass(id)) continue;
    float d = 0;
    for (size_t j = 0; j < kDim; ++j) {
      float t = q[j] - m.row(row)[j];
      d += t * t;
    }
    all.emplace_back(d, id);
  }
  size_t n = std::min(k, all.size());
  std::partial_sort(all.begin(), all.begin() + n, all.end());
  std::vector<VectorId> out;
  for (size_t i = 0; i < n; ++i) out.push_back(all[i].second);
  return out;
}

struct ChurnFixture {
  util::Matrix data = util::GenerateClustered(12000, kDim, 60, 1.0f, 21);
  util::Matrix queries = util::GenerateClustered(100, kDim, 60, 1.0f, 22);

  // An index over the first n rows with ids 0..n-1 (M 16, efConstruction
  // 100); *live maps each id to its row. Null on failure.
  std::unique_ptr<HnswIndex> Build(size_t n, int threads, std::vector<VectorId>* ids,
                                   std::unordered_map<VectorId, size_t>* live) const {
    HnswOptions o;
    o.dim = kDim;
    o.ef_construction = 100;
    auto idx = std::move(*HnswIndex::Create(o));
    ids->resize(n);
    for (size_t i = 0; i < n; ++i) {
      (*ids)[i] = i;
      (*live)[i] = i;
    }
    if (!idx->AddBatch({data.data.data(), n * kDim}, *ids, threads).ok()) return nullptr;
    return idx;
  }
};

double Recall(const HnswIndex& idx, const util::Matrix& data,
              const std::unordered_map<VectorId, size_t>& live, const util::Matrix& queries,
              size_t ef) {
  size_t hit = 0, total = 0;
  for (size_t q = 0; q < queries.rows; ++q) {
    auto want = BruteForce(data, live, queries.row(q), 10);
    auto got = idx.Search({queries.row(q), kDim}, 10, ef);
    EXPECT_TRUE(got.ok());
    EXPECT_EQ(got->size(), 10u);
    std::set<VectorId> w(want.begin(), want.end());
    for (const Neighbor& n : *got) {
      EXPECT_TRUE(live.count(n.id)) << "search returned removed id " << n.id;
      hit += w.count(n.id);
    }
    total += want.size();
  }
  return static_cast<double>(hit) / static_cast<double>(total);
}

TEST(HnswUpdateTest, RemovedIdsAreNeverReturnedAndKResultsRemain) {
  ChurnFixture f;
  const size_t n = 4000;
  std::vector<VectorId> ids;
  std::unordered_map<VectorId, size_t> live;
  auto idx = f.Build(n, 2, &ids, &live);
  ASSERT_TRUE(idx != nullptr);
  std::mt19937_64 rng(5);
  std::shuffle(ids.begin(), ids.end(), rng);
  for (size_t i = 0; i < n / 2; ++i) {
    ASSERT_TRUE(idx->Remove(ids[i]).ok());
    live.erase(ids[i]);
  }
  EXPECT_TRUE(idx->Remove(ids[0]).IsNotFound());
  EXPECT_EQ(idx->size(), n / 2);
  EXPECT_EQ(idx->deleted_count(), n / 2);
  EXPECT_FALSE(idx->Contains(ids[0]));
  EXPECT_GE(Recall(*idx, f.data, live, f.queries, 100), 0.95);
  GraphReport r = idx->CheckGraph();
  EXPECT_EQ(r.nodes, n / 2);
  EXPECT_EQ(r.deleted, n / 2);
  EXPECT_EQ(r.self_loops + r.duplicate_edges + r.degree_violations + r.invalid_edges, 0u);
  // A removed id can be added again.
  ASSERT_TRUE(idx->Add(ids[0], {f.data.row(ids[0]), kDim}).ok());
  auto hit = idx->Search({f.data.row(ids[0]), kDim}, 1, 50);
  ASSERT_TRUE(hit.ok());
  EXPECT_EQ((*hit)[0].id, ids[0]);
}

TEST(HnswUpdateTest, ChurnKeepsGraphReachableAndRecallCloseToRebuild) {
  // 50 rounds each replacing 2% of the vectors with new ones (remove + add),
  // as in MN-RU's evaluation protocol (algorithms.md 3.6).
  ChurnFixture f;
  const size_t n = 5000;
  std::vector<VectorId> ids;
  std::unordered_map<VectorId, size_t> live;
  auto idx = f.Build(n, 1, &ids, &live);
  ASSERT_TRUE(idx != nullptr);
  std::mt19937_64 rng(9);
  size_t next_row = n;
  VectorId next_id = n;
  for (int round = 0; round < 50; ++round) {
    std::vector<VectorId> current;
    for (const auto& [id, row] : live) current.push_back(id);
    std::sort(current.begin(), current.end());
    std::shuffle(current.begin(), current.end(), rng);
    for (size_t i = 0; i < n / 50; ++i) {
      ASSERT_TRUE(idx->Remove(current[i]).ok());
      live.erase(current[i]);
      size_t row = next_row++ % f.data.rows;
      ASSERT_TRUE(idx->Add(next_id, {f.data.row(row), kDim}).ok());
      live[next_id++] = row;
    }
  }
  GraphReport r = idx->CheckGraph();
  EXPECT_EQ(r.nodes, n);
  EXPECT_GE(r.reachable * 10000, r.nodes * 9995) << "unreachable: " << r.nodes - r.reachable;
  EXPECT_EQ(r.self_loops + r.duplicate_edges + r.degree_violations + r.invalid_edges, 0u);

  // A fresh build over the same live set, same ef.
  auto fresh = std::move(*HnswIndex::Create(idx->options()));
  for (const auto& [id, row] : live) ASSERT_TRUE(fresh->Add(id, {f.data.row(row), kDim}).ok());
  for (size_t ef : {20, 64}) {
    double churned = Recall(*idx, f.data, live, f.queries, ef);
    double rebuilt = Recall(*fresh, f.data, live, f.queries, ef);
    EXPECT_GE(churned, rebuilt - 0.01) << "ef=" << ef;
  }
}

TEST(HnswUpdateTest, FilteredSearchReturnsKMatchesWithHighRecall) {
  ChurnFixture f;
  const size_t n = 10000;
  std::vector<VectorId> ids;
  std::unordered_map<VectorId, size_t> live;
  auto idx = f.Build(n, 2, &ids, &live);
  ASSERT_TRUE(idx != nullptr);
  // Pass fractions 50%, 10%, 1% by a hash of the id (uncorrelated with position).
  for (uint64_t modulus : {2u, 10u, 100u}) {
    auto pass = [modulus](VectorId id) { return (id * 2654435761u >> 7) % modulus == 0; };
    size_t hit = 0, total = 0;
    std::vector<Neighbor> out(10);
    for (size_t q = 0; q < f.queries.rows; ++q) {
      auto want = BruteForce(f.data, live, f.queries.row(q), 10, pass);
      auto got = idx->SearchFiltered({f.queries.row(q), kDim}, 10, 64, pass, out,
                                     1.0 / static_cast<double>(modulus));
      ASSERT_TRUE(got.ok());
      ASSERT_EQ(*got, std::min<size_t>(10, want.size()));
      std::set<VectorId> w(want.begin(), want.end());
      for (size_t i = 0; i < *got; ++i) {
        EXPECT_TRUE(pass(out[i].id));
        hit += w.count(out[i].id);
      }
      total += want.size();
    }
    EXPECT_GE(static_cast<double>(hit) / static_cast<double>(total), 0.95) << "1/" << modulus;
  }
  // Graph walk (no exact fallback) still returns k at 1%.
  auto rare = [](VectorId id) { return id % 100 == 3; };
  std::vector<Neighbor> out(10);
  auto got = idx->SearchFiltered({f.queries.row(0), kDim}, 10, 16, rare, out, 1.0, 0.0);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, 10u);
  for (size_t i = 0; i < *got; ++i) EXPECT_EQ(out[i].id % 100, 3u);
  // Fewer matches than k: all of them.
  auto three = [](VectorId id) { return id < 3; };
  got = idx->SearchFiltered({f.queries.row(0), kDim}, 10, 16, three, out, 1.0, 0.0);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, 3u);
}

TEST(HnswUpdateTest, SearchesRunDuringRemovesAndInserts) {
  // A writer replaces vectors (remove + add) while two readers search. A
  // reader must never fail, and never see an id whose removal finished
  // before its search started.
  ChurnFixture f;
  HnswOptions o;
  o.dim = kDim;
  o.ef_construction = 40;
  auto idx = std::move(*HnswIndex::Create(o));
  const size_t n = 3000;
  std::vector<VectorId> ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = i;
  ASSERT_TRUE(idx->AddBatch({f.data.data.data(), n * kDim}, ids, 2).ok());
  // removed_upto: every id below it has been removed (ids are removed in order).
  std::atomic<VectorId> removed_upto{0};
  std::atomic<bool> stop{false}, bad{false};
  std::string why;  // written once, by the thread that first sets `bad`
  auto reader = [&](size_t seed) {
    SearchContext ctx;
    Neighbor out[10];
    size_t q = seed;
    while (!stop.load()) {
      VectorId floor = removed_upto.load();
      auto r = idx->Search({f.queries.row(q % f.queries.rows), kDim}, 10, 32, out, &ctx);
      if (!r.ok()) {
        if (!bad.exchange(true)) why = "error: " + r.status().ToString();
      } else if (*r != 10) {
        if (!bad.exchange(true)) why = "only " + std::to_string(*r) + " results";
      }
      for (size_t i = 0; r.ok() && i < *r; ++i) {
        if (out[i].id < floor && !bad.exchange(true)) {
          why = "returned id " + std::to_string(out[i].id) + " removed before the search";
        }
      }
      ++q;
    }
  };
  std::thread r1(reader, 0), r2(reader, 50);
  for (VectorId id = 0; id < 600; ++id) {
    ASSERT_TRUE(idx->Remove(id).ok());
    removed_upto.store(id + 1);
    ASSERT_TRUE(idx->Add(100000 + id, {f.data.row(n + id), kDim}).ok());
  }
  stop = true;
  r1.join();
  r2.join();
  EXPECT_FALSE(bad.load()) << why;
  EXPECT_EQ(idx->size(), n);
  GraphReport r = idx->CheckGraph();
  EXPECT_EQ(r.self_loops + r.duplicate_edges + r.degree_violations + r.invalid_edges, 0u);
}

}  // namespace
}  // namespace omendb
