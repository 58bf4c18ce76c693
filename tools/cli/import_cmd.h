// `omendb import DIR FILE`: upsert the vectors of an .fvecs/.bvecs(.zst)/.npy
// file into a collection (created from the file's dimension if missing), in
// batches, then checkpoint.
// Run `omendb import --help` for options; docs/cli.md has examples.
#pragma once

#include "command.h"

namespace omendb::cli {

// Adds the `import` subcommand to `parent`. The returned Command's run()
// imports, with progress on stderr and a summary on stdout. Its errors: the
// file reader's (NotFound, Corruption, InvalidArgument), InvalidArgument for a
// dimension or metric that does not match the collection or ids that would
// pass 2^64-1, and any error of DB::Open, Upsert (naming the file rows) or
// Checkpoint.
Command AddImportCommand(CLI::App& parent);

}  // namespace omendb::cli
