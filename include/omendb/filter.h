// Filter: a predicate over a vector's id and metadata, used to restrict a
// search to the vectors that match it.
//
// Semantics (shared by Filter::Matches and CompiledFilter::Matches):
//  * Comparisons (Eq, Ne, Lt, Le, Gt, Ge, Range, In) match only when the field
//    is present and its value is comparable with the operand:
//      - int64 and double are both numbers and compare exactly by numeric
//        value (2 == 2.0; 2^53 + 1 > 2^53 as a double, no rounding);
//      - strings compare lexicographically by unsigned bytes;
//      - bools compare with bools (false < true);
//      - any other pairing (string vs number, bool vs number, ...) is
//        incomparable and never matches, not even Ne.
//    So Ne(f, v) means "f is present, comparable with v and differs from it";
//    Not(Eq(f, v)) additionally matches vectors where f is missing or of an
//    incomparable type.
//  * Exists(f) matches when the field is present, whatever its type.
//  * In(f, values) matches when some element of values equals the field
//    (same equality as Eq); an empty set matches nothing.
//  * IdIn(ids) matches vectors whose id is in ids (an allow-list).
//  * And of no filters matches everything; Or of no filters matches nothing.
//  * All() (also the default-constructed Filter) matches everything.
//
// Filters are immutable values sharing their nodes: copying is a reference
// count increment, and a Filter may be used from many threads at once.
// Matches, ToString and destruction recurse once per tree level; Validate
// caps the depth at kMaxFilterDepth, and ParseFilter never builds deeper
// trees, so only hand-built trees thousands of levels deep need care.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "omendb/metadata.h"
#include "omendb/status.h"
#include "omendb/types.h"

namespace omendb {

// Deepest filter tree Validate accepts (root to leaf, counting both).
inline constexpr size_t kMaxFilterDepth = 256;

// Orders two metadata values under the filter semantics above: numbers by
// exact numeric value, strings bytewise, bools false < true; unordered for
// incomparable types and for NaN.
std::partial_ordering CompareMetadataValues(const MetadataValue& a, const MetadataValue& b);

class Filter {
 public:
  // The node kinds, as returned by op().
  enum class Op : uint8_t {
    kAll, kEq, kNe, kLt, kLe, kGt, kGe, kRange, kIn, kExists, kAnd, kOr, kNot, kIdIn,
  };

  // Matches everything (same as All()). Allocates nothing.
  Filter() = default;

  static Filter All();
  // field == value / field != value / field < value / <= / > / >= (see the
  // comparison rules above).
  static Filter Eq(std::string_view field, MetadataValue value);
  static Filter Ne(std::string_view field, MetadataValue value);
  static Filter Lt(std::string_view field, MetadataValue value);
  static Filter Le(std::string_view field, MetadataValue value);
  static Filter Gt(std::string_view field, MetadataValue value);
  static Filter Ge(std::string_view field, MetadataValue value);
  // lo <(=) field <(=) hi; each bound inclusive when its flag is set.
  // Validate requires lo and hi comparable with each other and lo <= hi.
  static Filter Range(std::string_view field, MetadataValue lo, MetadataValue hi,
                      bool lo_inclusive = true, bool hi_inclusive = true);
  // field equals one of `values` (kept in the given order; may be empty).
  static Filter In(std::string_view field, std::vector<MetadataValue> values);
  // field is present.
  static Filter Exists(std::string_view field);
  // All / any of `children` match; logical negation of `child`.
  static Filter And(std::vector<Filter> children);
  static Filter Or(std::vector<Filter> children);
  static Filter Not(Filter child);
  // The vector's id is one of `ids` (stored sorted and deduplicated).
  static Filter IdIn(std::vector<VectorId> ids);

  // Evaluates the filter by walking the tree. Never fails; on a filter that
  // does not pass Validate it still follows the rules above (e.g. a NaN
  // operand matches nothing). Recursion depth equals the tree depth, so
  // callers Validate filters built from untrusted input first.
  bool Matches(VectorId id, const Metadata& metadata) const;

  // OK if the filter is well formed: field names are valid metadata keys
  // (ValidateMetadataKey), operands are valid metadata values (no NaN, strings
  // within kMaxMetadataStringBytes), Range bounds are comparable with lo <= hi
  // (lo == hi with an exclusive bound is allowed and matches nothing), and the
  // tree is at most kMaxFilterDepth deep. InvalidArgument naming the offending
  // node otherwise. Safe on arbitrarily deep trees (stops at the limit).
  Status Validate() const;

  // A MongoDB-style JSON rendering of the filter, e.g.
  // {"year": {"$gte": 2020, "$lt": 2024}, "lang": "en"}. For any filter that
  // ParseFilter produced, ParseFilter(f.ToString()) succeeds (unless the
  // rendering nests deeper than the parser allows) and renders identically.
  // Doubles print with enough digits to round-trip; infinities and NaN, which
  // JSON cannot express, print as Infinity, -Infinity and NaN.
  std::string ToString() const;

