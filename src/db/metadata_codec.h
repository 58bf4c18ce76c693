// Binary encoding of Metadata for the write-ahead log and segment files.
//
// Format (all varints minimal-length, see util/coding.h):
//   varint32 field_count                  (<= kMaxMetadataFields)
//   field_count times, keys strictly ascending (bytewise):
//     varint32 key_length, key bytes      (1..kMaxMetadataKeyBytes, no '$' prefix)
//     uint8 tag, then the payload:
//       1 int64   fixed64 little-endian two's complement
//       2 double  fixed64 little-endian IEEE-754 bits (never NaN)
//       3 string  varint32 length (<= kMaxMetadataStringBytes), bytes
//       4 false   (no payload)
//       5 true    (no payload)
// Every valid Metadata has exactly one encoding, so decoding then re-encoding
// reproduces the input bytes. Empty metadata is the single byte 0x00.
#pragma once

#include <string>
#include <string_view>

#include "omendb/metadata.h"
#include "omendb/status.h"

namespace omendb::db {

// Appends the encoding of `metadata` to *dst. InvalidArgument (and *dst
// unchanged) if ValidateMetadata rejects it.
Status EncodeMetadata(const Metadata& metadata, std::string* dst);

// Decodes metadata that occupies all of `input`. Corruption if the bytes are
// not exactly one valid encoding: truncated, unknown tag, length past the end,
// non-minimal varint, duplicate or unsorted keys, a limit exceeded, NaN, or
// trailing bytes. Reads only inside `input` and allocates at most
// O(input.size()) memory.
Result<Metadata> DecodeMetadata(std::string_view input);

// Like DecodeMetadata, but decodes one encoding from the front of *input and
// advances *input past it, leaving any following bytes for the caller (for
// records that embed metadata before other fields). On error *input and
// *metadata are unspecified.
Status ConsumeMetadata(std::string_view* input, Metadata* metadata);

}  // namespace omendb::db
