// WAL framing tests: one named test per edge case of docs/format/wal.md, plus
// exhaustive truncation and random damage.
#include "storage/wal.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "omendb/env.h"
#include "testutil/testutil.h"
#include "util/crc32c.h"

namespace omendb::storage {
namespace {

constexpr size_t kBlock = kWalBlockSize;
constexpr size_t kHeader = kWalHeaderSize;

// `partial` repeated up to exactly n bytes.
std::string BigString(const std::string& partial, size_t n) {
  std::string s;
  while (s.size() < n) s += partial;
  s.resize(n);
  return s;
}

std::string NumberString(int n) { return std::to_string(n) + "."; }

// Lengths skewed towards small values, up to 2^17 bytes.
std::string RandomSkewedString(int i, std::mt19937* rng) {
  size_t bits = (*rng)() % 18;
  size_t n = (*rng)() % (size_t{1} << bits);
  return BigString(NumberString(i), n);
}

// A WritableFile appending to a string; can be told to fail.
class StringSink : public WritableFile {
 public:
  Status Append(std::string_view data) override {
    if (fail_) return Status::IOError("sink: injected");
    contents_.append(data);
    return Status::OK();
  }
  Status Flush() override { return fail_ ? Status::IOError("sink: injected") : Status::OK(); }
  Status Sync() override { return Flush(); }
  Status Close() override { return Status::OK(); }

  std::string contents_;
  bool fail_ = false;
};

// A SequentialFile over a copy of a string; can be told to fail.
class StringSource : public SequentialFile {
 public:
  explicit StringSource(std::string data) : data_(std::move(data)) {}
  Result<std::string_view> Read(size_t n, char* scratch) override {
    if (force_error_) {
      force_error_ = false;
      return Status::IOError("source: injected read error");
    }
    n = std::min(n, data_.size() - pos_);
    std::memcpy(scratch, data_.data() + pos_, n);
    pos_ += n;
    return std::string_view(scratch, n);
  }
  Status Skip(uint64_t n) override {
    pos_ += static_cast<size_t>(std::min<uint64_t>(n, data_.size() - pos_));
    return Status::OK();
  }

  std::string data_;
  size_t pos_ = 0;
  bool force_error_ = false;
};

class ReportCollector : public WalReader::Reporter {
 public:
  void Corruption(uint64_t bytes, const Status& reason) override {
    EXPECT_TRUE(reason.IsCorruption());
    dropped_bytes += bytes;
    messages += reason.message() + "\n";
  }
  void TruncatedTail(uint64_t bytes) override {
    tail_calls++;
    tail_bytes += bytes;
  }
  uint64_t dropped_bytes = 0;
  std::string messages;
  int tail_calls = 0;
  uint64_t tail_bytes = 0;
};

// A SequentialFile over memory it does not own, returning views into it
// rather than copies (the other half of the Read contract).
class ViewSource : public SequentialFile {
 public:
  explicit ViewSource(std::string_view data) : data_(data) {}
  Result<std::string_view> Read(size_t n, char* /*scratch*/) override {
    std::string_view r = data_.substr(0, n);
    data_.remove_prefix(r.size());
    return r;
  }
  Status Skip(uint64_t n) override {
    data_.remove_prefix(static_cast<size_t>(std::min<uint64_t>(n, data_.size())));
    return Status::OK();
  }

 private:
  std::string_view data_;
};

// Reads every record of `log`.
std::vector<std::string> ReadLog(std::string_view log, ReportCollector* report, bool verify = true,
                                 uint64_t* end_of_last = nullptr) {
  ViewSource src(log);
  WalReader reader(&src, report, verify);
  std::vector<std::string> out;
  std::string rec;
  while (reader.ReadRecord(&rec)) out.push_back(rec);
  EXPECT_TRUE(reader.status().ok()) << reader.status().ToString();
  EXPECT_FALSE(reader.ReadRecord(&rec));  // stays at the end
  if (end_of_last != nullptr) *end_of_last = reader.EndOfLastRecord();
  return out;
}

// Modelled on leveldb's log_test: a log in a string, written and read back,
// with helpers to damage it in between.
class WalTest : public ::testing::Test {
 protected:
  WalTest() : writer_(new WalWriter(&sink_)) {}

  void Write(const std::string& msg) {
    ASSERT_TRUE(writer_->AddRecord(msg).ok());
    ASSERT_EQ(writer_->offset(), sink_.contents_.size());
  }
  size_t WrittenBytes() const { return sink_.contents_.size(); }
  std::string& Log() { return sink_.contents_; }

  // Continues the log with a new writer, as after reopening the file.
  void ReopenForAppend() { writer_ = std::make_unique<WalWriter>(&sink_, WrittenBytes()); }

