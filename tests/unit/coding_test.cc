// Tests of util/coding: fixed-width and varint encodings, their boundaries,
// and their behaviour on truncated and overflowing input.
#include "util/coding.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace omendb::util {
namespace {

TEST(CodingTest, Fixed32And64AreLittleEndian) {
  std::string s;
  PutFixed32(&s, 0x04030201u);
  PutFixed64(&s, 0x0807060504030201ull);
  ASSERT_EQ(s.size(), 12u);
  EXPECT_EQ(s, std::string("\x01\x02\x03\x04\x01\x02\x03\x04\x05\x06\x07\x08", 12));
  EXPECT_EQ(DecodeFixed32(s.data()), 0x04030201u);
  EXPECT_EQ(DecodeFixed64(s.data() + 4), 0x0807060504030201ull);

  std::string_view in = s;
  uint32_t a = 0;
  uint64_t b = 0;
  ASSERT_TRUE(GetFixed32(&in, &a));
  ASSERT_TRUE(GetFixed64(&in, &b));
  EXPECT_TRUE(in.empty());
  EXPECT_EQ(a, 0x04030201u);
  EXPECT_EQ(b, 0x0807060504030201ull);
}

TEST(CodingTest, FixedTruncationLeavesInputUntouched) {
  std::string s;
  PutFixed64(&s, 42);
  for (size_t len = 0; len < 8; ++len) {
    std::string_view in(s.data(), len);
    uint64_t v = 7;
    EXPECT_FALSE(GetFixed64(&in, &v));
    EXPECT_EQ(in.size(), len);
    EXPECT_EQ(v, 7u);
    uint32_t w = 7;
    std::string_view in32(s.data(), len < 4 ? len : 3);
    EXPECT_FALSE(GetFixed32(&in32, &w));
  }
}

std::vector<uint64_t> Boundaries64() {
  std::vector<uint64_t> v = {0, 1, std::numeric_limits<uint64_t>::max(),
                             std::numeric_limits<uint64_t>::max() - 1};
  for (int bits = 7; bits < 64; bits += 7) {
    v.push_back((uint64_t{1} << bits) - 1);
    v.push_back(uint64_t{1} << bits);
    v.push_back((uint64_t{1} << bits) + 1);
  }
  v.push_back(uint64_t{1} << 63);
  v.push_back(uint64_t{UINT32_MAX});
  v.push_back(uint64_t{UINT32_MAX} + 1);
  return v;
}

TEST(CodingTest, Varint64RoundTripAtBoundaries) {
  for (uint64_t v : Boundaries64()) {
    std::string s;
    PutVarint64(&s, v);
    EXPECT_EQ(static_cast<int>(s.size()), VarintLength(v)) << v;
    // Length steps up exactly when a further 7-bit group is needed.
    int expected_len = 1;
    for (uint64_t x = v; x >= 0x80; x >>= 7) ++expected_len;
    EXPECT_EQ(VarintLength(v), expected_len) << v;

    char buf[kMaxVarint64Bytes];
    EXPECT_EQ(std::string(buf, EncodeVarint64(buf, v)), s);

    std::string_view in = s;
    uint64_t out = 0;
    ASSERT_TRUE(GetVarint64(&in, &out)) << v;
    EXPECT_EQ(out, v);
    EXPECT_TRUE(in.empty());
  }
  EXPECT_EQ(VarintLength(127), 1);
  EXPECT_EQ(VarintLength(128), 2);
  EXPECT_EQ(VarintLength(std::numeric_limits<uint64_t>::max()), 10);
}

TEST(CodingTest, Varint32RoundTripAtBoundaries) {
  for (uint64_t v64 : Boundaries64()) {
    if (v64 > UINT32_MAX) continue;
    const auto v = static_cast<uint32_t>(v64);
    std::string s;
    PutVarint32(&s, v);
    EXPECT_EQ(static_cast<int>(s.size()), VarintLength(v));
    EXPECT_LE(s.size(), static_cast<size_t>(kMaxVarint32Bytes));
    char buf[kMaxVarint32Bytes];
    EXPECT_EQ(std::string(buf, EncodeVarint32(buf, v)), s);
    std::string_view in = s;
    uint32_t out = 0;
    ASSERT_TRUE(GetVarint32(&in, &out)) << v;
    EXPECT_EQ(out, v);
    EXPECT_TRUE(in.empty());
    // The 32- and 64-bit encodings agree.
    std::string s64;
    PutVarint64(&s64, v);
    EXPECT_EQ(s, s64);
  }
}

TEST(CodingTest, KnownEncodings) {
  std::string s;
  PutVarint32(&s, 300);
  EXPECT_EQ(s, std::string("\xac\x02", 2));
  s.clear();
  PutVarint32(&s, UINT32_MAX);
  EXPECT_EQ(s, std::string("\xff\xff\xff\xff\x0f", 5));
  s.clear();
  PutVarint64(&s, std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(s, std::string(9, '\xff') + std::string("\x01", 1));
}

TEST(CodingTest, EveryTruncationFails) {
  for (uint64_t v : Boundaries64()) {
    std::string s;
    PutVarint64(&s, v);
    for (size_t len = 0; len < s.size(); ++len) {
      std::string_view in(s.data(), len);
      uint64_t out = 99;
      EXPECT_FALSE(GetVarint64(&in, &out)) << v << " len " << len;
      EXPECT_EQ(in.size(), len);
      EXPECT_EQ(out, 99u);
    }
    if (v <= UINT32_MAX) {
      for (size_t len = 0; len < s.size(); ++len) {
        std::string_view in(s.data(), len);
        uint32_t out = 99;
        EXPECT_FALSE(GetVarint32(&in, &out));
        EXPECT_EQ(in.size(), len);
      }
    }
  }
}

TEST(CodingTest, OverflowIsRejected) {
  uint32_t v32 = 0;
  uint64_t v64 = 0;
  // 2^32 does not fit 32 bits.
  std::string_view in = std::string_view("\x80\x80\x80\x80\x10", 5);
  EXPECT_FALSE(GetVarint32(&in, &v32));
  EXPECT_EQ(in.size(), 5u);
  // A sixth byte is never allowed for 32 bits, even a zero one.
  in = std::string_view("\x80\x80\x80\x80\x80\x00", 6);
  EXPECT_FALSE(GetVarint32(&in, &v32));
  // Any 64-bit value above 2^32 - 1 fails as a varint32.
  std::string big;
  PutVarint64(&big, uint64_t{1} << 40);
  in = big;
  EXPECT_FALSE(GetVarint32(&in, &v32));

  // 64 bits: the tenth byte may carry only bit 63.
  std::string max64 = std::string(9, '\xff') + std::string("\x01", 1);
  in = max64;
  ASSERT_TRUE(GetVarint64(&in, &v64));
  EXPECT_EQ(v64, std::numeric_limits<uint64_t>::max());
  std::string over = std::string(9, '\xff') + std::string("\x02", 1);
  in = over;
  EXPECT_FALSE(GetVarint64(&in, &v64));
  std::string eleven = std::string(10, '\x80') + std::string("\x00", 1);
  in = eleven;
  EXPECT_FALSE(GetVarint64(&in, &v64));
  EXPECT_EQ(in.size(), 11u);
}

TEST(CodingTest, NonMinimalEncodingsAreAcceptedButDetectable) {
  std::string_view in("\x80\x00", 2);
  uint32_t v = 1;
  ASSERT_TRUE(GetVarint32(&in, &v));
  EXPECT_EQ(v, 0u);
  EXPECT_TRUE(in.empty());
  EXPECT_EQ(VarintLength(v), 1);  // shorter than the 2 bytes consumed
}

TEST(CodingTest, SequencesDecodeInOrder) {
  std::mt19937_64 rng(7);
  std::vector<uint64_t> values;
  std::string s;
  for (int i = 0; i < 2000; ++i) {
    // Spread over all lengths: a random value shifted right by 0..63 bits.
    uint64_t v = rng() >> (rng() % 64);
    values.push_back(v);
    PutVarint64(&s, v);
  }
  std::string_view in = s;
  for (uint64_t expected : values) {
    uint64_t v = 0;
    ASSERT_TRUE(GetVarint64(&in, &v));
    EXPECT_EQ(v, expected);
  }
  EXPECT_TRUE(in.empty());
}

TEST(CodingTest, LengthPrefixedSlices) {
  std::string s;
  PutLengthPrefixedSlice(&s, "");
  PutLengthPrefixedSlice(&s, "hello");
  std::string long_value(300, 'x');
  PutLengthPrefixedSlice(&s, long_value);
  std::string_view in = s;
  std::string_view out;
  ASSERT_TRUE(GetLengthPrefixedSlice(&in, &out));
  EXPECT_EQ(out, "");
  ASSERT_TRUE(GetLengthPrefixedSlice(&in, &out));
  EXPECT_EQ(out, "hello");
  ASSERT_TRUE(GetLengthPrefixedSlice(&in, &out));
  EXPECT_EQ(out, long_value);
  EXPECT_TRUE(in.empty());

  // Every truncation of the last slice fails and leaves the input alone.
  std::string one;
  PutLengthPrefixedSlice(&one, long_value);
  for (size_t len = 0; len < one.size(); ++len) {
    std::string_view t(one.data(), len);
    EXPECT_FALSE(GetLengthPrefixedSlice(&t, &out)) << len;
    EXPECT_EQ(t.size(), len);
  }
  // A length far past the end.
  std::string forged;
  PutVarint32(&forged, UINT32_MAX);
  forged += "abc";
  in = forged;
  EXPECT_FALSE(GetLengthPrefixedSlice(&in, &out));
  EXPECT_EQ(in.size(), forged.size());
}

}  // namespace
}  // namespace omendb::util
