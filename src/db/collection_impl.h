// CollectionImpl: one collection of the database: an HNSW index plus the
// metadata of each vector, readable without locks while one writer changes
// them (docs/design/db.md, "Concurrency").
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "omendb/db.h"
#include "index/hnsw_graph.h"
#include "util/read_gate.h"

namespace omendb::db {

class DbImpl;

// Metadata of each graph slot, as a pointer per slot in fixed-size chunks
// that never move, so readers find a slot's metadata with two loads and no
// lock. The single writer publishes a slot's metadata after the vector is in
// the graph (a reader seeing no metadata treats the vector as not there yet)
// and unpublishes it on removal; unpublished objects are freed by
// FreeRetired once no reader can hold them (ReadGate).
class MetadataTable {
 public:
  MetadataTable();
  ~MetadataTable();
  MetadataTable(const MetadataTable&) = delete;
  MetadataTable& operator=(const MetadataTable&) = delete;

  // The metadata of `slot`, or null if none is published. Any thread, inside
  // a ReadGate section of the owning collection.
  const Metadata* Get(uint32_t slot) const;
  // Writer only. Publishes `m` (owned by the table from now on) for `slot`.
  // Returns false if memory for the slot's chunk could not be allocated.
  bool Publish(uint32_t slot, std::unique_ptr<Metadata> m);
  // Writer only. Unpublishes `slot`; the object is kept until FreeRetired.
  void Unpublish(uint32_t slot);
  // Writer only, after ReadGate::Synchronize: frees unpublished objects.
  void FreeRetired();
  // One more than the highest slot ever published (for sampling).
  uint32_t high_water() const { return high_water_.load(std::memory_order_acquire); }
  size_t bytes() const { return bytes_.load(std::memory_order_relaxed); }

 private:
  static constexpr uint32_t kChunkBits = 16;
  static constexpr uint32_t kChunkSize = 1u << kChunkBits;
  static constexpr uint32_t kNumChunks = 1u << (32 - kChunkBits);
  using Chunk = std::atomic<const Metadata*>;
  std::unique_ptr<std::atomic<Chunk*>[]> chunks_;  // kNumChunks entries
  std::vector<const Metadata*> retired_;            // writer only
  std::atomic<uint32_t> high_water_{0};
  std::atomic<size_t> bytes_{0};
};

// Everything a search reads, replaced as a whole by compaction.
struct CollectionState {
  std::unique_ptr<HnswIndex> index;
  MetadataTable meta;
};

class CollectionImpl final : public Collection {
 public:
  // A new, empty collection (InvalidArgument for bad options).
  static Result<std::unique_ptr<CollectionImpl>> Create(DbImpl* db, std::string name,
                                                       const CollectionOptions& options);
  // A collection over an index loaded from a checkpoint; its metadata is
  // added with LoadMetadata.
  CollectionImpl(DbImpl* db, std::string name, const CollectionOptions& options,
                 std::unique_ptr<CollectionState> state);
  ~CollectionImpl() override;

  Status Upsert(std::span<const VectorId> ids, std::span<const float> vectors,
                std::span<const Metadata> metadata, const WriteOptions& options) override;
  Status Delete(std::span<const VectorId> ids, const WriteOptions& options) override;
  Result<Record> Get(VectorId id) const override;
  bool Contains(VectorId id) const override;
  Result<size_t> Search(std::span<const float> query, const SearchOptions& options,
                        std::span<Neighbor> out) const override;
  using Collection::Search;
  size_t size() const override;
  const std::string& name() const override { return name_; }
  const CollectionOptions& options() const override { return options_; }
  CollectionStats Stats() const override;

  // ---- Writer side: called by DbImpl while it holds the writer position. ----

  // Applies a logged upsert. `vectors` holds ids.size() * dim floats.
  // `metadata` is null or has one entry per id (moved from). With
  // `parallel`, large batches are inserted on the database's threads;
  // replay passes false so that it is deterministic.
  Status ApplyUpsert(std::span<const VectorId> ids, const float* vectors, Metadata* metadata,
                     bool parallel);
  Status ApplyDelete(std::span<const VectorId> ids);
  // Sets the metadata of `id` while loading a checkpoint (Corruption if the
  // id is not a live vector or already has metadata).
  Status LoadMetadata(VectorId id, Metadata metadata);
  // Gives every live vector without metadata the empty metadata (after load).
  Status FinishLoad();
  // Writes the index snapshot / the metadata section for a checkpoint.
  Status SaveIndex(const std::function<Status(std::string_view)>& sink) const;
  std::string EncodeMetadataSection() const;
  // Rebuilds the index without removed vectors and swaps it in; searches
  // keep using the old one until they finish.
  Status Compact(int threads);
  // Fraction of records that are removed vectors.
  double DeletedFraction() const;
  // Audit (consolidation, reconnection, slot release); returns how many
  // nodes were unreachable before.
  size_t RepairReachability();
  GraphReport CheckGraph() const;
  // Frees metadata unpublished by removals once no search can hold it.
  void ReleaseRetired();
  // Writer only: runs the reachability audit if any change was applied since
  // the last one (DB::Verify runs it first).
  void AuditPending();

 private:
  CollectionState* state() const { return state_.load(std::memory_order_acquire); }
  // Runs Audit once enough changes accumulated.
  void AuditAfter(size_t changes);
  // Writer only, outside any read-side section: consolidates removals,
  // reconnects unreachable nodes, and frees the unlinked slots for reuse.
  void Audit();
  // One search of `k` hits into `out` (unfiltered when `filter` is null;
  // `options_filter` is the filter it was compiled from). Inside a ReadGate
  // section of its own.
  size_t SearchCore(const float* query, size_t k, size_t ef, size_t rerank,
                    const Filter& options_filter,
                    const CompiledFilter* filter, Neighbor* out,
                    index_internal::SearchScratch& scratch) const;
  // Keeps the first hit of each id; returns how many remain.
  static size_t Dedup(Neighbor* out, size_t n);
  // One look at `id` inside a read-side section; never waits (a caller that
  // must wait does so outside the section, or a writer's grace period could
  // wait for it). kRetry: a write in flight hides the answer.
  enum class Probe { kFound, kAbsent, kIncomplete, kRetry };
  Probe ProbeRecord(VectorId id, Record* out) const;

  DbImpl* const db_;
  const std::string name_;
  const CollectionOptions options_;
  util::ReadGate gate_;
  std::atomic<CollectionState*> state_;
  // Odd while ApplyUpsert replaces ids (between removing the old vectors and
  // publishing the new ones), so Get and Contains can wait out the moment an
  // id being replaced is absent instead of reporting it missing.
  std::atomic<uint64_t> replacing_{0};
  // Odd while any ApplyUpsert or ApplyDelete runs. An id is registered in the
  // graph before its metadata is published; Get uses this to tell such an
  // insert in flight (wait for it) from a record left incomplete by a failed
  // write (report it).
  std::atomic<uint64_t> applying_{0};
  size_t changes_since_audit_ = 0;  // writer only; see AuditAfter

};

}  // namespace omendb::db
