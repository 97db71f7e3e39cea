#include "analysis/output/print.h"

#include <sys/stat.h>

namespace mmiotrace::output {

namespace {

// The loop, for a source of a known type: a TraceReader's next() is then
// inline (trace/reader.h), not a virtual call per record.
template <typename Source>
PrintOutcome print_loop(Source& source, const InputInfo& info, Printer& printer, analysis::Filter* filter,
                        analysis::RegisterBindings* regs, analysis::Symbolizer* symbols, TextSink& sink) {
  printer.begin(info, sink.buffer());
  const bool describe = regs != nullptr && !regs->empty();
  const bool filtering = filter != nullptr && !filter->passes_everything();
  const bool skip_pcidev = info.pcidevs != nullptr && printer.pcidev_first();
  analysis::AccessDescription description;
  trace::RecordView record;
  for (;;) {
    auto more = source.next(record);
    if (!more) {
      if (!sink.flush()) return sink.failure_outcome();
      return {source.read_failed() ? PrintStatus::READ_FAILED : PrintStatus::BAD_INPUT, more.error()};
    }
    if (!*more) break;
    const trace::RecordType type = record.type();
    if (type == trace::RecordType::ACCESS || type == trace::RecordType::ACCESS_RUN) {
      analysis::for_each_access(record, [&](const analysis::Access& a) {
        AccessNotes notes;
        if (describe) {
          regs->describe(a, description);
          notes.regs = &description;
        }
        if (filtering && !filter->accepts(a, notes.regs)) return;
        if (symbols != nullptr) notes.symbol = &symbols->lookup(a.pid, a.pc);
        printer.access(a, notes, sink.buffer());
      });
    } else {
      if (filter != nullptr) filter->observe(record);
      if (symbols != nullptr && type == trace::RecordType::CODEMAP) symbols->add(record);
      if (type == trace::RecordType::PCIDEV && skip_pcidev) continue;
      if (type == trace::RecordType::UNKNOWN && filtering &&
          !filter->accepts_unknown(record.as<trace::UnknownRecord>())) {
        continue;
      }
      printer.record(record, sink.buffer());
    }
    if (!sink.maybe_flush()) return sink.failure_outcome();
  }
  printer.end(sink.buffer());
  if (!sink.flush()) return sink.failure_outcome();
  return {};
}

}  // namespace

PrintOutcome print_records(trace::RecordSource& source, const InputInfo& info, Printer& printer,
                           analysis::Filter* filter, analysis::RegisterBindings* regs, analysis::Symbolizer* symbols,
                           TextSink& sink) {
  if (auto* reader = dynamic_cast<trace::TraceReader*>(&source))
    return print_loop(*reader, info, printer, filter, regs, symbols, sink);
  return print_loop(source, info, printer, filter, regs, symbols, sink);
}

namespace {

// Every PCIDEV record of the trace at `reader.path()`, by a second reader. A
// damaged record ends this pass quietly: the printing pass reports it.
Result<std::vector<std::vector<uint8_t>>> read_pcidevs(const trace::TraceReader& reader) {
  // Reopening a pipe (`print <(cat t.mmio)`) would not read it again but take
  // its data away from `reader`: refuse rather than print a trace without events.
  struct stat st;
  if (::stat(reader.path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return make_error(
        fmt::format("cannot print '{}' in the kernel format: it is not a regular file and the PCIDEV lines need "
                    "a second read of it; copy it to a file first",
                    reader.path()));
  }
  auto first = trace::TraceReader::open(reader.path());
  if (!first) return Error{first.error()};
  std::vector<std::vector<uint8_t>> records;
  trace::RecordView record;
  for (auto more = first->next(record); more && *more; more = first->next(record)) {
    if (record.type() == trace::RecordType::PCIDEV) records.emplace_back(record.bytes().begin(), record.bytes().end());
  }
  return records;
}

}  // namespace

PrintOutcome print_input(trace::TraceInput& input, const PrintJob& job, FILE* out, std::string_view out_name) {
  std::unique_ptr<Printer> printer = make_printer(job.format, job.options);
  MT_CHECK_MSG(printer != nullptr, "print_input: unknown format");
  TextSink sink(out, out_name);
  InputInfo info;
  if (input.kind == trace::InputKind::KERNEL_LOG) {
    // A kernel log has its PCIDEV lines first already: one pass, so pipes work.
    info.kernel_log = true;
    return print_records(*input.kernel_log, info, *printer, job.filter, job.regs, job.symbols, sink);
  }
  info.header = &input.trace->header();
  std::vector<std::vector<uint8_t>> own;
  std::vector<trace::RecordView> pcidevs;
  if (printer->pcidev_first()) {
    const std::vector<std::vector<uint8_t>>* records = job.pcidev_records;
    if (records == nullptr) {
      auto read = read_pcidevs(*input.trace);
      if (!read) return {PrintStatus::READ_FAILED, read.error()};
      own = std::move(*read);
      records = &own;
    }
    for (const auto& r : *records) {
      auto view = trace::RecordView::checked(r);
      MT_CHECK(view.ok());
      pcidevs.push_back(*view);
    }
    info.pcidevs = &pcidevs;
  }
  return print_records(*input.trace, info, *printer, job.filter, job.regs, job.symbols, sink);
}

}  // namespace mmiotrace::output
