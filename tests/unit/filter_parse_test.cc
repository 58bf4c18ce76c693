// Tests of ParseFilter: the MongoDB-style JSON syntax, the Filter it builds,
// and its error messages with byte positions. (The random ToString/ParseFilter
// round trip lives in filter_test.cc next to the random filter generator.)
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "omendb/filter.h"

namespace omendb {
namespace {

Filter P(std::string_view text) {
  auto r = ParseFilter(text);
  EXPECT_TRUE(r.ok()) << text << ": " << r.status().ToString();
  return r.ok() ? *r : Filter::Or({});
}

std::string ErrorOf(std::string_view text) {
  auto r = ParseFilter(text);
  EXPECT_FALSE(r.ok()) << text << " parsed as " << (r.ok() ? r->ToString() : "");
  if (r.ok()) return "";
  EXPECT_TRUE(r.status().IsInvalidArgument()) << r.status().ToString();
  return r.status().message();
}

TEST(FilterParseTest, BriefExample) {
  Filter f = P(R"({"year": {"$gte": 2020, "$lt": 2024}, "lang": "en",
                  "tag": {"$in": ["a", "b"]},
                  "$or": [{"score": {"$ne": 1.5}}, {"x": {"$exists": true}}],
                  "$not": {"banned": true},
                  "$and": [{"n": {"$gt": 0}}, {"n": {"$lte": 10.5}}]})");
  EXPECT_EQ(f.op(), Filter::Op::kAnd);
  ASSERT_EQ(f.children().size(), 6u);
  const Filter& year = f.children()[0];
  EXPECT_EQ(year.op(), Filter::Op::kRange);
  EXPECT_EQ(year.field(), "year");
  EXPECT_EQ(year.value(), MetadataValue(int64_t{2020}));
  EXPECT_EQ(year.high(), MetadataValue(int64_t{2024}));
  EXPECT_TRUE(year.lo_inclusive());
  EXPECT_FALSE(year.hi_inclusive());

