#include "omendb/flat_index.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <mutex>
#include <string>
#include <vector>

#include "index/validate.h"
#include "simd/distance.h"
#include "util/thread_pool.h"

namespace omendb {

struct FlatIndex::Impl {
  uint32_t dim;
  Metric metric;
  const simd::Kernels* kernels;
  std::vector<float> data;  // row-major, normalised under cosine
  std::vector<VectorId> ids;

  Status Validate(const float* v, const std::string& what) const {
    return index_internal::ValidateVector(v, dim, metric, what);
  }


  // Exact scan keeping a max-heap of the k best (row order breaks ties, so the
  // result is deterministic). `heap` is caller scratch.
  void Scan(const float* q, size_t k, Neighbor* out, std::vector<std::pair<float, size_t>>& heap,
            std::vector<float>& qbuf) const {
    if (metric == Metric::kCosine) {
      qbuf.assign(q, q + dim);
      float inv = 1.0f / std::sqrt(kernels->dot(q, q, dim));
      for (float& x : qbuf) x *= inv;
      q = qbuf.data();
    }
    heap.clear();
    const size_t n = ids.size();
    for (size_t i = 0; i < n; ++i) {
      const float* v = data.data() + i * dim;
      float d = metric == Metric::kL2 ? kernels->l2sq(q, v, dim) : 1.0f - kernels->dot(q, v, dim);
      if (heap.size() < k) {
        heap.emplace_back(d, i);
        std::push_heap(heap.begin(), heap.end());
      } else if (d < heap.front().first) {
        std::pop_heap(heap.begin(), heap.end());
        heap.back() = {d, i};
        std::push_heap(heap.begin(), heap.end());
      }
    }
    std::sort_heap(heap.begin(), heap.end());
    for (size_t i = 0; i < heap.size(); ++i) out[i] = {ids[heap[i].second], heap[i].first};
  }

  Status CheckQuery(std::span<const float> query, size_t k, size_t out_size) const {
    if (query.size() != dim) {
      return Status::InvalidArgument("query has " + std::to_string(query.size()) +
                                     " floats, expected " + std::to_string(dim));
    }
    if (k == 0) return Status::InvalidArgument("k must be at least 1");
    if (ids.empty()) return Status::FailedPrecondition("the index is empty");
    if (k > ids.size()) {
      return Status::InvalidArgument("k = " + std::to_string(k) + " is larger than the index (" +
                                     std::to_string(ids.size()) + " vectors)");
    }
    if (out_size < k) return Status::InvalidArgument("output buffer smaller than k");
    return Validate(query.data(), "query");
  }
};

Result<std::unique_ptr<FlatIndex>> FlatIndex::Create(uint32_t dim, Metric metric) {
  if (dim == 0 || dim > 65536) {
    return Status::InvalidArgument("dim must be in 1..65536, got " + std::to_string(dim));
  }
  auto impl = std::make_unique<Impl>();
  impl->dim = dim;
  impl->metric = metric;
  impl->kernels = &simd::BestKernels();
  return std::unique_ptr<FlatIndex>(new FlatIndex(std::move(impl)));
}

FlatIndex::FlatIndex(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
FlatIndex::~FlatIndex() = default;

Status FlatIndex::AddBatch(std::span<const float> vectors, std::span<const VectorId> ids) {
  const size_t dim = impl_->dim;
  if (vectors.size() != ids.size() * dim) {
    return Status::InvalidArgument("batch has " + std::to_string(vectors.size()) +
                                   " floats, expected " + std::to_string(ids.size() * dim));
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    OMENDB_RETURN_IF_ERROR(impl_->Validate(vectors.data() + i * dim, "row " + std::to_string(i)));
  }
  size_t old = impl_->data.size();
  impl_->data.insert(impl_->data.end(), vectors.begin(), vectors.end());
  impl_->ids.insert(impl_->ids.end(), ids.begin(), ids.end());
  if (impl_->metric == Metric::kCosine) {
    for (size_t r = old / dim; r < impl_->ids.size(); ++r) {
      float* v = impl_->data.data() + r * dim;
      float inv = 1.0f / std::sqrt(impl_->kernels->dot(v, v, dim));
      for (size_t j = 0; j < dim; ++j) v[j] *= inv;
    }
  }
  return Status::OK();
}

Status FlatIndex::Search(std::span<const float> query, size_t k, std::span<Neighbor> out) const {
  OMENDB_RETURN_IF_ERROR(impl_->CheckQuery(query, k, out.size()));
  std::vector<std::pair<float, size_t>> heap;
  std::vector<float> qbuf;
  heap.reserve(k + 1);
  impl_->Scan(query.data(), k, out.data(), heap, qbuf);
  return Status::OK();
}

Status FlatIndex::SearchBatch(std::span<const float> queries, size_t k, std::span<Neighbor> out,
                              int num_threads) const {
  const size_t dim = impl_->dim;
  if (queries.size() % dim != 0) {
    return Status::InvalidArgument("query batch is not a multiple of dim");
  }
  const size_t nq = queries.size() / dim;
  if (out.size() < nq * k) return Status::InvalidArgument("output buffer smaller than nq * k");
  for (size_t i = 0; i < nq; ++i) {
    OMENDB_RETURN_IF_ERROR(impl_->CheckQuery(queries.subspan(i * dim, dim), k, k)
                               .WithContext("query " + std::to_string(i)));
  }
  const int threads = util::ResolveThreads(num_threads);
  std::vector<std::vector<std::pair<float, size_t>>> heaps(static_cast<size_t>(threads));
  std::vector<std::vector<float>> qbufs(static_cast<size_t>(threads));
  util::ParallelFor(nq, threads, 1, [&](size_t i, int t) {
    impl_->Scan(queries.data() + i * dim, k, out.data() + i * k, heaps[static_cast<size_t>(t)],
                qbufs[static_cast<size_t>(t)]);
  });
  return Status::OK();
}

size_t FlatIndex::size() const { return impl_->ids.size(); }
uint32_t FlatIndex::dim() const { return impl_->dim; }
Metric FlatIndex::metric() const { return impl_->metric; }

}  // namespace omendb
