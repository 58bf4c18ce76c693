// HnswIndex: OmenDB's in-memory approximate nearest-neighbour graph index
// (Hierarchical Navigable Small World graphs, Malkov and Yashunin, TPAMI 2018).
//
// Typical use:
//   HnswOptions opt; opt.dim = 128;
//   auto index = HnswIndex::Create(opt);              // Result<unique_ptr<HnswIndex>>
//   Status s = (*index)->AddBatch(vectors, ids);      // n * dim floats, n ids
//   Neighbor hits[10];
//   auto n = (*index)->Search(query, 10, /*ef=*/64, hits);
//
// Thread safety: every const method may run concurrently with any other const
// method. Add/AddBatch may run concurrently with each other and with searches:
// searches never take a lock and never block; a search that overlaps an insert
// may or may not see the vector being inserted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "omendb/status.h"
#include "omendb/types.h"

namespace omendb {

namespace index_internal {
class HnswGraph;
struct SearchScratch;
struct IndexAccess;  // the database layer's access to the graph (src/index/index_access.h)
}  // namespace index_internal

// Construction parameters, fixed for the life of an index.
struct HnswOptions {
  uint32_t dim = 0;                  // vector dimension, 1..65536 (required)
  Metric metric = Metric::kL2;
  uint32_t M = 16;                   // out-degree bound on upper layers ("M" in the paper), 2..512;
                                     // layer 0 allows 2*M ("M_max0")
  uint32_t ef_construction = 200;    // beam width while inserting ("efConstruction"), 1..100000
  uint64_t seed = 42;                // level sampling; same seed + same inserts = same graph
  size_t initial_capacity = 0;       // slots reserved up front; the index grows as needed
  // How the graph walk reads vectors (types.h). With quantization the walk
  // compares compact codes and the final candidates are re-ranked against
  // the full-precision vectors, which the index keeps beside the codes.
  Quantization quant;
  // Quantized indexes train their codec once they first hold this many
  // vectors (an AddBatch that reaches it trains on its own rows first);
  // until then searches use exact distances. >= 1.
  uint32_t quant_train_after = 1000;
};

// Per-search parameters beyond k.
struct SearchParams {
  size_t ef = 64;      // beam width on layer 0 (max(ef, k) is used)
  // Quantized indexes: how many of the beam's best candidates are re-ranked
  // with exact distances. 0 = automatic: every beam candidate whose error
  // bound says it can still be among the k nearest (RaBitQ), or 2k (fp16,
  // SQ8). Ignored without quantization.
  size_t rerank = 0;
};

// Reusable per-thread search state: the visited-set array (epoch tagged, so
// clearing it is O(1)), the candidate buffer and scratch for the query. After
// its first search against an index of a given size it makes no further heap
// allocation. Not thread-safe: use one context per thread. May be used with
// several indexes (it grows to the largest).
class SearchContext {
 public:
  SearchContext();
  ~SearchContext();
  SearchContext(SearchContext&&) noexcept;
  SearchContext& operator=(SearchContext&&) noexcept;
  SearchContext(const SearchContext&) = delete;
  SearchContext& operator=(const SearchContext&) = delete;

 private:
  friend class HnswIndex;
  friend struct index_internal::IndexAccess;
  std::unique_ptr<index_internal::SearchScratch> scratch_;
};

// Work counters of one search (optional output of Search).
struct SearchStats {
  uint64_t distance_computations = 0;  // distances evaluated during the walk (codes if quantized)
  uint64_t hops = 0;                   // nodes whose neighbour lists were expanded
  uint64_t reranked = 0;               // exact distances computed to re-rank (quantized)
};

// MemoryBytes() broken down.
struct IndexMemory {
  size_t graph_bytes = 0;     // layer-0 records (codes, links, headers) and upper layers
  size_t code_bytes_per_vector = 0;  // of a record: the vector (float32) or its code
  size_t rerank_bytes = 0;    // full-precision vectors kept beside the codes (quantized only)
  size_t id_map_bytes = 0;
  bool rerank_mapped = false;  // the re-rank store is read in place from a mapping (Load)
};

// Called from the inserting threads as work completes: (done, total). May be
// called concurrently from several threads; must be thread-safe and cheap.
using ProgressCallback = std::function<void(size_t done, size_t total)>;

// Result of CheckGraph(): structural invariants of the graph.
struct GraphReport {
  size_t nodes = 0;              // live vectors in the index
  size_t deleted = 0;            // removed vectors whose records are not yet reclaimed
  size_t reachable = 0;          // live nodes reachable on layer 0 from the entry point
  size_t degree_violations = 0;  // lists longer than their layer's bound
  size_t self_loops = 0;
  size_t duplicate_edges = 0;
  size_t invalid_edges = 0;      // edges to slots that hold no vector, or above a node's level
  size_t max_level = 0;
  bool ok() const {
    return reachable == nodes && degree_violations == 0 && self_loops == 0 &&
           duplicate_edges == 0 && invalid_edges == 0;
  }
};

class HnswIndex {
 public:
  // Creates an empty index. InvalidArgument if an option is out of range.
  static Result<std::unique_ptr<HnswIndex>> Create(const HnswOptions& options);

