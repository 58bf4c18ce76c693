// `omendb get DIR ID...`: print the stored vector and metadata of ids.
// Run `omendb get --help` for options; docs/cli.md has examples.
#pragma once

#include "command.h"

namespace omendb::cli {

// Adds the `get` subcommand to `parent`. The returned Command's run()
// prints each stored id on stdout (text or JSON lines). Its errors: NotFound
// listing the ids that are not stored (after printing those that are), and
// DB::Open's errors.
Command AddGetCommand(CLI::App& parent);

}  // namespace omendb::cli
