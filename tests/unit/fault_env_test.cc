#include "testutil/fault_env.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "omendb/env.h"
#include "storage/wal.h"
#include "testutil/testutil.h"

namespace omendb::testutil {
namespace {

std::string ReadAll(Env* env, const std::string& path) {
  auto f = env->NewSequentialFile(path);
  EXPECT_TRUE(f.ok()) << f.status().ToString();
  if (!f.ok()) return "";
  std::string out;
  char scratch[4096];
  for (;;) {
    auto r = (*f)->Read(sizeof scratch, scratch);
    EXPECT_TRUE(r.ok());
    if (!r.ok() || r->empty()) break;
    out.append(*r);
  }
  return out;
}

bool Exists(Env* env, const std::string& path) {
  auto r = env->FileExists(path);
  EXPECT_TRUE(r.ok());
  return r.ok() && *r;
}

class FaultEnvTest : public ::testing::Test {
 protected:
  FaultEnvTest() : env_(Env::Default()) {}

  // Creates `name` through the fault env with `data` appended, synced or not.
  std::unique_ptr<WritableFile> Create(const std::string& name, const std::string& data,
                                       bool sync) {
    auto f = env_.NewWritableFile(dir_.File(name));
    EXPECT_TRUE(f.ok()) << f.status().ToString();
    if (!f.ok()) return nullptr;
    EXPECT_TRUE((*f)->Append(data).ok());
    if (sync) {
      EXPECT_TRUE((*f)->Sync().ok());
    }
    return std::move(f).value();
  }

