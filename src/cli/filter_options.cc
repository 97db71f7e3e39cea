#include "cli/filter_options.h"

#include <CLI/CLI.hpp>

namespace mmiotrace::cli {

void add_filter_options(CLI::App& sub, FilterOptions& o) {
  const char* group = "Filters (each kind must hold; values of one kind are alternatives)";
  auto* g = sub.add_option_group(group);
  g->add_option("--map-id", o.map_ids, "Accesses through this mapping (the MAP record's id)")
      ->type_name("N")
      ->allow_extra_args(false);
  g->add_option("--device", o.devices,
                "Accesses to this device: vendor:device (8086:100e), PCI address (0000:00:03.0 or 00:03.0), or a "
                "bound map's name")
      ->type_name("DEV")
      ->allow_extra_args(false);
  g->add_option("--bar", o.bars, "Accesses to this BAR (0-5)")
      ->type_name("N")
      ->check(CLI::Range(0, 5))
      ->allow_extra_args(false);
  g->add_option("--offset", o.offsets,
                "Accesses at these offsets in the device (in the bound map, with --regs): N, FIRST-LAST or "
                "FIRST+COUNT")
      ->type_name("RANGE")
      ->allow_extra_args(false);
  g->add_option("--address", o.addresses, "Accesses at these physical addresses: N, FIRST-LAST or FIRST+COUNT")
      ->type_name("RANGE")
      ->allow_extra_args(false);
  g->add_option("--reg", o.registers, "Accesses to this register (needs --regs): a name, * and ? match any text")
      ->type_name("NAME")
      ->allow_extra_args(false);
  g->add_option("--op", o.op, "Reads (r) or writes (w) only")->check(CLI::IsMember({"r", "w", "R", "W"}));
  g->add_option("--width", o.widths, "Accesses of this many bytes")->type_name("BYTES")->allow_extra_args(false);
  g->add_option("--pid", o.pids, "Accesses of this process")->type_name("PID")->allow_extra_args(false);
  g->add_option("--tid", o.tids, "Accesses of this thread")->type_name("TID")->allow_extra_args(false);
  g->add_option("--pc", o.pcs, "Accesses by instructions at these addresses: N, FIRST-LAST or FIRST+COUNT")
      ->type_name("RANGE")
      ->allow_extra_args(false);
  g->add_option("--function", o.functions, "Accesses by this function (needs the trace's symbols)")
      ->type_name("NAME")
      ->allow_extra_args(false);
  g->add_option("--time", o.time,
                "Accesses in this time window, seconds as the kernel format prints them: FROM:TO, FROM: or :TO")
      ->type_name("FROM:TO");
  g->add_option("--from-mark", o.from_mark, "Accesses after a MARK whose text contains TEXT (and up to --to-mark)")
      ->type_name("TEXT");
  g->add_option("--to-mark", o.to_mark, "Accesses before a MARK whose text contains TEXT")->type_name("TEXT");
}

namespace {

Result<std::vector<analysis::Range>> ranges(const std::vector<std::string>& texts) {
  std::vector<analysis::Range> out;
  for (const std::string& t : texts) {
    auto r = analysis::parse_range(t);
    if (!r) return Error{r.error()};
    out.push_back(*r);
  }
  return out;
}

}  // namespace

Result<analysis::FilterSpec> filter_spec(const FilterOptions& o) {
  analysis::FilterSpec s;
  s.map_ids = o.map_ids;
  s.devices = o.devices;
  s.bars = o.bars;
  s.registers = o.registers;
  s.widths = o.widths;
  s.pids = o.pids;
  s.tids = o.tids;
  s.functions = o.functions;
  s.from_mark = o.from_mark;
  s.to_mark = o.to_mark;
  if (!o.op.empty()) s.op = (o.op == "w" || o.op == "W") ? trace::AccessOp::WRITE : trace::AccessOp::READ;
  for (auto [texts, target] :
       {std::pair{&o.offsets, &s.offsets}, std::pair{&o.addresses, &s.addresses}, std::pair{&o.pcs, &s.pcs}}) {
    auto r = ranges(*texts);
    if (!r) return Error{r.error()};
    *target = std::move(*r);
  }
  if (!o.time.empty()) {
    const size_t colon = o.time.find(':');
    if (colon == std::string::npos) {
      return make_error(fmt::format("cannot read --time '{}': give FROM:TO, FROM: or :TO in seconds", o.time));
    }
    const std::string from = o.time.substr(0, colon), to = o.time.substr(colon + 1);
    if (!from.empty()) {
      auto t = analysis::parse_seconds(from);
      if (!t) return Error{t.error()};
      s.from_ns = *t;
    }
    if (!to.empty()) {
      auto t = analysis::parse_seconds(to);
      if (!t) return Error{t.error()};
      s.to_ns = *t;
    }
  }
  return s;
}

bool needs_devices(const analysis::FilterSpec& spec) {
  return !spec.devices.empty() || !spec.bars.empty() || !spec.offsets.empty();
}

}  // namespace mmiotrace::cli
