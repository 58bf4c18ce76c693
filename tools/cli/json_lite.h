// A minimal JSON reader and writer helpers for the benchmark's JSON lines
// (one object per line, as written by `omendb bench --json` and peerbench).
//
// Only what those lines need: a top-level object whose members are strings,
// numbers, booleans or null. Nested objects and arrays are checked for
// well-formedness and kept as raw text, not interpreted. Header-only so the
// CLI's fixed source list needs no new translation unit.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <string_view>

#include "omendb/status.h"

namespace omendb::cli::json {

// One member value of a parsed object.
struct Value {
  enum class Kind { kNull, kBool, kNumber, kString, kNested };
  Kind kind = Kind::kNull;
  bool boolean = false;  // when kBool
  double number = 0.0;   // when kNumber
  std::string text;      // the string when kString; the raw JSON text when kNested
};

// Member name -> value. A repeated name keeps its last value.
using Object = std::map<std::string, Value, std::less<>>;

namespace detail {

class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  Result<Object> ParseTopObject() {
    Object obj;
    SkipSpace();
    if (!Eat('{')) return Error("expected '{'");
    SkipSpace();
    if (Eat('}')) return Finish(std::move(obj));
    for (;;) {
      SkipSpace();
      std::string key;
      if (!ParseString(&key)) return Error("expected a member name");
      SkipSpace();
      if (!Eat(':')) return Error("expected ':'");
      SkipSpace();
      Value v;
      if (!ParseValue(&v, 0)) return Error("bad value for \"" + key + "\"");
      obj[key] = std::move(v);
      SkipSpace();
      if (Eat(',')) continue;
      if (Eat('}')) return Finish(std::move(obj));
      return Error("expected ',' or '}'");
    }
  }

 private:
  // Nesting deeper than this is rejected rather than risking the stack on
  // hostile input.
  static constexpr int kMaxDepth = 64;

