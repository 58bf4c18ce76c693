#include "db/collection_impl.h"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <new>
#include <optional>
#include <thread>
#include <unordered_set>

#include "db/db_impl.h"
#include "db/metadata_codec.h"
#include "index/index_access.h"
#include "index/validate.h"
#include "util/coding.h"
#include "util/thread_pool.h"

namespace omendb {

Collection::~Collection() = default;

Result<std::vector<Neighbor>> Collection::Search(std::span<const float> query,
                                                 const SearchOptions& options) const {
  std::vector<Neighbor> out(options.k);
  OMENDB_ASSIGN_OR_RETURN(size_t n, Search(query, options, out));
  out.resize(n);
  return out;
}

namespace db {

using index_internal::HnswGraph;
using index_internal::IndexAccess;
using index_internal::SearchScratch;

namespace {

// The metadata every vector stored without metadata points at.
const Metadata& EmptyMetadata() {
  static const Metadata empty;
  return empty;
}

size_t ApproxBytes(const Metadata& m) {
  size_t b = sizeof(Metadata);
  for (const auto& [k, v] : m) {
    b += 64 + k.size();
    if (const auto* s = std::get_if<std::string>(&v)) b += s->size();
  }
  return b;
}

SearchScratch& DbThreadScratch() {
  thread_local SearchScratch scratch;
  return scratch;
}

HnswOptions ToHnsw(const CollectionOptions& o) {
  HnswOptions h;
  h.dim = o.dim;
  h.metric = o.metric;
  h.M = o.M;
  h.ef_construction = o.ef_construction;
  h.seed = o.seed;
  h.quant = o.quant;
  h.quant_train_after = o.quant_train_after;
  return h;
}

// Filtered searches below this estimated selectivity scan the matches
// exactly instead of walking the graph (HnswIndex::SearchFiltered).
constexpr double kExactBelow = 0.02;
// Slots sampled to estimate a filter's selectivity.
constexpr int kSelectivitySamples = 256;

}  // namespace

// ---------------------------------------------------------------- MetadataTable

MetadataTable::MetadataTable() : chunks_(new std::atomic<Chunk*>[kNumChunks]) {
  for (uint32_t i = 0; i < kNumChunks; ++i) chunks_[i].store(nullptr, std::memory_order_relaxed);
}

MetadataTable::~MetadataTable() {
  FreeRetired();
  for (uint32_t c = 0; c < kNumChunks; ++c) {
    Chunk* chunk = chunks_[c].load(std::memory_order_relaxed);
    if (chunk == nullptr) continue;
    for (uint32_t i = 0; i < kChunkSize; ++i) {
      const Metadata* m = chunk[i].load(std::memory_order_relaxed);
      if (m != nullptr && m != &EmptyMetadata()) delete m;
    }
    delete[] chunk;
  }
}

const Metadata* MetadataTable::Get(uint32_t slot) const {
  const Chunk* chunk = chunks_[slot >> kChunkBits].load(std::memory_order_acquire);
  if (chunk == nullptr) return nullptr;
  return chunk[slot & (kChunkSize - 1)].load(std::memory_order_acquire);
}

bool MetadataTable::Publish(uint32_t slot, std::unique_ptr<Metadata> m) {
  std::atomic<Chunk*>& entry = chunks_[slot >> kChunkBits];
  Chunk* chunk = entry.load(std::memory_order_relaxed);
  if (chunk == nullptr) {
    chunk = new (std::nothrow) Chunk[kChunkSize];
    if (chunk == nullptr) return false;
    for (uint32_t i = 0; i < kChunkSize; ++i) chunk[i].store(nullptr, std::memory_order_relaxed);
    entry.store(chunk, std::memory_order_release);
  }
  const Metadata* p = &EmptyMetadata();
  if (m != nullptr && !m->empty()) {
    bytes_.fetch_add(ApproxBytes(*m), std::memory_order_relaxed);
    p = m.release();
  }
  const Metadata* old = chunk[slot & (kChunkSize - 1)].exchange(p, std::memory_order_acq_rel);
  if (old != nullptr && old != &EmptyMetadata()) retired_.push_back(old);
  if (slot + 1 > high_water_.load(std::memory_order_relaxed)) {
    high_water_.store(slot + 1, std::memory_order_release);
  }
  return true;
}

void MetadataTable::Unpublish(uint32_t slot) {
  Chunk* chunk = chunks_[slot >> kChunkBits].load(std::memory_order_relaxed);
  if (chunk == nullptr) return;
  const Metadata* old = chunk[slot & (kChunkSize - 1)].exchange(nullptr, std::memory_order_acq_rel);
  if (old != nullptr && old != &EmptyMetadata()) retired_.push_back(old);
}

void MetadataTable::FreeRetired() {
  for (const Metadata* m : retired_) {
    bytes_.fetch_sub(ApproxBytes(*m), std::memory_order_relaxed);
    delete m;
  }
  retired_.clear();
}

// ---------------------------------------------------------------- CollectionImpl

Result<std::unique_ptr<CollectionImpl>> CollectionImpl::Create(DbImpl* db, std::string name,
                                                              const CollectionOptions& options) {
  OMENDB_ASSIGN_OR_RETURN(auto index, HnswIndex::Create(ToHnsw(options)));
  auto state = std::make_unique<CollectionState>();
  state->index = std::move(index);
  return std::make_unique<CollectionImpl>(db, std::move(name), options, std::move(state));
}

CollectionImpl::CollectionImpl(DbImpl* db, std::string name, const CollectionOptions& options,
                               std::unique_ptr<CollectionState> state)
    : db_(db), name_(std::move(name)), options_(options), state_(state.release()) {}

CollectionImpl::~CollectionImpl() { delete state_.load(std::memory_order_acquire); }

Status CollectionImpl::Upsert(std::span<const VectorId> ids, std::span<const float> vectors,
                              std::span<const Metadata> metadata, const WriteOptions& options) {
  OMENDB_RETURN_IF_ERROR(db_->CheckWritable());
  const size_t n = ids.size();
  const uint32_t dim = options_.dim;
  if (vectors.size() != n * dim) {
    return Status::InvalidArgument("upsert into \"" + name_ + "\": " +
                                   std::to_string(vectors.size()) + " floats for " +
                                   std::to_string(n) + " ids of dimension " + std::to_string(dim));
  }
  if (!metadata.empty() && metadata.size() != n) {
    return Status::InvalidArgument("upsert into \"" + name_ + "\": " +
                                   std::to_string(metadata.size()) + " metadata entries for " +
                                   std::to_string(n) + " ids");
  }
  if (n == 0) return Status::OK();
  for (size_t i = 0; i < n; ++i) {
    const std::string row = "row " + std::to_string(i) + " (id " + std::to_string(ids[i]) + ")";
    OMENDB_RETURN_IF_ERROR(
        index_internal::ValidateVector(vectors.data() + i * dim, dim, options_.metric, row));
    if (!metadata.empty()) {
      Status s = ValidateMetadata(metadata[i]);
      if (!s.ok()) return s.WithContext(row);
    }
  }
  {
    std::unordered_set<VectorId> seen;
    seen.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      if (!seen.insert(ids[i]).second) {
        return Status::InvalidArgument("row " + std::to_string(i) + " repeats id " +
                                       std::to_string(ids[i]) + " within the batch");
      }
    }
  }
  std::string record;
  OMENDB_RETURN_IF_ERROR(EncodeUpsert(name_, dim, ids, vectors, metadata, &record));
  // The log record owns nothing the apply step needs: it reads the caller's
  // spans, which outlive the write.
  std::vector<Metadata> meta(metadata.begin(), metadata.end());
  Status s = db_->Write(record, [&] {
    return ApplyUpsert(ids, vectors.data(), meta.empty() ? nullptr : meta.data(), true);
  }, options);
  if (s.ok()) db_->MaybeCheckpoint();
  return s;
}

Status CollectionImpl::Delete(std::span<const VectorId> ids, const WriteOptions& options) {
  OMENDB_RETURN_IF_ERROR(db_->CheckWritable());
  if (ids.empty()) return Status::OK();
  Status s = db_->Write(EncodeDelete(name_, ids), [&] { return ApplyDelete(ids); }, options);
  if (s.ok()) db_->MaybeCheckpoint();
  return s;
}

namespace {
// Makes a sequence counter odd for the lifetime of the object.
class OddWhile {
 public:
  explicit OddWhile(std::atomic<uint64_t>* seq) : seq_(seq) {
    seq_->fetch_add(1, std::memory_order_acq_rel);
  }
  ~OddWhile() { seq_->fetch_add(1, std::memory_order_acq_rel); }
  OddWhile(const OddWhile&) = delete;
  OddWhile& operator=(const OddWhile&) = delete;

