// Micro-benchmarks of the float32 distance kernels, per ISA this CPU supports.
//
//   {L2Sq,Dot}/<isa>/<dim>           one pair, both in L1 (kernel throughput)
//   {L2Sq,Dot}Batch32/<isa>/128/hot  batch of 32 neighbours, all cache resident
//   L2SqBatch32/<isa>/128/cold       32 random vectors from a 256 MiB pool,
//                                    as in an HNSW neighbour scan
//   L2SqLoop32/<isa>/128/cold        the same, one l2sq call per vector and no
//                                    prefetch: the baseline the batch must beat
// The per_dist counter is the time per distance.
#include <benchmark/benchmark.h>

#include <cstddef>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "simd/distance.h"

namespace omendb::simd {
namespace {

constexpr size_t kBatch = 32;

std::vector<float> RandomVector(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
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

void BM_Pair(benchmark::State& state, Isa isa, bool l2, size_t dim) {
  const Kernels& k = KernelsFor(isa);
  const std::vector<float> a = RandomVector(dim, 1);
  const std::vector<float> b = RandomVector(dim, 2);
  DotFn fn = l2 ? k.l2sq : k.dot;
  for (auto _ : state) {
    benchmark::DoNotOptimize(fn);  // keep the call indirect, as in real use
    benchmark::DoNotOptimize(fn(a.data(), b.data(), dim));
  }
  SetPerDistance(state, 1);
}

void BM_BatchHot(benchmark::State& state, Isa isa, bool l2, size_t dim) {
  const Kernels& k = KernelsFor(isa);
  const std::vector<float> q = RandomVector(dim, 3);
  const std::vector<float> base = RandomVector(dim * kBatch, 4);
  const float* vecs[kBatch];
  for (size_t i = 0; i < kBatch; ++i) vecs[i] = base.data() + i * dim;
  float out[kBatch];
  BatchFn fn = l2 ? k.l2sq_batch : k.dot_batch;
  for (auto _ : state) {
    fn(q.data(), vecs, kBatch, dim, out);
    benchmark::DoNotOptimize(out);
    benchmark::ClobberMemory();
  }
  SetPerDistance(state, kBatch);
}

// A pool far larger than any last-level cache, and precomputed random
// batches into it, so each neighbour vector is a DRAM (and often TLB) miss.
struct ColdPool {
  static constexpr size_t kDim = 128;
  static constexpr size_t kVectors = size_t{1} << 19;  // 256 MiB at dim 128
  static constexpr size_t kBatches = 1 << 14;          // 2 MiB of pointers
  std::unique_ptr<float[]> data;
  std::vector<const float*> ptrs;

  ColdPool() : data(new float[kVectors * kDim]), ptrs(kBatches * kBatch) {
    // Contents do not affect timing; a cheap pattern keeps set-up fast.
    for (size_t i = 0; i < kVectors * kDim; ++i) data[i] = static_cast<float>(i % 97) * 0.01f;
    std::mt19937_64 rng(5);
    std::uniform_int_distribution<size_t> pick(0, kVectors - 1);
    for (const float*& p : ptrs) p = data.get() + pick(rng) * kDim;
  }
  static const ColdPool& Get() {
    static const ColdPool pool;
    return pool;
  }
};

void BM_BatchCold(benchmark::State& state, Isa isa, bool use_batch) {
  const ColdPool& pool = ColdPool::Get();
  constexpr size_t dim = ColdPool::kDim;
  const Kernels& k = KernelsFor(isa);
  const std::vector<float> q = RandomVector(dim, 6);
  float out[kBatch];
  size_t b = 0;
  for (auto _ : state) {
    const float* const* vecs = pool.ptrs.data() + b * kBatch;
    if (use_batch) {
      k.l2sq_batch(q.data(), vecs, kBatch, dim, out);
    } else {
      for (size_t i = 0; i < kBatch; ++i) out[i] = k.l2sq(q.data(), vecs[i], dim);
    }
    benchmark::DoNotOptimize(out);
    benchmark::ClobberMemory();
    b = (b + 1) % ColdPool::kBatches;
  }
  SetPerDistance(state, kBatch);
}

// Registers only the ISAs this CPU can run, named by ISA rather than by number.
const bool kRegistered = [] {
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (!IsaSupported(isa)) continue;
    const std::string name = KernelsFor(isa).name;
    for (size_t dim : {128, 784, 960}) {
      const std::string suffix = "/" + name + "/" + std::to_string(dim);
      benchmark::RegisterBenchmark(("L2Sq" + suffix).c_str(), BM_Pair, isa, true, dim);
      benchmark::RegisterBenchmark(("Dot" + suffix).c_str(), BM_Pair, isa, false, dim);
    }
    benchmark::RegisterBenchmark(("L2SqBatch32/" + name + "/128/hot").c_str(), BM_BatchHot, isa,
                                 true, size_t{128});
    benchmark::RegisterBenchmark(("DotBatch32/" + name + "/128/hot").c_str(), BM_BatchHot, isa,
                                 false, size_t{128});
    benchmark::RegisterBenchmark(("L2SqBatch32/" + name + "/128/cold").c_str(), BM_BatchCold, isa,
                                 true);
    benchmark::RegisterBenchmark(("L2SqLoop32/" + name + "/128/cold").c_str(), BM_BatchCold, isa,
                                 false);
  }
  return true;
}();

}  // namespace
}  // namespace omendb::simd
