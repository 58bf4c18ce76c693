#include "search_cmd.h"

#include <algorithm>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "db_common.h"
#include "omendb/db.h"
#include "omendb/filter.h"
#include "util/json.h"

namespace omendb::cli {
namespace {

struct SearchCmdOptions {
  std::string dir;
  std::string query_file;
  std::string collection = kDefaultCollection;
  size_t k = 10;
  size_t ef = 0;
  std::string filter;
  size_t limit = 0;  // 0 = every query in the file
  bool json = false;
};

// Output is written in blocks of about this many bytes, so a large query
// file neither holds all its text in memory nor pays one write per line.
constexpr size_t kFlushBytes = 1 << 16;

void AppendTextLine(std::string* out, size_t q, std::span<const Neighbor> hits) {
  out->append("query ");
  out->append(std::to_string(q));
  out->push_back(':');
  for (const Neighbor& h : hits) {
    out->push_back(' ');
    out->append(std::to_string(h.id));
    out->push_back(':');
    AppendFloatText(out, h.distance);
  }
  out->push_back('\n');
}

void AppendJsonLine(std::string* out, size_t q, std::span<const Neighbor> hits) {
  out->append("{\"query\":");
  util::AppendJsonUint(out, q);
  out->append(",\"ids\":[");
  for (size_t i = 0; i < hits.size(); ++i) {
    if (i > 0) out->push_back(',');
    util::AppendJsonUint(out, hits[i].id);
  }
  out->append("],\"distances\":[");
  for (size_t i = 0; i < hits.size(); ++i) {
    if (i > 0) out->push_back(',');
    util::AppendJsonFloat(out, hits[i].distance);
  }
  out->append("]}\n");
}

Status RunSearch(const SearchCmdOptions& o) {
  SearchOptions so;
  so.k = o.k;
  so.ef = o.ef;
  if (!o.filter.empty()) {
    auto f = ParseFilter(o.filter);
    if (!f.ok()) return f.status().WithContext("--filter");
    so.filter = std::move(*f);
  }
  OMENDB_ASSIGN_OR_RETURN(util::Matrix queries,
                          ReadVectorFile(o.query_file, o.limit > 0 ? o.limit : SIZE_MAX));
  OMENDB_ASSIGN_OR_RETURN(auto db, OpenExistingDb(o.dir));
  OMENDB_ASSIGN_OR_RETURN(Collection * coll, FindCollection(*db, o.collection));
  if (queries.dim != coll->options().dim) {
    return Status::InvalidArgument(o.query_file + " holds vectors of dimension " +
                                   std::to_string(queries.dim) + " but collection '" +
                                   o.collection + "' has dimension " +
                                   std::to_string(coll->options().dim));
  }

  std::vector<Neighbor> hits(o.k);
  std::string out;
  for (size_t q = 0; q < queries.rows; ++q) {
    auto n = coll->Search(std::span<const float>(queries.row(q), queries.dim), so, hits);
    if (!n.ok()) return n.status().WithContext("query " + std::to_string(q));
    std::span<const Neighbor> found(hits.data(), *n);
    if (o.json) {
      AppendJsonLine(&out, q, found);
    } else {
      AppendTextLine(&out, q, found);
    }
    if (out.size() >= kFlushBytes) {
      OMENDB_RETURN_IF_ERROR(WriteOut(stdout, out));
      out.clear();
    }
  }
  OMENDB_RETURN_IF_ERROR(WriteOut(stdout, out));
  return db->Close();
}

}  // namespace

Command AddSearchCommand(CLI::App& parent) {
  auto o = std::make_shared<SearchCmdOptions>();
  CLI::App* app = parent.add_subcommand(
      "search", "Find the k nearest neighbours of each vector in a query file");
  app->footer(ExitCodeFooter(
      "Output, one line per query, nearest first: `query Q: ID:DIST ID:DIST ...` or, with "
      "--json, {\"query\":Q,\"ids\":[...],\"distances\":[...]}. Fewer than k hits are "
      "printed only when fewer vectors match.\n"
      "Filter example: --filter '{\"year\": {\"$gte\": 2020}, \"lang\": \"en\"}'"));
  app->add_option("DIR", o->dir, "Database directory")->required();
  app->add_option("--query", o->query_file,
                  "Query vectors: .fvecs, .bvecs (optionally .zst) or .npy")
      ->required();
  app->add_option("--k", o->k, "Neighbours per query")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{100000}));
  app->add_option("--ef", o->ef, "Beam width (0 = max(k, 64)); larger is slower and more exact")
      ->capture_default_str()
      ->check(CLI::Range(size_t{0}, size_t{1000000}));
  app->add_option("--filter", o->filter,
                  "Only return vectors whose metadata matches this JSON filter (MongoDB style)")
      ->check(CLI::Validator(
          [](std::string& s) -> std::string {
            auto f = ParseFilter(s);
            return f.ok() ? std::string() : f.status().message();
          },
          "JSON"));
  AddCollectionOption(app, &o->collection);
  app->add_option("--limit", o->limit, "Search only the first N queries (0 = all)")
      ->capture_default_str()
      ->check(kNotNegative);
  app->add_flag("--json", o->json, "Print JSON lines instead of text");
  return Command{app, [o]() { return RunSearch(*o); }};
}

}  // namespace omendb::cli
