// Byte-level encoding helpers for on-disk formats (write-ahead log, segment
// files): little-endian fixed-width integers, LEB128-style varints and
// varint-length-prefixed byte strings.
//
// Encoders append to a std::string. Decoders read from a std::string_view,
// advance it past what they consumed on success, leave it untouched on
// failure, and never read outside it.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace omendb::util {

// Longest varint encodings: 5 bytes for 32-bit values, 10 for 64-bit values.
inline constexpr int kMaxVarint32Bytes = 5;
inline constexpr int kMaxVarint64Bytes = 10;

// Writes `value` little-endian to buf[0..4) / buf[0..8).
inline void EncodeFixed32(char* buf, uint32_t value) {
  if constexpr (std::endian::native == std::endian::big) value = __builtin_bswap32(value);
  std::memcpy(buf, &value, sizeof(value));
}
inline void EncodeFixed64(char* buf, uint64_t value) {
  if constexpr (std::endian::native == std::endian::big) value = __builtin_bswap64(value);
  std::memcpy(buf, &value, sizeof(value));
}

// Reads a little-endian value from ptr[0..4) / ptr[0..8); the caller
// guarantees those bytes exist.
inline uint32_t DecodeFixed32(const char* ptr) {
  uint32_t v;
  std::memcpy(&v, ptr, sizeof(v));
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap32(v);
  return v;
}
inline uint64_t DecodeFixed64(const char* ptr) {
  uint64_t v;
  std::memcpy(&v, ptr, sizeof(v));
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  return v;
}

// Appends `value` as 4 / 8 little-endian bytes.
void PutFixed32(std::string* dst, uint32_t value);
void PutFixed64(std::string* dst, uint64_t value);

// Consumes 4 / 8 little-endian bytes from the front of *input. False (input
// untouched) if fewer bytes remain.
bool GetFixed32(std::string_view* input, uint32_t* value);
bool GetFixed64(std::string_view* input, uint64_t* value);

// Number of bytes the varint encoding of `value` takes (1..10).
int VarintLength(uint64_t value);

// Writes the varint encoding of `value` to dst, which must have room for
// kMaxVarint32Bytes / kMaxVarint64Bytes; returns one past the last byte written.
char* EncodeVarint32(char* dst, uint32_t value);
char* EncodeVarint64(char* dst, uint64_t value);

// Appends the varint encoding of `value` (7 bits per byte, least significant
// group first, high bit set on every byte but the last).
void PutVarint32(std::string* dst, uint32_t value);
void PutVarint64(std::string* dst, uint64_t value);

// Consumes one varint from the front of *input. False (input untouched) if it
// is truncated or its value does not fit the type (more than 5 / 10 bytes, or
// bits set above bit 31 / 63). Non-minimal encodings such as 0x80 0x00 for 0
// are accepted; a format that needs canonical bytes compares the consumed
// length with VarintLength(value).
bool GetVarint32(std::string_view* input, uint32_t* value);
bool GetVarint64(std::string_view* input, uint64_t* value);

// Appends varint32(value.size()) followed by the bytes of `value`.
// Precondition: value.size() <= UINT32_MAX.
void PutLengthPrefixedSlice(std::string* dst, std::string_view value);

// Consumes a varint32 length and that many bytes; *result points into the
// input's buffer. False (input untouched) if the length is malformed or
// exceeds the bytes that remain.
bool GetLengthPrefixedSlice(std::string_view* input, std::string_view* result);

}  // namespace omendb::util
