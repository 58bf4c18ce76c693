// `omendb stats DIR`: database and per-collection statistics.
// Run `omendb stats --help` for options; docs/cli.md has examples.
#pragma once

#include "command.h"

namespace omendb::cli {

// Adds the `stats` subcommand to `parent`. The returned Command's run()
// prints DbStats and each collection's stats on stdout (text or one JSON
// object). Its errors: DB::Open's.
Command AddStatsCommand(CLI::App& parent);

}  // namespace omendb::cli
