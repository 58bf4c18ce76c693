// HnswGraph: the storage and algorithms behind omendb::HnswIndex.
//
// Implements HNSW (Malkov and Yashunin, "Efficient and robust approximate
// nearest neighbor search using Hierarchical Navigable Small World graphs",
// TPAMI 2018): Algorithm 1 (INSERT), Algorithm 2 (SEARCH-LAYER), Algorithm 4
// (SELECT-NEIGHBORS-HEURISTIC, without the extendCandidates and
// keepPrunedConnections options, as in the reference implementation) and
// Algorithm 5 (K-NN-SEARCH). Deviations from the paper:
//  * SEARCH-LAYER keeps one sorted, fixed-capacity array of the ef best nodes
//    with a cursor to the best unexpanded one instead of the paper's two heaps
//    C and W. The array is exactly W; a candidate of C that is not in W is
//    farther than W's worst, so the paper's loop would stop on it anyway:
//    same visiting order and stopping rule, no heap allocation, fewer moves.
//  * Layer transitions pass only the nearest node found as the next entry
//    point (as hnswlib does) rather than all of W.
//  * A new node links to at most M neighbours on every layer including 0;
//    layer 0 lists may grow to M0 = 2M through back-links (paper section 4.2.2
//    recommends M_max0 = 2M).
//  * Levels are drawn from a hash of (seed, slot) rather than a sequential
//    generator, so a multi-threaded build draws the same levels as a
//    single-threaded one.
//
// Memory layout. Layer 0 is one 64-byte aligned array of fixed-size records,
// one per slot, each [code (the codec's code_bytes) | level u32 | flags u32 |
// id u64 | upper-links pointer u64 | count u32 | M0 neighbour slots u32], rounded
// up to a cache line. Without quantization the code is the float vector
// itself; with it (fp16, SQ8, RaBitQ) the record holds the compact code and
// the full-precision vectors live in a separate slot-indexed array of the
// same generation (its pointer sits in the 64 bytes before the records), read
// only to build the graph and to re-rank a search's final candidates. A hop
// reads the expanded node's record and then each neighbour's record, whose
// first cache lines hold the code the distance needs. Layers >= 1 (about 1/M
// of nodes) live in a separate per-node array [count, M slots] * level.
//
// Quantized search (algorithms.md 4.4): the walk, upper layers and layer 0,
// runs on estimated distances from the codes; the beam's best candidates are
// then re-ranked with exact distances to the full-precision vectors. With a
// codec that has an error bound (RaBitQ) a candidate whose lower bound is
// already beyond the k-th exact distance is skipped (RaBitQ paper section 4).
// Codes are trained once the index first holds quant_train_after vectors
// (HnswOptions); until then the walk uses exact distances.
//
// Concurrency. Writers (Insert) hold resize_mu_ shared and lock the per-node
// stripe of each list they modify. Readers take no lock: neighbour counts and
// slots are read and written through std::atomic_ref (acquire/release), so a
// reader sees either the old or the new value of each word, every slot it can
// read holds a valid node, and the node's vector, written before the first
// release-store that publishes a link to it, is visible to it. Growing the
// array takes resize_mu_ exclusively, copies, and publishes a new Storage; the
// old one is retired, not freed, until the graph is destroyed, so a reader
// still walking it stays safe (it may miss the newest inserts). Upper-layer
// lists are shared by all generations, so readers bound their slot ids by
// their generation's capacity there, and move only to nodes whose record in
// their generation has the layer (a slot claimed before a grow may be filled
// only in the newer generation).
#pragma once

#include <immintrin.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "omendb/hnsw_index.h"
#include "omendb/status.h"
#include "omendb/types.h"
#include "quant/codec.h"
#include "simd/distance.h"

