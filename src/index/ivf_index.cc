// IvfIndex: IVF (or flat, nlist = 1) scan over Extended RaBitQ codes.
//
// Layout (RaBitQ SIGMOD 2024 [RBQ24] section 4; algorithms.md 1.8 "IVF"):
// one posting list per k-means centroid, holding
//   - the sign planes of its codes regrouped into FastScan blocks of 32
//     (quant::PackFastScanBlock, [RBQ24 3.3.2]),
//   - the 1-bit correction factors of each code (the sign plane is itself a
//     1-bit RaBitQ code, rabitq.h "1-bit estimate for scans"),
//   - the full B-bit code (factors, sign plane, ex bits) for refinement
//     (Extended RaBitQ, SIGMOD 2025, incremental estimate),
//   - the row of each member in the full-precision store (for re-ranking).
//
// Search (algorithms.md 1.8 IVF steps 3-4):
//   1. prepare the query once for the codec and build the FastScan LUT;
//   2. rank the centroids, probe the nprobe nearest lists;
//   3. per block of 32: FastScan sums -> <s, u> -> est1 and its lower bound
//      lb1 = est1 - F1_err * G_err - |F1_rescale| * lut.max_error (the last
//      term covers the LUT's u8 rounding, so lb1 bounds the float estimator's
//      lower bound); skip the code if lb1 > the current k-th exact distance;
//   4. otherwise the full B-bit estimate and its lower bound [RBQ24 3.2,
//      eq. 12 with the Extended RaBitQ code]; skip if it cannot beat the k-th;
//   5. otherwise compute the exact distance from the full-precision vector
//      and offer it to the top-k ("re-rank a candidate only when its lower
//      bound is below the exact distance of the current k-th neighbour",
//      [RBQ24 section 4]; algorithms.md 1.8 IVF point 4).
// The bound is probabilistic (eps0 = 1.9, [RBQ24 3.2.2]) and the B-bit
// estimate uses the integer-quantised query, whose error the bound does not
// include; in practice a true neighbour is missed very rarely.
//
// Deviation from [RBQ24 4]: codes are encoded against the codec's own
// centres (up to 16 k-means centres of the whole sample, rabitq.h) instead
// of against their list's centroid. One prepared query and one LUT then
// serve every probed list (the paper re-normalises the query per list);
// with short lists (4 sqrt(n) lists) the per-list query preparation would
// cost more than the scan. The bounds stay valid, only somewhat looser.
#include "omendb/ivf_index.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "index/search_batch.h"
#include "index/validate.h"
#include "quant/rabitq.h"
#include "simd/distance.h"
#include "util/thread_pool.h"

