// mmiotrace export: a trace into an SQLite database (--sqlite) and/or the
// Chrome JSON trace event format for Perfetto's UI (--chrome), in one pass
// (docs/export.md). Each output appears whole or not at all.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "analysis/atomic_file.h"
#include "analysis/chrome_export.h"
#include "analysis/sqlite_export.h"
#include "cli/commands.h"
#include "cli/trace_setup.h"

namespace mmiotrace::cli {
namespace {

struct ExportOptions {
  std::string input;
  std::string sqlite;
  std::string chrome;
  std::vector<std::string> counters;
  RegsOptions regs;
  FilterOptions filters;
};

// Both outputs see every record of the one walk.
class Both final : public analysis::TraceVisitor {
 public:
  Both(analysis::SqliteExport* sqlite, analysis::ChromeExport* chrome) : sqlite_(sqlite), chrome_(chrome) {}
  void on_record(const trace::RecordView& record) override {
    if (sqlite_ != nullptr) sqlite_->on_record(record);
    if (chrome_ != nullptr) chrome_->on_record(record);
  }
  void on_access(const analysis::Access& access, const analysis::AccessDescription* described) override {
    if (sqlite_ != nullptr) sqlite_->on_access(access, described);
    if (chrome_ != nullptr) chrome_->on_access(access, described);
  }
  void on_unknown(const trace::UnknownRecord& record) override {
    if (chrome_ != nullptr) chrome_->on_unknown(record);
  }

 private:
  analysis::SqliteExport* sqlite_;
  analysis::ChromeExport* chrome_;
};

int run_export(const ExportOptions& opt) {
  if (opt.sqlite.empty() && opt.chrome.empty()) {
    print_error("export: say what to write: --sqlite FILE, --chrome FILE, or both");
    return kExitUsage;
  }
  if (!opt.sqlite.empty() && opt.sqlite == opt.chrome) {
    print_error(fmt::format("export: --sqlite and --chrome both name '{}'; give two files", opt.sqlite));
    return kExitUsage;
  }
  int code = 0;
  auto setup = prepare_trace(opt.input, opt.regs, opt.filters, &code);
  if (!setup) return code;

  std::optional<analysis::AtomicFile> sqlite_file, chrome_file;
  std::unique_ptr<analysis::SqliteExport> sqlite;
  std::unique_ptr<analysis::ChromeExport> chrome;
  if (!opt.sqlite.empty()) {
    auto file = analysis::AtomicFile::create(opt.sqlite);
    if (!file) {
      print_error(file.error());
      return kExitCantCreat;
    }
    sqlite_file.emplace(std::move(*file));
    sqlite_file->close_for_reopen();
    auto made =
        analysis::SqliteExport::create(sqlite_file->temp_path(), &setup->bindings, &setup->symbols, &setup->catalog);
    if (!made) {
      print_error(fmt::format("'{}': {}", opt.sqlite, made.error()));
      return kExitCantCreat;
    }
    sqlite = std::move(*made);
    sqlite->set_meta("trace", opt.input);
    sqlite->set_meta("time_origin_ns", std::to_string(setup->time_origin_ns));
  }
  if (!opt.chrome.empty()) {
    auto file = analysis::AtomicFile::create(opt.chrome);
    if (!file) {
      print_error(file.error());
      return kExitCantCreat;
    }
    chrome_file.emplace(std::move(*file));
    analysis::ChromeOptions copt;
    copt.counters = opt.counters;
    copt.time_origin_ns = setup->time_origin_ns;
    chrome = std::make_unique<analysis::ChromeExport>(*chrome_file, copt, &setup->symbols, &setup->catalog);
    chrome->begin();
  }
  Both both(sqlite.get(), chrome.get());
  code = walk_trace(*setup, both);
  if (code != 0) return code;  // the temporary files go away: nothing half-written
  if (sqlite) {
    auto done = sqlite->finish();
    sqlite.reset();  // closes the database before it is renamed into place
    if (!done) {
      print_error(fmt::format("'{}': {}", opt.sqlite, done.error()));
      return kExitIoErr;
    }
    if (auto c = sqlite_file->commit(); !c) {
      print_error(c.error());
      return kExitIoErr;
    }
  }
  if (chrome) {
    chrome->finish();
    if (auto c = chrome_file->commit(); !c) {
      print_error(c.error());
      return kExitIoErr;
    }
  }
  return 0;
}

}  // namespace

void add_export_command(CLI::App& root, Action& run) {
  auto opts = std::make_shared<ExportOptions>();
  auto* sub = root.add_subcommand(
      "export", "Write a trace into an SQLite database and/or a timeline for Perfetto's UI (docs/export.md)");
  sub->add_option("--sqlite", opts->sqlite, "Write an SQLite database (the schema: docs/export.md)");
  sub->add_option("--chrome", opts->chrome,
                  "Write Chrome JSON trace events (open in ui.perfetto.dev or chrome://tracing)");
  sub->add_option("--counter", opts->counters,
                  "With --chrome: this register's values as a counter track (a glob: STATUS, RAL*); repeatable");
  add_regs_options(*sub, opts->regs);
  add_filter_options(*sub, opts->filters);
  sub->add_option("FILE", opts->input, "Trace file written by mmiotrace record, or a Linux kernel mmiotrace log")
      ->required();
  sub->callback([&run, opts] { run = [opts] { return run_export(*opts); }; });
}

}  // namespace mmiotrace::cli
