#include <CLI/CLI.hpp>

#include "cli/commands.h"

namespace mmiotrace::cli {
void add_print_command(CLI::App& root, Action& run) {
  auto* sub = root.add_subcommand("print", "Print a trace file");
  sub->callback([&run] { run = [] { return kExitSoftware; }; });
}
}  // namespace mmiotrace::cli
