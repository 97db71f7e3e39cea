// mmiotrace print: a trace file, or a Linux kernel mmiotrace log, as text (docs/print.md).
#include <fmt/format.h>
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "trace/kernel_printer.h"
#include "trace/native_printer.h"
#include "trace/reader.h"
#include "trace/trace_input.h"

namespace mmiotrace::cli {
namespace {

struct PrintOptions {
  std::string format = "kernel";
  std::string output;  // empty: standard output
  std::string input;
  trace::KernelFormatOptions kernel;  // --max-width, --zero-pc-pid
};

bool same_file(const std::string& a, const std::string& b) {
  struct stat sa, sb;
  return ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int exit_code(trace::PrintStatus status) {
  switch (status) {
    case trace::PrintStatus::OK:
      return 0;
    case trace::PrintStatus::BAD_INPUT:
      return kExitDataErr;
    case trace::PrintStatus::READ_FAILED:
      return kExitIoErr;
    case trace::PrintStatus::WRITE_FAILED:
      return kExitIoErr;
  }
  return kExitSoftware;
}

trace::PrintOutcome print_input(trace::TraceInput& input, const PrintOptions& opt, FILE* out,
                                const std::string& out_name) {
  const bool native = opt.format == "native";
  if (input.kind == trace::InputKind::TRACE) {
    return native ? trace::print_native_format(*input.trace, out, out_name)
                  : trace::print_kernel_format(*input.trace, out, out_name, opt.kernel);
  }
  // A kernel log has its PCIDEV lines first already: one pass, so pipes work.
  trace::KernelLogRecords& log = *input.kernel_log;
  return native ? trace::print_native_format(log, trace::kKernelLogNativeHeader, out, out_name)
                : trace::print_kernel_format_in_order(log, out, out_name, opt.kernel);
}

int run_print(const PrintOptions& opt) {
  if (opt.format == "native" && (opt.kernel.max_width != 8 || opt.kernel.zero_pc_pid)) {
    print_error("--max-width and --zero-pc-pid change the kernel format only; the native format prints every field");
    return kExitUsage;
  }
  trace::TraceFailure why = trace::TraceFailure::NONE;
  auto input = trace::open_trace_input(opt.input, &why);
  if (!input) {
    print_error(input.error());
    return why == trace::TraceFailure::UNREADABLE ? kExitNoInput : kExitDataErr;
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
  trace::PrintOutcome outcome = print_input(*input, opt, out, out_name);
  if (out != stdout && std::fclose(out) != 0 && outcome.status == trace::PrintStatus::OK)
    outcome = {trace::PrintStatus::WRITE_FAILED, fmt::format("writing {} failed: {}", out_name, std::strerror(errno))};
  if (outcome.status != trace::PrintStatus::OK) print_error(outcome.message);
  // Lines of other tracers are left out: say so, once, without failing.
  if (input->kernel_log && outcome.status == trace::PrintStatus::OK) {
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
  sub->add_option("--format", opts->format,
                  "kernel: the Linux kernel's mmiotrace text (VERSION 20070824) that existing tools read; "
                  "native: one line per record with every field and the instruction's disassembly")
      ->check(CLI::IsMember({"kernel", "native"}))
      ->capture_default_str();
  sub->add_option("--max-width", opts->kernel.max_width,
                  "Kernel format: the widest R/W line, in bytes; 4 splits each 8-byte access into two 4-byte lines "
                  "(low half first) for readers that know only 32-bit accesses")
      ->check(CLI::IsMember({1, 2, 4, 8}))
      ->capture_default_str();
  sub->add_flag("--zero-pc-pid", opts->kernel.zero_pc_pid,
                "Kernel format: print 0x0 as the PC and 0 as the PID, as the kernel does, instead of the "
                "instruction address and thread id");
  sub->add_option("-o,--output", opts->output, "Write the text to this file instead of standard output");
  sub->add_option("FILE", opts->input,
                  "Trace file written by mmiotrace record, or a Linux kernel mmiotrace log (trace_pipe)")
      ->required();
  sub->callback([&run, opts] { run = [opts] { return run_print(*opts); }; });
}

}  // namespace mmiotrace::cli
