// Channel: the shared memory between `record` and the agent (trace/channel.h),
// created and owned by the recorder, and the recorder's own MARKs in it.
#pragma once

#include <cstdint>
#include <string>

#include "cli/record_options.h"
#include "common/result.h"
#include "trace/channel.h"

namespace mmiotrace::cli {

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

}  // namespace mmiotrace::cli
