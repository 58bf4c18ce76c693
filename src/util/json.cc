#include "util/json.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string>
#include <system_error>
#include <utility>

namespace omendb::util {

JsonValue JsonValue::MakeNull(size_t offset) {
  JsonValue v;
  v.offset_ = offset;
  return v;
}
JsonValue JsonValue::MakeBool(bool b, size_t offset) {
  JsonValue v;
  v.v_.emplace<bool>(b);
  v.offset_ = offset;
  return v;
}
JsonValue JsonValue::MakeInt(int64_t i, size_t offset) {
  JsonValue v;
  v.v_.emplace<int64_t>(i);
  v.offset_ = offset;
  return v;
}
JsonValue JsonValue::MakeUint(uint64_t u, size_t offset) {
  JsonValue v;
  v.v_.emplace<uint64_t>(u);
  v.offset_ = offset;
  return v;
}
JsonValue JsonValue::MakeDouble(double d, size_t offset) {
  JsonValue v;
  v.v_.emplace<double>(d);
  v.offset_ = offset;
  return v;
}
JsonValue JsonValue::MakeString(std::string s, size_t offset) {
  JsonValue v;
  v.v_.emplace<std::string>(std::move(s));
  v.offset_ = offset;
  return v;
}
JsonValue JsonValue::MakeArray(Array a, size_t offset) {
  JsonValue v;
  v.v_.emplace<Array>(std::move(a));
  v.offset_ = offset;
  return v;
}
JsonValue JsonValue::MakeObject(Object o, size_t offset) {
  JsonValue v;
  v.v_.emplace<Object>(std::move(o));
  v.offset_ = offset;
  return v;
}

// Accessors fall back to shared empty objects rather than std::get, which
// would throw across the API on a type mismatch.
bool JsonValue::bool_value() const {
  const bool* p = std::get_if<bool>(&v_);
  return p != nullptr && *p;
}
int64_t JsonValue::int_value() const {
  const int64_t* p = std::get_if<int64_t>(&v_);
  return p != nullptr ? *p : 0;
}
uint64_t JsonValue::uint_value() const {
  const uint64_t* p = std::get_if<uint64_t>(&v_);
  return p != nullptr ? *p : 0;
}
double JsonValue::double_value() const {
  const double* p = std::get_if<double>(&v_);
  return p != nullptr ? *p : 0.0;
}
const std::string& JsonValue::string_value() const {
  static const std::string kEmpty;
  const std::string* p = std::get_if<std::string>(&v_);
  return p != nullptr ? *p : kEmpty;
}
const JsonValue::Array& JsonValue::array() const {
  static const Array kEmpty;
  const Array* p = std::get_if<Array>(&v_);
  return p != nullptr ? *p : kEmpty;
}
const JsonValue::Object& JsonValue::object() const {
  static const Object kEmpty;
  const Object* p = std::get_if<Object>(&v_);
  return p != nullptr ? *p : kEmpty;
}

bool JsonValue::is_number() const {
  const Type t = type();
  return t == Type::kInt || t == Type::kUint || t == Type::kDouble;
}
double JsonValue::number_value() const {
  switch (type()) {
    case Type::kInt: return static_cast<double>(int_value());
    case Type::kUint: return static_cast<double>(uint_value());
    case Type::kDouble: return double_value();
    default: return 0.0;
  }
}
const JsonValue* JsonValue::Find(std::string_view key) const {
  for (const JsonMember& m : object()) {
    if (m.key == key) return &m.value;
  }
  return nullptr;
}

namespace {

// Shortest round-trip text of a finite float or double, with ".0" added when
// it has neither '.' nor exponent, so it reads back as a floating-point number.
template <class F>
void AppendShortest(std::string* out, F v) {
  if (std::isnan(v)) {
    out->append("NaN");
    return;
  }
  if (std::isinf(v)) {
    out->append(v < 0 ? "-Infinity" : "Infinity");
    return;
  }
  // 32 bytes covers the longest form (e.g. "-2.2250738585072014e-308").
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  std::string_view s(buf, static_cast<size_t>(r.ptr - buf));
  out->append(s);
  if (s.find_first_of(".e") == std::string_view::npos) out->append(".0");
}

// Recursive descent over the input. Every read is guarded by pos_ < size, and
// recursion is bounded by options.max_depth.
class Parser {
 public:
  Parser(std::string_view text, const JsonParseOptions& options)
      : text_(text), options_(options) {}