  // The next record, or "EOF". The first call snapshots the log.
  std::string Read() {
    if (reader_ == nullptr) {
      source_ = std::make_unique<StringSource>(sink_.contents_);
      reader_ = std::make_unique<WalReader>(source_.get(), &report_, verify_);
    }
    std::string rec;
    if (reader_->ReadRecord(&rec)) return rec;
    return "EOF";
  }

  void IncrementByte(size_t offset, int delta) {
    Log()[offset] = static_cast<char>(Log()[offset] + delta);
  }
  void SetByte(size_t offset, char v) { Log()[offset] = v; }
  void ShrinkSize(size_t bytes) { Log().resize(Log().size() - bytes); }

  // Recomputes the CRC of the fragment whose header is at `header_offset`.
  void FixChecksum(size_t header_offset, size_t len) {
    uint32_t crc = util::crc32c::Value(&Log()[header_offset + 6], 1 + len);
    crc = util::crc32c::Mask(crc);
    for (int i = 0; i < 4; ++i) Log()[header_offset + i] = static_cast<char>(crc >> (8 * i));
  }

  uint64_t DroppedBytes() const { return report_.dropped_bytes; }
  const std::string& ReportMessages() const { return report_.messages; }
  bool MessageContains(const std::string& s) const {
    return report_.messages.find(s) != std::string::npos;
  }

