// The timeline export (`mmiotrace export --chrome FILE`, docs/export.md): the
// Chrome JSON trace event format, which Perfetto's UI (ui.perfetto.dev) and
// chrome://tracing open. One track per thread (grouped by process); each
// access an instant event with its register, value, decoded fields, address,
// PC and symbol as args; each MARK an instant, and the phase from one MARK to
// the next a slice on a "marks" track; chosen registers' values as counter
// tracks. Times are microseconds from the start of the recording.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_set>
#include <vector>

#include "analysis/atomic_file.h"
#include "analysis/bind.h"
#include "analysis/devices.h"
#include "analysis/symbolizer.h"
#include "analysis/walk.h"

namespace mmiotrace::analysis {

struct ChromeOptions {
  // Registers whose values become counter tracks: globs matched against the
  // register's name ("STATUS", "RAL*") and with its map's label ("e1000 STATUS").
  std::vector<std::string> counters;
  uint64_t time_origin_ns = 0;  // the trace's start: ts 0
};

class ChromeExport final : public TraceVisitor {
 public:
  // Writes into `out` (the file stays uncommitted: the caller commits).
  ChromeExport(AtomicFile& out, ChromeOptions options, Symbolizer* symbols, const DeviceCatalog* devices);
  void begin();
  void on_record(const trace::RecordView& record) override;
  void on_access(const Access& access, const AccessDescription* described) override;
  void on_unknown(const trace::UnknownRecord& record) override;
  // Closes the last phase and the document.
  void finish();
  uint64_t events() const { return events_; }

 private:
  void event_head(const char* name_prefix, std::string_view name, const char* cat, char ph, uint64_t time_ns,
                  uint32_t pid, uint32_t tid);
  void put_ts(uint64_t time_ns);
  void saw(uint32_t pid, uint32_t tid);
  bool is_counter(const std::string& label, const std::string& name);
  void end_phase(uint64_t time_ns);

  AtomicFile& out_;
  ChromeOptions options_;
  Symbolizer* symbols_;
  const DeviceCatalog* devices_;
  uint64_t events_ = 0;
  uint64_t last_ns_ = 0;
  std::unordered_set<uint32_t> pids_;
  std::unordered_set<uint64_t> tids_;
  std::vector<std::pair<std::string, bool>> counter_names_;  // names already matched, and whether they are counters
  // The phase that the last MARK opened.
  bool phase_open_ = false;
  std::string phase_name_;
  uint64_t phase_start_ = 0;
  uint32_t phase_pid_ = 0;
};

}  // namespace mmiotrace::analysis
