// `omendb search DIR --query FILE`: k nearest neighbours of each query vector
// in a file, optionally filtered by metadata (a JSON filter).
// Run `omendb search --help` for options; docs/cli.md has examples.
#pragma once

#include "command.h"

namespace omendb::cli {

// Adds the `search` subcommand to `parent`. The returned Command's run()
// prints one line per query on stdout (text or JSON lines). Its errors:
// the query file's, InvalidArgument for a query dimension that does not
// match the collection, NotFound for a missing database or collection, and
// Search's errors.
Command AddSearchCommand(CLI::App& parent);

}  // namespace omendb::cli