  StringSink sink_;
  std::unique_ptr<WalWriter> writer_;
  ReportCollector report_;
  bool verify_ = true;
  std::unique_ptr<StringSource> source_;
  std::unique_ptr<WalReader> reader_;
};

TEST_F(WalTest, Empty) {
  EXPECT_EQ(Read(), "EOF");
  EXPECT_EQ(DroppedBytes(), 0u);
  EXPECT_EQ(report_.tail_calls, 0);
}

TEST_F(WalTest, ReadWrite) {
  Write("foo");
  Write("bar");
  Write("");
  Write("xxxx");
  EXPECT_EQ(Read(), "foo");
  EXPECT_EQ(Read(), "bar");
  EXPECT_EQ(Read(), "");
  EXPECT_EQ(Read(), "xxxx");
  EXPECT_EQ(Read(), "EOF");
  EXPECT_EQ(Read(), "EOF");  // stays at the end
  EXPECT_EQ(DroppedBytes(), 0u);
  EXPECT_EQ(report_.tail_calls, 0);
}

TEST_F(WalTest, EmptyRecord) {
  Write("");
  ASSERT_EQ(WrittenBytes(), kHeader);  // one empty FULL fragment
  EXPECT_EQ(static_cast<uint8_t>(Log()[6]), static_cast<uint8_t>(WalRecordType::kFull));
  EXPECT_EQ(Read(), "");
  EXPECT_EQ(Read(), "EOF");
}

TEST_F(WalTest, HeaderLayout) {
  Write("hello");
  ASSERT_EQ(WrittenBytes(), kHeader + 5);
  // docs/format/wal.md: crc (4, LE, masked), length (2, LE), type (1), payload.
  const char type = static_cast<char>(WalRecordType::kFull);
  uint32_t want =
      util::crc32c::Mask(util::crc32c::Extend(util::crc32c::Value(&type, 1), "hello", 5));
  uint32_t got = 0;
  for (int i = 0; i < 4; ++i)
    got |= static_cast<uint32_t>(static_cast<uint8_t>(Log()[i])) << (8 * i);
  EXPECT_EQ(got, want);
  EXPECT_EQ(Log()[4], 5);
  EXPECT_EQ(Log()[5], 0);
  EXPECT_EQ(Log()[6], type);
  EXPECT_EQ(Log().substr(7), "hello");
}

TEST_F(WalTest, ManyBlocks) {
  for (int i = 0; i < 20000; ++i) Write(NumberString(i));
  ASSERT_GT(WrittenBytes(), 4 * kBlock);
  for (int i = 0; i < 20000; ++i) ASSERT_EQ(Read(), NumberString(i));
  EXPECT_EQ(Read(), "EOF");
  EXPECT_EQ(DroppedBytes(), 0u);
}

TEST_F(WalTest, Fragmentation) {
  Write("small");
  Write(BigString("medium", 50000));
  Write(BigString("large", 100000));
  EXPECT_EQ(Read(), "small");
  EXPECT_EQ(Read(), BigString("medium", 50000));
  EXPECT_EQ(Read(), BigString("large", 100000));
  EXPECT_EQ(Read(), "EOF");
  EXPECT_EQ(DroppedBytes(), 0u);
}

TEST_F(WalTest, ExactlyBlockSizedFragment) {
  // The largest FULL fragment fills a block exactly; the next record starts
  // the next block with no trailer.
  Write(BigString("x", kWalMaxFragmentPayload));
  ASSERT_EQ(WrittenBytes(), kBlock);
  EXPECT_EQ(static_cast<uint8_t>(Log()[6]), static_cast<uint8_t>(WalRecordType::kFull));
  Write("next");
  ASSERT_EQ(WrittenBytes(), kBlock + kHeader + 4);
  EXPECT_EQ(Read(), BigString("x", kWalMaxFragmentPayload));
  EXPECT_EQ(Read(), "next");
  EXPECT_EQ(Read(), "EOF");
}

TEST_F(WalTest, BlockSizedRecordIsFragmented) {
  Write(BigString("y", kBlock));
  // FIRST with kBlock - 7 bytes, then LAST with the remaining 7.
  ASSERT_EQ(WrittenBytes(), kBlock + kHeader + kHeader);
  EXPECT_EQ(static_cast<uint8_t>(Log()[6]), static_cast<uint8_t>(WalRecordType::kFirst));
  EXPECT_EQ(static_cast<uint8_t>(Log()[kBlock + 6]), static_cast<uint8_t>(WalRecordType::kLast));
  EXPECT_EQ(Read(), BigString("y", kBlock));
  EXPECT_EQ(Read(), "EOF");
}

TEST_F(WalTest, MiddleFragments) {
  Write(BigString("z", 3 * kBlock));
  EXPECT_EQ(static_cast<uint8_t>(Log()[kBlock + 6]), static_cast<uint8_t>(WalRecordType::kMiddle));
  EXPECT_EQ(Read(), BigString("z", 3 * kBlock));
  EXPECT_EQ(Read(), "EOF");
}

TEST_F(WalTest, MarginalTrailer) {
  // Leave exactly a header's worth of space: an empty record fills it.
  const size_t n = kBlock - 2 * kHeader;
  Write(BigString("foo", n));
  ASSERT_EQ(WrittenBytes(), kBlock - kHeader);
  Write("");
  ASSERT_EQ(WrittenBytes(), kBlock);
  Write("bar");
  EXPECT_EQ(Read(), BigString("foo", n));
  EXPECT_EQ(Read(), "");
  EXPECT_EQ(Read(), "bar");
  EXPECT_EQ(Read(), "EOF");
  EXPECT_EQ(DroppedBytes(), 0u);
}

TEST_F(WalTest, MarginalTrailerEmptyFirstFragment) {
  // Exactly a header's worth of space before a non-empty record: it gets an
  // empty FIRST fragment there and continues in the next block.
  const size_t n = kBlock - 2 * kHeader;
  Write(BigString("foo", n));
  ASSERT_EQ(WrittenBytes(), kBlock - kHeader);
  Write("bar");
  const size_t first = kBlock - kHeader;
  EXPECT_EQ(static_cast<uint8_t>(Log()[first + 6]), static_cast<uint8_t>(WalRecordType::kFirst));
  EXPECT_EQ(Log()[first + 4], 0);  // zero-length payload
  EXPECT_EQ(static_cast<uint8_t>(Log()[kBlock + 6]), static_cast<uint8_t>(WalRecordType::kLast));
  EXPECT_EQ(Read(), BigString("foo", n));
  EXPECT_EQ(Read(), "bar");
  EXPECT_EQ(Read(), "EOF");
  EXPECT_EQ(DroppedBytes(), 0u);
}

TEST_F(WalTest, ShortTrailer) {
  // 3 bytes left: zero-filled, and the next record starts the next block.
  const size_t n = kBlock - 2 * kHeader + 4;
  Write(BigString("foo", n));
  ASSERT_EQ(WrittenBytes(), kBlock - kHeader + 4);
  Write("");
  ASSERT_EQ(WrittenBytes(), kBlock + kHeader);
  EXPECT_EQ(Log().substr(kBlock - 3, 3), std::string(3, '\0'));
  Write("bar");
  EXPECT_EQ(Read(), BigString("foo", n));
  EXPECT_EQ(Read(), "");
  EXPECT_EQ(Read(), "bar");
  EXPECT_EQ(Read(), "EOF");
  EXPECT_EQ(DroppedBytes(), 0u);
}

TEST_F(WalTest, AlignedEof) {
  // The file ends where only a trailer could follow: a clean end.
  const size_t n = kBlock - 2 * kHeader + 4;
  Write(BigString("foo", n));
  ASSERT_EQ(WrittenBytes(), kBlock - kHeader + 4);
  EXPECT_EQ(Read(), BigString("foo", n));
  EXPECT_EQ(Read(), "EOF");
  EXPECT_EQ(DroppedBytes(), 0u);
  EXPECT_EQ(report_.tail_calls, 0);
}

TEST_F(WalTest, PartialTrailerAtEofIsClean) {
  // A crash while writing the trailer padding leaves only zero bytes there.
  const size_t n = kBlock - 2 * kHeader + 4;
  Write(BigString("foo", n));
  Log().append(2, '\0');
  EXPECT_EQ(Read(), BigString("foo", n));
  EXPECT_EQ(Read(), "EOF");
  EXPECT_EQ(DroppedBytes(), 0u);
  EXPECT_EQ(report_.tail_calls, 0);
}

TEST_F(WalTest, RandomRead) {
  const int n = 500;
  std::mt19937 write_rng(301);
  for (int i = 0; i < n; ++i) Write(RandomSkewedString(i, &write_rng));
  std::mt19937 read_rng(301);
  for (int i = 0; i < n; ++i) ASSERT_EQ(Read(), RandomSkewedString(i, &read_rng));
  EXPECT_EQ(Read(), "EOF");
  EXPECT_EQ(DroppedBytes(), 0u);
}

TEST_F(WalTest, ReadError) {
  Write("foo");
  StringSource src(Log());
  src.force_error_ = true;
  WalReader reader(&src, &report_, true);
  std::string rec;
  EXPECT_FALSE(reader.ReadRecord(&rec));
  EXPECT_TRUE(reader.status().IsIOError());
  EXPECT_FALSE(reader.ReadRecord(&rec));
  EXPECT_EQ(DroppedBytes(), 0u);  // an I/O error is not reported as damage
  EXPECT_EQ(report_.tail_calls, 0);
}

TEST_F(WalTest, BadRecordType) {
  Write("foo");
  IncrementByte(6, 100);  // type 101
  FixChecksum(0, 3);
  EXPECT_EQ(Read(), "EOF");
  EXPECT_EQ(DroppedBytes(), 10u);
  EXPECT_TRUE(MessageContains("unknown fragment type 101")) << ReportMessages();
  EXPECT_TRUE(MessageContains("wal offset 0")) << ReportMessages();
}

TEST_F(WalTest, ZeroTypeWithDataIsBad) {
  Write("foo");
  SetByte(6, 0);  // type 0 is reserved for zero-filled space
  FixChecksum(0, 3);
  EXPECT_EQ(Read(), "EOF");
  EXPECT_EQ(DroppedBytes(), 10u);
  EXPECT_TRUE(MessageContains("unknown fragment type 0")) << ReportMessages();
}

TEST_F(WalTest, UnknownTypeSkipsOnlyThatFragment) {
  Write("foo");
  Write("bar");
  IncrementByte(6, 10);
  FixChecksum(0, 3);
  EXPECT_EQ(Read(), "bar");
  EXPECT_EQ(Read(), "EOF");
  EXPECT_EQ(DroppedBytes(), 10u);
}

TEST_F(WalTest, TruncatedTrailingRecordIsIgnored) {
  Write("foo");
  ShrinkSize(4);  // 6 of the 10 bytes remain: a partial header
  EXPECT_EQ(Read(), "EOF");
  EXPECT_EQ(DroppedBytes(), 0u);  // a torn tail is not corruption
  EXPECT_EQ(report_.tail_calls, 1);
  EXPECT_EQ(report_.tail_bytes, 6u);
}

TEST_F(WalTest, BadLength) {
  const size_t payload = kBlock - kHeader;
  Write(BigString("bar", payload));
  Write("foo");
  // Least significant length byte + 1: the fragment now overruns its block.
  IncrementByte(4, 1);
  EXPECT_EQ(Read(), "foo");
  EXPECT_EQ(DroppedBytes(), kBlock);
  EXPECT_TRUE(MessageContains("bad fragment length")) << ReportMessages();
  EXPECT_EQ(Read(), "EOF");
}

TEST_F(WalTest, BadLengthAtEndIsTruncatedTail) {
  Write("foo");
  ShrinkSize(1);  // the payload runs past the end of the file: a torn write
  EXPECT_EQ(Read(), "EOF");
  EXPECT_EQ(DroppedBytes(), 0u);
  EXPECT_EQ(report_.tail_bytes, 9u);
}

TEST_F(WalTest, ImpossibleLengthAtEndIsCorruption) {
  // A length that would not fit in the block cannot come from a torn write.
  Write("foo");
  SetByte(4, static_cast<char>(0xff));
  SetByte(5, static_cast<char>(0xff));
  EXPECT_EQ(Read(), "EOF");
  EXPECT_EQ(DroppedBytes(), 10u);
  EXPECT_TRUE(MessageContains("bad fragment length")) << ReportMessages();
  EXPECT_EQ(report_.tail_calls, 0);
}

TEST_F(WalTest, ChecksumMismatch) {
  Write("foooooo");
  IncrementByte(0, 14);
  EXPECT_EQ(Read(), "EOF");
  EXPECT_EQ(DroppedBytes(), 14u);
  EXPECT_TRUE(MessageContains("checksum mismatch")) << ReportMessages();
}

TEST_F(WalTest, PayloadDamageIsChecksumMismatch) {
  Write("foooooo");
  Write("bar");
  IncrementByte(kHeader + 2, 1);
  // The whole rest of the block goes: "bar" shares the block.
  EXPECT_EQ(Read(), "EOF");
  EXPECT_EQ(DroppedBytes(), 24u);
}

TEST_F(WalTest, ChecksumNotVerified) {
  Write("foooooo");
  IncrementByte(0, 14);
  verify_ = false;
  EXPECT_EQ(Read(), "foooooo");
  EXPECT_EQ(Read(), "EOF");
  EXPECT_EQ(DroppedBytes(), 0u);
}

TEST_F(WalTest, UnexpectedMiddleType) {
  Write("foo");
  SetByte(6, static_cast<char>(WalRecordType::kMiddle));
  FixChecksum(0, 3);
  EXPECT_EQ(Read(), "EOF");
  EXPECT_EQ(DroppedBytes(), 10u);
  EXPECT_TRUE(MessageContains("MIDDLE fragment without a FIRST")) << ReportMessages();
}

TEST_F(WalTest, UnexpectedLastType) {
  Write("foo");
  SetByte(6, static_cast<char>(WalRecordType::kLast));
  FixChecksum(0, 3);
  EXPECT_EQ(Read(), "EOF");
  EXPECT_EQ(DroppedBytes(), 10u);
  EXPECT_TRUE(MessageContains("LAST fragment without a FIRST")) << ReportMessages();
}

TEST_F(WalTest, UnexpectedFullType) {
  Write("foo");
  Write("bar");
  SetByte(6, static_cast<char>(WalRecordType::kFirst));
  FixChecksum(0, 3);
  EXPECT_EQ(Read(), "bar");
  EXPECT_EQ(Read(), "EOF");
  EXPECT_EQ(DroppedBytes(), 10u);
  EXPECT_TRUE(MessageContains("missing its LAST fragment")) << ReportMessages();
}

TEST_F(WalTest, UnexpectedFirstType) {
  Write("foo");
  Write(BigString("bar", 100000));
  SetByte(6, static_cast<char>(WalRecordType::kFirst));
  FixChecksum(0, 3);
  EXPECT_EQ(Read(), BigString("bar", 100000));
  EXPECT_EQ(Read(), "EOF");
  EXPECT_EQ(DroppedBytes(), 10u);
  EXPECT_TRUE(MessageContains("missing its LAST fragment")) << ReportMessages();
}

TEST_F(WalTest, MissingLastIsTruncatedTail) {
  Write(BigString("bar", kBlock));
  ShrinkSize(kHeader + kHeader);  // the whole LAST fragment
  EXPECT_EQ(Read(), "EOF");
  EXPECT_EQ(DroppedBytes(), 0u);
  EXPECT_EQ(report_.tail_calls, 1);
  EXPECT_EQ(report_.tail_bytes, kBlock);
}

TEST_F(WalTest, PartialLastIsTruncatedTail) {
  Write(BigString("bar", kBlock));
  ShrinkSize(1);
  EXPECT_EQ(Read(), "EOF");
  EXPECT_EQ(DroppedBytes(), 0u);
  EXPECT_EQ(report_.tail_bytes, kBlock + kHeader + kHeader - 1);
}

TEST_F(WalTest, ErrorJoinsRecords) {
  // Two fragmented records, first(R1) last(R1) first(R2) last(R2), lose their
  // middle two fragments: first(R1) and last(R2) must not be joined.
  Write(BigString("foo", kBlock));
  Write(BigString("bar", kBlock));
  Write("correct");
  for (size_t offset = kBlock; offset < 2 * kBlock; ++offset) SetByte(offset, 'x');
  EXPECT_EQ(Read(), "correct");
  EXPECT_EQ(Read(), "EOF");
  const uint64_t dropped = DroppedBytes();
  EXPECT_LE(dropped, 2 * kBlock + 100);
  EXPECT_GE(dropped, 2 * kBlock);
}

TEST_F(WalTest, ResyncAtNextBlock) {
  // Damage early in block 0 costs the rest of block 0 only.
  for (int i = 0; i < 5000; ++i) Write(NumberString(i));
  IncrementByte(kHeader + 1, 1);  // payload of record 0
  std::vector<std::string> got;
  for (std::string r = Read(); r != "EOF"; r = Read()) got.push_back(r);
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(DroppedBytes(), kBlock);
  // Every record starting in block 1 or later survives, in order.
  int first = std::stoi(got.front());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i], NumberString(first + static_cast<int>(i)));
  }
  EXPECT_EQ(got.back(), NumberString(4999));
}