namespace omendb {

namespace {

constexpr uint32_t kMaxDim = 65536;
constexpr size_t kMaxTrainRows = 65536;     // rows of a sample used for training
constexpr size_t kRowsPerCentroid = 256;    // k-means sample cap per centroid (as Faiss)
constexpr int kLloydIterations = 10;

// 64-byte aligned storage unit (FastScan blocks, LUTs, query states).
struct alignas(64) Line {
  uint8_t b[64];
};

uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

void Normalise(float* v, uint32_t dim) {
  double n2 = 0;
  for (uint32_t j = 0; j < dim; ++j) n2 += double{v[j]} * v[j];
  const float inv = static_cast<float>(1.0 / std::sqrt(n2));
  for (uint32_t j = 0; j < dim; ++j) v[j] *= inv;
}

uint32_t Nearest(const simd::Kernels& kern, const float* x, const float* centroids, uint32_t k,
                 uint32_t dim, float* dist) {
  uint32_t best = 0;
  float bd = std::numeric_limits<float>::max();
  for (uint32_t c = 0; c < k; ++c) {
    const float d = kern.l2sq(x, centroids + size_t{c} * dim, dim);
    if (d < bd) {
      bd = d;
      best = c;
    }
  }
  if (dist != nullptr) *dist = bd;
  return best;
}

// Lloyd's k-means on data[0 .. m*dim): k distinct seeded random rows as
// initial centres, up to kLloydIterations assignment/update rounds (stops
// early when no assignment changes). An empty cluster takes the point
// farthest from its centre. Assignment runs on all cores.
std::vector<float> KMeans(const float* data, size_t m, uint32_t dim, uint32_t k, uint64_t seed,
                          const simd::Kernels& kern) {
  std::vector<float> centres(size_t{k} * dim);
  uint64_t rng = seed ^ 0x6976666B6D65616Eull;  // "ivfkmean"
  std::vector<uint32_t> perm(m);
  for (size_t i = 0; i < m; ++i) perm[i] = static_cast<uint32_t>(i);
  for (uint32_t c = 0; c < k; ++c) {  // partial Fisher-Yates: k distinct rows
    const size_t j = c + static_cast<size_t>(SplitMix64(&rng) % (m - c));
    std::swap(perm[c], perm[j]);
    std::memcpy(&centres[size_t{c} * dim], data + size_t{perm[c]} * dim, dim * sizeof(float));
  }
  std::vector<uint32_t> assign(m, std::numeric_limits<uint32_t>::max());
  std::vector<float> d2(m, 0.0f);
  std::vector<double> sums(size_t{k} * dim);
  std::vector<size_t> counts(k);
  for (int iter = 0; iter < kLloydIterations; ++iter) {
    std::atomic<size_t> changed{0};
    util::ParallelFor(m, 0, 256, [&](size_t i, int) {
      const uint32_t a = Nearest(kern, data + i * dim, centres.data(), k, dim, &d2[i]);
      if (a != assign[i]) {
        assign[i] = a;
        changed.fetch_add(1, std::memory_order_relaxed);
      }
    });
    if (changed.load() == 0) break;
    std::fill(sums.begin(), sums.end(), 0.0);
    std::fill(counts.begin(), counts.end(), 0);
    for (size_t i = 0; i < m; ++i) {
      ++counts[assign[i]];
      double* s = &sums[size_t{assign[i]} * dim];
      const float* x = data + i * dim;
      for (uint32_t j = 0; j < dim; ++j) s[j] += x[j];
    }
    for (uint32_t c = 0; c < k; ++c) {
      float* ctr = &centres[size_t{c} * dim];
      if (counts[c] == 0) {
        const size_t far = static_cast<size_t>(std::max_element(d2.begin(), d2.end()) - d2.begin());
        std::memcpy(ctr, data + far * dim, dim * sizeof(float));
        d2[far] = 0;
        continue;
      }
      const double inv = 1.0 / static_cast<double>(counts[c]);
      for (uint32_t j = 0; j < dim; ++j) ctr[j] = static_cast<float>(sums[size_t{c} * dim + j] * inv);
    }
  }
  return centres;
}

// One search hit while scanning; ordered by (distance, id).
struct Hit {
  float d;
  VectorId id;
};
inline bool HitLess(const Hit& a, const Hit& b) { return a.d < b.d || (a.d == b.d && a.id < b.id); }

// A candidate kept by its B-bit estimate (fixed-count re-rank).
struct Cand {
  float est;
  uint32_t row;
};
inline bool CandLess(const Cand& a, const Cand& b) {
  return a.est < b.est || (a.est == b.est && a.row < b.row);
}

// Offers x to the max-heap heap[0..*n) (by `less`) that keeps the `cap`
// smallest items seen: appended while there is room, otherwise swapped in
// for the largest if smaller than it.
template <class T, class Less>
inline void PushBounded(T* heap, size_t* n, size_t cap, const T& x, Less less) {
  if (*n < cap) {
    heap[(*n)++] = x;
    std::push_heap(heap, heap + *n, less);
  } else if (less(x, heap[0])) {
    std::pop_heap(heap, heap + *n, less);
    heap[*n - 1] = x;
    std::push_heap(heap, heap + *n, less);
  }
}

// Per-thread search state, grown to the largest index searched and reused:
// no allocation per query once warm.
struct Scratch {
  std::vector<float> query;
  std::vector<Line> state;
  std::vector<Line> lut;
  std::vector<std::pair<float, uint32_t>> probe;
  std::vector<Hit> heap;
  std::vector<Cand> cands;
};

Scratch& ThreadScratch() {
  thread_local Scratch s;
  return s;
}

template <typename T>
void GrowTo(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
}

}  // namespace

struct IvfIndex::Impl {
  IvfOptions opt;
  const simd::Kernels* kern = nullptr;
  std::unique_ptr<quant::RaBitQCodec> codec;  // null until trained
  quant::RaBitQLayout layout;
  size_t code_words = 0;   // code_bytes / 8
  size_t block_bytes = 0;  // FastScan block of 32
  uint32_t nlist = 0;
  std::vector<float> centroids;  // nlist x dim

