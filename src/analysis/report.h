// The HTML report (`mmiotrace report FILE -o report.html`, docs/report.md):
// one self-contained page (data, script and style inline; nothing fetched)
// with the trace's counts, a heat map of accesses per register over time,
// the top registers and sites, the phases between MARKs, the polling loops,
// and a table of the accesses with filters. Built in one streaming pass:
// the heat map keeps a fixed number of time buckets (merged pairwise as the
// trace goes on), the table the first `max_rows` accesses.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "analysis/stats.h"
#include "analysis/walk.h"

namespace mmiotrace::analysis {

struct ReportOptions {
  std::string title;             // the trace's name
  size_t max_rows = 20000;       // accesses in the table
  size_t heat_registers = 4096;  // registers tracked for the heat map (the first ones seen)
  size_t heat_rows = 40;         // rows shown: the most accessed registers
  uint64_t time_origin_ns = 0;   // shown times count from here
};

class Report final : public TraceVisitor {
 public:
  Report(ReportOptions options, const RegisterBindings* regs, Symbolizer* symbols, const DeviceCatalog* devices);
  void on_record(const trace::RecordView& record) override;
  void on_access(const Access& access, const AccessDescription* described) override;
  // The whole page.
  std::string html();

 private:
  static constexpr size_t kBuckets = 120;
  struct Phase {
    std::string name;
    uint64_t start_ns = 0;
    uint64_t end_ns = 0;
    uint64_t reads = 0;
    uint64_t writes = 0;
    std::unordered_map<uint32_t, uint64_t> by_register;  // while open
    std::vector<std::pair<uint32_t, uint64_t>> top;      // once closed
  };
  void bucket_add(uint32_t reg, uint64_t time_ns);
  void close_phase(uint64_t time_ns);
  std::string data_json();

  ReportOptions options_;
  const DeviceCatalog* devices_;
  Stats stats_;
  // Heat map: buckets of `bucket_ns` from `heat_start_`; per tracked register.
  bool heat_started_ = false;
  uint64_t heat_start_ = 0;
  uint64_t bucket_ns_ = 1000;
  std::vector<std::vector<uint32_t>> heat_;  // indexed by register (Stats index), up to heat_registers
  std::vector<Phase> phases_;
  bool phase_open_ = false;
  uint64_t last_ns_ = 0;
  fmt::memory_buffer rows_;  // the table's rows, as JSON arrays
  size_t row_count_ = 0;
};

}  // namespace mmiotrace::analysis
