// mmiotrace stats: what a trace did, counted (docs/stats.md): per register,
// per site, per thread and process, polling loops folded; text or JSON.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "analysis/stats.h"
#include "cli/commands.h"
#include "cli/trace_setup.h"

namespace mmiotrace::cli {
namespace {

struct StatsCommandOptions {
  std::string input;
  std::string output;
  bool json = false;
  analysis::StatsOptions stats;
  RegsOptions regs;
  FilterOptions filters;
};

int run_stats(const StatsCommandOptions& opt) {
  int code = 0;
  auto setup = prepare_trace(opt.input, opt.regs, opt.filters, &code);
  if (!setup) return code;
  analysis::Stats stats(opt.stats, &setup->bindings, &setup->symbols);
  code = walk_trace(*setup, stats);
  if (code != 0) return code;  // nothing is printed from a damaged trace: the counts would be wrong
  stats.finish();
  fmt::memory_buffer out;
  if (opt.json) {
    analysis::format_stats_json(stats, setup->catalog, setup->time_origin_ns, out);
  } else {
    analysis::format_stats_text(stats, setup->catalog, setup->time_origin_ns, out);
  }
  return write_output(opt.output, std::string_view(out.data(), out.size()));
}

}  // namespace

void add_stats_command(CLI::App& root, Action& run) {
  auto opts = std::make_shared<StatsCommandOptions>();
  auto* sub = root.add_subcommand(
      "stats", "Count a trace's accesses per register, site, thread and process; fold polling loops (docs/stats.md)");
  sub->add_flag("--json", opts->json, "Write JSON instead of text");
  sub->add_option("-o,--output", opts->output, "Write to this file instead of standard output");
  sub->add_option("--poll-min", opts->stats.poll_min,
                  "Reads of one register by one thread with the same value that make a polling loop")
      ->check(CLI::Range(2u, 1000000u))
      ->capture_default_str();
  sub->add_option("--top", opts->stats.top, "Hottest sites and longest polls shown")
      ->check(CLI::Range(size_t{1}, size_t{1000000}))
      ->capture_default_str();
  add_regs_options(*sub, opts->regs);
  add_filter_options(*sub, opts->filters);
  sub->add_option("FILE", opts->input, "Trace file written by mmiotrace record, or a Linux kernel mmiotrace log")
      ->required();
  sub->callback([&run, opts] { run = [opts] { return run_stats(*opts); }; });
}

}  // namespace mmiotrace::cli
