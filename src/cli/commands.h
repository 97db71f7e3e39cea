// One function per subcommand registers it with the root CLI11 app; when the
// subcommand is chosen, parsing stores its action in `run`. Only the CLI prints
// user-facing errors: one actionable sentence, and a sysexits-style exit code.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cli/exit_codes.h"  // kExit*: every command returns one of these

namespace CLI {
class App;
class Formatter;
}  // namespace CLI

namespace mmiotrace::cli {

using Action = std::function<int()>;

// `after_dashes`: what followed `--` on the command line, if there was one.
void add_record_command(CLI::App& root, Action& run,
                        const std::vector<std::string>* after_dashes);  // record_command.cc
void add_print_command(CLI::App& root, Action& run);                    // print_command.cc
void add_mark_command(CLI::App& root, Action& run);                     // mark_command.cc
void add_stats_command(CLI::App& root, Action& run);                    // stats_command.cc
void add_diff_command(CLI::App& root, Action& run);                     // diff_command.cc
void add_export_command(CLI::App& root, Action& run);                   // export_command.cc
void add_report_command(CLI::App& root, Action& run);                   // report_command.cc
void add_replay_command(CLI::App& root, Action& run,
                        const std::vector<std::string>* after_dashes);  // replay_command.cc

// `completion bash|zsh`: a script generated from `root` as it is when the
// command runs (every subcommand registered before it).
void add_completion_command(CLI::App& root, Action& run, const std::string& version);  // completion.cc

// CLI11's --help layout with names and descriptions always two spaces apart
// (help2man reads it: packaging/man.sh).
std::shared_ptr<CLI::Formatter> make_help_formatter();  // help_format.cc

// Prints "mmiotrace: <message>" on stderr.
void print_error(const std::string& message);

}  // namespace mmiotrace::cli
