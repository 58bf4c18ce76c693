#include "get_cmd.h"

#include <memory>
#include <string>
#include <vector>

#include "db_common.h"
#include "omendb/db.h"
#include "util/json.h"

namespace omendb::cli {
namespace {

struct GetOptions {
  std::string dir;
  std::vector<std::string> ids;  // validated by VectorIdValidator
  std::string collection = kDefaultCollection;
  bool json = false;
  bool no_vector = false;
};

void AppendText(std::string* out, const Record& r, bool with_vector) {
  out->append("id: ");
  out->append(std::to_string(r.id));
  out->append("\nmetadata: ");
  AppendMetadataJson(out, r.metadata);
  out->push_back('\n');
  if (with_vector) {
    out->append("vector:");
    for (float v : r.vector) {
      out->push_back(' ');
      AppendFloatText(out, v);
    }
    out->push_back('\n');
  }
}

void AppendJson(std::string* out, const Record& r, bool with_vector) {
  out->append("{\"id\":");
  util::AppendJsonUint(out, r.id);
  out->append(",\"metadata\":");
  AppendMetadataJson(out, r.metadata);
  if (with_vector) {
    out->append(",\"vector\":[");
    for (size_t i = 0; i < r.vector.size(); ++i) {
      if (i > 0) out->push_back(',');
      util::AppendJsonFloat(out, r.vector[i]);
    }
    out->push_back(']');
  }
  out->append("}\n");
}

Status RunGet(const GetOptions& o) {
  std::vector<VectorId> ids;
  for (const std::string& s : o.ids) {
    OMENDB_ASSIGN_OR_RETURN(VectorId id, ParseVectorId(s));
    ids.push_back(id);
  }
  OMENDB_ASSIGN_OR_RETURN(auto db, OpenExistingDb(o.dir));
  OMENDB_ASSIGN_OR_RETURN(Collection * coll, FindCollection(*db, o.collection));

  std::string out;
  std::string missing;
  size_t missing_count = 0;
  for (VectorId id : ids) {
    auto r = coll->Get(id);
    if (!r.ok()) {
      if (!r.status().IsNotFound()) return r.status().WithContext("id " + std::to_string(id));
      missing += (missing_count++ > 0 ? ", " : "") + std::to_string(id);
      continue;
    }
    if (o.json) {
      AppendJson(&out, *r, !o.no_vector);
    } else {
      AppendText(&out, *r, !o.no_vector);
    }
  }
  // The ids that exist are printed even when others do not.
  OMENDB_RETURN_IF_ERROR(WriteOut(stdout, out));
  OMENDB_RETURN_IF_ERROR(db->Close());
  if (missing_count > 0) {
    return Status::NotFound((missing_count == 1 ? "id " : "ids ") + missing +
                            " not in collection '" + o.collection + "'");
  }
  return Status::OK();
}

}  // namespace

Command AddGetCommand(CLI::App& parent) {
  auto o = std::make_shared<GetOptions>();
  CLI::App* app =
      parent.add_subcommand("get", "Print the stored vector and metadata of one or more ids");
  app->footer(ExitCodeFooter(
      "Text output per id: `id: ID`, `metadata: {JSON}` and `vector: V1 V2 ...` lines; with "
      "--json one line {\"id\":ID,\"metadata\":{...},\"vector\":[...]} per id. Vectors are "
      "shown as stored (normalised under cosine). An id that is not stored is an error (exit "
      "1) after the others are printed."));
  app->add_option("DIR", o->dir, "Database directory")->required();
  app->add_option("ID", o->ids, "Vector ids (decimal)")->required()->check(VectorIdValidator());
  AddCollectionOption(app, &o->collection);
  app->add_flag("--json", o->json, "Print JSON lines instead of text");
  app->add_flag("--no-vector", o->no_vector, "Print only the id and metadata");
  return Command{app, [o]() { return RunGet(*o); }};
}

}  // namespace omendb::cli
