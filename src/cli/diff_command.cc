// mmiotrace diff A B: two traces compared at register level (docs/diff.md).
// Exit status as diff(1): 0 the same, 1 different, 2 trouble (cli/exit_codes.h).
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "analysis/diff.h"
#include "cli/commands.h"
#include "cli/trace_setup.h"

namespace mmiotrace::cli {
namespace {

struct DiffCommandOptions {
  std::string a;
  std::string b;
  analysis::DiffOptions diff;
  RegsOptions regs;
  FilterOptions filters;
};

int run_diff(const DiffCommandOptions& opt) {
  int code = 0;
  auto a = prepare_trace(opt.a, opt.regs, opt.filters, &code);
  if (!a) return kDiffTrouble;
  auto b = prepare_trace(opt.b, opt.regs, opt.filters, &code);
  if (!b) return kDiffTrouble;
  analysis::DiffKeys keys(opt.diff);
  analysis::DiffSide side_a(keys, 0, opt.diff, &a->catalog);
  analysis::DiffSide side_b(keys, 1, opt.diff, &b->catalog);
  if (walk_trace(*a, side_a) != 0 || walk_trace(*b, side_b) != 0) return kDiffTrouble;
  fmt::memory_buffer out;
  const analysis::DiffResult result = analysis::diff_sides(keys, side_a, side_b, opt.diff, opt.a, opt.b, out);
  if (write_output("", std::string_view(out.data(), out.size())) != 0) return kDiffTrouble;
  return result.same() ? kDiffSame : kDiffDiffer;
}

}  // namespace

void add_diff_command(CLI::App& root, Action& run) {
  auto opts = std::make_shared<DiffCommandOptions>();
  auto* sub = root.add_subcommand(
      "diff", "Compare two traces register by register; exit 0 when they match, 1 when they differ (docs/diff.md)");
  sub->add_option(
      "--ignore-register", opts->diff.ignore_registers,
      "Leave out this register's accesses in both traces (a glob: RDBAL, RAL*, \"e1000 RDBAL\"); repeatable");
  sub->add_option("--ignore-field", opts->diff.ignore_fields,
                  "Do not compare this field's bits (REGISTER.FIELD, globs: STATUS.LU, *.SPEED); repeatable");
  sub->add_flag("--ignore-values", opts->diff.ignore_values,
                "Compare which registers are accessed, in order, not their values");
  sub->add_flag("--count-polls", opts->diff.count_polls,
                "A read repeated N times differs from the same read repeated M times");
  sub->add_option("-U,--context", opts->diff.context, "Equal accesses shown around each difference")
      ->check(CLI::Range(0u, 1000000u))
      ->capture_default_str();
  add_regs_options(*sub, opts->regs);
  add_filter_options(*sub, opts->filters);
  sub->add_option("A", opts->a, "The first trace (or kernel mmiotrace log)")->required();
  sub->add_option("B", opts->b, "The second")->required();
  sub->callback([&run, opts] { run = [opts] { return run_diff(*opts); }; });
}

}  // namespace mmiotrace::cli
