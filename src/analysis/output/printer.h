// Printing a trace: one Printer per output format, chosen by name (kernel,
// native, annotated, json, csv; docs/print.md). Adding a format is one file
// that implements Printer, plus its line in the table of printers.cc.
//
// The print loop (print.h) feeds a printer the input's records in order:
// accesses one by one (an ACCESS_RUN's each with its own seq, address and
// value), already filtered and, with --regs, named; every other record as it
// is. Printers append text to a buffer; they never fail and never do I/O.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "analysis/access.h"
#include "analysis/bind.h"
#include "analysis/output/text.h"
#include "analysis/symbolizer.h"
#include "trace/format.h"
#include "trace/reader.h"

namespace mmiotrace::output {

// The most text one MARK line of the kernel format carries: one write to the
// kernel's trace_marker keeps at most TRACE_BUF_SIZE (1024) bytes
// (kernel/trace/trace.c, tracing_mark_write(), every kernel before 6.8, which
// raised it to 4096). Longer text is cut to this in the kernel format only:
// the trace keeps up to trace::kMaxMarkText and the other formats print it all.
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

struct PrinterOptions {
  KernelFormatOptions kernel;
};

// What the print loop knows of one access besides the access itself.
struct AccessNotes {
  const analysis::AccessDescription* regs = nullptr;  // its registers and fields when maps are bound (--regs)
  const analysis::Symbol* symbol = nullptr;           // its instruction's symbol (--symbols)
};

// What the printer knows of the input before its first record.
struct InputInfo {
  bool kernel_log = false;                    // a Linux kernel mmiotrace log (no file header)
  const trace::FileHeader* header = nullptr;  // a trace's file header (null for a kernel log)
  // Every PCIDEV record of the input, when known before the events (a trace
  // read twice); null when the input gives them in its order (a kernel log
  // has them first anyway). A printer that wants them first (pcidev_first())
  // then never gets PCIDEV records from record().
  const std::vector<trace::RecordView>* pcidevs = nullptr;
};

class Printer {
 public:
  virtual ~Printer() = default;
  // Before the first record: the format's header lines.
  virtual void begin(const InputInfo& input, Out& out) = 0;
  // A record that is not an access: MAP, UNMAP, MARK, PCIDEV, UNKNOWN, LOST,
  // CODEMAP.
  virtual void record(const trace::RecordView& record, Out& out) = 0;
  // One access, with what is known of it besides (null members: not asked for).
  virtual void access(const analysis::Access& access, const AccessNotes& notes, Out& out) = 0;
  // After the last record (a JSON array's closing bracket, say).
  virtual void end(Out&) {}
  // The kernel format lists every device before any event.
  virtual bool pcidev_first() const { return false; }
};

struct PrinterInfo {
  std::string_view name;  // --format NAME
  std::string_view help;  // one line for --help
  std::unique_ptr<Printer> (*make)(const PrinterOptions&);
};

// Every format, in the order --help lists them.
std::span<const PrinterInfo> printers();
// The printer called `name`, or null.
std::unique_ptr<Printer> make_printer(std::string_view name, const PrinterOptions& options);

// The factories behind printers(), one per file.
std::unique_ptr<Printer> make_kernel_printer(const PrinterOptions& options);
std::unique_ptr<Printer> make_native_printer(const PrinterOptions& options);
std::unique_ptr<Printer> make_annotated_printer(const PrinterOptions& options);
std::unique_ptr<Printer> make_json_printer(const PrinterOptions& options);
std::unique_ptr<Printer> make_csv_printer(const PrinterOptions& options);

}  // namespace mmiotrace::output
