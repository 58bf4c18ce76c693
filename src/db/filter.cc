// Filter construction, reference evaluation, validation and rendering, and
// CompiledFilter. ParseFilter lives in filter_parse.cc.
#include "omendb/filter.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <type_traits>
#include <utility>

#include "util/json.h"

namespace omendb {

namespace {

// 2^63 as a double: the first double above every int64.
constexpr double kTwo63 = 9223372036854775808.0;

// Exact comparison of an int64 with a double. Converting the int to double
// would round above 2^53 (making 2^53 + 1 "equal" to 2^53), so the double's
// integer part is compared as an int64 instead, and its fraction breaks ties.
std::partial_ordering CompareIntDouble(int64_t i, double d) {
  if (std::isnan(d)) return std::partial_ordering::unordered;
  if (d >= kTwo63) return std::partial_ordering::less;
  if (d < -kTwo63) return std::partial_ordering::greater;
  const double t = std::trunc(d);
  const auto ti = static_cast<int64_t>(t);  // in range: -2^63 <= t < 2^63
  if (i < ti) return std::partial_ordering::less;
  if (i > ti) return std::partial_ordering::greater;
  const double frac = d - t;  // exact for doubles
  if (frac > 0) return std::partial_ordering::less;
  if (frac < 0) return std::partial_ordering::greater;
  return std::partial_ordering::equivalent;
}

std::partial_ordering Reverse(std::partial_ordering c) {
  if (c < 0) return std::partial_ordering::greater;
  if (c > 0) return std::partial_ordering::less;
  return c;  // equivalent or unordered
}

// Whether a comparison result satisfies a comparison operator. Written with
// < and > rather than != so that unordered never satisfies Ne.
bool OpAccepts(Filter::Op op, std::partial_ordering c) {
  switch (op) {
    case Filter::Op::kEq: return c == 0;
    case Filter::Op::kNe: return c < 0 || c > 0;
    case Filter::Op::kLt: return c < 0;
    case Filter::Op::kLe: return c <= 0;
    case Filter::Op::kGt: return c > 0;
    case Filter::Op::kGe: return c >= 0;
    default: return false;
  }
}

bool InRange(const MetadataValue& v, const MetadataValue& lo, const MetadataValue& hi,
             bool lo_inclusive, bool hi_inclusive) {
  const std::partial_ordering a = CompareMetadataValues(v, lo);
  if (!(lo_inclusive ? a >= 0 : a > 0)) return false;
  const std::partial_ordering b = CompareMetadataValues(v, hi);
  return hi_inclusive ? b <= 0 : b < 0;
}

const char* OpName(Filter::Op op) {
  switch (op) {
    case Filter::Op::kAll: return "All";
    case Filter::Op::kEq: return "$eq";
    case Filter::Op::kNe: return "$ne";
    case Filter::Op::kLt: return "$lt";
    case Filter::Op::kLe: return "$lte";
    case Filter::Op::kGt: return "$gt";
    case Filter::Op::kGe: return "$gte";
    case Filter::Op::kRange: return "Range";
    case Filter::Op::kIn: return "$in";
    case Filter::Op::kExists: return "$exists";
    case Filter::Op::kAnd: return "$and";
    case Filter::Op::kOr: return "$or";
    case Filter::Op::kNot: return "$not";
    case Filter::Op::kIdIn: return "$id";
  }
  return "?";
}

void AppendValue(std::string* out, const MetadataValue& v) {
  std::visit(
      [out](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, int64_t>) {
          util::AppendJsonInt(out, x);
        } else if constexpr (std::is_same_v<T, double>) {
          util::AppendJsonDouble(out, x);
        } else if constexpr (std::is_same_v<T, std::string>) {
          util::AppendJsonString(out, x);
        } else {
          out->append(x ? "true" : "false");
        }
      },
      v);
}

std::string ValueString(const MetadataValue& v) {
  std::string s;
  AppendValue(&s, v);
  return s;
}

}  // namespace

