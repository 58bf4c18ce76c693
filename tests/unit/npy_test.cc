// Tests of util/npy: every supported version and dtype, 1-D arrays, row
// limits, and that truncated or malformed images are errors, never crashes.
#include "util/npy.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "testutil/testutil.h"

namespace omendb::util {
namespace {

// Builds a .npy image the way numpy.save lays it out: magic, version, header
// length (2 bytes for 1.0, 4 for 2.0/3.0), the dictionary padded with spaces
// to a multiple of 64 bytes and ended by '\n', then `data`.
std::string MakeNpy(const std::string& dict, const std::string& data, int major = 1) {
  std::string out("\x93NUMPY", 6);
  out.push_back(static_cast<char>(major));
  out.push_back('\0');
  const size_t len_bytes = major == 1 ? 2 : 4;
  std::string header = dict;
  const size_t fixed = out.size() + len_bytes;
  while ((fixed + header.size() + 1) % 64 != 0) header.push_back(' ');
  header.push_back('\n');
  const uint32_t len = static_cast<uint32_t>(header.size());
  for (size_t i = 0; i < len_bytes; ++i) out.push_back(static_cast<char>((len >> (8 * i)) & 0xFF));
  return out + header + data;
}

template <class T>
std::string Bytes(const std::vector<T>& v) {
  // The tests run on little-endian hosts (x86-64, aarch64), like .npy '<'.
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

std::string Dict(const std::string& descr, const std::string& shape, bool fortran = false) {
  return "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") +
         ", 'shape': " + shape + ", }";
}

TEST(NpyTest, Float32Matrix) {
  std::vector<float> v = {1.5f, -2.0f, 3.25f, 0.0f, 5.0f, 6.0f};
  auto m = DecodeNpy(MakeNpy(Dict("<f4", "(2, 3)"), Bytes(v)));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->rows, 2u);
  EXPECT_EQ(m->dim, 3u);
  EXPECT_EQ(m->data, v);
}

TEST(NpyTest, EveryVersionReadsTheSame) {
  std::vector<float> v = {1, 2, 3, 4};
  for (int major : {1, 2, 3}) {
    auto m = DecodeNpy(MakeNpy(Dict("<f4", "(2, 2)"), Bytes(v), major));
    ASSERT_TRUE(m.ok()) << major << ": " << m.status().ToString();
    EXPECT_EQ(m->data, v) << major;
    auto h = ParseNpyHeader(MakeNpy(Dict("<f4", "(2, 2)"), Bytes(v), major));
    ASSERT_TRUE(h.ok());
    EXPECT_EQ(h->major_version, major);
    EXPECT_EQ(h->data_offset % 64, 0u);
    EXPECT_EQ(h->data_bytes, 16u);
  }
}

TEST(NpyTest, OtherDtypesConvertToFloat) {
  std::vector<double> d = {0.5, -1e10, 3.0, 7.0};
  auto m = DecodeNpy(MakeNpy(Dict("<f8", "(2, 2)"), Bytes(d)));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->data, (std::vector<float>{0.5f, -1e10f, 3.0f, 7.0f}));

  std::vector<int8_t> i8 = {-128, -1, 0, 127};
  m = DecodeNpy(MakeNpy(Dict("|i1", "(1, 4)"), Bytes(i8)));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->data, (std::vector<float>{-128, -1, 0, 127}));

  std::vector<uint8_t> u8 = {0, 1, 200, 255};
  m = DecodeNpy(MakeNpy(Dict("|u1", "(4, 1)"), Bytes(u8)));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->rows, 4u);
  EXPECT_EQ(m->dim, 1u);
  EXPECT_EQ(m->data, (std::vector<float>{0, 1, 200, 255}));
}

TEST(NpyTest, OneDimensionalArrayIsOneRow) {
  std::vector<float> v = {1, 2, 3};
  auto m = DecodeNpy(MakeNpy(Dict("<f4", "(3,)"), Bytes(v)));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->rows, 1u);
  EXPECT_EQ(m->dim, 3u);
  EXPECT_EQ(m->data, v);
}

TEST(NpyTest, HeaderVariantsNumpyMayWrite) {
  std::vector<float> v = {1, 2};
  // Key order, quotes, no trailing comma, Python 2 long sizes.
  for (const std::string& dict :
       {std::string("{'shape': (1, 2), 'fortran_order': False, 'descr': '<f4'}"),
        std::string("{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (1,2)}"),
        std::string("{'descr':'<f4','fortran_order':False,'shape':(1L, 2L),}")}) {
    auto m = DecodeNpy(MakeNpy(dict, Bytes(v)));
    ASSERT_TRUE(m.ok()) << dict << ": " << m.status().ToString();
    EXPECT_EQ(m->data, v);
  }
  // Fortran order is the same layout when only one size exceeds 1.
  EXPECT_TRUE(DecodeNpy(MakeNpy(Dict("<f4", "(1, 2)", true), Bytes(v))).ok());
  EXPECT_TRUE(DecodeNpy(MakeNpy(Dict("<f4", "(2,)", true), Bytes(v))).ok());
}

