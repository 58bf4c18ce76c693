#include "storage/manifest.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "testutil/fault_env.h"
#include "testutil/testutil.h"
#include "util/coding.h"
#include "util/crc32c.h"

namespace omendb::storage {
namespace {

using testutil::FaultInjectionEnv;
using testutil::FaultOp;
using testutil::ReadFile;
using testutil::TempDir;
using testutil::WriteFile;


Manifest OldManifest() {
  Manifest m;
  m.sequence = 1;
  m.segment_files = {"000003.seg"};
  m.wal_files = {"000004.wal"};
  return m;
}

Manifest NewManifest() {
  Manifest m;
  m.sequence = 2;
  m.segment_files = {"000003.seg", "000006.seg"};
  m.wal_files = {"000007.wal", "000008.wal"};
  return m;
}

TEST(ManifestTest, FileNames) {
  EXPECT_EQ(ManifestFileName(7), "MANIFEST-000007");
  EXPECT_EQ(ManifestFileName(12345678), "MANIFEST-12345678");
  uint64_t seq = 0;
  EXPECT_TRUE(ParseManifestFileName("MANIFEST-000007", &seq));
  EXPECT_EQ(seq, 7u);
  EXPECT_TRUE(ParseManifestFileName("MANIFEST-18446744073709551615", &seq));
  EXPECT_EQ(seq, UINT64_MAX);
  EXPECT_FALSE(ParseManifestFileName("MANIFEST-18446744073709551616", &seq));
  EXPECT_FALSE(ParseManifestFileName("MANIFEST-", &seq));
  EXPECT_FALSE(ParseManifestFileName("MANIFEST-12a", &seq));
  EXPECT_FALSE(ParseManifestFileName("MANIFEST", &seq));
  EXPECT_FALSE(ParseManifestFileName("CURRENT", &seq));
}

TEST(ManifestTest, EncodeDecodeRoundTrip) {
  for (const Manifest& m : {Manifest{}, OldManifest(), NewManifest()}) {
    auto enc = EncodeManifest(m);
    ASSERT_TRUE(enc.ok()) << enc.status().ToString();
    auto dec = DecodeManifest(*enc, "test");
    ASSERT_TRUE(dec.ok()) << dec.status().ToString();
    EXPECT_EQ(*dec, m);
  }
}

TEST(ManifestTest, InvalidNamesAreRejected) {
  for (const std::string& bad : {std::string(), std::string("a/b"), std::string("a\0b", 3),
                                 std::string(256, 'x')}) {
    Manifest m;
    m.wal_files = {bad};
    EXPECT_TRUE(EncodeManifest(m).status().IsInvalidArgument());
  }
}

TEST(ManifestTest, InstallAndRead) {
  TempDir dir;
  EXPECT_TRUE(ReadCurrentManifest(Env::Default(), dir.path()).status().IsNotFound());
  ASSERT_TRUE(InstallManifest(Env::Default(), dir.path(), OldManifest()).ok());
  auto m = ReadCurrentManifest(Env::Default(), dir.path());
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(*m, OldManifest());
  EXPECT_EQ(ReadFile(dir.File("CURRENT")), "MANIFEST-000001\n");

  ASSERT_TRUE(InstallManifest(Env::Default(), dir.path(), NewManifest()).ok());
  m = ReadCurrentManifest(Env::Default(), dir.path());
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(*m, NewManifest());

  // Reinstalling the live sequence would rewrite the live file in place.
  EXPECT_TRUE(InstallManifest(Env::Default(), dir.path(), NewManifest()).IsInvalidArgument());
}

TEST(ManifestTest, ObsoleteFiles) {
  TempDir dir;
  ASSERT_TRUE(InstallManifest(Env::Default(), dir.path(), OldManifest()).ok());
  ASSERT_TRUE(InstallManifest(Env::Default(), dir.path(), NewManifest()).ok());
  for (const char* name : {"000003.seg", "000006.seg", "000005.seg", "000004.wal", "000007.wal",
                           "000008.wal", "000009.seg.tmp", "CURRENT.tmp", "LOCK", "notes.txt",
                           "MANIFEST-000003"}) {
    WriteFile(dir.File(name), "x");
  }
  auto obsolete = ListObsoleteFiles(Env::Default(), dir.path(), NewManifest());
  ASSERT_TRUE(obsolete.ok()) << obsolete.status().ToString();
  EXPECT_EQ(*obsolete,
            (std::vector<std::string>{"000004.wal", "000005.seg", "000009.seg.tmp", "CURRENT.tmp",
                                      "MANIFEST-000001", "MANIFEST-000003"}));
}

TEST(ManifestTest, CurrentNamingMissingManifestIsCorruption) {
  TempDir dir;
  WriteFile(dir.File("CURRENT"), "MANIFEST-000009\n");
  auto m = ReadCurrentManifest(Env::Default(), dir.path());
  EXPECT_TRUE(m.status().IsCorruption()) << m.status().ToString();
}

TEST(ManifestTest, SequenceMustMatchName) {
  TempDir dir;
  ASSERT_TRUE(InstallManifest(Env::Default(), dir.path(), OldManifest()).ok());
  // MANIFEST-000005 holding sequence 1.
  WriteFile(dir.File("MANIFEST-000005"), ReadFile(dir.File("MANIFEST-000001")));
  WriteFile(dir.File("CURRENT"), "MANIFEST-000005\n");
  EXPECT_TRUE(ReadCurrentManifest(Env::Default(), dir.path()).status().IsCorruption());
}

TEST(ManifestTest, EveryTruncationIsCorruption) {
  TempDir dir;
  ASSERT_TRUE(InstallManifest(Env::Default(), dir.path(), NewManifest()).ok());
  const std::string manifest = ReadFile(dir.File("MANIFEST-000002"));
  const std::string current = ReadFile(dir.File("CURRENT"));
  for (size_t len = 0; len < manifest.size(); ++len) {
    WriteFile(dir.File("MANIFEST-000002"), std::string_view(manifest).substr(0, len));
    auto m = ReadCurrentManifest(Env::Default(), dir.path());
    ASSERT_TRUE(m.status().IsCorruption()) << "length " << len << ": " << m.status().ToString();
    EXPECT_NE(m.status().message().find("MANIFEST-000002"), std::string::npos);
  }
  WriteFile(dir.File("MANIFEST-000002"), manifest);
  for (size_t len = 0; len < current.size(); ++len) {
    WriteFile(dir.File("CURRENT"), std::string_view(current).substr(0, len));
    auto m = ReadCurrentManifest(Env::Default(), dir.path());
    ASSERT_TRUE(m.status().IsCorruption()) << "length " << len << ": " << m.status().ToString();
  }
  WriteFile(dir.File("CURRENT"), current);
  EXPECT_TRUE(ReadCurrentManifest(Env::Default(), dir.path()).ok());
}

TEST(ManifestTest, RandomBitFlipsAreDetected) {
  auto enc = EncodeManifest(NewManifest());
  ASSERT_TRUE(enc.ok());
  std::mt19937_64 rng(99);
  for (int i = 0; i < 1000; ++i) {
    std::string bad = *enc;
    size_t bit = rng() % (bad.size() * 8);
    bad[bit / 8] = static_cast<char>(bad[bit / 8] ^ (1 << (bit % 8)));
    auto m = DecodeManifest(bad, "flip");
    ASSERT_TRUE(m.status().IsCorruption()) << "bit " << bit << ": " << m.status().ToString();
  }
}

// A manifest with a valid CRC but counts or lengths that lie must be
// rejected without a large allocation or an out-of-bounds read.
TEST(ManifestTest, LyingCountsAreCorruption) {
  auto craft = [](std::string body) {
    std::string out(kManifestMagic, sizeof(kManifestMagic));
    util::PutFixed32(&out, kManifestFormatVersion);
    util::PutFixed32(&out, static_cast<uint32_t>(body.size()));
    out += body;
    util::PutFixed32(&out, util::crc32c::Mask(util::crc32c::Value(out.data(), out.size())));
    return out;
  };
  std::string body;
  util::PutFixed64(&body, 1);
  util::PutVarint32(&body, 0xFFFFFFFFu);  // four billion segment names
  EXPECT_TRUE(DecodeManifest(craft(body), "x").status().IsCorruption());
  body.clear();
  util::PutFixed64(&body, 1);
  util::PutVarint32(&body, 1);
  util::PutVarint32(&body, 1000);  // name longer than the file
  body += "abc";
  EXPECT_TRUE(DecodeManifest(craft(body), "x").status().IsCorruption());
  body.clear();
  util::PutFixed64(&body, 1);
  util::PutVarint32(&body, 0);
  util::PutVarint32(&body, 0);
  body += "z";  // trailing byte
  EXPECT_TRUE(DecodeManifest(craft(body), "x").status().IsCorruption());
}

// An install failing at any create, write, sync, rename or directory sync
// returns the error and leaves CURRENT naming the old or the new manifest,
// complete, also after a simulated power loss.
TEST(ManifestTest, InjectedFaultsLeaveOldOrNewManifest) {
  for (FaultOp op : {FaultOp::kCreate, FaultOp::kWrite, FaultOp::kSync, FaultOp::kRename,
                     FaultOp::kSyncDir}) {
    uint64_t total = 0;
    {
      TempDir dir;
      ASSERT_TRUE(InstallManifest(Env::Default(), dir.path(), OldManifest()).ok());
      FaultInjectionEnv env(Env::Default());
      ASSERT_TRUE(InstallManifest(&env, dir.path(), NewManifest()).ok());
      total = env.OpCount(op);
    }
    ASSERT_GT(total, 0u) << static_cast<int>(op);
    for (uint64_t n = 1; n <= total; ++n) {
      SCOPED_TRACE("op " + std::to_string(static_cast<int>(op)) + " #" + std::to_string(n));
      TempDir dir;
      ASSERT_TRUE(InstallManifest(Env::Default(), dir.path(), OldManifest()).ok());
      FaultInjectionEnv env(Env::Default());
      env.InjectFault(op, n);
      Status s = InstallManifest(&env, dir.path(), NewManifest());
      EXPECT_TRUE(s.IsIOError()) << s.ToString();
      EXPECT_EQ(env.faults_fired(), 1u);
      bool saw_new = false;
      for (int pass = 0; pass < 2; ++pass) {
        if (pass == 1) {
          ASSERT_TRUE(env.DropUnsyncedData().ok());
        }
        auto m = ReadCurrentManifest(Env::Default(), dir.path());
        ASSERT_TRUE(m.ok()) << "pass " << pass << ": " << m.status().ToString();
        EXPECT_TRUE(*m == OldManifest() || *m == NewManifest());
        // Once the new manifest is visible, a power loss must not undo it
        // into something broken (it may not go back to old either: the
        // rename is durable in this model).
        if (pass == 0) saw_new = *m == NewManifest();
        if (pass == 1 && saw_new) {
          EXPECT_EQ(*m, NewManifest());
        }
      }
      // A later install still works (no leftover blocks it).
      ASSERT_TRUE(InstallManifest(Env::Default(), dir.path(), NewManifest()).ok() ||
                  saw_new);
    }
  }
}

}  // namespace
}  // namespace omendb::storage
