// `omendb bench`: build an HNSW index over a data set and measure recall@k,
// single-thread QPS, latency, allocations and distance computations per query
// across a sweep of ef values (the peerbench protocol, so numbers compare with
// /work/shared/tools/peerbench output). Run `omendb bench --help` for options.
#pragma once

#include "command.h"

namespace omendb::cli {

// Adds the `bench` subcommand to `parent`. The returned Command's run()
// performs the benchmark, printing the table on stdout and progress on stderr.
// Its errors: NotFound / Corruption / InvalidArgument for unreadable or
// inconsistent data (including k larger than the base set), IOError for
// output files, and any error the index reports.
Command AddBenchCommand(CLI::App& parent);

}  // namespace omendb::cli
