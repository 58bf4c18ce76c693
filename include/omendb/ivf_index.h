// IvfIndex: an inverted-file (IVF) index, or a flat scan, over RaBitQ codes
// (docs/design/quant.md, "IVF and flat scan"). No graph: a small k-means
// splits the vectors into `nlist` lists; a search probes the `nprobe` lists
// whose centroids are nearest to the query, estimates every code of those
// lists 32 at a time from its sign bits (RaBitQ FastScan), refines the
// survivors with the full B-bit code, and computes exact distances only for
// the candidates whose error-bounded lower bound can still beat the current
// k-th exact distance. With nlist = 1 the index is a flat scan of all codes:
// exact-ish search over a large collection at a fraction of the memory
// traffic of a float scan, with exact distances in the results.
//
// The full-precision vectors are kept in memory (for the exact re-rank).
//
// Thread safety: const methods (Search, SearchBatch, size, Memory, ...) may
// run concurrently with each other. Train and AddBatch must not run
// concurrently with anything else on the same index.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "omendb/status.h"
#include "omendb/types.h"

namespace omendb {

struct IvfOptions {
  uint32_t dim = 0;  // 1..65536
  Metric metric = Metric::kL2;
  // Must be rabitq:B with B in 1..9.
  Quantization quant = {QuantKind::kRaBitQ, 4};
  // Number of lists. 0 = about 4 * sqrt(n) for the n training rows, chosen
  // at Train; 1 = a flat scan of every code (no k-means). Never more than the
  // number of training rows (clamped at Train).
  uint32_t nlist = 0;
  // Fixes every random choice (k-means initialisation, the RaBitQ rotation).
  uint64_t seed = 42;
};

struct IvfSearchParams {
  // Lists to probe (clamped to nlist()); must be >= 1.
  uint32_t nprobe = 16;
  // 0 = bound-driven: a candidate's exact distance is computed only if its
  // lower bound (RaBitQ estimate minus its error bound) is below the current
  // k-th exact distance. A positive value instead keeps the `rerank` best
  // candidates by their B-bit estimate and re-ranks exactly those (at least
  // k are kept).
  size_t rerank = 0;
};

// Optional per-search counters.
struct IvfSearchStats {
  uint64_t lists_probed = 0;
  uint64_t codes_scanned = 0;   // codes whose 1-bit FastScan estimate was computed
  uint64_t codes_refined = 0;   // codes whose full B-bit estimate was computed
  uint64_t reranked = 0;        // full-precision vectors read (exact distances)
};

// Memory() broken down; all in bytes.
struct IvfMemory {
  size_t code_bytes_per_vector = 0;  // FastScan sign block share + 1-bit factors + full code
  size_t code_bytes = 0;             // all lists' codes (blocks, factors, full codes)
  size_t rerank_bytes = 0;           // full-precision vectors
  size_t centroid_bytes = 0;         // IVF centroids and the codec's parameters
  size_t id_bytes = 0;               // ids and list membership
  size_t total() const { return code_bytes + rerank_bytes + centroid_bytes + id_bytes; }
};

class IvfIndex {
 public:
  // Creates an empty, untrained index. InvalidArgument for dim 0 or above
  // 65536, an unknown metric, or a quantization other than rabitq:1..9.
  static Result<std::unique_ptr<IvfIndex>> Create(const IvfOptions& options);

  ~IvfIndex();
  IvfIndex(const IvfIndex&) = delete;
  IvfIndex& operator=(const IvfIndex&) = delete;

  // Trains the list centroids (seeded Lloyd k-means on at most 65,536
  // evenly strided rows of `sample`) and the RaBitQ codec on `sample`
  // (row-major, a whole number of dim() floats; copied, not kept). Under
  // cosine the rows are normalised first. Errors: InvalidArgument (empty
  // sample, size not a multiple of dim(), NaN/inf, a zero row under cosine),
  // FailedPrecondition (already trained). Not thread-safe.
  Status Train(std::span<const float> sample);

  // True once Train (or the first AddBatch) has run.
  bool trained() const;

  // Appends ids.size() vectors (row-major, ids.size() * dim() floats,
  // copied; normalised under cosine). Trains on this batch first if the index
  // is untrained. Each vector goes to the list of its nearest centroid, as a
  // RaBitQ code. Ids are not checked for uniqueness (duplicates are separate
  // rows). Errors: InvalidArgument (size mismatch, NaN/inf, a zero vector
  // under cosine; nothing is added then), errors of Train. Not thread-safe.
  Status AddBatch(std::span<const float> vectors, std::span<const VectorId> ids);

  // Writes up to k nearest neighbours (nearest first, ties by smaller id)
  // with exact distances under the metric (squared L2; 1 - <q, x> for inner
  // product; 1 - cos for cosine) to out[0..n) and returns n, which is k
  // unless the probed lists hold fewer than k vectors. Allocation-free once
  // the calling thread's scratch has grown to this index's sizes. `stats`
  // (optional) receives the search's counters. Thread-safe (const).
  // Errors: InvalidArgument (wrong query size, NaN/inf, zero query under
  // cosine, k == 0, k > size(), out.size() < k, nprobe == 0),
  // FailedPrecondition (empty index).
  Result<size_t> Search(std::span<const float> query, size_t k, const IvfSearchParams& params,
                        std::span<Neighbor> out, IvfSearchStats* stats = nullptr) const;

  // Searches nq = queries.size() / dim() queries on `num_threads` threads
  // (0 = all cores). Results of query i go to out[i*k .. i*k + counts[i]);
  // out must hold nq*k entries and counts nq. Errors as for Search (the
  // first failing query's, with its index), and InvalidArgument for a query
  // count that is not a whole multiple of dim() or buffers too small.
  Status SearchBatch(std::span<const float> queries, size_t k, const IvfSearchParams& params,
                     std::span<Neighbor> out, std::span<uint32_t> counts,
                     int num_threads = 0) const;

  size_t size() const;
  uint32_t dim() const;
  Metric metric() const;
  Quantization quantization() const;
  // Lists after training (the options' value until then; 0 = not chosen yet).
  uint32_t nlist() const;
  // Bytes held, broken down (see IvfMemory).
  IvfMemory Memory() const;
  // Name of the RaBitQ kernel table in use ("avx512-vnni", ...; "" untrained).
  const char* KernelName() const;

 private:
  struct Impl;
  explicit IvfIndex(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace omendb
