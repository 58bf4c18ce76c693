// Behaviour of the database API (include/omendb/db.h): writes, reads,
// searches, persistence across reopen, checkpoints and argument errors.
#include "omendb/db.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <thread>

#include "testutil/testutil.h"

namespace omendb {
namespace {

constexpr uint32_t kDim = 16;

std::unique_ptr<DB> OpenOrDie(const std::string& dir, DbOptions o = {}) {
  auto db = DB::Open(dir, o);
  EXPECT_TRUE(db.ok()) << db.status().ToString();
  return db.ok() ? std::move(*db) : nullptr;
}

Collection* MakeCollection(DB* db, const char* name = "c", uint32_t dim = kDim,
                           Metric metric = Metric::kL2) {
  CollectionOptions co;
  co.dim = dim;
  co.metric = metric;
  co.M = 8;
  co.ef_construction = 64;
  co.quant = testutil::TestQuantization();
  co.quant_train_after = testutil::TestQuantTrainAfter();
  auto c = db->CreateCollection(name, co);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? *c : nullptr;
}

std::vector<VectorId> Iota(size_t n, VectorId start = 0) {
  std::vector<VectorId> ids(n);
  std::iota(ids.begin(), ids.end(), start);
  return ids;
}

TEST(DbTest, UpsertGetSearchDelete) {
  testutil::TempDir tmp;
  auto db = OpenOrDie(tmp.File("db"));
  Collection* c = MakeCollection(db.get());
  auto m = testutil::RandomMatrix(200, kDim, 1);
  std::vector<Metadata> meta(200);
  for (size_t i = 0; i < 200; ++i) meta[i]["bucket"] = int64_t(i % 10);
  ASSERT_TRUE(c->Upsert(Iota(200), m.data, meta).ok());
  EXPECT_EQ(c->size(), 200u);

  auto r = c->Get(17);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->id, 17u);
  EXPECT_EQ(std::vector<float>(m.row(17), m.row(17) + kDim), r->vector);
  EXPECT_EQ(std::get<int64_t>(r->metadata.at("bucket")), 7);
  EXPECT_EQ(c->Get(1000).status().code(), StatusCode::kNotFound);

  SearchOptions so;
  so.k = 5;
  auto hits = c->Search(std::span<const float>(m.row(42), kDim), so);
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits->size(), 5u);
  EXPECT_EQ((*hits)[0].id, 42u);
  EXPECT_FLOAT_EQ((*hits)[0].distance, 0.0f);

  so.filter = Filter::Eq("bucket", int64_t{3});
  hits = c->Search(std::span<const float>(m.row(42), kDim), so);
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits->size(), 5u);
  for (auto& h : *hits) EXPECT_EQ(h.id % 10, 3u);

  std::vector<VectorId> del{42, 43, 9999};
  ASSERT_TRUE(c->Delete(del).ok());
  EXPECT_FALSE(c->Contains(42));
  EXPECT_EQ(c->size(), 198u);
  so.filter = Filter();
  hits = c->Search(std::span<const float>(m.row(42), kDim), so);
  ASSERT_TRUE(hits.ok());
  for (auto& h : *hits) EXPECT_NE(h.id, 42u);
}

TEST(DbTest, ReplaceChangesVectorAndMetadata) {
  testutil::TempDir tmp;
  auto db = OpenOrDie(tmp.File("db"));
  Collection* c = MakeCollection(db.get());
  auto a = testutil::RandomMatrix(50, kDim, 2);
  auto b = testutil::RandomMatrix(50, kDim, 3);
  ASSERT_TRUE(c->Upsert(Iota(50), a.data).ok());
  std::vector<Metadata> meta(50);
  for (auto& x : meta) x["v"] = std::string("new");
  ASSERT_TRUE(c->Upsert(Iota(50), b.data, meta).ok());
  EXPECT_EQ(c->size(), 50u);
  for (VectorId id : {0, 25, 49}) {
    auto r = c->Get(id);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->vector, std::vector<float>(b.row(id), b.row(id) + kDim));
    EXPECT_EQ(std::get<std::string>(r->metadata.at("v")), "new");
  }
}

