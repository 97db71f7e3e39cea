// What the subcommands that compute from a trace (stats, diff, export,
// report) do before their one pass: load the --regs maps, parse the filters,
// open the input, read the trace's devices first when the maps or the device
// filters need them, bind the maps, and find the addresses of --function's
// functions in the trace's code maps. print does the same steps in its own
// order (cli/print_command.cc).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "analysis/bind.h"
#include "analysis/devices.h"
#include "analysis/filter.h"
#include "analysis/symbolizer.h"
#include "analysis/walk.h"
#include "cli/filter_options.h"
#include "cli/regs_options.h"
#include "trace/trace_input.h"

namespace mmiotrace::cli {

// One opened input, ready to walk. Not movable: the filter points at the
// catalog and the bindings.
struct TraceSetup {
  std::string path;
  trace::TraceInput input;
  analysis::DeviceCatalog catalog;  // filled before the walk when needed, else by the walk
  analysis::RegisterBindings bindings;
  std::optional<analysis::Filter> filter;
  analysis::Symbolizer symbols;  // fed by the walk (CODEMAP records)
  uint64_t time_origin_ns = 0;   // the recording's start (a trace's header), else 0

  TraceSetup() = default;
  TraceSetup(const TraceSetup&) = delete;
  TraceSetup& operator=(const TraceSetup&) = delete;

  // A context for analysis::walk(). The catalog is only filled by the walk
  // when it was not read first.
  analysis::WalkContext context();
  bool catalog_read_first = false;
};

// --function: the functions' addresses in every code map the trace at `path`
// recorded (a first pass over its CODEMAP records, fed to `symbols`). Fails
// on a trace without code maps (a kernel log, a trace older than format 1.2)
// and, when the filter asks, for a function no code map holds.
Result<analysis::FunctionRanges> function_ranges(const std::string& path,
                                                 const std::shared_ptr<analysis::Symbolizer>& symbols);

// Prints the error (one line) and sets `*exit_code` (sysexits) on failure.
std::unique_ptr<TraceSetup> prepare_trace(const std::string& path, const RegsOptions& regs,
                                          const FilterOptions& filters, int* exit_code);

// Walks the whole input; on failure prints it (one line, naming the file) and
// returns the exit code (kExitDataErr for a damaged input, kExitIoErr for a
// read error); 0 when the walk reached the end.
int walk_trace(TraceSetup& setup, analysis::TraceVisitor& visitor);

}  // namespace mmiotrace::cli

namespace mmiotrace::cli {

// Writes `text` to standard output (`path` empty) or to the file `path`,
// which appears whole or not at all (analysis::AtomicFile). Returns 0, or the
// exit code after printing the error (one line).
int write_output(const std::string& path, std::string_view text);

}  // namespace mmiotrace::cli