  Result<Object> Finish(Object obj) {
    SkipSpace();
    if (pos_ != s_.size()) return Error("trailing characters after the object");
    return obj;
  }
  Status Error(const std::string& what) const {
    return Status::InvalidArgument("JSON: " + what + " at column " + std::to_string(pos_ + 1));
  }
  bool Eat(char c) {
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool EatWord(std::string_view w) {
    if (s_.substr(pos_, w.size()) != w) return false;
    pos_ += w.size();
    return true;
  }
  void SkipSpace() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) {
      ++pos_;
    }
  }
  static void AppendUtf8(std::string* out, unsigned cp) {
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
  bool ParseHex4(unsigned* out) {
    if (pos_ + 4 > s_.size()) return false;
    unsigned v = 0;
    for (int i = 0; i < 4; ++i) {
      char c = s_[pos_++];
      v <<= 4;
      if (c >= '0' && c <= '9')
        v |= static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f')
        v |= static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        v |= static_cast<unsigned>(c - 'A' + 10);
      else
        return false;
    }
    *out = v;
    return true;
  }
  // `out` may be null to validate and skip.
  bool ParseString(std::string* out) {
    if (!Eat('"')) return false;
    while (pos_ < s_.size()) {
      char c = s_[pos_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return false;  // raw control character
      if (c != '\\') {
        if (out) out->push_back(c);
        continue;
      }
      if (pos_ >= s_.size()) return false;
      char e = s_[pos_++];
      char plain = 0;
      switch (e) {
        case '"':
          plain = '"';
          break;
        case '\\':
          plain = '\\';
          break;
        case '/':
          plain = '/';
          break;
        case 'b':
          plain = '\b';
          break;
        case 'f':
          plain = '\f';
          break;
        case 'n':
          plain = '\n';
          break;
        case 'r':
          plain = '\r';
          break;
        case 't':
          plain = '\t';
          break;
        case 'u': {
          unsigned cp;
          if (!ParseHex4(&cp)) return false;
          // A high surrogate followed by \uDC00..DFFF forms one code point.
          if (cp >= 0xD800 && cp < 0xDC00 && s_.substr(pos_, 2) == "\\u") {
            size_t save = pos_;
            pos_ += 2;
            unsigned lo;
            if (ParseHex4(&lo) && lo >= 0xDC00 && lo < 0xE000) {
              cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else {
              pos_ = save;
            }
          }
          if (out) AppendUtf8(out, cp);
          continue;
        }
        default:
          return false;
      }
      if (out) out->push_back(plain);
    }
    return false;  // unterminated
  }
  bool ParseNumber(double* out) {
    size_t start = pos_;
    Eat('-');  // optional sign
    if (pos_ >= s_.size() || s_[pos_] < '0' || s_[pos_] > '9') return false;
    while (pos_ < s_.size() &&
           std::string_view("0123456789+-.eE").find(s_[pos_]) != std::string_view::npos) {
      ++pos_;
    }
    // from_chars is locale-independent, unlike strtod.
    const char* first = s_.data() + start;
    const char* last = s_.data() + pos_;
    auto [end, ec] = std::from_chars(first, last, *out);
    return ec == std::errc() && end == last;
  }
  bool ParseValue(Value* v, int depth) {
    if (pos_ >= s_.size()) return false;
    char c = s_[pos_];
    if (c == '"') {
      v->kind = Value::Kind::kString;
      return ParseString(&v->text);
    }
    if (c == '{' || c == '[') {
      size_t start = pos_;
      if (!SkipNested(depth + 1)) return false;
      v->kind = Value::Kind::kNested;
      v->text = std::string(s_.substr(start, pos_ - start));
      return true;
    }
    if (EatWord("true")) {
      v->kind = Value::Kind::kBool;
      v->boolean = true;
      return true;
    }
    if (EatWord("false")) {
      v->kind = Value::Kind::kBool;
      return true;
    }
    if (EatWord("null")) {
      v->kind = Value::Kind::kNull;
      return true;
    }
    v->kind = Value::Kind::kNumber;
    return ParseNumber(&v->number);
  }
  // Validates one nested object or array starting at pos_ and moves past it.
  bool SkipNested(int depth) {
    if (depth > kMaxDepth) return false;
    const bool object = Eat('{');
    if (!object && !Eat('[')) return false;
    const char close = object ? '}' : ']';
    SkipSpace();
    if (Eat(close)) return true;
    for (;;) {
      SkipSpace();
      if (object) {
        if (!ParseString(nullptr)) return false;
        SkipSpace();
        if (!Eat(':')) return false;
        SkipSpace();
      }
      Value ignored;
      if (!ParseValue(&ignored, depth)) return false;
      SkipSpace();
      if (Eat(',')) continue;
      return Eat(close);
    }
  }

  std::string_view s_;
  size_t pos_ = 0;
};

}  // namespace detail

// Parses `text` (one JSON object, surrounding whitespace allowed).
// InvalidArgument, naming the column, if it is not well-formed JSON or not an object.
inline Result<Object> ParseObject(std::string_view text) {
  return detail::Parser(text).ParseTopObject();
}

// The number stored under `key`, or `fallback` if absent or not a number.
inline double GetNumber(const Object& obj, std::string_view key, double fallback) {
  auto it = obj.find(key);
  return it != obj.end() && it->second.kind == Value::Kind::kNumber ? it->second.number : fallback;
}

// The string stored under `key`, or `fallback` if absent or not a string.
inline std::string GetString(const Object& obj, std::string_view key,
                             std::string_view fallback = {}) {
  auto it = obj.find(key);
  return it != obj.end() && it->second.kind == Value::Kind::kString ? it->second.text
                                                                    : std::string(fallback);
}

// `s` as a quoted JSON string literal (quotes, backslashes and control
// characters escaped; other bytes, including UTF-8, passed through).
inline std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
          out += buf;
        } else {
          out.push_back(c);
        }
    }
  }
  out += '"';
  return out;
}

// `v` as a JSON number with `precision` significant digits; JSON has no
// NaN or infinity, so those become null.
inline std::string Number(double v, int precision = 6) {
  if (!std::isfinite(v)) return "null";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g", precision, v);
  return buf;
}

}  // namespace omendb::cli::json
