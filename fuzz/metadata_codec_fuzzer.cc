// libFuzzer target for db/metadata_codec: decodes arbitrary bytes. Decoding
// must never crash or read out of bounds (run under ASan/UBSan), must fail
// only with Corruption, and any input it accepts must be the canonical
// encoding: validating and re-encoding the result gives back the same bytes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "db/metadata_codec.h"
#include "omendb/metadata.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  omendb::Result<omendb::Metadata> decoded = omendb::db::DecodeMetadata(input);
  if (!decoded.ok()) {
    if (!decoded.status().IsCorruption()) __builtin_trap();
    return 0;
  }
  if (!omendb::ValidateMetadata(*decoded).ok()) __builtin_trap();
  std::string reencoded;
  if (!omendb::db::EncodeMetadata(*decoded, &reencoded).ok()) __builtin_trap();
  if (reencoded != input) __builtin_trap();

  // The prefix form must agree and consume everything.
  std::string_view rest = input;
  omendb::Metadata again;
  if (!omendb::db::ConsumeMetadata(&rest, &again).ok() || !rest.empty()) __builtin_trap();
  if (again.size() != decoded->size()) __builtin_trap();
  return 0;
}
