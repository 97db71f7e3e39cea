// TraceCounts: what a trace's records add up to (accesses, mappings, threads,
// processes, ...). One definition for `record`'s summary line, which counts
// the records as the recorder writes them, and `mmiotrace stats`, which counts
// them as it reads a trace back: both feed the same records to a TraceCounter.
#pragma once

#include <cstdint>
#include <set>

#include "trace/reader.h"

namespace mmiotrace::analysis {

struct TraceCounts {
  uint64_t reads = 0;  // accesses; each access of an ACCESS_RUN counts
  uint64_t writes = 0;
  uint64_t maps = 0;
  uint64_t unknown = 0;  // instructions that touched a device and could not be emulated
  uint64_t lost = 0;     // events lost: the sum of the LOST records' counts
  uint64_t marks = 0;
  std::set<uint32_t> threads;    // threads that accessed a device
  std::set<uint32_t> processes;  // processes that mapped or accessed a device

  uint64_t accesses() const { return reads + writes; }
};

class TraceCounter {
 public:
  // Counts one record (any type; types it has nothing to count are ignored).
  void add(const trace::RecordView& record);
  const TraceCounts& counts() const { return counts_; }

 private:
  void saw_thread(uint32_t tid);
  void saw_process(uint32_t pid);

  TraceCounts counts_;
  // The last threads and processes inserted: accesses come from a few
  // threads at a time, and a set lookup per access would dominate `stats`.
  static constexpr size_t kRecent = 4;
  uint32_t recent_tids_[kRecent] = {};
  uint32_t recent_pids_[kRecent] = {};
  size_t n_tids_ = 0;  // valid entries of recent_tids_ (up to kRecent), replaced round-robin
  size_t n_pids_ = 0;
  size_t next_tid_ = 0;
  size_t next_pid_ = 0;
};

}  // namespace mmiotrace::analysis