TEST(DbTest, ReopenReplaysLogAndLoadsCheckpoint) {
  testutil::TempDir tmp;
  const std::string dir = tmp.File("db");
  auto m = testutil::RandomMatrix(300, kDim, 4);
  std::vector<Metadata> meta(300);
  for (size_t i = 0; i < 300; ++i) meta[i]["i"] = int64_t(i);
  {
    auto db = OpenOrDie(dir);
    Collection* c = MakeCollection(db.get());
    const auto first_ids = Iota(100), rest_ids = Iota(200, 100);
    ASSERT_TRUE(c->Upsert(first_ids, std::span(m.data).first(100 * kDim),
                          std::span(meta).first(100)).ok());
    ASSERT_TRUE(db->Checkpoint().ok());
    ASSERT_TRUE(c->Upsert(rest_ids, std::span(m.data).subspan(100 * kDim),
                          std::span(meta).subspan(100)).ok());
    std::vector<VectorId> del{5, 150};
    ASSERT_TRUE(c->Delete(del).ok());
    ASSERT_TRUE(db->Close().ok());
  }
  std::vector<Neighbor> first;
  for (int round = 0; round < 2; ++round) {
    auto db = OpenOrDie(dir);
    auto c = db->GetCollection("c");
    ASSERT_TRUE(c.ok());
    EXPECT_EQ((*c)->size(), 298u);
    EXPECT_FALSE((*c)->Contains(5));
    EXPECT_FALSE((*c)->Contains(150));
    auto r = (*c)->Get(250);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(std::get<int64_t>(r->metadata.at("i")), 250);
    EXPECT_EQ(r->vector, std::vector<float>(m.row(250), m.row(250) + kDim));
    SearchOptions so;
    so.k = 10;
    auto hits = (*c)->Search(std::span<const float>(m.row(7), kDim), so);
    ASSERT_TRUE(hits.ok());
    if (round == 0) {
      first = *hits;
    } else {
      ASSERT_EQ(first.size(), hits->size());
      for (size_t i = 0; i < first.size(); ++i) EXPECT_EQ(first[i].id, (*hits)[i].id);
    }
  }
  // A checkpoint after reopen folds the log into a new checkpoint file.
  auto db = OpenOrDie(dir);
  ASSERT_TRUE(db->Checkpoint().ok());
  auto c = db->GetCollection("c");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ((*c)->size(), 298u);
  db.reset();
  db = OpenOrDie(dir);
  EXPECT_EQ((*db->GetCollection("c"))->size(), 298u);
  auto report = db->Verify();
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok()) << (report->problems.empty() ? "" : report->problems[0]);
}

TEST(DbTest, SecondOpenIsBusy) {
  testutil::TempDir tmp;
  auto db = OpenOrDie(tmp.File("db"));
  auto again = DB::Open(tmp.File("db"));
  EXPECT_EQ(again.status().code(), StatusCode::kBusy);
  ASSERT_TRUE(db->Close().ok());
  auto third = DB::Open(tmp.File("db"));
  EXPECT_TRUE(third.ok());
}

TEST(DbTest, OpenOptions) {
  testutil::TempDir tmp;
  DbOptions no_create;
  no_create.create_if_missing = false;
  EXPECT_EQ(DB::Open(tmp.File("missing"), no_create).status().code(), StatusCode::kNotFound);
  { auto db = OpenOrDie(tmp.File("db")); }
  DbOptions excl;
  excl.error_if_exists = true;
  EXPECT_EQ(DB::Open(tmp.File("db"), excl).status().code(), StatusCode::kAlreadyExists);
}

