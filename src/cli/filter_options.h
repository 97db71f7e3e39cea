// The filter options (docs/print.md, "Filters"), the same for every
// subcommand that reads traces: print, stats, diff. They fill an
// analysis::FilterSpec; analysis::Filter applies it.
#pragma once

#include <string>
#include <vector>

#include "analysis/filter.h"
#include "common/result.h"

namespace CLI {
class App;
}

namespace mmiotrace::cli {

// The options as given on the command line.
struct FilterOptions {
  std::vector<int32_t> map_ids;
  std::vector<std::string> devices;
  std::vector<int> bars;
  std::vector<std::string> offsets;
  std::vector<std::string> addresses;
  std::vector<std::string> registers;
  std::string op;
  std::vector<unsigned> widths;
  std::vector<uint32_t> pids;
  std::vector<uint32_t> tids;
  std::vector<std::string> pcs;
  std::vector<std::string> functions;
  std::string time;
  std::string from_mark;
  std::string to_mark;
};

void add_filter_options(CLI::App& sub, FilterOptions& options);

// The spec the options describe. Error: one line (a range or time that does not parse).
Result<analysis::FilterSpec> filter_spec(const FilterOptions& options);

// Whether the spec needs the trace's devices (a first pass over the input).
bool needs_devices(const analysis::FilterSpec& spec);

}  // namespace mmiotrace::cli
