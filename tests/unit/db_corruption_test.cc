// Damaged database files (omendb/db.h, docs/format/*.md).
//
// One database is built with a checkpoint followed by further writes in the
// log (small records, a record fragmented across a 32 KiB block boundary, a
// collection created after the checkpoint), and its files are copied while it
// is open, as a crash would leave them. Each case then damages one file of a
// fresh copy - truncation at every record or section boundary and at sampled
// offsets, seeded random bit flips - and opens it:
//  * CURRENT, MANIFEST and the checkpoint segment are covered by format checks
//    and checksums: Open must return kCorruption;
//  * the write-ahead log: a truncation is what a crash leaves, so Open must
//    succeed and recover the state after some prefix of the logged writes,
//    never less as the cut moves later (empty log: the checkpoint; whole log:
//    everything). A bit flip must give kCorruption or such a prefix state.
// Recovered databases are opened a second time and must hold the same. No
// assertion looks at messages beyond the error code. A watchdog aborts the
// run if one open takes longer than 60 s (a hang).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "crash/db_oracle.h"
#include "omendb/db.h"
#include "storage/manifest.h"
#include "storage/segment.h"
#include "storage/wal.h"
#include "testutil/testutil.h"

namespace omendb::robustness {
namespace {

using Files = std::map<std::string, std::string>;  // name -> contents

// Aborts the process when an armed deadline passes: a hang must fail the run
// rather than stall it until ctest's timeout, and it names the case.
class Watchdog {
 public:
  Watchdog() : thread_([this] { Loop(); }) {}
  ~Watchdog() {
    {
      std::lock_guard l(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void Arm(const std::string& what, std::chrono::seconds limit) {
    std::lock_guard l(mu_);
    what_ = what;
    deadline_ = std::chrono::steady_clock::now() + limit;
    armed_ = true;
  }
  void Disarm() {
    std::lock_guard l(mu_);
    armed_ = false;
  }

 private:
  void Loop() {
    std::unique_lock l(mu_);
    while (!stop_) {
      cv_.wait_for(l, std::chrono::milliseconds(200));
      if (armed_ && std::chrono::steady_clock::now() > deadline_) {
        std::fprintf(stderr, "db_corruption_test: hang in %s\n", what_.c_str());
        std::abort();
      }
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool armed_ = false;
  std::string what_;
  std::chrono::steady_clock::time_point deadline_;
  std::thread thread_;
};

const Universe& TestUniverse() {
  static const Universe* u = new Universe{{"a", "b", "c"}, 0, 40};
  return *u;
}

// A record with a large string, so that one upsert spans a log block.
Value BigValueFor(uint64_t seed, uint32_t dim) {
  Value v = ValueFor(seed, dim);
  v.metadata["pad"] = std::string(1600, static_cast<char>('a' + seed % 26));
  return v;
}

struct Op {
  enum Kind { kCreate, kUpsert, kDelete } kind;
  std::string collection;
  std::vector<VectorId> ids;
  uint64_t seed = 0;  // kUpsert: row i from seed + i; kCreate: the dim
  bool big = false;
};

std::vector<VectorId> Range(VectorId from, VectorId to) {
  std::vector<VectorId> v;
  for (VectorId i = from; i < to; ++i) v.push_back(i);
  return v;
}

// Written and then checkpointed.
const std::vector<Op>& BeforeCheckpoint() {
  static const auto* ops = new std::vector<Op>{
      {Op::kCreate, "a", {}, 4},
      {Op::kUpsert, "a", Range(0, 16), 1000},
      {Op::kDelete, "a", {5, 6}},
      {Op::kCreate, "b", {}, 8},
      {Op::kUpsert, "b", Range(0, 10), 2000},
  };
  return *ops;
}

// Written after the checkpoint: what the log holds.
const std::vector<Op>& AfterCheckpoint() {
  static const auto* ops = new std::vector<Op>{
      {Op::kUpsert, "a", Range(20, 25), 3000},
      {Op::kDelete, "a", {1, 3}},
      {Op::kCreate, "c", {}, 2},
      {Op::kUpsert, "c", {1, 2}, 4000},
      {Op::kUpsert, "b", Range(10, 34), 5000, /*big=*/true},  // ~40 KB: crosses a block
      {Op::kUpsert, "a", {1}, 6000},
      {Op::kDelete, "b", {12, 13}},
      {Op::kUpsert, "c", {3}, 7000},
      {Op::kDelete, "a", {20}},
      {Op::kUpsert, "a", {25, 26}, 8000},
  };
  return *ops;
}

void ApplyToModel(const Op& op, DbState* s) {
  switch (op.kind) {
    case Op::kCreate:
      (*s)[op.collection].dim = static_cast<uint32_t>(op.seed);
      break;
    case Op::kUpsert: {
      CollectionState& c = s->at(op.collection);
      for (size_t i = 0; i < op.ids.size(); ++i) {
        c.records[op.ids[i]] =
            op.big ? BigValueFor(op.seed + i, c.dim) : ValueFor(op.seed + i, c.dim);
      }
      break;
    }
    case Op::kDelete:
      for (VectorId id : op.ids) s->at(op.collection).records.erase(id);
      break;
  }
}

Status ApplyToDb(const Op& op, DB* db) {
  if (op.kind == Op::kCreate) {
    CollectionOptions co;
    co.dim = static_cast<uint32_t>(op.seed);
    co.M = 8;
    co.ef_construction = 32;
    co.quant = testutil::TestQuantization();
    co.quant_train_after = testutil::TestQuantTrainAfter();
    return db->CreateCollection(op.collection, co).status();
  }
  OMENDB_ASSIGN_OR_RETURN(Collection * c, db->GetCollection(op.collection));
  if (op.kind == Op::kDelete) return c->Delete(op.ids);
  std::vector<float> vectors;
  std::vector<Metadata> metadata;
  for (size_t i = 0; i < op.ids.size(); ++i) {
    Value v = op.big ? BigValueFor(op.seed + i, c->options().dim)
                     : ValueFor(op.seed + i, c->options().dim);
    vectors.insert(vectors.end(), v.vector.begin(), v.vector.end());
    metadata.push_back(std::move(v.metadata));
  }
  return c->Upsert(op.ids, vectors, metadata);
}

Result<std::string> ReadWhole(const std::string& path) {
  OMENDB_ASSIGN_OR_RETURN(auto region, Env::Default()->NewMmapRegion(path));
  if (region->size() == 0) return std::string();
  return std::string(region->data(), region->size());
}

Status WriteWhole(const std::string& path, const std::string& data) {
  OMENDB_ASSIGN_OR_RETURN(auto f, Env::Default()->NewWritableFile(path));
  OMENDB_RETURN_IF_ERROR(f->Append(data));
  return f->Close();
}

// What one damaged copy opened to.
struct Outcome {
  Status status;                // of Open (or of reading the state)
  std::optional<DbState> state;  // when it opened
};

class DbCorruptionTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    scratch_ = new ScratchDir("omendb_corrupt");
    ASSERT_FALSE(scratch_->path().empty());
    const std::string dir = scratch_->path() + "/origin";
    DbOptions o;
    o.checkpoint_log_bytes = 0;  // the one checkpoint is the test's
    o.num_threads = 1;
    auto db = DB::Open(dir, o);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    DbState model;
    for (const Op& op : BeforeCheckpoint()) {
      ASSERT_TRUE(ApplyToDb(op, db->get()).ok());
      ApplyToModel(op, &model);
    }
    ASSERT_TRUE((*db)->Checkpoint().ok());
    states_ = new std::vector<DbState>{model};
    for (const Op& op : AfterCheckpoint()) {
      Status s = ApplyToDb(op, db->get());
      ASSERT_TRUE(s.ok()) << s.ToString();
      ApplyToModel(op, &model);
      states_->push_back(model);
    }
    // The files as a crash now would leave them (every write was synced),
    // taken before Close could rewrite anything.
    files_ = new Files;
    auto names = Env::Default()->GetChildren(dir);
    ASSERT_TRUE(names.ok());
    for (const std::string& n : *names) {
      if (n == "LOCK") continue;
      auto data = ReadWhole(dir + "/" + n);
      ASSERT_TRUE(data.ok()) << data.status().ToString();
      (*files_)[n] = std::move(*data);
    }
    ASSERT_TRUE((*db)->Close().ok());
  }

  static void TearDownTestSuite() {
    delete files_;
    delete states_;
    delete scratch_;
    files_ = nullptr;
    states_ = nullptr;
    scratch_ = nullptr;
  }

  // The names of the pristine files matching `pred`.
  template <class Pred>
  static std::vector<std::string> Names(Pred pred) {
    std::vector<std::string> v;
    for (const auto& [n, d] : *files_) {
      if (pred(n)) v.push_back(n);
    }
    return v;
  }
  static bool EndsWith(const std::string& s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(),
                                                  suffix) == 0;
  }

  // Writes `files` to a fresh directory, opens it, reads its state, closes it
  // and (if it opened) opens it a second time, which must give the same.
  Outcome Open(const Files& files, const std::string& what) {
    const std::string dir = scratch_->path() + "/case" + std::to_string(++cases_);
    Outcome out;
    out.status = Env::Default()->CreateDir(dir);
    for (const auto& [n, d] : files) {
      if (out.status.ok()) out.status = WriteWhole(dir + "/" + n, d);
    }
    EXPECT_TRUE(out.status.ok()) << out.status.ToString();
    if (!out.status.ok()) return out;
    DbOptions o;
    o.num_threads = 1;
    for (int pass = 0; pass < 2; ++pass) {
      watchdog_.Arm(what, std::chrono::seconds(60));
      auto db = DB::Open(dir, o);
      if (!db.ok()) {
        watchdog_.Disarm();
        EXPECT_EQ(pass, 0) << what << ": the recovered database does not open again: "
                           << db.status().ToString();
        out.status = db.status();
        break;
      }
      auto state = ReadState(**db, TestUniverse());
      (void)(*db)->Close();
      watchdog_.Disarm();
      if (!state.ok()) {
        ADD_FAILURE() << what << ": opened but cannot be read: " << state.status().ToString();
        out.status = state.status();
        break;
      }
      if (pass == 0) {
        out.state = std::move(*state);
      } else {
        EXPECT_EQ(*state, *out.state) << what << ": a second open differs:\n"
                                      << Diff(*out.state, *state);
      }
    }
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    return out;
  }

  // Every prefix length k (of the logged writes) whose state `s` is.
  static std::vector<size_t> PrefixesMatching(const DbState& s) {
    std::vector<size_t> ks;
    for (size_t k = 0; k < states_->size(); ++k) {
      if ((*states_)[k] == s) ks.push_back(k);
    }
    return ks;
  }

  // Opens copies with file `name` replaced by each damaged version and
  // expects kCorruption from every one.
  void ExpectCorruption(const std::string& name, const std::vector<std::string>& versions,
                        const std::vector<std::string>& labels) {
    for (size_t i = 0; i < versions.size(); ++i) {
      Files f = *files_;
      f[name] = versions[i];
      const std::string what = name + " " + labels[i];
      Outcome out = Open(f, what);
      EXPECT_FALSE(out.state.has_value()) << what << ": damaged file accepted";
      EXPECT_EQ(out.status.code(), StatusCode::kCorruption)
          << what << ": " << out.status.ToString();
      if (testing::Test::HasFailure() && ++reported_ > 20) {
        FAIL() << "stopping after many failures";
      }
    }
  }

  // Truncations at each offset in `cuts`, plus `flips` random bit flips
  // (half of them in the first and last 128 bytes, where the framing lives).
  static void Damage(const std::string& data, const std::set<uint64_t>& cuts, int flips,
                     uint64_t seed, std::vector<std::string>* versions,
                     std::vector<std::string>* labels) {
    for (uint64_t c : cuts) {
      if (c >= data.size()) continue;
      versions->push_back(data.substr(0, c));
      labels->push_back("truncated to " + std::to_string(c));
    }
    Rng rng(seed);
    for (int i = 0; i < flips; ++i) {
      uint64_t at;
      if (i % 2 == 0 && data.size() > 256) {
        const uint64_t r = rng.Uniform(256);
        at = r < 128 ? r : data.size() - 256 + r;
      } else {
        at = rng.Uniform(data.size());
      }
      const int bit = static_cast<int>(rng.Uniform(8));
      std::string d = data;
      d[at] = static_cast<char>(d[at] ^ (1 << bit));
      versions->push_back(std::move(d));
      labels->push_back("bit " + std::to_string(bit) + " of byte " + std::to_string(at) +
                        " flipped");
    }
  }

  static ScratchDir* scratch_;
  static Files* files_;
  static std::vector<DbState>* states_;  // [k]: after the checkpoint and k logged writes
  Watchdog watchdog_;
  uint64_t cases_ = 0;
  int reported_ = 0;
};

ScratchDir* DbCorruptionTest::scratch_ = nullptr;
Files* DbCorruptionTest::files_ = nullptr;
std::vector<DbState>* DbCorruptionTest::states_ = nullptr;

TEST_F(DbCorruptionTest, PristineCopyOpensToEveryWrite) {
  // The baseline every other case is compared with: the copy opens to the
  // state after all writes, and it has the files the cases damage.
  EXPECT_EQ(Names([](const std::string& n) { return n == "CURRENT"; }).size(), 1u);
  EXPECT_EQ(Names([](const std::string& n) { return n.rfind("MANIFEST-", 0) == 0; }).size(), 1u);
  EXPECT_EQ(Names([](const std::string& n) { return EndsWith(n, ".seg"); }).size(), 1u);
  const auto wals = Names([](const std::string& n) { return EndsWith(n, ".wal"); });
  ASSERT_EQ(wals.size(), 1u);
  EXPECT_GT(files_->at(wals[0]).size(), storage::kWalBlockSize) << "the log must span blocks";
  Outcome out = Open(*files_, "pristine copy");
  ASSERT_TRUE(out.state.has_value()) << out.status.ToString();
  EXPECT_EQ(*out.state, states_->back()) << Diff(states_->back(), *out.state);
}

TEST_F(DbCorruptionTest, DamagedCurrentIsCorruption) {
  const std::string data = files_->at("CURRENT");
  std::set<uint64_t> cuts;
  for (uint64_t i = 0; i < data.size(); ++i) cuts.insert(i);
  std::vector<std::string> versions, labels;
  Damage(data, cuts, 0, 0, &versions, &labels);
  // Every single-bit flip of the file, then random multi-bit damage.
  for (size_t at = 0; at < data.size(); ++at) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string d = data;
      d[at] = static_cast<char>(d[at] ^ (1 << bit));
      versions.push_back(d);
      labels.push_back("bit " + std::to_string(bit) + " of byte " + std::to_string(at) +
                       " flipped");
    }
  }
  Rng rng(11);
  for (int i = 0; i < 100; ++i) {
    std::string d = data;
    for (int j = 0; j < 3; ++j) {
      d[rng.Uniform(d.size())] ^= static_cast<char>(1 + rng.Uniform(255));
    }
    if (d == data) continue;
    versions.push_back(d);
    labels.push_back("random damage " + std::to_string(i));
  }
  ExpectCorruption("CURRENT", versions, labels);
}

TEST_F(DbCorruptionTest, DamagedManifestIsCorruption) {
  const auto names = Names([](const std::string& n) { return n.rfind("MANIFEST-", 0) == 0; });
  ASSERT_EQ(names.size(), 1u);
  const std::string data = files_->at(names[0]);
  std::set<uint64_t> cuts;
  for (uint64_t i = 0; i < data.size(); ++i) cuts.insert(i);  // it is small: every offset
  std::vector<std::string> versions, labels;
  Damage(data, cuts, 300, 12, &versions, &labels);
  ExpectCorruption(names[0], versions, labels);
}

TEST_F(DbCorruptionTest, DamagedSegmentIsCorruption) {
  const auto names = Names([](const std::string& n) { return EndsWith(n, ".seg"); });
  ASSERT_EQ(names.size(), 1u);
  const std::string data = files_->at(names[0]);
  // Section boundaries from the format (docs/format/segment.md): header,
  // each section's start and end, the table, the footer.
  std::set<uint64_t> cuts = {0, 1, 8, 23, 24, 63, 64, data.size() - 32, data.size() - 1};
  {
    const std::string path = scratch_->path() + "/layout.seg";
    ASSERT_TRUE(WriteWhole(path, data).ok());
    auto reader = storage::SegmentReader::Open(Env::Default(), path);
    ASSERT_TRUE(reader.ok()) << reader.status().ToString();
    ASSERT_GE((*reader)->sections().size(), 2u);
    for (const auto& s : (*reader)->sections()) {
      cuts.insert(s.offset);
      cuts.insert(s.offset + s.length);
      cuts.insert(s.offset + s.length / 2);
    }
  }
  Rng rng(13);
  for (int i = 0; i < 40; ++i) cuts.insert(rng.Uniform(data.size()));
  std::vector<std::string> versions, labels;
  Damage(data, cuts, 300, 14, &versions, &labels);
  ExpectCorruption(names[0], versions, labels);
}

TEST_F(DbCorruptionTest, TruncatedLogRecoversAGrowingPrefix) {
  const auto names = Names([](const std::string& n) { return EndsWith(n, ".wal"); });
  ASSERT_EQ(names.size(), 1u);
  const std::string data = files_->at(names[0]);
  // Record boundaries, as the log reader finds them, and a few bytes into
  // each record's header; block boundaries; sampled offsets.
  std::set<uint64_t> cuts = {0, data.size()};
  {
    const std::string path = scratch_->path() + "/layout.wal";
    ASSERT_TRUE(WriteWhole(path, data).ok());
    auto file = Env::Default()->NewSequentialFile(path);
    ASSERT_TRUE(file.ok());
    storage::WalReader reader(file->get(), nullptr, true);
    std::string record;
    size_t records = 0;
    while (reader.ReadRecord(&record)) {
      ++records;
      for (uint64_t d : {0, 1, 4, 6, 7, 8}) cuts.insert(reader.LastRecordOffset() + d);
      cuts.insert(reader.EndOfLastRecord());
      cuts.insert(reader.EndOfLastRecord() - 1);
    }
    ASSERT_EQ(reader.EndOfLastRecord(), data.size()) << "the pristine log has a torn tail";
    ASSERT_GE(records, AfterCheckpoint().size());
  }
  for (uint64_t b = storage::kWalBlockSize; b < data.size(); b += storage::kWalBlockSize) {
    for (uint64_t d : {b - 7, b - 1, b, b + 1, b + 7, b + 8}) cuts.insert(d);
  }
  Rng rng(15);
  for (int i = 0; i < 40; ++i) cuts.insert(rng.Uniform(data.size() + 1));

  size_t lowest = 0;  // the prefix can only grow with the cut
  for (uint64_t c : cuts) {
    if (c > data.size()) continue;
    Files f = *files_;
    f[names[0]] = data.substr(0, c);
    const std::string what = names[0] + " truncated to " + std::to_string(c);
    Outcome out = Open(f, what);
    ASSERT_TRUE(out.state.has_value())
        << what << ": a torn log tail must recover, got " << out.status.ToString();
    const std::vector<size_t> ks = PrefixesMatching(*out.state);
    auto it = std::lower_bound(ks.begin(), ks.end(), lowest);
    ASSERT_TRUE(it != ks.end()) << what << ": not the state after any prefix of at least "
                                << lowest << " logged writes; compared with all of them:\n"
                                << Diff(states_->back(), *out.state);
    lowest = *it;
    if (c == 0) {
      EXPECT_EQ(lowest, 0u) << "an empty log leaves the checkpoint";
    }
  }
  EXPECT_EQ(lowest, states_->size() - 1) << "the whole log must give every write";
}

TEST_F(DbCorruptionTest, BitFlippedLogIsCorruptionOrAPrefix) {
  const auto names = Names([](const std::string& n) { return EndsWith(n, ".wal"); });
  ASSERT_EQ(names.size(), 1u);
  const std::string data = files_->at(names[0]);
  std::vector<std::string> versions, labels;
  Damage(data, {}, 300, 16, &versions, &labels);
  size_t corruption = 0, prefix = 0;
  for (size_t i = 0; i < versions.size(); ++i) {
    Files f = *files_;
    f[names[0]] = versions[i];
    const std::string what = names[0] + " " + labels[i];
    Outcome out = Open(f, what);
    if (!out.state) {
      EXPECT_EQ(out.status.code(), StatusCode::kCorruption) << what << ": "
                                                            << out.status.ToString();
      ++corruption;
      continue;
    }
    EXPECT_FALSE(PrefixesMatching(*out.state).empty())
        << what << ": recovered a state that is no prefix of the write history:\n"
        << Diff(states_->back(), *out.state);
    ++prefix;
    if (HasFailure() && ++reported_ > 20) FAIL() << "stopping after many failures";
  }
  std::printf("[ flips    ] %zu gave kCorruption, %zu recovered a prefix\n", corruption, prefix);
  // A flip inside a record's checksummed bytes is detected; most flips are.
  EXPECT_GT(corruption, versions.size() / 2);
}

TEST_F(DbCorruptionTest, MissingFilesAreCorruption) {
  // A file the manifest names is gone: the database cannot hold what was
  // acknowledged, so it must not open as if nothing were wrong. kNotFound
  // would read as "no database here", inviting a caller to create one.
  for (const std::string& name :
       Names([](const std::string& n) { return EndsWith(n, ".seg") || EndsWith(n, ".wal") ||
                                               n.rfind("MANIFEST-", 0) == 0; })) {
    Files f = *files_;
    f.erase(name);
    Outcome out = Open(f, name + " removed");
    EXPECT_FALSE(out.state.has_value()) << name << " removed: opened anyway";
    EXPECT_EQ(out.status.code(), StatusCode::kCorruption) << name << " removed: "
                                                          << out.status.ToString();
  }
}

TEST_F(DbCorruptionTest, MissingCurrentDoesNotResetTheDatabase) {
  // Without CURRENT the directory still holds a manifest, a checkpoint and a
  // log. Opening it must not start an empty database over them (and delete
  // them as obsolete): that would silently lose every write.
  Files f = *files_;
  f.erase("CURRENT");
  Outcome out = Open(f, "CURRENT removed");
  EXPECT_FALSE(out.state.has_value() && out.state->empty())
      << "CURRENT removed: opened as an empty database";
  if (!out.state) {
    EXPECT_EQ(out.status.code(), StatusCode::kCorruption) << out.status.ToString();
  }
}

TEST_F(DbCorruptionTest, CrashLeftoversAreIgnored) {
  // Files a crash can leave next to a good database: a half-written segment
  // and CURRENT.tmp, a newer manifest CURRENT was never switched to, a log
  // created for a checkpoint that never finished. Open must ignore them.
  Files f = *files_;
  f["CURRENT.tmp"] = "MANIFEST-0000";
  f["999998.seg.tmp"] = std::string(100, '\x17');
  f[storage::ManifestFileName(999999)] = "OMDBMAN1 torn";
  f["999997.wal"] = std::string(10, '\x01');
  Outcome out = Open(f, "with crash leftovers");
  ASSERT_TRUE(out.state.has_value()) << out.status.ToString();
  EXPECT_EQ(*out.state, states_->back()) << Diff(states_->back(), *out.state);
}

}  // namespace
}  // namespace omendb::robustness
