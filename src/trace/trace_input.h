// What `mmiotrace print` reads: a trace file of our binary format or a Linux
// kernel mmiotrace text log, told apart by their first bytes (so that pipes,
// which cannot be read twice, work too). docs/print.md, "Input".
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "trace/kernel_log_records.h"
#include "trace/reader.h"

namespace mmiotrace::trace {

enum class InputKind : uint8_t {
  TRACE,       // starts with the trace format's magic (or is something else: TraceReader says what)
  KERNEL_LOG,  // starts with "VERSION ", "# tracer:", or an R, W, MAP, UNMAP, MARK, PCIDEV or UNKNOWN line
};

// The kind of a file that starts with `first` (its first bytes: 16 are enough,
// fewer if the file is shorter).
InputKind detect_input(std::string_view first);

struct TraceInput {
  InputKind kind = InputKind::TRACE;
  std::optional<TraceReader> trace;            // kind TRACE: its header already checked
  std::optional<KernelLogRecords> kernel_log;  // kind KERNEL_LOG
};

// Opens `path`, reads its first bytes, and hands the descriptor and those bytes
// to the reader of its kind. On failure, `*failure` (if given) says which kind
// of failure it was.
Result<TraceInput> open_trace_input(const std::string& path, TraceFailure* failure = nullptr);

}  // namespace mmiotrace::trace
