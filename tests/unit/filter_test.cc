// Tests of omendb/filter.h: the semantics of every operator (numeric mixing
// of int and double, missing fields, incomparable types), validation,
// rendering, and agreement of CompiledFilter and ToString/ParseFilter with the
// reference Filter::Matches on random filters and random metadata.
#include "omendb/filter.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace omendb {
namespace {

using V = MetadataValue;
constexpr int64_t kI64Max = std::numeric_limits<int64_t>::max();
constexpr int64_t kI64Min = std::numeric_limits<int64_t>::min();
constexpr double kInf = std::numeric_limits<double>::infinity();

TEST(FilterTest, CompareValuesAcrossTypes) {
  auto cmp = [](V a, V b) { return CompareMetadataValues(a, b); };
  EXPECT_TRUE(cmp(int64_t{2}, 2.0) == 0);
  EXPECT_TRUE(cmp(2.0, int64_t{2}) == 0);
  EXPECT_TRUE(cmp(int64_t{2}, 2.5) < 0);
  EXPECT_TRUE(cmp(2.5, int64_t{2}) > 0);
  EXPECT_TRUE(cmp(int64_t{-1}, -0.5) < 0);
  EXPECT_TRUE(cmp(int64_t{-1}, -1.5) > 0);
  EXPECT_TRUE(cmp(int64_t{0}, -0.0) == 0);
  EXPECT_TRUE(cmp(0.0, -0.0) == 0);
  // No rounding: 2^53 + 1 is not representable as a double.
  const int64_t two53 = int64_t{1} << 53;
  EXPECT_TRUE(cmp(two53 + 1, static_cast<double>(two53)) > 0);
  EXPECT_TRUE(cmp(static_cast<double>(two53), two53 + 1) < 0);
  EXPECT_TRUE(cmp(two53, static_cast<double>(two53)) == 0);
  // The int64 extremes against doubles at and beyond them.
  EXPECT_TRUE(cmp(kI64Max, 9223372036854775808.0) < 0);
  EXPECT_TRUE(cmp(kI64Min, -9223372036854775808.0) == 0);
  EXPECT_TRUE(cmp(kI64Min, -9223372036854777856.0) > 0);  // next double below -2^63
  EXPECT_TRUE(cmp(kI64Max, kInf) < 0);
  EXPECT_TRUE(cmp(kI64Min, -kInf) > 0);
  // Strings are unsigned-bytewise; other pairings are unordered.
  EXPECT_TRUE(cmp(std::string("a"), std::string("b")) < 0);
  EXPECT_TRUE(cmp(std::string("a"), std::string("ab")) < 0);
  EXPECT_TRUE(cmp(std::string("\x80"), std::string("a")) > 0);
  EXPECT_TRUE(cmp(false, true) < 0);
  EXPECT_TRUE(cmp(true, true) == 0);
  EXPECT_EQ(cmp(std::string("1"), int64_t{1}), std::partial_ordering::unordered);
  EXPECT_EQ(cmp(true, int64_t{1}), std::partial_ordering::unordered);
  EXPECT_EQ(cmp(1.0, true), std::partial_ordering::unordered);
  EXPECT_EQ(cmp(std::nan(""), 1.0), std::partial_ordering::unordered);
  EXPECT_EQ(cmp(int64_t{1}, std::nan("")), std::partial_ordering::unordered);
}

const Metadata kDoc = {
    {"year", int64_t{2021}}, {"score", 1.5},     {"lang", std::string("en")},
    {"flag", true},          {"zero", -0.0},     {"big", kI64Max},
};

bool M(const Filter& f, const Metadata& m = kDoc, VectorId id = 1) {
  EXPECT_TRUE(f.Validate().ok()) << f.Validate().ToString();
  bool ref = f.Matches(id, m);
  auto c = CompiledFilter::Compile(f);
  EXPECT_TRUE(c.ok());
  if (c.ok()) {
    EXPECT_EQ(c->Matches(id, m), ref) << f.ToString();
  }
  return ref;
}

TEST(FilterTest, ComparisonOperators) {
  EXPECT_TRUE(M(Filter::Eq("year", int64_t{2021})));
  EXPECT_TRUE(M(Filter::Eq("year", 2021.0)));
  EXPECT_FALSE(M(Filter::Eq("year", 2021.5)));
  EXPECT_TRUE(M(Filter::Eq("score", 1.5)));
  EXPECT_TRUE(M(Filter::Eq("lang", "en")));
  EXPECT_TRUE(M(Filter::Eq("flag", true)));
  EXPECT_TRUE(M(Filter::Eq("zero", int64_t{0})));
  EXPECT_FALSE(M(Filter::Eq("big", 9223372036854775808.0)));

  EXPECT_TRUE(M(Filter::Ne("year", int64_t{2020})));
  EXPECT_FALSE(M(Filter::Ne("year", 2021.0)));
  EXPECT_TRUE(M(Filter::Ne("lang", "fr")));
  EXPECT_TRUE(M(Filter::Ne("flag", false)));

  EXPECT_TRUE(M(Filter::Lt("year", int64_t{2022})));
  EXPECT_FALSE(M(Filter::Lt("year", int64_t{2021})));
  EXPECT_TRUE(M(Filter::Le("year", int64_t{2021})));
  EXPECT_TRUE(M(Filter::Gt("year", 2020.5)));
  EXPECT_FALSE(M(Filter::Gt("year", 2021.0)));
  EXPECT_TRUE(M(Filter::Ge("year", 2021.0)));
  EXPECT_TRUE(M(Filter::Lt("score", int64_t{2})));
  EXPECT_TRUE(M(Filter::Gt("score", int64_t{1})));
  EXPECT_TRUE(M(Filter::Lt("big", kInf)));
  EXPECT_TRUE(M(Filter::Lt("lang", "fr")));
  EXPECT_TRUE(M(Filter::Gt("lang", "e")));
  EXPECT_TRUE(M(Filter::Ge("lang", "en")));
  EXPECT_FALSE(M(Filter::Gt("lang", "en")));
  EXPECT_TRUE(M(Filter::Gt("flag", false)));
}

TEST(FilterTest, MismatchedTypesNeverMatch) {
  for (const Filter& f :
       {Filter::Eq("year", "2021"), Filter::Ne("year", "2021"), Filter::Lt("year", "z"),
        Filter::Ge("lang", int64_t{0}), Filter::Ne("lang", int64_t{1}),
        Filter::Eq("flag", int64_t{1}), Filter::Ne("flag", int64_t{0}),
        Filter::Le("score", true), Filter::In("year", {V("2021"), V(true)}),
        Filter::Range("year", "a", "z")}) {
    EXPECT_FALSE(M(f)) << f.ToString();
    // Negation is the complement: it matches exactly these.
    EXPECT_TRUE(M(Filter::Not(f))) << f.ToString();
  }
}

TEST(FilterTest, MissingFields) {
  for (const Filter& f :
       {Filter::Eq("nope", int64_t{1}), Filter::Ne("nope", int64_t{1}),
        Filter::Lt("nope", int64_t{1}), Filter::Le("nope", int64_t{1}),
        Filter::Gt("nope", int64_t{1}), Filter::Ge("nope", int64_t{1}),
        Filter::Range("nope", int64_t{0}, int64_t{9}), Filter::In("nope", {V(int64_t{1})}),
        Filter::Exists("nope")}) {
    EXPECT_FALSE(M(f)) << f.ToString();
    EXPECT_TRUE(M(Filter::Not(f))) << f.ToString();
  }
  EXPECT_TRUE(M(Filter::Exists("lang")));
  EXPECT_FALSE(M(Filter::Not(Filter::Exists("lang"))));
  EXPECT_FALSE(M(Filter::Eq("lang", "en"), {}));
  EXPECT_TRUE(M(Filter::Not(Filter::Eq("lang", "en")), {}));
}

TEST(FilterTest, RangeBounds) {
  EXPECT_TRUE(M(Filter::Range("year", int64_t{2021}, int64_t{2021})));
  EXPECT_FALSE(M(Filter::Range("year", int64_t{2021}, int64_t{2022}, false, true)));
  EXPECT_FALSE(M(Filter::Range("year", int64_t{2020}, int64_t{2021}, true, false)));
  EXPECT_TRUE(M(Filter::Range("year", 2020.5, 2021.5, false, false)));
  EXPECT_TRUE(M(Filter::Range("year", int64_t{2020}, 2021.0)));
  EXPECT_TRUE(M(Filter::Range("score", int64_t{1}, int64_t{2}, false, false)));
  EXPECT_TRUE(M(Filter::Range("lang", "a", "f")));
  EXPECT_FALSE(M(Filter::Range("lang", "en", "en", false, true)));
  EXPECT_TRUE(M(Filter::Range("big", int64_t{0}, kInf)));
  // Defaults are inclusive on both ends.
  Filter r = Filter::Range("x", int64_t{1}, int64_t{2});
  EXPECT_TRUE(r.lo_inclusive());
  EXPECT_TRUE(r.hi_inclusive());
}

TEST(FilterTest, InSets) {
  EXPECT_TRUE(M(Filter::In("lang", {V("de"), V("en")})));
  EXPECT_FALSE(M(Filter::In("lang", {V("de"), V("fr")})));
  EXPECT_FALSE(M(Filter::In("lang", {})));
  EXPECT_FALSE(M(Filter::In("nope", {})));
  EXPECT_TRUE(M(Filter::Not(Filter::In("lang", {}))));
  // Numbers of either type match numerically.
  EXPECT_TRUE(M(Filter::In("year", {V(2021.0)})));
  EXPECT_TRUE(M(Filter::In("score", {V(int64_t{7}), V(1.5)})));
  EXPECT_FALSE(M(Filter::In("score", {V(int64_t{1}), V(int64_t{2})})));
  EXPECT_TRUE(M(Filter::In("zero", {V(int64_t{0})})));
  EXPECT_TRUE(M(Filter::In("zero", {V(0.0)})));
  EXPECT_TRUE(M(Filter::In("big", {V(kI64Max), V("x")})));
  EXPECT_FALSE(M(Filter::In("big", {V(9223372036854775808.0)})));
  EXPECT_TRUE(M(Filter::In("flag", {V(true)})));
  EXPECT_FALSE(M(Filter::In("flag", {V(false), V(int64_t{1})})));
  EXPECT_TRUE(M(Filter::In("x", {V(kInf)}), {{"x", kInf}}));
  EXPECT_FALSE(M(Filter::In("x", {V(kInf)}), {{"x", -kInf}}));
  EXPECT_FALSE(M(Filter::In("x", {V(kI64Max)}), {{"x", 9223372036854775808.0}}));
}

TEST(FilterTest, IdAllowList) {
  Filter f = Filter::IdIn({9, 3, 3, 7, std::numeric_limits<uint64_t>::max()});
  EXPECT_EQ(f.ids(), (std::vector<VectorId>{3, 7, 9, std::numeric_limits<uint64_t>::max()}));
  EXPECT_TRUE(M(f, {}, 3));
  EXPECT_TRUE(M(f, kDoc, std::numeric_limits<uint64_t>::max()));
  EXPECT_FALSE(M(f, {}, 4));
  EXPECT_FALSE(M(Filter::IdIn({}), {}, 0));
  EXPECT_TRUE(M(Filter::And({f, Filter::Eq("lang", "en")}), kDoc, 7));
  EXPECT_FALSE(M(Filter::And({f, Filter::Eq("lang", "en")}), {}, 7));
}

TEST(FilterTest, LogicalCombinations) {
  Filter y = Filter::Ge("year", int64_t{2020});
  Filter en = Filter::Eq("lang", "en");
  Filter fr = Filter::Eq("lang", "fr");
  EXPECT_TRUE(M(Filter::And({y, en})));
  EXPECT_FALSE(M(Filter::And({y, fr})));
  EXPECT_TRUE(M(Filter::Or({fr, y})));
  EXPECT_FALSE(M(Filter::Or({fr, Filter::Not(y)})));
  EXPECT_TRUE(M(Filter::Not(Filter::And({y, fr}))));
  EXPECT_TRUE(M(Filter::Not(Filter::Not(en))));
  EXPECT_TRUE(M(Filter::And({})));
  EXPECT_FALSE(M(Filter::Or({})));
  EXPECT_TRUE(M(Filter::Or({Filter::And({fr, y}), Filter::And({en, Filter::Or({fr, y})})})));
  EXPECT_FALSE(M(Filter::Or({Filter::And({fr, y}), Filter::And({en, Filter::Or({fr})})})));
  EXPECT_TRUE(M(Filter::All()));
  EXPECT_TRUE(M(Filter(), {}));
  EXPECT_EQ(Filter().op(), Filter::Op::kAll);
}

TEST(FilterTest, Validate) {
  EXPECT_TRUE(Filter::Range("y", int64_t{5}, int64_t{5}, false, false).Validate().ok());
  EXPECT_TRUE(Filter::Range("y", int64_t{1}, 1.5).Validate().ok());
  EXPECT_TRUE(Filter::In("y", {}).Validate().ok());
  EXPECT_TRUE(Filter::IdIn({}).Validate().ok());

  Status s = Filter::Range("y", int64_t{2024}, int64_t{2020}).Validate();
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_NE(s.message().find("2024"), std::string::npos) << s.message();
  EXPECT_TRUE(Filter::Range("y", 2.5, int64_t{2}).Validate().IsInvalidArgument());
  EXPECT_TRUE(Filter::Range("y", "b", "a").Validate().IsInvalidArgument());
  EXPECT_TRUE(Filter::Range("y", int64_t{1}, "a").Validate().IsInvalidArgument());
  EXPECT_TRUE(Filter::Eq("", int64_t{1}).Validate().IsInvalidArgument());
  EXPECT_TRUE(Filter::Exists("$y").Validate().IsInvalidArgument());
  EXPECT_TRUE(Filter::Eq(std::string(kMaxMetadataKeyBytes + 1, 'k'), int64_t{1})
                  .Validate()
                  .IsInvalidArgument());
  EXPECT_TRUE(Filter::Eq("y", std::nan("")).Validate().IsInvalidArgument());
  EXPECT_TRUE(Filter::In("y", {V(int64_t{1}), V(std::nan(""))}).Validate().IsInvalidArgument());
  EXPECT_TRUE(Filter::Eq("y", std::string(kMaxMetadataStringBytes + 1, 's'))
                  .Validate()
                  .IsInvalidArgument());
  // Errors deep inside a tree are found.
  EXPECT_TRUE(Filter::Or({Filter::All(), Filter::Not(Filter::And({Filter::Exists("")}))})
                  .Validate()
                  .IsInvalidArgument());
  // A NaN operand is invalid and also simply never matches.
  EXPECT_FALSE(Filter::Ne("score", std::nan("")).Matches(1, kDoc));
  EXPECT_FALSE(CompiledFilter::Compile(Filter::Eq("y", std::nan(""))).ok());
}

TEST(FilterTest, DepthLimit) {
  Filter ok = Filter::Exists("x");
  for (size_t i = 1; i < kMaxFilterDepth; ++i) ok = Filter::Not(ok);
  EXPECT_TRUE(ok.Validate().ok());
  EXPECT_TRUE(Filter::Not(ok).Validate().IsInvalidArgument());
  // Far deeper trees are rejected without recursing through them.
  Filter deep = ok;
  for (int i = 0; i < 2000; ++i) deep = Filter::And({deep});
  EXPECT_TRUE(deep.Validate().IsInvalidArgument());
  EXPECT_FALSE(CompiledFilter::Compile(deep).ok());
}

TEST(FilterTest, ToStringIsReadableJson) {
  EXPECT_EQ(Filter::All().ToString(), "{}");
  EXPECT_EQ(Filter::Eq("lang", "en").ToString(), "{\"lang\": \"en\"}");
  EXPECT_EQ(Filter::Ne("score", 1.5).ToString(), "{\"score\": {\"$ne\": 1.5}}");
  EXPECT_EQ(Filter::Eq("x", 2.0).ToString(), "{\"x\": 2.0}");
  EXPECT_EQ(Filter::Range("year", int64_t{2020}, int64_t{2024}, true, false).ToString(),
            "{\"year\": {\"$gte\": 2020, \"$lt\": 2024}}");
  EXPECT_EQ(Filter::And({Filter::Eq("a", int64_t{1}), Filter::Eq("b", true)}).ToString(),
            "{\"a\": 1, \"b\": true}");
  EXPECT_EQ(Filter::And({Filter::Gt("a", int64_t{1}), Filter::Lt("a", int64_t{5})}).ToString(),
            "{\"$and\": [{\"a\": {\"$gt\": 1}}, {\"a\": {\"$lt\": 5}}]}");
  EXPECT_EQ(Filter::Or({Filter::In("t", {V("x"), V(int64_t{2})}), Filter::Not(Filter::Exists("u"))})
                .ToString(),
            "{\"$or\": [{\"t\": {\"$in\": [\"x\", 2]}}, {\"u\": {\"$exists\": false}}]}");
  EXPECT_EQ(Filter::Not(Filter::Eq("q", "a\"b\n")).ToString(),
            "{\"$not\": {\"q\": \"a\\\"b\\n\"}}");
  EXPECT_EQ(Filter::IdIn({5, 1}).ToString(), "{\"$id\": {\"$in\": [1, 5]}}");
  EXPECT_EQ(Filter::Eq("i", -kInf).ToString(), "{\"i\": -Infinity}");
}

// ---------------------------------------------------------------------------
// Randomised agreement checks.

const char* const kFields[] = {"a", "b", "c", "d", "missing"};

V RandomValue(std::mt19937_64& rng) {
  static const std::vector<V> kValues = {
      V(int64_t{-2}), V(int64_t{-1}), V(int64_t{0}), V(int64_t{1}), V(int64_t{2}),
      V(int64_t{3}), V(kI64Max), V(kI64Min), V(int64_t{1} << 53), V((int64_t{1} << 53) + 1),
      V(-1.5), V(0.0), V(-0.0), V(1.0), V(2.0), V(2.5), V(9007199254740992.0),
      V(9.3e18), V(-9223372036854775808.0), V(kInf), V(-kInf),
      V(""), V("a"), V("ab"), V("b"), V("\xc3\xa9"), V(true), V(false)};
  return kValues[rng() % kValues.size()];
}

Filter RandomFilter(std::mt19937_64& rng, int depth) {
  const char* field = kFields[rng() % 5];
  if (depth >= 4 || rng() % 3 == 0) {
    switch (rng() % 11) {
      case 0: return Filter::Eq(field, RandomValue(rng));
      case 1: return Filter::Ne(field, RandomValue(rng));
      case 2: return Filter::Lt(field, RandomValue(rng));
      case 3: return Filter::Le(field, RandomValue(rng));
      case 4: return Filter::Gt(field, RandomValue(rng));
      case 5: return Filter::Ge(field, RandomValue(rng));
      case 6: {
        V lo = RandomValue(rng), hi = RandomValue(rng);
        std::partial_ordering c = CompareMetadataValues(lo, hi);
        if (c == std::partial_ordering::unordered) hi = lo;
        if (c > 0) std::swap(lo, hi);
        return Filter::Range(field, lo, hi, rng() % 2 == 0, rng() % 2 == 0);
      }
      case 7: {
        std::vector<V> vs(rng() % 5);
        for (V& v : vs) v = RandomValue(rng);
        return Filter::In(field, vs);
      }
      case 8: return Filter::Exists(field);
      case 9: {
        std::vector<VectorId> ids(rng() % 4);
        for (VectorId& id : ids) id = rng() % 10;
        return Filter::IdIn(ids);
      }
      default: return Filter::All();
    }
  }
  switch (rng() % 3) {
    case 0: {
      std::vector<Filter> c(rng() % 4);
      for (Filter& f : c) f = RandomFilter(rng, depth + 1);
      return Filter::And(c);
    }
    case 1: {
      std::vector<Filter> c(rng() % 4);
      for (Filter& f : c) f = RandomFilter(rng, depth + 1);
      return Filter::Or(c);
    }
    default: return Filter::Not(RandomFilter(rng, depth + 1));
  }
}

Metadata RandomDoc(std::mt19937_64& rng) {
  Metadata m;
  for (int i = 0; i < 4; ++i) {
    if (rng() % 10 < 7) m[kFields[i]] = RandomValue(rng);
  }
  return m;
}

TEST(CompiledFilterTest, AgreesWithReferenceOnRandomInputs) {
  std::mt19937_64 rng(11);
  std::vector<Metadata> docs;
  for (int i = 0; i < 40; ++i) docs.push_back(RandomDoc(rng));
  size_t matched = 0, total = 0;
  for (int i = 0; i < 3000; ++i) {
    Filter f = RandomFilter(rng, 0);
    ASSERT_TRUE(f.Validate().ok()) << f.ToString();
    auto c = CompiledFilter::Compile(f);
    ASSERT_TRUE(c.ok());
    for (size_t d = 0; d < docs.size(); ++d) {
      const VectorId id = d % 12;
      bool ref = f.Matches(id, docs[d]);
      ASSERT_EQ(c->Matches(id, docs[d]), ref) << f.ToString() << " on doc " << d;
      matched += ref;
      ++total;
    }
  }
  // The generator should exercise both outcomes substantially.
  EXPECT_GT(matched, total / 10);
  EXPECT_LT(matched, total * 9 / 10);
}

TEST(CompiledFilterTest, ManyDistinctFields) {
  // More fields than the per-call lookup cache holds.
  Metadata doc;
  std::vector<Filter> terms;
  for (int i = 0; i < 100; ++i) {
    std::string k = "f" + std::to_string(i);
    doc[k] = int64_t{i};
    terms.push_back(Filter::Eq(k, int64_t{i}));
    terms.push_back(Filter::Ge(k, 0.0));
  }
  Filter all = Filter::And(terms);
  auto c = CompiledFilter::Compile(all);
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->Matches(0, doc));
  doc["f99"] = int64_t{-1};
  EXPECT_FALSE(c->Matches(0, doc));
  EXPECT_FALSE(all.Matches(0, doc));
  EXPECT_TRUE(c->uses_metadata());
}

