#include "util/coding.h"

#include <cassert>

namespace omendb::util {

void PutFixed32(std::string* dst, uint32_t value) {
  char buf[4];
  EncodeFixed32(buf, value);
  dst->append(buf, sizeof(buf));
}

void PutFixed64(std::string* dst, uint64_t value) {
  char buf[8];
  EncodeFixed64(buf, value);
  dst->append(buf, sizeof(buf));
}

bool GetFixed32(std::string_view* input, uint32_t* value) {
  if (input->size() < 4) return false;
  *value = DecodeFixed32(input->data());
  input->remove_prefix(4);
  return true;
}

bool GetFixed64(std::string_view* input, uint64_t* value) {
  if (input->size() < 8) return false;
  *value = DecodeFixed64(input->data());
  input->remove_prefix(8);
  return true;
}

int VarintLength(uint64_t value) {
  int len = 1;
  while (value >= 0x80) {
    value >>= 7;
    ++len;
  }
  return len;
}

char* EncodeVarint64(char* dst, uint64_t value) {
  auto* p = reinterpret_cast<unsigned char*>(dst);
  while (value >= 0x80) {
    *p++ = static_cast<unsigned char>(value | 0x80);
    value >>= 7;
  }
  *p++ = static_cast<unsigned char>(value);
  return reinterpret_cast<char*>(p);
}

char* EncodeVarint32(char* dst, uint32_t value) { return EncodeVarint64(dst, value); }

void PutVarint32(std::string* dst, uint32_t value) {
  char buf[kMaxVarint32Bytes];
  char* end = EncodeVarint32(buf, value);
  dst->append(buf, static_cast<size_t>(end - buf));
}

void PutVarint64(std::string* dst, uint64_t value) {
  char buf[kMaxVarint64Bytes];
  char* end = EncodeVarint64(buf, value);
  dst->append(buf, static_cast<size_t>(end - buf));
}

namespace {

// Shared decoder: `max_bytes` groups at most, and the last permitted group may
// only carry the bits that still fit below `bits`, so overflow is an error
// rather than silently dropped high bits.
bool GetVarint(std::string_view* input, int max_bytes, int bits, uint64_t* value) {
  uint64_t result = 0;
  const size_t n = input->size();
  for (int i = 0; i < max_bytes; ++i) {
    if (static_cast<size_t>(i) >= n) return false;  // truncated
    const auto byte = static_cast<unsigned char>((*input)[static_cast<size_t>(i)]);
    const int shift = 7 * i;
    const uint64_t group = byte & 0x7f;
    if (i == max_bytes - 1) {
      // Last possible byte: no continuation, and no bits beyond the type.
      if ((byte & 0x80) != 0) return false;
      if ((group >> (bits - shift)) != 0) return false;
    }
    result |= group << shift;
    if ((byte & 0x80) == 0) {
      *value = result;
      input->remove_prefix(static_cast<size_t>(i) + 1);
      return true;
    }
  }
  return false;  // unreachable: the last iteration always returns
}

}  // namespace

bool GetVarint32(std::string_view* input, uint32_t* value) {
  uint64_t v = 0;
  if (!GetVarint(input, kMaxVarint32Bytes, 32, &v)) return false;
  *value = static_cast<uint32_t>(v);
  return true;
}

bool GetVarint64(std::string_view* input, uint64_t* value) {
  return GetVarint(input, kMaxVarint64Bytes, 64, value);
}

void PutLengthPrefixedSlice(std::string* dst, std::string_view value) {
  assert(value.size() <= UINT32_MAX);
  PutVarint32(dst, static_cast<uint32_t>(value.size()));
  dst->append(value.data(), value.size());
}

bool GetLengthPrefixedSlice(std::string_view* input, std::string_view* result) {
  std::string_view in = *input;  // work on a copy so failure leaves *input as it was
  uint32_t len = 0;
  if (!GetVarint32(&in, &len)) return false;
  if (len > in.size()) return false;
  *result = in.substr(0, len);
  in.remove_prefix(len);
  *input = in;
  return true;
}

}  // namespace omendb::util