  struct List {
    std::vector<uint32_t> rows;              // member -> row of the full-precision store
    std::vector<Line> blocks;                // ceil(n / 32) FastScan blocks
    std::vector<quant::RaBitQFactors> bin;   // 1-bit factors per member
    std::vector<uint64_t> codes;             // full codes, code_words per member
  };
  std::vector<List> lists;

  std::vector<float> vectors;  // row-major full precision (normalised under cosine)
  std::vector<VectorId> ids;

  float Exact(const float* q, uint32_t row) const {
    const float* v = vectors.data() + size_t{row} * opt.dim;
    return opt.metric == Metric::kL2 ? kern->l2sq(q, v, opt.dim) : 1.0f - kern->dot(q, v, opt.dim);
  }

  Status ValidateRows(std::span<const float> data, size_t rows) const {
    for (size_t i = 0; i < rows; ++i) {
      OMENDB_RETURN_IF_ERROR(index_internal::ValidateVector(
          data.data() + i * opt.dim, opt.dim, opt.metric, "row " + std::to_string(i)));
    }
    return Status::OK();
  }

  Status Train(std::span<const float> sample);
  Result<size_t> Search(std::span<const float> query, size_t k, const IvfSearchParams& p,
                        std::span<Neighbor> out, IvfSearchStats* stats) const;
};

Status IvfIndex::Impl::Train(std::span<const float> sample) {
  if (codec != nullptr) return Status::FailedPrecondition("the index is already trained");
  const uint32_t dim = opt.dim;
  if (sample.empty() || sample.size() % dim != 0) {
    return Status::InvalidArgument("training sample has " + std::to_string(sample.size()) +
                                   " floats, expected a positive multiple of " +
                                   std::to_string(dim));
  }
  const size_t rows = sample.size() / dim;
  OMENDB_RETURN_IF_ERROR(ValidateRows(sample, rows).WithContext("training sample"));

  // Evenly strided, deterministic subsample; normalised under cosine.
  const size_t m = std::min(rows, kMaxTrainRows);
  std::vector<float> data(m * dim);
  for (size_t i = 0; i < m; ++i) {
    const size_t row = i * rows / m;
    std::memcpy(&data[i * dim], sample.data() + row * dim, dim * sizeof(float));
    if (opt.metric == Metric::kCosine) Normalise(&data[i * dim], dim);
  }

  uint32_t k = opt.nlist;
  if (k == 0) k = static_cast<uint32_t>(std::lround(4.0 * std::sqrt(static_cast<double>(rows))));
  k = static_cast<uint32_t>(std::clamp<size_t>(k, 1, m));

  OMENDB_ASSIGN_OR_RETURN(auto c, quant::RaBitQCodec::Train(opt.quant.bits, dim, opt.metric,
                                                            data.data(), m, opt.seed));
  std::vector<float> cents;
  if (k == 1) {
    cents.assign(dim, 0.0f);
    std::vector<double> acc(dim, 0.0);
    for (size_t i = 0; i < m; ++i) {
      for (uint32_t j = 0; j < dim; ++j) acc[j] += data[i * dim + j];
    }
    for (uint32_t j = 0; j < dim; ++j) cents[j] = static_cast<float>(acc[j] / static_cast<double>(m));
  } else {
    // At most kRowsPerCentroid rows per centroid (strided), as Faiss caps it.
    const size_t mk = std::min(m, size_t{k} * kRowsPerCentroid);
    const float* kdata = data.data();
    std::vector<float> sub;
    if (mk < m) {
      sub.resize(mk * dim);
      for (size_t i = 0; i < mk; ++i) {
        std::memcpy(&sub[i * dim], &data[(i * m / mk) * dim], dim * sizeof(float));
      }
      kdata = sub.data();
    }
    cents = KMeans(kdata, mk, dim, k, opt.seed, *kern);
  }

  codec = std::move(c);
  layout = codec->layout();
  code_words = layout.code_bytes / 8;
  block_bytes = quant::FastScanBlockBytes(layout.dp);
  nlist = k;
  centroids = std::move(cents);
  lists.assign(k, List{});
  return Status::OK();
}

Result<size_t> IvfIndex::Impl::Search(std::span<const float> query, size_t k,
                                      const IvfSearchParams& p, std::span<Neighbor> out,
                                      IvfSearchStats* stats) const {
  const uint32_t dim = opt.dim;
  if (query.size() != dim) {
    return Status::InvalidArgument("query has " + std::to_string(query.size()) +
                                   " floats, expected " + std::to_string(dim));
  }
  if (k == 0) return Status::InvalidArgument("k must be at least 1");
  if (p.nprobe == 0) return Status::InvalidArgument("nprobe must be at least 1");
  if (ids.empty()) return Status::FailedPrecondition("the index is empty");
  if (k > ids.size()) {
    return Status::InvalidArgument("k = " + std::to_string(k) + " is larger than the index (" +
                                   std::to_string(ids.size()) + " vectors)");
  }
  if (out.size() < k) return Status::InvalidArgument("output buffer smaller than k");
  OMENDB_RETURN_IF_ERROR(index_internal::ValidateVector(query.data(), dim, opt.metric, "query"));

  Scratch& s = ThreadScratch();
  GrowTo(s.query, dim);
  float* q = s.query.data();
  std::memcpy(q, query.data(), dim * sizeof(float));
  if (opt.metric == Metric::kCosine) Normalise(q, dim);

  // Query preparation, once per search.
  GrowTo(s.state, (codec->query_state_bytes() + 63) / 64);
  GrowTo(s.lut, (quant::FastScanLutBytes(layout.dp) + 63) / 64);
  void* state = s.state.data();
  void* lut = s.lut.data();
  codec->PrepareQuery(q, state);
  quant::PrepareFastScanLut(state, lut);
  const auto* lut_hdr = static_cast<const quant::FastScanLut*>(lut);
  const float lut_err = static_cast<float>(lut_hdr->max_error);
  const quant::FastScanFn fastscan = codec->kernels().fastscan;
  const quant::CodeDistFn dist = codec->dist;
  const bool refine = layout.bits > 1;  // B = 1: the code is the sign plane itself

  // Lists to probe: L2 (and cosine, on unit vectors) by centroid distance,
  // inner product by the largest <q, c> (the member distance is
  // 1 - <c, q> - <x - c, q>).
  const uint32_t nprobe = std::min(p.nprobe, nlist);
  GrowTo(s.probe, nlist);
  auto* probe = s.probe.data();
  for (uint32_t c = 0; c < nlist; ++c) {
    const float* cv = centroids.data() + size_t{c} * dim;
    const float d = opt.metric == Metric::kInnerProduct ? -kern->dot(q, cv, dim)
                                                        : kern->l2sq(q, cv, dim);
    probe[c] = {d, c};
  }
  if (nprobe < nlist) {
    std::partial_sort(probe, probe + nprobe, probe + nlist);
  } else if (nlist > 1) {
    std::sort(probe, probe + nlist);
  }

  const bool fixed = p.rerank > 0;
  const size_t keep = fixed ? std::max(p.rerank, k) : 0;
  GrowTo(s.heap, k);
  if (fixed) GrowTo(s.cands, keep);
  Hit* heap = s.heap.data();
  Cand* cands = s.cands.data();
  size_t hn = 0, cn = 0;
  IvfSearchStats st;
  alignas(64) uint32_t sums[quant::kFastScanBatch];
  alignas(64) float ipf[quant::kFastScanBatch];

  for (uint32_t pi = 0; pi < nprobe; ++pi) {
    const List& list = lists[probe[pi].second];
    const size_t n = list.rows.size();
    if (n == 0) continue;
    ++st.lists_probed;
    const auto* blocks = reinterpret_cast<const uint8_t*>(list.blocks.data());
    for (size_t b0 = 0; b0 < n; b0 += quant::kFastScanBatch) {
      // [RBQ24 3.3.2] FastScan: 1-bit <s, u> of 32 codes from the LUT.
      fastscan(lut, blocks + (b0 / quant::kFastScanBatch) * block_bytes, sums);
      quant::FastScanToIp(lut, sums, ipf);
      const size_t cnt = std::min(quant::kFastScanBatch, n - b0);
      st.codes_scanned += cnt;
      for (size_t j = 0; j < cnt; ++j) {
        const size_t mi = b0 + j;
        const quant::RaBitQFactors& f1 = list.bin[mi];
        // Threshold: the k-th exact distance (bound-driven) or the worst
        // kept estimate (fixed count); +inf until full.
        const float bar = fixed ? (cn == keep ? cands[0].est : std::numeric_limits<float>::infinity())
                                : (hn == k ? heap[0].d : std::numeric_limits<float>::infinity());
        const float est1 = quant::EstimateBinFromFloatIp(state, f1, ipf[j]);
        const float lb1 = est1 - quant::ErrorBound(state, f1) - std::fabs(f1.rescale) * lut_err;
        if (lb1 > bar) continue;
        const uint8_t* code = reinterpret_cast<const uint8_t*>(list.codes.data() + mi * code_words);
        float est = est1;
        if (refine || fixed) {
          // Extended RaBitQ: the full B-bit estimate and its bound [RBQ24 3.2].
          est = dist(state, code);
          ++st.codes_refined;
          if (!fixed && est - quant::ErrorBound(state, quant::ReadFactors(code)) > bar) continue;
        }
        const uint32_t row = list.rows[mi];
        if (fixed) {
          const Cand c{est, row};
          PushBounded(cands, &cn, keep, c, CandLess);
          continue;
        }
        // [RBQ24 4]: the lower bound beats the k-th exact distance, re-rank.
        ++st.reranked;
        PushBounded(heap, &hn, k, Hit{Exact(q, row), ids[row]}, HitLess);
      }
    }
  }
  if (fixed) {
    for (size_t i = 0; i < cn; ++i) {
      const uint32_t row = cands[i].row;
      if (i + 2 < cn) {
        __builtin_prefetch(vectors.data() + size_t{cands[i + 2].row} * dim);
      }
      ++st.reranked;
      PushBounded(heap, &hn, k, Hit{Exact(q, row), ids[row]}, HitLess);
    }
  }
  std::sort_heap(heap, heap + hn, HitLess);
  for (size_t i = 0; i < hn; ++i) out[i] = Neighbor{heap[i].id, heap[i].d};
  if (stats != nullptr) *stats = st;
  return hn;
}

// ---------------------------------------------------------------------------

Result<std::unique_ptr<IvfIndex>> IvfIndex::Create(const IvfOptions& o) {
  if (o.dim == 0 || o.dim > kMaxDim) {
    return Status::InvalidArgument("dim must be in 1..65536, got " + std::to_string(o.dim));
  }
  if (o.metric != Metric::kL2 && o.metric != Metric::kInnerProduct &&
      o.metric != Metric::kCosine) {
    return Status::InvalidArgument("unknown metric");
  }
  if (o.quant.kind != QuantKind::kRaBitQ || o.quant.bits < quant::kRaBitQMinBits ||
      o.quant.bits > quant::kRaBitQMaxBits) {
    return Status::InvalidArgument("IvfIndex needs rabitq:1..9 quantization, got " +
                                   QuantizationName(o.quant));
  }
  auto impl = std::make_unique<Impl>();
  impl->opt = o;
  impl->kern = &simd::BestKernels();
  impl->nlist = o.nlist;
  return std::unique_ptr<IvfIndex>(new IvfIndex(std::move(impl)));
}

IvfIndex::IvfIndex(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
IvfIndex::~IvfIndex() = default;

Status IvfIndex::Train(std::span<const float> sample) { return impl_->Train(sample); }

bool IvfIndex::trained() const { return impl_->codec != nullptr; }

Status IvfIndex::AddBatch(std::span<const float> vectors, std::span<const VectorId> ids) {
  Impl& m = *impl_;
  const uint32_t dim = m.opt.dim;
  const size_t n = ids.size();
  if (vectors.size() != n * dim) {
    return Status::InvalidArgument("batch has " + std::to_string(vectors.size()) +
                                   " floats, expected " + std::to_string(n * dim));
  }
  if (n == 0) return Status::OK();
  if (m.ids.size() + n > std::numeric_limits<uint32_t>::max()) {
    return Status::ResourceExhausted("IvfIndex holds at most 2^32 - 1 vectors");
  }
  OMENDB_RETURN_IF_ERROR(m.ValidateRows(vectors, n));
  if (m.codec == nullptr) OMENDB_RETURN_IF_ERROR(m.Train(vectors));

  const size_t base = m.ids.size();
  m.vectors.insert(m.vectors.end(), vectors.begin(), vectors.end());
  m.ids.insert(m.ids.end(), ids.begin(), ids.end());
  if (m.opt.metric == Metric::kCosine) {
    for (size_t i = 0; i < n; ++i) Normalise(m.vectors.data() + (base + i) * dim, dim);
  }

  // Assign and encode on all cores (the codec is immutable, Encode is const).
  std::vector<uint32_t> list_of(n);
  std::vector<uint64_t> codes(n * m.code_words);
  std::vector<quant::RaBitQFactors> bin(n);
  util::ParallelFor(n, 0, 64, [&](size_t i, int) {
    const float* x = m.vectors.data() + (base + i) * dim;
    list_of[i] = m.nlist == 1 ? 0 : Nearest(*m.kern, x, m.centroids.data(), m.nlist, dim, nullptr);
    m.codec->EncodeWithBinFactors(x, reinterpret_cast<uint8_t*>(codes.data() + i * m.code_words),
                                  &bin[i]);
  });

  // Append to the lists; remember the first block each list must repack.
  constexpr size_t kClean = std::numeric_limits<size_t>::max();
  std::vector<size_t> dirty(m.nlist, kClean);
  for (size_t i = 0; i < n; ++i) {
    Impl::List& l = m.lists[list_of[i]];
    if (dirty[list_of[i]] == kClean) dirty[list_of[i]] = l.rows.size() / quant::kFastScanBatch;
    l.rows.push_back(static_cast<uint32_t>(base + i));
    l.bin.push_back(bin[i]);
    l.codes.insert(l.codes.end(), codes.begin() + static_cast<std::ptrdiff_t>(i * m.code_words),
                   codes.begin() + static_cast<std::ptrdiff_t>((i + 1) * m.code_words));
  }
  const size_t lines_per_block = m.block_bytes / 64;
  const uint8_t* ptrs[quant::kFastScanBatch];
  for (uint32_t c = 0; c < m.nlist; ++c) {
    if (dirty[c] == kClean) continue;
    Impl::List& l = m.lists[c];
    const size_t nb = (l.rows.size() + quant::kFastScanBatch - 1) / quant::kFastScanBatch;
    l.blocks.resize(nb * lines_per_block);
    for (size_t b = dirty[c]; b < nb; ++b) {
      const size_t first = b * quant::kFastScanBatch;
      const size_t cnt = std::min(quant::kFastScanBatch, l.rows.size() - first);
      for (size_t j = 0; j < cnt; ++j) {
        ptrs[j] = reinterpret_cast<const uint8_t*>(l.codes.data() + (first + j) * m.code_words);
      }
      quant::PackFastScanBlock(m.layout, ptrs, cnt,
                               reinterpret_cast<uint8_t*>(l.blocks.data() + b * lines_per_block));
    }
  }
  return Status::OK();
}

Result<size_t> IvfIndex::Search(std::span<const float> query, size_t k,
                                const IvfSearchParams& params, std::span<Neighbor> out,
                                IvfSearchStats* stats) const {
  return impl_->Search(query, k, params, out, stats);
}

Status IvfIndex::SearchBatch(std::span<const float> queries, size_t k,
                             const IvfSearchParams& params, std::span<Neighbor> out,
                             std::span<uint32_t> counts, int num_threads) const {
  return index_internal::SearchBatchOver(
      queries, impl_->opt.dim, k, out, counts, num_threads,
      [&](std::span<const float> query, std::span<Neighbor> result) {
        return impl_->Search(query, k, params, result, nullptr);
      });
}

size_t IvfIndex::size() const { return impl_->ids.size(); }
uint32_t IvfIndex::dim() const { return impl_->opt.dim; }
Metric IvfIndex::metric() const { return impl_->opt.metric; }
Quantization IvfIndex::quantization() const { return impl_->opt.quant; }
uint32_t IvfIndex::nlist() const { return impl_->nlist; }

IvfMemory IvfIndex::Memory() const {
  const Impl& m = *impl_;
  IvfMemory r;
  if (m.codec != nullptr) {
    r.code_bytes_per_vector =
        m.block_bytes / quant::kFastScanBatch + sizeof(quant::RaBitQFactors) + m.layout.code_bytes;
    r.centroid_bytes = m.centroids.size() * sizeof(float) +
                       (size_t{m.codec->num_centres()} + 1) * m.layout.dp * sizeof(float);
  }
  for (const Impl::List& l : m.lists) {
    r.code_bytes += l.blocks.size() * sizeof(Line) + l.bin.size() * sizeof(quant::RaBitQFactors) +
                    l.codes.size() * sizeof(uint64_t);
    r.id_bytes += l.rows.size() * sizeof(uint32_t);
  }
  r.rerank_bytes = m.vectors.size() * sizeof(float);
  r.id_bytes += m.ids.size() * sizeof(VectorId);
  return r;
}

const char* IvfIndex::KernelName() const {
  return impl_->codec != nullptr ? impl_->codec->kernels().name : "";
}

}  // namespace omendb