  TempDir dir_;
  FaultInjectionEnv env_;
};

TEST_F(FaultEnvTest, PassesThroughAndCounts) {
  auto f = Create("a", "hello", /*sync=*/true);
  ASSERT_TRUE(f->Append(" world").ok());
  ASSERT_TRUE(f->Close().ok());
  EXPECT_EQ(ReadAll(&env_, dir_.File("a")), "hello world");
  ASSERT_TRUE(env_.SyncDir(dir_.path()).ok());
  ASSERT_TRUE(env_.RenameFile(dir_.File("a"), dir_.File("b")).ok());
  ASSERT_TRUE(env_.TruncateFile(dir_.File("b"), 5).ok());
  EXPECT_EQ(ReadAll(&env_, dir_.File("b")), "hello");
  ASSERT_TRUE(env_.CreateDir(dir_.File("sub")).ok());
  ASSERT_TRUE(env_.RemoveFile(dir_.File("b")).ok());

  EXPECT_EQ(env_.OpCount(FaultOp::kCreate), 2u);  // the file and the directory
  EXPECT_EQ(env_.OpCount(FaultOp::kWrite), 2u);
  EXPECT_EQ(env_.OpCount(FaultOp::kSync), 1u);
  EXPECT_EQ(env_.OpCount(FaultOp::kSyncDir), 1u);
  EXPECT_EQ(env_.OpCount(FaultOp::kRename), 1u);
  EXPECT_EQ(env_.OpCount(FaultOp::kTruncate), 1u);
  EXPECT_EQ(env_.OpCount(FaultOp::kRemove), 1u);
  EXPECT_EQ(env_.faults_fired(), 0u);
  env_.ResetCounters();
  EXPECT_EQ(env_.OpCount(FaultOp::kWrite), 0u);
}

TEST_F(FaultEnvTest, FailsNthWriteOnce) {
  auto f = Create("a", "", false);
  env_.InjectFault(FaultOp::kWrite, 3);
  EXPECT_TRUE(f->Append("1").ok());
  EXPECT_TRUE(f->Append("2").ok());
  Status s = f->Append("3");
  EXPECT_TRUE(s.IsIOError()) << s.ToString();
  EXPECT_NE(s.message().find("injected"), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find(dir_.File("a")), std::string::npos) << s.ToString();
  EXPECT_TRUE(f->Append("4").ok());  // one-shot
  ASSERT_TRUE(f->Close().ok());
  EXPECT_EQ(ReadAll(&env_, dir_.File("a")), "124");  // the failed append wrote nothing
  EXPECT_EQ(env_.faults_fired(), 1u);
  EXPECT_EQ(env_.OpCount(FaultOp::kWrite), 5u);  // including the failed one
}

TEST_F(FaultEnvTest, NoSpaceFault) {
  auto f = Create("a", "", false);
  env_.InjectFault(FaultOp::kWrite, 1, FaultError::kNoSpace);
  Status s = f->Append("x");
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s.ToString();
  EXPECT_NE(s.message().find("disk full"), std::string::npos) << s.ToString();
}

TEST_F(FaultEnvTest, PersistentFaultUntilCleared) {
  auto f = Create("a", "", false);
  env_.InjectFault(FaultOp::kSync, 2, FaultError::kIO, /*persistent=*/true);
  EXPECT_TRUE(f->Sync().ok());
  EXPECT_TRUE(f->Sync().IsIOError());
  EXPECT_TRUE(f->Sync().IsIOError());
  env_.ClearFaults();
  EXPECT_TRUE(f->Sync().ok());
  EXPECT_EQ(env_.faults_fired(), 2u);
}

TEST_F(FaultEnvTest, EachKindFailsWithoutSideEffects) {
  {
    auto f = Create("a", "data", true);
    ASSERT_TRUE(f->Close().ok());
  }
  ASSERT_TRUE(env_.SyncDir(dir_.path()).ok());

  env_.InjectFault(FaultOp::kRename, 1);
  EXPECT_TRUE(env_.RenameFile(dir_.File("a"), dir_.File("b")).IsIOError());
  EXPECT_TRUE(Exists(&env_, dir_.File("a")));
  EXPECT_FALSE(Exists(&env_, dir_.File("b")));

  env_.InjectFault(FaultOp::kRemove, 1);
  EXPECT_TRUE(env_.RemoveFile(dir_.File("a")).IsIOError());
  EXPECT_TRUE(Exists(&env_, dir_.File("a")));

  env_.InjectFault(FaultOp::kTruncate, 1);
  EXPECT_TRUE(env_.TruncateFile(dir_.File("a"), 0).IsIOError());
  EXPECT_EQ(ReadAll(&env_, dir_.File("a")), "data");

  env_.InjectFault(FaultOp::kCreate, 1);
  EXPECT_TRUE(env_.NewWritableFile(dir_.File("c")).status().IsIOError());
  EXPECT_FALSE(Exists(&env_, dir_.File("c")));
  env_.InjectFault(FaultOp::kCreate, 1);
  EXPECT_TRUE(env_.NewAppendableFile(dir_.File("a")).status().IsIOError());
  env_.InjectFault(FaultOp::kCreate, 1);
  EXPECT_TRUE(env_.CreateDir(dir_.File("d")).IsIOError());
  EXPECT_FALSE(Exists(&env_, dir_.File("d")));

  env_.InjectFault(FaultOp::kSyncDir, 1);
  EXPECT_TRUE(env_.SyncDir(dir_.path()).IsIOError());

  EXPECT_EQ(env_.faults_fired(), 7u);
  // Nothing left armed.
  EXPECT_TRUE(env_.RenameFile(dir_.File("a"), dir_.File("b")).ok());
}

TEST_F(FaultEnvTest, AnyCountsAllKindsTogether) {
  env_.InjectFault(FaultOp::kAny, 3);
  auto f = env_.NewWritableFile(dir_.File("a"));  // 1: create
  ASSERT_TRUE(f.ok());
  EXPECT_TRUE((*f)->Append("x").ok());    // 2: write
  EXPECT_TRUE((*f)->Sync().IsIOError());  // 3: sync fails
  EXPECT_TRUE((*f)->Sync().ok());
}

TEST_F(FaultEnvTest, DropUnsyncedDataTruncatesToLastSync) {
  ASSERT_TRUE(env_.SyncDir(dir_.path()).ok());
  auto f = Create("a", "abc", /*sync=*/true);
  ASSERT_TRUE(env_.SyncDir(dir_.path()).ok());
  ASSERT_TRUE(f->Append("def").ok());
  EXPECT_EQ(env_.UnsyncedBytes(dir_.File("a")), 3u);
  EXPECT_EQ(ReadAll(&env_, dir_.File("a")), "abcdef");  // visible before the "power loss"

  ASSERT_TRUE(env_.DropUnsyncedData().ok());
  EXPECT_EQ(ReadAll(&env_, dir_.File("a")), "abc");
  EXPECT_EQ(env_.UnsyncedBytes(dir_.File("a")), 0u);
  // Files open across the power loss are dead.
  EXPECT_TRUE(f->Append("ghi").IsIOError());
  EXPECT_TRUE(f->Sync().IsIOError());
  EXPECT_TRUE(f->Close().IsIOError());
  EXPECT_EQ(ReadAll(&env_, dir_.File("a")), "abc");

  // Tracking restarts: an appendable reopen keeps the surviving bytes.
  auto g = env_.NewAppendableFile(dir_.File("a"));
  ASSERT_TRUE(g.ok());
  ASSERT_TRUE((*g)->Append("X").ok());
  ASSERT_TRUE((*g)->Sync().ok());
  ASSERT_TRUE((*g)->Append("Y").ok());
  ASSERT_TRUE(env_.DropUnsyncedData().ok());
  EXPECT_EQ(ReadAll(&env_, dir_.File("a")), "abcX");
}

TEST_F(FaultEnvTest, DropDeletesFilesWhoseDirectoryWasNotSynced) {
  auto a = Create("a", "synced data", /*sync=*/true);  // data synced, name not
  ASSERT_TRUE(a->Close().ok());
  ASSERT_TRUE(env_.DropUnsyncedData().ok());
  EXPECT_FALSE(Exists(&env_, dir_.File("a")));

  auto b = Create("b", "synced data", /*sync=*/true);
  ASSERT_TRUE(b->Close().ok());
  ASSERT_TRUE(env_.SyncDir(dir_.path() + "/").ok());  // a trailing slash names it too
  auto c = Create("c", "later", /*sync=*/true);       // created after the SyncDir
  ASSERT_TRUE(env_.DropUnsyncedData().ok());
  EXPECT_EQ(ReadAll(&env_, dir_.File("b")), "synced data");
  EXPECT_FALSE(Exists(&env_, dir_.File("c")));
}

TEST_F(FaultEnvTest, PreexistingDataIsDurable) {
  {
    auto f = Env::Default()->NewWritableFile(dir_.File("old"));
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->Append("old").ok());
    ASSERT_TRUE((*f)->Close().ok());
  }
  auto f = env_.NewAppendableFile(dir_.File("old"));
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Append(" new").ok());
  EXPECT_EQ(env_.UnsyncedBytes(dir_.File("old")), 4u);
  ASSERT_TRUE(env_.DropUnsyncedData().ok());
  EXPECT_EQ(ReadAll(&env_, dir_.File("old")), "old");
}