std::partial_ordering CompareMetadataValues(const MetadataValue& a, const MetadataValue& b) {
  return std::visit(
      [](const auto& x, const auto& y) -> std::partial_ordering {
        using X = std::decay_t<decltype(x)>;
        using Y = std::decay_t<decltype(y)>;
        if constexpr (std::is_same_v<X, int64_t> && std::is_same_v<Y, int64_t>) {
          return x <=> y;
        } else if constexpr (std::is_same_v<X, double> && std::is_same_v<Y, double>) {
          return x <=> y;
        } else if constexpr (std::is_same_v<X, int64_t> && std::is_same_v<Y, double>) {
          return CompareIntDouble(x, y);
        } else if constexpr (std::is_same_v<X, double> && std::is_same_v<Y, int64_t>) {
          return Reverse(CompareIntDouble(y, x));
        } else if constexpr (std::is_same_v<X, std::string> && std::is_same_v<Y, std::string>) {
          // basic_string's <=> compares through char_traits<char>, i.e. as
          // unsigned bytes, which is the order the codec sorts keys in too.
          return x <=> y;
        } else if constexpr (std::is_same_v<X, bool> && std::is_same_v<Y, bool>) {
          return x <=> y;
        } else {
          return std::partial_ordering::unordered;
        }
      },
      a, b);
}

// ---------------------------------------------------------------------------
// Filter

struct Filter::Node {
  Op op = Op::kAll;
  std::string field;
  MetadataValue value;  // comparison operand, or Range's low bound
  MetadataValue high;   // Range's high bound
  bool lo_inclusive = true;
  bool hi_inclusive = true;
  std::vector<MetadataValue> values;  // In
  std::vector<Filter> children;       // And, Or, Not
  std::vector<VectorId> ids;          // IdIn, sorted and unique
};

Filter Filter::All() { return Filter(); }

#define OMENDB_FILTER_COMPARISON(Name, OpValue)                          \
  Filter Filter::Name(std::string_view field, MetadataValue value) {     \
    auto n = std::make_shared<Node>();                                   \
    n->op = OpValue;                                                     \
    n->field = std::string(field);                                       \
    n->value = std::move(value);                                         \
    return Filter(std::move(n));                                         \
  }
OMENDB_FILTER_COMPARISON(Eq, Op::kEq)
OMENDB_FILTER_COMPARISON(Ne, Op::kNe)
OMENDB_FILTER_COMPARISON(Lt, Op::kLt)
OMENDB_FILTER_COMPARISON(Le, Op::kLe)
OMENDB_FILTER_COMPARISON(Gt, Op::kGt)
OMENDB_FILTER_COMPARISON(Ge, Op::kGe)
#undef OMENDB_FILTER_COMPARISON

Filter Filter::Range(std::string_view field, MetadataValue lo, MetadataValue hi,
                     bool lo_inclusive, bool hi_inclusive) {
  auto n = std::make_shared<Node>();
  n->op = Op::kRange;
  n->field = std::string(field);
  n->value = std::move(lo);
  n->high = std::move(hi);
  n->lo_inclusive = lo_inclusive;
  n->hi_inclusive = hi_inclusive;
  return Filter(std::move(n));
}

Filter Filter::In(std::string_view field, std::vector<MetadataValue> values) {
  auto n = std::make_shared<Node>();
  n->op = Op::kIn;
  n->field = std::string(field);
  n->values = std::move(values);
  return Filter(std::move(n));
}

Filter Filter::Exists(std::string_view field) {
  auto n = std::make_shared<Node>();
  n->op = Op::kExists;
  n->field = std::string(field);
  return Filter(std::move(n));
}

Filter Filter::And(std::vector<Filter> children) {
  auto n = std::make_shared<Node>();
  n->op = Op::kAnd;
  n->children = std::move(children);
  return Filter(std::move(n));
}

Filter Filter::Or(std::vector<Filter> children) {
  auto n = std::make_shared<Node>();
  n->op = Op::kOr;
  n->children = std::move(children);
  return Filter(std::move(n));
}

Filter Filter::Not(Filter child) {
  auto n = std::make_shared<Node>();
  n->op = Op::kNot;
  n->children.push_back(std::move(child));
  return Filter(std::move(n));
}

Filter Filter::IdIn(std::vector<VectorId> ids) {
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  auto n = std::make_shared<Node>();
  n->op = Op::kIdIn;
  n->ids = std::move(ids);
  return Filter(std::move(n));
}

// Accessors on a default (null-node) Filter or on a node kind the accessor
// does not describe return these shared empties.
namespace {
const std::string kNoField;
const MetadataValue kNoValue;
const std::vector<MetadataValue> kNoValues;
const std::vector<Filter> kNoChildren;
const std::vector<VectorId> kNoIds;
}  // namespace

