// IndexAccess: how the database layer (src/db) reaches the graph behind a
// public HnswIndex. The database keeps per-vector data (metadata) in arrays
// indexed by graph slot and evaluates filters with the slot in hand, which the
// public interface (ids only) cannot offer without a map lookup per node.
#pragma once

#include "index/hnsw_graph.h"
#include "omendb/hnsw_index.h"

namespace omendb::index_internal {

struct IndexAccess {
  static HnswGraph& Graph(HnswIndex& index) { return *index.graph_; }
  static const HnswGraph& Graph(const HnswIndex& index) { return *index.graph_; }
  static SearchScratch& Scratch(SearchContext& context) { return *context.scratch_; }
};

}  // namespace omendb::index_internal