TEST_F(WalTest, ZeroFilledTailIsTruncatedTail) {
  // A crash can leave the file longer than its data, the rest reading as zeros.
  Write("foo");
  Write("bar");
  Log().append(40000, '\0');
  EXPECT_EQ(Read(), "foo");
  EXPECT_EQ(Read(), "bar");
  EXPECT_EQ(Read(), "EOF");
  EXPECT_EQ(DroppedBytes(), 0u);
  EXPECT_EQ(report_.tail_calls, 1);
  EXPECT_EQ(report_.tail_bytes, 40000u);
}

TEST_F(WalTest, ZeroFilledSpaceBeforeDataIsCorruption) {
  Write("foo");
  Log().resize(2 * kBlock, '\0');
  ReopenForAppend();
  Write("bar");
  EXPECT_EQ(Read(), "foo");
  EXPECT_EQ(Read(), "bar");
  EXPECT_EQ(Read(), "EOF");
  EXPECT_EQ(DroppedBytes(), 2 * kBlock - 10);
  EXPECT_TRUE(MessageContains("zero-filled space followed by more log data")) << ReportMessages();
}

TEST_F(WalTest, ZeroHeaderBeforeDataInBlockIsCorruption) {
  Write("foo");
  Write("bar");
  for (size_t i = 0; i < kHeader; ++i) SetByte(i, 0);
  EXPECT_EQ(Read(), "EOF");
  EXPECT_EQ(DroppedBytes(), 20u);
}

