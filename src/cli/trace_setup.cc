#include "cli/trace_setup.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "analysis/atomic_file.h"
#include "cli/commands.h"

namespace mmiotrace::cli {
namespace {

bool regular_file(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

}  // namespace

Result<analysis::FunctionRanges> function_ranges(const std::string& path,
                                                 const std::shared_ptr<analysis::Symbolizer>& symbols) {
  auto input = trace::open_trace_input(path);
  if (!input) return Error{input.error()};
  trace::RecordSource& source = analysis::source_of(*input);
  trace::RecordView record;
  for (;;) {
    auto more = source.next(record);
    if (!more) return Error{more.error()};
    if (!*more) break;
    if (record.type() == trace::RecordType::CODEMAP) symbols->add(record);
  }
  if (symbols->maps().empty()) {
    return make_error(
        fmt::format("--function needs the program's code maps, and '{}' has none (a kernel log, or a trace older than "
                    "format 1.2): filter by --pc instead",
                    path));
  }
  return analysis::FunctionRanges([symbols](const std::string& name) -> Result<std::vector<analysis::Range>> {
    std::vector<analysis::Range> out;
    for (auto [first, last] : symbols->function_ranges(name)) out.push_back(analysis::Range{first, last});
    if (out.empty())
      return make_error(fmt::format("--function {}: no function of that name in the trace's code", name));
    return out;
  });
}

analysis::WalkContext TraceSetup::context() {
  analysis::WalkContext c;
  c.filter = filter ? &*filter : nullptr;
  c.regs = &bindings;
  c.symbols = &symbols;
  c.devices = catalog_read_first ? nullptr : &catalog;
  return c;
}

std::unique_ptr<TraceSetup> prepare_trace(const std::string& path, const RegsOptions& regs,
                                          const FilterOptions& filters, int* exit_code) {
  auto fail = [&](const std::string& message, int code) {
    print_error(message);
    *exit_code = code;
    return nullptr;
  };
  bool not_found = false;
  auto loaded = load_regs(regs, &not_found);
  if (!loaded) return fail(loaded.error(), not_found ? kExitNoInput : kExitDataErr);
  auto spec = filter_spec(filters);
  if (!spec) return fail(spec.error(), kExitUsage);
  auto setup = std::make_unique<TraceSetup>();
  setup->path = path;
  trace::TraceFailure why = trace::TraceFailure::NONE;
  auto input = trace::open_trace_input(path, &why);
  if (!input) return fail(input.error(), why == trace::TraceFailure::UNREADABLE ? kExitNoInput : kExitDataErr);
  setup->input = std::move(*input);
  if (setup->input.kind == trace::InputKind::TRACE)
    setup->time_origin_ns = setup->input.trace->header().start_monotonic_ns;
  const bool needs_catalog = !loaded->maps.empty() || needs_devices(*spec);
  if (needs_catalog || !spec->functions.empty()) {
    if (!regular_file(path)) {
      return fail(fmt::format("--regs, --function and the --device, --bar and --offset filters read '{}' twice "
                              "(its devices and code first); it is not a regular file: copy it to a file first",
                              path),
                  kExitIoErr);
    }
  }
  if (needs_catalog) {
    auto scanned = analysis::DeviceCatalog::scan(path);
    if (!scanned) return fail(scanned.error(), kExitIoErr);
    setup->catalog = std::move(*scanned);
    setup->catalog_read_first = true;
  }
  if (!loaded->maps.empty()) {
    auto made = analysis::RegisterBindings::make(std::move(loaded->maps), loaded->specs, setup->catalog, regs.variant);
    if (!made) return fail(made.error(), kExitDataErr);
    setup->bindings = std::move(*made);
  }
  analysis::FunctionRanges functions;
  if (!spec->functions.empty()) {
    auto ranges = function_ranges(path, std::make_shared<analysis::Symbolizer>());
    if (!ranges) return fail(ranges.error(), kExitDataErr);
    functions = std::move(*ranges);
  }
  auto filter = analysis::Filter::make(*spec, needs_catalog ? &setup->catalog : nullptr, &setup->bindings, functions);
  if (!filter) return fail(filter.error(), kExitUsage);
  setup->filter.emplace(std::move(*filter));
  return setup;
}

int walk_trace(TraceSetup& setup, analysis::TraceVisitor& visitor) {
  analysis::WalkFailure failure;
  auto walked = analysis::walk(analysis::source_of(setup.input), setup.context(), visitor, &failure);
  if (walked) return 0;
  print_error(failure.message);
  return failure.read_failed ? kExitIoErr : kExitDataErr;
}

}  // namespace mmiotrace::cli

namespace mmiotrace::cli {

int write_output(const std::string& path, std::string_view text) {
  if (path.empty()) {
    if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() || std::fflush(stdout) != 0) {
      print_error(fmt::format("writing standard output failed: {}", std::strerror(errno)));
      return kExitIoErr;
    }
    return 0;
  }
  auto file = analysis::AtomicFile::create(path);
  if (!file) {
    print_error(file.error());
    return kExitCantCreat;
  }
  file->write(text);
  auto committed = file->commit();
  if (!committed) {
    print_error(committed.error());
    return kExitIoErr;
  }
  return 0;
}

}  // namespace mmiotrace::cli
