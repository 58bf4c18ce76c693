#include "verify_cmd.h"

#include <algorithm>
#include <memory>
#include <string>

#include "db_common.h"
#include "omendb/db.h"

namespace omendb::cli {
namespace {

struct VerifyOptions {
  std::string dir;
};

std::string GraphLine(const std::string& name, const GraphReport& g) {
  std::string s = "collection '" + name + "': " + std::to_string(g.nodes) + " vectors, " +
                  std::to_string(g.deleted) + " deleted, " + std::to_string(g.reachable) +
                  " reachable, max level " + std::to_string(g.max_level);
  if (g.ok()) return s + ": graph ok\n";
  s += ": GRAPH DAMAGED (";
  s += std::to_string(g.nodes - std::min(g.reachable, g.nodes)) + " unreachable, ";
  s += std::to_string(g.degree_violations) + " degree violations, ";
  s += std::to_string(g.self_loops) + " self loops, ";
  s += std::to_string(g.duplicate_edges) + " duplicate edges, ";
  s += std::to_string(g.invalid_edges) + " invalid edges)\n";
  return s;
}

Status RunVerify(const VerifyOptions& o) {
  // A damaged file usually stops Open already (DB::Open checks checksums of
  // what it loads); that is reported as the failure, with Open's message.
  OMENDB_ASSIGN_OR_RETURN(auto db, OpenExistingDb(o.dir));
  OMENDB_ASSIGN_OR_RETURN(VerifyReport r, db->Verify());
  std::string out = "checked " + std::to_string(r.files_checked) + " files, " +
                    HumanBytes(r.bytes_checked) + "\n";
  size_t damaged_graphs = 0;
  for (const auto& [name, g] : r.graphs) {
    out += GraphLine(name, g);
    damaged_graphs += g.ok() ? 0 : 1;
  }
  for (const std::string& p : r.problems) out += "problem: " + p + "\n";
  const bool ok = r.ok() && damaged_graphs == 0;
  out += ok ? "verify: OK\n" : "verify: FAILED\n";
  OMENDB_RETURN_IF_ERROR(WriteOut(stdout, out));
  OMENDB_RETURN_IF_ERROR(db->Close());
  if (!ok) {
    return Status::Corruption(std::to_string(r.problems.size()) + " problem(s) and " +
                              std::to_string(damaged_graphs) + " damaged graph(s) in " + o.dir);
  }
  return Status::OK();
}

}  // namespace

Command AddVerifyCommand(CLI::App& parent) {
  auto o = std::make_shared<VerifyOptions>();
  CLI::App* app = parent.add_subcommand(
      "verify", "Check every file of a database (checksums, framing) and audit each graph");
  app->footer(ExitCodeFooter(
      "Exit code 1 when any problem is found or the database cannot be opened (e.g. a "
      "damaged checkpoint); the problems are printed on stdout, the reason for failing on "
      "stderr. `omendb verify` opens the database, which replays its log like any open."));
  app->add_option("DIR", o->dir, "Database directory")->required();
  return Command{app, [o]() { return RunVerify(*o); }};
}

}  // namespace omendb::cli
