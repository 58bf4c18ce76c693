#include "create_cmd.h"

#include <cinttypes>
#include <memory>
#include <string>

#include "db_common.h"
#include "omendb/db.h"

namespace omendb::cli {
namespace {

struct CreateOptions {
  std::string dir;
  std::string collection = kDefaultCollection;
  uint32_t dim = 0;
  std::string metric = "l2";
  uint32_t M = 16;
  uint32_t ef_construction = 200;
  uint64_t seed = 42;
  std::string quant = "none";
};

Status RunCreate(const CreateOptions& o) {
  CollectionOptions co;
  co.dim = o.dim;
  OMENDB_ASSIGN_OR_RETURN(co.metric, ParseMetric(o.metric));
  co.M = o.M;
  co.ef_construction = o.ef_construction;
  co.seed = o.seed;
  OMENDB_ASSIGN_OR_RETURN(co.quant, ParseQuantization(o.quant));

  DbOptions dbo;
  dbo.create_if_missing = true;
  auto db = DB::Open(o.dir, dbo);
  if (!db.ok()) return db.status().WithContext("cannot open or create " + o.dir);
  auto c = (*db)->CreateCollection(o.collection, co);
  if (!c.ok()) {
    if (c.status().code() == StatusCode::kAlreadyExists) {
      return Status::AlreadyExists("collection '" + o.collection + "' already exists in " + o.dir);
    }
    return c.status().WithContext("collection '" + o.collection + "'");
  }
  OMENDB_RETURN_IF_ERROR((*db)->Close());
  char line[512];
  std::snprintf(line, sizeof line,
                "created collection '%s' in %s: dim %u, metric %s, M %u, ef_construction %u, "
                "seed %" PRIu64 ", quantization %s\n",
                o.collection.c_str(), o.dir.c_str(), co.dim, MetricName(co.metric), co.M,
                co.ef_construction, co.seed, QuantizationName(co.quant).c_str());
  return WriteOut(stdout, line);
}

}  // namespace

Command AddCreateCommand(CLI::App& parent) {
  auto o = std::make_shared<CreateOptions>();
  CLI::App* app = parent.add_subcommand(
      "create", "Create a database directory (if missing) and a collection in it");
  app->footer(ExitCodeFooter(
      "The dimension, metric, M, ef-construction and seed are fixed for the collection's "
      "life.\nExample: omendb create /data/vectors --dim 128 --metric l2"));
  app->add_option("DIR", o->dir, "Database directory (created if missing)")->required();
  app->add_option("--dim", o->dim, "Vector dimension")->required()->check(CLI::Range(1, 65536));
  app->add_option("--metric", o->metric, "Distance: l2, ip or cosine")
      ->capture_default_str()
      ->check(MetricValidator());
  AddCollectionOption(app, &o->collection);
  app->add_option("--M", o->M, "HNSW out-degree bound M (layer 0: 2M)")
      ->capture_default_str()
      ->check(CLI::Range(2, 512));
  app->add_option("--ef-construction", o->ef_construction, "Beam width while inserting")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app->add_option("--quant", o->quant,
                  "Quantized graph walk with exact re-ranking: none, fp16, sq8 or rabitq:B "
                  "(B = 1..9)")
      ->capture_default_str();
  app->add_option("--seed", o->seed, "Seed of the graph's level sampling")
      ->capture_default_str()
      ->check(kNotNegative);
  return Command{app, [o]() { return RunCreate(*o); }};
}

}  // namespace omendb::cli