TEST_F(FaultEnvTest, FailedSyncSyncsNothing) {
  ASSERT_TRUE(env_.SyncDir(dir_.path()).ok());
  auto f = Create("a", "", false);
  ASSERT_TRUE(env_.SyncDir(dir_.path()).ok());
  ASSERT_TRUE(f->Append("data").ok());
  env_.InjectFault(FaultOp::kSync, 1);
  EXPECT_TRUE(f->Sync().IsIOError());
  ASSERT_TRUE(env_.DropUnsyncedData().ok());
  EXPECT_EQ(ReadAll(&env_, dir_.File("a")), "");
}

TEST_F(FaultEnvTest, RenameCarriesTracking) {
  ASSERT_TRUE(env_.SyncDir(dir_.path()).ok());
  auto f = Create("tmp", "abc", /*sync=*/true);
  ASSERT_TRUE(f->Append("def").ok());
  ASSERT_TRUE(f->Close().ok());
  ASSERT_TRUE(env_.RenameFile(dir_.File("tmp"), dir_.File("final")).ok());
  ASSERT_TRUE(env_.SyncDir(dir_.path()).ok());
  EXPECT_EQ(env_.UnsyncedBytes(dir_.File("final")), 3u);
  ASSERT_TRUE(env_.DropUnsyncedData().ok());
  EXPECT_EQ(ReadAll(&env_, dir_.File("final")), "abc");
}

