// `omendb compact DIR`: rebuild collections without their removed vectors and
// give the space back on disk.
// Run `omendb compact --help` for options; docs/cli.md has examples.
#pragma once

#include "command.h"

namespace omendb::cli {

// Adds the `compact` subcommand to `parent`. The returned Command's run()
// compacts one collection (or all) and prints the directory's file bytes
// before and after. Its errors: NotFound for a missing collection, DB::Open's
// and Compact's errors.
Command AddCompactCommand(CLI::App& parent);

}  // namespace omendb::cli