namespace omendb::index_internal {

// Loads and stores of graph words shared with concurrent readers (see
// "Concurrency" above). On x86 both compile to plain moves.
inline uint32_t LoadAcq(const uint32_t* p) {
  return std::atomic_ref<uint32_t>(*const_cast<uint32_t*>(p)).load(std::memory_order_acquire);
}
inline void StoreRel(uint32_t* p, uint32_t v) {
  std::atomic_ref<uint32_t>(*p).store(v, std::memory_order_release);
}

// Decides whether a stored vector may be returned (filtered search). Gets the
// vector's id and its slot (the slot lets the database layer keep per-vector
// data in arrays indexed by slot, read without a lock).
using IdPredicate = std::function<bool(VectorId id, uint32_t slot)>;

// An (distance, slot) pair in a search beam. The top bit of `slot` marks a
// node whose neighbours were already expanded.
struct Candidate {
  float dist;
  uint32_t slot;
};

// Per-thread scratch, reused across searches (see SearchContext).
struct SearchScratch {
  std::vector<uint16_t> visited;  // epoch tag per slot
  uint16_t epoch = 0;
  std::vector<Candidate> pool;    // sorted beam, capacity >= ef
  std::vector<float> query;       // normalised copy of the query (cosine)
  std::vector<uint64_t> code_state;  // the codec's prepared query (64-byte aligned inside)
  std::vector<uint64_t> raw_state;   // the float codec's prepared query
  std::vector<Candidate> exact;      // re-ranked results
  std::vector<const uint8_t*> batch_ptr;
  std::vector<uint32_t> batch_slot;
  std::vector<float> batch_dist;
  std::vector<Candidate> frontier;  // filtered search: min-heap of unexpanded nodes
  // Build-only scratch.
  std::vector<Candidate> selected;
  std::vector<Candidate> prune;
};

// How one walk measures distance: a codec's kernels and prepared query, and
// whether they read the records' codes or the full-precision vectors.
struct DistOp {
  const void* state = nullptr;
  quant::CodeDistFn dist = nullptr;
  quant::CodeBatchFn batch = nullptr;
  // Two-stage batch (Codec::batch_bounded) or null: the beam search passes
  // its current worst distance, so a code that cannot enter the beam stops
  // after the first stage.
  quant::CodeBoundedBatchFn bounded = nullptr;
  bool raw = true;            // targets are full-precision vectors
  size_t prefetch_bytes = 0;  // bytes of each target to prefetch while gathering
};

class HnswGraph {
 public:
  static constexpr uint32_t kNoSlot = 0xFFFFFFFFu;
  static constexpr uint32_t kExpandedBit = 0x80000000u;
  static constexpr size_t kMaxSlots = 0x7FFFFFFFu;  // slots use 31 bits
  static constexpr uint32_t kDeletedFlag = 1u;      // in a record's flags word
  // With kDeletedFlag: no edge points to the record any more
  // (ConsolidateRemoved), so its slot can be reused.
  static constexpr uint32_t kUnlinkedFlag = 2u;
  // Vamana-style relaxation used when repairing after a delete (MN-RU gamma
  // prunes with alpha = 1.1; algorithms.md section 3.3).
  static constexpr float kRepairAlpha = 1.1f;

  explicit HnswGraph(const HnswOptions& options);
  ~HnswGraph();

  // Checks the quantization options (the codec kind is built and its bit
  // count valid). Other options are checked by HnswIndex::Create.
  static Status CheckOptions(const HnswOptions& options);

  const HnswOptions& options() const { return opt_; }
  bool quantized() const { return quantized_; }
  // The trained codec, or null (no quantization, or not trained yet).
  const quant::Codec* codec() const { return codec_.load(std::memory_order_acquire); }
  // Trains the codec (if quantized and not yet trained) on a sample of the
  // stored vectors plus extra[0 .. extra_rows*dim) (raw user rows, may be
  // null), encodes every stored vector and publishes the codec. Searches may
  // run concurrently (they switch to codes once it is published); inserts
  // wait. A no-op when already trained.
  Status TrainQuantizer(const float* extra, size_t extra_rows);
  // Installs an already trained codec (snapshot load). Same effect as
  // TrainQuantizer but without training.
  // `encode` = false keeps the records' codes as they are (a snapshot's,
  // written by the same codec).
  Status InstallCodec(std::unique_ptr<quant::Codec> codec, bool encode = true);
  const simd::Kernels& kernels() const { return *kernels_; }

  // Validates a vector of dim floats (finite; non-zero under cosine).
  Status ValidateVector(const float* v, const char* what) const;

  Status Reserve(size_t capacity);
  // Inserts one validated vector. Safe to call from several threads.
  Status Insert(VectorId id, const float* vec, SearchScratch& scratch);

