// The `omendb` command-line program: a CLI11 front end whose subcommands each
// live in their own <name>_cmd.cc (see command.h for how they plug in).
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <exception>
#include <new>
#include <string>
#include <vector>

#include "bench_cmd.h"
#include "command.h"
#include "compact_cmd.h"
#include "create_cmd.h"
#include "delete_cmd.h"
#include "get_cmd.h"
#include "import_cmd.h"
#include "search_cmd.h"
#include "stats_cmd.h"
#include "verify_cmd.h"

namespace {

// Every subcommand's factory; add a line here for a new command.
constexpr omendb::cli::CommandFactory kCommands[] = {
    omendb::cli::AddBenchCommand,
    omendb::cli::AddCreateCommand,
    omendb::cli::AddImportCommand,
    omendb::cli::AddSearchCommand,
    omendb::cli::AddGetCommand,
    omendb::cli::AddDeleteCommand,
    omendb::cli::AddStatsCommand,
    omendb::cli::AddVerifyCommand,
    omendb::cli::AddCompactCommand,
};

}  // namespace

int main(int argc, char** argv) {
  using namespace omendb::cli;  // NOLINT(google-build-using-namespace): main only
  // A closed output pipe (`omendb search ... | head`) is then a failed write,
  // which the commands report (exit 1), rather than a silent death by signal.
  std::signal(SIGPIPE, SIG_IGN);
  CLI::App app("omendb: embedded vector database tools", "omendb");
  app.footer("Exit codes: 0 success, 1 runtime error, 2 usage error.");
  app.require_subcommand(1);

  std::vector<Command> commands;
  for (CommandFactory add : kCommands) commands.push_back(add(app));

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);  // prints help, returns 0
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // Printed here rather than by app.exit() so usage errors carry the same
    // "omendb <command>: error:" prefix as runtime errors. CLI11's own exit
    // codes vary by error kind; they are folded into the one usage code.
    std::string where = "omendb";
    for (const CLI::App* sub : app.get_subcommands()) where += " " + sub->get_name();
    std::fprintf(stderr, "%s: error: %s\nRun `%s --help` for more information.\n", where.c_str(),
                 e.what(), where.c_str());
    return kExitUsageError;
  }

  for (const Command& c : commands) {
    if (!c.app->parsed()) continue;
    // The library reports failures as Status; exceptions can still come from
    // the standard library (std::bad_alloc for a huge --n) and must not
    // escape as a crash.
    try {
      omendb::Status s = c.run();
      if (!s.ok()) {
        std::fprintf(stderr, "omendb %s: error: %s\n", c.app->get_name().c_str(),
                     s.ToString().c_str());
        return kExitRuntimeError;
      }
      return kExitOk;
    } catch (const std::bad_alloc&) {
      std::fprintf(stderr, "omendb %s: error: out of memory\n", c.app->get_name().c_str());
      return kExitRuntimeError;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "omendb %s: error: %s\n", c.app->get_name().c_str(), e.what());
      return kExitRuntimeError;
    }
  }
  return kExitUsageError;  // unreachable: require_subcommand(1) guarantees one
}
