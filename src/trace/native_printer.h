// The native text format: one line per record carrying every field of the
// binary record, plus the disassembly of the instruction behind each access.
// Normative description: docs/trace-format.md, "The native text format".
#pragma once

#include <fmt/format.h>

#include <cstdio>
#include <string_view>

#include "trace/kernel_printer.h"  // PrintOutcome, TextSink, print_records
#include "trace/reader.h"

namespace mmiotrace::trace {

// "# mmiotrace trace format 1.1, recorder pid P, start monotonic N ns, start realtime N ns"
void format_native_header(const FileHeader& header, fmt::memory_buffer& out);

// "#<seq> <time_ns> <pid>/<tid> <TYPE> <fields...>" and a newline; an
// ACCESS_RUN gives one such line per access, each with its own seq.
void format_native_record(const RecordView& record, fmt::memory_buffer& out);

// The header line, then every record in file order.
PrintOutcome print_native_format(TraceReader& reader, FILE* out, std::string_view out_name = "standard output");

// The first line of the native text of a kernel log (kernel_log_records.h).
inline constexpr std::string_view kKernelLogNativeHeader =
    "# Linux kernel mmiotrace log, VERSION 20070824; #<n> is the line number in the log\n";

// `header_line`, then every record of `source` in its order.
PrintOutcome print_native_format(RecordSource& source, std::string_view header_line, FILE* out,
                                 std::string_view out_name = "standard output");

}  // namespace mmiotrace::trace