  // Algorithm 5: writes up to k results (nearest first) to out. With a
  // predicate, or once any vector was removed, layer 0 runs the filtered
  // search: every node guides the walk, only live nodes passing `filter`
  // enter the results, and the walk ends only when the nearest unexpanded
  // node is farther than the worst of ef results, so k results come back
  // whenever k passing vectors are reachable. `exact_below` in (0, 1]: if the
  // caller's estimate of the passing fraction is below it, an exact scan of
  // the passing vectors replaces the graph walk.
  // `rerank` (quantized indexes only): how many of the beam's best
  // candidates get an exact distance; 0 = automatic (the whole beam, pruned
  // by the error bound, for a codec with a bound; 2k otherwise).
  size_t Search(const float* query, size_t k, size_t ef, Neighbor* out, SearchScratch& scratch,
                SearchStats* stats, const IdPredicate* filter = nullptr,
                double selectivity = 1.0, double exact_below = 0.0, size_t rerank = 0) const;

  // Removes `id`: its record is flagged deleted (searches still walk through
  // it but never return it) and, following MN-RU gamma, every mutual
  // neighbour n (n links to it and it links to n) gets its list re-selected
  // from N(n) + N(deleted) with the alpha = 1.1 heuristic, which drops the
  // edge to the deleted node. Other nodes may still link to it (searches
  // pass through it, never return it) until ConsolidateRemoved. NotFound if
  // absent.
  Status Remove(VectorId id, SearchScratch& scratch);
  // Removed records, linked or not, including free slots not yet reused.
  size_t deleted_count() const { return deleted_.load(std::memory_order_acquire); }
  // Removed records some edge may still point to.
  size_t linked_removed() const { return linked_removed_.load(std::memory_order_acquire); }

  // Delete consolidation (FreshDiskANN, Singh et al. 2021, Algorithm 4;
  // algorithms.md 3.5 item 3 applied to every in-neighbour, not only mutual
  // ones): every live node with an edge to a removed record re-selects that
  // layer's list from its live neighbours plus the live neighbours of the
  // removed ones (on layer 0 also the result of a width-M0 beam search from
  // the node itself), with the alpha = 1.1 heuristic. Afterwards no edge points
  // to a removed record; they are flagged kUnlinkedFlag and their slots
  // appended to `unlinked`. If the entry point was removed, the live node of
  // highest level becomes the entry. Searches may run concurrently (they may
  // still be walking through the unlinked records); inserts and removals
  // may not. Returns how many records were unlinked.
  size_t ConsolidateRemoved(SearchScratch& scratch, std::vector<uint32_t>* unlinked);
  // Makes unlinked slots (from ConsolidateRemoved) available to Insert. The
  // caller guarantees no search can still be reading them: every search that
  // could have reached them before they were unlinked has finished (the
  // database waits out a grace period, util::ReadGate). Not concurrently
  // with inserts.
  void ReleaseSlots(const std::vector<uint32_t>& slots);
  size_t free_slots() const;

  // Makes every node reachable on layer 0 from the entry point. HNSW's
  // pruning can leave a node with no in-edge (a handful per 10^4 with a
  // concurrent build). For each such node this finds, by a layer-0 search for
  // its vector, the nearest reachable node and links it to the orphan,
  // preferring a node with a free slot so no existing edge is dropped;
  // repeats until a breadth-first audit finds none (at most `max_rounds`).
  // Returns the number of nodes still unreachable (0 unless the rounds ran
  // out). Must not run concurrently with Insert.
  size_t RepairReachability(SearchScratch& scratch, int max_rounds = 8);

  // Renumbers the slots so that nodes a search visits together sit together
  // in memory (breadth-first order over layer 0 from the entry point; see
  // HnswIndex::Reorder). Ids, links, codes and vectors move with their
  // slots; vectors read from a mapping are copied into memory. Must not run
  // concurrently with any other call, searches included.
  Status Reorder();

