// Micro-benchmarks of the HNSW index on generated clustered data (10,000 x 128,
// M 16, efConstruction 200):
//   HnswSearch/<ef>   one query per iteration, caller-owned context and buffer
//   HnswBuild/<thr>   a whole batch build with <thr> threads
// Counters: dists = distance computations per query.
#include <benchmark/benchmark.h>

#include <memory>
#include <vector>

#include "omendb/hnsw_index.h"
#include "util/dataset.h"

namespace omendb {
namespace {

constexpr size_t kN = 10000, kQueries = 1000, kDim = 128;

struct Fixture {
  util::Matrix data = util::GenerateClustered(kN + kQueries, kDim, 100, 1.0f, 7);
  std::vector<VectorId> ids;
  std::unique_ptr<HnswIndex> index;
  Fixture() {
    ids.resize(kN);
    for (size_t i = 0; i < kN; ++i) ids[i] = i;
    index = Build(0);
  }
  std::unique_ptr<HnswIndex> Build(int threads) const {
    HnswOptions o;
    o.dim = kDim;
    auto idx = std::move(*HnswIndex::Create(o));
    if (!idx->AddBatch({data.data.data(), kN * kDim}, ids, threads).ok()) return nullptr;
    return idx;
  }
};

const Fixture& Shared() {
  static const Fixture* f = new Fixture();
  return *f;
}

void HnswSearch(benchmark::State& state) {
  const Fixture& f = Shared();
  const size_t ef = static_cast<size_t>(state.range(0));
  SearchContext ctx;
  Neighbor out[10];
  SearchStats stats;
  size_t q = 0;
  uint64_t dists = 0;
  for (auto _ : state) {
    auto r = f.index->Search({f.data.row(kN + q), kDim}, 10, ef, out, &ctx, &stats);
    benchmark::DoNotOptimize(r);
    dists += stats.distance_computations;
    q = (q + 1) % kQueries;
  }
  state.counters["dists"] =
      benchmark::Counter(static_cast<double>(dists) / static_cast<double>(state.iterations()));
}
BENCHMARK(HnswSearch)->Arg(16)->Arg(64)->Arg(256);

void HnswBuild(benchmark::State& state) {
  const Fixture& f = Shared();
  for (auto _ : state) {
    auto idx = f.Build(static_cast<int>(state.range(0)));
    benchmark::DoNotOptimize(idx);
  }
}
BENCHMARK(HnswBuild)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace omendb