TEST_F(WalTest, NonZeroTrailerIsReportedButHarmless) {
  const size_t n = kBlock - 2 * kHeader + 4;
  Write(BigString("foo", n));
  Write("bar");
  SetByte(kBlock - 1, 1);
  EXPECT_EQ(Read(), BigString("foo", n));
  EXPECT_EQ(Read(), "bar");
  EXPECT_EQ(Read(), "EOF");
  EXPECT_EQ(DroppedBytes(), 3u);
  EXPECT_TRUE(MessageContains("trailer")) << ReportMessages();
}

TEST_F(WalTest, RecordOffsets) {
  Write("foo");
  Write(BigString("x", kBlock));
  Write("bar");
  StringSource src(Log());
  WalReader reader(&src, &report_, true);
  std::string rec;
  ASSERT_TRUE(reader.ReadRecord(&rec));
  EXPECT_EQ(reader.LastRecordOffset(), 0u);
  EXPECT_EQ(reader.EndOfLastRecord(), 10u);
  ASSERT_TRUE(reader.ReadRecord(&rec));
  EXPECT_EQ(reader.LastRecordOffset(), 10u);
  EXPECT_EQ(reader.EndOfLastRecord(), 10u + kHeader + kBlock + kHeader);
  ASSERT_TRUE(reader.ReadRecord(&rec));
  EXPECT_EQ(reader.EndOfLastRecord(), WrittenBytes());
  EXPECT_FALSE(reader.ReadRecord(&rec));
}