  // Snapshot (docs/format/hnsw_snapshot.md): writes the graph as a
  // sequence of byte chunks to `sink`. Must not run concurrently with
  // writers (searches are fine).
  Status Serialize(const std::function<Status(std::string_view)>& sink) const;
  // Rebuilds a graph from a snapshot, checking every count, id and checksum:
  // Corruption (never a crash) for any malformed input.
  // With `mapping` (which keeps `bytes` valid while it lives), a quantized
  // snapshot's full-precision vectors are read in place instead of copied:
  // they stay in the (file-backed) pages until a write needs them in memory
  // (an insert into a reused slot, or growth copies them).
  static Result<std::unique_ptr<HnswGraph>> Deserialize(
      std::string_view bytes, std::shared_ptr<const void> mapping = nullptr);
  // True while the full-precision vectors are read from a mapping.
  bool raw_mapped() const { return !storage_.load(std::memory_order_acquire)->raw_owned; }

  bool Lookup(VectorId id, uint32_t* slot) const;
  // Calls fn(id, slot) for every live vector, in no particular order, under
  // the id map's shared lock (fn must not call back into the graph's writers).
  void ForEachLive(const std::function<void(VectorId, uint32_t)>& fn) const;
  void CopyVector(uint32_t slot, float* out) const;
  // Id stored in `slot`, which must hold a vector (slot < the number of
  // slots ever filled). Lock-free.
  VectorId IdAtSlot(uint32_t slot) const {
    return IdOf(storage_.load(std::memory_order_acquire)->base, slot);
  }

  size_t size() const { return size_.load(std::memory_order_acquire); }
  size_t capacity() const { return storage_.load(std::memory_order_acquire)->capacity; }
  size_t MemoryBytes() const;
  // Parts of MemoryBytes(): layer-0 records (codes + links + headers), upper
  // layers, the full-precision store of a quantized index, the id map.
  struct Memory {
    size_t records = 0, code_bytes_per_vector = 0, upper = 0, raw = 0, ids = 0;
  };
  Memory MemoryParts() const;
  GraphReport Check() const;

 private:
  // One generation of the layer-0 array (see "Concurrency" above). Frees
  // its block and, if owned, its raw array when destroyed.
  struct Storage {
    Storage() = default;
    Storage(const Storage&) = delete;
    Storage& operator=(const Storage&) = delete;
    ~Storage();
    char* block = nullptr;  // allocation: 64-byte prefix, then the records
    char* base = nullptr;   // block + 64
    float* raw = nullptr;   // quantized: capacity * dim floats (pointer also at base - 64)
    bool raw_owned = true;  // false: raw points into mapping_
    size_t capacity = 0;
  };

  // Record field access. `base` is a Storage's base pointer.
  float* VecPtr(char* base, uint32_t slot) const {
    return reinterpret_cast<float*>(base + static_cast<size_t>(slot) * stride_);
  }
  const float* VecPtr(const char* base, uint32_t slot) const {
    return reinterpret_cast<const float*>(base + static_cast<size_t>(slot) * stride_);
  }
  uint32_t* Header(const char* base, uint32_t slot) const {
    return reinterpret_cast<uint32_t*>(const_cast<char*>(base) +
                                       static_cast<size_t>(slot) * stride_ + header_off_);
  }
  // Neighbour list of `slot` on `layer`: [count, slots...].
  uint32_t* List(const char* base, uint32_t slot, uint32_t layer) const;
  uint32_t Level(const char* base, uint32_t slot) const { return Header(base, slot)[0]; }
  bool IsDeleted(const char* base, uint32_t slot) const {
    return (LoadAcq(Header(base, slot) + 1) & kDeletedFlag) != 0;
  }
  // Atomic (relaxed): a scan over all slots may read the id of a record an
  // insert is writing; such a record is not published yet, and callers that
  // need its id use it only after observing its publication.
  VectorId IdOf(const char* base, uint32_t slot) const {
    return std::atomic_ref<uint64_t>(*reinterpret_cast<uint64_t*>(Header(base, slot) + 2))
        .load(std::memory_order_relaxed);
  }

