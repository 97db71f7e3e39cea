// The print loop: records from a trace or a kernel log, through a filter and
// the register bindings, into a Printer (printer.h), out through a TextSink.
// `mmiotrace print` is this and its command line (cli/print_command.cc).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string_view>
#include <vector>

#include "analysis/bind.h"
#include "analysis/filter.h"
#include "analysis/output/printer.h"
#include "analysis/output/sink.h"
#include "trace/reader.h"
#include "trace/trace_input.h"

namespace mmiotrace::output {

struct PrintJob {
  std::string_view format = "kernel";  // a name of printers()
  PrinterOptions options;
  analysis::Filter* filter = nullptr;          // null: every access
  analysis::RegisterBindings* regs = nullptr;  // null or empty: no register names
  // Non-null (with options.symbols): fed the trace's CODEMAP records as they
  // come, it names the function of each access's instruction.
  analysis::Symbolizer* symbols = nullptr;
  // A trace's PCIDEV records, from a first pass (DeviceCatalog::scan). Null:
  // a format that lists devices first reads the trace a second time for them.
  const std::vector<std::vector<uint8_t>>* pcidev_records = nullptr;
};

// Prints `input` (as open_trace_input() opened it) in `job.format`. On a
// damaged record or line, everything before it is printed and flushed first
// and the outcome says where; a format that lists devices first refuses a
// trace that is not a regular file (a pipe cannot be read twice) unless
// job.pcidev_records is given.
PrintOutcome print_input(trace::TraceInput& input, const PrintJob& job, FILE* out,
                         std::string_view out_name = "standard output");

// The loop itself, on any record source: begin(), every record, end().
PrintOutcome print_records(trace::RecordSource& source, const InputInfo& info, Printer& printer,
                           analysis::Filter* filter, analysis::RegisterBindings* regs, analysis::Symbolizer* symbols,
                           TextSink& sink);

// The first line of the native text of a kernel log.
inline constexpr std::string_view kKernelLogNativeHeader =
    "# Linux kernel mmiotrace log, VERSION 20070824; #<n> is the line number in the log\n";

}  // namespace mmiotrace::output