TEST(NpyTest, EmptyMatrixHasItsDimension) {
  auto m = DecodeNpy(MakeNpy(Dict("<f4", "(0, 8)"), ""));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->rows, 0u);
  EXPECT_EQ(m->dim, 8u);
}

TEST(NpyTest, MaxRowsKeepsTheFirstRows) {
  std::vector<float> v = {1, 2, 3, 4, 5, 6};
  auto m = DecodeNpy(MakeNpy(Dict("<f4", "(3, 2)"), Bytes(v)), 2);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->rows, 2u);
  EXPECT_EQ(m->data, (std::vector<float>{1, 2, 3, 4}));
}

TEST(NpyTest, UnsupportedButWellFormedIsNotSupported) {
  std::vector<float> v(4, 1.0f);
  const std::string data = Bytes(v);
  for (const std::string& dict :
       {Dict(">f4", "(2, 2)"), Dict("=f4", "(2, 2)"), Dict("<i4", "(2, 2)"), Dict("<f2", "(4, 2)"),
        Dict("<c8", "(1, 2)"), Dict("|b1", "(16,)"), Dict("<f4", "(2, 2)", /*fortran=*/true),
        Dict("<f4", "()"), Dict("<f4", "(1, 2, 2)"), Dict("<f4", "(4, 0)"), Dict("<f4", "(0,)"),
        Dict("<f4", "(1, 65537)"),
        std::string("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (4,), }"),
        std::string("{'descr': [('a]', '<f4'), ('b', '<f4', (2,))], 'fortran_order': False, 'shape': (2,)}")}) {
    auto m = DecodeNpy(MakeNpy(dict, data));
    ASSERT_FALSE(m.ok()) << dict;
    EXPECT_EQ(m.status().code(), StatusCode::kNotSupported)
        << dict << ": " << m.status().ToString();
  }
  std::string v4 = MakeNpy(Dict("<f4", "(2, 2)"), data);
  v4[6] = 4;
  EXPECT_EQ(DecodeNpy(v4).status().code(), StatusCode::kNotSupported);
  std::string v11 = MakeNpy(Dict("<f4", "(2, 2)"), data);
  v11[7] = 1;
  EXPECT_EQ(DecodeNpy(v11).status().code(), StatusCode::kNotSupported);
}

TEST(NpyTest, MalformedHeadersAreCorruption) {
  std::vector<float> v(4, 1.0f);
  const std::string data = Bytes(v);
  for (const std::string& dict : {
           std::string(""),
           std::string("not a dict"),
           std::string("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2)"),  // no '}'
           std::string("{'descr': '<f4', 'fortran_order': False}"),                  // no shape
           std::string("{'fortran_order': False, 'shape': (2, 2)}"),                 // no descr
           std::string("{'descr': '<f4', 'shape': (2, 2)}"),                         // no order
           std::string("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 2)}"),
           std::string("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), 'x': 1}"),
           std::string("{'descr': 4, 'fortran_order': False, 'shape': (2, 2)}"),
           std::string("{'descr': '<f4', 'fortran_order': 'no', 'shape': (2, 2)}"),
           std::string("{'descr': '<f4', 'fortran_order': False, 'shape': [2, 2]}"),
           std::string("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -2)}"),
           std::string("{'descr': '<f4', 'fortran_order': False, 'shape': (2 2)}"),
           std::string("{'descr': '<f4', 'fortran_order': False, 'shape': (2, x)}"),
           std::string("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2)} junk"),
           std::string("{'descr': '<f4, 'fortran_order': False, 'shape': (2, 2)}"),
           std::string("{'descr': '<f\\4', 'fortran_order': False, 'shape': (2, 2)}"),
           std::string("{'descr' '<f4', 'fortran_order': False, 'shape': (2, 2)}"),
           std::string("{'descr': '<f4' 'fortran_order': False, 'shape': (2, 2)}"),
           Dict("<f4", "(99999999999999999999, 2)"),     // overflows uint64
           Dict("<f4", "(4611686018427387904, 65536)"),  // byte count overflows
       }) {
    auto m = DecodeNpy(MakeNpy(dict, data));
    ASSERT_FALSE(m.ok()) << dict;
    EXPECT_TRUE(m.status().IsCorruption()) << dict << ": " << m.status().ToString();
  }
  // Bad magic.
  std::string bad = MakeNpy(Dict("<f4", "(2, 2)"), data);
  bad[1] = 'X';
  EXPECT_TRUE(DecodeNpy(bad).status().IsCorruption());
  // A header length beyond the limit, and one beyond the image.
  std::string huge = MakeNpy(Dict("<f4", "(2, 2)"), data, 2);
  huge[8] = huge[9] = huge[10] = '\xff';
  huge[11] = 0;
  EXPECT_TRUE(DecodeNpy(huge).status().IsCorruption());
  std::string past = MakeNpy(Dict("<f4", "(2, 2)"), "", 1);
  past[8] = '\x40';
  past[9] = '\x01';  // 320 header bytes declared, 54 present
  EXPECT_TRUE(DecodeNpy(past).status().IsCorruption());
}

