// The `omendb` command-line program: a CLI11 front end whose subcommands each
// live in their own <name>_cmd.cc (see command.h for how they plug in).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <new>
#include <vector>

#include "bench_cmd.h"
#include "command.h"

namespace {

// Every subcommand's factory; add a line here for a new command.
constexpr omendb::cli::CommandFactory kCommands[] = {
    omendb::cli::AddBenchCommand,
};

}  // namespace

int main(int argc, char** argv) {
  using namespace omendb::cli;  // NOLINT(google-build-using-namespace): main only
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
    // CLI11 prints the message (and a --help hint); its own codes vary by
    // error kind, so they are folded into the one documented usage code.
    app.exit(e);
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