  // Full-precision vector of `slot`: the record's own floats without
  // quantization, else the generation's separate array (see the layout).
  const float* RawVec(const char* base, uint32_t slot) const {
    if (!quantized_) return VecPtr(base, slot);
    const float* raw;
    std::memcpy(&raw, base - kPrefix, sizeof raw);
    return raw + static_cast<size_t>(slot) * opt_.dim;
  }
  const uint8_t* Code(const char* base, uint32_t slot) const {
    return reinterpret_cast<const uint8_t*>(base + static_cast<size_t>(slot) * stride_);
  }
  const uint8_t* Target(const char* base, uint32_t slot, bool raw) const {
    return raw ? reinterpret_cast<const uint8_t*>(RawVec(base, slot)) : Code(base, slot);
  }
  float OpDist(const DistOp& op, const char* base, uint32_t slot) const {
    return op.dist(op.state, Target(base, slot, op.raw));
  }
  // Prepares exact (full-precision) distances to q in s.raw_state.
  DistOp RawOp(const float* q, SearchScratch& s) const;
  // Prepares code distances to q in s.code_state.
  DistOp CodeOp(const quant::Codec& codec, const float* q, SearchScratch& s) const;
  // Re-ranks pool[0..n) (estimates, nearest first) with exact distances into
  // the best min(k, ...) and leaves them sorted in pool; returns the count.
  size_t Rerank(const char* base, const float* q, size_t k, size_t n, size_t rerank,
                const quant::Codec& codec, const DistOp& op, SearchScratch& s,
                uint64_t* exact) const;
  Status InsertLocked(VectorId id, const float* vec, SearchScratch& scratch);

  float Distance(const float* a, const float* b) const {
    return opt_.metric == Metric::kL2 ? kernels_->l2sq(a, b, opt_.dim)
                                      : 1.0f - kernels_->dot(a, b, opt_.dim);
  }

  uint32_t DrawLevel(uint32_t slot) const;
  Status Grow(size_t min_capacity);
  // Allocates a new generation of exactly `cap` slots holding the current
  // one's records and vectors (raw = `raw_from` instead, not owned, if
  // set). Requires resize_mu_ exclusively.
  Status NewGeneration(size_t cap, const float* raw_from);
  // A generation of `cap` slots with a zeroed prefix and uninitialised
  // records. A quantized index gets the full-precision array: `raw_from`
  // (borrowed, not owned) if set, else a new owned one, uninitialised. Null
  // when out of memory.
  std::unique_ptr<Storage> AllocStorage(size_t cap, const float* raw_from) const;

  // Collects the neighbours list[1..cnt] not yet tagged `epoch`, tags them,
  // starts loading their vectors (see gather_prefetch_bytes_), and writes
  // their vector pointers and slots to ptr/slot; returns how many.
  size_t GatherUnvisited(const char* base, const uint32_t* list, uint32_t cnt, uint16_t* visited,
                         uint16_t epoch, const DistOp& op, const uint8_t** ptr,
                         uint32_t* slot) const {
    size_t nb = 0;
    for (uint32_t j = 1; j <= cnt; ++j) {
      uint32_t v = LoadAcq(list + j);
      if (visited[v] == epoch) continue;
      visited[v] = epoch;
      ptr[nb] = PrefetchTarget(base, v, op);
      slot[nb] = v;
      ++nb;
    }
    return nb;
  }
  // The op's target for slot v, its first op.prefetch_bytes requested.
  const uint8_t* PrefetchTarget(const char* base, uint32_t v, const DistOp& op) const {
    const uint8_t* vp = Target(base, v, op.raw);
    for (size_t off = 0; off < op.prefetch_bytes; off += 64) {
      _mm_prefetch(reinterpret_cast<const char*>(vp) + off, _MM_HINT_T0);
    }
    return vp;
  }

