// `omendb delete DIR ID...`: remove ids (from the command line and/or a file of
// one id per line) from a collection.
// Run `omendb delete --help` for options; docs/cli.md has examples.
#pragma once

#include "command.h"

namespace omendb::cli {

// Adds the `delete` subcommand to `parent`. The returned Command's run()
// deletes and prints how many ids were removed and how many were not
// present. Its errors: NotFound / InvalidArgument for an unreadable or
// malformed ids file (naming the line), DB::Open's and Delete's errors.
Command AddDeleteCommand(CLI::App& parent);

}  // namespace omendb::cli