Filter::Op Filter::op() const { return node_ ? node_->op : Op::kAll; }
const std::string& Filter::field() const { return node_ ? node_->field : kNoField; }
const MetadataValue& Filter::value() const { return node_ ? node_->value : kNoValue; }
const MetadataValue& Filter::high() const { return node_ ? node_->high : kNoValue; }
bool Filter::lo_inclusive() const { return node_ ? node_->lo_inclusive : true; }
bool Filter::hi_inclusive() const { return node_ ? node_->hi_inclusive : true; }
const std::vector<MetadataValue>& Filter::values() const {
  return node_ ? node_->values : kNoValues;
}
const std::vector<Filter>& Filter::children() const {
  return node_ ? node_->children : kNoChildren;
}
const std::vector<VectorId>& Filter::ids() const { return node_ ? node_->ids : kNoIds; }

bool Filter::Matches(VectorId id, const Metadata& metadata) const {
  if (!node_) return true;
  const Node& n = *node_;
  switch (n.op) {
    case Op::kAll: return true;
    case Op::kEq:
    case Op::kNe:
    case Op::kLt:
    case Op::kLe:
    case Op::kGt:
    case Op::kGe: {
      auto it = metadata.find(n.field);
      return it != metadata.end() && OpAccepts(n.op, CompareMetadataValues(it->second, n.value));
    }
    case Op::kRange: {
      auto it = metadata.find(n.field);
      return it != metadata.end() &&
             InRange(it->second, n.value, n.high, n.lo_inclusive, n.hi_inclusive);
    }
    case Op::kIn: {
      auto it = metadata.find(n.field);
      if (it == metadata.end()) return false;
      return std::any_of(n.values.begin(), n.values.end(), [&](const MetadataValue& v) {
        return CompareMetadataValues(it->second, v) == 0;
      });
    }
    case Op::kExists: return metadata.find(n.field) != metadata.end();
    case Op::kAnd:
      return std::all_of(n.children.begin(), n.children.end(),
                         [&](const Filter& c) { return c.Matches(id, metadata); });
    case Op::kOr:
      return std::any_of(n.children.begin(), n.children.end(),
                         [&](const Filter& c) { return c.Matches(id, metadata); });
    case Op::kNot: return !n.children.front().Matches(id, metadata);
    case Op::kIdIn: return std::binary_search(n.ids.begin(), n.ids.end(), id);
  }
  return false;
}

