// Recorder: the `record` side of the channel (trace/channel.h). It creates the
// shared memory the agent attaches to, runs the program with the agent
// preloaded, merges the threads' rings by seq into the trace file while the
// program runs, and drains them completely once it has ended, however it ended.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "cli/stand_in.h"
#include "common/result.h"
#include "trace/channel.h"
#include "trace/writer.h"

namespace mmiotrace::cli {

struct RecordOptions {
  std::string output = "trace.mmio";
  std::vector<std::string> device_args;  // --device as given: GLOB[,KEY=VALUE]...
  std::vector<StandIn> devices;          // the same, parsed (record_command.cc): glob and identity
  std::string sysroot;                   // tests only: a fake /sys and /dev tree
  bool step = false;                     // --mode=step: single-step every traced instruction instead of emulating it
  bool no_follow = false;                // only the program itself is traced, not the processes it starts
  bool drop_when_full = false;           // producers drop access records when their ring is full
  bool allow_untraceable = false;        // run a program the agent cannot enter (static, not x86-64) anyway
  uint32_t patch_after = 4;              // faults at one instruction before it is patched (--patch-after)
  bool no_patch = false;                 // --no-patch: every access takes the fault path
  int consumer_delay_ms = 0;             // tests only: the consumer sleeps this long between drains
  std::vector<std::string> command;
};

struct RecordStats {
  uint64_t reads = 0;  // accesses; each access of an ACCESS_RUN counts
  uint64_t writes = 0;
  uint64_t maps = 0;
  uint64_t unknown = 0;
  uint64_t lost = 0;           // seqs that never arrived (LOST records)
  uint64_t dropped = 0;        // of those, dropped by producers whose ring was full (--drop-when-full)
  uint64_t stepped = 0;        // instructions single-stepped (ChannelHeader.stepped)
  bool patching = false;       // the fast path was on (ChannelHeader.patch_after != 0)
  uint64_t patched_sites = 0;  // hot sites patched (ChannelHeader.patched_sites)
  uint64_t unpatched[trace::kUnpatchedReasons] = {};  // hot sites not patched, by reason
  uint64_t lock_takeovers = 0;                        // order lock taken over from a process killed while holding it
  std::set<uint32_t> threads;
  std::set<uint32_t> processes;
};

// The shared-memory channel, created and owned by the recorder.
class Channel {
 public:
  static Result<Channel> create(const RecordOptions& options, uint64_t start_monotonic_ns);
  Channel(Channel&& other) noexcept;
  Channel(const Channel&) = delete;
  ~Channel();
  trace::ChannelHeader* header() const { return header_; }
  // The path the agent opens (see trace::kChannelEnv).
  std::string agent_path() const;

  // The recorder's own records (MARKs: program start and exit) go into ring
  // kRecorderRing, which the recorder owns, so the Consumer merges them by
  // seq like any thread's records.
  static constexpr uint32_t kRecorderRing = 0;
  // Before any producer attaches: takes ring kRecorderRing and reserves seq 0
  // for the start mark, so that it precedes everything the program does.
  void reserve_marks();
  // Pushes the MARK with seq 0 (call once, before the Consumer first drains).
  bool mark_start(uint64_t time_ns, uint32_t pid, const std::string& text);
  // Pushes a MARK with the next seq, taken under the order lock like a
  // producer's. False if the lock could not be taken within `lock_timeout_ms`
  // (a process died holding it) or the recorder's ring is full.
  bool mark(uint32_t pid, const std::string& text, int lock_timeout_ms = 2000);

 private:
  Channel(int fd, trace::ChannelHeader* header) : fd_(fd), header_(header) {}
  bool push_mark(uint64_t seq, uint64_t time_ns, uint32_t pid, const std::string& text);
  int fd_ = -1;
  trace::ChannelHeader* header_ = nullptr;
};

// Merges the rings into the writer in seq order.
class Consumer {
 public:
  Consumer(trace::ChannelHeader* channel, trace::TraceWriter* writer) : ch_(channel), writer_(writer) {}
  // Moves every record that is there into the trace, in seq order. A seq that
  // never arrives (its thread was killed between taking it and publishing
  // it) becomes a LOST record. Returns whether anything was consumed.
  bool drain();
  // Sleeps until a producer rings the doorbell or `timeout_ms` passes.
  void wait(int timeout_ms);
  // The final drain, once the program and every process it left behind have
  // ended: no new producer may start (`mmiotrace mark` backs off, see
  // trace::ChannelProducer::claim), and the ones that had started (an owned
  // ring whose owner is alive) are waited for, up to `timeout_ms`, so that a
  // mark that was taken either lands or reports failure.
  void finish(int timeout_ms = 5000);
  const RecordStats& stats() const { return stats_; }
  // The first write error, if the trace file could not be written (the
  // consumer keeps draining so the program never blocks, but drops records).
  const std::string& write_error() const { return write_error_; }
  // A ring whose content is not a valid record (the program overwrote the
  // shared memory): the ring is abandoned and this says why.
  const std::string& channel_error() const { return channel_error_; }

 private:
  bool peek(uint32_t ring, const trace::RecordHeader** out);
  void emit(const trace::RecordHeader* rec);
  void emit_lost(uint64_t count, uint64_t time_ns);
  void free_retired_rings();
  bool producers_left() const;

  trace::ChannelHeader* ch_;
  trace::TraceWriter* writer_;
  uint64_t expected_seq_ = 0;
  RecordStats stats_;
  std::set<uint32_t> pci_devices_;
  std::set<uint32_t> broken_rings_;
  std::string write_error_;
  std::string channel_error_;
};

}  // namespace mmiotrace::cli
