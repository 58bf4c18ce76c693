#include "util/crc32c.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace omendb::util::crc32c {
namespace {

// Known values: RFC 3720 (iSCSI) appendix B.4 and the common "check" value.
TEST(Crc32cTest, KnownVectors) {
  EXPECT_EQ(Value("123456789", 9), 0xe3069283u);

  char buf[32];
  std::memset(buf, 0, sizeof buf);
  EXPECT_EQ(Value(buf, sizeof buf), 0x8a9136aau);
  std::memset(buf, 0xff, sizeof buf);
  EXPECT_EQ(Value(buf, sizeof buf), 0x62a8ab43u);
  for (int i = 0; i < 32; ++i) buf[i] = static_cast<char>(i);
  EXPECT_EQ(Value(buf, sizeof buf), 0x46dd794eu);
  for (int i = 0; i < 32; ++i) buf[i] = static_cast<char>(31 - i);
  EXPECT_EQ(Value(buf, sizeof buf), 0x113fdb5cu);

  const unsigned char iscsi_read[48] = {
      0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
      0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  };
  EXPECT_EQ(Value(iscsi_read, sizeof iscsi_read), 0xd9963a56u);

  EXPECT_EQ(Value(nullptr, 0), 0u);
  EXPECT_EQ(Value("a", 1), 0xc1d04330u);
}

TEST(Crc32cTest, BothImplementationsMatchKnownVector) {
  EXPECT_EQ(ExtendPortable(0, "123456789", 9), 0xe3069283u);
  if (!HardwareAvailable()) GTEST_SKIP() << "no SSE4.2 on this CPU";
  EXPECT_EQ(ExtendHardware(0, "123456789", 9), 0xe3069283u);
}

TEST(Crc32cTest, ExtendComposes) {
  const std::string s = "hello world, this is a longer string to split in many places";
  for (size_t cut = 0; cut <= s.size(); ++cut) {
    uint32_t head = Value(s.data(), cut);
    EXPECT_EQ(Extend(head, s.data() + cut, s.size() - cut), Value(s.data(), s.size()));
  }
  EXPECT_NE(Value("a", 1), Value("foo", 3));
}

TEST(Crc32cTest, Mask) {
  uint32_t crc = Value("foo", 3);
  EXPECT_NE(crc, Mask(crc));
  EXPECT_NE(crc, Mask(Mask(crc)));
  EXPECT_EQ(crc, Unmask(Mask(crc)));
  EXPECT_EQ(crc, Unmask(Unmask(Mask(Mask(crc)))));
  std::mt19937 rng(7);
  for (int i = 0; i < 1000; ++i) {
    uint32_t v = rng();
    EXPECT_EQ(Unmask(Mask(v)), v);
  }
}

// The dispatched, portable and hardware paths agree on every length 0..300
// and every start alignment 0..15.
TEST(Crc32cTest, HardwareMatchesPortable) {
  std::mt19937 rng(42);
  std::vector<unsigned char> buf(300 + 16);
  for (auto& b : buf) b = static_cast<unsigned char>(rng());
  const bool hw = HardwareAvailable();
  for (size_t start = 0; start < 16; ++start) {
    for (size_t n = 0; n <= 300; ++n) {
      const unsigned char* p = buf.data() + start;
      uint32_t seed = static_cast<uint32_t>(rng());
      uint32_t want = ExtendPortable(seed, p, n);
      ASSERT_EQ(Extend(seed, p, n), want) << "start " << start << " n " << n;
      if (hw) {
        ASSERT_EQ(ExtendHardware(seed, p, n), want) << "start " << start << " n " << n;
      }
    }
  }
  // A reference bit-at-a-time CRC checks the portable tables themselves.
  for (size_t n = 0; n <= 300; ++n) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; ++i) {
      c ^= buf[i];
      for (int k = 0; k < 8; ++k) c = (c & 1u) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
    }
    ASSERT_EQ(ExtendPortable(0, buf.data(), n), ~c) << "n " << n;
  }
}

}  // namespace
}  // namespace omendb::util::crc32c