  Result<JsonValue> ParseDocument() {
    SkipWhitespace();
    JsonValue v;
    OMENDB_RETURN_IF_ERROR(ParseValue(0, &v));
    SkipWhitespace();
    if (pos_ != text_.size()) return Error(pos_, "unexpected characters after the value");
    return v;
  }

 private:
  Status Error(size_t at, std::string_view what) const {
    std::string m = "json: at byte ";
    m += std::to_string(at);
    m += ": ";
    m += what;
    return Status::InvalidArgument(m);
  }

  bool AtEnd() const { return pos_ >= text_.size(); }
  char Peek() const { return text_[pos_]; }

  void SkipWhitespace() {
    while (!AtEnd()) {
      char c = Peek();
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
      ++pos_;
    }
  }

  // Consumes `word` (a literal such as "true") if the input continues with it.
  bool ConsumeWord(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  Status ParseValue(size_t depth, JsonValue* out) {
    if (AtEnd()) return Error(pos_, "unexpected end of input, expected a value");
    const size_t start = pos_;
    switch (Peek()) {
      case '{': return ParseObject(depth + 1, out);
      case '[': return ParseArray(depth + 1, out);
      case '"': {
        std::string s;
        OMENDB_RETURN_IF_ERROR(ParseString(&s));
        *out = JsonValue::MakeString(std::move(s), start);
        return Status::OK();
      }
      case 't':
        if (ConsumeWord("true")) {
          *out = JsonValue::MakeBool(true, start);
          return Status::OK();
        }
        break;
      case 'f':
        if (ConsumeWord("false")) {
          *out = JsonValue::MakeBool(false, start);
          return Status::OK();
        }
        break;
      case 'n':
        if (ConsumeWord("null")) {
          *out = JsonValue::MakeNull(start);
          return Status::OK();
        }
        break;
      default:
        if (Peek() == '-' || (Peek() >= '0' && Peek() <= '9')) return ParseNumber(out);
        break;
    }
    return Error(start, "expected a value");
  }

  Status CheckDepth(size_t depth, size_t at) const {
    if (depth > options_.max_depth) {
      return Error(at, "nesting deeper than " + std::to_string(options_.max_depth));
    }
    return Status::OK();
  }

  Status ParseArray(size_t depth, JsonValue* out) {
    const size_t start = pos_;
    OMENDB_RETURN_IF_ERROR(CheckDepth(depth, start));
    ++pos_;  // '['
    JsonValue::Array items;
    SkipWhitespace();
    if (!AtEnd() && Peek() == ']') {
      ++pos_;
      *out = JsonValue::MakeArray(std::move(items), start);
      return Status::OK();
    }
    while (true) {
      SkipWhitespace();
      items.emplace_back();
      OMENDB_RETURN_IF_ERROR(ParseValue(depth, &items.back()));
      SkipWhitespace();
      if (AtEnd()) return Error(pos_, "unexpected end of input in array");
      if (Peek() == ',') {
        ++pos_;
        continue;
      }
      if (Peek() == ']') {
        ++pos_;
        break;
      }
      return Error(pos_, "expected ',' or ']'");
    }
    *out = JsonValue::MakeArray(std::move(items), start);
    return Status::OK();
  }

  Status ParseObject(size_t depth, JsonValue* out) {
    const size_t start = pos_;
    OMENDB_RETURN_IF_ERROR(CheckDepth(depth, start));
    ++pos_;  // '{'
    JsonValue::Object members;
    SkipWhitespace();
    if (!AtEnd() && Peek() == '}') {
      ++pos_;
      *out = JsonValue::MakeObject(std::move(members), start);
      return Status::OK();
    }
    while (true) {
      SkipWhitespace();
      if (AtEnd()) return Error(pos_, "unexpected end of input in object");
      if (Peek() != '"') return Error(pos_, "expected a string key");
      JsonMember m;
      m.key_offset = pos_;
      OMENDB_RETURN_IF_ERROR(ParseString(&m.key));
      SkipWhitespace();
      if (AtEnd() || Peek() != ':') return Error(pos_, "expected ':'");
      ++pos_;
      SkipWhitespace();
      OMENDB_RETURN_IF_ERROR(ParseValue(depth, &m.value));
      members.push_back(std::move(m));
      SkipWhitespace();
      if (AtEnd()) return Error(pos_, "unexpected end of input in object");
      if (Peek() == ',') {
        ++pos_;
        continue;
      }
      if (Peek() == '}') {
        ++pos_;
        break;
      }
      return Error(pos_, "expected ',' or '}'");
    }
    OMENDB_RETURN_IF_ERROR(CheckDuplicateKeys(members));
    *out = JsonValue::MakeObject(std::move(members), start);
    return Status::OK();
  }

  // Sorting indices keeps this O(n log n) for objects with many keys; the
  // error names the earliest repeated occurrence in input order.
  Status CheckDuplicateKeys(const JsonValue::Object& members) const {
    if (members.size() < 2) return Status::OK();
    std::vector<uint32_t> order(members.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<uint32_t>(i);
    std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
      return members[a].key < members[b].key;
    });
    size_t dup_at = SIZE_MAX;
    for (size_t i = 1; i < order.size(); ++i) {
      if (members[order[i]].key == members[order[i - 1]].key) {
        dup_at = std::min(dup_at, members[order[i]].key_offset);
      }
    }
    if (dup_at != SIZE_MAX) return Error(dup_at, "duplicate key");
    return Status::OK();
  }