TEST(NpyTest, EveryTruncationIsAnError) {
  std::vector<float> v = {1, 2, 3, 4, 5, 6};
  for (int major : {1, 2, 3}) {
    const std::string full = MakeNpy(Dict("<f4", "(2, 3)"), Bytes(v), major);
    for (size_t len = 0; len < full.size(); ++len) {
      auto m = DecodeNpy(std::string_view(full).substr(0, len));
      ASSERT_FALSE(m.ok()) << "version " << major << ", " << len << " bytes";
      EXPECT_TRUE(m.status().IsCorruption()) << len << ": " << m.status().ToString();
    }
    EXPECT_TRUE(DecodeNpy(full).ok());
    EXPECT_TRUE(DecodeNpy(full + "x").status().IsCorruption());  // trailing bytes
  }
}

TEST(NpyTest, NonFiniteAndOutOfRangeValuesAreRejected) {
  std::vector<float> f = {1, std::numeric_limits<float>::quiet_NaN()};
  auto m = DecodeNpy(MakeNpy(Dict("<f4", "(1, 2)"), Bytes(f)));
  ASSERT_FALSE(m.ok());
  EXPECT_TRUE(m.status().IsInvalidArgument());
  EXPECT_NE(m.status().message().find("row 0, column 1"), std::string::npos)
      << m.status().message();

  std::vector<double> d = {1, 2, 3, 1e300};
  m = DecodeNpy(MakeNpy(Dict("<f8", "(2, 2)"), Bytes(d)));
  ASSERT_FALSE(m.ok());
  EXPECT_TRUE(m.status().IsInvalidArgument());
  EXPECT_NE(m.status().message().find("row 1, column 1"), std::string::npos)
      << m.status().message();
  d[3] = -std::numeric_limits<double>::infinity();
  EXPECT_TRUE(DecodeNpy(MakeNpy(Dict("<f8", "(2, 2)"), Bytes(d))).status().IsInvalidArgument());
}

TEST(NpyTest, GarbageNeverCrashes) {
  // Random mutations of a valid image: each must decode or fail cleanly.
  std::vector<float> v = {1, 2, 3, 4, 5, 6};
  const std::string full = MakeNpy(Dict("<f4", "(2, 3)"), Bytes(v));
  uint64_t state = 12345;
  auto next = [&state]() {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<uint32_t>(state >> 33);
  };
  for (int i = 0; i < 20000; ++i) {
    std::string s = full;
    const int flips = 1 + static_cast<int>(next() % 4);
    for (int j = 0; j < flips; ++j) s[next() % s.size()] = static_cast<char>(next());
    if (next() % 4 == 0) s.resize(next() % s.size());
    auto m = DecodeNpy(s);
    if (m.ok()) {
      EXPECT_EQ(m->data.size(), m->rows * m->dim);
    }
  }
}

class NpyFileTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& bytes) {
    std::string path = dir_.File(name);
    testutil::WriteFile(path, bytes);
    return path;
  }
  testutil::TempDir dir_;
};

TEST_F(NpyFileTest, ReadsFilesLikeDecode) {
  std::vector<float> v(3 * 5);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i) * 0.5f;
  for (int major : {1, 2, 3}) {
    const std::string path = Write("m.npy", MakeNpy(Dict("<f4", "(3, 5)"), Bytes(v), major));
    auto m = ReadNpy(path);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    EXPECT_EQ(m->rows, 3u);
    EXPECT_EQ(m->dim, 5u);
    EXPECT_EQ(m->data, v);
    auto two = ReadNpy(path, 2);
    ASSERT_TRUE(two.ok());
    EXPECT_EQ(two->rows, 2u);
    EXPECT_EQ(two->data, std::vector<float>(v.begin(), v.begin() + 10));
  }
}

TEST_F(NpyFileTest, FileErrorsNameTheFile) {
  auto missing = ReadNpy(dir_.File("none.npy"));
  EXPECT_TRUE(missing.status().IsNotFound());

  std::vector<float> v(6, 1.0f);
  const std::string full = MakeNpy(Dict("<f4", "(2, 3)"), Bytes(v));
  for (size_t len : {size_t{0}, size_t{5}, size_t{9}, size_t{40}, full.size() - 1}) {
    const std::string path = Write("t.npy", full.substr(0, len));
    auto m = ReadNpy(path);
    ASSERT_FALSE(m.ok()) << len;
    EXPECT_TRUE(m.status().IsCorruption()) << len << ": " << m.status().ToString();
    EXPECT_NE(m.status().message().find(path), std::string::npos) << m.status().message();
  }
  // A header length pointing past the end of the file.
  std::string past = full;
  past[8] = '\xff';
  past[9] = '\x7f';
  auto m = ReadNpy(Write("p.npy", past));
  EXPECT_TRUE(m.status().IsCorruption()) << m.status().ToString();

  EXPECT_FALSE(ReadNpy(dir_.path()).ok());  // a directory
}

}  // namespace
}  // namespace omendb::util