  ~HnswIndex();
  HnswIndex(const HnswIndex&) = delete;
  HnswIndex& operator=(const HnswIndex&) = delete;

  // Inserts one vector (exactly dim() floats, copied) under `id`.
  // Errors: InvalidArgument (wrong size, NaN/inf, zero vector under cosine),
  // AlreadyExists (id present), ResourceExhausted (out of memory or more than
  // 2^32 - 1 vectors).
  Status Add(VectorId id, std::span<const float> vector);

  // Inserts ids.size() vectors stored row-major in `vectors` (ids.size() * dim()
  // floats) using `num_threads` threads (0 = all cores). All rows are validated
  // before anything is inserted; on a validation error nothing is added.
  // The graph built with several threads differs from the one-thread graph but
  // has the same quality. `progress`, if set, is called as rows complete.
  Status AddBatch(std::span<const float> vectors, std::span<const VectorId> ids,
                  int num_threads = 1, const ProgressCallback& progress = nullptr);

  // Reserves room for `capacity` vectors so later inserts do not reallocate.
  Status Reserve(size_t capacity);

  // Finds the k nearest stored vectors to `query` (dim() floats) exploring a
  // beam of max(ef, k) candidates on layer 0, and writes them nearest first to
  // out[0..n); returns n (== k unless the index holds fewer reachable
  // vectors). Larger ef = higher recall, slower. Zero heap allocations once
  // `context` has served an index of this size (a thread-local context is used
  // when `context` is null). `stats`, if set, receives the work counters.
  // Errors: InvalidArgument (wrong query size, NaN/inf, k == 0, k > size(),
  // out.size() < k), FailedPrecondition (empty index).
  Result<size_t> Search(std::span<const float> query, size_t k, size_t ef,
                        std::span<Neighbor> out, SearchContext* context = nullptr,
                        SearchStats* stats = nullptr) const;

  // Search with every parameter (SearchParams); same contract. Results of a
  // quantized index carry exact distances (of the re-ranked candidates).
  Result<size_t> Search(std::span<const float> query, size_t k, const SearchParams& params,
                        std::span<Neighbor> out, SearchContext* context = nullptr,
                        SearchStats* stats = nullptr) const;

  // Convenience form returning a new vector (allocates).
  Result<std::vector<Neighbor>> Search(std::span<const float> query, size_t k, size_t ef) const;

  // Like Search, but returns only vectors whose id passes `filter` (called
  // from the searching thread, possibly many times; must be thread-safe if
  // searches run concurrently). The walk still crosses failing nodes, so it
  // returns k results whenever k passing vectors exist and are reachable;
  // the rarer the passing vectors, the more of the graph it visits. If
  // `selectivity` (the caller's estimate of the passing fraction, 0..1) is
  // below `exact_below`, an exact scan of the passing vectors is used
  // instead: exact results, one predicate call per stored vector.
  // Errors as for Search; k may exceed the number of passing vectors (fewer
  // results are returned).
  Result<size_t> SearchFiltered(std::span<const float> query, size_t k, size_t ef,
                                const std::function<bool(VectorId)>& filter,
                                std::span<Neighbor> out, double selectivity = 1.0,
                                double exact_below = 0.02, SearchContext* context = nullptr,
                                SearchStats* stats = nullptr) const;