TEST(DbTest, BadArguments) {
  testutil::TempDir tmp;
  auto db = OpenOrDie(tmp.File("db"));
  CollectionOptions co;
  EXPECT_EQ(db->CreateCollection("x", co).status().code(), StatusCode::kInvalidArgument);
  co.dim = 4;
  EXPECT_EQ(db->CreateCollection("bad/name", co).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(db->CreateCollection("", co).status().code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(db->CreateCollection("x", co).ok());
  EXPECT_EQ(db->CreateCollection("x", co).status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(db->GetCollection("y").status().code(), StatusCode::kNotFound);
  Collection* c = *db->GetCollection("x");
  std::vector<VectorId> ids{1, 2};
  std::vector<float> v(8, 1.0f);
  EXPECT_EQ(c->Upsert(ids, std::span(v).first(7)).code(), StatusCode::kInvalidArgument);
  std::vector<VectorId> dup{1, 1};
  EXPECT_EQ(c->Upsert(dup, v).code(), StatusCode::kInvalidArgument);
  v[3] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(c->Upsert(ids, v).code(), StatusCode::kInvalidArgument);
  v[3] = 1;
  std::vector<Metadata> meta(2);
  meta[1]["$bad"] = int64_t{1};
  EXPECT_EQ(c->Upsert(ids, v, meta).code(), StatusCode::kInvalidArgument);
  std::vector<Metadata> short_meta(1);
  EXPECT_EQ(c->Upsert(ids, v, short_meta).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(c->size(), 0u);  // nothing from a rejected batch was stored

  std::vector<float> q(4, 0.5f);
  SearchOptions so;
  auto empty = c->Search(q, so);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
  so.k = 0;
  EXPECT_EQ(c->Search(q, so).status().code(), StatusCode::kInvalidArgument);
  so.k = 10;
  std::vector<float> q3(3, 0.5f);
  EXPECT_EQ(c->Search(q3, so).status().code(), StatusCode::kInvalidArgument);
  so.filter = Filter::Range("a", int64_t{5}, int64_t{1});
  EXPECT_EQ(c->Search(q, so).status().code(), StatusCode::kInvalidArgument);

  ASSERT_TRUE(c->Upsert(ids, v).ok());
  so.filter = Filter();
  auto few = c->Search(q, so);  // k larger than the collection: all of it
  ASSERT_TRUE(few.ok());
  EXPECT_EQ(few->size(), 2u);

  ASSERT_TRUE(db->Close().ok());
  EXPECT_EQ(c->Upsert(ids, v).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(c->Search(q, so).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(db->Checkpoint().code(), StatusCode::kFailedPrecondition);
}

TEST(DbTest, FilteredSearchReturnsEveryMatchWhenFewerThanK) {
  testutil::TempDir tmp;
  auto db = OpenOrDie(tmp.File("db"));
  Collection* c = MakeCollection(db.get());
  const size_t n = 2000;
  auto m = testutil::RandomMatrix(n, kDim, 5);
  std::vector<Metadata> meta(n);
  for (size_t i = 0; i < n; ++i) meta[i]["rare"] = (i % 500 == 0);
  ASSERT_TRUE(c->Upsert(Iota(n), m.data, meta).ok());
  SearchOptions so;
  so.k = 10;
  so.filter = Filter::Eq("rare", true);
  auto hits = c->Search(std::span<const float>(m.row(1), kDim), so);
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits->size(), 4u);
  for (auto& h : *hits) EXPECT_EQ(h.id % 500, 0u);
  so.filter = Filter::IdIn({3, 5, 7, 1999});
  hits = c->Search(std::span<const float>(m.row(1), kDim), so);
  ASSERT_TRUE(hits.ok());
  EXPECT_EQ(hits->size(), 4u);
}

TEST(DbTest, CompactShrinksFilesAndKeepsContents) {
  testutil::TempDir tmp;
  DbOptions o;
  o.compaction_threshold = 2.0;  // only explicit compaction
  o.sync = SyncMode::kNone;
  auto db = OpenOrDie(tmp.File("db"), o);
  Collection* c = MakeCollection(db.get());
  const size_t n = 1000;
  auto m = testutil::RandomMatrix(n, kDim, 6);
  ASSERT_TRUE(c->Upsert(Iota(n), m.data).ok());
  ASSERT_TRUE(db->Checkpoint().ok());
  const uint64_t before = db->Stats().checkpoint_bytes + db->Stats().log_bytes;
  std::vector<VectorId> del;
  for (VectorId i = 0; i < n; i += 3) del.push_back(i);
  ASSERT_TRUE(c->Delete(del).ok());
  ASSERT_TRUE(db->Compact().ok());
  const uint64_t after = db->Stats().checkpoint_bytes + db->Stats().log_bytes;
  EXPECT_LT(after, before * 0.75) << before << " -> " << after;
  EXPECT_EQ(c->size(), n - del.size());
  EXPECT_EQ(c->Stats().deleted, 0u);
  EXPECT_FALSE(c->Contains(3));
  auto r = c->Get(4);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->vector, std::vector<float>(m.row(4), m.row(4) + kDim));
  db.reset();
  db = OpenOrDie(tmp.File("db"), o);
  EXPECT_EQ((*db->GetCollection("c"))->size(), n - del.size());
}

// Compaction renumbers the new graph for locality (HnswIndex::Reorder); the
// metadata, kept per graph slot, must follow its vector.
TEST(DbTest, CompactKeepsEachVectorsMetadata) {
  testutil::TempDir tmp;
  DbOptions o;
  o.compaction_threshold = 2.0;
  o.sync = SyncMode::kNone;
  auto db = OpenOrDie(tmp.File("db"), o);
  Collection* c = MakeCollection(db.get());
  const size_t n = 1500;
  auto m = testutil::RandomMatrix(n, kDim, 8);
  std::vector<Metadata> meta(n);
  for (size_t i = 0; i < n; ++i) {
    meta[i]["i"] = static_cast<int64_t>(i);
    meta[i]["tag"] = (i % 7 == 0);
  }
  ASSERT_TRUE(c->Upsert(Iota(n), m.data, meta).ok());
  std::vector<VectorId> del;
  for (VectorId i = 1; i < n; i += 4) del.push_back(i);
  ASSERT_TRUE(c->Delete(del).ok());
  ASSERT_TRUE(db->Compact().ok());
  for (int pass = 0; pass < 2; ++pass) {
    for (VectorId i = 0; i < n; ++i) {
      auto r = c->Get(i);
      if (i % 4 == 1) {
        EXPECT_FALSE(r.ok()) << i;
        continue;
      }
      ASSERT_TRUE(r.ok()) << i;
      EXPECT_EQ(std::get<int64_t>(r->metadata.at("i")), static_cast<int64_t>(i));
      EXPECT_EQ(r->vector, std::vector<float>(m.row(i), m.row(i) + kDim));
    }
    SearchOptions so;
    so.k = 20;
    so.filter = Filter::Eq("tag", true);
    auto hits = c->Search(std::span<const float>(m.row(0), kDim), so);
    ASSERT_TRUE(hits.ok());
    EXPECT_EQ(hits->size(), 20u);
    for (auto& h : *hits) EXPECT_TRUE(h.id % 7 == 0 && h.id % 4 != 1) << h.id;
    // The same after reopening from the compacted files.
    db.reset();
    db = OpenOrDie(tmp.File("db"), o);
    c = *db->GetCollection("c");
  }
}

TEST(DbTest, ConcurrentWritersGroupCommit) {
  testutil::TempDir tmp;
  DbOptions o;
  o.sync = SyncMode::kGroupCommit;
  auto db = OpenOrDie(tmp.File("db"), o);
  Collection* c = MakeCollection(db.get());
  auto m = testutil::RandomMatrix(400, kDim, 7);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (size_t i = t; i < 400; i += 4) {
        VectorId id = i;
        ASSERT_TRUE(c->Upsert(std::span(&id, 1), std::span<const float>(m.row(i), kDim)).ok());
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c->size(), 400u);
  db.reset();
  db = OpenOrDie(tmp.File("db"), o);
  c = *db->GetCollection("c");
  EXPECT_EQ(c->size(), 400u);
  for (VectorId id : {0, 199, 399}) {
    EXPECT_EQ(c->Get(id)->vector, std::vector<float>(m.row(id), m.row(id) + kDim));
  }
}

TEST(DbTest, CosineAndMultipleCollections) {
  testutil::TempDir tmp;
  auto db = OpenOrDie(tmp.File("db"));
  Collection* a = MakeCollection(db.get(), "a", 8, Metric::kCosine);
  Collection* b = MakeCollection(db.get(), "b", 4, Metric::kInnerProduct);
  auto m = testutil::RandomMatrix(100, 8, 8);
  ASSERT_TRUE(a->Upsert(Iota(100), m.data).ok());
  auto m4 = testutil::RandomMatrix(10, 4, 9);
  ASSERT_TRUE(b->Upsert(Iota(10), m4.data).ok());
  EXPECT_EQ(db->ListCollections(), (std::vector<std::string>{"a", "b"}));
  ASSERT_TRUE(db->Checkpoint().ok());
  db.reset();
  db = OpenOrDie(tmp.File("db"));
  auto ca = db->GetCollection("a");
  ASSERT_TRUE(ca.ok());
  EXPECT_EQ((*ca)->options().metric, Metric::kCosine);
  SearchOptions so;
  so.k = 1;
  auto hits = (*ca)->Search(std::span<const float>(m.row(3), 8), so);
  ASSERT_TRUE(hits.ok());
  EXPECT_EQ((*hits)[0].id, 3u);
  EXPECT_NEAR((*hits)[0].distance, 0.0f, 1e-5);
  EXPECT_EQ((*db->GetCollection("b"))->size(), 10u);
}

// Heavy removals on a sparse graph (M = 2) may strand nodes until the next
// audit; searches must still return min(k, matches) hits, an opened database
// starts fully reachable, and CheckGraph reports without repairing.
TEST(DbTest, SearchesReturnEveryLiveOrMatchingVectorAfterHeavyDeletes) {
  testutil::TempDir tmp;
  const size_t n = 400;
  auto m = testutil::RandomMatrix(n, kDim, 9);
  std::vector<Metadata> meta(n);
  for (size_t i = 0; i < n; ++i) meta[i]["bucket"] = int64_t(i % 10);
  // Every live vector, and every live vector of bucket 3, must come back
  // even with a beam far too narrow for the walk alone.
  auto check_searches = [&](Collection* c) {
    const size_t live = c->size();
    size_t bucket3 = 0;
    for (VectorId id = 0; id < n; ++id) {
      if (id % 10 == 3 && c->Contains(id)) ++bucket3;
    }
    for (size_t q = 0; q < 20; ++q) {
      SearchOptions so;
      so.k = live;
      so.ef = 4;
      auto hits = c->Search(std::span<const float>(m.row(q), kDim), so);
      ASSERT_TRUE(hits.ok());
      EXPECT_EQ(hits->size(), live);
      so.k = 30;
      so.filter = Filter::Eq("bucket", int64_t{3});
      hits = c->Search(std::span<const float>(m.row(q), kDim), so);
      ASSERT_TRUE(hits.ok());
      EXPECT_EQ(hits->size(), std::min<size_t>(30, bucket3));
      for (const Neighbor& h : *hits) EXPECT_EQ(h.id % 10, 3u);
    }
  };
  size_t live = 0;
  {
    auto db = OpenOrDie(tmp.File("db"));
    CollectionOptions co;
    co.dim = kDim;
    co.M = 2;
    co.ef_construction = 8;
    auto c = db->CreateCollection("c", co);
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE((*c)->Upsert(Iota(n), m.data, meta).ok());
    std::mt19937_64 rng(3);
    // One id at a time, about 75% of them: fewer changes than trigger the
    // automatic audit, and each removal repairs only its own neighbourhood.
    for (VectorId id = 0; id < n; ++id) {
      if (rng() % 4 != 0) {
        ASSERT_TRUE((*c)->Delete(std::vector<VectorId>{id}).ok());
      }
    }
    live = (*c)->size();
    EXPECT_EQ(db->CheckGraph("nope").status().code(), StatusCode::kNotFound);
    auto g = db->CheckGraph("c");
    ASSERT_TRUE(g.ok());
    EXPECT_EQ(g->nodes, live);
    // This configuration strands nodes; the searches below must not care.
    EXPECT_LT(g->reachable, g->nodes) << "no stranded node: the case is not exercised";
    check_searches(*c);
  }
  auto db = OpenOrDie(tmp.File("db"));
  Collection* c = *db->GetCollection("c");
  ASSERT_EQ(c->size(), live);
  check_searches(c);
  // Verify audits first: consolidation unlinks the removed records and frees
  // their slots, and every live node is reachable afterwards.
  auto report = db->Verify();
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok()) << (report->problems.empty() ? "" : report->problems[0]);
  auto g = db->CheckGraph("c");
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->reachable, g->nodes);
  check_searches(c);
  // Freed slots are reused: inserting as many vectors as were removed does
  // not grow the record count (live + removed records).
  const size_t records_before = g->nodes + g->deleted;
  const size_t refill = n - live;
  std::vector<float> fresh(refill * kDim);
  for (size_t i = 0; i < fresh.size(); ++i) fresh[i] = m.data[i] * 0.5f + 0.25f;
  ASSERT_TRUE(c->Upsert(Iota(refill, 1000), fresh).ok());
  g = db->CheckGraph("c");
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->nodes, n);
  EXPECT_EQ(g->nodes + g->deleted, records_before) << "inserts took new slots instead of freed ones";
  check_searches(c);
  report = db->Verify();
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok()) << (report->problems.empty() ? "" : report->problems[0]);
}

}  // namespace
}  // namespace omendb
