// libFuzzer target: arbitrary bytes as an HNSW snapshot
// (docs/format/hnsw_snapshot.md). Loading must never crash, hang or read out
// of bounds. Random bytes rarely pass three checksums, so when the input's
// sizes are consistent the checksums are recomputed first: the structural
// checks behind them (counts, ids, levels, bounds) are what gets fuzzed. A
// snapshot that loads is searched and saved again; the saved bytes must load.
//
// Seeds in fuzz/corpus/hnsw_snapshot/ are HnswIndex::Save output for small
// indexes (dim 4, M 2; 0, 1, 5 and 30 vectors, one of the 30 removed).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "omendb/hnsw_index.h"
#include "util/crc32c.h"

namespace {

uint64_t Get64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
void PutCrc(char* at, const char* data, size_t n) {
  uint32_t c = omendb::util::crc32c::Mask(omendb::util::crc32c::Value(data, n));
  std::memcpy(at, &c, 4);
}

void FixChecksums(std::string& b) {
  if (b.size() < 96) return;
  PutCrc(&b[92], b.data(), 92);
  const uint64_t n = Get64(b.data() + 40), stride = Get64(b.data() + 72),
                 words = Get64(b.data() + 80);
  if (stride == 0 || n > b.size() / stride || words > b.size() / 4) return;
  if (b.size() != 104 + n * stride + 4 * words) return;
  PutCrc(&b[96 + n * stride], b.data() + 96, n * stride);
  PutCrc(&b[100 + n * stride + 4 * words], b.data() + 100 + n * stride, 4 * words);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  FixChecksums(bytes);
  auto loaded = omendb::HnswIndex::Load(bytes);
  if (!loaded.ok()) return 0;
  omendb::HnswIndex& idx = **loaded;
  (void)idx.CheckGraph();
  if (idx.size() > 0) {
    std::vector<float> q(idx.dim(), 0.25f);
    std::vector<omendb::Neighbor> out(1);
    (void)idx.Search(q, 1, 8, out);
  }
  std::string again;
  omendb::Status s = idx.Save([&](std::string_view c) {
    again.append(c);
    return omendb::Status::OK();
  });
  if (!s.ok() || !omendb::HnswIndex::Load(again).ok()) std::abort();
  return 0;
}
