// Tests of util/dataset: TEXMEX readers and writers (plain and .zst), their
// handling of malformed files, the directory loader and the generator.
#include "util/dataset.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <zstd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "testutil/testutil.h"

namespace omendb::util {
namespace {

using testutil::RandomMatrix;
using testutil::TempDir;

std::vector<uint8_t> ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void WriteBytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

void AppendI32(std::vector<uint8_t>* b, int32_t v) {
  size_t at = b->size();
  b->resize(at + 4);
  std::memcpy(b->data() + at, &v, 4);  // the test machine is little-endian, like TEXMEX
}

void AppendF32(std::vector<uint8_t>* b, float v) {
  int32_t i;
  std::memcpy(&i, &v, 4);
  AppendI32(b, i);
}

// One fvecs record per row of `rows`, each with its own dimension field.
std::vector<uint8_t> FvecsBytes(const std::vector<std::vector<float>>& rows) {
  std::vector<uint8_t> b;
  for (const auto& r : rows) {
    AppendI32(&b, static_cast<int32_t>(r.size()));
    for (float v : r) AppendF32(&b, v);
  }
  return b;
}

std::vector<uint8_t> ZstdCompress(const std::vector<uint8_t>& raw) {
  std::vector<uint8_t> out(ZSTD_compressBound(raw.size()));
  size_t n = ZSTD_compress(out.data(), out.size(), raw.data(), raw.size(), 3);
  EXPECT_FALSE(ZSTD_isError(n)) << ZSTD_getErrorName(n);
  out.resize(ZSTD_isError(n) ? 0 : n);
  return out;
}

// A frame produced by the streaming API with no content size in its header,
// as `zstd` writes when reading from a pipe.
std::vector<uint8_t> ZstdCompressStreaming(const std::vector<uint8_t>& raw) {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  std::vector<uint8_t> out(ZSTD_compressBound(raw.size()) + 64);
  ZSTD_outBuffer ob{out.data(), out.size(), 0};
  // Feed in small pieces with ZSTD_e_continue so the frame cannot carry a size.
  size_t pos = 0;
  while (pos < raw.size()) {
    size_t n = std::min<size_t>(1000, raw.size() - pos);
    ZSTD_inBuffer ib{raw.data() + pos, n, 0};
    while (ib.pos < ib.size) ZSTD_compressStream2(cctx, &ob, &ib, ZSTD_e_continue);
    pos += n;
  }
  ZSTD_inBuffer empty{nullptr, 0, 0};
  while (ZSTD_compressStream2(cctx, &ob, &empty, ZSTD_e_end) != 0) {
  }
  ZSTD_freeCCtx(cctx);
  out.resize(ob.pos);
  return out;
}

void ExpectSameMatrix(const Matrix& a, const Matrix& b) {
  ASSERT_EQ(a.rows, b.rows);
  ASSERT_EQ(a.dim, b.dim);
  ASSERT_EQ(a.data.size(), b.data.size());
  EXPECT_EQ(0, std::memcmp(a.data.data(), b.data.data(), a.data.size() * sizeof(float)));
}

TEST(DatasetTest, FvecsRoundTrip) {
  TempDir tmp;
  Matrix m = RandomMatrix(37, 19, 1);
  ASSERT_TRUE(WriteFvecs(tmp.File("a.fvecs"), m).ok());
  EXPECT_EQ(ReadBytes(tmp.File("a.fvecs")).size(), 37u * (4 + 4 * 19));
  auto r = ReadFvecs(tmp.File("a.fvecs"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectSameMatrix(*r, m);
}

TEST(DatasetTest, IvecsRoundTrip) {
  TempDir tmp;
  IdMatrix m;
  m.rows = 5;
  m.cols = 3;
  m.data = {0, 1, 2, -1, 7, std::numeric_limits<int32_t>::max(), 5, 4, 3, 9, 9, 9, 100, 200, 300};
  ASSERT_TRUE(WriteIvecs(tmp.File("g.ivecs"), m).ok());
  auto r = ReadIvecs(tmp.File("g.ivecs"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->rows, 5u);
  EXPECT_EQ(r->cols, 3u);
  EXPECT_EQ(r->data, m.data);
}

TEST(DatasetTest, BvecsWidensBytesToFloat) {
  TempDir tmp;
  std::vector<uint8_t> b;
  for (int row = 0; row < 2; ++row) {
    AppendI32(&b, 3);
    b.push_back(static_cast<uint8_t>(row));
    b.push_back(128);
    b.push_back(255);
  }
  WriteBytes(tmp.File("b.bvecs"), b);
  auto r = ReadBvecs(tmp.File("b.bvecs"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->rows, 2u);
  ASSERT_EQ(r->dim, 3u);
  EXPECT_EQ(r->data, (std::vector<float>{0, 128, 255, 1, 128, 255}));
}

TEST(DatasetTest, EmptyFileHoldsZeroVectors) {
  TempDir tmp;
  WriteBytes(tmp.File("e.fvecs"), {});
  auto r = ReadFvecs(tmp.File("e.fvecs"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->rows, 0u);
  EXPECT_TRUE(r->data.empty());
  auto g = ReadIvecs(tmp.File("e.fvecs"));
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->rows, 0u);
}

TEST(DatasetTest, MaxRowsCapsTheRead) {
  TempDir tmp;
  Matrix m = RandomMatrix(10, 4, 2);
  ASSERT_TRUE(WriteFvecs(tmp.File("m.fvecs"), m).ok());
  ASSERT_TRUE(WriteFvecs(tmp.File("m.fvecs.zst"), m).ok());
  for (const char* name : {"m.fvecs", "m.fvecs.zst"}) {
    auto r = ReadFvecs(tmp.File(name), 3);
    ASSERT_TRUE(r.ok()) << name << ": " << r.status().ToString();
    ASSERT_EQ(r->rows, 3u);
    EXPECT_EQ(0, std::memcmp(r->data.data(), m.data.data(), 3 * 4 * sizeof(float)));
    auto zero = ReadFvecs(tmp.File(name), 0);
    ASSERT_TRUE(zero.ok());
    EXPECT_EQ(zero->rows, 0u);
    EXPECT_TRUE(zero->data.empty());
    auto all = ReadFvecs(tmp.File(name), 1000);
    ASSERT_TRUE(all.ok()) << all.status().ToString();
    ExpectSameMatrix(*all, m);
  }
}

TEST(DatasetTest, TruncatedFileIsCorruptionNamingFileAndOffset) {
  TempDir tmp;
  // 3 records of dimension 4: 20 bytes each, 60 in all.
  Matrix m = RandomMatrix(3, 4, 3);
  ASSERT_TRUE(WriteFvecs(tmp.File("full.fvecs"), m).ok());
  std::vector<uint8_t> full = ReadBytes(tmp.File("full.fvecs"));
  ASSERT_EQ(full.size(), 60u);
  for (size_t size : {1, 2, 3, 5, 8, 19, 21, 24, 39, 40 + 1, 59}) {
    SCOPED_TRACE("size " + std::to_string(size));
    std::string path = tmp.File("cut" + std::to_string(size) + ".fvecs");
    WriteBytes(path, std::vector<uint8_t>(full.begin(), full.begin() + size));
    auto r = ReadFvecs(path);
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(r.status().IsCorruption()) << r.status().ToString();
    const std::string msg = r.status().message();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    size_t bad_record = size < 4 ? 0 : size / 20 * 20;
    EXPECT_NE(msg.find("byte offset " + std::to_string(bad_record)), std::string::npos) << msg;
    // The same cut, compressed: detected while streaming.
    std::string zpath = path + ".zst";
    WriteBytes(zpath, ZstdCompress(std::vector<uint8_t>(full.begin(), full.begin() + size)));
    auto z = ReadFvecs(zpath);
    ASSERT_FALSE(z.ok());
    EXPECT_TRUE(z.status().IsCorruption()) << z.status().ToString();
    EXPECT_NE(z.status().message().find(zpath), std::string::npos);
    EXPECT_NE(z.status().message().find("offset " + std::to_string(bad_record)), std::string::npos)
        << z.status().message();
  }
}

TEST(DatasetTest, TruncatedIvecsAndBvecsAreCorruption) {
  TempDir tmp;
  std::vector<uint8_t> b;
  AppendI32(&b, 2);
  AppendI32(&b, 7);
  AppendI32(&b, 8);
  AppendI32(&b, 2);
  AppendI32(&b, 9);  // second record lacks its last value
  WriteBytes(tmp.File("t.ivecs"), b);
  auto g = ReadIvecs(tmp.File("t.ivecs"));
  ASSERT_FALSE(g.ok());
  EXPECT_TRUE(g.status().IsCorruption()) << g.status().ToString();
  EXPECT_NE(g.status().message().find("byte offset 12"), std::string::npos);

  std::vector<uint8_t> v;
  AppendI32(&v, 3);
  v.insert(v.end(), {1, 2, 3});
  AppendI32(&v, 3);
  v.push_back(4);
  WriteBytes(tmp.File("t.bvecs"), v);
  auto r = ReadBvecs(tmp.File("t.bvecs"));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsCorruption()) << r.status().ToString();
  EXPECT_NE(r.status().message().find("byte offset 7"), std::string::npos);
}

TEST(DatasetTest, BadFirstDimensionFieldIsCorruption) {
  TempDir tmp;
  for (int32_t dim : {0, -1, -128, 65537, std::numeric_limits<int32_t>::max(),
                      std::numeric_limits<int32_t>::min()}) {
    SCOPED_TRACE("dim " + std::to_string(dim));
    std::vector<uint8_t> b;
    AppendI32(&b, dim);
    for (int i = 0; i < 16; ++i) AppendF32(&b, 1.0f);
    WriteBytes(tmp.File("d.fvecs"), b);
    auto r = ReadFvecs(tmp.File("d.fvecs"));
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(r.status().IsCorruption()) << r.status().ToString();
    EXPECT_NE(r.status().message().find(std::to_string(dim)), std::string::npos);
  }
}

TEST(DatasetTest, HugeDimensionInTinyFileDoesNotAllocate) {
  TempDir tmp;
  // Claims one 65536-dimensional record (262148 bytes) but holds 8 bytes:
  // rejected from the file size before any allocation for the record.
  std::vector<uint8_t> b;
  AppendI32(&b, 65536);
  AppendF32(&b, 1.0f);
  WriteBytes(tmp.File("h.fvecs"), b);
  auto r = ReadFvecs(tmp.File("h.fvecs"));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsCorruption()) << r.status().ToString();
  WriteBytes(tmp.File("h.fvecs.zst"), ZstdCompress(b));
  auto z = ReadFvecs(tmp.File("h.fvecs.zst"));
  ASSERT_FALSE(z.ok());
  EXPECT_TRUE(z.status().IsCorruption()) << z.status().ToString();
}

TEST(DatasetTest, InconsistentDimensionFieldIsCorruption) {
  TempDir tmp;
  // Record 1 says dimension 5 but the file is still a whole number of
  // 4-dimensional records, so only the per-record check can catch it.
  std::vector<uint8_t> b = FvecsBytes({{1, 2, 3, 4}, {5, 6, 7, 8}, {9, 10, 11, 12}});
  int32_t five = 5;
  std::memcpy(b.data() + 20, &five, 4);
  WriteBytes(tmp.File("x.fvecs"), b);
  auto r = ReadFvecs(tmp.File("x.fvecs"));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsCorruption()) << r.status().ToString();
  EXPECT_NE(r.status().message().find("record 1"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("byte offset 20"), std::string::npos);
}

TEST(DatasetTest, NonFiniteValueIsInvalidArgumentWithRow) {
  TempDir tmp;
  const float kBad[] = {std::numeric_limits<float>::quiet_NaN(),
                        std::numeric_limits<float>::infinity(),
                        -std::numeric_limits<float>::infinity()};
  for (float bad : kBad) {
    SCOPED_TRACE(std::to_string(bad));
    std::vector<uint8_t> b = FvecsBytes({{1, 2}, {3, 4}, {5, bad}, {7, 8}});
    WriteBytes(tmp.File("n.fvecs"), b);
    auto r = ReadFvecs(tmp.File("n.fvecs"));
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(r.status().IsInvalidArgument()) << r.status().ToString();
    EXPECT_NE(r.status().message().find("row 2"), std::string::npos) << r.status().message();
  }
}

TEST(DatasetTest, MissingFileIsNotFoundAndDirectoryIsRejected) {
  TempDir tmp;
  auto r = ReadFvecs(tmp.File("nope.fvecs"));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsNotFound()) << r.status().ToString();
  auto d = ReadFvecs(tmp.path());
  ASSERT_FALSE(d.ok());
  EXPECT_TRUE(d.status().IsInvalidArgument()) << d.status().ToString();
}

TEST(DatasetTest, WriterRejectsBadInputAndLeavesNoFile) {
  TempDir tmp;
  Matrix m = RandomMatrix(2, 3, 4);
  m.data[4] = std::numeric_limits<float>::quiet_NaN();
  Status s = WriteFvecs(tmp.File("w.fvecs"), m);
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  Matrix wrong = RandomMatrix(2, 3, 4);
  wrong.rows = 3;
  EXPECT_TRUE(WriteFvecs(tmp.File("w.fvecs"), wrong).IsInvalidArgument());
  EXPECT_FALSE(WriteFvecs(tmp.File("no/such/dir.fvecs"), RandomMatrix(1, 1, 1)).ok());
  // Nothing, not even a temporary, is left behind.
  EXPECT_TRUE(std::filesystem::is_empty(tmp.path()));
}

TEST(DatasetTest, ZstWrittenByLibraryRoundTrips) {
  TempDir tmp;
  Matrix m = RandomMatrix(300, 33, 5);
  ASSERT_TRUE(WriteFvecs(tmp.File("z.fvecs.zst"), m).ok());
  std::vector<uint8_t> bytes = ReadBytes(tmp.File("z.fvecs.zst"));
  ASSERT_GE(bytes.size(), 4u);
  EXPECT_EQ(bytes[0], 0x28);  // zstd frame magic 0xFD2FB528, little-endian
  EXPECT_EQ(bytes[3], 0xFD);
  auto r = ReadFvecs(tmp.File("z.fvecs.zst"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectSameMatrix(*r, m);
}

TEST(DatasetTest, ZstFromLibzstdRoundTrips) {
  TempDir tmp;
  Matrix m = RandomMatrix(2000, 128, 6);  // ~1 MiB: several decoder buffers
  ASSERT_TRUE(WriteFvecs(tmp.File("p.fvecs"), m).ok());
  std::vector<uint8_t> raw = ReadBytes(tmp.File("p.fvecs"));

  WriteBytes(tmp.File("oneshot.fvecs.zst"), ZstdCompress(raw));
  WriteBytes(tmp.File("stream.fvecs.zst"), ZstdCompressStreaming(raw));
  // Two frames split inside a record, as `cat a.zst b.zst` produces.
  size_t cut = 1234567 % raw.size();
  std::vector<uint8_t> two = ZstdCompress({raw.begin(), raw.begin() + cut});
  std::vector<uint8_t> second = ZstdCompress({raw.begin() + cut, raw.end()});
  two.insert(two.end(), second.begin(), second.end());
  WriteBytes(tmp.File("two.fvecs.zst"), two);

  for (const char* name : {"oneshot.fvecs.zst", "stream.fvecs.zst", "two.fvecs.zst"}) {
    SCOPED_TRACE(name);
    auto r = ReadFvecs(tmp.File(name));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ExpectSameMatrix(*r, m);
  }
}

TEST(DatasetTest, DamagedZstIsCorruption) {
  TempDir tmp;
  Matrix m = RandomMatrix(500, 16, 7);
  ASSERT_TRUE(WriteFvecs(tmp.File("p.fvecs"), m).ok());
  std::vector<uint8_t> z = ZstdCompress(ReadBytes(tmp.File("p.fvecs")));
  // Compressed stream cut short.
  WriteBytes(tmp.File("cut.fvecs.zst"), {z.begin(), z.begin() + static_cast<long>(z.size() / 2)});
  // Not zstd at all.
  WriteBytes(tmp.File("junk.fvecs.zst"), std::vector<uint8_t>(100, 0x41));
  // Empty.
  WriteBytes(tmp.File("empty.fvecs.zst"), {});
  // A flipped byte in the payload.
  std::vector<uint8_t> flipped = z;
  flipped[flipped.size() / 2] ^= 0xFF;
  WriteBytes(tmp.File("flip.fvecs.zst"), flipped);
  for (const char* name : {"cut.fvecs.zst", "junk.fvecs.zst", "empty.fvecs.zst"}) {
    SCOPED_TRACE(name);
    auto r = ReadFvecs(tmp.File(name));
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(r.status().IsCorruption()) << r.status().ToString();
  }
  // A flipped byte may also decode to wrong floats (no checksum in a one-shot
  // frame); what matters is no crash and either an error or a matrix.
  auto f = ReadFvecs(tmp.File("flip.fvecs.zst"));
  if (f.ok()) {
    EXPECT_LE(f->rows, 500u);
  } else {
    EXPECT_FALSE(f.status().message().empty());
  }
}

TEST(DatasetTest, ReadVectorsFindsAnyExtension) {
  TempDir tmp;
  Matrix m = RandomMatrix(4, 3, 8);
  ASSERT_TRUE(WriteFvecs(tmp.File("base.fvecs.zst"), m).ok());
  auto r = ReadVectors(tmp.File("base"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectSameMatrix(*r, m);
  auto none = ReadVectors(tmp.File("query"));
  ASSERT_FALSE(none.ok());
  EXPECT_TRUE(none.status().IsNotFound());
}

// Writes DIR/base.fvecs (n x dim), DIR/query.fvecs (nq x qdim) and, if
// gt_cols > 0, a ground truth whose ids are row numbers modulo n + gt_offset.
void MakeTexmexDir(const std::string& dir, size_t n, size_t dim, size_t nq, size_t qdim,
                   size_t gt_cols, int32_t gt_offset = 0) {
  std::filesystem::create_directories(dir);
  ASSERT_TRUE(WriteFvecs(dir + "/base.fvecs", RandomMatrix(n, dim, 10)).ok());
  ASSERT_TRUE(WriteFvecs(dir + "/query.fvecs", RandomMatrix(nq, qdim, 11)).ok());
  if (gt_cols == 0) return;
  IdMatrix gt;
  gt.rows = nq;
  gt.cols = gt_cols;
  for (size_t i = 0; i < nq * gt_cols; ++i) {
    gt.data.push_back(static_cast<int32_t>(i % n) + gt_offset);
  }
  ASSERT_TRUE(WriteIvecs(dir + "/groundtruth.ivecs", gt).ok());
}

TEST(DatasetTest, LoadTexmexDir) {
  TempDir tmp;
  MakeTexmexDir(tmp.File("ds"), 50, 8, 5, 8, 10);
  auto r = LoadTexmexDir(tmp.File("ds"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->name, "ds");
  EXPECT_EQ(r->base.rows, 50u);
  EXPECT_EQ(r->queries.rows, 5u);
  EXPECT_EQ(r->groundtruth.rows, 5u);
  EXPECT_EQ(r->groundtruth.cols, 10u);

  auto capped = LoadTexmexDir(tmp.File("ds") + "/", 15, 2);
  ASSERT_TRUE(capped.ok()) << capped.status().ToString();
  EXPECT_EQ(capped->name, "ds");
  EXPECT_EQ(capped->base.rows, 15u);
  EXPECT_EQ(capped->queries.rows, 2u);
  // Ground truth names rows beyond the cap: it no longer applies.
  EXPECT_EQ(capped->groundtruth.rows, 0u);
}

TEST(DatasetTest, LoadTexmexDirWithoutGroundTruth) {
  TempDir tmp;
  MakeTexmexDir(tmp.File("ds"), 20, 4, 3, 4, 0);
  auto r = LoadTexmexDir(tmp.File("ds"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->groundtruth.rows, 0u);
}

TEST(DatasetTest, LoadTexmexDirErrors) {
  TempDir tmp;
  auto missing = LoadTexmexDir(tmp.File("nope"));
  EXPECT_TRUE(missing.status().IsNotFound()) << missing.status().ToString();

  MakeTexmexDir(tmp.File("mismatch"), 20, 4, 3, 5, 0);
  auto mm = LoadTexmexDir(tmp.File("mismatch"));
  EXPECT_TRUE(mm.status().IsInvalidArgument()) << mm.status().ToString();
  EXPECT_NE(mm.status().message().find("dimension"), std::string::npos);

  MakeTexmexDir(tmp.File("badgt"), 20, 4, 3, 4, 5, /*gt_offset=*/100);
  auto bad = LoadTexmexDir(tmp.File("badgt"));
  EXPECT_TRUE(bad.status().IsCorruption()) << bad.status().ToString();

  MakeTexmexDir(tmp.File("shortgt"), 20, 4, 3, 4, 5);
  IdMatrix one{{1, 2, 3, 4, 5}, 1, 5};
  ASSERT_TRUE(WriteIvecs(tmp.File("shortgt") + "/groundtruth.ivecs", one).ok());
  auto shortgt = LoadTexmexDir(tmp.File("shortgt"));
  EXPECT_TRUE(shortgt.status().IsCorruption()) << shortgt.status().ToString();

  MakeTexmexDir(tmp.File("noquery"), 20, 4, 3, 4, 0);
  std::filesystem::remove(tmp.File("noquery") + "/query.fvecs");
  EXPECT_TRUE(LoadTexmexDir(tmp.File("noquery")).status().IsNotFound());
}

uint64_t Fnv1a(const void* data, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; ++i) {
    h ^= static_cast<const uint8_t*>(data)[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

TEST(DatasetTest, GenerateClusteredIsDeterministic) {
  Matrix a = GenerateClustered(500, 32, 10, 0.1f, 42);
  Matrix b = GenerateClustered(500, 32, 10, 0.1f, 42);
  Matrix c = GenerateClustered(500, 32, 10, 0.1f, 43);
  ASSERT_EQ(a.rows, 500u);
  ASSERT_EQ(a.dim, 32u);
  ASSERT_EQ(a.data.size(), 500u * 32);
  EXPECT_EQ(0, std::memcmp(a.data.data(), b.data.data(), a.data.size() * sizeof(float)));
  EXPECT_NE(0, std::memcmp(a.data.data(), c.data.data(), a.data.size() * sizeof(float)));
  // Asking for fewer rows gives a prefix of the same data.
  Matrix prefix = GenerateClustered(100, 32, 10, 0.1f, 42);
  EXPECT_EQ(0, std::memcmp(prefix.data.data(), a.data.data(), prefix.data.size() * sizeof(float)));
  // Pinned bytes: a change here means data generated by earlier builds (and
  // on other machines) no longer matches.
  EXPECT_EQ(Fnv1a(a.data.data(), a.data.size() * sizeof(float)), 0xde410d10baa95371ull);
}

TEST(DatasetTest, GenerateClusteredHasTheRequestedSpread) {
  // One cluster: every row is the centre plus N(0, sigma^2) noise, so the
  // per-component spread around the column mean estimates sigma.
  const size_t rows = 4000, dim = 16;
  const float sigma = 0.5f;
  Matrix m = GenerateClustered(rows, dim, 1, sigma, 9);
  double sum_var = 0;
  for (size_t j = 0; j < dim; ++j) {
    double mean = 0, sq = 0;
    for (size_t i = 0; i < rows; ++i) mean += m.row(i)[j];
    mean /= rows;
    EXPECT_GE(mean, -1.05);
    EXPECT_LE(mean, 1.05);
    for (size_t i = 0; i < rows; ++i) sq += (m.row(i)[j] - mean) * (m.row(i)[j] - mean);
    sum_var += sq / (rows - 1);
  }
  EXPECT_NEAR(std::sqrt(sum_var / dim), sigma, 0.02);
  for (float v : m.data) ASSERT_TRUE(std::isfinite(v));
}

class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old, had_ = true;
    if (value != nullptr) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (had_) {
      ::setenv(name_, old_.c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

TEST(DatasetTest, FindDataDirHonoursOmendbData) {
  TempDir tmp;
  std::filesystem::create_directories(tmp.File("mydata"));
  ScopedEnv env("OMENDB_DATA", tmp.path().c_str());
  EXPECT_EQ(FindDataDir("mydata"), tmp.File("mydata"));
  EXPECT_EQ(FindDataDir("other"), "");
  EXPECT_EQ(FindDataDir("../mydata"), "");
  EXPECT_EQ(FindDataDir(""), "");
}

TEST(DatasetTest, FindDataDirSearchesBesideTheSourceTree) {
  TempDir tmp;
  std::filesystem::create_directories(tmp.File("shared/data/set1"));
  std::filesystem::create_directories(tmp.File("main"));
  ScopedEnv no_data("OMENDB_DATA", nullptr);
  ScopedEnv src("OMENDB_SOURCE_DIR", tmp.File("main").c_str());
  EXPECT_EQ(FindDataDir("set1"), tmp.File("shared/data/set1"));
  EXPECT_EQ(FindDataDir("set2"), "");
}

}  // namespace
}  // namespace omendb::util
