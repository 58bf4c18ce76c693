#include "index/hnsw_graph.h"

#include "index/validate.h"
#include "util/crc32c.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <new>

namespace omendb::index_internal {
namespace {

constexpr size_t kLine = 64;

size_t RoundUp(size_t x, size_t to) { return (x + to - 1) / to * to; }

inline void Prefetch(const void* p) {
  _mm_prefetch(static_cast<const char*>(p), _MM_HINT_T0);
}

// splitmix64 finaliser: a well-mixed 64-bit hash, used to draw levels.
inline uint64_t Mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Inserts c into the sorted beam [pool, pool + *size) of capacity cap.
// Precondition: *size < cap or c.dist < pool[*size - 1].dist. Returns the
// insertion position. Ties go after existing entries (stable).
inline size_t BeamInsert(Candidate* pool, size_t* size, size_t cap, Candidate c) {
  size_t lo = 0, hi = *size;
  while (lo < hi) {
    size_t mid = (lo + hi) >> 1;
    if (pool[mid].dist <= c.dist) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  size_t n = *size < cap ? *size : cap - 1;  // entries kept after the shift
  if (lo < n) std::memmove(pool + lo + 1, pool + lo, (n - lo) * sizeof(Candidate));
  pool[lo] = c;
  *size = n + 1;
  return lo;
}

}  // namespace

HnswGraph::HnswGraph(const HnswOptions& options)
    : opt_(options),
      kernels_(&simd::BestKernels()),
      quantized_(options.quant.kind != QuantKind::kNone),
      max_m_(options.M),
      max_m0_(2 * options.M),
      level_mult_(1.0 / std::log(static_cast<double>(std::max<uint32_t>(options.M, 2)))),
      storage_(nullptr),
      entry_(kNoSlot),
      node_locks_(new std::mutex[kLockStripes]) {
  float_codec_ = std::move(quant::TrainCodec({}, opt_.dim, opt_.metric, nullptr, 0, 0).value());
  code_bytes_ = float_codec_->code_bytes();
  if (quantized_) {
    // The record's code size depends only on (quantization, dim, metric),
    // so an untrained codec tells it. HnswIndex::Create has checked that
    // this succeeds (CheckOptions).
    auto probe = quant::TrainCodec(opt_.quant, opt_.dim, opt_.metric, nullptr, 0, opt_.seed);
    if (probe.ok()) code_bytes_ = (*probe)->code_bytes();
  } else {
    codec_.store(float_codec_.get(), std::memory_order_release);
  }
  header_off_ = RoundUp(code_bytes_, 8);
  // level u32, pad u32, id u64, upper pointer u64, count u32, M0 slots.
  stride_ = RoundUp(header_off_ + 28 + 4 * static_cast<size_t>(max_m0_), kLine);
  // Measured on sift-photos-100k (70 MB of records, far beyond cache):
  // requesting every line of each unvisited neighbour's vector while
  // gathering beats requesting only the first (up to +15% QPS). Capped at 8
  // lines: for long vectors the batch kernel's own prefetch-ahead covers the
  // rest, and more outstanding requests than the core's miss buffers only queue.
  raw_prefetch_bytes_ = std::min<size_t>(static_cast<size_t>(opt_.dim) * sizeof(float), 512);
  code_prefetch_bytes_ = std::min<size_t>(code_bytes_, 512);
  auto empty = std::make_unique<Storage>();
  storage_.store(empty.get(), std::memory_order_release);
  all_storage_.push_back(std::move(empty));
}

HnswGraph::~HnswGraph() {
  Storage* cur = storage_.load(std::memory_order_acquire);
  size_t n = next_slot_;
  for (uint32_t s = 0; s < n; ++s) {
    uint64_t p;
    std::memcpy(&p, Header(cur->base, s) + 4, sizeof p);
    delete[] reinterpret_cast<uint32_t*>(p);
  }
}

HnswGraph::Storage::~Storage() {
  if (block != nullptr) ::operator delete(block, std::align_val_t(kLine));
  if (raw != nullptr && raw_owned) ::operator delete(raw, std::align_val_t(kLine));
}

Status HnswGraph::CheckOptions(const HnswOptions& o) {
  if (o.quant.kind == QuantKind::kNone) return Status::OK();
  if (o.quant_train_after == 0) return Status::InvalidArgument("quant_train_after must be >= 1");
  auto probe = quant::TrainCodec(o.quant, o.dim, o.metric, nullptr, 0, o.seed);
  if (!probe.ok()) return probe.status();
  return Status::OK();
}

uint32_t* HnswGraph::List(const char* base, uint32_t slot, uint32_t layer) const {
  uint32_t* h = Header(base, slot);
  if (layer == 0) return h + 6;
  uint64_t p;
  std::memcpy(&p, h + 4, sizeof p);
  return reinterpret_cast<uint32_t*>(p) + static_cast<size_t>(layer - 1) * (1 + max_m_);
}

Status HnswGraph::ValidateVector(const float* v, const char* what) const {
  return index_internal::ValidateVector(v, opt_.dim, opt_.metric, what);
}

uint32_t HnswGraph::DrawLevel(uint32_t slot) const {
  // U in (0, 1]; level = floor(-ln(U) * mL) (paper, section 4.1).
  uint64_t h = Mix(opt_.seed ^ Mix(slot));
  double u = (static_cast<double>(h >> 11) + 1.0) * (1.0 / 9007199254740992.0);
  double l = -std::log(u) * level_mult_;
  return static_cast<uint32_t>(std::min(l, 30.0));
}

Status HnswGraph::Reserve(size_t capacity) {
  if (capacity > kMaxSlots) {
    return Status::ResourceExhausted("an HNSW index holds at most 2^31 - 1 vectors");
  }
  std::unique_lock lock(resize_mu_);
  if (capacity <= storage_.load(std::memory_order_relaxed)->capacity) return Status::OK();
  return Grow(capacity);
}

// Requires resize_mu_ held exclusively.
Status HnswGraph::Grow(size_t min_capacity) {
  Storage* old = storage_.load(std::memory_order_relaxed);
  if (old->capacity >= min_capacity) return Status::OK();
  size_t cap = std::max<size_t>({min_capacity, old->capacity * 2, 64});
  cap = std::min(cap, kMaxSlots);
  return NewGeneration(cap, nullptr);
}

std::unique_ptr<HnswGraph::Storage> HnswGraph::AllocStorage(size_t cap,
                                                            const float* raw_from) const {
  auto st = std::make_unique<Storage>();
  st->block = static_cast<char*>(
      ::operator new(kPrefix + cap * stride_, std::align_val_t(kLine), std::nothrow));
  if (st->block == nullptr) return nullptr;
  st->base = st->block + kPrefix;
  std::memset(st->block, 0, kPrefix);
  st->capacity = cap;
  if (!quantized_) return st;
  if (raw_from != nullptr) {
    st->raw = const_cast<float*>(raw_from);  // never written while not owned
    st->raw_owned = false;
  } else {
    st->raw = static_cast<float*>(::operator new(cap * opt_.dim * sizeof(float),
                                                 std::align_val_t(kLine), std::nothrow));
    if (st->raw == nullptr) return nullptr;
  }
  std::memcpy(st->block, &st->raw, sizeof st->raw);
  return st;
}

Status HnswGraph::NewGeneration(size_t cap, const float* raw_from) {
  Storage* old = storage_.load(std::memory_order_relaxed);
  auto fresh = AllocStorage(cap, raw_from);
  if (fresh == nullptr) {
    return Status::ResourceExhausted("out of memory growing the HNSW index to " +
                                     std::to_string(cap) + " vectors");
  }
  if (quantized_ && raw_from == nullptr) {
    const size_t row = static_cast<size_t>(opt_.dim) * sizeof(float);
    const size_t keep = std::min(old->capacity, cap);
    if (keep > 0) std::memcpy(fresh->raw, old->raw, keep * row);
    std::memset(reinterpret_cast<char*>(fresh->raw) + keep * row, 0, (cap - keep) * row);
  }
  size_t used = std::min(old->capacity, cap) * stride_;
  if (used > 0) std::memcpy(fresh->base, old->base, used);
  std::memset(fresh->base + used, 0, cap * stride_ - used);
  storage_.store(fresh.get(), std::memory_order_release);
  all_storage_.push_back(std::move(fresh));
  return Status::OK();
}

// Grows scratch only when this index (or beam) is larger than any seen before,
// so a steady-state search allocates nothing.
void HnswGraph::EnsureScratch(SearchScratch& s, size_t beam, size_t capacity) const {
  if (s.visited.size() < capacity) s.visited.resize(capacity, 0);
  if (s.pool.size() < beam + 1) s.pool.resize(beam + 1);
  if (s.batch_ptr.size() < max_m0_) {
    s.batch_ptr.resize(max_m0_);
    s.batch_slot.resize(max_m0_);
    s.batch_dist.resize(max_m0_);
  }
}

namespace {

// A 64-byte aligned region of at least `bytes` inside buf (grown only when a
// larger state is first needed).
void* AlignedState(std::vector<uint64_t>& buf, size_t bytes) {
  const size_t words = (bytes + 64 + 7) / 8;
  if (buf.size() < words) buf.resize(words);
  auto p = reinterpret_cast<uintptr_t>(buf.data());
  return reinterpret_cast<void*>((p + 63) & ~uintptr_t{63});
}

}  // namespace

DistOp HnswGraph::RawOp(const float* q, SearchScratch& s) const {
  void* st = AlignedState(s.raw_state, float_codec_->query_state_bytes());
  float_codec_->PrepareQuery(q, st);
  return DistOp{st, float_codec_->dist, float_codec_->batch, nullptr, true, raw_prefetch_bytes_};
}

DistOp HnswGraph::CodeOp(const quant::Codec& codec, const float* q, SearchScratch& s) const {
  void* st = AlignedState(s.code_state, codec.query_state_bytes());
  codec.PrepareQuery(q, st);
  return DistOp{st, codec.dist, codec.batch, codec.batch_bounded, false, code_prefetch_bytes_};
}

uint32_t HnswGraph::Greedy(const char* base, size_t limit, const DistOp& op, uint32_t entry,
                           float* entry_dist, uint32_t layer, SearchScratch& s,
                           uint64_t* dists) const {
  uint32_t cur = entry;
  float cur_d = *entry_dist;
  const uint8_t** bptr = s.batch_ptr.data();
  uint32_t* bslot = s.batch_slot.data();
  float* bdist = s.batch_dist.data();
  bool changed = true;
  while (changed) {
    changed = false;
    const uint32_t* list = List(base, cur, layer);
    const uint32_t cnt = std::min(LoadAcq(list), max_m0_);
    // All of a node's neighbours at once, their loads started together (the
    // upper-layer nodes are scattered over the record array: each is a
    // cache miss), then the nearest of them: the same node the one-by-one
    // scan picks (the first strictly smaller distance wins ties).
    size_t nb = 0;
    for (uint32_t j = 1; j <= cnt; ++j) {
      const uint32_t v = LoadAcq(list + j);
      // Upper-layer lists live outside the record array and are shared by
      // every generation of it, so a reader on an older generation can meet
      // a node added after that generation was retired: skip it if its slot
      // is beyond this generation (the check below covers a slot within it).
      if (v >= limit) continue;
      bptr[nb] = PrefetchTarget(base, v, op);
      bslot[nb] = v;
      ++nb;
    }
    op.batch(op.state, bptr, nb, bdist);
    *dists += nb;
    for (size_t j = 0; j < nb; ++j) {
      // A slot claimed before this generation was retired but filled after
      // is still a zeroed record here (level 0, no upper lists): its
      // distance is harmless to compute, but it must not become `cur`.
      // Checked only for a winner, so the headers of the others are not read.
      if (bdist[j] < cur_d && Level(base, bslot[j]) >= layer) {
        cur_d = bdist[j];
        cur = bslot[j];
        changed = true;
      }
    }
  }
  *entry_dist = cur_d;
  return cur;
}

size_t HnswGraph::SearchLayer(const char* base, const DistOp& op, uint32_t entry,
                              float entry_dist, size_t ef, uint32_t layer, SearchScratch& s,
                              uint64_t* dists, uint64_t* hops) const {
  // Fresh visited epoch: O(1) unless the 16-bit tag wraps (every 65535 searches).
  if (++s.epoch == 0) {
    std::fill(s.visited.begin(), s.visited.end(), uint16_t{0});
    s.epoch = 1;
  }
  const uint16_t epoch = s.epoch;
  uint16_t* visited = s.visited.data();
  Candidate* pool = s.pool.data();
  const uint8_t** bptr = s.batch_ptr.data();
  uint32_t* bslot = s.batch_slot.data();
  float* bdist = s.batch_dist.data();

  size_t size = 0;
  pool[size++] = {entry_dist, entry};
  visited[entry] = epoch;
  size_t cursor = 0;
  while (cursor < size) {
    uint32_t u = pool[cursor].slot;
    pool[cursor].slot = u | kExpandedBit;
    ++*hops;
    const uint32_t* list = List(base, u, layer);
    uint32_t cnt = LoadAcq(list);
    // Gather the unvisited neighbours first and start their loads, so the
    // distance loop below finds the vectors on their way into cache.
    size_t nb = GatherUnvisited(base, list, cnt, visited, epoch, op, bptr, bslot);
    if (op.bounded != nullptr && size == ef) {
      // Only a distance below the current worst can enter the full beam.
      op.bounded(op.state, bptr, nb, pool[size - 1].dist, bdist);
    } else {
      op.batch(op.state, bptr, nb, bdist);
    }
    *dists += nb;
    size_t lowest = size;  // smallest position an insertion landed at
    for (size_t j = 0; j < nb; ++j) {
      float d = bdist[j];
      if (size < ef || d < pool[size - 1].dist) {
        size_t pos = BeamInsert(pool, &size, ef, {d, bslot[j]});
        lowest = std::min(lowest, pos);
      }
    }
    // Next unexpanded: either the earliest new insertion or the next after cursor.
    size_t next = std::min(lowest, cursor + 1);
    while (next < size && (pool[next].slot & kExpandedBit)) ++next;
    cursor = next;
    if (cursor < size) Prefetch(List(base, pool[cursor].slot, layer));
  }
  for (size_t i = 0; i < size; ++i) pool[i].slot &= ~kExpandedBit;
  return size;
}

void HnswGraph::SelectHeuristic(const char* base, const Candidate* cands, size_t n, size_t max,
                                std::vector<Candidate>& out, float alpha) const {
  // L2 distances here are squared, so alpha applies squared.
  const float factor = opt_.metric == Metric::kL2 ? alpha * alpha : alpha;
  out.clear();
  if (n <= max) {
    out.assign(cands, cands + n);
    return;
  }
  // Algorithm 4: take candidates nearest first; keep c only if it is nearer to
  // the base node than to every neighbour kept so far (the RNG-style rule that
  // spreads edges across directions).
  for (size_t i = 0; i < n && out.size() < max; ++i) {
    const Candidate& c = cands[i];
    const float* cv = RawVec(base, c.slot);
    bool keep = true;
    for (const Candidate& r : out) {
      if (factor * Distance(cv, RawVec(base, r.slot)) < c.dist) {
        keep = false;
        break;
      }
    }
    if (keep) out.push_back(c);
  }
}

void HnswGraph::AddLink(const char* base, uint32_t to, uint32_t from, float dist, uint32_t layer,
                        SearchScratch& s) {
  const uint32_t bound = layer == 0 ? max_m0_ : max_m_;
  std::lock_guard lock(NodeLock(to));
  uint32_t* list = List(base, to, layer);
  uint32_t cnt = LoadAcq(list);
  for (uint32_t j = 1; j <= cnt; ++j) {
    if (LoadAcq(list + j) == from) return;
  }
  if (cnt < bound) {
    StoreRel(list + 1 + cnt, from);
    StoreRel(list, cnt + 1);
    return;
  }
  // Full: re-select `to`'s list from its neighbours plus `from` (hnswlib does
  // the same; the paper's Algorithm 1 line 13-16 shrinks with SELECT-NEIGHBORS).
  s.prune.clear();
  const float* tv = RawVec(base, to);
  s.prune.push_back({dist, from});
  for (uint32_t j = 1; j <= cnt; ++j) {
    uint32_t v = LoadAcq(list + j);
    if (IsDeleted(base, v)) continue;  // a full list is the moment to shed removed nodes
    s.prune.push_back({Distance(tv, RawVec(base, v)), v});
  }
  std::sort(s.prune.begin(), s.prune.end(),
            [](const Candidate& a, const Candidate& b) { return a.dist < b.dist; });
  SelectHeuristic(base, s.prune.data(), s.prune.size(), bound, s.selected);
  uint32_t k = 0;
  for (const Candidate& c : s.selected) StoreRel(list + 1 + k++, c.slot);
  StoreRel(list, k);
}

Status HnswGraph::Insert(VectorId id, const float* vec, SearchScratch& s) {
  OMENDB_RETURN_IF_ERROR(InsertLocked(id, vec, s));
  // Train once enough vectors are in (outside the insert's shared lock:
  // training takes the resize lock exclusively).
  if (quantized_ && codec() == nullptr && size() >= opt_.quant_train_after) {
    return TrainQuantizer(nullptr, 0);
  }
  return Status::OK();
}

Status HnswGraph::InsertLocked(VectorId id, const float* vec, SearchScratch& s) {
  // Claim a slot (a released one first, else a new one, growing the array
  // if needed) and register the id.
  uint32_t slot;
  bool reused = false;
  for (;;) {
    {
      std::unique_lock idl(id_mu_);
      if (id_to_slot_.count(id) != 0) {
        return Status::AlreadyExists("id " + std::to_string(id) + " is already in the index");
      }
      if (!free_slots_.empty()) {
        slot = free_slots_.back();
        free_slots_.pop_back();
        id_to_slot_.emplace(id, slot);
        reused = true;
        break;
      }
      Storage* st = storage_.load(std::memory_order_acquire);
      if (next_slot_ < st->capacity) {
        slot = static_cast<uint32_t>(next_slot_++);
        id_to_slot_.emplace(id, slot);
        break;
      }
      if (next_slot_ >= kMaxSlots) {
        return Status::ResourceExhausted("an HNSW index holds at most 2^31 - 1 vectors");
      }
    }
    std::unique_lock rl(resize_mu_);
    OMENDB_RETURN_IF_ERROR(Grow(storage_.load(std::memory_order_relaxed)->capacity + 1));
  }

  if (reused && raw_mapped()) {
    // The vectors are read from a read-only mapping: copy them into memory
    // (once) before writing into one of its slots.
    std::unique_lock wl(resize_mu_);
    if (raw_mapped()) {
      OMENDB_RETURN_IF_ERROR(
          NewGeneration(storage_.load(std::memory_order_relaxed)->capacity, nullptr));
    }
  }
  std::shared_lock rl(resize_mu_);
  const char* base = storage_.load(std::memory_order_acquire)->base;
  const uint32_t level = DrawLevel(slot);

  // Fill the record before any link to it is published.
  float* v = const_cast<float*>(RawVec(base, slot));
  std::memcpy(v, vec, opt_.dim * sizeof(float));
  if (opt_.metric == Metric::kCosine) {
    float inv = 1.0f / std::sqrt(kernels_->dot(v, v, opt_.dim));
    for (uint32_t i = 0; i < opt_.dim; ++i) v[i] *= inv;
  }
  if (quantized_) {
    // The codec cannot be published meanwhile: training holds resize_mu_
    // exclusively, and this insert holds it shared.
    if (const quant::Codec* c = codec()) c->Encode(v, const_cast<uint8_t*>(Code(base, slot)));
  }
  uint32_t* h = Header(base, slot);
  h[0] = level;
  std::atomic_ref<uint64_t>(*reinterpret_cast<uint64_t*>(h + 2)).store(id, std::memory_order_relaxed);
  uint64_t upper = 0;
  if (level > 0) {
    size_t words = static_cast<size_t>(level) * (1 + max_m_);
    upper = reinterpret_cast<uint64_t>(new uint32_t[words]());
    upper_bytes_.fetch_add(words * sizeof(uint32_t), std::memory_order_relaxed);
  }
  std::memcpy(h + 4, &upper, sizeof upper);
  StoreRel(h + 6, 0);
  if (reused) {
    // Cleared last: a scan over all slots skips the record as removed until
    // it is complete (the release store orders the writes above).
    StoreRel(h + 1, 0);
    deleted_.fetch_sub(1, std::memory_order_acq_rel);
  }

  // An insert that may raise the top level holds entry_mu_ throughout, so two
  // such inserts cannot both believe they own the new top (hnswlib does this too).
  std::unique_lock top_lock(entry_mu_);
  uint64_t ep = entry_.load(std::memory_order_acquire);
  uint32_t entry = static_cast<uint32_t>(ep);
  uint32_t max_level = static_cast<uint32_t>(ep >> 32);
  if (entry == kNoSlot) {
    entry_.store((static_cast<uint64_t>(level) << 32) | slot, std::memory_order_release);
    size_.fetch_add(1, std::memory_order_acq_rel);
    return Status::OK();
  }
  if (level <= max_level) top_lock.unlock();

  EnsureScratch(s, opt_.ef_construction, storage_.load(std::memory_order_acquire)->capacity);
  const float* q = v;
  const DistOp op = RawOp(q, s);
  uint64_t dists = 0, hops = 0;
  float d = Distance(q, RawVec(base, entry));
  uint32_t cur = entry;
  const size_t limit = storage_.load(std::memory_order_acquire)->capacity;
  for (uint32_t l = max_level; l > level; --l) {
    cur = Greedy(base, limit, op, cur, &d, l, s, &dists);
  }
  // Search every layer first and publish afterwards: the node's own lists on
  // all layers are written before the first back-link makes it reachable, so
  // a concurrent search can never walk into a node whose layer-0 list is
  // still empty. Each layer's search reads only that layer's lists, so the
  // graph is the same as when linking layer by layer (paper, Algorithm 1).
  const uint32_t top = std::min(level, max_level);
  std::vector<std::vector<Candidate>> chosen(top + 1);
  for (int32_t l = static_cast<int32_t>(top); l >= 0; --l) {
    size_t n = SearchLayer(base, op, cur, d, opt_.ef_construction, l, s, &dists, &hops);
    // Removed nodes guide the search but never become new neighbours.
    std::vector<Candidate> live;
    live.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      if (!IsDeleted(base, s.pool[i].slot)) live.push_back(s.pool[i]);
    }
    SelectHeuristic(base, live.data(), live.size(), max_m_, chosen[l]);
    cur = s.pool[0].slot;
    d = s.pool[0].dist;
  }
  {
    std::lock_guard lock(NodeLock(slot));
    for (uint32_t l = 0; l <= top; ++l) {
      uint32_t* list = List(base, slot, l);
      uint32_t k = 0;
      for (const Candidate& c : chosen[l]) StoreRel(list + 1 + k++, c.slot);
      StoreRel(list, k);
    }
  }
  for (uint32_t l = 0; l <= top; ++l) {
    for (const Candidate& c : chosen[l]) AddLink(base, c.slot, slot, c.dist, l, s);
  }
  if (level > max_level) {
    entry_.store((static_cast<uint64_t>(level) << 32) | slot, std::memory_order_release);
  }
  size_.fetch_add(1, std::memory_order_acq_rel);
  return Status::OK();
}

size_t HnswGraph::SearchLayerFiltered(const char* base, const DistOp& op, uint32_t entry,
                                      float entry_dist, size_t ef, const IdPredicate* filter,
                                      SearchScratch& s, uint64_t* dists, uint64_t* hops) const {
  // hnswlib's filtered variant of Algorithm 2: C (the frontier, a min-heap)
  // holds every node worth expanding, W (s.pool, sorted, capacity ef) only
  // passing ones. A failing node is still expanded while it is nearer than
  // W's worst, so the walk crosses regions where the predicate fails.
  if (++s.epoch == 0) {
    std::fill(s.visited.begin(), s.visited.end(), uint16_t{0});
    s.epoch = 1;
  }
  const uint16_t epoch = s.epoch;
  uint16_t* visited = s.visited.data();
  Candidate* results = s.pool.data();
  const uint8_t** bptr = s.batch_ptr.data();
  uint32_t* bslot = s.batch_slot.data();
  float* bdist = s.batch_dist.data();
  auto farther = [](const Candidate& a, const Candidate& b) { return a.dist > b.dist; };
  std::vector<Candidate>& frontier = s.frontier;
  frontier.clear();

  size_t size = 0;
  frontier.push_back({entry_dist, entry});
  visited[entry] = epoch;
  if (Passes(base, entry, filter)) results[size++] = {entry_dist, entry};
  while (!frontier.empty()) {
    std::pop_heap(frontier.begin(), frontier.end(), farther);
    const Candidate c = frontier.back();
    frontier.pop_back();
    if (size == ef && c.dist > results[size - 1].dist) break;
    ++*hops;
    const uint32_t* list = List(base, c.slot, 0);
    uint32_t cnt = LoadAcq(list);
    size_t nb = GatherUnvisited(base, list, cnt, visited, epoch, op, bptr, bslot);
    if (op.bounded != nullptr && size == ef) {
      // Neither list takes a node at or beyond W's worst once W is full.
      op.bounded(op.state, bptr, nb, results[size - 1].dist, bdist);
    } else {
      op.batch(op.state, bptr, nb, bdist);
    }
    *dists += nb;
    for (size_t j = 0; j < nb; ++j) {
      float d = bdist[j];
      if (size < ef || d < results[size - 1].dist) {
        frontier.push_back({d, bslot[j]});
        std::push_heap(frontier.begin(), frontier.end(), farther);
        if (Passes(base, bslot[j], filter)) BeamInsert(results, &size, ef, {d, bslot[j]});
      }
    }
  }
  return size;
}

size_t HnswGraph::ScanFiltered(const char* base, const float* q, size_t k,
                               const IdPredicate* filter, SearchScratch& s,
                               uint64_t* dists) const {
  // Below a few percent selectivity a graph walk visits most of the graph
  // to find k passing nodes; evaluating the predicate on every slot and the
  // distance only on passing ones is cheaper and exact (algorithms.md 5.2).
  const size_t n = slots();
  Candidate* results = s.pool.data();
  size_t size = 0;
  for (uint32_t slot = 0; slot < n; ++slot) {
    if (!Passes(base, slot, filter)) continue;
    float d = Distance(q, RawVec(base, slot));
    ++*dists;
    if (size < k || d < results[size - 1].dist) BeamInsert(results, &size, k, {d, slot});
  }
  return size;
}

Status HnswGraph::Remove(VectorId id, SearchScratch& s) {
  uint32_t slot;
  {
    std::unique_lock idl(id_mu_);
    auto it = id_to_slot_.find(id);
    if (it == id_to_slot_.end()) {
      return Status::NotFound("id " + std::to_string(id) + " is not in the index");
    }
    slot = it->second;
    id_to_slot_.erase(it);
  }
  std::shared_lock rl(resize_mu_);
  const char* base = storage_.load(std::memory_order_acquire)->base;
  {
    std::lock_guard lock(NodeLock(slot));
    uint32_t* flags = Header(base, slot) + 1;
    StoreRel(flags, LoadAcq(flags) | kDeletedFlag);
  }
  deleted_.fetch_add(1, std::memory_order_acq_rel);
  linked_removed_.fetch_add(1, std::memory_order_acq_rel);
  size_.fetch_sub(1, std::memory_order_acq_rel);

  // MN-RU gamma repair (algorithms.md 3.3, applied to a hard delete as in
  // 3.5 item 3): only mutual neighbours can lose connectivity through the
  // removed node, so only they are re-selected, from the small pool
  // N(n) + N(removed) instead of the two-hop set.
  const uint32_t level = Level(base, slot);
  std::vector<uint32_t> removed_list, pool;
  for (uint32_t l = 0; l <= level; ++l) {
    const uint32_t bound = l == 0 ? max_m0_ : max_m_;
    const uint32_t* dl = List(base, slot, l);
    uint32_t dcnt = std::min(LoadAcq(dl), bound);
    removed_list.clear();
    for (uint32_t j = 1; j <= dcnt; ++j) removed_list.push_back(LoadAcq(dl + j));
    for (uint32_t n : removed_list) {
      if (n == slot || IsDeleted(base, n)) continue;
      std::lock_guard lock(NodeLock(n));
      uint32_t* nl = List(base, n, l);
      uint32_t ncnt = std::min(LoadAcq(nl), bound);
      pool.clear();
      bool mutual = false;
      for (uint32_t j = 1; j <= ncnt; ++j) {
        uint32_t v = LoadAcq(nl + j);
        if (v == slot) mutual = true;
        pool.push_back(v);
      }
      if (!mutual) continue;
      pool.insert(pool.end(), removed_list.begin(), removed_list.end());
      std::sort(pool.begin(), pool.end());
      pool.erase(std::unique(pool.begin(), pool.end()), pool.end());
      s.prune.clear();
      const float* nv = RawVec(base, n);
      for (uint32_t v : pool) {
        if (v == slot || v == n || IsDeleted(base, v)) continue;
        s.prune.push_back({Distance(nv, RawVec(base, v)), v});
      }
      std::sort(s.prune.begin(), s.prune.end(),
                [](const Candidate& a, const Candidate& b) { return a.dist < b.dist; });
      SelectHeuristic(base, s.prune.data(), s.prune.size(), bound, s.selected, kRepairAlpha);
      uint32_t k = 0;
      for (const Candidate& c : s.selected) StoreRel(nl + 1 + k++, c.slot);
      StoreRel(nl, k);
    }
  }
  return Status::OK();
}

size_t HnswGraph::Rerank(const char* base, const float* q, size_t k, size_t n, size_t rerank,
                         const quant::Codec& codec, const DistOp& op, SearchScratch& s,
                         uint64_t* exact) const {
  const size_t limit = rerank == 0 ? (codec.lower != nullptr ? n : std::min(n, 2 * k))
                                   : std::min(n, std::max(rerank, k));
  if (s.exact.size() < k + 1) s.exact.resize(k + 1);
  Candidate* best = s.exact.data();
  const Candidate* pool = s.pool.data();
  const size_t row = static_cast<size_t>(opt_.dim) * sizeof(float);
  size_t size = 0;
  // RaBitQ paper section 4: a candidate whose lower bound is already beyond
  // the k-th exact distance cannot enter the result. The k-th distance only
  // falls, so a candidate pruned when its load would be issued stays pruned.
  auto pruned = [&](size_t i) {
    return size == k && codec.lower != nullptr &&
           codec.lower(op.state, Code(base, pool[i].slot), pool[i].dist) >= best[k - 1].dist;
  };
  auto prefetch = [&](size_t i) {
    if (pruned(i)) return;  // a full vector is dozens of cache lines: skip dead loads
    const char* p = reinterpret_cast<const char*>(RawVec(base, pool[i].slot));
    for (size_t off = 0; off < row; off += 64) _mm_prefetch(p + off, _MM_HINT_T0);
  };
  // The full-precision vectors are cold (they are not read by the walk):
  // keep two candidates' loads in flight ahead of the one being measured.
  for (size_t i = 0; i < std::min<size_t>(limit, 2); ++i) prefetch(i);
  for (size_t i = 0; i < limit; ++i) {
    if (i + 2 < limit) prefetch(i + 2);
    const Candidate c = pool[i];
    if (pruned(i)) continue;
    const float d = Distance(q, RawVec(base, c.slot));
    ++*exact;
    if (size < k || d < best[size - 1].dist) BeamInsert(best, &size, k, {d, c.slot});
  }
  std::copy(best, best + size, s.pool.data());
  return size;
}

size_t HnswGraph::Search(const float* query, size_t k, size_t ef, Neighbor* out,
                         SearchScratch& s, SearchStats* stats, const IdPredicate* filter,
                         double selectivity, double exact_below, size_t rerank) const {
  // Entry before storage: the storage loaded second is at least as new as the
  // one the entry point was written into, so it holds the entry's record.
  uint64_t ep = entry_.load(std::memory_order_acquire);
  uint32_t entry = static_cast<uint32_t>(ep);
  if (entry == kNoSlot) return 0;
  const Storage* st = storage_.load(std::memory_order_acquire);
  const char* base = st->base;
  uint32_t max_level = static_cast<uint32_t>(ep >> 32);
  const size_t beam = std::max(ef, k);
  EnsureScratch(s, beam, st->capacity);
  const float* q = query;
  if (opt_.metric == Metric::kCosine) {
    if (s.query.size() < opt_.dim) s.query.resize(opt_.dim);
    float inv = 1.0f / std::sqrt(kernels_->dot(query, query, opt_.dim));
    for (uint32_t i = 0; i < opt_.dim; ++i) s.query[i] = query[i] * inv;
    q = s.query.data();
  }
  uint64_t dists = 0, hops = 0, exact = 0;
  size_t n;
  if (filter != nullptr && selectivity < exact_below) {
    n = ScanFiltered(base, q, k, filter, s, &dists);
  } else {
    // Quantized and trained: walk on codes, then re-rank exactly.
    const quant::Codec* codec = quantized_ ? this->codec() : nullptr;
    const DistOp op = codec != nullptr ? CodeOp(*codec, q, s) : RawOp(q, s);
    float d = OpDist(op, base, entry);
    ++dists;
    uint32_t cur = entry;
    for (uint32_t l = max_level; l > 0; --l) {
      cur = Greedy(base, st->capacity, op, cur, &d, l, s, &dists);
    }
    if (filter == nullptr && linked_removed() == 0) {
      n = SearchLayer(base, op, cur, d, beam, 0, s, &dists, &hops);
    } else {
      n = SearchLayerFiltered(base, op, cur, d, beam, filter, s, &dists, &hops);
    }
    if (codec != nullptr) n = Rerank(base, q, k, n, rerank, *codec, op, s, &exact);
  }
  n = std::min(n, k);
  for (size_t i = 0; i < n; ++i) {
    out[i].id = IdOf(base, s.pool[i].slot);
    out[i].distance = s.pool[i].dist;
  }
  if (stats != nullptr) {
    stats->distance_computations = dists;
    stats->hops = hops;
    stats->reranked = exact;
  }
  return n;
}

bool HnswGraph::Lookup(VectorId id, uint32_t* slot) const {
  std::shared_lock idl(id_mu_);
  auto it = id_to_slot_.find(id);
  if (it == id_to_slot_.end()) return false;
  *slot = it->second;
  return true;
}

void HnswGraph::ForEachLive(const std::function<void(VectorId, uint32_t)>& fn) const {
  std::shared_lock idl(id_mu_);
  for (const auto& [id, slot] : id_to_slot_) fn(id, slot);
}

void HnswGraph::CopyVector(uint32_t slot, float* out) const {
  std::shared_lock rl(resize_mu_);
  const char* base = storage_.load(std::memory_order_acquire)->base;
  std::memcpy(out, RawVec(base, slot), opt_.dim * sizeof(float));
}

HnswGraph::Memory HnswGraph::MemoryParts() const {
  Memory m;
  {
    std::shared_lock idl(id_mu_);
    m.ids = id_to_slot_.bucket_count() * sizeof(void*) +
            id_to_slot_.size() * (sizeof(VectorId) + sizeof(uint32_t) + 2 * sizeof(void*));
  }
  const size_t cap = capacity();
  m.records = cap * stride_;
  m.code_bytes_per_vector = code_bytes_;
  m.upper = upper_bytes_.load(std::memory_order_relaxed);
  m.raw = quantized_ ? cap * opt_.dim * sizeof(float) : 0;
  return m;
}

size_t HnswGraph::MemoryBytes() const {
  const Memory m = MemoryParts();
  // Vectors read in place from a mapping are file-backed pages, not heap.
  return m.records + m.upper + (quantized_ && raw_mapped() ? 0 : m.raw) + m.ids;
}

Status HnswGraph::TrainQuantizer(const float* extra, size_t extra_rows) {
  if (!quantized_ || codec() != nullptr) return Status::OK();
  std::unique_lock rl(resize_mu_);
  if (codec() != nullptr) return Status::OK();
  const Storage* st = storage_.load(std::memory_order_acquire);
  const size_t dim = opt_.dim;
  // A strided sample of at most kMaxSample rows from the stored vectors and
  // the extra rows (normalised under cosine, as stored vectors are).
  constexpr size_t kMaxSample = 65536;
  std::vector<uint32_t> live;
  ForEachLive([&](VectorId, uint32_t slot) { live.push_back(slot); });
  std::sort(live.begin(), live.end());
  const size_t total = live.size() + extra_rows;
  const size_t step = std::max<size_t>(1, (total + kMaxSample - 1) / kMaxSample);
  std::vector<float> sample;
  sample.reserve(std::min(total, kMaxSample) * dim);
  for (size_t i = 0; i < total; i += step) {
    const float* row = i < live.size() ? RawVec(st->base, live[i])
                                       : extra + (i - live.size()) * dim;
    const size_t at = sample.size();
    sample.insert(sample.end(), row, row + dim);
    if (opt_.metric == Metric::kCosine && i >= live.size()) {
      float inv = 1.0f / std::sqrt(kernels_->dot(row, row, opt_.dim));
      for (size_t j = 0; j < dim; ++j) sample[at + j] *= inv;
    }
  }
  OMENDB_ASSIGN_OR_RETURN(auto codec, quant::TrainCodec(opt_.quant, opt_.dim, opt_.metric,
                                                        sample.data(), sample.size() / dim,
                                                        opt_.seed));
  rl.unlock();
  return InstallCodec(std::move(codec));
}

Status HnswGraph::InstallCodec(std::unique_ptr<quant::Codec> codec, bool encode) {
  if (!quantized_) return Status::OK();
  if (codec == nullptr || codec->code_bytes() != code_bytes_ || codec->dim() != opt_.dim ||
      codec->metric() != opt_.metric || !(codec->quantization() == opt_.quant)) {
    return Status::Internal("codec does not match the index");
  }
  std::unique_lock rl(resize_mu_);
  if (this->codec() != nullptr) return Status::OK();
  const char* base = storage_.load(std::memory_order_acquire)->base;
  // Every filled record (removed ones too: searches still walk through
  // them until consolidation). A slot claimed by an insert that has not
  // filled it yet is encoded again by that insert once this returns.
  const size_t n = encode ? slots() : 0;
  for (uint32_t v = 0; v < n; ++v) codec->Encode(RawVec(base, v), const_cast<uint8_t*>(Code(base, v)));
  codec_owned_ = std::move(codec);
  codec_.store(codec_owned_.get(), std::memory_order_release);
  return Status::OK();
}

size_t HnswGraph::MarkFrom(const char* base, uint32_t start, std::vector<uint8_t>& mark) const {
  if (mark[start]) return 0;
  const size_t n = mark.size();
  std::vector<uint32_t> queue{start};
  mark[start] = 1;
  for (size_t head = 0; head < queue.size(); ++head) {
    const uint32_t* list = List(base, queue[head], 0);
    uint32_t cnt = std::min(LoadAcq(list), max_m0_);
    for (uint32_t j = 1; j <= cnt; ++j) {
      uint32_t v = LoadAcq(list + j);
      if (v < n && !mark[v]) {
        mark[v] = 1;
        queue.push_back(v);
      }
    }
  }
  return queue.size();
}

size_t HnswGraph::MarkReachable(const char* base, std::vector<uint8_t>& mark) const {
  mark.assign(slots(), 0);
  uint32_t entry = static_cast<uint32_t>(entry_.load(std::memory_order_acquire));
  return entry == kNoSlot ? 0 : MarkFrom(base, entry, mark);
}

size_t HnswGraph::ConsolidateRemoved(SearchScratch& s, std::vector<uint32_t>* unlinked) {
  if (linked_removed() == 0) return 0;
  std::shared_lock rl(resize_mu_);
  const char* base = storage_.load(std::memory_order_acquire)->base;
  const size_t n = slots();
  auto flags = [&](uint32_t v) { return LoadAcq(Header(base, v) + 1); };
  std::vector<uint8_t> gone(n, 0);
  size_t count = 0;
  for (uint32_t v = 0; v < n; ++v) {
    const uint32_t f = flags(v);
    if ((f & kDeletedFlag) != 0 && (f & kUnlinkedFlag) == 0) {
      gone[v] = 1;
      ++count;
    }
  }
  if (count == 0) return 0;
  {
    // A removed entry point stays usable for navigation until now; it must
    // not be unlinked while it is the entry, so the live node of highest
    // level takes over (none left: it stays, still linked).
    std::lock_guard top(entry_mu_);
    const uint64_t ep = entry_.load(std::memory_order_acquire);
    const uint32_t entry = static_cast<uint32_t>(ep);
    if (entry != kNoSlot && gone[entry]) {
      uint32_t best = kNoSlot, best_level = 0;
      for (uint32_t v = 0; v < n; ++v) {
        if (gone[v] || (flags(v) & kDeletedFlag) != 0) continue;
        if (best == kNoSlot || Level(base, v) > best_level) {
          best = v;
          best_level = Level(base, v);
        }
      }
      if (best == kNoSlot) {
        gone[entry] = 0;
        --count;
      } else {
        entry_.store((static_cast<uint64_t>(best_level) << 32) | best, std::memory_order_release);
      }
    }
  }
  // Re-select each affected list. The pool is the list's live members plus
  // the live members of the removed nodes' lists on the same layer (their
  // replacements in the neighbourhood), pruned like an MN-RU repair.
  EnsureScratch(s, max_m0_, storage_.load(std::memory_order_acquire)->capacity);
  std::vector<uint32_t> pool;
  for (uint32_t v = 0; v < n; ++v) {
    if ((flags(v) & kDeletedFlag) != 0) continue;
    const uint32_t level = Level(base, v);
    for (uint32_t l = 0; l <= level; ++l) {
      const uint32_t bound = l == 0 ? max_m0_ : max_m_;
      uint32_t* list = List(base, v, l);
      const uint32_t cnt = std::min(LoadAcq(list), bound);
      bool affected = false;
      for (uint32_t j = 1; j <= cnt && !affected; ++j) affected = gone[LoadAcq(list + j)] != 0;
      if (!affected) continue;
      pool.clear();
      for (uint32_t j = 1; j <= cnt; ++j) {
        const uint32_t u = LoadAcq(list + j);
        if (!gone[u]) {
          pool.push_back(u);
          continue;
        }
        const uint32_t* dl = List(base, u, l);
        const uint32_t dcnt = std::min(LoadAcq(dl), bound);
        for (uint32_t i = 1; i <= dcnt; ++i) pool.push_back(LoadAcq(dl + i));
      }
      if (l == 0) {
        // Deviation from FreshDiskANN's pool: on layer 0 it is widened by a
        // beam search of width M0 started at v itself (through the removed
        // records, whose lists are still intact). Without it, sift-photos-100k
        // after 100 rounds of 1% replacement lost 1.1 points of recall@10 at
        // ef 32 against a fresh build; with it the loss stays under 0.5
        // points at every ef from 16 to 128 (docs/bench-db.md), for about
        // 1.6x the replacement time.
        uint64_t dists = 0, hops = 0;
        const float* vv = RawVec(base, v);
        const size_t found =
            SearchLayer(base, RawOp(vv, s), v, Distance(vv, vv), max_m0_, 0, s, &dists, &hops);
        for (size_t i = 0; i < found; ++i) pool.push_back(s.pool[i].slot);
      }
      std::sort(pool.begin(), pool.end());
      pool.erase(std::unique(pool.begin(), pool.end()), pool.end());
      s.prune.clear();
      const float* vv = RawVec(base, v);
      for (uint32_t u : pool) {
        if (u == v || u >= n || gone[u] || (flags(u) & kDeletedFlag) != 0) continue;
        s.prune.push_back({Distance(vv, RawVec(base, u)), u});
      }
      std::sort(s.prune.begin(), s.prune.end(),
                [](const Candidate& a, const Candidate& b) { return a.dist < b.dist; });
      SelectHeuristic(base, s.prune.data(), s.prune.size(), bound, s.selected, kRepairAlpha);
      std::lock_guard lock(NodeLock(v));
      uint32_t k = 0;
      for (const Candidate& c : s.selected) StoreRel(list + 1 + k++, c.slot);
      StoreRel(list, k);
    }
  }
  for (uint32_t v = 0; v < n; ++v) {
    if (!gone[v]) continue;
    uint32_t* f = Header(base, v) + 1;
    StoreRel(f, LoadAcq(f) | kUnlinkedFlag);
    if (unlinked != nullptr) unlinked->push_back(v);
  }
  linked_removed_.fetch_sub(count, std::memory_order_acq_rel);
  return count;
}

void HnswGraph::ReleaseSlots(const std::vector<uint32_t>& slots) {
  if (slots.empty()) return;
  std::shared_lock rl(resize_mu_);
  const char* base = storage_.load(std::memory_order_acquire)->base;
  std::unique_lock idl(id_mu_);
  for (uint32_t v : slots) {
    uint32_t* h = Header(base, v);
    if ((LoadAcq(h + 1) & kUnlinkedFlag) == 0) continue;  // not unlinked: keep
    // No reader can reach the record: drop its upper lists and empty it, so
    // audits and snapshots see a record without edges.
    uint64_t upper;
    std::memcpy(&upper, h + 4, sizeof upper);
    if (upper != 0) {
      delete[] reinterpret_cast<uint32_t*>(upper);
      upper_bytes_.fetch_sub(static_cast<size_t>(h[0]) * (1 + max_m_) * sizeof(uint32_t),
                             std::memory_order_relaxed);
      upper = 0;
      std::memcpy(h + 4, &upper, sizeof upper);
    }
    h[0] = 0;
    StoreRel(h + 6, 0);
    free_slots_.push_back(v);
  }
}

size_t HnswGraph::free_slots() const {
  std::shared_lock idl(id_mu_);
  return free_slots_.size();
}

size_t HnswGraph::RepairReachability(SearchScratch& s, int max_rounds) {
  std::shared_lock rl(resize_mu_);
  const char* base = storage_.load(std::memory_order_acquire)->base;
  const size_t n = slots();
  uint32_t entry = static_cast<uint32_t>(entry_.load(std::memory_order_acquire));
  if (entry == kNoSlot) return 0;
  std::vector<uint8_t> mark;
  // Removed nodes need no in-edge; only live ones count.
  auto unreachable = [&] {
    MarkReachable(base, mark);
    size_t missing = 0;
    for (uint32_t u = 0; u < n; ++u) missing += !mark[u] && !IsDeleted(base, u);
    return missing;
  };
  size_t missing = unreachable();
  for (int round = 0; round < max_rounds && missing > 0; ++round) {
    EnsureScratch(s, opt_.ef_construction, storage_.load(std::memory_order_acquire)->capacity);
    for (uint32_t u = 0; u < n; ++u) {
      if (mark[u] || IsDeleted(base, u)) continue;
      const float* uv = RawVec(base, u);
      uint64_t dists = 0, hops = 0;
      size_t found = SearchLayer(base, RawOp(uv, s), entry, Distance(uv, RawVec(base, entry)),
                                 opt_.ef_construction, 0, s, &dists, &hops);
      // Nearest reachable candidate with a free slot; else the nearest reachable.
      uint32_t target = kNoSlot, fallback = kNoSlot;
      for (size_t i = 0; i < found; ++i) {
        uint32_t c = s.pool[i].slot;
        if (c == u || !mark[c] || IsDeleted(base, c)) continue;
        if (fallback == kNoSlot) fallback = c;
        if (LoadAcq(List(base, c, 0)) < max_m0_) {
          target = c;
          break;
        }
      }
      if (target == kNoSlot) target = fallback;
      if (target == kNoSlot) continue;
      {
        std::lock_guard lock(NodeLock(target));
        uint32_t* list = List(base, target, 0);
        uint32_t cnt = LoadAcq(list);
        if (cnt < max_m0_) {
          StoreRel(list + 1 + cnt, u);
          StoreRel(list, cnt + 1);
        } else {
          // Replace the farthest neighbour; if that orphans it, the next
          // round's audit repairs it in turn.
          const float* tv = RawVec(base, target);
          uint32_t worst = 1;
          float worst_d = -1;
          for (uint32_t j = 1; j <= cnt; ++j) {
            float d = Distance(tv, RawVec(base, LoadAcq(list + j)));
            if (d > worst_d) {
              worst_d = d;
              worst = j;
            }
          }
          StoreRel(list + worst, u);
        }
      }
      // u and everything reachable from it are now reachable.
      MarkFrom(base, u, mark);
    }
    missing = unreachable();
  }
  return missing;
}

Status HnswGraph::Reorder() {
  std::unique_lock rl(resize_mu_);
  std::unique_lock idl(id_mu_);
  Storage* cur = storage_.load(std::memory_order_relaxed);
  const size_t n = next_slot_;
  if (n < 2) return Status::OK();
  const char* base = cur->base;

  // Graph reordering (Coleman et al., "Graph Reordering for Cache-Efficient
  // Near Neighbor Search", NeurIPS 2022), with their cheapest layout, a
  // breadth-first order: a breadth-first walk of layer 0 from the entry
  // point numbers each node's neighbours together, in list order, then
  // every slot the walk missed (removed records, orphans) the same way from
  // each in turn. The paper reports up to 40% lower query time; on the
  // 2-core VM this project is measured on it changed nothing beyond noise
  // (docs/design/hnsw.md), so nothing calls it by default.
  std::vector<uint32_t> order;
  std::vector<uint32_t> new_of(n, kNoSlot);
  order.reserve(n);
  {
    auto walk = [&](uint32_t start) {
      size_t head = order.size();
      new_of[start] = static_cast<uint32_t>(order.size());
      order.push_back(start);
      while (head < order.size()) {
        const uint32_t* list = List(base, order[head++], 0);
        const uint32_t cnt = std::min(list[0], max_m0_);
        for (uint32_t j = 1; j <= cnt; ++j) {
          const uint32_t v = list[j];
          if (v >= n || new_of[v] != kNoSlot) continue;
          new_of[v] = static_cast<uint32_t>(order.size());
          order.push_back(v);
        }
      }
    };
    const uint32_t entry = static_cast<uint32_t>(entry_.load(std::memory_order_relaxed));
    if (entry != kNoSlot) walk(entry);
    for (uint32_t s = 0; s < n; ++s) {
      if (new_of[s] == kNoSlot) walk(s);
    }
  }

  // A new generation of the same capacity holding the records in the new
  // order, their layer-0 lists renumbered. Readers are excluded (see the
  // contract), so the old generations can go at once.
  const size_t cap = cur->capacity;
  auto fresh = AllocStorage(cap, nullptr);
  if (fresh == nullptr) {
    return Status::ResourceExhausted("out of memory reordering the HNSW index");
  }
  const size_t row = static_cast<size_t>(opt_.dim) * sizeof(float);
  if (quantized_) {
    std::memset(reinterpret_cast<char*>(fresh->raw) + n * row, 0, (cap - n) * row);
  }
  for (uint32_t s = 0; s < n; ++s) {
    const uint32_t t = new_of[s];
    std::memcpy(fresh->base + static_cast<size_t>(t) * stride_,
                base + static_cast<size_t>(s) * stride_, stride_);
    if (quantized_) {
      std::memcpy(reinterpret_cast<char*>(fresh->raw) + t * row, RawVec(base, s), row);
    }
    // Layer 0 lives in the record; upper lists are the node's own array,
    // renumbered in place.
    const uint32_t levels = Level(fresh->base, t);
    for (uint32_t layer = 0; layer <= levels; ++layer) {
      uint32_t* list = List(fresh->base, t, layer);
      const uint32_t cnt = std::min(list[0], layer == 0 ? max_m0_ : max_m_);
      for (uint32_t j = 1; j <= cnt; ++j) {
        if (list[j] < n) list[j] = new_of[list[j]];
      }
    }
  }
  std::memset(fresh->base + n * stride_, 0, (cap - n) * stride_);

  for (auto& [id, slot] : id_to_slot_) slot = new_of[slot];
  for (uint32_t& s : free_slots_) s = new_of[s];
  const uint64_t e = entry_.load(std::memory_order_relaxed);
  if (static_cast<uint32_t>(e) != kNoSlot) {
    entry_.store((e & ~uint64_t{0xFFFFFFFFu}) | new_of[static_cast<uint32_t>(e)],
                 std::memory_order_release);
  }
  storage_.store(fresh.get(), std::memory_order_release);
  all_storage_.clear();
  all_storage_.push_back(std::move(fresh));
  mapping_.reset();
  return Status::OK();
}

GraphReport HnswGraph::Check() const {
  std::shared_lock rl(resize_mu_);
  GraphReport r;
  const char* base = storage_.load(std::memory_order_acquire)->base;
  const size_t n = slots();
  r.nodes = size();
  r.deleted = deleted_count();
  uint64_t ep = entry_.load(std::memory_order_acquire);
  uint32_t entry = static_cast<uint32_t>(ep);
  if (entry == kNoSlot) return r;
  r.max_level = ep >> 32;
  std::vector<uint32_t> seen;
  auto unlinked = [&](uint32_t v) { return (LoadAcq(Header(base, v) + 1) & kUnlinkedFlag) != 0; };
  for (uint32_t s = 0; s < n; ++s) {
    if (unlinked(s)) continue;  // edges of a record no walk reaches do not matter
    uint32_t level = Level(base, s);
    for (uint32_t l = 0; l <= level; ++l) {
      const uint32_t* list = List(base, s, l);
      uint32_t cnt = LoadAcq(list);
      if (cnt > (l == 0 ? max_m0_ : max_m_)) {
        ++r.degree_violations;
        cnt = l == 0 ? max_m0_ : max_m_;
      }
      seen.assign(list + 1, list + 1 + cnt);
      std::sort(seen.begin(), seen.end());
      for (uint32_t j = 0; j < cnt; ++j) {
        uint32_t v = seen[j];
        if (v == s) ++r.self_loops;
        if (j > 0 && seen[j - 1] == v) ++r.duplicate_edges;
        if (v >= n || Level(base, v) < l || unlinked(v)) ++r.invalid_edges;
      }
    }
  }
  if (unlinked(entry)) ++r.invalid_edges;
  std::vector<uint8_t> mark;
  MarkReachable(base, mark);
  for (uint32_t u = 0; u < n; ++u) r.reachable += mark[u] && !IsDeleted(base, u);
  return r;
}

}  // namespace omendb::index_internal