// A WAL synced at some record boundaries survives a power loss as exactly the
// records up to the last sync: no corruption, no torn tail.
TEST_F(FaultEnvTest, WalKeepsSyncedPrefixAfterPowerLoss) {
  const std::string path = dir_.File("000001.wal");
  ASSERT_TRUE(env_.SyncDir(dir_.path()).ok());
  auto f = env_.NewWritableFile(path);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(env_.SyncDir(dir_.path()).ok());
  storage::WalWriter w(f->get());
  std::vector<std::string> records;
  size_t synced_count = 0;
  for (int i = 0; i < 40; ++i) {
    records.push_back(std::string(static_cast<size_t>(i) * 997, static_cast<char>('a' + i % 26)));
    ASSERT_TRUE(w.AddRecord(records.back()).ok());
    if (i % 7 == 6) {
      ASSERT_TRUE(w.Sync().ok());
      synced_count = records.size();
    }
  }
  ASSERT_LT(synced_count, records.size());
  ASSERT_TRUE(env_.DropUnsyncedData().ok());

  auto src = env_.NewSequentialFile(path);
  ASSERT_TRUE(src.ok());
  struct Counting : storage::WalReader::Reporter {
    void Corruption(uint64_t bytes, const Status&) override { dropped += bytes; }
    void TruncatedTail(uint64_t bytes) override { tail += bytes; }
    uint64_t dropped = 0, tail = 0;
  } report;
  storage::WalReader reader(src->get(), &report, true);
  std::vector<std::string> got;
  std::string rec;
  while (reader.ReadRecord(&rec)) got.push_back(rec);
  EXPECT_EQ(got, std::vector<std::string>(records.begin(), records.begin() + synced_count));
  EXPECT_EQ(report.dropped, 0u);
  EXPECT_EQ(report.tail, 0u);
}

// Failing each write of a WAL in turn: the log always reads back as exactly
// the records whose AddRecord succeeded, with no corruption.
TEST_F(FaultEnvTest, WalWriteFailureAtEachWrite) {
  const std::vector<size_t> sizes = {10, 0, 40000, 5, 70000, 3};
  for (uint64_t nth = 1;; ++nth) {
    const std::string path = dir_.File("log" + std::to_string(nth));
    auto f = env_.NewWritableFile(path);
    ASSERT_TRUE(f.ok());
    env_.InjectFault(FaultOp::kWrite, nth);
    storage::WalWriter w(f->get());
    std::vector<std::string> ok_records;
    bool failed = false;
    for (size_t i = 0; i < sizes.size(); ++i) {
      std::string r(sizes[i], static_cast<char>('k' + i));
      Status s = w.AddRecord(r);
      if (!s.ok()) {
        failed = true;
        EXPECT_TRUE(s.IsIOError());
        EXPECT_TRUE(w.AddRecord("after").IsIOError());  // poisoned
        break;
      }
      ok_records.push_back(r);
    }
    env_.ClearFaults();
    ASSERT_TRUE((*f)->Close().ok());

    auto src = env_.NewSequentialFile(path);
    ASSERT_TRUE(src.ok());
    struct Counting : storage::WalReader::Reporter {
      void Corruption(uint64_t bytes, const Status&) override { dropped += bytes; }
      uint64_t dropped = 0;
    } report;
    storage::WalReader reader(src->get(), &report, true);
    std::vector<std::string> got;
    std::string rec;
    while (reader.ReadRecord(&rec)) got.push_back(rec);
    EXPECT_EQ(got, ok_records) << "write " << nth;
    EXPECT_EQ(report.dropped, 0u) << "write " << nth;
    if (!failed) break;  // every write has been failed once
  }
}

}  // namespace
}  // namespace omendb::testutil
