// Save/Load of the HNSW index: exact round trip, and corruption detected.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "omendb/hnsw_index.h"
#include "testutil/testutil.h"
#include "util/dataset.h"

namespace omendb {
namespace {

using testutil::Snapshot;

std::unique_ptr<HnswIndex> Sample(size_t n, Metric metric) {
  util::Matrix m = util::GenerateClustered(n, 16, 10, 1.0f, 3);
  HnswOptions o;
  o.dim = 16;
  o.M = 6;
  o.metric = metric;
  o.ef_construction = 40;
  auto idx = std::move(*HnswIndex::Create(o));
  std::vector<VectorId> ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = 1000 + 7 * i;
  EXPECT_TRUE(idx->AddBatch(m.data, ids, 1).ok());
  return idx;
}

TEST(HnswSnapshotTest, RoundTripGivesIdenticalSearches) {
  for (Metric metric : {Metric::kL2, Metric::kCosine}) {
    auto idx = Sample(2000, metric);
    ASSERT_TRUE(idx->Remove(1000 + 7 * 5).ok());
    std::string snap = Snapshot(*idx);
    auto loaded = HnswIndex::Load(snap);
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    EXPECT_EQ((*loaded)->size(), idx->size());
    EXPECT_EQ((*loaded)->deleted_count(), 1u);
    EXPECT_TRUE((*loaded)->CheckGraph().ok());
    util::Matrix q = util::GenerateClustered(50, 16, 10, 1.0f, 4);
    for (size_t i = 0; i < q.rows; ++i) {
      auto a = idx->Search({q.row(i), 16}, 10, 32);
      auto b = (*loaded)->Search({q.row(i), 16}, 10, 32);
      ASSERT_TRUE(a.ok() && b.ok());
      ASSERT_EQ(a->size(), b->size());
      for (size_t j = 0; j < a->size(); ++j) {
        EXPECT_EQ((*a)[j].id, (*b)[j].id);
        EXPECT_EQ((*a)[j].distance, (*b)[j].distance);
      }
    }
    // Saving the loaded index gives the same bytes.
    EXPECT_EQ(Snapshot(**loaded), snap);
    // The loaded index keeps working for writes.
    std::vector<float> v(16, 0.5f);
    EXPECT_TRUE((*loaded)->Add(1, v).ok());
    EXPECT_TRUE((*loaded)->Add(1000, v).code() == StatusCode::kAlreadyExists);
  }
}

TEST(HnswSnapshotTest, EmptyIndexRoundTrips) {
  HnswOptions o;
  o.dim = 3;
  auto idx = std::move(*HnswIndex::Create(o));
  auto loaded = HnswIndex::Load(Snapshot(*idx));
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ((*loaded)->size(), 0u);
}

TEST(HnswSnapshotTest, EveryTruncationIsCorruption) {
  auto idx = Sample(150, Metric::kL2);
  std::string snap = Snapshot(*idx);
  for (size_t len = 0; len < snap.size(); len += (len < 200 ? 1 : 97)) {
    auto r = HnswIndex::Load(std::string_view(snap.data(), len));
    ASSERT_FALSE(r.ok()) << "length " << len;
    EXPECT_TRUE(r.status().IsCorruption()) << r.status().ToString();
  }
  std::string longer = snap + "x";
  EXPECT_TRUE(HnswIndex::Load(longer).status().IsCorruption());
}

TEST(HnswSnapshotTest, BitFlipsAreDetected) {
  auto idx = Sample(150, Metric::kL2);
  std::string snap = Snapshot(*idx);
  std::mt19937_64 rng(17);
  for (int i = 0; i < 2000; ++i) {
    std::string bad = snap;
    size_t pos = rng() % bad.size();
    bad[pos] = static_cast<char>(bad[pos] ^ (1u << (rng() % 8)));
    auto r = HnswIndex::Load(bad);
    ASSERT_FALSE(r.ok()) << "flip at " << pos;
    EXPECT_TRUE(r.status().IsCorruption() || r.status().code() == StatusCode::kNotSupported);
  }
}

TEST(HnswSnapshotTest, SinkErrorStopsSave) {
  auto idx = Sample(100, Metric::kL2);
  int calls = 0;
  Status s = idx->Save([&](std::string_view) {
    ++calls;
    return calls == 2 ? Status::IOError("disk gone") : Status::OK();
  });
  EXPECT_TRUE(s.IsIOError());
  EXPECT_EQ(calls, 2);
}

}  // namespace
}  // namespace omendb