  // Removes `id`. Later searches never return it; the graph around it is
  // repaired (MN-RU: its mutual neighbours re-select their lists) so the
  // remaining vectors stay reachable. Its memory is not reclaimed until the
  // index is rebuilt. Safe to run concurrently with searches and inserts.
  // Errors: NotFound.
  Status Remove(VectorId id);

  // Searches nq = queries.size() / dim() queries on `num_threads` threads
  // (0 = all cores). Results of query i go to out[i*k .. i*k + counts[i]);
  // out must hold nq*k entries and counts nq. Errors as for Search, and for a
  // query count that is not a whole multiple of dim().
  Status SearchBatch(std::span<const float> queries, size_t k, size_t ef, std::span<Neighbor> out,
                     std::span<uint32_t> counts, int num_threads = 0) const;
  Status SearchBatch(std::span<const float> queries, size_t k, const SearchParams& params,
                     std::span<Neighbor> out, std::span<uint32_t> counts,
                     int num_threads = 0) const;

  // Writes a snapshot of the whole index (vectors, graph, ids, removal
  // flags; format in docs/format/hnsw_snapshot.md, with checksums) as a
  // sequence of chunks to `sink`; a non-OK Status from the sink stops it and
  // is returned. Must not run concurrently with Add/AddBatch/Remove.
  Status Save(const std::function<Status(std::string_view)>& sink) const;

  // Rebuilds an index from a snapshot written by Save. Every size, count,
  // neighbour id and checksum is verified: a truncated or altered snapshot
  // gives Corruption (NotSupported for an unknown version), never a crash.
  static Result<std::unique_ptr<HnswIndex>> Load(std::string_view snapshot);

  // Like Load, for a snapshot whose bytes stay valid as long as `owner`
  // lives (typically a memory-mapped file that `owner` unmaps when
  // destroyed). A quantized index then reads its full-precision re-rank
  // vectors in place from those bytes instead of copying them; they are
  // copied into memory only if a later insert reuses a slot or grows the
  // index. The index keeps `owner` alive.
  static Result<std::unique_ptr<HnswIndex>> Load(std::string_view snapshot,
                                                 std::shared_ptr<const void> owner);

  // Copies the stored vector of `id` (as stored: normalised under cosine).
  // NotFound if absent; InvalidArgument if out.size() != dim().
  Status GetVector(VectorId id, std::span<float> out) const;
  bool Contains(VectorId id) const;

  size_t size() const;           // live vectors
  size_t deleted_count() const;  // removed vectors still holding records
  size_t capacity() const;
  uint32_t dim() const;
  Metric metric() const;
  const HnswOptions& options() const;

  // Bytes held by the index's own structures (vectors, codes, graph, id map;
  // not vectors read in place from a mapping, see Load).
  size_t MemoryBytes() const;
  IndexMemory Memory() const;

  // The quantization in use ("none", "sq8", ...) and whether its codec is
  // trained yet (always true for "none").
  Quantization quantization() const;
  bool quantizer_trained() const;

  // Name of the SIMD kernel set chosen for this CPU ("avx512", "avx2", "scalar").
  const char* KernelName() const;

  // Lays the graph out again so that vectors a search visits together sit
  // together in memory: slots renumbered in breadth-first order from the
  // entry point (Coleman et al., "Graph Reordering for Cache-Efficient Near
  // Neighbor Search", NeurIPS 2022, which reports up to 40% lower query time
  // on large indexes; docs/design/hnsw.md has what it measured here).
  // Searches return exactly the same results afterwards. Takes O(N) time
  // and, while it runs, a second copy of the layer-0 records (and of the
  // re-rank vectors of a quantized index, which afterwards live in memory
  // even if the index was loaded from a mapping). Must not run concurrently
  // with any other call on the index, searches included. Errors:
  // ResourceExhausted (out of memory; the index is then unchanged).
  Status Reorder();

  // Walks the whole graph and checks its invariants. O(N * M). Safe to call
  // concurrently with searches; results are only meaningful with no writer.
  GraphReport CheckGraph() const;

 private:
  friend struct index_internal::IndexAccess;
  explicit HnswIndex(std::unique_ptr<index_internal::HnswGraph> graph);
  // The argument checks Search and SearchFiltered share (see their Errors).
  Status CheckSearch(std::span<const float> query, size_t k, size_t out_size,
                     bool k_within_size) const;
  std::unique_ptr<index_internal::HnswGraph> graph_;
};

}  // namespace omendb