  // Greedy descent on `layer` (SEARCH-LAYER with ef = 1) over the records
  // of one generation of the array, whose capacity is `limit`. Uses the
  // scratch's batch arrays (EnsureScratch first).
  uint32_t Greedy(const char* base, size_t limit, const DistOp& op, uint32_t entry,
                  float* entry_dist, uint32_t layer, SearchScratch& s, uint64_t* dists) const;
  // Algorithm 2 on `layer` from `entry`, beam width ef. Leaves the beam,
  // sorted nearest first, in scratch.pool and returns its size.
  size_t SearchLayer(const char* base, const DistOp& op, uint32_t entry, float entry_dist,
                     size_t ef, uint32_t layer, SearchScratch& s, uint64_t* dists,
                     uint64_t* hops) const;
  // Algorithm 4 over `cands` (sorted nearest first, distances to the base
  // node): keeps at most `max` into `out`. With alpha > 1 a candidate is
  // dropped only if a kept neighbour is alpha times nearer to it than the
  // base node is (Vamana's RobustPrune rule), keeping more long edges.
  void SelectHeuristic(const char* base, const Candidate* cands, size_t n, size_t max,
                       std::vector<Candidate>& out, float alpha = 1.0f) const;
  // The filtered layer-0 search described at Search(). Results (passing,
  // live) are left sorted in scratch.pool; returns their count.
  size_t SearchLayerFiltered(const char* base, const DistOp& op, uint32_t entry,
                             float entry_dist, size_t ef, const IdPredicate* filter,
                             SearchScratch& s, uint64_t* dists, uint64_t* hops) const;
  // Exact scan over live slots passing `filter`; results sorted in scratch.pool.
  size_t ScanFiltered(const char* base, const float* q, size_t k, const IdPredicate* filter,
                      SearchScratch& s, uint64_t* dists) const;
  bool Passes(const char* base, uint32_t slot, const IdPredicate* filter) const {
    if (IsDeleted(base, slot)) return false;
    return filter == nullptr || (*filter)(IdOf(base, slot), slot);
  }
  size_t slots() const {
    std::shared_lock idl(id_mu_);
    return next_slot_;
  }
  // Adds `from` to `to`'s list on `layer`, pruning `to`'s list with the
  // heuristic when full. Locks `to`'s stripe.
  void AddLink(const char* base, uint32_t to, uint32_t from, float dist, uint32_t layer,
               SearchScratch& s);
  // Marks mark[v] = 1 for every node reachable on layer 0 from the entry
  // point; returns how many.
  size_t MarkReachable(const char* base, std::vector<uint8_t>& mark) const;
  // Breadth-first from `start` over unmarked nodes (mark.size() = node
  // count); returns how many it newly marked.
  size_t MarkFrom(const char* base, uint32_t start, std::vector<uint8_t>& mark) const;
  void EnsureScratch(SearchScratch& s, size_t beam, size_t capacity) const;

  std::mutex& NodeLock(uint32_t slot) const { return node_locks_[slot & (kLockStripes - 1)]; }

  static constexpr size_t kLockStripes = 4096;
  static constexpr size_t kPrefix = 64;  // bytes before each generation's records

  HnswOptions opt_;
  const simd::Kernels* kernels_;
  bool quantized_;
  std::unique_ptr<quant::Codec> float_codec_;  // exact distances (build, re-rank, untrained)
  std::atomic<const quant::Codec*> codec_{nullptr};  // trained codes, published once
  std::unique_ptr<quant::Codec> codec_owned_;
  size_t code_bytes_;  // bytes of a record's code (the codec's code_bytes)
  uint32_t max_m_;   // M: bound on layers >= 1
  uint32_t max_m0_;  // M0 = 2M: bound on layer 0
  double level_mult_;  // mL = 1 / ln(M)
  size_t header_off_;  // offset of the count/level/id/upper header in a record
  size_t stride_;      // bytes per record, multiple of 64
  size_t raw_prefetch_bytes_;   // bytes of a full-precision vector prefetched while gathering
  size_t code_prefetch_bytes_;  // bytes of a code prefetched while gathering

  std::atomic<Storage*> storage_;
  std::vector<std::unique_ptr<Storage>> all_storage_;  // current + retired; guarded by resize_mu_
  mutable std::shared_mutex resize_mu_;

  // Entry point slot in the low 32 bits, max level in the high 32 bits; kNoSlot when empty.
  std::atomic<uint64_t> entry_;
  std::mutex entry_mu_;  // held by an insert that may raise the max level

  mutable std::shared_mutex id_mu_;
  std::unordered_map<VectorId, uint32_t> id_to_slot_;  // guarded by id_mu_
  size_t next_slot_ = 0;                               // guarded by id_mu_
  std::atomic<size_t> size_{0};                        // live vectors (completed inserts - removals)
  std::atomic<size_t> deleted_{0};                     // removed (flagged) records
  std::atomic<size_t> linked_removed_{0};  // removed records not yet unlinked
  std::vector<uint32_t> free_slots_;       // guarded by id_mu_; reused by Insert
  std::atomic<size_t> upper_bytes_{0};

  std::unique_ptr<std::mutex[]> node_locks_;
  std::shared_ptr<const void> mapping_;  // keeps mapped vectors valid
};

}  // namespace omendb::index_internal
