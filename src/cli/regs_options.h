// The --regs and --variant options (docs/regs.md), for every subcommand that
// names accesses by register: print, and stats and diff.
#pragma once

#include <string>
#include <vector>

#include "analysis/bind.h"
#include "analysis/devices.h"
#include "common/result.h"

namespace CLI {
class App;
}

namespace mmiotrace::cli {

struct RegsOptions {
  std::vector<std::string> regs;  // MAP[#PART][@WHERE], one per --regs
  std::string variant;            // --variant: the chipset of rnndb maps, instead of detecting it
};

void add_regs_options(CLI::App& sub, RegsOptions& options);

// The folders where shipped maps are looked up by name: $MMIOTRACE_MAPS
// (':'-separated), then share/mmiotrace/maps beside the running binary's bin/.
std::vector<std::string> map_dirs();

// Every --regs map loaded (and checked), with its binding: what
// RegisterBindings::make() takes. Nothing given: no maps. Error: one line.
struct LoadedMaps {
  std::vector<analysis::RegisterMap> maps;
  std::vector<analysis::BindSpec> specs;
};
// `*not_found` (if given) is set when the error is a map that does not exist.
Result<LoadedMaps> load_regs(const RegsOptions& options, bool* not_found = nullptr);

}  // namespace mmiotrace::cli
