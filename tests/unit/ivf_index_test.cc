// IvfIndex: flat (nlist = 1) and IVF scans over RaBitQ codes with
// bound-driven exact re-ranking. Recall against FlatIndex ground truth,
// exact distances, IVF with every list probed equals the flat scan, recall
// grows with nprobe, far fewer full vectors read than stored, incremental
// adds, input errors, concurrent searches.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <thread>
#include <tuple>
#include <vector>

#include "omendb/flat_index.h"
#include "omendb/ivf_index.h"
#include "testutil/testutil.h"

namespace omendb {
namespace {

constexpr size_t kDim = 96;
constexpr size_t kN = 20000;
constexpr size_t kQueries = 100;
constexpr size_t kK = 10;

// Clustered Gaussian data (testutil::ClusteredData): 50 centres, the same
// for every seed.
std::vector<float> Clustered(size_t n, uint64_t seed, float sigma = 0.35f) {
  return testutil::ClusteredData(n, kDim, seed, 50, sigma, 0x1f5eed);
}

const std::vector<float>& Base() {
  static const std::vector<float> b = Clustered(kN, 1);
  return b;
}
const std::vector<float>& Queries() {
  static const std::vector<float> q = Clustered(kQueries, 2);
  return q;
}
std::vector<VectorId> Ids(size_t n, VectorId first = 0) {
  std::vector<VectorId> ids(n);
  std::iota(ids.begin(), ids.end(), first);
  return ids;
}

// Exact top-k of every query (FlatIndex), cached per metric.
const std::vector<Neighbor>& Truth(Metric m) {
  static std::map<Metric, std::vector<Neighbor>> cache;
  auto it = cache.find(m);
  if (it != cache.end()) return it->second;
  auto flat = FlatIndex::Create(kDim, m);
  EXPECT_TRUE(flat.ok());
  EXPECT_TRUE((*flat)->AddBatch(Base(), Ids(kN)).ok());
  std::vector<Neighbor> out(kQueries * kK);
  EXPECT_TRUE((*flat)->SearchBatch(Queries(), kK, out, 0).ok());
  return cache.emplace(m, std::move(out)).first->second;
}

std::unique_ptr<IvfIndex> Build(Metric m, uint8_t bits, uint32_t nlist) {
  IvfOptions o;
  o.dim = kDim;
  o.metric = m;
  o.quant = {QuantKind::kRaBitQ, bits};
  o.nlist = nlist;
  auto r = IvfIndex::Create(o);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  auto index = std::move(*r);
  const Status s = index->AddBatch(Base(), Ids(kN));
  EXPECT_TRUE(s.ok()) << s.ToString();
  return index;
}

struct RunResult {
  double recall = 0;
  double reranked_per_query = 0;
  double scanned_per_query = 0;
  std::vector<Neighbor> hits;  // kQueries * kK
};

RunResult RunQueries(const IvfIndex& index, Metric m, const IvfSearchParams& p) {
  RunResult r;
  r.hits.resize(kQueries * kK);
  const auto& truth = Truth(m);
  size_t found = 0;
  uint64_t reranked = 0, scanned = 0;
  for (size_t i = 0; i < kQueries; ++i) {
    IvfSearchStats st;
    std::span<Neighbor> out(r.hits.data() + i * kK, kK);
    auto n = index.Search(std::span<const float>(Queries().data() + i * kDim, kDim), kK, p, out,
                          &st);
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    if (!n.ok()) continue;
    EXPECT_EQ(*n, kK);
    reranked += st.reranked;
    scanned += st.codes_scanned;
    for (size_t j = 0; j < *n; ++j) {
      for (size_t t = 0; t < kK; ++t) {
        if (truth[i * kK + t].id == out[j].id) {
          ++found;
          break;
        }
      }
    }
  }
  r.recall = static_cast<double>(found) / static_cast<double>(kQueries * kK);
  r.reranked_per_query = static_cast<double>(reranked) / kQueries;
  r.scanned_per_query = static_cast<double>(scanned) / kQueries;
  return r;
}

class IvfFlatTest : public ::testing::TestWithParam<std::tuple<Metric, int>> {};

// A flat scan (nlist = 1) with bound-driven re-ranking finds the true
// neighbours, returns their exact distances sorted (ties by id), and reads
// only a small fraction of the full-precision vectors.
TEST_P(IvfFlatTest, RecallExactDistancesAndFewReads) {
  const Metric m = std::get<0>(GetParam());
  const auto bits = static_cast<uint8_t>(std::get<1>(GetParam()));
  auto index = Build(m, bits, 1);
  ASSERT_EQ(index->size(), kN);
  ASSERT_EQ(index->nlist(), 1u);
  const RunResult r = RunQueries(*index, m, IvfSearchParams{1, 0});
  EXPECT_GE(r.recall, 0.99) << MetricName(m) << " rabitq:" << int{bits};
  EXPECT_DOUBLE_EQ(r.scanned_per_query, static_cast<double>(kN));
  EXPECT_LT(r.reranked_per_query, kN / 10.0) << "bound-driven re-rank read too many vectors";
  for (size_t i = 0; i < kQueries; ++i) {
    for (size_t j = 0; j < kK; ++j) {
      const Neighbor& h = r.hits[i * kK + j];
      ASSERT_LT(h.id, kN);
      const float want = testutil::ExactDistance(Queries().data() + i * kDim,
                                                 Base().data() + h.id * kDim, kDim, m);
      EXPECT_NEAR(h.distance, want, 1e-4f * std::max(1.0f, std::fabs(want)));
      if (j > 0) {
        const Neighbor& prev = r.hits[i * kK + j - 1];
        EXPECT_TRUE(prev.distance < h.distance || (prev.distance == h.distance && prev.id < h.id));
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Ivf, IvfFlatTest,
    ::testing::Combine(::testing::Values(Metric::kL2, Metric::kInnerProduct, Metric::kCosine),
                       ::testing::Values(1, 4)),
    [](const ::testing::TestParamInfo<IvfFlatTest::ParamType>& p) {
      return std::string(MetricName(std::get<0>(p.param))) + "_rabitq" +
             std::to_string(std::get<1>(p.param));
    });

// IVF: probing every list gives the flat scan's results; recall grows with
// nprobe; a fixed re-rank count re-ranks exactly that many.
TEST(IvfIndexTest, IvfProbesMatchFlatAndRecallGrows) {
  auto flat = Build(Metric::kL2, 4, 1);
  auto ivf = Build(Metric::kL2, 4, 64);
  ASSERT_EQ(ivf->nlist(), 64u);
  const RunResult rf = RunQueries(*flat, Metric::kL2, IvfSearchParams{1, 0});
  const RunResult all = RunQueries(*ivf, Metric::kL2, IvfSearchParams{64, 0});
  size_t same = 0;
  for (size_t i = 0; i < rf.hits.size(); ++i) {
    same += rf.hits[i].id == all.hits[i].id && rf.hits[i].distance == all.hits[i].distance;
  }
  EXPECT_GE(same, rf.hits.size() - 2) << "IVF with nprobe = nlist differs from the flat scan";
  EXPECT_GE(all.recall, 0.99);

  double prev = 0;
  std::vector<double> recalls;
  for (uint32_t nprobe : {1u, 2u, 4u, 16u, 64u}) {
    const RunResult r = RunQueries(*ivf, Metric::kL2, IvfSearchParams{nprobe, 0});
    EXPECT_GE(r.recall, prev - 0.005) << "nprobe " << nprobe;
    EXPECT_LE(r.scanned_per_query, kN);
    prev = r.recall;
    recalls.push_back(r.recall);
  }
  EXPECT_LT(recalls.front(), recalls.back());
  // Probing few lists scans few codes.
  const RunResult one = RunQueries(*ivf, Metric::kL2, IvfSearchParams{1, 0});
  EXPECT_LT(one.scanned_per_query, kN / 8.0);

  const RunResult fixed = RunQueries(*ivf, Metric::kL2, IvfSearchParams{64, 40});
  EXPECT_DOUBLE_EQ(fixed.reranked_per_query, 40.0);
  EXPECT_GE(fixed.recall, 0.9);
}

// Adding in small batches after an explicit Train (partial FastScan blocks
// repacked) gives the same results as one batch; nlist = 0 picks ~4 sqrt(n).
TEST(IvfIndexTest, IncrementalAddsMatchOneBatch) {
  constexpr size_t n = 3000;
  const std::vector<float> base(Base().begin(), Base().begin() + n * kDim);
  IvfOptions o;
  o.dim = kDim;
  o.nlist = 0;
  auto one = std::move(*IvfIndex::Create(o));
  ASSERT_TRUE(one->AddBatch(base, Ids(n)).ok());
  EXPECT_EQ(one->nlist(), static_cast<uint32_t>(std::lround(4 * std::sqrt(double{n}))));

  auto inc = std::move(*IvfIndex::Create(o));
  ASSERT_TRUE(inc->Train(base).ok());
  EXPECT_TRUE(inc->trained());
  for (size_t first = 0; first < n;) {
    const size_t cnt = std::min<size_t>(n - first, 7 + first % 45);
    ASSERT_TRUE(inc->AddBatch(std::span<const float>(base.data() + first * kDim, cnt * kDim),
                              Ids(cnt, first))
                    .ok());
    first += cnt;
  }
  ASSERT_EQ(inc->size(), n);
  EXPECT_EQ(inc->Memory().code_bytes, one->Memory().code_bytes);
  std::vector<Neighbor> a(kK), b(kK);
  for (size_t i = 0; i < 20; ++i) {
    const std::span<const float> q(Queries().data() + i * kDim, kDim);
    for (uint32_t nprobe : {1u, 8u, 1000u}) {
      auto ra = one->Search(q, kK, {nprobe, 0}, a);
      auto rb = inc->Search(q, kK, {nprobe, 0}, b);
      ASSERT_TRUE(ra.ok() && rb.ok());
      ASSERT_EQ(*ra, *rb);
      for (size_t j = 0; j < *ra; ++j) {
        EXPECT_EQ(a[j].id, b[j].id);
        EXPECT_EQ(a[j].distance, b[j].distance);
      }
    }
  }
  const IvfMemory mem = inc->Memory();
  EXPECT_EQ(mem.rerank_bytes, n * kDim * sizeof(float));
  // Dp = 128, B = 4: the code (16-byte factors, 64 bytes of bits, 16 bytes
  // of the sign plane's factors); 16 bytes of FastScan block and 16 of 1-bit
  // factors in the list's own array.
  EXPECT_EQ(mem.code_bytes_per_vector, 16u + 16u + 96u);
}

TEST(IvfIndexTest, BadInputs) {
  IvfOptions o;
  o.dim = 0;
  EXPECT_TRUE(IvfIndex::Create(o).status().IsInvalidArgument());
  o.dim = 65537;
  EXPECT_TRUE(IvfIndex::Create(o).status().IsInvalidArgument());
  o.dim = 8;
  for (Quantization q : {Quantization{QuantKind::kNone, 0}, Quantization{QuantKind::kFp16, 0},
                         Quantization{QuantKind::kSq8, 0}, Quantization{QuantKind::kRaBitQ, 0},
                         Quantization{QuantKind::kRaBitQ, 10}}) {
    o.quant = q;
    EXPECT_TRUE(IvfIndex::Create(o).status().IsInvalidArgument()) << QuantizationName(q);
  }
  o.quant = {QuantKind::kRaBitQ, 2};
  o.metric = static_cast<Metric>(7);
  EXPECT_TRUE(IvfIndex::Create(o).status().IsInvalidArgument());
  o.metric = Metric::kCosine;
  auto index = std::move(*IvfIndex::Create(o));

  std::vector<Neighbor> out(4);
  const std::vector<float> q(8, 0.5f);
  EXPECT_EQ(index->Search(q, 1, {}, out).status().code(), StatusCode::kFailedPrecondition);

  EXPECT_TRUE(index->Train({}).IsInvalidArgument());
  EXPECT_TRUE(index->Train(std::vector<float>(12, 1.0f)).IsInvalidArgument());
  std::vector<float> rows(8 * 40, 1.0f);
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<float>(i % 13) - 6.0f;
  std::vector<float> bad = rows;
  bad[17] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(index->Train(bad).IsInvalidArgument());
  std::vector<float> zero = rows;
  std::fill(zero.begin() + 8, zero.begin() + 16, 0.0f);
  EXPECT_TRUE(index->Train(zero).IsInvalidArgument());  // zero row under cosine
  EXPECT_FALSE(index->trained());

  EXPECT_TRUE(index->AddBatch(rows, Ids(39)).IsInvalidArgument());
  EXPECT_TRUE(index->AddBatch(bad, Ids(40)).IsInvalidArgument());
  EXPECT_EQ(index->size(), 0u);
  ASSERT_TRUE(index->AddBatch(rows, Ids(40)).ok());
  EXPECT_TRUE(index->trained());
  EXPECT_EQ(index->Train(rows).code(), StatusCode::kFailedPrecondition);

  EXPECT_TRUE(index->Search(std::vector<float>(7, 1.0f), 1, {}, out).status().IsInvalidArgument());
  EXPECT_TRUE(index->Search(q, 0, {}, out).status().IsInvalidArgument());
  EXPECT_TRUE(index->Search(q, 41, {}, out).status().IsInvalidArgument());
  EXPECT_TRUE(index->Search(q, 5, {}, out).status().IsInvalidArgument());  // out holds 4
  EXPECT_TRUE(index->Search(q, 1, {0, 0}, out).status().IsInvalidArgument());
  EXPECT_TRUE(index->Search(std::vector<float>(8, 0.0f), 1, {}, out).status().IsInvalidArgument());
  bad.resize(8);
  bad[3] = std::numeric_limits<float>::infinity();
  EXPECT_TRUE(index->Search(bad, 1, {}, out).status().IsInvalidArgument());
  auto ok = index->Search(q, 4, {}, out);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(*ok, 4u);

  std::vector<uint32_t> counts(2);
  std::vector<Neighbor> bout(8);
  EXPECT_TRUE(index->SearchBatch(std::vector<float>(12, 1.0f), 4, {}, bout, counts)
                  .IsInvalidArgument());
  EXPECT_TRUE(index->SearchBatch(std::vector<float>(16, 1.0f), 5, {}, bout, counts)
                  .IsInvalidArgument());
}

// Concurrent searches (per-thread scratch) return the single-threaded
// results; SearchBatch agrees too. Run under TSan as well.
TEST(IvfIndexTest, ConcurrentSearches) {
  constexpr size_t n = 4000;
  const std::vector<float> base(Base().begin(), Base().begin() + n * kDim);
  IvfOptions o;
  o.dim = kDim;
  o.metric = Metric::kInnerProduct;
  o.nlist = 16;
  auto index = std::move(*IvfIndex::Create(o));
  ASSERT_TRUE(index->AddBatch(base, Ids(n)).ok());
  const IvfSearchParams p{4, 0};
  std::vector<Neighbor> want(kQueries * kK);
  for (size_t i = 0; i < kQueries; ++i) {
    auto r = index->Search(std::span<const float>(Queries().data() + i * kDim, kDim), kK, p,
                           std::span<Neighbor>(want.data() + i * kK, kK));
    ASSERT_TRUE(r.ok());
  }
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::vector<Neighbor> got(kK);
      for (size_t rep = 0; rep < 2; ++rep) {
        for (size_t i = static_cast<size_t>(t); i < kQueries; i += 2) {
          auto r = index->Search(std::span<const float>(Queries().data() + i * kDim, kDim), kK, p,
                                 got);
          if (!r.ok() || *r != kK) {
            ++mismatches[t];
            continue;
          }
          for (size_t j = 0; j < kK; ++j) mismatches[t] += got[j].id != want[i * kK + j].id;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;

  std::vector<Neighbor> batch(kQueries * kK);
  std::vector<uint32_t> counts(kQueries);
  ASSERT_TRUE(index->SearchBatch(Queries(), kK, p, batch, counts, 3).ok());
  for (size_t i = 0; i < kQueries; ++i) {
    ASSERT_EQ(counts[i], kK);
    for (size_t j = 0; j < kK; ++j) EXPECT_EQ(batch[i * kK + j].id, want[i * kK + j].id);
  }
}

}  // namespace
}  // namespace omendb