  // Introspection, for compilers and planners. op() is kAll for a default
  // Filter. field(): the field of a comparison/In/Exists node, else empty.
  // value(): the operand of Eq..Ge, the low bound of Range. high(): the high
  // bound of Range. values(): In's set. children(): And/Or's children, or
  // Not's single child. ids(): IdIn's sorted, unique ids. Accessors that do
  // not apply to the node return an empty/default object.
  Op op() const;
  const std::string& field() const;
  const MetadataValue& value() const;
  const MetadataValue& high() const;
  bool lo_inclusive() const;
  bool hi_inclusive() const;
  const std::vector<MetadataValue>& values() const;
  const std::vector<Filter>& children() const;
  const std::vector<VectorId>& ids() const;

 private:
  struct Node;
  explicit Filter(std::shared_ptr<const Node> node) : node_(std::move(node)) {}
  // Null means All(), so a default Filter costs no allocation.
  std::shared_ptr<const Node> node_;
};

// Parses a MongoDB-style JSON filter (for the CLI and language bindings):
//   {"year": {"$gte": 2020, "$lt": 2024}, "lang": "en",
//    "tag": {"$in": ["a", "b"]}, "score": {"$ne": 1.5},
//    "x": {"$exists": true}, "$or": [{...}, {...}], "$and": [...],
//    "$not": {...}, "$id": {"$in": [1, 2, 3]}}
// The top level is an object; its members are ANDed (in input order; {} is
// All()). A member is either
//  * "field": scalar                -> Eq(field, scalar)
//  * "field": {"$op": operand, ...} -> the operators ANDed, with $eq $ne $gt
//    $gte $lt $lte (scalar), $in (array of scalars, may be empty), $exists
//    (bool; false means Not(Exists)), $not (an operator object, negated);
//    exactly one lower ($gt/$gte) plus one upper ($lt/$lte) bound become
//    one Range, which must satisfy Range's rules;
//  * "$and" / "$or": array of filter objects (empty allowed: All / nothing);
//  * "$not": filter object;
//  * "$id": id or {"$in": [ids]} -> IdIn; ids are integers in [0, 2^64).
// Scalars are strings, booleans and numbers; integers without '.' or exponent
// are int64, other numbers double. Errors (malformed JSON, unknown operator,
// wrong operand type, null, arrays as values, limits of Filter::Validate, JSON
// nesting deeper than 64, input over 8 MiB) are InvalidArgument whose message
// gives the byte offset, e.g. "filter: at byte 12: unknown operator $foo".
// The returned filter passes Validate.
Result<Filter> ParseFilter(std::string_view json);

// Largest input ParseFilter accepts.
inline constexpr size_t kMaxFilterJsonBytes = 8u << 20;

// A Filter flattened for fast repeated evaluation: field names are collected
// once, each field is looked up at most once per Matches call, In sets are
// sorted for binary search and IdIn uses binary search. Matches performs no
// heap allocation. Immutable after Compile; safe to share between threads.
class CompiledFilter {
 public:
  // Matches everything.
  CompiledFilter();
  ~CompiledFilter();
  CompiledFilter(const CompiledFilter&);
  CompiledFilter& operator=(const CompiledFilter&);
  CompiledFilter(CompiledFilter&&) noexcept;
  CompiledFilter& operator=(CompiledFilter&&) noexcept;

  // Validates `filter` (Filter::Validate's errors) and compiles it.
  static Result<CompiledFilter> Compile(const Filter& filter);

  // Same answer as the source Filter's Matches, for every id and metadata.
  bool Matches(VectorId id, const Metadata& metadata) const;

  // True if the filter matches every vector without looking at it (All, or
  // an And of nothing), so a search may skip filtering altogether.
  bool matches_all() const;
  // True if evaluation reads metadata (some node names a field); false for
  // filters over ids only, which a caller may evaluate with empty metadata.
  bool uses_metadata() const { return !fields_.empty(); }

 private:
  struct Node;
  struct InSet;
  struct Compiler;
  bool Eval(size_t i, VectorId id, const Metadata& m, const MetadataValue** cache,
            uint64_t* resolved) const;
  const MetadataValue* Lookup(uint32_t field, const Metadata& m, const MetadataValue** cache,
                              uint64_t* resolved) const;

  std::vector<Node> nodes_;            // preorder; a node's subtree is contiguous
  std::vector<std::string> fields_;    // distinct field names
  std::vector<MetadataValue> values_;  // comparison operands
  std::vector<InSet> sets_;            // In operands
  std::vector<std::vector<VectorId>> id_sets_;  // IdIn operands, sorted
};

}  // namespace omendb
