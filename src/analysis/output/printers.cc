// The table of output formats: a new printer is a file with its factory, and
// one line here.
#include "analysis/output/printer.h"

namespace mmiotrace::output {

namespace {

constexpr PrinterInfo kPrinters[] = {
    {"kernel",
     "the Linux kernel's mmiotrace log (VERSION 20070824) that existing tools read; --regs adds a '# ...' comment",
     make_kernel_printer},
    {"native", "one line per record with every field of the trace and the instruction's disassembly",
     make_native_printer},
    {"annotated", "for people: time, thread, device+offset, register, value and its fields, in columns",
     make_annotated_printer},
    {"json", "JSON lines: one object per record or access, registers and fields included", make_json_printer},
    {"csv", "CSV with a header row: one row per record or access", make_csv_printer},
};

}  // namespace

std::span<const PrinterInfo> printers() { return kPrinters; }

std::unique_ptr<Printer> make_printer(std::string_view name, const PrinterOptions& options) {
  for (const PrinterInfo& p : kPrinters) {
    if (p.name == name) return p.make(options);
  }
  return nullptr;
}

}  // namespace mmiotrace::output
