#include "db_common.h"

#include <charconv>
#include <filesystem>
#include <system_error>

#include "util/json.h"
#include "util/npy.h"

namespace omendb::cli {
namespace {

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

Result<std::unique_ptr<DB>> OpenExistingDb(const std::string& dir, DbOptions options) {
  // Checked here because DB::Open only knows "no database"; the user is
  // better served by knowing whether the directory itself is missing.
  std::error_code ec;
  const auto st = std::filesystem::status(dir, ec);
  if (!std::filesystem::exists(st)) return Status::NotFound(dir + ": no such directory");
  if (!std::filesystem::is_directory(st)) {
    return Status::InvalidArgument(dir + ": not a directory");
  }
  options.create_if_missing = false;
  auto db = DB::Open(dir, options);
  if (db.ok()) return db;
  const Status& s = db.status();
  if (s.IsNotFound()) {
    return Status::NotFound(s.message() + "; create one with `omendb create " + dir + " --dim N`");
  }
  return s.WithContext("cannot open " + dir);
}

Result<Collection*> FindCollection(const DB& db, const std::string& name) {
  auto c = db.GetCollection(name);
  if (c.ok()) return c;
  if (!c.status().IsNotFound()) return c.status();
  std::string names;
  for (const std::string& n : db.ListCollections()) names += (names.empty() ? "" : ", ") + n;
  return Status::NotFound(
      "no collection '" + name + "' in " + db.path() +
      (names.empty() ? std::string(" (it has no collections)") : " (collections: " + names + ")"));
}

Result<util::Matrix> ReadVectorFile(const std::string& path, size_t max_rows) {
  // The readers report a missing file too, but only after the extension
  // check; a missing file is the likelier mistake, so it is named first.
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return Status::NotFound(path + ": no such file");
  if (EndsWith(path, ".npy")) return util::ReadNpy(path, max_rows);
  if (EndsWith(path, ".fvecs") || EndsWith(path, ".fvecs.zst")) {
    return util::ReadFvecs(path, max_rows);
  }
  if (EndsWith(path, ".bvecs") || EndsWith(path, ".bvecs.zst")) {
    return util::ReadBvecs(path, max_rows);
  }
  return Status::InvalidArgument(path +
                                 ": unknown vector file type (expected .fvecs, .bvecs, their "
                                 ".zst forms, or .npy)");
}

Result<VectorId> ParseVectorId(std::string_view text) {
  VectorId id = 0;
  // from_chars takes no sign, space or base prefix for unsigned types, and
  // reports overflow, unlike strtoull (which wraps "-1" to 2^64-1).
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    return Status::InvalidArgument("'" + std::string(text) +
                                   "' is not a vector id (a decimal integer 0..2^64-1)");
  }
  return id;
}

CLI::Validator VectorIdValidator() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        auto id = ParseVectorId(s);
        return id.ok() ? std::string() : id.status().message();
      },
      "ID");
}

CLI::Validator MetricValidator() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        auto m = ParseMetric(s);
        return m.ok() ? std::string() : m.status().message();
      },
      "l2|ip|cosine");
}

CLI::Option* AddCollectionOption(CLI::App* app, std::string* name) {
  return app->add_option("--collection", *name, "Collection name")->capture_default_str();
}

std::string ExitCodeFooter(std::string_view extra) {
  std::string s(extra);
  if (!s.empty()) s += "\n";
  return s + "Exit codes: 0 success, 1 runtime error, 2 usage error.";
}

void AppendFloatText(std::string* out, float v) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, r.ptr);
}

void AppendMetadataJson(std::string* out, const Metadata& metadata) {
  out->push_back('{');
  bool first = true;
  for (const auto& [key, value] : metadata) {
    if (!first) out->push_back(',');
    first = false;
    util::AppendJsonString(out, key);
    out->push_back(':');
    if (const auto* i = std::get_if<int64_t>(&value)) {
      util::AppendJsonInt(out, *i);
    } else if (const auto* d = std::get_if<double>(&value)) {
      util::AppendJsonDouble(out, *d);
    } else if (const auto* s = std::get_if<std::string>(&value)) {
      util::AppendJsonString(out, *s);
    } else {
      out->append(std::get<bool>(value) ? "true" : "false");
    }
  }
  out->push_back('}');
}

Status WriteOut(std::FILE* stream, std::string_view text) {
  if (!text.empty() && std::fwrite(text.data(), 1, text.size(), stream) != text.size()) {
    return Status::IOError("writing the output failed");
  }
  if (std::fflush(stream) != 0) return Status::IOError("writing the output failed");
  return Status::OK();
}

void Note(std::string_view command, std::string_view message) {
  std::fprintf(stderr, "omendb %.*s: %.*s\n", static_cast<int>(command.size()), command.data(),
               static_cast<int>(message.size()), message.data());
}

uint64_t DirectoryBytes(const std::string& dir) {
  uint64_t total = 0;
  std::error_code ec;
  // The non-throwing overloads: a file removed during the walk (a checkpoint
  // dropping an old log) is skipped rather than ending the program.
  std::filesystem::recursive_directory_iterator it(dir, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    std::error_code fec;
    if (it->is_regular_file(fec)) {
      uint64_t size = it->file_size(fec);
      if (!fec) total += size;
    }
  }
  return total;
}

std::string HumanBytes(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  size_t u = 0;
  while (v >= 1024.0 && u + 1 < std::size(kUnits)) {
    v /= 1024.0;
    ++u;
  }
  char buf[64];
  if (u == 0) {
    std::snprintf(buf, sizeof buf, "%llu bytes", static_cast<unsigned long long>(bytes));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f %s (%llu bytes)", v, kUnits[u],
                  static_cast<unsigned long long>(bytes));
  }
  return buf;
}

}  // namespace omendb::cli
