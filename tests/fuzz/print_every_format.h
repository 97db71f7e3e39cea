// What the readers' fuzzers (trace_reader_fuzzer.cc, kernel_log_fuzzer.cc)
// do with each record a reader delivers: format it in every output format
// (src/analysis/output), as the print loop hands it to a printer.
#pragma once

#include <memory>
#include <vector>

#include "analysis/access.h"
#include "analysis/output/printer.h"
#include "trace/reader.h"

namespace mmiotrace::fuzz {

inline void format_in_every_format(const trace::RecordView& record) {
  static const std::vector<std::unique_ptr<output::Printer>> printers = [] {
    std::vector<std::unique_ptr<output::Printer>> all;
    for (const output::PrinterInfo& p : output::printers()) all.push_back(p.make({}));
    return all;
  }();
  output::Out text;
  for (const auto& printer : printers) {
    const bool access =
        analysis::for_each_access(record, [&](const analysis::Access& a) { printer->access(a, {}, text); });
    if (!access) printer->record(record, text);
    text.clear();
  }
}

}  // namespace mmiotrace::fuzz