TEST_F(WalTest, WriterErrorIsSticky) {
  Write("foo");
  sink_.fail_ = true;
  EXPECT_TRUE(writer_->AddRecord("bar").IsIOError());
  sink_.fail_ = false;
  // The file may end in a partial record now; the writer refuses to go on.
  EXPECT_TRUE(writer_->AddRecord("baz").IsIOError());
  EXPECT_TRUE(writer_->Sync().IsIOError());
  EXPECT_EQ(Read(), "foo");
  EXPECT_EQ(Read(), "EOF");
}

TEST_F(WalTest, ReopenForAppendContinuesBlocks) {
  // Reopen at every interesting position: mid-block, in the trailer zone, at a
  // block boundary.
  Write("foo");
  ReopenForAppend();
  Write(BigString("a", kBlock - 2 * kHeader + 4 - 10));  // ends with 3 bytes left
  ASSERT_EQ(WrittenBytes() % kBlock, kBlock - 3);
  ReopenForAppend();
  Write(BigString("b", kWalMaxFragmentPayload));  // pads 3, then fills a block
  ASSERT_EQ(WrittenBytes() % kBlock, 0u);
  ReopenForAppend();
  Write("end");
  EXPECT_EQ(Read(), "foo");
  EXPECT_EQ(Read(), BigString("a", kBlock - 2 * kHeader + 4 - 10));
  EXPECT_EQ(Read(), BigString("b", kWalMaxFragmentPayload));
  EXPECT_EQ(Read(), "end");
  EXPECT_EQ(Read(), "EOF");
  EXPECT_EQ(DroppedBytes(), 0u);
}

