// A small strict JSON (RFC 8259) parser producing a value tree, plus the
// string/number formatting needed to write JSON. Used for filter expressions
// from the CLI and language bindings; not a general-purpose JSON library.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "omendb/status.h"

namespace omendb::util {

struct JsonMember;

// One parsed JSON value, remembering where it started in the input so that
// callers can report positions in their own error messages.
class JsonValue {
 public:
  // kInt: an integer literal (no '.', no exponent) in int64 range.
  // kUint: an integer literal in (INT64_MAX, UINT64_MAX].
  // kDouble: any other number.
  enum class Type : uint8_t { kNull, kBool, kInt, kUint, kDouble, kString, kArray, kObject };

  using Array = std::vector<JsonValue>;
  using Object = std::vector<JsonMember>;  // input order; keys are unique

  // A null at offset 0.
  JsonValue() = default;

  // Builders (used by the parser and by tests).
  static JsonValue MakeNull(size_t offset);
  static JsonValue MakeBool(bool v, size_t offset);
  static JsonValue MakeInt(int64_t v, size_t offset);
  static JsonValue MakeUint(uint64_t v, size_t offset);
  static JsonValue MakeDouble(double v, size_t offset);
  static JsonValue MakeString(std::string v, size_t offset);
  static JsonValue MakeArray(Array v, size_t offset);
  static JsonValue MakeObject(Object v, size_t offset);

  Type type() const { return static_cast<Type>(v_.index()); }
  // Byte offset of the value's first character in the parsed text.
  size_t offset() const { return offset_; }

  // The payload. Each accessor returns a default (false, 0, empty) when the
  // value is of another type, so callers check type() first.
  bool bool_value() const;
  int64_t int_value() const;
  uint64_t uint_value() const;
  double double_value() const;
  const std::string& string_value() const;
  const Array& array() const;
  const Object& object() const;

  // True for kInt, kUint and kDouble.
  bool is_number() const;
  // Any number as a double (integers beyond 2^53 are rounded); 0 for
  // non-numbers. For readers that do not care how a number was written.
  double number_value() const;
  // The value of member `key` of an object, or nullptr if this is not an
  // object or has no such member. Linear in the number of members.
  const JsonValue* Find(std::string_view key) const;

 private:
  // Alternative order matches Type.
  std::variant<std::monostate, bool, int64_t, uint64_t, double, std::string, Array, Object> v_;
  size_t offset_ = 0;
};

// One "key": value pair of an object.
struct JsonMember {
  std::string key;
  size_t key_offset = 0;  // byte offset of the key's opening quote
  JsonValue value;
};

struct JsonParseOptions {
  // Deepest nesting of arrays/objects accepted (a top-level [] is depth 1).
  // The parser recurses once per level, so this also bounds its stack use.
  size_t max_depth = 64;
  // Largest input accepted, in bytes.
  size_t max_bytes = 8u << 20;
};

// Parses exactly one JSON value (surrounded by optional whitespace) from
// `text`. Strict RFC 8259: no comments, no trailing commas, no NaN/Infinity,
// strings must be valid UTF-8 without raw control characters, \u escapes must
// pair surrogates correctly, duplicate keys in one object are rejected,
// numbers outside double's range are rejected (integers take the int64/uint64
// types above; beyond UINT64_MAX or below INT64_MIN they are errors).
// Errors are InvalidArgument with messages "json: at byte N: ...".
Result<JsonValue> ParseJson(std::string_view text, const JsonParseOptions& options = {});

// Appends `s` as a quoted JSON string: '"', '\\' and bytes below 0x20 are
// escaped; all other bytes are copied unchanged.
void AppendJsonString(std::string* out, std::string_view s);

// Appends an integer in decimal.
void AppendJsonInt(std::string* out, int64_t v);
void AppendJsonUint(std::string* out, uint64_t v);

// Appends the shortest decimal that parses back to exactly `v`, always with a
// '.' or exponent so it reads back as a double (2.0, not 2). Non-finite values
// are written as Infinity, -Infinity and NaN (not valid JSON).
void AppendJsonDouble(std::string* out, double v);

// As AppendJsonDouble, but the shortest decimal that parses back to exactly
// the float `v` (0.1f is written 0.1, not 0.10000000149011612).
void AppendJsonFloat(std::string* out, float v);

}  // namespace omendb::util