  Metadata doc = {{"year", int64_t{2021}}, {"lang", std::string("en")},
                  {"tag", std::string("b")}, {"score", 2.0},
                  {"n", int64_t{3}}};
  EXPECT_TRUE(f.Matches(0, doc));
  doc["year"] = int64_t{2024};
  EXPECT_FALSE(f.Matches(0, doc));
  doc["year"] = 2023.5;
  EXPECT_TRUE(f.Matches(0, doc));
  doc["banned"] = true;
  EXPECT_FALSE(f.Matches(0, doc));
  doc["banned"] = false;
  EXPECT_TRUE(f.Matches(0, doc));
  doc["score"] = int64_t{1};
  EXPECT_TRUE(f.Matches(0, doc));
  doc["score"] = 1.5;  // $ne fails, and x is missing
  EXPECT_FALSE(f.Matches(0, doc));
  doc["x"] = false;
  EXPECT_TRUE(f.Matches(0, doc));
  doc["n"] = 11.0;
  EXPECT_FALSE(f.Matches(0, doc));
}

TEST(FilterParseTest, Forms) {
  EXPECT_EQ(P("{}").op(), Filter::Op::kAll);
  EXPECT_EQ(P(" { } ").op(), Filter::Op::kAll);

  Filter eq = P(R"({"lang": "en"})");
  EXPECT_EQ(eq.op(), Filter::Op::kEq);
  EXPECT_EQ(eq.value(), MetadataValue(std::string("en")));
  EXPECT_EQ(P(R"({"n": 5})").value(), MetadataValue(int64_t{5}));
  EXPECT_EQ(P(R"({"n": 5.0})").value(), MetadataValue(5.0));
  EXPECT_EQ(P(R"({"n": -1e3})").value(), MetadataValue(-1000.0));
  EXPECT_EQ(P(R"({"b": false})").value(), MetadataValue(false));
  EXPECT_EQ(P(R"({"n": {"$eq": 5}})").op(), Filter::Op::kEq);

  EXPECT_EQ(P(R"({"n": {"$gt": 1}})").op(), Filter::Op::kGt);
  EXPECT_EQ(P(R"({"n": {"$gte": 1}})").op(), Filter::Op::kGe);
  EXPECT_EQ(P(R"({"n": {"$lt": 1}})").op(), Filter::Op::kLt);
  EXPECT_EQ(P(R"({"n": {"$lte": 1}})").op(), Filter::Op::kLe);
  EXPECT_EQ(P(R"({"n": {"$ne": 1}})").op(), Filter::Op::kNe);

  Filter in = P(R"({"t": {"$in": ["a", 2, 2.5, true]}})");
  EXPECT_EQ(in.op(), Filter::Op::kIn);
  EXPECT_EQ(in.values().size(), 4u);
  EXPECT_TRUE(P(R"({"t": {"$in": []}})").values().empty());

  EXPECT_EQ(P(R"({"x": {"$exists": true}})").op(), Filter::Op::kExists);
  Filter nx = P(R"({"x": {"$exists": false}})");
  EXPECT_EQ(nx.op(), Filter::Op::kNot);
  EXPECT_EQ(nx.children()[0].op(), Filter::Op::kExists);

  // Several operators on one field are ANDed; one lower plus one upper bound
  // fuse into a Range even among other operators.
  Filter multi = P(R"({"n": {"$ne": 3, "$gt": 1, "$lte": 5}})");
  ASSERT_EQ(multi.op(), Filter::Op::kAnd);
  ASSERT_EQ(multi.children().size(), 2u);
  EXPECT_EQ(multi.children()[0].op(), Filter::Op::kNe);
  EXPECT_EQ(multi.children()[1].op(), Filter::Op::kRange);
  EXPECT_FALSE(multi.children()[1].lo_inclusive());
  EXPECT_TRUE(multi.children()[1].hi_inclusive());
  // Two lower bounds are not fused.
  Filter two = P(R"({"n": {"$gt": 1, "$gte": 2, "$lt": 9}})");
  ASSERT_EQ(two.op(), Filter::Op::kAnd);
  EXPECT_EQ(two.children().size(), 3u);

  // Field-level $not negates its operator object.
  Filter fnot = P(R"({"n": {"$not": {"$gt": 5}}})");
  EXPECT_EQ(fnot.op(), Filter::Op::kNot);
  EXPECT_TRUE(fnot.Matches(0, {}));
  EXPECT_TRUE(fnot.Matches(0, {{"n", int64_t{5}}}));
  EXPECT_FALSE(fnot.Matches(0, {{"n", int64_t{6}}}));

  EXPECT_EQ(P(R"({"$and": []})").op(), Filter::Op::kAnd);
  EXPECT_TRUE(P(R"({"$and": []})").Matches(0, {}));
  EXPECT_FALSE(P(R"({"$or": []})").Matches(0, {}));
  EXPECT_EQ(P(R"({"$not": {}})").op(), Filter::Op::kNot);

  Filter ids = P(R"({"$id": {"$in": [3, 1, 18446744073709551615]}})");
  EXPECT_EQ(ids.op(), Filter::Op::kIdIn);
  EXPECT_EQ(ids.ids(),
            (std::vector<VectorId>{1, 3, std::numeric_limits<uint64_t>::max()}));
  EXPECT_EQ(P(R"({"$id": 7})").ids(), std::vector<VectorId>{7});
  EXPECT_EQ(P(R"({"$id": {"$in": []}})").ids().size(), 0u);

  // Keys may contain anything but a leading '$'; escapes are decoded.
  EXPECT_EQ(P(R"({"a.b$ c\u00e9": 1})").field(), "a.b$ c\xc3\xa9");
}

TEST(FilterParseTest, ErrorsReportPositions) {
  // Malformed JSON: the JSON layer's position, prefixed.
  EXPECT_EQ(ErrorOf(R"({"a": })"), "filter: json: at byte 6: expected a value");
  EXPECT_EQ(ErrorOf(""), "filter: json: at byte 0: unexpected end of input, expected a value");
  EXPECT_EQ(ErrorOf(R"({"a": 1, "a": 2})"), "filter: json: at byte 9: duplicate key");
  // Structure.
  EXPECT_EQ(ErrorOf("[1]"), "filter: at byte 0: a filter must be a JSON object");
  EXPECT_EQ(ErrorOf(" 5"), "filter: at byte 1: a filter must be a JSON object");
  EXPECT_EQ(ErrorOf(R"({"$foo": 1})"), "filter: at byte 1: unknown operator $foo");
  EXPECT_EQ(ErrorOf(R"({"a": {"$regex": "x"}})"), "filter: at byte 7: unknown operator $regex");
  EXPECT_EQ(ErrorOf(R"({"a": {"b": 1}})"),
            "filter: at byte 7: expected an operator such as $eq or $gt, got \"b\" (objects are "
            "not metadata values)");
  EXPECT_EQ(ErrorOf(R"({"a": {}})"), "filter: at byte 6: empty operator object");
  EXPECT_EQ(ErrorOf(R"({"a": null})"), "filter: at byte 6: null is not a metadata value");
  EXPECT_EQ(ErrorOf(R"({"a": [1]})"),
            "filter: at byte 6: an array is not a metadata value (use $in for a set)");
  EXPECT_EQ(ErrorOf(R"({"a": {"$gt": [1]}})"),
            "filter: at byte 14: an array is not a metadata value (use $in for a set)");
  EXPECT_EQ(ErrorOf(R"({"a": {"$in": 5}})"), "filter: at byte 14: $in takes an array");
  EXPECT_EQ(ErrorOf(R"({"a": {"$in": [1, null]}})"),
            "filter: at byte 18: null is not a metadata value");
  EXPECT_EQ(ErrorOf(R"({"a": {"$exists": 1}})"), "filter: at byte 18: $exists takes true or false");
  EXPECT_EQ(ErrorOf(R"({"a": {"$not": 1}})"),
            "filter: at byte 15: $not on a field takes an operator object");
  EXPECT_EQ(ErrorOf(R"({"$or": {"a": 1}})"),
            "filter: at byte 8: $or takes an array of filter objects");
  EXPECT_EQ(ErrorOf(R"({"$and": [{"a": 1}, 2]})"), "filter: at byte 20: expected a filter object");
  EXPECT_EQ(ErrorOf(R"({"$not": [1]})"), "filter: at byte 9: expected a filter object");
  EXPECT_EQ(ErrorOf(R"({"$id": -1})"), "filter: at byte 8: an id must be an integer in [0, 2^64)");
  EXPECT_EQ(ErrorOf(R"({"$id": {"$in": [1.5]}})"),
            "filter: at byte 17: an id must be an integer in [0, 2^64)");
  EXPECT_EQ(ErrorOf(R"({"$id": {"$nin": [1]}})"),
            "filter: at byte 8: $id takes an id or {\"$in\": [ids]}");
  EXPECT_EQ(ErrorOf(R"({"a": 9223372036854775808})"),
            "filter: at byte 6: integer out of the int64 range of metadata values");
  // Keys and values breaking Filter::Validate's rules.
  EXPECT_EQ(ErrorOf(R"({"": 1})"), "filter: at byte 1: metadata key is empty");
  EXPECT_EQ(ErrorOf(R"({"year": {"$gte": 2024, "$lt": 2020}})"),
            "filter: at byte 9: Range on \"year\": low bound 2024 is above high bound 2020");
  EXPECT_EQ(ErrorOf(R"({"a": {"$gt": "x", "$lt": 5}})"),
            "filter: at byte 6: Range on \"a\": bounds \"x\" and 5 are of incomparable types");
  const std::string long_string = "{\"s\": \"" + std::string(kMaxMetadataStringBytes + 1, 'x') +
                                  "\"}";
  EXPECT_NE(ErrorOf(long_string).find("filter: at byte 6: $eq on \"s\": metadata string of"),
            std::string::npos);
  const std::string long_key = "{\"" + std::string(kMaxMetadataKeyBytes + 1, 'k') + "\": 1}";
  EXPECT_NE(ErrorOf(long_key).find("filter: at byte 1: metadata key of 257 bytes"),
            std::string::npos);
  // Nesting and size limits.
  std::string deep;
  for (int i = 0; i < 70; ++i) deep += "{\"$not\": ";
  deep += "{}";
  for (int i = 0; i < 70; ++i) deep += "}";
  EXPECT_NE(ErrorOf(deep).find("nesting deeper than 64"), std::string::npos);
  std::string huge = "{\"$id\": {\"$in\": [";
  while (huge.size() <= kMaxFilterJsonBytes) huge += "1,";
  huge += "1]}}";
  EXPECT_NE(ErrorOf(huge).find("exceeds the limit"), std::string::npos);
}

TEST(FilterParseTest, ParsedFiltersRenderStably) {
  for (const char* text : {
           R"({"year": {"$gte": 2020, "$lt": 2024}, "lang": "en"})",
           R"({"n": {"$ne": 3, "$gt": 1, "$lte": 5}, "m": {"$not": {"$in": [1, "a"]}}})",
           R"({"$or": [{"a": 1}, {"$not": {"b": {"$exists": false}}}], "$id": 4})",
           R"({"$not": {"a": 1.25, "$not": {"b": -0.0}}})",
           R"({"s": "quote\" backslash\\ tab\t \u00e9 \ud83d\ude00"})",
       }) {
    Filter f = P(text);
    std::string once = f.ToString();
    Filter g = P(once);
    EXPECT_EQ(g.ToString(), once) << text;
  }
  EXPECT_EQ(P(R"({"year": {"$gte": 2020, "$lt": 2024}, "lang": "en"})").ToString(),
            R"({"year": {"$gte": 2020, "$lt": 2024}, "lang": "en"})");
}

}  // namespace
}  // namespace omendb
