// mmiotrace print: a trace file, or a Linux kernel mmiotrace log, as text
// (docs/print.md): in one of the formats of analysis/output/printers.cc,
// filtered (cli/filter_options.h), its accesses named by register maps
// (cli/regs_options.h, docs/regs.md).
#include <fmt/format.h>
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "analysis/output/print.h"
#include "cli/commands.h"
#include "cli/filter_options.h"
#include "cli/regs_options.h"
#include "cli/trace_setup.h"
#include "trace/reader.h"
#include "trace/trace_input.h"

namespace mmiotrace::cli {
namespace {

struct PrintOptions {
  std::string format = "kernel";
  std::string output;  // empty: standard output
  std::string input;
  RegsOptions regs;
  FilterOptions filters;
  output::KernelFormatOptions kernel;  // --max-width, --zero-pc-pid
  bool symbols = false;                // --symbols
};

bool same_file(const std::string& a, const std::string& b) {
  struct stat sa, sb;
  return ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

bool regular_file(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

int exit_code(output::PrintStatus status) {
  switch (status) {
    case output::PrintStatus::OK:
      return 0;
    case output::PrintStatus::BAD_INPUT:
      return kExitDataErr;
    case output::PrintStatus::READ_FAILED:
      return kExitIoErr;
    case output::PrintStatus::WRITE_FAILED:
      return kExitIoErr;
  }
  return kExitSoftware;
}

// Everything that can be refused is refused here, before the output is
// created: a bad map, a filter that does not parse, a binding the trace's
// devices do not allow. Then the output is opened and the trace printed.
int run_print(const PrintOptions& opt) {
  if (opt.format != "kernel" && (opt.kernel.max_width != 8 || opt.kernel.zero_pc_pid)) {
    print_error(fmt::format(
        "--max-width and --zero-pc-pid change the kernel format only; the {} format prints every field", opt.format));
    return kExitUsage;
  }
  bool not_found = false;
  auto loaded = load_regs(opt.regs, &not_found);
  if (!loaded) {
    print_error(loaded.error());
    return not_found ? kExitNoInput : kExitDataErr;
  }
  auto spec = filter_spec(opt.filters);
  if (!spec) {
    print_error(spec.error());
    return kExitUsage;
  }
  trace::TraceFailure why = trace::TraceFailure::NONE;
  auto input = trace::open_trace_input(opt.input, &why);
  if (!input) {
    print_error(input.error());
    return why == trace::TraceFailure::UNREADABLE ? kExitNoInput : kExitDataErr;
  }
  // Register maps and device filters need the trace's devices before the
  // first line: a first pass over the input, so it must be a file.
  analysis::DeviceCatalog catalog;
  const bool needs_catalog = !loaded->maps.empty() || needs_devices(*spec);
  if (needs_catalog) {
    if (!regular_file(opt.input)) {
      print_error(fmt::format(
          "--regs and the --device, --bar and --offset filters read '{}' twice (its devices first); it is not a "
          "regular file: copy it to a file first",
          opt.input));
      return kExitIoErr;
    }
    auto scanned = analysis::DeviceCatalog::scan(opt.input);
    if (!scanned) {
      print_error(scanned.error());
      return kExitIoErr;
    }
    catalog = std::move(*scanned);
  }
  analysis::RegisterBindings bindings;
  if (!loaded->maps.empty()) {
    auto made = analysis::RegisterBindings::make(std::move(loaded->maps), loaded->specs, catalog, opt.regs.variant);
    if (!made) {
      print_error(made.error());
      return kExitDataErr;
    }
    bindings = std::move(*made);
  }
  // --function: the functions' addresses, from the trace's code maps (a first pass).
  analysis::FunctionRanges functions;
  if (!spec->functions.empty()) {
    if (!regular_file(opt.input)) {
      print_error(
          fmt::format("--function reads '{}' twice (its code maps first); it is not a regular file: copy "
                      "it to a file first",
                      opt.input));
      return kExitIoErr;
    }
    auto ranges = function_ranges(opt.input, std::make_shared<analysis::Symbolizer>());
    if (!ranges) {
      print_error(ranges.error());
      return kExitDataErr;
    }
    functions = std::move(*ranges);
  }
  auto filter = analysis::Filter::make(*spec, needs_catalog ? &catalog : nullptr, &bindings, functions);
  if (!filter) {
    print_error(filter.error());
    return kExitUsage;
  }

  std::unique_ptr<analysis::Symbolizer> symbols;
  if (opt.symbols) {
    if (input->kind != trace::InputKind::TRACE || input->trace->header().version_minor < 2) {
      print_error(
          fmt::format("--symbols needs the program's code maps, and '{}' has none (a kernel log, or a trace "
                      "older than format 1.2)",
                      opt.input));
      return kExitDataErr;
    }
    symbols = std::make_unique<analysis::Symbolizer>();
  }

  FILE* out = stdout;
  std::string out_name = "standard output";
  if (!opt.output.empty()) {
    if (same_file(opt.input, opt.output)) {
      print_error(fmt::format("'{}' is the trace file itself; give -o another file name", opt.output));
      return kExitUsage;
    }
    out = std::fopen(opt.output.c_str(), "w");
    if (out == nullptr) {
      print_error(fmt::format("cannot create output file '{}': {}", opt.output, std::strerror(errno)));
      return kExitCantCreat;
    }
    out_name = fmt::format("'{}'", opt.output);
  }
  // A reader that goes away (`mmiotrace print t.mmio | head`) must end the
  // printing quietly: take EPIPE from write(2) rather than die of SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  output::PrintJob job;
  job.format = opt.format;
  job.options.kernel = opt.kernel;
  job.filter = &*filter;
  job.regs = &bindings;
  job.symbols = symbols.get();
  if (needs_catalog && input->kind == trace::InputKind::TRACE) job.pcidev_records = &catalog.pcidev_records();
  output::PrintOutcome outcome = output::print_input(*input, job, out, out_name);
  if (out != stdout && std::fclose(out) != 0 && outcome.status == output::PrintStatus::OK)
    outcome = {output::PrintStatus::WRITE_FAILED, fmt::format("writing {} failed: {}", out_name, std::strerror(errno))};
  if (outcome.status != output::PrintStatus::OK) print_error(outcome.message);
  // Lines of other tracers are left out: say so, once, without failing.
  if (input->kernel_log && outcome.status == output::PrintStatus::OK) {
    const uint64_t skipped = input->kernel_log->reader().lines_skipped();
    if (skipped != 0)
      print_error(
          fmt::format("note: left out {} {} of '{}' that {} not mmiotrace events (other tracers' lines, "
                      "\"rw what?\")",
                      skipped, skipped == 1 ? "line" : "lines", opt.input, skipped == 1 ? "is" : "are"));
  }
  return exit_code(outcome.status);
}

}  // namespace

void add_print_command(CLI::App& root, Action& run) {
  auto opts = std::make_shared<PrintOptions>();
  auto* sub = root.add_subcommand("print", "Print a trace file or a kernel mmiotrace log as text (docs/print.md)");
  std::string help = "Output format:";
  std::vector<std::string> names;
  for (const output::PrinterInfo& p : output::printers()) {
    help += fmt::format(" {}: {};", p.name, p.help);
    names.emplace_back(p.name);
  }
  help.back() = '.';
  sub->add_option("--format", opts->format, help)->check(CLI::IsMember(names))->capture_default_str();
  sub->add_option("--max-width", opts->kernel.max_width,
                  "Kernel format: the widest R/W line, in bytes; 4 splits each 8-byte access into two 4-byte lines "
                  "(low half first) for readers that know only 32-bit accesses")
      ->check(CLI::IsMember({1, 2, 4, 8}))
      ->capture_default_str();
  sub->add_flag("--zero-pc-pid", opts->kernel.zero_pc_pid,
                "Kernel format: print 0x0 as the PC and 0 as the PID, as the kernel does, instead of the "
                "instruction address and thread id");
  sub->add_flag("--symbols", opts->symbols,
                "Name the function (and source line) of each access's instruction, from the code maps the trace "
                "recorded and the program's files (by build-id)");
  sub->add_option("-o,--output", opts->output, "Write the text to this file instead of standard output");
  add_regs_options(*sub, opts->regs);
  add_filter_options(*sub, opts->filters);
  sub->add_option("FILE", opts->input,
                  "Trace file written by mmiotrace record, or a Linux kernel mmiotrace log (trace_pipe)")
      ->required();
  sub->callback([&run, opts] { run = [opts] { return run_print(*opts); }; });
}

}  // namespace mmiotrace::cli
