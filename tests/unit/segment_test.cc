#include "storage/segment.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <utility>
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


bool Exists(const std::string& path) {
  auto e = Env::Default()->FileExists(path);
  return e.ok() && *e;
}

std::string Pattern(size_t n, uint32_t seed) {
  std::string s(n, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1103515245u + 12345u;
    s[i] = static_cast<char>(x >> 24);
  }
  return s;
}

// The sections of the small segment most tests use.
const std::vector<std::pair<uint32_t, std::string>>& SmallSections() {
  static const auto* sections = new std::vector<std::pair<uint32_t, std::string>>{
      {1, "hello"}, {2, ""}, {7, Pattern(100, 7)}, {3, "x"}, {0xFFFFFFFFu, Pattern(64, 9)}};
  return *sections;
}

Status WriteSmall(Env* env, const std::string& path) {
  SegmentWriter w(env, path);
  for (const auto& [tag, data] : SmallSections()) OMENDB_RETURN_IF_ERROR(w.AddSection(tag, data));
  return w.Finish();
}

void ExpectSmallContents(const SegmentReader& r) {
  ASSERT_EQ(r.sections().size(), SmallSections().size());
  for (const auto& [tag, data] : SmallSections()) {
    auto s = r.Section(tag);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_EQ(*s, data) << "tag " << tag;
  }
}

