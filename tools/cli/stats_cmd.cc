#include "stats_cmd.h"

#include <memory>
#include <string>

#include "db_common.h"
#include "omendb/db.h"
#include "util/json.h"

namespace omendb::cli {
namespace {

struct StatsOptions {
  std::string dir;
  bool json = false;
};

std::string Text(const DB& db, const DbStats& st) {
  std::string o = "database " + db.path() + "\n";
  o += "  collections:       " + std::to_string(st.collections.size()) + "\n";
  o += "  log:               " + HumanBytes(st.log_bytes) + "\n";
  o += "  checkpoints:       " + HumanBytes(st.checkpoint_bytes) + "\n";
  o += "  files on disk:     " + HumanBytes(DirectoryBytes(db.path())) + "\n";
  o += "  manifest sequence: " + std::to_string(st.manifest_sequence) + "\n";
  for (const CollectionStats& c : st.collections) {
    const CollectionOptions& co = c.options;
    o += "collection '" + c.name + "'\n";
    o += "  dim " + std::to_string(co.dim) + ", metric " + MetricName(co.metric) + ", M " +
         std::to_string(co.M) + ", ef_construction " + std::to_string(co.ef_construction) +
         ", seed " + std::to_string(co.seed) + ", quantization " + QuantizationName(co.quant) +
         (co.quant.kind == QuantKind::kNone ? ""
          : c.quant_trained                 ? " (trained)"
                                            : " (not trained yet)") +
         "\n";
    o += "  vectors:           " + std::to_string(c.live) + "\n";
    o += "  deleted:           " + std::to_string(c.deleted) + " (not yet reclaimed)\n";
    o += "  memory:            " + HumanBytes(c.memory_bytes) + "\n";
  }
  return o;
}

std::string Json(const DB& db, const DbStats& st) {
  std::string o = "{\"path\":";
  util::AppendJsonString(&o, db.path());
  o += ",\"log_bytes\":";
  util::AppendJsonUint(&o, st.log_bytes);
  o += ",\"checkpoint_bytes\":";
  util::AppendJsonUint(&o, st.checkpoint_bytes);
  o += ",\"disk_bytes\":";
  util::AppendJsonUint(&o, DirectoryBytes(db.path()));
  o += ",\"manifest_sequence\":";
  util::AppendJsonUint(&o, st.manifest_sequence);
  o += ",\"collections\":[";
  for (size_t i = 0; i < st.collections.size(); ++i) {
    const CollectionStats& c = st.collections[i];
    if (i > 0) o += ',';
    o += "{\"name\":";
    util::AppendJsonString(&o, c.name);
    o += ",\"dim\":";
    util::AppendJsonUint(&o, c.options.dim);
    o += ",\"metric\":";
    util::AppendJsonString(&o, MetricName(c.options.metric));
    o += ",\"quant\":";
    util::AppendJsonString(&o, QuantizationName(c.options.quant));
    o += ",\"quant_trained\":";
    o += c.quant_trained ? "true" : "false";
    o += ",\"M\":";
    util::AppendJsonUint(&o, c.options.M);
    o += ",\"ef_construction\":";
    util::AppendJsonUint(&o, c.options.ef_construction);
    o += ",\"seed\":";
    util::AppendJsonUint(&o, c.options.seed);
    o += ",\"live\":";
    util::AppendJsonUint(&o, c.live);
    o += ",\"deleted\":";
    util::AppendJsonUint(&o, c.deleted);
    o += ",\"memory_bytes\":";
    util::AppendJsonUint(&o, c.memory_bytes);
    o += '}';
  }
  o += "]}\n";
  return o;
}

Status RunStats(const StatsOptions& o) {
  OMENDB_ASSIGN_OR_RETURN(auto db, OpenExistingDb(o.dir));
  const DbStats st = db->Stats();
  OMENDB_RETURN_IF_ERROR(WriteOut(stdout, o.json ? Json(*db, st) : Text(*db, st)));
  return db->Close();
}

}  // namespace

Command AddStatsCommand(CLI::App& parent) {
  auto o = std::make_shared<StatsOptions>();
  CLI::App* app = parent.add_subcommand("stats", "Print database and per-collection statistics");
  app->footer(ExitCodeFooter(
      "--json prints one object: path, log_bytes, checkpoint_bytes, disk_bytes (all files in "
      "DIR), manifest_sequence and collections [{name, dim, metric, M, ef_construction, seed, "
      "live, deleted, memory_bytes}]."));
  app->add_option("DIR", o->dir, "Database directory")->required();
  app->add_flag("--json", o->json, "Print one JSON object instead of text");
  return Command{app, [o]() { return RunStats(*o); }};
}

}  // namespace omendb::cli
