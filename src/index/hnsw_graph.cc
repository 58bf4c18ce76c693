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
      max_m_(options.M),
      max_m0_(2 * options.M),
      level_mult_(1.0 / std::log(static_cast<double>(std::max<uint32_t>(options.M, 2)))),
      storage_(nullptr),
      entry_(kNoSlot),
      node_locks_(new std::mutex[kLockStripes]) {
  header_off_ = RoundUp(static_cast<size_t>(opt_.dim) * sizeof(float), 8);
  // level u32, pad u32, id u64, upper pointer u64, count u32, M0 slots.
  stride_ = RoundUp(header_off_ + 28 + 4 * static_cast<size_t>(max_m0_), kLine);
  // Measured on sift-photos-100k (70 MB of records, far beyond cache):
  // requesting every line of each unvisited neighbour's vector while
  // gathering beats requesting only the first (up to +15% QPS). Capped at 8
  // lines: for long vectors the batch kernel's own prefetch-ahead covers the
  // rest, and more outstanding requests than the core's miss buffers only queue.
  gather_prefetch_bytes_ = std::min<size_t>(static_cast<size_t>(opt_.dim) * sizeof(float), 512);
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
  for (auto& st : all_storage_) {
    if (st->base != nullptr) ::operator delete(st->base, std::align_val_t(kLine));
  }
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
  auto fresh = std::make_unique<Storage>();
  fresh->base = static_cast<char*>(
      ::operator new(cap * stride_, std::align_val_t(kLine), std::nothrow));
  if (fresh->base == nullptr) {
    return Status::ResourceExhausted("out of memory growing the HNSW index to " +
                                     std::to_string(cap) + " vectors");
  }
  fresh->capacity = cap;
  size_t used = old->capacity * stride_;
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

uint32_t HnswGraph::Greedy(const char* base, size_t limit, const float* q, uint32_t entry,
                           float* entry_dist, uint32_t layer, uint64_t* dists) const {
  uint32_t cur = entry;
  float cur_d = *entry_dist;
  bool changed = true;
  while (changed) {
    changed = false;
    const uint32_t* list = List(base, cur, layer);
    uint32_t cnt = LoadAcq(list);
    for (uint32_t j = 1; j <= cnt; ++j) {
      uint32_t v = LoadAcq(list + j);
      // Upper-layer lists live outside the record array and are shared by
      // every generation of it, so a reader on an older generation can meet
      // a node added after that generation was retired: skip it.
      if (v >= limit) continue;
      float d = Distance(q, VecPtr(base, v));
      ++*dists;
      if (d < cur_d) {
        cur_d = d;
        cur = v;
        changed = true;
      }
    }
  }
  *entry_dist = cur_d;
  return cur;
}

size_t HnswGraph::SearchLayer(const char* base, const float* q, uint32_t entry,
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
  const float** bptr = s.batch_ptr.data();
  uint32_t* bslot = s.batch_slot.data();
  float* bdist = s.batch_dist.data();
  const bool l2 = opt_.metric == Metric::kL2;
  const simd::BatchFn batch = l2 ? kernels_->l2sq_batch : kernels_->dot_batch;

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
    size_t nb = GatherUnvisited(base, list, cnt, visited, epoch, bptr, bslot);
    batch(q, bptr, nb, opt_.dim, bdist);
    *dists += nb;
    size_t lowest = size;  // smallest position an insertion landed at
    for (size_t j = 0; j < nb; ++j) {
      float d = l2 ? bdist[j] : 1.0f - bdist[j];
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
    const float* cv = VecPtr(base, c.slot);
    bool keep = true;
    for (const Candidate& r : out) {
      if (factor * Distance(cv, VecPtr(base, r.slot)) < c.dist) {
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
  const float* tv = VecPtr(base, to);
  s.prune.push_back({dist, from});
  for (uint32_t j = 1; j <= cnt; ++j) {
    uint32_t v = LoadAcq(list + j);
    if (IsDeleted(base, v)) continue;  // a full list is the moment to shed removed nodes
    s.prune.push_back({Distance(tv, VecPtr(base, v)), v});
  }
  std::sort(s.prune.begin(), s.prune.end(),
            [](const Candidate& a, const Candidate& b) { return a.dist < b.dist; });
  SelectHeuristic(base, s.prune.data(), s.prune.size(), bound, s.selected);
  uint32_t k = 0;
  for (const Candidate& c : s.selected) StoreRel(list + 1 + k++, c.slot);
  StoreRel(list, k);
}

Status HnswGraph::Insert(VectorId id, const float* vec, SearchScratch& s) {
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

  std::shared_lock rl(resize_mu_);
  const char* base = storage_.load(std::memory_order_acquire)->base;
  const uint32_t level = DrawLevel(slot);

  // Fill the record before any link to it is published.
  float* v = VecPtr(const_cast<char*>(base), slot);
  std::memcpy(v, vec, opt_.dim * sizeof(float));
  if (opt_.metric == Metric::kCosine) {
    float inv = 1.0f / std::sqrt(kernels_->dot(v, v, opt_.dim));
    for (uint32_t i = 0; i < opt_.dim; ++i) v[i] *= inv;
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
  uint64_t dists = 0, hops = 0;
  float d = Distance(q, VecPtr(base, entry));
  uint32_t cur = entry;
  const size_t limit = storage_.load(std::memory_order_acquire)->capacity;
  for (uint32_t l = max_level; l > level; --l) cur = Greedy(base, limit, q, cur, &d, l, &dists);
  // Search every layer first and publish afterwards: the node's own lists on
  // all layers are written before the first back-link makes it reachable, so
  // a concurrent search can never walk into a node whose layer-0 list is
  // still empty. Each layer's search reads only that layer's lists, so the
  // graph is the same as when linking layer by layer (paper, Algorithm 1).
  const uint32_t top = std::min(level, max_level);
  std::vector<std::vector<Candidate>> chosen(top + 1);
  for (int32_t l = static_cast<int32_t>(top); l >= 0; --l) {
    size_t n = SearchLayer(base, q, cur, d, opt_.ef_construction, l, s, &dists, &hops);
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

size_t HnswGraph::SearchLayerFiltered(const char* base, const float* q, uint32_t entry,
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
  const float** bptr = s.batch_ptr.data();
  uint32_t* bslot = s.batch_slot.data();
  float* bdist = s.batch_dist.data();
  const bool l2 = opt_.metric == Metric::kL2;
  const simd::BatchFn batch = l2 ? kernels_->l2sq_batch : kernels_->dot_batch;
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
    size_t nb = GatherUnvisited(base, list, cnt, visited, epoch, bptr, bslot);
    batch(q, bptr, nb, opt_.dim, bdist);
    *dists += nb;
    for (size_t j = 0; j < nb; ++j) {
      float d = l2 ? bdist[j] : 1.0f - bdist[j];
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
    float d = Distance(q, VecPtr(base, slot));
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
      const float* nv = VecPtr(base, n);
      for (uint32_t v : pool) {
        if (v == slot || v == n || IsDeleted(base, v)) continue;
        s.prune.push_back({Distance(nv, VecPtr(base, v)), v});
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

size_t HnswGraph::Search(const float* query, size_t k, size_t ef, Neighbor* out,
                         SearchScratch& s, SearchStats* stats, const IdPredicate* filter,
                         double selectivity, double exact_below) const {
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
  uint64_t dists = 0, hops = 0;
  size_t n;
  if (filter != nullptr && selectivity < exact_below) {
    n = ScanFiltered(base, q, k, filter, s, &dists);
  } else {
    float d = Distance(q, VecPtr(base, entry));
    ++dists;
    uint32_t cur = entry;
    for (uint32_t l = max_level; l > 0; --l) {
      cur = Greedy(base, st->capacity, q, cur, &d, l, &dists);
    }
    if (filter == nullptr && linked_removed() == 0) {
      n = SearchLayer(base, q, cur, d, beam, 0, s, &dists, &hops);
    } else {
      n = SearchLayerFiltered(base, q, cur, d, beam, filter, s, &dists, &hops);
    }
  }
  n = std::min(n, k);
  for (size_t i = 0; i < n; ++i) {
    out[i].id = IdOf(base, s.pool[i].slot);
    out[i].distance = s.pool[i].dist;
  }
  if (stats != nullptr) {
    stats->distance_computations = dists;
    stats->hops = hops;
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
  std::memcpy(out, VecPtr(base, slot), opt_.dim * sizeof(float));
}

size_t HnswGraph::MemoryBytes() const {
  std::shared_lock idl(id_mu_);
  size_t map_bytes = id_to_slot_.bucket_count() * sizeof(void*) +
                     id_to_slot_.size() * (sizeof(VectorId) + sizeof(uint32_t) + 2 * sizeof(void*));
  return capacity() * stride_ + upper_bytes_.load(std::memory_order_relaxed) + map_bytes;
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
        const float* vv = VecPtr(base, v);
        const size_t found =
            SearchLayer(base, vv, v, Distance(vv, vv), max_m0_, 0, s, &dists, &hops);
        for (size_t i = 0; i < found; ++i) pool.push_back(s.pool[i].slot);
      }
      std::sort(pool.begin(), pool.end());
      pool.erase(std::unique(pool.begin(), pool.end()), pool.end());
      s.prune.clear();
      const float* vv = VecPtr(base, v);
      for (uint32_t u : pool) {
        if (u == v || u >= n || gone[u] || (flags(u) & kDeletedFlag) != 0) continue;
        s.prune.push_back({Distance(vv, VecPtr(base, u)), u});
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
      const float* uv = VecPtr(base, u);
      uint64_t dists = 0, hops = 0;
      size_t found = SearchLayer(base, uv, entry, Distance(uv, VecPtr(base, entry)),
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
          const float* tv = VecPtr(base, target);
          uint32_t worst = 1;
          float worst_d = -1;
          for (uint32_t j = 1; j <= cnt; ++j) {
            float d = Distance(tv, VecPtr(base, LoadAcq(list + j)));
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
constexpr uint32_t kSnapshotVersion = 1;
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
  Put32(h + 8, kSnapshotVersion);
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
  return sink({tail, 4});
}

Result<std::unique_ptr<HnswGraph>> HnswGraph::Deserialize(std::string_view bytes) {
  if (bytes.size() < kSnapshotHeaderBytes) return Corrupt("shorter than its header");
  const char* h = bytes.data();
  if (std::memcmp(h, kSnapshotMagic, 8) != 0) return Corrupt("bad magic");
  if (util::crc32c::Unmask(Get32(h + 92)) != util::crc32c::Value(h, 92)) {
    return Corrupt("header checksum mismatch");
  }
  if (Get32(h + 8) != kSnapshotVersion) {
    return Status::NotSupported("HNSW snapshot version " + std::to_string(Get32(h + 8)));
  }
  if (Get32(h + 12) != kSnapshotHeaderBytes) return Corrupt("bad header size");
  HnswOptions o;
  o.dim = Get32(h + 16);
  uint32_t metric = Get32(h + 20);
  o.M = Get32(h + 24);
  o.ef_construction = Get32(h + 28);
  o.seed = Get64(h + 32);
  if (o.dim == 0 || o.dim > 65536 || metric > 2 || o.M < 2 || o.M > 512 ||
      o.ef_construction == 0) {
    return Corrupt("parameters out of range");
  }
  o.metric = static_cast<Metric>(metric);
  const uint64_t n = Get64(h + 40), live = Get64(h + 48), deleted = Get64(h + 56);
  const uint32_t entry = Get32(h + 64), max_level = Get32(h + 68);
  const uint64_t upper_words = Get64(h + 80);
  auto g = std::make_unique<HnswGraph>(o);
  if (Get64(h + 72) != g->stride_) return Corrupt("record size does not match parameters");
  if (n > kMaxSlots || live + deleted != n) return Corrupt("bad counts");
  // Sizes are checked against the input before anything is allocated.
  const uint64_t records = n * g->stride_;
  if (upper_words > bytes.size() / 4 ||
      bytes.size() != kSnapshotHeaderBytes + records + 4 + upper_words * 4 + 4) {
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

  OMENDB_RETURN_IF_ERROR(g->Grow(std::max<uint64_t>(n, 1)));
  char* base = g->storage_.load(std::memory_order_relaxed)->base;
  std::memcpy(base, rec, records);
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
  return g;
}

}  // namespace omendb::index_internal
