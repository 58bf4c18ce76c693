// Metadata: the named, typed fields stored alongside a vector and matched by
// search filters (omendb/filter.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <variant>

#include "omendb/status.h"

namespace omendb {

// One field value: a 64-bit integer, a double, a byte string (conventionally
// UTF-8, compared bytewise) or a boolean. Integers and doubles are both
// "numbers" for filters: 2 and 2.0 are equal (see omendb/filter.h).
using MetadataValue = std::variant<int64_t, double, std::string, bool>;

// The fields of one vector, sorted by key (bytewise). The transparent
// comparator lets callers look keys up by std::string_view without allocating.
using Metadata = std::map<std::string, MetadataValue, std::less<>>;

// Limits every stored Metadata obeys (ValidateMetadata).
inline constexpr size_t kMaxMetadataKeyBytes = 256;
inline constexpr size_t kMaxMetadataStringBytes = 64 * 1024;
inline constexpr size_t kMaxMetadataFields = 256;

// OK if `metadata` may be stored: at most kMaxMetadataFields fields; every key
// 1..kMaxMetadataKeyBytes bytes and not starting with '$' (that prefix names
// filter operators, see ParseFilter); every string value at most
// kMaxMetadataStringBytes bytes; no NaN double (NaN equals nothing, so it
// could never be matched). InvalidArgument naming the first offending field
// otherwise.
Status ValidateMetadata(const Metadata& metadata);

// Checks one key / one value against the limits above (the per-field parts of
// ValidateMetadata). InvalidArgument if it breaks one.
Status ValidateMetadataKey(std::string_view key);
Status ValidateMetadataValue(const MetadataValue& value);

}  // namespace omendb