namespace {

Status FilterError(const Filter& f, std::string_view what) {
  std::string m = "filter: ";
  m += OpName(f.op());
  if (!f.field().empty()) {
    m += " on ";
    util::AppendJsonString(&m, f.field());
  }
  m += ": ";
  m += what;
  return Status::InvalidArgument(m);
}

Status ValidateOperand(const Filter& f, const MetadataValue& v) {
  Status s = ValidateMetadataValue(v);
  if (!s.ok()) return FilterError(f, s.message());
  return Status::OK();
}

// Checks the depth before descending, so an absurdly deep tree is rejected
// after kMaxFilterDepth frames rather than overflowing the stack.
Status ValidateNode(const Filter& f, size_t depth) {
  if (depth > kMaxFilterDepth) {
    return Status::InvalidArgument("filter: nested deeper than " +
                                   std::to_string(kMaxFilterDepth) + " levels");
  }
  switch (f.op()) {
    case Filter::Op::kAll:
    case Filter::Op::kIdIn:
      return Status::OK();
    case Filter::Op::kAnd:
    case Filter::Op::kOr:
    case Filter::Op::kNot:
      for (const Filter& c : f.children()) OMENDB_RETURN_IF_ERROR(ValidateNode(c, depth + 1));
      return Status::OK();
    default:
      break;
  }
  // The remaining kinds all name a field.
  {
    Status s = ValidateMetadataKey(f.field());
    if (!s.ok()) return FilterError(f, s.message());
  }
  switch (f.op()) {
    case Filter::Op::kEq:
    case Filter::Op::kNe:
    case Filter::Op::kLt:
    case Filter::Op::kLe:
    case Filter::Op::kGt:
    case Filter::Op::kGe:
      return ValidateOperand(f, f.value());
    case Filter::Op::kRange: {
      OMENDB_RETURN_IF_ERROR(ValidateOperand(f, f.value()));
      OMENDB_RETURN_IF_ERROR(ValidateOperand(f, f.high()));
      const std::partial_ordering c = CompareMetadataValues(f.value(), f.high());
      if (c == std::partial_ordering::unordered) {
        return FilterError(f, "bounds " + ValueString(f.value()) + " and " +
                                  ValueString(f.high()) + " are of incomparable types");
      }
      if (c > 0) {
        return FilterError(f, "low bound " + ValueString(f.value()) + " is above high bound " +
                                  ValueString(f.high()));
      }
      return Status::OK();
    }
    case Filter::Op::kIn:
      for (const MetadataValue& v : f.values()) OMENDB_RETURN_IF_ERROR(ValidateOperand(f, v));
      return Status::OK();
    default:
      return Status::OK();
  }
}

// ToString renders each node as the members of a JSON object, so that an And
// whose children use distinct keys can be written as one object, the way
// ParseFilter reads implicit conjunctions; this keeps the rendering of a
// parsed filter as shallow as its source and makes it re-parse to itself.
using Members = std::vector<std::pair<std::string, std::string>>;  // JSON key, JSON value

std::string JoinObject(const Members& members) {
  std::string out = "{";
  for (size_t i = 0; i < members.size(); ++i) {
    if (i > 0) out += ", ";
    out += members[i].first;
    out += ": ";
    out += members[i].second;
  }
  out += "}";
  return out;
}

std::string Key(std::string_view name) {
  std::string k;
  util::AppendJsonString(&k, name);
  return k;
}

Members Render(const Filter& f);

std::string RenderArray(const std::vector<Filter>& children) {
  std::string out = "[";
  for (size_t i = 0; i < children.size(); ++i) {
    if (i > 0) out += ", ";
    out += JoinObject(Render(children[i]));
  }
  out += "]";
  return out;
}

Members Render(const Filter& f) {
  switch (f.op()) {
    case Filter::Op::kAll: return {};
    case Filter::Op::kEq: return {{Key(f.field()), ValueString(f.value())}};
    case Filter::Op::kNe:
    case Filter::Op::kLt:
    case Filter::Op::kLe:
    case Filter::Op::kGt:
    case Filter::Op::kGe:
      return {{Key(f.field()), JoinObject({{Key(OpName(f.op())), ValueString(f.value())}})}};
    case Filter::Op::kRange:
      return {{Key(f.field()),
               JoinObject({{Key(f.lo_inclusive() ? "$gte" : "$gt"), ValueString(f.value())},
                           {Key(f.hi_inclusive() ? "$lte" : "$lt"), ValueString(f.high())}})}};
    case Filter::Op::kIn: {
      std::string list = "[";
      for (size_t i = 0; i < f.values().size(); ++i) {
        if (i > 0) list += ", ";
        AppendValue(&list, f.values()[i]);
      }
      list += "]";
      return {{Key(f.field()), JoinObject({{Key("$in"), list}})}};
    }
    case Filter::Op::kExists: return {{Key(f.field()), "{\"$exists\": true}"}};
    case Filter::Op::kNot: {
      const Filter& c = f.children().front();
      if (c.op() == Filter::Op::kExists) return {{Key(c.field()), "{\"$exists\": false}"}};
      return {{Key("$not"), JoinObject(Render(c))}};
    }
    case Filter::Op::kAnd: {
      Members merged;
      std::set<std::string> keys;
      bool disjoint = true;
      for (const Filter& c : f.children()) {
        for (auto& m : Render(c)) {
          if (!keys.insert(m.first).second) disjoint = false;
          merged.push_back(std::move(m));
        }
      }
      if (disjoint) return merged;
      return {{Key("$and"), RenderArray(f.children())}};
    }
    case Filter::Op::kOr: return {{Key("$or"), RenderArray(f.children())}};
    case Filter::Op::kIdIn: {
      std::string list = "[";
      for (size_t i = 0; i < f.ids().size(); ++i) {
        if (i > 0) list += ", ";
        util::AppendJsonUint(&list, f.ids()[i]);
      }
      list += "]";
      return {{Key("$id"), JoinObject({{Key("$in"), list}})}};
    }
  }
  return {};
}

}  // namespace

Status Filter::Validate() const { return ValidateNode(*this, 1); }

std::string Filter::ToString() const { return JoinObject(Render(*this)); }

// ---------------------------------------------------------------------------
// CompiledFilter

struct CompiledFilter::Node {
  Filter::Op op = Filter::Op::kAll;
  bool lo_inclusive = true;
  bool hi_inclusive = true;
  uint32_t size = 1;   // nodes in this subtree, itself included (preorder layout)
  uint32_t field = 0;  // index into fields_
  uint32_t arg = 0;    // index into values_ (Range: lo at arg, hi at arg + 1),
                       // sets_ (In) or id_sets_ (IdIn)
};