namespace omendb::index_internal {
namespace {

constexpr char kSnapshotMagic[8] = {'O', 'M', 'D', 'B', 'H', 'N', 'S', 'W'};
// Version 1: float32 records. Version 2 (quantized indexes): the same
// sections, the quantization in header bytes 88-89, then a codec section and
// the full-precision vectors.
constexpr uint32_t kSnapshotVersion = 1;
constexpr uint32_t kSnapshotVersionQuant = 2;
constexpr size_t kSnapshotHeaderBytes = 96;  // including its trailing checksum
constexpr uint32_t kMaxLevel = 30;

void Put32(char* p, uint32_t v) { std::memcpy(p, &v, 4); }
void Put64(char* p, uint64_t v) { std::memcpy(p, &v, 8); }
uint32_t Get32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
uint64_t Get64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

Status Corrupt(const std::string& what) { return Status::Corruption("HNSW snapshot: " + what); }

}  // namespace

Status HnswGraph::Serialize(const std::function<Status(std::string_view)>& sink) const {
  std::shared_lock rl(resize_mu_);
  const char* base = storage_.load(std::memory_order_acquire)->base;
  const size_t n = slots();
  uint64_t upper_words = 0;
  for (uint32_t s = 0; s < n; ++s) upper_words += static_cast<uint64_t>(Level(base, s)) * (1 + max_m_);
  const uint64_t ep = entry_.load(std::memory_order_acquire);

  // Header: fixed layout, little-endian (x86-64 is the only target so far).
  char h[kSnapshotHeaderBytes] = {};
  std::memcpy(h, kSnapshotMagic, 8);
  Put32(h + 8, quantized_ ? kSnapshotVersionQuant : kSnapshotVersion);
  Put32(h + 12, kSnapshotHeaderBytes);
  Put32(h + 16, opt_.dim);
  Put32(h + 20, static_cast<uint32_t>(opt_.metric));
  Put32(h + 24, opt_.M);
  Put32(h + 28, opt_.ef_construction);
  Put64(h + 32, opt_.seed);
  Put64(h + 40, n);
  Put64(h + 48, size());
  Put64(h + 56, deleted_count());
  Put32(h + 64, static_cast<uint32_t>(ep));
  Put32(h + 68, static_cast<uint32_t>(ep >> 32));
  Put64(h + 72, stride_);
  Put64(h + 80, upper_words);
  h[88] = static_cast<char>(opt_.quant.kind);
  h[89] = static_cast<char>(opt_.quant.bits);
  Put32(h + 92, util::crc32c::Mask(util::crc32c::Value(h, 92)));
  OMENDB_RETURN_IF_ERROR(sink({h, sizeof h}));

  // Records, with the process-local upper-list pointer zeroed, in chunks.
  uint32_t crc = 0;
  std::vector<char> chunk;
  const size_t per_chunk = std::max<size_t>(1, (1u << 20) / stride_);
  for (size_t s0 = 0; s0 < n; s0 += per_chunk) {
    size_t s1 = std::min(n, s0 + per_chunk);
    chunk.assign(base + s0 * stride_, base + s1 * stride_);
    for (size_t s = s0; s < s1; ++s) {
      std::memset(chunk.data() + (s - s0) * stride_ + header_off_ + 16, 0, 8);
    }
    crc = util::crc32c::Extend(crc, chunk.data(), chunk.size());
    OMENDB_RETURN_IF_ERROR(sink({chunk.data(), chunk.size()}));
  }
  char tail[4];
  Put32(tail, util::crc32c::Mask(crc));
  OMENDB_RETURN_IF_ERROR(sink({tail, 4}));

  // Upper lists, in slot order.
  crc = 0;
  for (uint32_t s = 0; s < n; ++s) {
    uint32_t level = Level(base, s);
    if (level == 0) continue;
    const char* p = reinterpret_cast<const char*>(List(base, s, 1));
    size_t bytes = static_cast<size_t>(level) * (1 + max_m_) * 4;
    crc = util::crc32c::Extend(crc, p, bytes);
    OMENDB_RETURN_IF_ERROR(sink({p, bytes}));
  }
  Put32(tail, util::crc32c::Mask(crc));
  OMENDB_RETURN_IF_ERROR(sink({tail, 4}));
  if (!quantized_) return Status::OK();

  // The training threshold and the codec parameters (empty while
  // untrained), under one checksum, then the vectors by slot.
  std::string section(8, '\0');
  if (const quant::Codec* c = codec()) c->Serialize(&section);
  Put32(section.data(), opt_.quant_train_after);
  Put32(section.data() + 4, static_cast<uint32_t>(section.size() - 8));
  // Zero padding to a multiple of 4 (in the checksum), so the vectors that
  // follow start float-aligned and can be read in place from a mapping.
  section.resize((section.size() + 3) & ~size_t{3}, '\0');
  OMENDB_RETURN_IF_ERROR(sink(section));
  Put32(tail, util::crc32c::Mask(util::crc32c::Value(section.data(), section.size())));
  OMENDB_RETURN_IF_ERROR(sink({tail, 4}));
  // An index that never held a vector has no storage (base is null).
  const char* raw = n > 0 ? reinterpret_cast<const char*>(RawVec(base, 0)) : nullptr;
  const size_t raw_bytes = n * opt_.dim * sizeof(float);
  crc = 0;
  for (size_t off = 0; off < raw_bytes; off += (1u << 20)) {
    const size_t len_chunk = std::min<size_t>(1u << 20, raw_bytes - off);
    crc = util::crc32c::Extend(crc, raw + off, len_chunk);
    OMENDB_RETURN_IF_ERROR(sink({raw + off, len_chunk}));
  }
  Put32(tail, util::crc32c::Mask(crc));
  return sink({tail, 4});
}

Result<std::unique_ptr<HnswGraph>> HnswGraph::Deserialize(std::string_view bytes,
                                                          std::shared_ptr<const void> mapping) {
  if (bytes.size() < kSnapshotHeaderBytes) return Corrupt("shorter than its header");
  const char* h = bytes.data();
  if (std::memcmp(h, kSnapshotMagic, 8) != 0) return Corrupt("bad magic");
  if (util::crc32c::Unmask(Get32(h + 92)) != util::crc32c::Value(h, 92)) {
    return Corrupt("header checksum mismatch");
  }
  const uint32_t version = Get32(h + 8);
  if (version != kSnapshotVersion && version != kSnapshotVersionQuant) {
    return Status::NotSupported("HNSW snapshot version " + std::to_string(version));
  }
  if (Get32(h + 12) != kSnapshotHeaderBytes) return Corrupt("bad header size");
  HnswOptions o;
  o.dim = Get32(h + 16);
  uint32_t metric = Get32(h + 20);
  o.M = Get32(h + 24);
  o.ef_construction = Get32(h + 28);
  o.seed = Get64(h + 32);
  if (o.dim == 0 || o.dim > 65536 || metric > 2 || o.M < 2 || o.M > 512 ||
      o.ef_construction == 0 || o.ef_construction > 100000) {
    return Corrupt("parameters out of range");
  }
  o.metric = static_cast<Metric>(metric);
  if (version == kSnapshotVersionQuant) {
    const auto kind = static_cast<uint8_t>(h[88]);
    if (kind == 0 || kind > static_cast<uint8_t>(QuantKind::kRaBitQ)) {
      return Corrupt("bad quantization kind");
    }
    o.quant = Quantization{static_cast<QuantKind>(kind), static_cast<uint8_t>(h[89])};
    Status qs = CheckOptions(o);
    if (qs.code() == StatusCode::kNotSupported) return qs;
    if (!qs.ok()) return Corrupt("bad quantization: " + qs.message());
  } else if (h[88] != 0 || h[89] != 0) {
    return Corrupt("quantization in a float snapshot");
  }
  const uint64_t n = Get64(h + 40), live = Get64(h + 48), deleted = Get64(h + 56);
  const uint32_t entry = Get32(h + 64), max_level = Get32(h + 68);
  const uint64_t upper_words = Get64(h + 80);
  auto g = std::make_unique<HnswGraph>(o);
  if (Get64(h + 72) != g->stride_) return Corrupt("record size does not match parameters");
  if (n > kMaxSlots || live + deleted != n) return Corrupt("bad counts");
  // Sizes are checked against the input before anything is allocated.
  const uint64_t records = n * g->stride_;
  if (upper_words > bytes.size() / 4 || records > bytes.size()) {
    return Corrupt("size " + std::to_string(bytes.size()) + " does not match its header");
  }
  const uint64_t graph_bytes = kSnapshotHeaderBytes + records + 4 + upper_words * 4 + 4;
  // Quantized: [u32 train after][u32 codec length][codec, padded][crc]
  // [n * dim floats][crc].
  std::string_view codec_bytes, raw_bytes;
  if (version == kSnapshotVersionQuant) {
    const uint64_t raw_len = n * o.dim * sizeof(float);
    if (graph_bytes + 8 > bytes.size()) return Corrupt("truncated before the codec");
    const uint64_t clen = Get32(h + graph_bytes + 4);
    const uint64_t padded = (8 + clen + 3) & ~uint64_t{3};
    if (bytes.size() != graph_bytes + padded + 4 + raw_len + 4) {
      return Corrupt("size " + std::to_string(bytes.size()) + " does not match its header");
    }
    if (util::crc32c::Unmask(Get32(h + graph_bytes + padded)) !=
        util::crc32c::Value(h + graph_bytes, padded)) {
      return Corrupt("codec checksum mismatch");
    }
    g->opt_.quant_train_after = Get32(h + graph_bytes);
    if (g->opt_.quant_train_after == 0) return Corrupt("bad quantization training threshold");
    codec_bytes = bytes.substr(graph_bytes + 8, clen);
    raw_bytes = bytes.substr(graph_bytes + padded + 4, raw_len);
    if (util::crc32c::Unmask(Get32(raw_bytes.data() + raw_len)) !=
        util::crc32c::Value(raw_bytes.data(), raw_len)) {
      return Corrupt("vector checksum mismatch");
    }
  } else if (bytes.size() != graph_bytes) {
    return Corrupt("size " + std::to_string(bytes.size()) + " does not match its header");
  }
  const char* rec = h + kSnapshotHeaderBytes;
  if (util::crc32c::Unmask(Get32(rec + records)) != util::crc32c::Value(rec, records)) {
    return Corrupt("record checksum mismatch");
  }
  const char* up = rec + records + 4;
  if (util::crc32c::Unmask(Get32(up + upper_words * 4)) !=
      util::crc32c::Value(up, upper_words * 4)) {
    return Corrupt("upper-layer checksum mismatch");
  }
  if ((n == 0) != (entry == kNoSlot) || (n > 0 && entry >= n)) return Corrupt("bad entry point");

  // Vectors in place: exactly n slots (a later insert grows, copying them).
  const bool in_place = mapping != nullptr && !raw_bytes.empty() &&
                        reinterpret_cast<uintptr_t>(raw_bytes.data()) % alignof(float) == 0;
  if (in_place) {
    OMENDB_RETURN_IF_ERROR(
        g->NewGeneration(n, reinterpret_cast<const float*>(raw_bytes.data())));
    g->mapping_ = std::move(mapping);
  } else {
    OMENDB_RETURN_IF_ERROR(g->Grow(std::max<uint64_t>(n, 1)));
  }
  char* base = g->storage_.load(std::memory_order_relaxed)->base;
  std::memcpy(base, rec, records);
  if (!raw_bytes.empty() && !in_place) {
    std::memcpy(const_cast<float*>(g->RawVec(base, 0)), raw_bytes.data(), raw_bytes.size());
  }
  // Validate records and rebuild the upper lists and the id map.
  uint64_t used_upper = 0, seen_deleted = 0;
  const uint32_t* words = nullptr;
  std::vector<uint32_t> upper(upper_words);
  if (upper_words > 0) std::memcpy(upper.data(), up, upper_words * 4);
  words = upper.data();
  for (uint32_t s = 0; s < n; ++s) {
    uint32_t* hdr = g->Header(base, s);
    uint32_t level = hdr[0];
    if (level > kMaxLevel || (hdr[1] != 0 && hdr[1] != kDeletedFlag &&
                              hdr[1] != (kDeletedFlag | kUnlinkedFlag))) {
      return Corrupt("bad record header");
    }
    uint64_t need = static_cast<uint64_t>(level) * (1 + g->max_m_);
    if (used_upper + need > upper_words) return Corrupt("upper lists shorter than levels");
    uint64_t ptr = 0;
    if (level > 0) {
      auto* arr = new uint32_t[need];
      std::memcpy(arr, words + used_upper, need * 4);
      ptr = reinterpret_cast<uint64_t>(arr);
      g->upper_bytes_.fetch_add(need * 4, std::memory_order_relaxed);
    }
    std::memcpy(hdr + 4, &ptr, 8);  // owned by g from here on, freed by its destructor
    used_upper += need;
    g->next_slot_ = s + 1;
    if (hdr[1] & kDeletedFlag) {
      ++seen_deleted;
    } else if (!g->id_to_slot_.emplace(g->IdOf(base, s), s).second) {
      return Corrupt("duplicate id " + std::to_string(g->IdOf(base, s)));
    }
  }
  if (used_upper != upper_words || seen_deleted != deleted) return Corrupt("counts disagree");
  auto unlinked = [&](uint32_t v) { return (g->Header(base, v)[1] & kUnlinkedFlag) != 0; };
  std::vector<uint32_t> free_slots;
  for (uint32_t s = 0; s < n; ++s) {
    if (unlinked(s)) {
      free_slots.push_back(s);  // its lists are never read again
      continue;
    }
    uint32_t level = g->Level(base, s);
    for (uint32_t l = 0; l <= level; ++l) {
      const uint32_t* list = g->List(base, s, l);
      uint32_t bound = l == 0 ? g->max_m0_ : g->max_m_;
      if (list[0] > bound) return Corrupt("neighbour list longer than its bound");
      for (uint32_t j = 1; j <= list[0]; ++j) {
        if (list[j] >= n || g->Level(base, list[j]) < l || unlinked(list[j])) {
          return Corrupt("bad neighbour id");
        }
      }
    }
  }
  if (n > 0 && (g->Level(base, entry) != max_level || unlinked(entry))) {
    return Corrupt("bad entry point");
  }
  g->size_.store(live, std::memory_order_release);
  g->deleted_.store(deleted, std::memory_order_release);
  g->linked_removed_.store(deleted - free_slots.size(), std::memory_order_release);
  g->ReleaseSlots(free_slots);
  g->entry_.store(n == 0 ? kNoSlot : ((static_cast<uint64_t>(max_level) << 32) | entry),
                  std::memory_order_release);
  if (!codec_bytes.empty()) {
    auto codec = quant::DeserializeCodec(codec_bytes);
    if (!codec.ok()) {
      if (codec.status().code() == StatusCode::kNotSupported) return codec.status();
      return Corrupt(codec.status().message());
    }
    // The records' codes were written by this codec (checksummed above);
    // the kernels read any code bytes safely, so they are not re-encoded.
    Status cs = g->InstallCodec(std::move(*codec), /*encode=*/false);
    if (!cs.ok()) return Corrupt("codec does not match the index");
  }
  return g;
}

}  // namespace omendb::index_internal
