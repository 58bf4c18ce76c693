// libFuzzer target for ParseFilter (and through it util/json): parses
// arbitrary text. Parsing must never crash, must fail only with
// InvalidArgument, and an accepted filter must
//  * pass Validate and compile;
//  * render (ToString) to text that parses back to the same rendering (or,
//    when the rendering nests deeper than the JSON limit, fail only for that);
//  * evaluate identically through Filter::Matches and CompiledFilter::Matches
//    on records built from its own operands.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "omendb/filter.h"
#include "omendb/metadata.h"

namespace {

// Collects field/value pairs and ids mentioned by the filter, so the records
// evaluated below actually hit its comparisons.
void Collect(const omendb::Filter& f, std::vector<std::pair<std::string, omendb::MetadataValue>>* kv,
             std::vector<omendb::VectorId>* ids) {
  using Op = omendb::Filter::Op;
  switch (f.op()) {
    case Op::kEq: case Op::kNe: case Op::kLt: case Op::kLe: case Op::kGt: case Op::kGe:
      kv->emplace_back(f.field(), f.value());
      break;
    case Op::kRange:
      kv->emplace_back(f.field(), f.value());
      kv->emplace_back(f.field(), f.high());
      break;
    case Op::kIn:
      for (const auto& v : f.values()) kv->emplace_back(f.field(), v);
      break;
    case Op::kExists:
      kv->emplace_back(f.field(), int64_t{0});
      break;
    case Op::kIdIn:
      ids->insert(ids->end(), f.ids().begin(), f.ids().end());
      break;
    default:
      break;
  }
  for (const omendb::Filter& c : f.children()) Collect(c, kv, ids);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  omendb::Result<omendb::Filter> parsed = omendb::ParseFilter(text);
  if (!parsed.ok()) {
    if (!parsed.status().IsInvalidArgument()) __builtin_trap();
    return 0;
  }
  const omendb::Filter& f = *parsed;
  if (!f.Validate().ok()) __builtin_trap();

  const std::string once = f.ToString();
  omendb::Result<omendb::Filter> reparsed = omendb::ParseFilter(once);
  if (reparsed.ok()) {
    if (reparsed->ToString() != once) __builtin_trap();
  } else if (reparsed.status().message().find("nesting deeper") == std::string::npos) {
    __builtin_trap();
  }

  omendb::Result<omendb::CompiledFilter> compiled = omendb::CompiledFilter::Compile(f);
  if (!compiled.ok()) __builtin_trap();

  std::vector<std::pair<std::string, omendb::MetadataValue>> kv;
  std::vector<omendb::VectorId> ids = {0, 1};
  Collect(f, &kv, &ids);
  // Record 0: empty; record i: every field set to its i-th mentioned value
  // (cycling), which covers equal, missing and mismatched cases.
  for (size_t round = 0; round < 4; ++round) {
    omendb::Metadata doc;
    if (round > 0) {
      for (size_t i = 0; i < kv.size(); ++i) {
        if ((i + round) % 2 == 0 || doc.find(kv[i].first) == doc.end()) {
          doc[kv[i].first] = kv[i].second;
        }
      }
    }
    for (omendb::VectorId id : ids) {
      if (compiled->Matches(id, doc) != f.Matches(id, doc)) __builtin_trap();
    }
  }
  return 0;
}
