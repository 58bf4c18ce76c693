// Tests of util/json: the value tree, number typing, strings and escapes,
// limits, and error messages with byte positions.
#include "util/json.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>

namespace omendb::util {
namespace {

using T = JsonValue::Type;

JsonValue Parse(std::string_view text) {
  auto r = ParseJson(text);
  EXPECT_TRUE(r.ok()) << text << ": " << r.status().ToString();
  return r.ok() ? *r : JsonValue();
}

// The error message of parsing `text`, which must fail with InvalidArgument.
std::string ErrorOf(std::string_view text, const JsonParseOptions& options = {}) {
  auto r = ParseJson(text, options);
  EXPECT_FALSE(r.ok()) << text;
  if (r.ok()) return "";
  EXPECT_TRUE(r.status().IsInvalidArgument());
  return r.status().message();
}

TEST(JsonTest, Scalars) {
  EXPECT_EQ(Parse("null").type(), T::kNull);
  EXPECT_TRUE(Parse(" true ").bool_value());
  EXPECT_EQ(Parse("false").type(), T::kBool);
  EXPECT_FALSE(Parse("false").bool_value());
  EXPECT_EQ(Parse("\"hi\"").string_value(), "hi");
}

TEST(JsonTest, NumberTypes) {
  JsonValue v = Parse("42");
  EXPECT_EQ(v.type(), T::kInt);
  EXPECT_EQ(v.int_value(), 42);
  EXPECT_EQ(Parse("-0").type(), T::kInt);
  EXPECT_EQ(Parse("-9223372036854775808").int_value(), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(Parse("9223372036854775807").int_value(), std::numeric_limits<int64_t>::max());
  v = Parse("9223372036854775808");
  EXPECT_EQ(v.type(), T::kUint);
  EXPECT_EQ(v.uint_value(), uint64_t{1} << 63);
  EXPECT_EQ(Parse("18446744073709551615").uint_value(), std::numeric_limits<uint64_t>::max());
  for (const char* d : {"1.0", "1e2", "1E2", "-0.5", "1.5e-3", "2e+3", "0.0"}) {
    EXPECT_EQ(Parse(d).type(), T::kDouble) << d;
  }
  EXPECT_EQ(Parse("1e2").double_value(), 100.0);
  EXPECT_EQ(Parse("-0.5").double_value(), -0.5);
  EXPECT_TRUE(std::signbit(Parse("-0.0").double_value()));
  EXPECT_EQ(Parse("1.7976931348623157e308").double_value(), std::numeric_limits<double>::max());
}

TEST(JsonTest, ContainersAndOffsets) {
  JsonValue v = Parse("{\"a\": [1, 2.5, \"x\"], \"b\": {\"c\": null}}");
  ASSERT_EQ(v.type(), T::kObject);
  ASSERT_EQ(v.object().size(), 2u);
  EXPECT_EQ(v.object()[0].key, "a");
  EXPECT_EQ(v.object()[0].key_offset, 1u);
  const JsonValue& a = v.object()[0].value;
  ASSERT_EQ(a.type(), T::kArray);
  EXPECT_EQ(a.offset(), 6u);
  ASSERT_EQ(a.array().size(), 3u);
  EXPECT_EQ(a.array()[1].double_value(), 2.5);
  EXPECT_EQ(a.array()[1].offset(), 10u);
  EXPECT_EQ(v.object()[1].key, "b");
  EXPECT_EQ(v.object()[1].value.object()[0].value.type(), T::kNull);
  EXPECT_TRUE(Parse("[]").array().empty());
  EXPECT_TRUE(Parse("{ }").object().empty());
  // Accessors of the wrong type give defaults rather than failing.
  EXPECT_TRUE(v.array().empty());
  EXPECT_EQ(v.int_value(), 0);
  EXPECT_EQ(v.string_value(), "");
}

TEST(JsonTest, StringEscapesAndUnicode) {
  EXPECT_EQ(Parse(R"("a\"b\\c\/d\b\f\n\r\t")").string_value(), "a\"b\\c/d\b\f\n\r\t");
  EXPECT_EQ(Parse(R"("\u0041\u00e9\u20AC")").string_value(), "A\xc3\xa9\xe2\x82\xac");
  EXPECT_EQ(Parse(R"("\ud83d\ude00")").string_value(), "\xf0\x9f\x98\x80");
  EXPECT_EQ(Parse(R"("\u0000")").string_value(), std::string(1, '\0'));
  EXPECT_EQ(Parse("\"\xc3\xa9\xf0\x9f\x98\x80\"").string_value(), "\xc3\xa9\xf0\x9f\x98\x80");
}

TEST(JsonTest, ErrorsReportPositions) {
  EXPECT_EQ(ErrorOf(""), "json: at byte 0: unexpected end of input, expected a value");
  EXPECT_EQ(ErrorOf("{\"a\" 1}"), "json: at byte 5: expected ':'");
  EXPECT_EQ(ErrorOf("[1, 2,]"), "json: at byte 6: expected a value");
  EXPECT_EQ(ErrorOf("{\"a\": 1,}"), "json: at byte 8: expected a string key");
  EXPECT_EQ(ErrorOf("[1 2]"), "json: at byte 3: expected ',' or ']'");
  EXPECT_EQ(ErrorOf("{\"a\": 1 \"b\": 2}"), "json: at byte 8: expected ',' or '}'");
  EXPECT_EQ(ErrorOf("{\"a\": 1, \"a\": 2}"), "json: at byte 9: duplicate key");
  EXPECT_EQ(ErrorOf("{} x"), "json: at byte 3: unexpected characters after the value");
  EXPECT_EQ(ErrorOf("[01]"), "json: at byte 1: leading zero in number");
  EXPECT_EQ(ErrorOf("1."), "json: at byte 2: expected a digit after '.'");
  EXPECT_EQ(ErrorOf("1e"), "json: at byte 2: expected a digit in exponent");
  EXPECT_EQ(ErrorOf("-"), "json: at byte 0: malformed number");
  EXPECT_EQ(ErrorOf("+1"), "json: at byte 0: expected a value");
  EXPECT_EQ(ErrorOf("NaN"), "json: at byte 0: expected a value");
  EXPECT_EQ(ErrorOf("tru"), "json: at byte 0: expected a value");
  EXPECT_EQ(ErrorOf("[1e400]"), "json: at byte 1: number out of range");
  EXPECT_EQ(ErrorOf("1e-400"), "json: at byte 0: number out of range");  // underflow too
  EXPECT_EQ(Parse("4.9e-324").double_value(), std::numeric_limits<double>::denorm_min());
  EXPECT_EQ(ErrorOf("-9223372036854775809"), "json: at byte 0: integer out of range");
  EXPECT_EQ(ErrorOf("18446744073709551616"), "json: at byte 0: integer out of range");
  EXPECT_EQ(ErrorOf("\"abc"), "json: at byte 0: unterminated string");
  EXPECT_EQ(ErrorOf("\"a\nb\""), "json: at byte 2: control character in string");
  EXPECT_EQ(ErrorOf(R"("\x")"), "json: at byte 1: invalid escape");
  EXPECT_EQ(ErrorOf(R"("\u12G4")"), "json: at byte 5: bad hex digit in \\u escape");
  EXPECT_EQ(ErrorOf(R"("\u12")"), "json: at byte 3: truncated \\u escape");
  EXPECT_EQ(ErrorOf(R"("\udc00")"), "json: at byte 1: unpaired low surrogate");
  EXPECT_EQ(ErrorOf(R"("x\ud800")"), "json: at byte 2: unpaired high surrogate");
  EXPECT_EQ(ErrorOf(R"("\ud800\u0041")"), "json: at byte 1: unpaired high surrogate");
  EXPECT_EQ(ErrorOf("\"ab\xff\""), "json: at byte 3: invalid UTF-8 in string");
  EXPECT_EQ(ErrorOf("\"\xc0\x80\""), "json: at byte 1: invalid UTF-8 in string");  // overlong
  EXPECT_EQ(ErrorOf("\"\xed\xa0\x80\""), "json: at byte 1: invalid UTF-8 in string");  // surrogate
  EXPECT_EQ(ErrorOf("\"\xf4\x90\x80\x80\""), "json: at byte 1: invalid UTF-8 in string");
  EXPECT_EQ(ErrorOf("\"\xe2\x82\""), "json: at byte 1: invalid UTF-8 in string");  // truncated
  EXPECT_EQ(ErrorOf("// c\n1"), "json: at byte 0: expected a value");
}

TEST(JsonTest, Limits) {
  std::string ok(64, '[');
  ok += std::string(64, ']');
  EXPECT_TRUE(ParseJson(ok).ok());
  std::string deep(65, '[');
  deep += std::string(65, ']');
  EXPECT_EQ(ErrorOf(deep), "json: at byte 64: nesting deeper than 64");
  // Unbalanced deep input is stopped by the same limit, without recursing.
  EXPECT_EQ(ErrorOf(std::string(100000, '[')), "json: at byte 64: nesting deeper than 64");
  std::string objs;
  for (int i = 0; i < 65; ++i) objs += "{\"a\":";
  EXPECT_NE(ErrorOf(objs).find("nesting deeper than 64"), std::string::npos);

  JsonParseOptions small;
  small.max_bytes = 4;
  EXPECT_TRUE(ParseJson("[1] ", small).ok());
  EXPECT_EQ(ErrorOf("[1]  ", small), "json: input of 5 bytes exceeds the limit of 4");
  small.max_depth = 1;
  EXPECT_EQ(ErrorOf("[[]]", small), "json: at byte 1: nesting deeper than 1");
}

TEST(JsonTest, WritersRoundTrip) {
  std::string s;
  AppendJsonString(&s, std::string("q\"\\\n\x01\x1f\xc3\xa9", 8));
  EXPECT_EQ(s, "\"q\\\"\\\\\\n\\u0001\\u001f\xc3\xa9\"");
  EXPECT_EQ(Parse(s).string_value(), std::string("q\"\\\n\x01\x1f\xc3\xa9", 8));

  s.clear();
  AppendJsonInt(&s, std::numeric_limits<int64_t>::min());
  s += ' ';
  AppendJsonUint(&s, std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(s, "-9223372036854775808 18446744073709551615");

  auto dbl = [](double d) {
    std::string t;
    AppendJsonDouble(&t, d);
    return t;
  };
  EXPECT_EQ(dbl(2.0), "2.0");
  EXPECT_EQ(dbl(-0.0), "-0.0");
  EXPECT_EQ(dbl(0.1), "0.1");
  EXPECT_EQ(dbl(1e300), "1e+300");
  EXPECT_EQ(dbl(std::numeric_limits<double>::infinity()), "Infinity");
  EXPECT_EQ(dbl(-std::numeric_limits<double>::infinity()), "-Infinity");
  EXPECT_EQ(dbl(std::nan("")), "NaN");

  // Every finite double survives writing and reading back, bit for bit, and
  // reads back as a double.
  std::mt19937_64 rng(5);
  for (int i = 0; i < 20000; ++i) {
    double d = std::bit_cast<double>(static_cast<uint64_t>(rng()));
    if (!std::isfinite(d)) continue;
    std::string t = dbl(d);
    auto r = ParseJson(t);
    ASSERT_TRUE(r.ok()) << t << ": " << r.status().ToString();
    ASSERT_EQ(r->type(), T::kDouble) << t;
    EXPECT_EQ(std::bit_cast<uint64_t>(r->double_value()), std::bit_cast<uint64_t>(d)) << t;
  }
}

TEST(JsonTest, FindAndNumberValue) {
  JsonValue v = Parse(R"({"a": 1, "b": -2, "c": 18446744073709551615, "d": 2.5, "e": "x"})");
  ASSERT_NE(v.Find("a"), nullptr);
  EXPECT_TRUE(v.Find("a")->is_number());
  EXPECT_EQ(v.Find("a")->number_value(), 1.0);
  EXPECT_EQ(v.Find("b")->number_value(), -2.0);
  EXPECT_EQ(v.Find("c")->number_value(), 18446744073709551615.0);
  EXPECT_EQ(v.Find("d")->number_value(), 2.5);
  EXPECT_FALSE(v.Find("e")->is_number());
  EXPECT_EQ(v.Find("e")->number_value(), 0.0);
  EXPECT_EQ(v.Find("missing"), nullptr);
  // Only objects have members; a key inside a nested value is not found.
  EXPECT_EQ(Parse("[1, 2]").Find("a"), nullptr);
  EXPECT_EQ(Parse(R"({"o": {"a": 1}})").Find("a"), nullptr);
  EXPECT_FALSE(Parse("null").is_number());
}

TEST(JsonTest, FloatWriterIsShortestAndRoundTrips) {
  auto flt = [](float f) {
    std::string t;
    AppendJsonFloat(&t, f);
    return t;
  };
  EXPECT_EQ(flt(0.1f), "0.1");
  EXPECT_EQ(flt(0.0f), "0.0");
  EXPECT_EQ(flt(-3.0f), "-3.0");
  EXPECT_EQ(flt(1e30f), "1e+30");
  EXPECT_EQ(flt(std::numeric_limits<float>::infinity()), "Infinity");
  EXPECT_EQ(flt(std::nanf("")), "NaN");

  // Every finite float reads back to the same float.
  std::mt19937 rng(7);
  for (int i = 0; i < 20000; ++i) {
    float f = std::bit_cast<float>(static_cast<uint32_t>(rng()));
    if (!std::isfinite(f)) continue;
    std::string t = flt(f);
    auto r = ParseJson(t);
    ASSERT_TRUE(r.ok()) << t << ": " << r.status().ToString();
    ASSERT_EQ(r->type(), T::kDouble) << t;
    EXPECT_EQ(std::bit_cast<uint32_t>(static_cast<float>(r->double_value())),
              std::bit_cast<uint32_t>(f))
        << t;
  }
}

}  // namespace
}  // namespace omendb::util