// Cutting a log at EVERY byte offset yields exactly the records that were
// complete before the cut, never a corruption report, and a truncated-tail
// report exactly when the cut falls inside a record.
TEST(WalTruncationTest, TruncatedTailAtEveryOffset) {
  StringSink sink;
  WalWriter writer(&sink);
  std::vector<std::string> records;
  std::vector<uint64_t> starts;  // offset of each record's first header
  std::vector<uint64_t> ends;
  auto add = [&](const std::string& r) {
    uint64_t start = writer.offset();
    if (kBlock - start % kBlock < kHeader) start += kBlock - start % kBlock;  // after trailer
    ASSERT_TRUE(writer.AddRecord(r).ok());
    records.push_back(r);
    starts.push_back(start);
    ends.push_back(writer.offset());
  };
  add("");
  add(BigString("a", 100));
  add(BigString("b", 40000));  // FIRST in block 0, LAST in block 1
  add("c");
  // Ends 3 bytes before the end of block 1: a zero trailer follows.
  add(BigString("d", 2 * kBlock - 3 - kHeader - writer.offset()));
  ASSERT_EQ(writer.offset() % kBlock, kBlock - 3);
  add("ef");  // starts block 2
  const std::string& log = sink.contents_;
  ASSERT_EQ(log.size(), 2 * kBlock + kHeader + 2);

  for (size_t cut = 0; cut <= log.size(); ++cut) {
    ReportCollector report;
    uint64_t end_of_last = 0;
    std::vector<std::string> got =
        ReadLog(std::string_view(log).substr(0, cut), &report, true, &end_of_last);
    size_t complete = 0;
    while (complete < records.size() && ends[complete] <= cut) ++complete;
    ASSERT_EQ(got.size(), complete) << "cut " << cut;
    for (size_t i = 0; i < complete; ++i) ASSERT_EQ(got[i], records[i]) << "cut " << cut;
    ASSERT_EQ(report.dropped_bytes, 0u) << "cut " << cut << ": " << report.messages;
    ASSERT_EQ(end_of_last, complete == 0 ? 0 : ends[complete - 1]) << "cut " << cut;
    // Inside the next record (past its first header's position) the tail is
    // reported, with the bytes of that record which are present.
    uint64_t torn =
        complete < records.size() && cut > starts[complete] ? cut - starts[complete] : 0;
    ASSERT_EQ(report.tail_bytes, torn) << "cut " << cut;
    ASSERT_EQ(report.tail_calls, torn > 0 ? 1 : 0) << "cut " << cut;
  }
}

// Random bit flips (with checksums verified) never crash the reader and never
// produce a record that was not written.
TEST(WalDamageTest, RandomBitFlipsNeverYieldForeignRecords) {
  StringSink sink;
  WalWriter writer(&sink);
  std::mt19937 rng(1234);
  std::set<std::string> written;
  for (int i = 0; i < 150; ++i) {
    size_t n = i % 10 == 0 ? rng() % 40000 : rng() % 700;
    std::string r = BigString(NumberString(i) + "#", n);
    ASSERT_TRUE(writer.AddRecord(r).ok());
    written.insert(r);
  }
  const std::string clean = sink.contents_;
  // Fragment header positions, to aim half of the flips at headers.
  std::vector<size_t> headers;
  for (size_t off = 0; off + kHeader <= clean.size();) {
    if (kBlock - off % kBlock < kHeader) {
      off += kBlock - off % kBlock;
      continue;
    }
    headers.push_back(off);
    size_t len = static_cast<uint8_t>(clean[off + 4]) |
                 (static_cast<size_t>(static_cast<uint8_t>(clean[off + 5])) << 8);
    off += kHeader + len;
  }
  ASSERT_GT(headers.size(), 150u);

  int damaged_reads = 0;
  for (int iter = 0; iter < 400; ++iter) {
    std::string log = clean;
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) {
      size_t pos =
          rng() % 2 == 0 ? headers[rng() % headers.size()] + rng() % kHeader : rng() % log.size();
      log[pos] = static_cast<char>(log[pos] ^ (1 << (rng() % 8)));
    }
    ReportCollector report;
    std::vector<std::string> got = ReadLog(log, &report);
    for (const std::string& r : got) {
      ASSERT_TRUE(written.count(r) == 1)
          << "iteration " << iter << ": foreign record of " << r.size() << " bytes";
    }
    ASSERT_LE(report.dropped_bytes + report.tail_bytes, log.size());
    if (report.dropped_bytes > 0 || report.tail_bytes > 0) ++damaged_reads;
  }
  EXPECT_GT(damaged_reads, 350);  // the flips were noticed
}

