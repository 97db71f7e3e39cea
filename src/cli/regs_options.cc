#include "cli/regs_options.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace mmiotrace::cli {

void add_regs_options(CLI::App& sub, RegsOptions& options) {
  sub.add_option("--regs", options.regs,
                 "Name accesses by register and decode values into fields with this register map: a map file "
                 "(TOML, CMSIS-SVD, rnndb) or a shipped map's name, as MAP[#PART][@pci:VVVV:DDDD|@0xADDRESS|@map:N] "
                 "(docs/regs.md); may be given several times")
      ->type_name("MAP")
      ->allow_extra_args(false);
  sub.add_option("--variant", options.variant,
                 "The variant (chipset, such as G84) of rnndb maps, instead of detecting it from the trace");
}

std::vector<std::string> map_dirs() {
  std::vector<std::string> dirs;
  if (const char* env = std::getenv("MMIOTRACE_MAPS"); env != nullptr) {
    std::string_view list = env;
    while (!list.empty()) {
      const size_t colon = list.find(':');
      if (colon != 0) dirs.emplace_back(list.substr(0, colon));
      if (colon == std::string_view::npos) break;
      list.remove_prefix(colon + 1);
    }
  }
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) dirs.push_back((exe.parent_path().parent_path() / "share" / "mmiotrace" / "maps").string());
  return dirs;
}

Result<LoadedMaps> load_regs(const RegsOptions& options, bool* not_found) {
  LoadedMaps loaded;
  const std::vector<std::string> dirs = map_dirs();
  for (const std::string& text : options.regs) {
    auto arg = analysis::parse_regs_argument(text);
    if (!arg) return Error{arg.error()};
    auto path = analysis::find_map_file(arg->map, dirs);
    if (!path || ::access(path->c_str(), R_OK) != 0) {
      if (not_found != nullptr) *not_found = true;
      if (!path) return Error{path.error()};
      return make_error(fmt::format("cannot read register map '{}': {}", *path, std::strerror(errno)));
    }
    auto maps = analysis::load_register_maps({*path, arg->part});
    if (!maps) return Error{maps.error()};
    if (maps->size() > 1 && arg->bind.kind != analysis::BindSpec::Kind::DEFAULT) {
      return make_error(fmt::format("'{}' holds {} maps (peripherals): pick the one to bind with '{}#NAME@...'", *path,
                                    maps->size(), arg->map));
    }
    for (analysis::RegisterMap& m : *maps) {
      loaded.maps.push_back(std::move(m));
      loaded.specs.push_back(arg->bind);
    }
  }
  return loaded;
}

}  // namespace mmiotrace::cli
