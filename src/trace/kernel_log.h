// KernelLogReader: reads the Linux kernel's own mmiotrace text log
// ("VERSION 20070824", what /sys/kernel/tracing/trace_pipe or `trace` gives
// with the mmiotrace tracer) event by event. It streams line by line through a
// fixed buffer, so it works on pipes and on logs of any size.
//
// The layouts are the kernel's format strings (kernel/trace/trace_mmiotrace.c),
// listed in docs/trace-format.md, "The kernel text format"; docs/print.md,
// "Kernel logs", says what is accepted beyond them. Lines the reader passes
// over without an event: `#` comments (the `# tracer: mmiotrace` header that
// `cat trace` gives), blank lines, VERSION lines, lines of other tracers in
// ftrace's default layout (`comm-pid [cpu] ...`) and the kernel's
// "rw what?"/"map what?" for impossible opcodes. A " # ..." comment after
// an R/W line's fields (`mmiotrace print --regs` writes one) is ignored.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"
#include "common/unique_fd.h"
#include "trace/reader.h"  // TraceFailure

namespace mmiotrace::trace {

enum class KernelEventKind : uint8_t {
  READ,     // R width time map_id 0xphys 0xvalue 0xpc pid
  WRITE,    // W ...
  MAP,      // MAP time map_id 0xphys 0xvirt 0xlen 0x0 0
  UNMAP,    // UNMAP time map_id 0x0 0
  MARK,     // MARK time text
  PCIDEV,   // PCIDEV bbdd vvvvdddd irq 7 starts 7 sizes [driver]
  UNKNOWN,  // UNKNOWN time map_id 0xphys b0,b1,b2 0xpc pid: an instruction the kernel could not decode
  LOST,     // "MARK 0.000000 Lost N events." or ftrace's "CPU:n [LOST N EVENTS]"
};

const char* to_string(KernelEventKind kind);

struct KernelPciDev {
  uint8_t bus = 0;
  uint8_t devfn = 0;
  uint16_t vendor = 0;
  uint16_t device = 0;
  uint32_t irq = 0;
  uint64_t start[7] = {};  // BAR0-5 and ROM, resource flags in the low nibble
  uint64_t size[7] = {};
  std::string driver;  // empty: no driver bound (the kernel prints a lone space)
};

// One event of the log. Only the fields of its kind are meaningful; the others
// are zero or empty. Values are as the log has them: nothing the log lacks
// (thread ids, instruction bytes beyond three, process ids) is made up.
struct KernelLogEvent {
  KernelEventKind kind = KernelEventKind::MARK;
  uint64_t line = 0;     // 1-based line number in the log
  uint64_t time_ns = 0;  // the line's seconds.microseconds, in nanoseconds (0 for PCIDEV and LOST)
  unsigned width = 0;    // READ/WRITE: 1, 2, 4 or 8 bytes
  uint64_t phys = 0;     // READ/WRITE/UNKNOWN: address accessed; MAP: first byte of the mapping
  // READ/WRITE: as printed. It may have bits above `width` bytes: the kernel's
  // decoder logs the sign-extended register for MOVSX reads.
  uint64_t value = 0;
  bool value_unknown = false;  // READ/WRITE: `?` in the value column (mmiotrace's step mode; never the kernel)
  uint64_t pc = 0;             // READ/WRITE/UNKNOWN: 0 when the kernel did not record it
  int32_t map_id = 0;          // READ/WRITE/UNKNOWN/MAP/UNMAP; an UNMAP the kernel could not match has -1
  int32_t pid = 0;       // READ/WRITE/UNKNOWN: the last column (the kernel prints 0; mmiotrace print, the thread id)
  uint64_t virt = 0;     // MAP: the kernel virtual address of the mapping
  uint64_t len = 0;      // MAP: bytes
  uint8_t insn[3] = {};  // UNKNOWN: the first three bytes of the instruction
  uint64_t lost = 0;     // LOST: number of events lost; 0 when ftrace did not know ("CPU:n [LOST EVENTS]")
  std::string text;      // MARK: the text, without the line break
  KernelPciDev pci;      // PCIDEV
};

class KernelLogReader {
 public:
  static constexpr size_t kBufferSize = size_t{256} << 10;
  // The kernel formats each line in a trace_seq of one page; this is twice that.
  static constexpr size_t kMaxLineLength = 8192;

  // Opens `path` (a file or a pipe). Nothing is read yet.
  static Result<KernelLogReader> open(const std::string& path, TraceFailure* failure = nullptr);
  // Takes over the open descriptor `fd`, from which `already_read` (the log's
  // first bytes) was read (trace_input.h reads them to tell the kinds of file apart).
  static KernelLogReader adopt_fd(int fd, std::string path, std::string_view already_read);

  KernelLogReader(KernelLogReader&& other) noexcept = default;
  KernelLogReader& operator=(KernelLogReader&& other) noexcept = default;
  KernelLogReader(const KernelLogReader&) = delete;
  KernelLogReader& operator=(const KernelLogReader&) = delete;
  ~KernelLogReader() = default;

  // true and the next event in `out`; false at the end of the log; an error
  // (with failure() set) for a line that is not what the kernel writes, naming
  // its line number and what was expected (CORRUPT), a log of another tracer or
  // another VERSION (NOT_A_TRACE), or a failed read (UNREADABLE). Every event
  // before the bad line has been delivered. After an error, every call returns it again.
  Result<bool> next(KernelLogEvent& out);

  const std::string& path() const { return path_; }
  uint64_t lines_read() const { return line_; }        // lines consumed so far, the bad one included
  uint64_t events_read() const { return events_; }     // events delivered
  uint64_t lines_skipped() const { return skipped_; }  // other tracers' lines and "rw what?"/"map what?"
  TraceFailure failure() const { return failure_; }

 private:
  KernelLogReader(int fd, std::string path);
  // The next line without its line break, valid until the next call; false at the end.
  Result<bool> next_line(std::string_view& line);
  // Fills `out` from one line: true for an event, false for a line to pass over.
  Result<bool> parse(std::string_view line, KernelLogEvent& out);
  Error fail(TraceFailure kind, std::string message);
  Error malformed(const std::string& why);

  UniqueFd fd_;
  std::string path_;
  std::unique_ptr<char[]> buffer_;
  size_t pos_ = 0;  // start of the unread bytes in buffer_
  size_t end_ = 0;  // end of the valid bytes
  bool eof_ = false;
  uint64_t line_ = 0;
  uint64_t events_ = 0;
  uint64_t skipped_ = 0;
  TraceFailure failure_ = TraceFailure::NONE;
  std::string error_;
};

}  // namespace mmiotrace::trace