  // Returns the value of one hex digit, or -1.
  static int HexValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  // Reads the 4 hex digits after "\u" starting at pos_.
  Status ParseHex4(uint32_t* code) {
    if (text_.size() - pos_ < 4) return Error(pos_, "truncated \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      int h = HexValue(text_[pos_ + static_cast<size_t>(i)]);
      if (h < 0) return Error(pos_ + static_cast<size_t>(i), "bad hex digit in \\u escape");
      v = (v << 4) | static_cast<uint32_t>(h);
    }
    pos_ += 4;
    *code = v;
    return Status::OK();
  }

  static void AppendUtf8(std::string* out, uint32_t cp) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  // Length of the well-formed UTF-8 sequence starting at text_[at] (a byte
  // >= 0x80), or 0 if it is malformed: overlong forms, surrogates and code
  // points above U+10FFFF are rejected (Unicode table 3-7).
  size_t Utf8SequenceLength(size_t at) const {
    const auto b0 = static_cast<unsigned char>(text_[at]);
    size_t len = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (b0 >= 0xC2 && b0 <= 0xDF) {
      len = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      len = 3;
      if (b0 == 0xE0) lo = 0xA0;
      if (b0 == 0xED) hi = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      len = 4;
      if (b0 == 0xF0) lo = 0x90;
      if (b0 == 0xF4) hi = 0x8F;
    } else {
      return 0;
    }
    if (text_.size() - at < len) return 0;
    const auto b1 = static_cast<unsigned char>(text_[at + 1]);
    if (b1 < lo || b1 > hi) return 0;
    for (size_t i = 2; i < len; ++i) {
      const auto b = static_cast<unsigned char>(text_[at + i]);
      if (b < 0x80 || b > 0xBF) return 0;
    }
    return len;
  }