// The same through real files: reopen with NewAppendableFile at the file size.
TEST(WalFileTest, ReopenAndAppend) {
  testutil::TempDir dir;
  Env* env = Env::Default();
  const std::string path = dir.File("000001.wal");
  std::vector<std::string> all;
  for (size_t first : {size_t{3}, kBlock - 2 * kHeader + 4, kWalMaxFragmentPayload}) {
    all.clear();
    {
      auto f = env->NewWritableFile(path);
      ASSERT_TRUE(f.ok());
      WalWriter w(f->get());
      ASSERT_TRUE(w.AddRecord(BigString("first", first)).ok());
      all.push_back(BigString("first", first));
      ASSERT_TRUE(w.Sync().ok());
      ASSERT_TRUE((*f)->Close().ok());
    }
    for (int session = 0; session < 3; ++session) {
      auto size = env->GetFileSize(path);
      ASSERT_TRUE(size.ok());
      auto f = env->NewAppendableFile(path);
      ASSERT_TRUE(f.ok());
      WalWriter w(f->get(), *size);
      for (int i = 0; i < 3; ++i) {
        std::string r =
            BigString(NumberString(session * 10 + i), 5000 * static_cast<size_t>(i) + 1);
        ASSERT_TRUE(w.AddRecord(r).ok());
        all.push_back(r);
      }
      ASSERT_TRUE(w.Sync().ok());
      ASSERT_TRUE((*f)->Close().ok());
      ASSERT_EQ(*env->GetFileSize(path), w.offset());
    }
    auto src = env->NewSequentialFile(path);
    ASSERT_TRUE(src.ok());
    ReportCollector report;
    WalReader reader(src->get(), &report, true);
    std::vector<std::string> got;
    std::string rec;
    while (reader.ReadRecord(&rec)) got.push_back(rec);
    EXPECT_TRUE(reader.status().ok());
    EXPECT_EQ(got, all) << "first record of " << first << " bytes";
    EXPECT_EQ(report.dropped_bytes, 0u);
    EXPECT_EQ(report.tail_calls, 0);
  }
}

// Recovery after a crash: read, truncate to the end of the last record, append.
TEST(WalFileTest, RecoverTornTailThenAppend) {
  testutil::TempDir dir;
  Env* env = Env::Default();
  const std::string path = dir.File("000001.wal");
  {
    auto f = env->NewWritableFile(path);
    ASSERT_TRUE(f.ok());
    WalWriter w(f->get());
    ASSERT_TRUE(w.AddRecord("one").ok());
    ASSERT_TRUE(w.AddRecord(BigString("two", 50000)).ok());
    ASSERT_TRUE(w.AddRecord(BigString("three", 20000)).ok());
    ASSERT_TRUE((*f)->Close().ok());
  }
  const uint64_t full = *env->GetFileSize(path);
  ASSERT_TRUE(env->TruncateFile(path, full - 5000).ok());  // torn inside "three"

  auto read_all = [&](ReportCollector* report, uint64_t* end) {
    auto src = env->NewSequentialFile(path);
    EXPECT_TRUE(src.ok());
    WalReader reader(src->get(), report, true);
    std::vector<std::string> got;
    std::string rec;
    while (reader.ReadRecord(&rec)) got.push_back(rec);
    EXPECT_TRUE(reader.status().ok());
    if (end != nullptr) *end = reader.EndOfLastRecord();
    return got;
  };

  ReportCollector r1;
  uint64_t end = 0;
  EXPECT_EQ(read_all(&r1, &end), (std::vector<std::string>{"one", BigString("two", 50000)}));
  EXPECT_EQ(r1.dropped_bytes, 0u);
  EXPECT_EQ(r1.tail_calls, 1);
  EXPECT_EQ(r1.tail_bytes, full - 5000 - end);

  ASSERT_TRUE(env->TruncateFile(path, end).ok());
  {
    auto f = env->NewAppendableFile(path);
    ASSERT_TRUE(f.ok());
    WalWriter w(f->get(), end);
    ASSERT_TRUE(w.AddRecord("four").ok());
    ASSERT_TRUE(w.AddRecord(BigString("five", 40000)).ok());
    ASSERT_TRUE((*f)->Close().ok());
  }
  ReportCollector r2;
  EXPECT_EQ(read_all(&r2, nullptr), (std::vector<std::string>{"one", BigString("two", 50000),
                                                              "four", BigString("five", 40000)}));
  EXPECT_EQ(r2.dropped_bytes, 0u);
  EXPECT_EQ(r2.tail_calls, 0);
}

// Why recovery must truncate: appending after a torn tail buries the torn
// record mid-log, where it reads as corruption and takes the new record with it.
TEST(WalFileTest, AppendAfterTornTailWithoutTruncatingLosesData) {
  StringSink sink;
  {
    WalWriter w(&sink);
    ASSERT_TRUE(w.AddRecord("one").ok());
    ASSERT_TRUE(w.AddRecord(BigString("two", 500)).ok());
  }
  sink.contents_.resize(sink.contents_.size() - 100);
  WalWriter w(&sink, sink.contents_.size());
  ASSERT_TRUE(w.AddRecord(BigString("three", 1000)).ok());
  ReportCollector report;
  EXPECT_EQ(ReadLog(sink.contents_, &report), std::vector<std::string>{"one"});
  EXPECT_GT(report.dropped_bytes, 0u);
  EXPECT_TRUE(report.messages.find("checksum mismatch") != std::string::npos) << report.messages;
}

}  // namespace
}  // namespace omendb::storage
