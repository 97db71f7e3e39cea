// mmiotrace report FILE -o report.html: one self-contained HTML page about a
// trace (docs/report.md); it appears whole or not at all.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "analysis/report.h"
#include "cli/commands.h"
#include "cli/trace_setup.h"

namespace mmiotrace::cli {
namespace {

struct ReportCommandOptions {
  std::string input;
  std::string output;
  size_t rows = analysis::ReportOptions{}.max_rows;
  RegsOptions regs;
  FilterOptions filters;
};

std::string base_name(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

int run_report(const ReportCommandOptions& opt) {
  int code = 0;
  auto setup = prepare_trace(opt.input, opt.regs, opt.filters, &code);
  if (!setup) return code;
  analysis::ReportOptions ropt;
  ropt.title = base_name(opt.input);
  ropt.max_rows = opt.rows;
  ropt.time_origin_ns = setup->time_origin_ns;
  analysis::Report report(ropt, &setup->bindings, &setup->symbols, &setup->catalog);
  code = walk_trace(*setup, report);
  if (code != 0) return code;
  return write_output(opt.output, report.html());
}

}  // namespace

void add_report_command(CLI::App& root, Action& run) {
  auto opts = std::make_shared<ReportCommandOptions>();
  auto* sub = root.add_subcommand("report", "Write one self-contained HTML page about a trace (docs/report.md)");
  sub->add_option("-o,--output", opts->output, "The HTML file to write")->required();
  sub->add_option("--rows", opts->rows, "Accesses in the page's table (the first ones)")
      ->check(CLI::Range(size_t{0}, size_t{10000000}))
      ->capture_default_str();
  add_regs_options(*sub, opts->regs);
  add_filter_options(*sub, opts->filters);
  sub->add_option("FILE", opts->input, "Trace file written by mmiotrace record, or a Linux kernel mmiotrace log")
      ->required();
  sub->callback([&run, opts] { run = [opts] { return run_report(*opts); }; });
}

}  // namespace mmiotrace::cli
