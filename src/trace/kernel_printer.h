// Printing a trace as text. This file holds the kernel format ("VERSION
// 20070824", what the Linux kernel's mmiotrace writes and envytools demmio and
// other tools read: docs/trace-format.md, "The kernel text format"), and the
// output plumbing both printers share (native_printer.h has the other format).
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <string_view>

#include "trace/reader.h"

namespace mmiotrace::trace {

// ---- Shared by both printers ----

enum class PrintStatus : uint8_t {
  OK = 0,        // every record printed, or the output was a pipe whose reader went away (EPIPE): stop quietly
  BAD_INPUT,     // the trace is corrupt or truncated; every intact record before the damage was printed
  READ_FAILED,   // reading the trace failed (I/O error)
  WRITE_FAILED,  // writing the output failed
};

struct PrintOutcome {
  PrintStatus status = PrintStatus::OK;
  std::string message;  // one sentence for the user; empty when OK
};

// Text output through a 64 KiB buffer to a FILE*. Records a write error or a
// closed pipe (the caller must ignore SIGPIPE to get EPIPE instead of dying).
class TextSink {
 public:
  TextSink(FILE* out, std::string_view out_name);
  fmt::memory_buffer& buffer() { return buffer_; }
  // Writes the buffer out once it holds 64 KiB or more; false once output failed.
  bool maybe_flush() { return buffer_.size() < kFlushThreshold || write_buffer(); }
  // Writes everything and fflush()es; false once output failed.
  bool flush();
  bool pipe_closed() const { return pipe_closed_; }
  const std::string& error() const { return error_; }
  // OK for a closed pipe, WRITE_FAILED with the error otherwise.
  PrintOutcome failure_outcome() const;

 private:
  static constexpr size_t kFlushThreshold = 64 * 1024;
  bool write_buffer();
  bool record_failure(int err);

  FILE* out_;
  std::string out_name_;
  fmt::memory_buffer buffer_;
  bool pipe_closed_ = false;
  std::string error_;
};

// The `n` (<= 8) bytes at `bytes` as a little-endian integer: how x86 loads them.
uint64_t little_endian(const uint8_t* bytes, unsigned n);

// Appends free text (a MARK's) so that it stays on one line: trailing line
// breaks are dropped, inner ones become spaces.
void append_one_line(std::string_view text, fmt::memory_buffer& out);

using RecordFormatter = std::function<void(const RecordView&, fmt::memory_buffer&)>;

// Formats every remaining record of `source` into `sink`, then flushes it. On a
// damaged record (or line), what came before is flushed first and the outcome says why.
PrintOutcome print_records(RecordSource& source, TextSink& sink, const RecordFormatter& format);

// ---- The kernel format ----

// The most text one MARK line of the kernel format carries: one write to the
// kernel's trace_marker keeps at most TRACE_BUF_SIZE (1024) bytes
// (kernel/trace/trace.c, tracing_mark_write(), every kernel before 6.8, which
// raised it to 4096). Longer text is cut to this in the kernel format only:
// the trace keeps up to kMaxMarkText and the native format prints it all.
inline constexpr size_t kKernelMarkTextMax = 1024;

// Choices for readers of the kernel format that expect less than it allows
// (docs/print.md, "Readers"). The defaults print what the kernel prints.
struct KernelFormatOptions {
  // The widest R/W line: 8 (the kernel's own widest, writeq/readq), or 4, 2
  // or 1. A wider access becomes several lines of this width in address
  // order (so, little-endian, the low half first), each with its own address
  // and bytes; narrower accesses are printed as they are.
  unsigned max_width = 8;
  // Print 0x0 in the PC column and 0 in the PID column, as the kernel does
  // (it records no PC unless mmiotrace's trace_pc parameter is set, and
  // always prints PID 0), instead of the instruction address and thread id.
  bool zero_pc_pid = false;
};

// "%u.%06lu": seconds and microseconds, rounded to the nearest microsecond as
// the kernel's ns2usecs() does (kernel/trace/trace.c).
void format_kernel_time(uint64_t time_ns, fmt::memory_buffer& out);

// Appends the kernel line(s) for one record: R/W (several lines for an access
// that is wide, of odd width or masked; one per access for an ACCESS_RUN), MAP,
// UNMAP, MARK, UNKNOWN, PCIDEV, or "MARK 0.000000 Lost N events." for LOST.
// An access whose value is unknown (kAccessValueUnknown) prints what the
// kernel prints when it loses a value: an UNKNOWN line, one per access.
void format_kernel_record(const RecordView& record, fmt::memory_buffer& out, const KernelFormatOptions& options = {});

// Prints "VERSION 20070824", then the PCIDEV line of every PCIDEV record in the
// file (a first pass with a second reader opened on reader.path(): the kernel
// puts them before any event), then every other record in file order.
// `reader` must be freshly opened, on a regular file (a pipe cannot be read twice).
PrintOutcome print_kernel_format(TraceReader& reader, FILE* out, std::string_view out_name = "standard output",
                                 const KernelFormatOptions& options = {});

// Prints "VERSION 20070824", then every record of `source` in its order,
// PCIDEV records where they are: for a source whose PCIDEV records come first
// already, such as a kernel log (kernel_log_records.h). One pass: pipes work.
PrintOutcome print_kernel_format_in_order(RecordSource& source, FILE* out,
                                          std::string_view out_name = "standard output",
                                          const KernelFormatOptions& options = {});

}  // namespace mmiotrace::trace
