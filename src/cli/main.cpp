#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>

#include "cli/commands.h"

namespace mmiotrace::cli {
void print_error(const std::string& message) { std::fprintf(stderr, "mmiotrace: %s\n", message.c_str()); }
}  // namespace mmiotrace::cli

int main(int argc, char** argv) {
  using namespace mmiotrace::cli;
  CLI::App app{"mmiotrace: trace the memory-mapped I/O of a program (docs/ has one page per subcommand)",
               "mmiotrace"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "mmiotrace 0.1.0");
  Action run;
  add_record_command(app, run);
  add_print_command(app, run);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : kExitUsage;
  }
  return run ? run() : kExitUsage;
}
