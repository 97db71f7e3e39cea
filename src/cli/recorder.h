// Recorder: the `record` side of a recording. Given the channel the agent
// attaches to (cli/channel.h) and the trace file, it writes the program's
// start MARK, merges the threads' rings into the file while the program and
// every process it leaves behind run (cli/consumer.h), writes a MARK for each
// process's end, drains the rings completely once they have all ended however
// they ended, and finishes the file. Starting the program is record_command.cc's.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>

#include "analysis/trace_counts.h"
#include "cli/channel.h"
#include "cli/consumer.h"
#include "trace/writer.h"

namespace mmiotrace::cli {

// What `record`'s summary line says.
struct RecordStats {
  analysis::TraceCounts counts;  // of the records written, as `mmiotrace stats` counts a trace
  uint64_t dropped = 0;          // of the lost events, dropped by producers whose ring was full (--drop-when-full)
  uint64_t stepped = 0;          // instructions single-stepped (ChannelHeader.stepped)
  bool patching = false;         // the fast path was on (ChannelHeader.patch_after != 0)
  uint64_t patched_sites = 0;    // hot sites patched (ChannelHeader.patched_sites)
  uint64_t unpatched[trace::kUnpatchedReasons] = {};  // hot sites not patched, by reason
  uint64_t lock_takeovers = 0;                        // order lock taken over from a process killed while holding it
  uint64_t room_waits = 0;    // times a thread waited for room in its full buffer (ChannelHeader.room_waits)
  uint64_t room_wait_ns = 0;  // how long those waits took, in all
};

// The Consumer's records into the trace file, counted.
class TraceFileSink final : public RecordSink {
 public:
  explicit TraceFileSink(trace::TraceWriter* writer) : writer_(writer) {}
  void take(const trace::RecordView& record) override;
  const analysis::TraceCounts& counts() const { return counter_.counts(); }
  // The first write error, if the trace file could not be written (the
  // consumer keeps draining so the program never blocks, but records are
  // dropped from then on; they are still counted).
  const std::string& write_error() const { return write_error_; }

 private:
  trace::TraceWriter* writer_;
  analysis::TraceCounter counter_;
  std::string write_error_;
};

struct RecordOutcome {
  int status = 0;  // the program's wait status
  RecordStats stats;
  std::string error;          // the trace file could not be written or finished
  std::string channel_error;  // a thread's ring held an invalid record (Consumer::channel_error)
  bool step_used_mprotect = false;
};

class Recorder {
 public:
  // `channel` has had reserve_marks() called; `writer` has the file header
  // (with `header_features`) queued. Both must outlive the Recorder.
  Recorder(Channel* channel, trace::TraceWriter* writer, uint64_t header_features, int consumer_delay_ms = 0)
      : channel_(channel),
        writer_(writer),
        header_features_(header_features),
        consumer_delay_ms_(consumer_delay_ms),
        sink_(writer),
        consumer_(channel->header(), &sink_) {}
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

  // The program `pid` (`program`) was started at `spawn_ns`: its start MARK
  // takes seq 0, before anything the program records.
  void started(pid_t pid, uint64_t spawn_ns, const std::string& program);
  // Records until the program and every process it left behind (reparented to
  // this process, a child subreaper) have ended, then the final drain; closes
  // the trace file. `poll`, if given, is called with the program's pid after
  // each drain while it runs (replay: end every process once one diverged).
  RecordOutcome run(const std::function<void(pid_t program)>& poll = {});

 private:
  Channel* channel_;
  trace::TraceWriter* writer_;
  uint64_t header_features_;
  int consumer_delay_ms_;
  pid_t pid_ = 0;
  TraceFileSink sink_;
  Consumer consumer_;
};

}  // namespace mmiotrace::cli