// An In operand prepared for binary search. Numbers are split so that each
// has one canonical home: a double equal to some int64 (integral and within
// int64 range, -0.0 included) is stored as that int64, since it equals
// exactly that int and nothing else; any other double can equal only doubles.
struct CompiledFilter::InSet {
  std::vector<int64_t> ints;
  std::vector<double> doubles;
  std::vector<std::string> strings;
  bool has_false = false;
  bool has_true = false;

  static bool IntegralInInt64Range(double d) {
    return d >= -kTwo63 && d < kTwo63 && std::trunc(d) == d;
  }

  void Add(const MetadataValue& v) {
    if (const auto* i = std::get_if<int64_t>(&v)) {
      ints.push_back(*i);
    } else if (const auto* d = std::get_if<double>(&v)) {
      if (std::isnan(*d)) return;  // equals nothing
      if (IntegralInInt64Range(*d)) {
        ints.push_back(static_cast<int64_t>(*d));
      } else {
        doubles.push_back(*d);
      }
    } else if (const auto* s = std::get_if<std::string>(&v)) {
      strings.push_back(*s);
    } else {
      (std::get<bool>(v) ? has_true : has_false) = true;
    }
  }

  void Finish() {
    std::sort(ints.begin(), ints.end());
    ints.erase(std::unique(ints.begin(), ints.end()), ints.end());
    std::sort(doubles.begin(), doubles.end());
    doubles.erase(std::unique(doubles.begin(), doubles.end()), doubles.end());
    std::sort(strings.begin(), strings.end());
    strings.erase(std::unique(strings.begin(), strings.end()), strings.end());
  }

  bool Contains(const MetadataValue& v) const {
    if (const auto* i = std::get_if<int64_t>(&v)) {
      return std::binary_search(ints.begin(), ints.end(), *i);
    }
    if (const auto* d = std::get_if<double>(&v)) {
      if (std::isnan(*d)) return false;
      if (IntegralInInt64Range(*d)) {
        return std::binary_search(ints.begin(), ints.end(), static_cast<int64_t>(*d));
      }
      return std::binary_search(doubles.begin(), doubles.end(), *d);
    }
    if (const auto* s = std::get_if<std::string>(&v)) {
      return std::binary_search(strings.begin(), strings.end(), *s);
    }
    return std::get<bool>(v) ? has_true : has_false;
  }
};

// Flattens a validated Filter in preorder. Field names are interned through a
// map so each distinct name is stored, and looked up per call, once.
struct CompiledFilter::Compiler {
  CompiledFilter* out;
  std::map<std::string, uint32_t, std::less<>> field_ids;

  uint32_t FieldId(const std::string& name) {
    auto it = field_ids.find(name);
    if (it != field_ids.end()) return it->second;
    const auto id = static_cast<uint32_t>(out->fields_.size());
    out->fields_.push_back(name);
    field_ids.emplace(name, id);
    return id;
  }

  void Add(const Filter& f) {
    const size_t index = out->nodes_.size();
    out->nodes_.emplace_back();
    Node n;
    n.op = f.op();
    switch (f.op()) {
      case Filter::Op::kAll: break;
      case Filter::Op::kEq:
      case Filter::Op::kNe:
      case Filter::Op::kLt:
      case Filter::Op::kLe:
      case Filter::Op::kGt:
      case Filter::Op::kGe:
        n.field = FieldId(f.field());
        n.arg = static_cast<uint32_t>(out->values_.size());
        out->values_.push_back(f.value());
        break;
      case Filter::Op::kRange:
        n.field = FieldId(f.field());
        n.arg = static_cast<uint32_t>(out->values_.size());
        n.lo_inclusive = f.lo_inclusive();
        n.hi_inclusive = f.hi_inclusive();
        out->values_.push_back(f.value());
        out->values_.push_back(f.high());
        break;
      case Filter::Op::kIn: {
        n.field = FieldId(f.field());
        n.arg = static_cast<uint32_t>(out->sets_.size());
        InSet set;
        for (const MetadataValue& v : f.values()) set.Add(v);
        set.Finish();
        out->sets_.push_back(std::move(set));
        break;
      }
      case Filter::Op::kExists: n.field = FieldId(f.field()); break;
      case Filter::Op::kAnd:
      case Filter::Op::kOr:
      case Filter::Op::kNot:
        for (const Filter& c : f.children()) Add(c);
        break;
      case Filter::Op::kIdIn:
        n.arg = static_cast<uint32_t>(out->id_sets_.size());
        out->id_sets_.push_back(f.ids());  // already sorted and unique
        break;
    }
    n.size = static_cast<uint32_t>(out->nodes_.size() - index);
    out->nodes_[index] = n;
  }
};

