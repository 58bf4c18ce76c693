// Micro-benchmarks of the code distance kernels: float32 (src/simd), fp16 and
// SQ8, squared L2, per kernel table this CPU can run, at dims 128 and 784.
//
//   <codec>/<table>/<dim>/single   32 cache-resident codes, one dist call each
//                                  (one indirect call per distance)
//   <codec>/<table>/<dim>/batch32  the same 32 codes through one batch call
//   <codec>/<table>/<dim>/cold     batch of 32 random codes from a 256 MiB
//                                  pool, as in an HNSW neighbour scan (DRAM
//                                  and TLB misses; prefetching matters)
//   Sq8Prepare/<table>/<dim>       PrepareQuery: the per-query set-up cost
// The per_dist counter is the time per distance. <table> for SQ8 is
// "scalar" / "avx2" (float weights, exact w.r.t. the reconstruction),
// "scalar-int8" (the VNNI form's reference) or "avx512-vnni".
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "quant/codec.h"
#include "quant/fp16.h"
#include "quant/sq8.h"
#include "quant/sq_kernels.h"
#include "simd/distance.h"

namespace omendb::quant {
namespace {

constexpr size_t kBatch = 32;

std::vector<float> RandomVectors(size_t n, size_t dim, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n * dim);
  for (float& x : v) x = u(rng);
  return v;
}

void SetPerDistance(benchmark::State& state, size_t per_iter) {
  const double n = static_cast<double>(state.iterations()) * static_cast<double>(per_iter);
  state.SetItemsProcessed(static_cast<int64_t>(n));
  // Inverted rate = seconds per distance, printed with an SI prefix ("4.6n").
  state.counters["per_dist"] =
      benchmark::Counter(n, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// One thing to measure: a float32 kernel table, or a codec bound to a kernel
// table. Float32 goes through simd's kernels directly (its codes are the
// vectors), so its numbers are the baseline the codecs are compared with.
struct Subject {
  const simd::Kernels* float_kernels = nullptr;  // float32
  std::unique_ptr<Codec> codec;                  // fp16 / SQ8
  size_t dim = 0;

  size_t code_bytes() const { return codec ? codec->code_bytes() : dim * sizeof(float); }
  void Encode(const float* x, uint8_t* code) const {
    if (codec) {
      codec->Encode(x, code);
    } else {
      std::memcpy(code, x, dim * sizeof(float));
    }
  }
};

enum class Kind { kFloat32, kFp16, kSq8 };

Subject MakeSubject(Kind kind, const void* table, size_t dim) {
  Subject s;
  s.dim = dim;
  const auto d = static_cast<uint32_t>(dim);
  switch (kind) {
    case Kind::kFloat32:
      s.float_kernels = static_cast<const simd::Kernels*>(table);
      break;
    case Kind::kFp16:
      s.codec = std::move(
          MakeFp16CodecWith(d, Metric::kL2, *static_cast<const Fp16Kernels*>(table)).value());
      break;
    case Kind::kSq8: {
      const std::vector<float> train = RandomVectors(1000, dim, 11);
      s.codec = std::move(TrainSq8CodecWith(d, Metric::kL2, train.data(), 1000,
                                            *static_cast<const Sq8Kernels*>(table))
                              .value());
      break;
    }
  }
  return s;
}

// A 64-byte aligned query state for s and the query q (float32: unused).
struct Prepared {
  std::vector<uint64_t> buf;
  void* state = nullptr;
  Prepared(const Subject& s, const float* q) {
    if (!s.codec) return;
    buf.resize(s.codec->query_state_bytes() / 8 + 16);
    auto p = reinterpret_cast<uintptr_t>(buf.data());
    state = reinterpret_cast<void*>((p + 63) & ~uintptr_t{63});
    s.codec->PrepareQuery(q, state);
  }
};

// n distances from q (or its prepared state) to codes[0..n) in one call.
inline void RunBatch(const Subject& s, const Prepared& p, const float* q,
                     const uint8_t* const* codes, size_t n, float* out) {
  if (s.codec) {
    s.codec->batch(p.state, codes, n, out);
  } else {
    s.float_kernels->l2sq_batch(q, reinterpret_cast<const float* const*>(codes), n, s.dim, out);
  }
}

void BM_Hot(benchmark::State& state, Kind kind, const void* table, size_t dim, bool batch) {
  const Subject s = MakeSubject(kind, table, dim);
  const std::vector<float> q = RandomVectors(1, dim, 3);
  const std::vector<float> xs = RandomVectors(kBatch, dim, 4);
  const size_t cb = s.code_bytes();
  // 64-byte aligned storage, as the index's records give.
  std::vector<uint64_t> storage((kBatch * cb + 64) / 8 + 8);
  auto* base = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(storage.data()) + 63) &
                                          ~uintptr_t{63});
  const uint8_t* codes[kBatch];
  for (size_t i = 0; i < kBatch; ++i) {
    s.Encode(xs.data() + i * dim, base + i * cb);
    codes[i] = base + i * cb;
  }
  const Prepared p(s, q.data());
  float out[kBatch];
  CodeDistFn dist = s.codec ? s.codec->dist : nullptr;
  simd::L2SqFn l2 = s.codec ? nullptr : s.float_kernels->l2sq;
  for (auto _ : state) {
    if (batch) {
      RunBatch(s, p, q.data(), codes, kBatch, out);
    } else if (dist != nullptr) {
      benchmark::DoNotOptimize(dist);  // keep the call indirect, as in real use
      for (size_t i = 0; i < kBatch; ++i) out[i] = dist(p.state, codes[i]);
    } else {
      benchmark::DoNotOptimize(l2);
      for (size_t i = 0; i < kBatch; ++i) {
        out[i] = l2(q.data(), reinterpret_cast<const float*>(codes[i]), dim);
      }
    }
    benchmark::DoNotOptimize(out);
    benchmark::ClobberMemory();
  }
  SetPerDistance(state, kBatch);
}

// A pool of codes far larger than any last-level cache, filled with copies of
// a few thousand real codes (random bytes could be NaN or subnormal halves),
// and precomputed random batches into it. One pool at a time: benchmarks run
// in registration order, so each (subject, dim) pool is built once.
struct ColdPool {
  static constexpr size_t kPoolBytes = size_t{256} << 20;
  static constexpr size_t kBatches = 1 << 14;
  std::unique_ptr<uint8_t[]> data;
  std::vector<const uint8_t*> ptrs;

