// How subcommands plug into the `omendb` program (tools/cli/main.cc).
//
// Each subcommand lives in its own <name>_cmd.cc with a header declaring one
// factory, `Command Add<Name>Command(CLI::App& parent)`, that adds the
// subcommand and its options to `parent` and returns the code to run when it
// is chosen. main.cc lists the factories; adding a command is one new file pair
// plus one line there (and one in tools/CMakeLists.txt).
//
// Exit codes of the program (documented in `omendb --help`):
//   0  success
//   1  runtime error: the command ran and failed (bad data, I/O, index error)
//   2  usage error: the command line could not be parsed or an option value
//      is out of range (detected by CLI11 before the command runs)
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

#include "omendb/status.h"

namespace omendb::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitRuntimeError = 1;
inline constexpr int kExitUsageError = 2;

// A registered subcommand.
struct Command {
  // The subcommand's parser; owned by the parent CLI::App.
  CLI::App* app = nullptr;
  // Runs the command after a successful parse, reading the option values the
  // factory bound. A non-OK Status is printed by main and exits with 1.
  std::function<Status()> run;
};

// Rejects a negative value for an unsigned option (CLI11 would otherwise let
// "-1" wrap around to the type's maximum).
inline const CLI::Validator kNotNegative(
    [](std::string& s) -> std::string {
      const size_t first = s.find_first_not_of(" \t");
      return first != std::string::npos && s[first] == '-' ? "must not be negative" : "";
    },
    "NONNEGATIVE");

// Signature of a subcommand factory.
using CommandFactory = Command (*)(CLI::App& parent);

}  // namespace omendb::cli