CompiledFilter::CompiledFilter() = default;
CompiledFilter::~CompiledFilter() = default;
CompiledFilter::CompiledFilter(const CompiledFilter&) = default;
CompiledFilter& CompiledFilter::operator=(const CompiledFilter&) = default;
CompiledFilter::CompiledFilter(CompiledFilter&&) noexcept = default;
CompiledFilter& CompiledFilter::operator=(CompiledFilter&&) noexcept = default;

Result<CompiledFilter> CompiledFilter::Compile(const Filter& filter) {
  OMENDB_RETURN_IF_ERROR(filter.Validate());
  CompiledFilter cf;
  Compiler c{&cf, {}};
  c.Add(filter);
  return cf;
}

bool CompiledFilter::matches_all() const {
  if (nodes_.empty()) return true;
  const Node& root = nodes_.front();
  return root.op == Filter::Op::kAll || (root.op == Filter::Op::kAnd && root.size == 1);
}

// The per-call cache covers the first 64 distinct fields (one bit each in
// `resolved`); a filter naming more fields looks the rest up on every use,
// which is still correct and still allocation-free.
constexpr uint32_t kCachedFields = 64;

const MetadataValue* CompiledFilter::Lookup(uint32_t field, const Metadata& m,
                                            const MetadataValue** cache,
                                            uint64_t* resolved) const {
  if (field < kCachedFields) {
    const uint64_t bit = uint64_t{1} << field;
    if ((*resolved & bit) != 0) return cache[field];
    auto it = m.find(fields_[field]);
    const MetadataValue* p = it == m.end() ? nullptr : &it->second;
    cache[field] = p;
    *resolved |= bit;
    return p;
  }
  auto it = m.find(fields_[field]);
  return it == m.end() ? nullptr : &it->second;
}

bool CompiledFilter::Eval(size_t i, VectorId id, const Metadata& m, const MetadataValue** cache,
                          uint64_t* resolved) const {
  const Node& n = nodes_[i];
  switch (n.op) {
    case Filter::Op::kAll: return true;
    case Filter::Op::kEq:
    case Filter::Op::kNe:
    case Filter::Op::kLt:
    case Filter::Op::kLe:
    case Filter::Op::kGt:
    case Filter::Op::kGe: {
      const MetadataValue* v = Lookup(n.field, m, cache, resolved);
      return v != nullptr && OpAccepts(n.op, CompareMetadataValues(*v, values_[n.arg]));
    }
    case Filter::Op::kRange: {
      const MetadataValue* v = Lookup(n.field, m, cache, resolved);
      return v != nullptr && InRange(*v, values_[n.arg], values_[n.arg + 1], n.lo_inclusive,
                                     n.hi_inclusive);
    }
    case Filter::Op::kIn: {
      const MetadataValue* v = Lookup(n.field, m, cache, resolved);
      return v != nullptr && sets_[n.arg].Contains(*v);
    }
    case Filter::Op::kExists: return Lookup(n.field, m, cache, resolved) != nullptr;
    case Filter::Op::kAnd:
      for (size_t c = i + 1, end = i + n.size; c < end; c += nodes_[c].size) {
        if (!Eval(c, id, m, cache, resolved)) return false;
      }
      return true;
    case Filter::Op::kOr:
      for (size_t c = i + 1, end = i + n.size; c < end; c += nodes_[c].size) {
        if (Eval(c, id, m, cache, resolved)) return true;
      }
      return false;
    case Filter::Op::kNot: return !Eval(i + 1, id, m, cache, resolved);
    case Filter::Op::kIdIn: {
      const std::vector<VectorId>& ids = id_sets_[n.arg];
      return std::binary_search(ids.begin(), ids.end(), id);
    }
  }
  return false;
}

bool CompiledFilter::Matches(VectorId id, const Metadata& metadata) const {
  if (nodes_.empty()) return true;
  // Uninitialised on purpose: an entry is read only after its `resolved` bit
  // is set by the write that fills it.
  const MetadataValue* cache[kCachedFields];
  uint64_t resolved = 0;
  return Eval(0, id, metadata, cache, &resolved);
}

}  // namespace omendb
