// One function per subcommand registers it with the root CLI11 app; when the
// subcommand is chosen, parsing stores its action in `run`. Only the CLI prints
// user-facing errors: one actionable sentence, and a sysexits-style exit code.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace mmiotrace::cli {

using Action = std::function<int()>;

// `after_dashes`: what followed `--` on the command line, if there was one.
void add_record_command(CLI::App& root, Action& run,
                        const std::vector<std::string>* after_dashes);  // record_command.cc
void add_print_command(CLI::App& root, Action& run);                    // print_command.cc
void add_mark_command(CLI::App& root, Action& run);                     // mark_command.cc

// sysexits.h codes, named here so the tools need not include it everywhere.
inline constexpr int kExitUsage = 64;        // EX_USAGE: bad command line
inline constexpr int kExitDataErr = 65;      // EX_DATAERR: input data is wrong (corrupt trace)
inline constexpr int kExitNoInput = 66;      // EX_NOINPUT: input file missing or unreadable
inline constexpr int kExitUnavailable = 69;  // EX_UNAVAILABLE: no recorder to mark; a program the agent cannot enter
inline constexpr int kExitSoftware = 70;     // EX_SOFTWARE: internal error
inline constexpr int kExitCantCreat = 73;    // EX_CANTCREAT: output file cannot be created
inline constexpr int kExitIoErr = 74;        // EX_IOERR: read or write failed
inline constexpr int kExitNotFound = 127;    // the program to run does not exist (as a shell says)

// Prints "mmiotrace: <message>" on stderr.
void print_error(const std::string& message);

}  // namespace mmiotrace::cli
