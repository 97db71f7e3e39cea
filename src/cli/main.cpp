#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/version.h"

namespace mmiotrace::cli {
void print_error(const std::string& message) { std::fprintf(stderr, "mmiotrace: %s\n", message.c_str()); }
}  // namespace mmiotrace::cli

// CLI11 throws out of the app's construction only for a malformed option
// definition: a bug, which may end in std::terminate.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  using namespace mmiotrace::cli;
  CLI::App app{"mmiotrace: trace the memory-mapped I/O of a program (docs/ has one page per subcommand)", "mmiotrace"};
  app.formatter(make_help_formatter());  // before the subcommands: they take the root's
  app.require_subcommand(1);
  app.set_version_flag("--version", kVersionText, "Print the version and the git revision it was built from");
  // `--` ends mmiotrace's own options: what follows is the program to run,
  // its options included. Split it off before CLI11 sees it.
  std::vector<std::string> args(argv + 1, argv + argc);
  std::vector<std::string> command;
  bool has_command = false;
  if (auto dd = std::find(args.begin(), args.end(), "--");
      !args.empty() && (args[0] == "record" || args[0] == "replay") && dd != args.end()) {
    has_command = true;
    command.assign(dd + 1, args.end());
    args.erase(dd, args.end());
  }
  Action run;
  add_record_command(app, run, has_command ? &command : nullptr);
  add_print_command(app, run);
  add_mark_command(app, run);
  add_stats_command(app, run);
  add_diff_command(app, run);
  add_export_command(app, run);
  add_report_command(app, run);
  add_replay_command(app, run, has_command ? &command : nullptr);
  const bool is_diff = !args.empty() && args[0] == "diff";
  add_completion_command(app, run, kVersionText);  // last: it describes the subcommands above
  try {
    std::reverse(args.begin(), args.end());  // CLI11 takes a reversed vector
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    if (rc == 0) return 0;
    // diff's exit status is diff(1)'s: 2 for any trouble, a bad command line too.
    return is_diff ? kDiffTrouble : kExitUsage;
  }
  return run ? run() : kExitUsage;
}