  Status ParseString(std::string* out) {
    const size_t start = pos_;
    ++pos_;  // opening quote
    while (true) {
      if (AtEnd()) return Error(start, "unterminated string");
      const auto c = static_cast<unsigned char>(Peek());
      if (c == '"') {
        ++pos_;
        return Status::OK();
      }
      if (c < 0x20) return Error(pos_, "control character in string");
      if (c >= 0x80) {
        size_t len = Utf8SequenceLength(pos_);
        if (len == 0) return Error(pos_, "invalid UTF-8 in string");
        out->append(text_.substr(pos_, len));
        pos_ += len;
        continue;
      }
      if (c != '\\') {
        out->push_back(static_cast<char>(c));
        ++pos_;
        continue;
      }
      const size_t esc = pos_;
      ++pos_;
      if (AtEnd()) return Error(start, "unterminated string");
      char e = Peek();
      ++pos_;
      switch (e) {
        case '"': out->push_back('"'); break;
        case '\\': out->push_back('\\'); break;
        case '/': out->push_back('/'); break;
        case 'b': out->push_back('\b'); break;
        case 'f': out->push_back('\f'); break;
        case 'n': out->push_back('\n'); break;
        case 'r': out->push_back('\r'); break;
        case 't': out->push_back('\t'); break;
        case 'u': {
          uint32_t cp = 0;
          OMENDB_RETURN_IF_ERROR(ParseHex4(&cp));
          if (cp >= 0xDC00 && cp <= 0xDFFF) return Error(esc, "unpaired low surrogate");
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            // A high surrogate must be followed by an escaped low surrogate.
            if (text_.substr(pos_, 2) != "\\u") return Error(esc, "unpaired high surrogate");
            pos_ += 2;
            uint32_t low = 0;
            OMENDB_RETURN_IF_ERROR(ParseHex4(&low));
            if (low < 0xDC00 || low > 0xDFFF) return Error(esc, "unpaired high surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          AppendUtf8(out, cp);
          break;
        }
        default:
          return Error(esc, "invalid escape");
      }
    }
  }

  size_t ScanDigits() {
    size_t n = 0;
    while (!AtEnd() && Peek() >= '0' && Peek() <= '9') {
      ++pos_;
      ++n;
    }
    return n;
  }

  // Checks the RFC 8259 number grammar by hand (std::from_chars alone would
  // accept forms JSON forbids, such as leading zeros or "1."), then converts
  // with from_chars, which is locale-independent and exact.
  Status ParseNumber(JsonValue* out) {
    const size_t start = pos_;
    bool integral = true;
    if (Peek() == '-') ++pos_;
    if (AtEnd()) return Error(start, "malformed number");
    if (Peek() == '0') {
      ++pos_;
      if (!AtEnd() && Peek() >= '0' && Peek() <= '9') return Error(start, "leading zero in number");
    } else if (ScanDigits() == 0) {
      return Error(start, "malformed number");
    }
    if (!AtEnd() && Peek() == '.') {
      integral = false;
      ++pos_;
      if (ScanDigits() == 0) return Error(pos_, "expected a digit after '.'");
    }
    if (!AtEnd() && (Peek() == 'e' || Peek() == 'E')) {
      integral = false;
      ++pos_;
      if (!AtEnd() && (Peek() == '+' || Peek() == '-')) ++pos_;
      if (ScanDigits() == 0) return Error(pos_, "expected a digit in exponent");
    }
    const char* first = text_.data() + start;
    const char* last = text_.data() + pos_;
    if (integral) {
      int64_t i = 0;
      auto r = std::from_chars(first, last, i);
      if (r.ec == std::errc() && r.ptr == last) {
        *out = JsonValue::MakeInt(i, start);
        return Status::OK();
      }
      if (*first != '-') {
        uint64_t u = 0;
        auto ru = std::from_chars(first, last, u);
        if (ru.ec == std::errc() && ru.ptr == last) {
          *out = JsonValue::MakeUint(u, start);
          return Status::OK();
        }
      }
      return Error(start, "integer out of range");
    }
    double d = 0;
    auto r = std::from_chars(first, last, d);
    if (r.ec != std::errc() || r.ptr != last || !std::isfinite(d)) {
      return Error(start, "number out of range");
    }
    *out = JsonValue::MakeDouble(d, start);
    return Status::OK();
  }

  std::string_view text_;
  JsonParseOptions options_;
  size_t pos_ = 0;
};

}  // namespace

Result<JsonValue> ParseJson(std::string_view text, const JsonParseOptions& options) {
  if (text.size() > options.max_bytes) {
    return Status::InvalidArgument("json: input of " + std::to_string(text.size()) +
                                   " bytes exceeds the limit of " +
                                   std::to_string(options.max_bytes));
  }
  Parser p(text, options);
  return p.ParseDocument();
}

void AppendJsonString(std::string* out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      case '\b': out->append("\\b"); break;
      case '\f': out->append("\\f"); break;
      default:
        if (c < 0x20) {
          out->append("\\u00");
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 0xF]);
        } else {
          out->push_back(ch);
        }
    }
  }
  out->push_back('"');
}

void AppendJsonInt(std::string* out, int64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, r.ptr);
}

void AppendJsonUint(std::string* out, uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, r.ptr);
}

void AppendJsonDouble(std::string* out, double v) { AppendShortest(out, v); }

void AppendJsonFloat(std::string* out, float v) { AppendShortest(out, v); }

}  // namespace omendb::util
