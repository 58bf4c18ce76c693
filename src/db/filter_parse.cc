// ParseFilter: MongoDB-style JSON filter expressions to Filter values.
#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "omendb/filter.h"
#include "util/json.h"

namespace omendb {
namespace {

using util::JsonMember;
using util::JsonValue;

// The JSON layer rejects deeper nesting before any filter is built, and also
// bounds this file's recursion, which follows the JSON structure.
constexpr size_t kMaxJsonDepth = 64;

Status ParseError(size_t at, std::string_view what) {
  std::string m = "filter: at byte ";
  m += std::to_string(at);
  m += ": ";
  m += what;
  return Status::InvalidArgument(m);
}

// Validates a freshly built leaf and, on failure, re-reports Validate's
// message at the position of the JSON that produced it.
Result<Filter> CheckedLeaf(Filter f, size_t at) {
  Status s = f.Validate();
  if (!s.ok()) {
    std::string_view msg = s.message();
    constexpr std::string_view kPrefix = "filter: ";
    if (msg.substr(0, kPrefix.size()) == kPrefix) msg.remove_prefix(kPrefix.size());
    return ParseError(at, msg);
  }
  return f;
}

Result<MetadataValue> Scalar(const JsonValue& v) {
  switch (v.type()) {
    case JsonValue::Type::kBool: return MetadataValue(v.bool_value());
    case JsonValue::Type::kInt: return MetadataValue(v.int_value());
    case JsonValue::Type::kDouble: return MetadataValue(v.double_value());
    case JsonValue::Type::kString: return MetadataValue(v.string_value());
    case JsonValue::Type::kUint:
      return ParseError(v.offset(), "integer out of the int64 range of metadata values");
    case JsonValue::Type::kNull:
      return ParseError(v.offset(), "null is not a metadata value");
    case JsonValue::Type::kArray:
      return ParseError(v.offset(), "an array is not a metadata value (use $in for a set)");
    case JsonValue::Type::kObject:
      return ParseError(v.offset(), "expected a string, number or boolean, got an object");
  }
  return ParseError(v.offset(), "expected a value");
}

Filter Conjunction(std::vector<Filter> parts) {
  if (parts.size() == 1) return std::move(parts.front());
  return Filter::And(std::move(parts));
}

Result<Filter> ParseFilterObject(const JsonValue& obj);

Result<VectorId> ParseId(const JsonValue& v) {
  if (v.type() == JsonValue::Type::kInt && v.int_value() >= 0) {
    return static_cast<VectorId>(v.int_value());
  }
  if (v.type() == JsonValue::Type::kUint) return v.uint_value();
  return ParseError(v.offset(), "an id must be an integer in [0, 2^64)");
}

// "$id": 7 or "$id": {"$in": [1, 2, 3]}.
Result<Filter> ParseIdFilter(const JsonValue& v) {
  if (v.type() != JsonValue::Type::kObject) {
    OMENDB_ASSIGN_OR_RETURN(VectorId id, ParseId(v));
    return Filter::IdIn({id});
  }
  const JsonValue::Object& ops = v.object();
  if (ops.size() != 1 || ops.front().key != "$in") {
    return ParseError(v.offset(), "$id takes an id or {\"$in\": [ids]}");
  }
  const JsonValue& list = ops.front().value;
  if (list.type() != JsonValue::Type::kArray) {
    return ParseError(list.offset(), "$in takes an array");
  }
  std::vector<VectorId> ids;
  ids.reserve(list.array().size());
  for (const JsonValue& e : list.array()) {
    OMENDB_ASSIGN_OR_RETURN(VectorId id, ParseId(e));
    ids.push_back(id);
  }
  return Filter::IdIn(std::move(ids));
}

// The operator object of a field: {"$gte": 1, "$lt": 5, "$ne": 3, ...}.
Result<Filter> ParseFieldOps(const std::string& field, const JsonValue& obj) {
  const JsonValue::Object& ops = obj.object();
  if (ops.empty()) return ParseError(obj.offset(), "empty operator object");
  std::vector<Filter> parts;
  // Where the single lower / upper bound sits in `parts`, to fuse the pair
  // into one Range; -1 = none, -2 = more than one (no fusing).
  int lower = -1, upper = -1;
  for (const JsonMember& m : ops) {
    const std::string& op = m.key;
    const JsonValue& arg = m.value;
    if (op == "$eq" || op == "$ne" || op == "$gt" || op == "$gte" || op == "$lt" ||
        op == "$lte") {
      OMENDB_ASSIGN_OR_RETURN(MetadataValue v, Scalar(arg));
      Filter f;
      if (op == "$eq") f = Filter::Eq(field, std::move(v));
      if (op == "$ne") f = Filter::Ne(field, std::move(v));
      if (op == "$gt") f = Filter::Gt(field, std::move(v));
      if (op == "$gte") f = Filter::Ge(field, std::move(v));
      if (op == "$lt") f = Filter::Lt(field, std::move(v));
      if (op == "$lte") f = Filter::Le(field, std::move(v));
      OMENDB_ASSIGN_OR_RETURN(f, CheckedLeaf(std::move(f), arg.offset()));
      const int at = static_cast<int>(parts.size());
      if (op == "$gt" || op == "$gte") lower = lower == -1 ? at : -2;
      if (op == "$lt" || op == "$lte") upper = upper == -1 ? at : -2;
      parts.push_back(std::move(f));
    } else if (op == "$in") {
      if (arg.type() != JsonValue::Type::kArray) {
        return ParseError(arg.offset(), "$in takes an array");
      }
      std::vector<MetadataValue> values;
      values.reserve(arg.array().size());
      for (const JsonValue& e : arg.array()) {
        OMENDB_ASSIGN_OR_RETURN(MetadataValue v, Scalar(e));
        values.push_back(std::move(v));
      }
      OMENDB_ASSIGN_OR_RETURN(Filter f, CheckedLeaf(Filter::In(field, std::move(values)),
                                                    arg.offset()));
      parts.push_back(std::move(f));
    } else if (op == "$exists") {
      if (arg.type() != JsonValue::Type::kBool) {
        return ParseError(arg.offset(), "$exists takes true or false");
      }
      OMENDB_ASSIGN_OR_RETURN(Filter f, CheckedLeaf(Filter::Exists(field), arg.offset()));
      parts.push_back(arg.bool_value() ? std::move(f) : Filter::Not(std::move(f)));
    } else if (op == "$not") {
      if (arg.type() != JsonValue::Type::kObject) {
        return ParseError(arg.offset(), "$not on a field takes an operator object");
      }
      OMENDB_ASSIGN_OR_RETURN(Filter inner, ParseFieldOps(field, arg));
      parts.push_back(Filter::Not(std::move(inner)));
    } else if (!op.empty() && op.front() == '$') {
      return ParseError(m.key_offset, "unknown operator " + op);
    } else {
      return ParseError(m.key_offset, "expected an operator such as $eq or $gt, got \"" + op +
                                          "\" (objects are not metadata values)");
    }
  }
  if (lower >= 0 && upper >= 0) {
    // One lower and one upper bound: the common range query, kept as a single
    // Range node (one lookup, and lo > hi is reported instead of silently
    // matching nothing).
    const Filter& lo = parts[static_cast<size_t>(lower)];
    const Filter& hi = parts[static_cast<size_t>(upper)];
    OMENDB_ASSIGN_OR_RETURN(
        Filter range,
        CheckedLeaf(Filter::Range(field, lo.value(), hi.value(), lo.op() == Filter::Op::kGe,
                                  hi.op() == Filter::Op::kLe),
                    obj.offset()));
    const auto first = static_cast<size_t>(std::min(lower, upper));
    const auto second = static_cast<size_t>(std::max(lower, upper));
    parts[first] = std::move(range);
    parts.erase(parts.begin() + static_cast<std::ptrdiff_t>(second));
  }
  return Conjunction(std::move(parts));
}

Result<Filter> ParseField(const JsonMember& m) {
  {
    Status s = ValidateMetadataKey(m.key);
    if (!s.ok()) return ParseError(m.key_offset, s.message());
  }
  if (m.value.type() == JsonValue::Type::kObject) return ParseFieldOps(m.key, m.value);
  OMENDB_ASSIGN_OR_RETURN(MetadataValue v, Scalar(m.value));
  return CheckedLeaf(Filter::Eq(m.key, std::move(v)), m.value.offset());
}

Result<std::vector<Filter>> ParseFilterArray(const std::string& op, const JsonValue& v) {
  if (v.type() != JsonValue::Type::kArray) {
    return ParseError(v.offset(), op + " takes an array of filter objects");
  }
  std::vector<Filter> children;
  children.reserve(v.array().size());
  for (const JsonValue& e : v.array()) {
    OMENDB_ASSIGN_OR_RETURN(Filter f, ParseFilterObject(e));
    children.push_back(std::move(f));
  }
  return children;
}

Result<Filter> ParseFilterObject(const JsonValue& obj) {
  if (obj.type() != JsonValue::Type::kObject) {
    return ParseError(obj.offset(), "expected a filter object");
  }
  std::vector<Filter> parts;
  parts.reserve(obj.object().size());
  for (const JsonMember& m : obj.object()) {
    if (m.key.empty() || m.key.front() != '$') {
      OMENDB_ASSIGN_OR_RETURN(Filter f, ParseField(m));
      parts.push_back(std::move(f));
    } else if (m.key == "$and" || m.key == "$or") {
      OMENDB_ASSIGN_OR_RETURN(std::vector<Filter> children, ParseFilterArray(m.key, m.value));
      parts.push_back(m.key == "$and" ? Filter::And(std::move(children))
                                      : Filter::Or(std::move(children)));
    } else if (m.key == "$not") {
      OMENDB_ASSIGN_OR_RETURN(Filter inner, ParseFilterObject(m.value));
      parts.push_back(Filter::Not(std::move(inner)));
    } else if (m.key == "$id") {
      OMENDB_ASSIGN_OR_RETURN(Filter f, ParseIdFilter(m.value));
      parts.push_back(std::move(f));
    } else {
      return ParseError(m.key_offset, "unknown operator " + m.key);
    }
  }
  if (parts.empty()) return Filter::All();
  return Conjunction(std::move(parts));
}

}  // namespace

Result<Filter> ParseFilter(std::string_view json) {
  util::JsonParseOptions options;
  options.max_depth = kMaxJsonDepth;
  options.max_bytes = kMaxFilterJsonBytes;
  Result<JsonValue> doc = util::ParseJson(json, options);
  if (!doc.ok()) return doc.status().WithContext("filter");
  if (doc->type() != JsonValue::Type::kObject) {
    return ParseError(doc->offset(), "a filter must be a JSON object");
  }
  OMENDB_ASSIGN_OR_RETURN(Filter f, ParseFilterObject(*doc));
  // Leaves were checked as they were built; this adds the tree-depth check.
  OMENDB_RETURN_IF_ERROR(f.Validate());
  return f;
}

}  // namespace omendb
