#include "omendb/hnsw_index.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <string>
#include <unordered_set>

#include "index/hnsw_graph.h"
#include "index/search_batch.h"
#include "util/thread_pool.h"

namespace omendb {

using index_internal::HnswGraph;
using index_internal::SearchScratch;

SearchContext::SearchContext() : scratch_(std::make_unique<SearchScratch>()) {}
SearchContext::~SearchContext() = default;
SearchContext::SearchContext(SearchContext&&) noexcept = default;
SearchContext& SearchContext::operator=(SearchContext&&) noexcept = default;

namespace {

constexpr uint32_t kMaxDim = 65536;

// The scratch used when the caller passes no context: one per thread, grown to
// the largest index the thread has searched, reused for every later search.
SearchScratch& ThreadScratch() {
  thread_local SearchScratch scratch;
  return scratch;
}

std::string SizeMismatch(const char* what, size_t got, size_t want) {
  return std::string(what) + " has " + std::to_string(got) + " floats, expected " +
         std::to_string(want);
}

}  // namespace

Result<std::unique_ptr<HnswIndex>> HnswIndex::Create(const HnswOptions& o) {
  if (o.dim == 0 || o.dim > kMaxDim) {
    return Status::InvalidArgument("dim must be in 1..65536, got " + std::to_string(o.dim));
  }
  if (o.M < 2 || o.M > 512) {
    return Status::InvalidArgument("M must be in 2..512, got " + std::to_string(o.M));
  }
  if (o.ef_construction == 0 || o.ef_construction > 100000) {
    return Status::InvalidArgument("ef_construction must be in 1..100000");
  }
  if (o.metric != Metric::kL2 && o.metric != Metric::kInnerProduct &&
      o.metric != Metric::kCosine) {
    return Status::InvalidArgument("unknown metric");
  }
  OMENDB_RETURN_IF_ERROR(HnswGraph::CheckOptions(o));
  auto graph = std::make_unique<HnswGraph>(o);
  if (o.initial_capacity > 0) OMENDB_RETURN_IF_ERROR(graph->Reserve(o.initial_capacity));
  return std::unique_ptr<HnswIndex>(new HnswIndex(std::move(graph)));
}

HnswIndex::HnswIndex(std::unique_ptr<HnswGraph> graph) : graph_(std::move(graph)) {}
HnswIndex::~HnswIndex() = default;

Status HnswIndex::Add(VectorId id, std::span<const float> vector) {
  if (vector.size() != graph_->options().dim) {
    return Status::InvalidArgument(SizeMismatch("vector", vector.size(), graph_->options().dim));
  }
  OMENDB_RETURN_IF_ERROR(graph_->ValidateVector(vector.data(), "vector"));
  return graph_->Insert(id, vector.data(), ThreadScratch());
}

Status HnswIndex::AddBatch(std::span<const float> vectors, std::span<const VectorId> ids,
                           int num_threads, const ProgressCallback& progress) {
  const size_t dim = graph_->options().dim;
  const size_t n = ids.size();
  if (vectors.size() != n * dim) {
    return Status::InvalidArgument(SizeMismatch("batch", vectors.size(), n * dim) + " (" +
                                   std::to_string(n) + " ids x dim " + std::to_string(dim) + ")");
  }
  for (size_t i = 0; i < n; ++i) {
    Status s = graph_->ValidateVector(vectors.data() + i * dim,
                                      ("row " + std::to_string(i)).c_str());
    if (!s.ok()) return s;
    if (Contains(ids[i])) {
      return Status::AlreadyExists("id " + std::to_string(ids[i]) + " is already in the index");
    }
  }
  {
    std::unordered_set<VectorId> unique(ids.begin(), ids.end());
    if (unique.size() != n) return Status::InvalidArgument("the batch repeats an id");
  }
  OMENDB_RETURN_IF_ERROR(graph_->Reserve(graph_->size() + n));
  // A batch that brings a quantized index to its training size trains the
  // codec on its own rows (and the stored ones) first, so every row is
  // encoded as it is inserted.
  if (graph_->quantized() && graph_->codec() == nullptr &&
      graph_->size() + n >= graph_->options().quant_train_after) {
    OMENDB_RETURN_IF_ERROR(graph_->TrainQuantizer(vectors.data(), n));
  }
  const int threads = util::ResolveThreads(num_threads);
  std::atomic<size_t> done{0};
  std::atomic<bool> failed{false};
  Status first_error;
  std::mutex error_mu;
  std::vector<SearchScratch> scratch(static_cast<size_t>(threads));
  // The first rows go in one thread so that parallel inserts start from a
  // graph with some structure (a handful of nodes is enough).
  size_t serial = std::min<size_t>(n, threads > 1 ? 64 : n);
  auto insert = [&](size_t i, int t) {
    if (failed.load(std::memory_order_relaxed)) return;
    Status s = graph_->Insert(ids[i], vectors.data() + i * dim, scratch[static_cast<size_t>(t)]);
    if (!s.ok()) {
      std::lock_guard lock(error_mu);
      if (first_error.ok()) first_error = s;
      failed.store(true, std::memory_order_relaxed);
      return;
    }
    size_t d = done.fetch_add(1, std::memory_order_relaxed) + 1;
    if (progress && (d % 1024 == 0 || d == n)) progress(d, n);
  };
  for (size_t i = 0; i < serial; ++i) insert(i, 0);
  if (serial < n) {
    util::ParallelFor(n - serial, threads, 64, [&](size_t i, int t) { insert(serial + i, t); });
  }
  OMENDB_RETURN_IF_ERROR(first_error);
  // Concurrent inserts (and, rarely, serial ones) can leave a node without
  // in-edges; a batch always ends with every vector reachable.
  if (graph_->RepairReachability(scratch[0]) != 0) {
    return Status::Internal("HNSW reachability repair did not converge");
  }
  return Status::OK();
}

Status HnswIndex::Reserve(size_t capacity) { return graph_->Reserve(capacity); }

Status HnswIndex::CheckSearch(std::span<const float> query, size_t k, size_t out_size,
                              bool k_within_size) const {
  const size_t dim = graph_->options().dim;
  if (query.size() != dim) {
    return Status::InvalidArgument(SizeMismatch("query", query.size(), dim));
  }
  if (k == 0) return Status::InvalidArgument("k must be at least 1");
  const size_t n = graph_->size();
  if (n == 0) return Status::FailedPrecondition("the index is empty");
  if (k_within_size && k > n) {
    return Status::InvalidArgument("k = " + std::to_string(k) + " is larger than the index (" +
                                   std::to_string(n) + " vectors)");
  }
  if (out_size < k) {
    return Status::InvalidArgument("output buffer holds " + std::to_string(out_size) +
                                   " results, k = " + std::to_string(k));
  }
  return graph_->ValidateVector(query.data(), "query");
}

Result<size_t> HnswIndex::Search(std::span<const float> query, size_t k, size_t ef,
                                 std::span<Neighbor> out, SearchContext* context,
                                 SearchStats* stats) const {
  return Search(query, k, SearchParams{ef, 0}, out, context, stats);
}

Result<size_t> HnswIndex::Search(std::span<const float> query, size_t k,
                                 const SearchParams& params, std::span<Neighbor> out,
                                 SearchContext* context, SearchStats* stats) const {
  OMENDB_RETURN_IF_ERROR(CheckSearch(query, k, out.size(), /*k_within_size=*/true));
  SearchScratch& s = context != nullptr ? *context->scratch_ : ThreadScratch();
  return graph_->Search(query.data(), k, params.ef, out.data(), s, stats, nullptr, 1.0, 0.0,
                        params.rerank);
}

Result<size_t> HnswIndex::SearchFiltered(std::span<const float> query, size_t k, size_t ef,
                                         const std::function<bool(VectorId)>& filter,
                                         std::span<Neighbor> out, double selectivity,
                                         double exact_below, SearchContext* context,
                                         SearchStats* stats) const {
  // k may exceed the passing vectors (and the index): fewer results come back.
  OMENDB_RETURN_IF_ERROR(CheckSearch(query, k, out.size(), /*k_within_size=*/false));
  if (!filter) return Status::InvalidArgument("filter is empty");
  SearchScratch& s = context != nullptr ? *context->scratch_ : ThreadScratch();
  const index_internal::IdPredicate by_id = [&filter](VectorId id, uint32_t) {
    return filter(id);
  };
  return graph_->Search(query.data(), k, ef, out.data(), s, stats, &by_id, selectivity,
                        exact_below);
}

Status HnswIndex::Remove(VectorId id) { return graph_->Remove(id, ThreadScratch()); }

Result<std::vector<Neighbor>> HnswIndex::Search(std::span<const float> query, size_t k,
                                                size_t ef) const {
  std::vector<Neighbor> out(k);
  OMENDB_ASSIGN_OR_RETURN(size_t n, Search(query, k, ef, out));
  out.resize(n);
  return out;
}

Status HnswIndex::SearchBatch(std::span<const float> queries, size_t k, size_t ef,
                              std::span<Neighbor> out, std::span<uint32_t> counts,
                              int num_threads) const {
  return SearchBatch(queries, k, SearchParams{ef, 0}, out, counts, num_threads);
}

Status HnswIndex::SearchBatch(std::span<const float> queries, size_t k,
                              const SearchParams& params, std::span<Neighbor> out,
                              std::span<uint32_t> counts, int num_threads) const {
  return index_internal::SearchBatchOver(
      queries, graph_->options().dim, k, out, counts, num_threads,
      [&](std::span<const float> query, std::span<Neighbor> result) {
        return Search(query, k, params, result);
      });
}

Status HnswIndex::Save(const std::function<Status(std::string_view)>& sink) const {
  return graph_->Serialize(sink);
}

Result<std::unique_ptr<HnswIndex>> HnswIndex::Load(std::string_view snapshot) {
  OMENDB_ASSIGN_OR_RETURN(auto graph, HnswGraph::Deserialize(snapshot));
  return std::unique_ptr<HnswIndex>(new HnswIndex(std::move(graph)));
}

Result<std::unique_ptr<HnswIndex>> HnswIndex::Load(std::string_view snapshot,
                                                   std::shared_ptr<const void> owner) {
  OMENDB_ASSIGN_OR_RETURN(auto graph, HnswGraph::Deserialize(snapshot, std::move(owner)));
  return std::unique_ptr<HnswIndex>(new HnswIndex(std::move(graph)));
}

Status HnswIndex::GetVector(VectorId id, std::span<float> out) const {
  if (out.size() != graph_->options().dim) {
    return Status::InvalidArgument(SizeMismatch("output", out.size(), graph_->options().dim));
  }
  uint32_t slot;
  if (!graph_->Lookup(id, &slot)) {
    return Status::NotFound("id " + std::to_string(id) + " is not in the index");
  }
  graph_->CopyVector(slot, out.data());
  return Status::OK();
}

bool HnswIndex::Contains(VectorId id) const {
  uint32_t slot;
  return graph_->Lookup(id, &slot);
}

size_t HnswIndex::size() const { return graph_->size(); }
size_t HnswIndex::deleted_count() const { return graph_->deleted_count(); }
size_t HnswIndex::capacity() const { return graph_->capacity(); }
uint32_t HnswIndex::dim() const { return graph_->options().dim; }
Metric HnswIndex::metric() const { return graph_->options().metric; }
const HnswOptions& HnswIndex::options() const { return graph_->options(); }
size_t HnswIndex::MemoryBytes() const { return graph_->MemoryBytes(); }
IndexMemory HnswIndex::Memory() const {
  const HnswGraph::Memory m = graph_->MemoryParts();
  return IndexMemory{m.records + m.upper, m.code_bytes_per_vector, m.raw, m.ids,
                     graph_->quantized() && graph_->raw_mapped()};
}
Quantization HnswIndex::quantization() const { return graph_->options().quant; }
bool HnswIndex::quantizer_trained() const { return graph_->codec() != nullptr; }
const char* HnswIndex::KernelName() const { return graph_->kernels().name; }
GraphReport HnswIndex::CheckGraph() const { return graph_->Check(); }

Status HnswIndex::Reorder() { return graph_->Reorder(); }

}  // namespace omendb
