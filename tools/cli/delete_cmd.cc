#include "delete_cmd.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "db_common.h"
#include "omendb/db.h"

namespace omendb::cli {
namespace {

struct DeleteOptions {
  std::string dir;
  std::vector<std::string> ids;  // validated by VectorIdValidator
  std::string ids_file;
  std::string collection = kDefaultCollection;
};

// Ids per Delete call: each call is one log record, so a huge id list is
// split rather than written as one record of unbounded size.
constexpr size_t kDeleteBatch = 100000;

// Reads one decimal id per line from `in`; blank lines and lines starting
// with '#' are skipped, surrounding spaces and tabs (and a '\r') ignored.
Status ReadIdLines(std::istream& in, const std::string& name, std::vector<VectorId>* ids) {
  std::string line;
  for (size_t line_no = 1; std::getline(in, line); ++line_no) {
    const size_t first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') continue;
    const size_t last = line.find_last_not_of(" \t\r");
    auto id = ParseVectorId(std::string_view(line).substr(first, last - first + 1));
    if (!id.ok()) return id.status().WithContext(name + ":" + std::to_string(line_no));
    ids->push_back(*id);
  }
  if (in.bad()) return Status::IOError(name + ": read failed");
  return Status::OK();
}

Status ReadIdsFile(const std::string& path, std::vector<VectorId>* ids) {
  if (path == "-") return ReadIdLines(std::cin, "<stdin>", ids);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return Status::NotFound(path + ": no such file");
  std::ifstream in(path);
  if (!in) return Status::IOError(path + ": cannot open");
  return ReadIdLines(in, path, ids);
}

Status RunDelete(const DeleteOptions& o) {
  std::vector<VectorId> ids;
  for (const std::string& s : o.ids) {
    OMENDB_ASSIGN_OR_RETURN(VectorId id, ParseVectorId(s));
    ids.push_back(id);
  }
  if (!o.ids_file.empty()) OMENDB_RETURN_IF_ERROR(ReadIdsFile(o.ids_file, &ids));
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());

  OMENDB_ASSIGN_OR_RETURN(auto db, OpenExistingDb(o.dir));
  OMENDB_ASSIGN_OR_RETURN(Collection * coll, FindCollection(*db, o.collection));
  // Counted before deleting, for the report only: Delete itself ignores
  // absent ids.
  size_t present = 0;
  for (VectorId id : ids) present += coll->Contains(id) ? 1 : 0;
  for (size_t i = 0; i < ids.size(); i += kDeleteBatch) {
    const size_t n = std::min(kDeleteBatch, ids.size() - i);
    Status s = coll->Delete(std::span<const VectorId>(ids.data() + i, n));
    if (!s.ok()) {
      return s.WithContext("delete (" + std::to_string(i) +
                           " of the sorted ids before this batch were deleted)");
    }
  }
  const size_t live = coll->size();
  OMENDB_RETURN_IF_ERROR(db->Close());
  std::string line = "deleted " + std::to_string(present) + " of " + std::to_string(ids.size()) +
                     (ids.size() == 1 ? " id" : " ids") + " from collection '" + o.collection +
                     "' (" + std::to_string(ids.size() - present) + " not present); it now holds " +
                     std::to_string(live) + " vectors\n";
  return WriteOut(stdout, line);
}

}  // namespace

Command AddDeleteCommand(CLI::App& parent) {
  auto o = std::make_shared<DeleteOptions>();
  CLI::App* app = parent.add_subcommand("delete", "Remove ids from a collection");
  app->footer(ExitCodeFooter(
      "Ids not present are ignored (and counted in the report). Deletes are durable when the "
      "command returns; `omendb compact` gives their space back."));
  app->add_option("DIR", o->dir, "Database directory")->required();
  auto* ids = app->add_option("ID", o->ids, "Vector ids (decimal)")->check(VectorIdValidator());
  auto* file = app->add_option("--ids-file", o->ids_file,
                               "File with one id per line ('-' = stdin; blank lines and "
                               "#-comments skipped)");
  AddCollectionOption(app, &o->collection);
  // Checked while parsing so that deleting nothing is a usage error (exit 2).
  app->callback([ids, file]() {
    if (ids->count() == 0 && file->count() == 0) {
      throw CLI::RequiredError("ID or --ids-file");
    }
  });
  return Command{app, [o]() { return RunDelete(*o); }};
}

}  // namespace omendb::cli
