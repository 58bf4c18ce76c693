// libFuzzer target: arbitrary bytes as an HNSW snapshot
// (docs/format/hnsw_snapshot.md). Loading must never crash, hang or read out
// of bounds. Random bytes rarely pass the checksums, so when the input's
// sizes are consistent the checksums are recomputed first: the structural
// checks behind them (counts, ids, levels, bounds) are what gets fuzzed. A
// snapshot that loads is searched and saved again; the saved bytes must load.
//
// Seeds in fuzz/corpus/hnsw_snapshot/ are HnswIndex::Save output for small
// indexes: seed0-3 float32 (dim 4, M 2; 0, 1, 5 and 30 vectors, one of the
// 30 removed); q_* quantized, version 2 (sq8 and rabitq, trained, M 4, dims
// 8 and 16, 40 to 300 vectors with one removed, and an untrained rabitq:1
// index of 20 vectors: codec section empty, codes zero).
// Quantized snapshots are also loaded in place (Load with an owner), searched
// and inserted into.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
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

uint32_t Get32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// Recomputes every checksum of a snapshot whose sizes are consistent:
// version 1 (header, records, upper lists) and version 2, which adds the
// quantization section ([u32 train after][u32 codec length C][codec, padded
// so the section is a multiple of 4][crc]) and the full-precision vectors
// ([n * dim floats][crc]).
void FixChecksums(std::string& b) {
  if (b.size() < 96) return;
  PutCrc(&b[92], b.data(), 92);
  const uint64_t n = Get64(b.data() + 40), stride = Get64(b.data() + 72),
                 words = Get64(b.data() + 80), dim = Get32(b.data() + 16);
  if (stride == 0 || n > b.size() / stride || words > b.size() / 4) return;
  const uint64_t graph = 104 + n * stride + 4 * words;
  if (b.size() < graph) return;
  if (b.size() > graph) {
    if (Get32(b.data() + 8) != 2 || b.size() < graph + 8) return;
    const uint64_t clen = Get32(b.data() + graph + 4);
    const uint64_t padded = (8 + clen + 3) & ~uint64_t{3};
    if (dim > 65536 || n > b.size() / 4 || n * dim > b.size() / 4) return;
    const uint64_t raw = n * dim * 4;
    if (b.size() != graph + padded + 4 + raw + 4) return;
    PutCrc(&b[graph + padded], b.data() + graph, padded);
    PutCrc(&b[graph + padded + 4 + raw], b.data() + graph + padded + 4, raw);
  }
  PutCrc(&b[96 + n * stride], b.data() + 96, n * stride);
  PutCrc(&b[100 + n * stride + 4 * words], b.data() + 100 + n * stride, 4 * words);
}

// Searches a loaded index a few ways; quantized indexes also with explicit
// re-rank depths (the walk reads codes the snapshot supplied, never
// re-encoded, so any code bytes must be safe).
void Exercise(const omendb::HnswIndex& idx) {
  if (idx.size() == 0) return;
  std::vector<float> q(idx.dim(), 0.25f);
  std::vector<omendb::Neighbor> out(4);
  (void)idx.Search(q, 1, 8, out);
  if (idx.quantization().kind == omendb::QuantKind::kNone) return;
  for (size_t i = 0; i < q.size(); ++i) q[i] = (i % 3 == 0 ? -1.5f : 0.5f) + 0.01f * i;
  const size_t k = std::min<size_t>(idx.size(), out.size());
  for (size_t rerank : {size_t{0}, size_t{1}, size_t{16}}) {
    omendb::SearchParams p;
    p.ef = 12;
    p.rerank = rerank;
    (void)idx.Search(q, k, p, out);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  FixChecksums(bytes);
  auto loaded = omendb::HnswIndex::Load(bytes);
  if (!loaded.ok()) return 0;
  omendb::HnswIndex& idx = **loaded;
  (void)idx.CheckGraph();
  Exercise(idx);
  std::string again;
  omendb::Status s = idx.Save([&](std::string_view c) {
    again.append(c);
    return omendb::Status::OK();
  });
  if (!s.ok() || !omendb::HnswIndex::Load(again).ok()) std::abort();
  if (idx.quantization().kind != omendb::QuantKind::kNone) {
    // The mapped form: full-precision vectors read in place from the
    // snapshot's bytes (kept alive by the owner), then copied out by an
    // insert.
    auto owner = std::make_shared<const std::string>(bytes);
    auto mapped = omendb::HnswIndex::Load(*owner, owner);
    if (!mapped.ok()) std::abort();  // the same bytes loaded above
    Exercise(**mapped);
    std::vector<float> v(idx.dim());
    for (size_t i = 0; i < v.size(); ++i) v[i] = 0.75f - 0.03f * static_cast<float>(i % 50);
    const omendb::VectorId id = 0xF0F0F0F0F0F0F0F0ull;
    if (!(*mapped)->Contains(id) && (*mapped)->Add(id, v).ok()) Exercise(**mapped);
  }
  return 0;
}