TEST(CompiledFilterTest, Properties) {
  CompiledFilter dflt;
  EXPECT_TRUE(dflt.matches_all());
  EXPECT_TRUE(dflt.Matches(3, {}));
  EXPECT_FALSE(dflt.uses_metadata());
  EXPECT_TRUE(CompiledFilter::Compile(Filter::And({}))->matches_all());
  EXPECT_TRUE(CompiledFilter::Compile(Filter::All())->matches_all());
  auto ids = CompiledFilter::Compile(Filter::IdIn({1, 2}));
  ASSERT_TRUE(ids.ok());
  EXPECT_FALSE(ids->matches_all());
  EXPECT_FALSE(ids->uses_metadata());
  EXPECT_TRUE(ids->Matches(2, {}));
  // Copies are independent of the source filter's lifetime.
  CompiledFilter copy;
  {
    auto c = CompiledFilter::Compile(Filter::In("s", {V("x"), V("y")}));
    ASSERT_TRUE(c.ok());
    copy = *c;
  }
  EXPECT_TRUE(copy.Matches(0, {{"s", std::string("y")}}));
  EXPECT_FALSE(copy.Matches(0, {{"s", std::string("z")}}));
  EXPECT_TRUE(CompiledFilter::Compile(Filter::Range("y", int64_t{3}, int64_t{1}))
                  .status()
                  .IsInvalidArgument());
}

TEST(FilterParseTest, ToStringReparsesToAnEquivalentFilter) {
  std::mt19937_64 rng(12);
  std::vector<Metadata> docs;
  for (int i = 0; i < 30; ++i) docs.push_back(RandomDoc(rng));
  int checked = 0;
  for (int i = 0; i < 2000; ++i) {
    Filter f = RandomFilter(rng, 0);
    const std::string text = f.ToString();
    if (text.find("Infinity") != std::string::npos) continue;  // not expressible in JSON
    auto p = ParseFilter(text);
    ASSERT_TRUE(p.ok()) << text << ": " << p.status().ToString();
    for (size_t d = 0; d < docs.size(); ++d) {
      ASSERT_EQ(p->Matches(d % 12, docs[d]), f.Matches(d % 12, docs[d])) << text;
    }
    // A parsed filter renders to text that parses back to the same rendering.
    const std::string again = p->ToString();
    auto p2 = ParseFilter(again);
    ASSERT_TRUE(p2.ok()) << again;
    EXPECT_EQ(p2->ToString(), again);
    ++checked;
  }
  EXPECT_GT(checked, 1000);
}

}  // namespace
}  // namespace omendb