 private:
  std::atomic<uint64_t>* seq_;
};
}  // namespace

Status CollectionImpl::ApplyUpsert(std::span<const VectorId> ids, const float* vectors,
                                   Metadata* metadata, bool parallel) {
  OddWhile applying(&applying_);
  CollectionState* st = state();
  HnswIndex& index = *st->index;
  HnswGraph& graph = IndexAccess::Graph(index);
  const size_t n = ids.size();
  const uint32_t dim = options_.dim;
  // Replace = remove (MN-RU repair of the old node's neighbourhood) + insert.
  bool replacing = false;
  for (VectorId id : ids) {
    uint32_t slot;
    if (graph.Lookup(id, &slot)) {
      if (!replacing) replacing_.fetch_add(1, std::memory_order_acq_rel);  // now odd
      replacing = true;
      st->meta.Unpublish(slot);
      OMENDB_RETURN_IF_ERROR(index.Remove(id));
    }
  }
  struct EndReplace {
    std::atomic<uint64_t>* seq;
    ~EndReplace() {
      if (seq != nullptr) seq->fetch_add(1, std::memory_order_acq_rel);  // even again
    }
  } end_replace{replacing ? &replacing_ : nullptr};
  const int threads = parallel ? db_->threads() : 1;
  OMENDB_RETURN_IF_ERROR(graph.Reserve(graph.size() + graph.deleted_count() + n));
  // As HnswIndex::AddBatch: a batch that brings a quantized collection to
  // its training size trains the codec on its rows first, so the codec
  // depends only on the logged writes (replay trains the same one).
  if (graph.quantized() && graph.codec() == nullptr &&
      graph.size() + n >= graph.options().quant_train_after) {
    OMENDB_RETURN_IF_ERROR(graph.TrainQuantizer(vectors, n));
  }
  if (threads > 1 && n >= 64) {
    // Rows were validated by Upsert. Unlike HnswIndex::AddBatch this skips
    // the whole-graph reachability repair per batch; AuditAfter amortises it.
    std::vector<SearchScratch> scratch(static_cast<size_t>(threads));
    std::atomic<bool> failed{false};
    Status first_error;
    std::mutex error_mu;
    util::ParallelFor(n, threads, 16, [&](size_t i, int t) {
      if (failed.load(std::memory_order_relaxed)) return;
      Status s = graph.Insert(ids[i], vectors + i * dim, scratch[static_cast<size_t>(t)]);
      if (!s.ok()) {
        std::lock_guard l(error_mu);
        if (first_error.ok()) first_error = s;
        failed.store(true, std::memory_order_relaxed);
      }
    });
    OMENDB_RETURN_IF_ERROR(first_error);
  } else {
    for (size_t i = 0; i < n; ++i) {
      OMENDB_RETURN_IF_ERROR(index.Add(ids[i], std::span<const float>(vectors + i * dim, dim)));
    }
  }
  for (size_t i = 0; i < n; ++i) {
    uint32_t slot;
    if (!graph.Lookup(ids[i], &slot)) return Status::Internal("inserted id missing from the index");
    std::unique_ptr<Metadata> m;
    if (metadata != nullptr && !metadata[i].empty()) {
      m = std::make_unique<Metadata>(std::move(metadata[i]));
    }
    if (!st->meta.Publish(slot, std::move(m))) {
      return Status::ResourceExhausted("out of memory for metadata");
    }
  }
  AuditAfter(n);
  return Status::OK();
}

Status CollectionImpl::ApplyDelete(std::span<const VectorId> ids) {
  OddWhile applying(&applying_);
  CollectionState* st = state();
  HnswGraph& graph = IndexAccess::Graph(*st->index);
  size_t removed = 0;
  for (VectorId id : ids) {
    uint32_t slot;
    if (!graph.Lookup(id, &slot)) continue;
    st->meta.Unpublish(slot);
    OMENDB_RETURN_IF_ERROR(st->index->Remove(id));
    ++removed;
  }
  AuditAfter(removed);
  return Status::OK();
}

void CollectionImpl::AuditPending() {
  if (changes_since_audit_ == 0) return;
  Audit();
}

void CollectionImpl::Audit() {
  changes_since_audit_ = 0;
  CollectionState* st = state();
  HnswGraph& graph = IndexAccess::Graph(*st->index);
  SearchScratch scratch;
  // 1. Consolidate removals: no edge points to a removed record afterwards,
  //    so walks stop paying for them and their slots can be reused.
  std::vector<uint32_t> unlinked;
  graph.ConsolidateRemoved(scratch, &unlinked);
  // 2. Reconnect nodes no walk reaches.
  graph.RepairReachability(scratch);
  // 3. A search that started before step 1 may still be walking through an
  //    unlinked record; once those have finished nothing can reach it, and
  //    the slots go to the free list (with the metadata removals retired).
  if (!unlinked.empty()) {
    gate_.Synchronize();
    graph.ReleaseSlots(unlinked);
    st->meta.FreeRetired();
  }
}

void CollectionImpl::AuditAfter(size_t changes) {
  // Single inserts (HNSW pruning) and removals (MN-RU repairs only mutual
  // neighbours) can each leave a node without in-edges. A breadth-first
  // audit with reconnection costs O(N * M), so it runs once the changes
  // since the last one reach 2% of the collection (at least 1,000): a few
  // microseconds per change, and at most that many changes' worth of
  // orphans exist at any time. Deterministic, so log replay repeats it.
  changes_since_audit_ += changes;
  const size_t n = state()->index->size();
  if (changes_since_audit_ < std::max<size_t>(1000, n / 50)) return;
  Audit();
}

Status CollectionImpl::LoadMetadata(VectorId id, Metadata metadata) {
  CollectionState* st = state();
  uint32_t slot;
  if (!IndexAccess::Graph(*st->index).Lookup(id, &slot)) {
    return Status::Corruption("metadata for id " + std::to_string(id) +
                              ", which is not in the index");
  }
  if (st->meta.Get(slot) != nullptr) {
    return Status::Corruption("metadata for id " + std::to_string(id) + " given twice");
  }
  if (!st->meta.Publish(slot, std::make_unique<Metadata>(std::move(metadata)))) {
    return Status::ResourceExhausted("out of memory for metadata");
  }
  return Status::OK();
}

Status CollectionImpl::FinishLoad() {
  CollectionState* st = state();
  bool ok = true;
  IndexAccess::Graph(*st->index).ForEachLive([&](VectorId, uint32_t slot) {
    if (st->meta.Get(slot) == nullptr) ok = st->meta.Publish(slot, nullptr) && ok;
  });
  return ok ? Status::OK() : Status::ResourceExhausted("out of memory for metadata");
}

Status CollectionImpl::SaveIndex(const std::function<Status(std::string_view)>& sink) const {
  return state()->index->Save(sink);
}

std::string CollectionImpl::EncodeMetadataSection() const {
  // varint count, then per vector with metadata: fixed64 id + metadata encoding,
  // ascending by id so the same contents always give the same bytes.
  CollectionState* st = state();
  std::vector<std::pair<VectorId, const Metadata*>> rows;
  IndexAccess::Graph(*st->index).ForEachLive([&](VectorId id, uint32_t slot) {
    const Metadata* m = st->meta.Get(slot);
    if (m != nullptr && !m->empty()) rows.emplace_back(id, m);
  });
  std::sort(rows.begin(), rows.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string out;
  util::PutVarint64(&out, rows.size());
  for (const auto& [id, m] : rows) {
    util::PutFixed64(&out, id);
    Status s = EncodeMetadata(*m, &out);
    (void)s;  // every stored Metadata passed ValidateMetadata
  }
  return out;
}

Status CollectionImpl::Compact(int threads) {
  CollectionState* old = state();
  const HnswGraph& graph = IndexAccess::Graph(*old->index);
  std::vector<std::pair<uint32_t, VectorId>> live;
  graph.ForEachLive([&](VectorId id, uint32_t slot) { live.emplace_back(slot, id); });
  // Insertion order of the new index = slot order of the old one (oldest first).
  std::sort(live.begin(), live.end());
  const uint32_t dim = options_.dim;
  std::vector<float> vectors(live.size() * dim);
  std::vector<VectorId> ids(live.size());
  for (size_t i = 0; i < live.size(); ++i) {
    ids[i] = live[i].second;
    graph.CopyVector(live[i].first, vectors.data() + i * dim);
  }
  auto fresh = std::make_unique<CollectionState>();
  OMENDB_ASSIGN_OR_RETURN(fresh->index, HnswIndex::Create(ToHnsw(options_)));
  if (!ids.empty()) OMENDB_RETURN_IF_ERROR(fresh->index->AddBatch(vectors, ids, threads));
  HnswGraph& fresh_graph = IndexAccess::Graph(*fresh->index);
  for (size_t i = 0; i < live.size(); ++i) {
    uint32_t slot;
    if (!fresh_graph.Lookup(ids[i], &slot)) return Status::Internal("compaction lost an id");
    const Metadata* m = old->meta.Get(live[i].first);
    std::unique_ptr<Metadata> copy;
    if (m != nullptr && !m->empty()) copy = std::make_unique<Metadata>(*m);
    if (!fresh->meta.Publish(slot, std::move(copy))) {
      return Status::ResourceExhausted("out of memory for metadata");
    }
  }
  state_.store(fresh.release(), std::memory_order_release);
  gate_.Synchronize();  // no search still walks the old index
  delete old;
  changes_since_audit_ = 0;  // a fresh build needs no audit
  return Status::OK();
}

double CollectionImpl::DeletedFraction() const {
  const HnswIndex& index = *state()->index;
  const size_t total = index.size() + index.deleted_count();
  return total == 0 ? 0.0 : static_cast<double>(index.deleted_count()) / total;
}

size_t CollectionImpl::RepairReachability() {
  GraphReport before = IndexAccess::Graph(*state()->index).Check();
  Audit();
  return before.nodes - before.reachable;
}

GraphReport CollectionImpl::CheckGraph() const { return state()->index->CheckGraph(); }

void CollectionImpl::ReleaseRetired() {
  gate_.Synchronize();
  state()->meta.FreeRetired();
}

CollectionImpl::Probe CollectionImpl::ProbeRecord(VectorId id, Record* out) const {
  // Sequence numbers first, then the lookup: a change that completes in
  // between moves a counter, so an absent or incomplete answer is retried.
  const uint64_t applying = applying_.load(std::memory_order_acquire);
  const uint64_t replacing = replacing_.load(std::memory_order_acquire);
  util::ReadGuard guard(gate_);
  CollectionState* st = state();
  const HnswGraph& graph = IndexAccess::Graph(*st->index);
  uint32_t slot;
  if (!graph.Lookup(id, &slot)) {
    // Absent, unless a replacement was in flight: the id may have been
    // between its old and new slot.
    if (replacing % 2 == 0 && replacing_.load(std::memory_order_acquire) == replacing) {
      return Probe::kAbsent;
    }
    return Probe::kRetry;
  }
  // A record is consistent once its metadata is published: ApplyUpsert
  // publishes it (release) after the vector is written, and a slot's vector
  // does not change while the slot holds the id. Null metadata means an
  // insert in flight or a removal under way.
  const Metadata* m = st->meta.Get(slot);
  if (m == nullptr) {
    if (applying % 2 == 0 && applying_.load(std::memory_order_acquire) == applying) {
      return Probe::kIncomplete;
    }
    return Probe::kRetry;
  }
  if (out != nullptr) {
    out->id = id;
    out->vector.resize(options_.dim);
    graph.CopyVector(slot, out->vector.data());
    out->metadata = *m;
  }
  return Probe::kFound;
}

Result<Record> CollectionImpl::Get(VectorId id) const {
  OMENDB_RETURN_IF_ERROR(db_->CheckOpen());
  Record r;
  for (;;) {
    switch (ProbeRecord(id, &r)) {
      case Probe::kFound:
        return r;
      case Probe::kAbsent:
        return Status::NotFound("id " + std::to_string(id) + " is not in collection \"" + name_ +
                                "\"");
      case Probe::kIncomplete:
        return Status::Internal("the record of id " + std::to_string(id) +
                                " was left incomplete by a failed write");
      case Probe::kRetry:
        // Outside the read-side section, so the writer's grace periods
        // (ReadGate::Synchronize) can end while this waits for it.
        std::this_thread::yield();
        break;
    }
  }
}

bool CollectionImpl::Contains(VectorId id) const {
  for (;;) {
    switch (ProbeRecord(id, nullptr)) {
      case Probe::kFound:
      case Probe::kIncomplete:
        return true;
      case Probe::kAbsent:
        return false;
      case Probe::kRetry:
        std::this_thread::yield();
        break;
    }
  }
}

size_t CollectionImpl::size() const {
  util::ReadGuard guard(gate_);
  return state()->index->size();
}

CollectionStats CollectionImpl::Stats() const {
  util::ReadGuard guard(gate_);
  CollectionState* st = state();
  CollectionStats s;
  s.name = name_;
  s.options = options_;
  s.live = st->index->size();
  s.deleted = st->index->deleted_count();
  s.quant_trained = options_.quant.kind != QuantKind::kNone && st->index->quantizer_trained();
  s.memory_bytes = st->index->MemoryBytes() + st->meta.bytes() +
                   (size_t{st->meta.high_water()} + 65535) / 65536 * 65536 * sizeof(void*);
  return s;
}

Result<size_t> CollectionImpl::Search(std::span<const float> query, const SearchOptions& options,
                                      std::span<Neighbor> out) const {
  OMENDB_RETURN_IF_ERROR(db_->CheckOpen());
  const uint32_t dim = options_.dim;
  if (query.size() != dim) {
    return Status::InvalidArgument("query has " + std::to_string(query.size()) +
                                   " floats, collection \"" + name_ + "\" has dimension " +
                                   std::to_string(dim));
  }
  const size_t k = options.k;
  if (k == 0) return Status::InvalidArgument("k must be at least 1");
  if (out.size() < k) {
    return Status::InvalidArgument("output buffer holds " + std::to_string(out.size()) +
                                   " results, k = " + std::to_string(k));
  }
  OMENDB_RETURN_IF_ERROR(
      index_internal::ValidateVector(query.data(), dim, options_.metric, "query"));
  const size_t ef = options.ef != 0 ? options.ef : std::max<size_t>(k, 64);
  SearchScratch& scratch = DbThreadScratch();

  const CompiledFilter* compiled = nullptr;
  std::optional<CompiledFilter> filter;
  if (options.filter.op() != Filter::Op::kAll) {
    OMENDB_ASSIGN_OR_RETURN(CompiledFilter f, CompiledFilter::Compile(options.filter));
    filter.emplace(std::move(f));
    compiled = &*filter;
  }
  const uint64_t before = replacing_.load(std::memory_order_acquire);
  const size_t n = SearchCore(query.data(), k, ef, options.rerank, options.filter, compiled,
                              out.data(), scratch);
  if (replacing_.load(std::memory_order_acquire) == before && before % 2 == 0) return n;
  // The search overlapped a replacement, so it may have met an id's old
  // node (before its removal flag was set) and its new one. Keep the nearer
  // of each id; if that leaves fewer than k, search again for more (the
  // rare overlap case may allocate).
  size_t kept = Dedup(out.data(), n);
  if (kept == n || n < k) return kept;
  std::vector<Neighbor> wide;
  for (int attempt = 0; attempt < 3 && kept < k; ++attempt) {
    const size_t want = k + (n - kept) + 4 * static_cast<size_t>(attempt + 1);
    wide.resize(want);
    const size_t got =
        Dedup(wide.data(), SearchCore(query.data(), want, std::max(ef, want), options.rerank,
                                      options.filter, compiled, wide.data(), scratch));
    if (got > kept) {
      kept = std::min(got, k);
      std::copy_n(wide.begin(), kept, out.begin());
    }
    if (got < want) break;  // no more to find
  }
  return kept;
}

size_t CollectionImpl::Dedup(Neighbor* out, size_t n) {
  size_t kept = 0;
  for (size_t i = 0; i < n; ++i) {
    bool dup = false;
    for (size_t j = 0; j < kept && !dup; ++j) dup = out[j].id == out[i].id;
    if (!dup) out[kept++] = out[i];
  }
  return kept;
}

size_t CollectionImpl::SearchCore(const float* query, size_t k, size_t ef, size_t rerank,
                                  const Filter& options_filter,
                                  const CompiledFilter* filter, Neighbor* out,
                                  SearchScratch& scratch) const {
  const uint32_t dim = options_.dim;
  util::ReadGuard guard(gate_);
  CollectionState* st = state();
  const HnswGraph& graph = IndexAccess::Graph(*st->index);
  const MetadataTable& meta = st->meta;
  const size_t live = graph.size();
  if (live == 0) return 0;
  if (filter == nullptr) {
    const size_t want = std::min(k, live);
    const size_t n =
        graph.Search(query, want, ef, out, scratch, nullptr, nullptr, 1.0, 0.0, rerank);
    if (n >= want) return n;
    // Fewer than min(k, size) hits: the walk could not reach enough live
    // nodes (removals can strand a node until the next reachability audit).
    // An exact scan over the published records answers instead.
    const index_internal::IdPredicate published = [&](VectorId, uint32_t slot) {
      return meta.Get(slot) != nullptr;
    };
    return graph.Search(query, want, ef, out, scratch, nullptr, &published,
                        /*selectivity=*/0.0, kExactBelow);
  }
  // A vector whose metadata is not published (being inserted or removed)
  // does not match.
  // The id argument may be stale for a record being inserted; the slot's id
  // is read again once its metadata is seen published (acquire), which
  // orders it after the insert wrote it.
  const index_internal::IdPredicate pred = [&](VectorId, uint32_t slot) {
    const Metadata* m = meta.Get(slot);
    return m != nullptr && filter->Matches(graph.IdAtSlot(slot), *m);
  };
  double selectivity = 1.0;
  if (filter->matches_all()) {
    selectivity = 1.0;
  } else if (options_filter.op() == Filter::Op::kIdIn) {
    selectivity = static_cast<double>(options_filter.ids().size()) / live;
  } else {
    // Estimate from a sample of slots (an unpublished slot counts as
    // failing), seeded by the query's contents, so the same query on the
    // same contents always takes the same path and gives the same answer.
    const uint32_t hw = meta.high_water();
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (uint32_t i = 0; i < dim; ++i) {
      uint32_t bits;
      std::memcpy(&bits, &query[i], sizeof bits);
      x = (x ^ bits) * 0x100000001b3ull;
    }
    x |= 1;  // xorshift needs a non-zero state
    int hits = 0, seen = 0;
    for (int i = 0; i < kSelectivitySamples * 2 && seen < kSelectivitySamples && hw > 0; ++i) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      const uint32_t slot = static_cast<uint32_t>(x % hw);
      const Metadata* m = meta.Get(slot);
      if (m == nullptr) continue;
      ++seen;
      hits += filter->Matches(graph.IdAtSlot(slot), *m) ? 1 : 0;
    }
    if (seen > 0) selectivity = static_cast<double>(hits) / seen;
  }
  const size_t n = graph.Search(query, k, ef, out, scratch, nullptr, &pred, selectivity,
                                kExactBelow, rerank);
  if (n >= k || selectivity < kExactBelow) return n;
  // The walk found fewer than k matches. Either fewer than k exist, or the
  // walk could not reach them (a sparse filter the sample overestimated, or
  // a node stranded by removals until the next audit). An exact scan gives
  // k results whenever k matches exist; with fewer it costs one scan.
  return graph.Search(query, k, ef, out, scratch, nullptr, &pred, /*selectivity=*/0.0,
                      kExactBelow);
}

}  // namespace db
}  // namespace omendb