TEST(SegmentTest, RoundTripSeveralSections) {
  TempDir dir;
  const std::string path = dir.File("000001.seg");
  ASSERT_TRUE(WriteSmall(Env::Default(), path).ok());
  EXPECT_FALSE(Exists(path + ".tmp"));

  auto r = SegmentReader::Open(Env::Default(), path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectSmallContents(**r);
  EXPECT_TRUE((*r)->HasSection(7));
  EXPECT_FALSE((*r)->HasSection(8));
  EXPECT_TRUE((*r)->VerifyAll().ok());

  // Sections keep write order, start 64-byte aligned in the file and in memory.
  const auto& secs = (*r)->sections();
  for (size_t i = 0; i < secs.size(); ++i) {
    EXPECT_EQ(secs[i].tag, SmallSections()[i].first);
    EXPECT_EQ(secs[i].offset % kSegmentAlignment, 0u);
    EXPECT_EQ(secs[i].length, SmallSections()[i].second.size());
    if (i > 0) {
      EXPECT_GE(secs[i].offset, secs[i - 1].offset + secs[i - 1].length);
    }
    auto view = (*r)->Section(secs[i].tag);
    ASSERT_TRUE(view.ok());
    if (!view->empty()) {
      EXPECT_EQ(reinterpret_cast<uintptr_t>(view->data()) % kSegmentAlignment, 0u);
    }
  }
  EXPECT_EQ(secs[0].offset, kSegmentAlignment);
}

TEST(SegmentTest, EmptySegmentAndEmptySection) {
  TempDir dir;
  {
    SegmentWriter w(Env::Default(), dir.File("empty.seg"));
    ASSERT_TRUE(w.Finish().ok());
    EXPECT_EQ(w.bytes_written(), kSegmentAlignment + kSegmentFooterSize);
  }
  auto r = SegmentReader::Open(Env::Default(), dir.File("empty.seg"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE((*r)->sections().empty());
  EXPECT_TRUE((*r)->Section(1).status().IsNotFound());

  {
    SegmentWriter w(Env::Default(), dir.File("one.seg"));
    ASSERT_TRUE(w.AddSection(5, std::string_view()).ok());
    ASSERT_TRUE(w.Finish().ok());
  }
  r = SegmentReader::Open(Env::Default(), dir.File("one.seg"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto s = (*r)->Section(5);
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->empty());
}

TEST(SegmentTest, MissingTagIsNotFound) {
  TempDir dir;
  ASSERT_TRUE(WriteSmall(Env::Default(), dir.File("a.seg")).ok());
  auto r = SegmentReader::Open(Env::Default(), dir.File("a.seg"));
  ASSERT_TRUE(r.ok());
  auto s = (*r)->Section(42);
  EXPECT_TRUE(s.status().IsNotFound()) << s.status().ToString();
  EXPECT_NE(s.status().message().find("42"), std::string::npos);
  EXPECT_TRUE((*r)->VerifySection(42).IsNotFound());
}

TEST(SegmentTest, MissingFileIsNotFound) {
  TempDir dir;
  auto r = SegmentReader::Open(Env::Default(), dir.File("nope.seg"));
  EXPECT_TRUE(r.status().IsNotFound()) << r.status().ToString();
}

TEST(SegmentTest, LargeSectionInChunks) {
  TempDir dir;
  const size_t kBig = 5 << 20;
  const std::string big = Pattern(kBig, 1);
  {
    SegmentWriter w(Env::Default(), dir.File("big.seg"));
    ASSERT_TRUE(w.AddSection(1, "head").ok());
    // Explicit chunks of an odd size, so chunk boundaries fall anywhere.
    ASSERT_TRUE(w.BeginSection(2).ok());
    for (size_t pos = 0; pos < kBig; pos += 65537) {
      ASSERT_TRUE(w.Append(std::string_view(big).substr(pos, 65537)).ok());
    }
    ASSERT_TRUE(w.EndSection().ok());
    // The same bytes again through a chunk source.
    size_t pos = 0;
    ASSERT_TRUE(w.AddSection(3, [&]() -> Result<std::string_view> {
                   std::string_view chunk = std::string_view(big).substr(pos, 100000);
                   pos += chunk.size();
                   return chunk;
                 }).ok());
    ASSERT_TRUE(w.Finish().ok());
  }
  auto r = SegmentReader::Open(Env::Default(), dir.File("big.seg"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*(*r)->Section(1), "head");
  auto s2 = (*r)->Section(2);
  auto s3 = (*r)->Section(3);
  ASSERT_TRUE(s2.ok() && s3.ok());
  EXPECT_TRUE(*s2 == big);
  EXPECT_TRUE(*s3 == big);
  EXPECT_EQ((*r)->sections()[1].offset % kSegmentAlignment, 0u);
  EXPECT_EQ((*r)->sections()[2].offset % kSegmentAlignment, 0u);
}

TEST(SegmentTest, ChunkSourceErrorPoisonsWriter) {
  TempDir dir;
  SegmentWriter w(Env::Default(), dir.File("a.seg"));
  Status s = w.AddSection(1, []() -> Result<std::string_view> {
    return Status::Internal("source failed");
  });
  EXPECT_EQ(s.code(), StatusCode::kInternal);
  EXPECT_EQ(w.Finish().code(), StatusCode::kInternal);
  EXPECT_FALSE(Exists(dir.File("a.seg")));
  EXPECT_FALSE(Exists(dir.File("a.seg.tmp")));
}

TEST(SegmentTest, MisuseIsRejected) {
  TempDir dir;
  {
    SegmentWriter w(Env::Default(), dir.File("a.seg"));
    ASSERT_TRUE(w.AddSection(1, "a").ok());
    EXPECT_TRUE(w.AddSection(1, "b").IsInvalidArgument());
    EXPECT_FALSE(w.Finish().ok());  // poisoned
  }
  {
    SegmentWriter w(Env::Default(), dir.File("b.seg"));
    EXPECT_EQ(w.Append("x").code(), StatusCode::kFailedPrecondition);
  }
  {
    SegmentWriter w(Env::Default(), dir.File("c.seg"));
    ASSERT_TRUE(w.BeginSection(1).ok());
    EXPECT_EQ(w.Finish().code(), StatusCode::kFailedPrecondition);
  }
  {
    SegmentWriter w(Env::Default(), dir.File("d.seg"));
    ASSERT_TRUE(w.Finish().ok());
    EXPECT_EQ(w.Finish().code(), StatusCode::kFailedPrecondition);
  }
  // Nothing but the one finished segment is left behind.
  auto children = Env::Default()->GetChildren(dir.path());
  ASSERT_TRUE(children.ok());
  EXPECT_EQ(*children, std::vector<std::string>{"d.seg"});
}

TEST(SegmentTest, AbandonedWriterLeavesNothing) {
  TempDir dir;
  {
    SegmentWriter w(Env::Default(), dir.File("a.seg"));
    ASSERT_TRUE(w.AddSection(1, "data").ok());
    EXPECT_TRUE(Exists(dir.File("a.seg.tmp")));
    EXPECT_FALSE(Exists(dir.File("a.seg")));
  }
  EXPECT_FALSE(Exists(dir.File("a.seg.tmp")));
  EXPECT_FALSE(Exists(dir.File("a.seg")));
}

TEST(SegmentTest, EveryTruncationIsCorruption) {
  TempDir dir;
  ASSERT_TRUE(WriteSmall(Env::Default(), dir.File("a.seg")).ok());
  const std::string full = ReadFile(dir.File("a.seg"));
  ASSERT_GT(full.size(), 0u);
  for (size_t len = 0; len < full.size(); ++len) {
    WriteFile(dir.File("t.seg"), std::string_view(full).substr(0, len));
    auto r = SegmentReader::Open(Env::Default(), dir.File("t.seg"));
    ASSERT_TRUE(r.status().IsCorruption()) << "length " << len << ": " << r.status().ToString();
    EXPECT_NE(r.status().message().find(dir.File("t.seg")), std::string::npos);
  }
  // Extra bytes at the end are damage too.
  WriteFile(dir.File("t.seg"), full + std::string(1, '\0'));
  EXPECT_TRUE(SegmentReader::Open(Env::Default(), dir.File("t.seg")).status().IsCorruption());
}

TEST(SegmentTest, RandomBitFlipsAreDetected) {
  TempDir dir;
  ASSERT_TRUE(WriteSmall(Env::Default(), dir.File("a.seg")).ok());
  const std::string full = ReadFile(dir.File("a.seg"));
  std::mt19937_64 rng(12345);
  for (int i = 0; i < 1000; ++i) {
    std::string bad = full;
    size_t bit = rng() % (bad.size() * 8);
    bad[bit / 8] = static_cast<char>(bad[bit / 8] ^ (1 << (bit % 8)));
    WriteFile(dir.File("f.seg"), bad);
    auto r = SegmentReader::Open(Env::Default(), dir.File("f.seg"));
    ASSERT_TRUE(r.status().IsCorruption()) << "bit " << bit << ": " << r.status().ToString();
  }
}

TEST(SegmentTest, SkippedVerificationCanBeDoneLater) {
  TempDir dir;
  ASSERT_TRUE(WriteSmall(Env::Default(), dir.File("a.seg")).ok());
  std::string bad = ReadFile(dir.File("a.seg"));
  bad[kSegmentAlignment] ^= 1;  // first byte of section 1 ("hello")
  WriteFile(dir.File("b.seg"), bad);
  EXPECT_TRUE(SegmentReader::Open(Env::Default(), dir.File("b.seg")).status().IsCorruption());
  SegmentReadOptions fast;
  fast.verify_checksums = false;
  auto r = SegmentReader::Open(Env::Default(), dir.File("b.seg"), fast);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE((*r)->VerifySection(1).IsCorruption());
  EXPECT_TRUE((*r)->VerifySection(7).ok());
  EXPECT_TRUE((*r)->VerifyAll().IsCorruption());
}

// A footer whose own CRC is valid but whose table bounds are absurd must be
// rejected without reading or allocating anything out of bounds.
TEST(SegmentTest, HugeTableInValidFooterIsCorruption) {
  TempDir dir;
  ASSERT_TRUE(WriteSmall(Env::Default(), dir.File("a.seg")).ok());
  const std::string full = ReadFile(dir.File("a.seg"));
  for (auto [off, len] : std::vector<std::pair<uint64_t, uint64_t>>{
           {64, UINT64_MAX - 63}, {UINT64_MAX & ~63ull, 64}, {0, full.size() - 32}, {64, 0}}) {
    std::string bad = full;
    char* footer = bad.data() + bad.size() - kSegmentFooterSize;
    util::EncodeFixed64(footer, off);
    util::EncodeFixed64(footer + 8, len);
    util::EncodeFixed32(footer + 20,
                        util::crc32c::Mask(util::crc32c::Value(footer, 20)));
    WriteFile(dir.File("b.seg"), bad);
    auto r = SegmentReader::Open(Env::Default(), dir.File("b.seg"));
    EXPECT_TRUE(r.status().IsCorruption()) << off << "/" << len << ": " << r.status().ToString();
  }
}

TEST(SegmentTest, OtherVersionIsNotSupported) {
  TempDir dir;
  ASSERT_TRUE(WriteSmall(Env::Default(), dir.File("a.seg")).ok());
  std::string bad = ReadFile(dir.File("a.seg"));
  util::EncodeFixed32(bad.data() + 8, 2);
  util::EncodeFixed32(bad.data() + 20, util::crc32c::Mask(util::crc32c::Value(bad.data(), 20)));
  WriteFile(dir.File("b.seg"), bad);
  auto r = SegmentReader::Open(Env::Default(), dir.File("b.seg"));
  EXPECT_EQ(r.status().code(), StatusCode::kNotSupported) << r.status().ToString();
}

// After the writer fails at any write, sync, create, rename or directory
// sync, the final name holds either nothing or the complete segment, also
// after a simulated power loss.
TEST(SegmentTest, InjectedFaultsNeverLeaveAPartialSegment) {
  for (FaultOp op : {FaultOp::kWrite, FaultOp::kSync, FaultOp::kCreate, FaultOp::kRename,
                     FaultOp::kSyncDir}) {
    uint64_t total = 0;
    {
      TempDir dir;
      FaultInjectionEnv env(Env::Default());
      ASSERT_TRUE(WriteSmall(&env, dir.File("a.seg")).ok());
      total = env.OpCount(op);
    }
    ASSERT_GT(total, 0u) << static_cast<int>(op);
    for (uint64_t n = 1; n <= total; ++n) {
      SCOPED_TRACE("op " + std::to_string(static_cast<int>(op)) + " #" + std::to_string(n));
      TempDir dir;
      const std::string path = dir.File("a.seg");
      FaultInjectionEnv env(Env::Default());
      env.InjectFault(op, n);
      Status s = WriteSmall(&env, path);
      EXPECT_TRUE(s.IsIOError()) << s.ToString();
      EXPECT_EQ(env.faults_fired(), 1u);
      EXPECT_FALSE(Exists(path + ".tmp"));
      for (int pass = 0; pass < 2; ++pass) {
        if (pass == 1) {
          ASSERT_TRUE(env.DropUnsyncedData().ok());
        }
        if (!Exists(path)) continue;
        auto r = SegmentReader::Open(Env::Default(), path);
        ASSERT_TRUE(r.ok()) << "pass " << pass << ": " << r.status().ToString();
        ExpectSmallContents(**r);
      }
    }
  }
}

}  // namespace
}  // namespace omendb::storage
