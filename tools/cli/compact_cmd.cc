#include "compact_cmd.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "db_common.h"
#include "omendb/db.h"

namespace omendb::cli {
namespace {

struct CompactOptions {
  std::string dir;
  std::string collection;  // empty = every collection
};

size_t DeletedRecords(const DB& db, const std::string& collection) {
  size_t n = 0;
  for (const CollectionStats& c : db.Stats().collections) {
    if (collection.empty() || c.name == collection) n += c.deleted;
  }
  return n;
}

Status RunCompact(const CompactOptions& o) {
  OMENDB_ASSIGN_OR_RETURN(auto db, OpenExistingDb(o.dir));
  // Named up front so a typo gets the list of collections, not a bare NotFound.
  if (!o.collection.empty()) OMENDB_RETURN_IF_ERROR(FindCollection(*db, o.collection).status());
  const uint64_t before = DirectoryBytes(o.dir);
  const size_t deleted_before = DeletedRecords(*db, o.collection);
  const auto t0 = std::chrono::steady_clock::now();
  OMENDB_RETURN_IF_ERROR(db->Compact(o.collection));
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const size_t deleted_after = DeletedRecords(*db, o.collection);
  OMENDB_RETURN_IF_ERROR(db->Close());
  const uint64_t after = DirectoryBytes(o.dir);

  char secs_text[32];
  std::snprintf(secs_text, sizeof secs_text, "%.2f", secs);
  std::string out = "compacted " +
                    (o.collection.empty() ? std::string("all collections")
                                          : "collection '" + o.collection + "'") +
                    " in " + secs_text + " s: reclaimed " +
                    std::to_string(deleted_before - std::min(deleted_after, deleted_before)) +
                    " deleted records\n";
  out += "file bytes before: " + HumanBytes(before) + "\n";
  out += "file bytes after:  " + HumanBytes(after) + "\n";
  return WriteOut(stdout, out);
}

}  // namespace

Command AddCompactCommand(CLI::App& parent) {
  auto o = std::make_shared<CompactOptions>();
  CLI::App* app = parent.add_subcommand(
      "compact", "Rebuild collections without their deleted vectors and give the space back");
  app->footer(ExitCodeFooter(
      "File bytes are the sizes of all files in DIR, measured before the compaction and after "
      "the database is closed."));
  app->add_option("DIR", o->dir, "Database directory")->required();
  app->add_option("--collection", o->collection, "Compact only this collection (default: all)");
  return Command{app, [o]() { return RunCompact(*o); }};
}

}  // namespace omendb::cli
