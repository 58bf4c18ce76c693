// `omendb create DIR --dim N`: create a database directory (if missing) and a
// collection in it with fixed dimension, metric and graph parameters.
// Run `omendb create --help` for options; docs/cli.md has examples.
#pragma once

#include "command.h"

namespace omendb::cli {

// Adds the `create` subcommand to `parent`. The returned Command's run()
// creates the collection and prints one confirmation line on stdout. Its errors:
// AlreadyExists (the collection exists), DB::Open's errors for the directory.
Command AddCreateCommand(CLI::App& parent);

}  // namespace omendb::cli