  explicit ColdPool(const Subject& s) {
    const size_t cb = s.code_bytes();
    const size_t n = kPoolBytes / cb;
    data.reset(new uint8_t[n * cb + 64]);
    auto* base = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(data.get()) + 63) &
                                            ~uintptr_t{63});
    constexpr size_t kDistinct = 4096;
    const std::vector<float> xs = RandomVectors(kDistinct, s.dim, 5);
    for (size_t i = 0; i < kDistinct && i < n; ++i) s.Encode(xs.data() + i * s.dim, base + i * cb);
    for (size_t i = kDistinct; i < n; ++i) std::memcpy(base + i * cb, base + (i % kDistinct) * cb, cb);
    std::mt19937_64 rng(6);
    std::uniform_int_distribution<size_t> pick(0, n - 1);
    ptrs.resize(kBatches * kBatch);
    for (const uint8_t*& p : ptrs) p = base + pick(rng) * cb;
  }
};

void BM_Cold(benchmark::State& state, Kind kind, const void* table, size_t dim) {
  static std::unique_ptr<ColdPool> pool;
  static std::string pool_key;
  const Subject s = MakeSubject(kind, table, dim);
  const std::string key = std::to_string(static_cast<int>(kind)) + "/" + std::to_string(dim) +
                          "/" + std::to_string(s.code_bytes());
  if (pool_key != key) {
    pool.reset();
    pool = std::make_unique<ColdPool>(s);
    pool_key = key;
  }
  const std::vector<float> q = RandomVectors(1, dim, 7);
  const Prepared p(s, q.data());
  float out[kBatch];
  size_t b = 0;
  for (auto _ : state) {
    RunBatch(s, p, q.data(), pool->ptrs.data() + b * kBatch, kBatch, out);
    benchmark::DoNotOptimize(out);
    benchmark::ClobberMemory();
    b = (b + 1) % ColdPool::kBatches;
  }
  SetPerDistance(state, kBatch);
}

void BM_Sq8Prepare(benchmark::State& state, const Sq8Kernels* table, size_t dim) {
  const Subject s = MakeSubject(Kind::kSq8, table, dim);
  const std::vector<float> q = RandomVectors(1, dim, 8);
  Prepared p(s, q.data());
  for (auto _ : state) {
    s.codec->PrepareQuery(q.data(), p.state);
    benchmark::ClobberMemory();
  }
}

// Registers the tables this CPU can run, named by codec and table.
const bool kRegistered = [] {
  struct Entry {
    Kind kind;
    std::string name;
    const void* table;
  };
  std::vector<Entry> entries;
  for (simd::Isa isa : {simd::Isa::kScalar, simd::Isa::kAvx2, simd::Isa::kAvx512}) {
    if (simd::IsaSupported(isa)) {
      const simd::Kernels& k = simd::KernelsFor(isa);
      entries.push_back({Kind::kFloat32, std::string("Float32/") + k.name, &k});
    }
  }
  for (simd::Isa isa : {simd::Isa::kScalar, simd::Isa::kAvx2, simd::Isa::kAvx512}) {
    if (const Fp16Kernels* k = Fp16KernelsFor(isa)) {
      entries.push_back({Kind::kFp16, std::string("Fp16/") + k->name, k});
    }
  }
  entries.push_back({Kind::kSq8, "Sq8/scalar", &Sq8ScalarKernels()});
  entries.push_back({Kind::kSq8, "Sq8/scalar-int8", &Sq8ScalarInt8Kernels()});
  for (simd::Isa isa : {simd::Isa::kAvx2, simd::Isa::kAvx512}) {
    if (const Sq8Kernels* k = Sq8KernelsFor(isa)) {
      entries.push_back({Kind::kSq8, std::string("Sq8/") + k->name, k});
    }
  }
  for (const Entry& e : entries) {
    for (size_t dim : {128, 784}) {
      const std::string prefix = e.name + "/" + std::to_string(dim);
      benchmark::RegisterBenchmark((prefix + "/single").c_str(), BM_Hot, e.kind, e.table, dim,
                                   false);
      benchmark::RegisterBenchmark((prefix + "/batch32").c_str(), BM_Hot, e.kind, e.table, dim,
                                   true);
      benchmark::RegisterBenchmark((prefix + "/cold").c_str(), BM_Cold, e.kind, e.table, dim);
    }
  }
  for (const Entry& e : entries) {
    if (e.kind != Kind::kSq8) continue;
    for (size_t dim : {128, 784}) {
      benchmark::RegisterBenchmark(
          ("Sq8Prepare/" + e.name.substr(4) + "/" + std::to_string(dim)).c_str(), BM_Sq8Prepare,
          static_cast<const Sq8Kernels*>(e.table), dim);
    }
  }
  return true;
}();

}  // namespace
}  // namespace omendb::quant
