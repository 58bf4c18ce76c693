#include "db/metadata_codec.h"

#include <bit>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>

#include "util/coding.h"

namespace omendb {

// ValidateMetadata lives with the codec because the codec's decoder enforces
// exactly the same limits (as Corruption instead of InvalidArgument).

Status ValidateMetadataKey(std::string_view key) {
  if (key.empty()) return Status::InvalidArgument("metadata key is empty");
  if (key.size() > kMaxMetadataKeyBytes) {
    return Status::InvalidArgument("metadata key of " + std::to_string(key.size()) +
                                   " bytes exceeds the limit of " +
                                   std::to_string(kMaxMetadataKeyBytes));
  }
  if (key.front() == '$') {
    return Status::InvalidArgument("metadata key \"" + std::string(key) +
                                   "\" starts with '$' (reserved for filter operators)");
  }
  return Status::OK();
}

Status ValidateMetadataValue(const MetadataValue& value) {
  if (const auto* s = std::get_if<std::string>(&value)) {
    if (s->size() > kMaxMetadataStringBytes) {
      return Status::InvalidArgument("metadata string of " + std::to_string(s->size()) +
                                     " bytes exceeds the limit of " +
                                     std::to_string(kMaxMetadataStringBytes));
    }
  } else if (const auto* d = std::get_if<double>(&value)) {
    if (std::isnan(*d)) return Status::InvalidArgument("metadata value is NaN");
  }
  return Status::OK();
}

Status ValidateMetadata(const Metadata& metadata) {
  if (metadata.size() > kMaxMetadataFields) {
    return Status::InvalidArgument("metadata has " + std::to_string(metadata.size()) +
                                   " fields, more than the limit of " +
                                   std::to_string(kMaxMetadataFields));
  }
  for (const auto& [key, value] : metadata) {
    OMENDB_RETURN_IF_ERROR(ValidateMetadataKey(key));
    Status s = ValidateMetadataValue(value);
    if (!s.ok()) return s.WithContext("field \"" + key + "\"");
  }
  return Status::OK();
}

namespace db {
namespace {

enum Tag : uint8_t {
  kTagInt = 1,
  kTagDouble = 2,
  kTagString = 3,
  kTagFalse = 4,
  kTagTrue = 5,
};

// The smallest possible field is a 1-byte key length, a 1-byte key and a
// 1-byte tag (bool); a field count larger than remaining/3 is impossible and
// rejected before any work.
constexpr size_t kMinFieldBytes = 3;

Status Corrupt(std::string_view what) {
  return Status::Corruption(std::string("metadata: ") + std::string(what));
}

// Reads a varint32 and insists on its minimal encoding, so that every valid
// input re-encodes to the same bytes.
bool GetCanonicalVarint32(std::string_view* in, uint32_t* v) {
  const size_t before = in->size();
  if (!util::GetVarint32(in, v)) return false;
  return before - in->size() == static_cast<size_t>(util::VarintLength(*v));
}

}  // namespace

Status EncodeMetadata(const Metadata& metadata, std::string* dst) {
  OMENDB_RETURN_IF_ERROR(ValidateMetadata(metadata));
  util::PutVarint32(dst, static_cast<uint32_t>(metadata.size()));
  for (const auto& [key, value] : metadata) {
    util::PutLengthPrefixedSlice(dst, key);
    std::visit(
        [dst](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, int64_t>) {
            dst->push_back(static_cast<char>(kTagInt));
            util::PutFixed64(dst, static_cast<uint64_t>(v));
          } else if constexpr (std::is_same_v<T, double>) {
            dst->push_back(static_cast<char>(kTagDouble));
            util::PutFixed64(dst, std::bit_cast<uint64_t>(v));
          } else if constexpr (std::is_same_v<T, std::string>) {
            dst->push_back(static_cast<char>(kTagString));
            util::PutLengthPrefixedSlice(dst, v);
          } else {
            dst->push_back(static_cast<char>(v ? kTagTrue : kTagFalse));
          }
        },
        value);
  }
  return Status::OK();
}

Status ConsumeMetadata(std::string_view* input, Metadata* metadata) {
  std::string_view in = *input;
  metadata->clear();
  uint32_t count = 0;
  if (!GetCanonicalVarint32(&in, &count)) return Corrupt("bad field count");
  if (count > kMaxMetadataFields) return Corrupt("too many fields");
  if (count > in.size() / kMinFieldBytes) return Corrupt("field count exceeds the input");
  std::string_view prev_key;
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t key_len = 0;
    if (!GetCanonicalVarint32(&in, &key_len)) return Corrupt("bad key length");
    if (key_len > in.size()) return Corrupt("key runs past the end");
    std::string_view key = in.substr(0, key_len);
    in.remove_prefix(key_len);
    if (!ValidateMetadataKey(key).ok()) return Corrupt("invalid key");
    // Strictly ascending keys make the encoding canonical and rule out
    // duplicates in one comparison per field.
    if (i > 0 && !(prev_key < key)) return Corrupt("keys not strictly ascending");
    prev_key = key;

    if (in.empty()) return Corrupt("missing type tag");
    const auto tag = static_cast<uint8_t>(in.front());
    in.remove_prefix(1);
    MetadataValue value;
    switch (tag) {
      case kTagInt: {
        uint64_t bits = 0;
        if (!util::GetFixed64(&in, &bits)) return Corrupt("truncated int");
        value = static_cast<int64_t>(bits);
        break;
      }
      case kTagDouble: {
        uint64_t bits = 0;
        if (!util::GetFixed64(&in, &bits)) return Corrupt("truncated double");
        const double d = std::bit_cast<double>(bits);
        if (std::isnan(d)) return Corrupt("NaN value");
        value = d;
        break;
      }
      case kTagString: {
        uint32_t len = 0;
        if (!GetCanonicalVarint32(&in, &len)) return Corrupt("bad string length");
        if (len > kMaxMetadataStringBytes) return Corrupt("string too long");
        // Checked before constructing the string, so a forged length cannot
        // make us allocate more than the input holds.
        if (len > in.size()) return Corrupt("string runs past the end");
        value = std::string(in.substr(0, len));
        in.remove_prefix(len);
        break;
      }
      case kTagFalse: value = false; break;
      case kTagTrue: value = true; break;
      default: return Corrupt("unknown type tag");
    }
    // Keys arrive sorted, so inserting at the end is amortised O(1).
    metadata->emplace_hint(metadata->end(), std::string(key), std::move(value));
  }
  *input = in;
  return Status::OK();
}

Result<Metadata> DecodeMetadata(std::string_view input) {
  Metadata m;
  OMENDB_RETURN_IF_ERROR(ConsumeMetadata(&input, &m));
  if (!input.empty()) return Corrupt("trailing bytes");
  return m;
}

}  // namespace db
}  // namespace omendb
