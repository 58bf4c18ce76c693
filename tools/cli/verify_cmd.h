// `omendb verify DIR`: read back and check every file of a database and audit
// each collection's graph.
// Run `omendb verify --help` for options; docs/cli.md has examples.
#pragma once

#include "command.h"

namespace omendb::cli {

// Adds the `verify` subcommand to `parent`. The returned Command's run()
// prints the files checked, every problem and each graph report. It fails
// (exit 1) with Corruption when any problem is found, and with DB::Open's
// error when the database cannot be opened (a damaged file usually shows up
// there first).
Command AddVerifyCommand(CLI::App& parent);

}  // namespace omendb::cli
