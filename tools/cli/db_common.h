// Pieces shared by the database subcommands of the `omendb` program (create,
// import, search, get, delete, stats, verify, compact): opening a database
// directory with messages that say what to do, reading vector files by their
// extension, id parsing and the text/JSON formatting of vectors and metadata.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>

#include "command.h"
#include "omendb/db.h"
#include "omendb/metadata.h"
#include "omendb/status.h"
#include "util/dataset.h"

namespace omendb::cli {

// The collection a command uses when --collection is not given.
inline constexpr const char* kDefaultCollection = "default";

// Opens the existing database in `dir` (never creates one, so a mistyped
// path is an error rather than a new empty database). `options` supplies
// everything but create_if_missing. Errors: NotFound for a missing
// directory, and (suggesting `omendb create`) for one holding no database;
// InvalidArgument for a path that is not a directory; otherwise DB::Open's
// error prefixed with "cannot open DIR".
Result<std::unique_ptr<DB>> OpenExistingDb(const std::string& dir, DbOptions options = {});

// The collection `name` of `db`. NotFound listing the collections that do
// exist when there is no such collection.
Result<Collection*> FindCollection(const DB& db, const std::string& name);

// Reads a vector file chosen by its extension: .fvecs, .bvecs (and their
// .zst forms) or .npy; at most `max_rows` rows. Errors: NotFound for a
// missing file, InvalidArgument for an unknown extension, and the readers'
// errors (util/dataset.h, util/npy.h), each naming the file.
Result<util::Matrix> ReadVectorFile(const std::string& path, size_t max_rows = SIZE_MAX);

// Parses a vector id written in decimal (0..2^64-1; no sign, no base
// prefix, no surrounding space). InvalidArgument quoting `text` otherwise.
Result<VectorId> ParseVectorId(std::string_view text);

// A CLI11 validator accepting exactly what ParseVectorId accepts, so a bad
// id on the command line is a usage error (exit 2).
CLI::Validator VectorIdValidator();

// A CLI11 validator accepting the metric names ParseMetric accepts.
CLI::Validator MetricValidator();

// Adds the standard `--collection NAME` option bound to `*name`.
CLI::Option* AddCollectionOption(CLI::App* app, std::string* name);

// The footer every database subcommand shows under its --help.
std::string ExitCodeFooter(std::string_view extra = {});

// Appends the shortest decimal that reads back as exactly `v` ("0.5", "3",
// "1e-07"), for text output.
void AppendFloatText(std::string* out, float v);

// Appends `metadata` as a JSON object, keys in stored (bytewise) order.
// Integers print as integers, doubles always with '.' or exponent, so the
// two types stay distinguishable. Infinite doubles print as Infinity and
// -Infinity, as in filters (omendb/filter.h).
void AppendMetadataJson(std::string* out, const Metadata& metadata);

// Writes `text` to `stream` and flushes; IOError if the write fails (a full
// disk, a closed pipe), so output loss is not silent.
Status WriteOut(std::FILE* stream, std::string_view text);

// Prints "omendb <command>: <message>" on stderr (progress, notes).
void Note(std::string_view command, std::string_view message);

// Sum of the sizes of the regular files under `dir` (0 if unreadable): the
// space a database takes on disk.
uint64_t DirectoryBytes(const std::string& dir);

// `bytes` as e.g. "1.5 MiB (1572864 bytes)".
std::string HumanBytes(uint64_t bytes);

}  // namespace omendb::cli
