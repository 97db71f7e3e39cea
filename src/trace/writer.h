// TraceWriter: writes a trace file (a FileHeader, then records appended in
// order) through a 1 MiB buffer. Tools side: the agent never writes files, it
// hands records to the recorder, which appends them here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "common/result.h"
#include "trace/format.h"

namespace mmiotrace::trace {

// A version-1 header: magic, kVersionMajor.kVersionMinor, header_size 64, no features.
FileHeader make_file_header(uint64_t start_monotonic_ns, uint64_t start_realtime_ns, uint32_t recorder_pid);

class TraceWriter {
 public:
  static constexpr size_t kBufferSize = size_t{1} << 20;

  // Creates (or truncates) `path` and queues `header` as its first bytes.
  // header.header_size must be sizeof(FileHeader).
  static Result<TraceWriter> create(const std::string& path, const FileHeader& header);
  // Same, on an already open writable descriptor, which the writer then owns
  // (tests use it with /dev/full). `path` only names the file in messages.
  static TraceWriter adopt_fd(int fd, std::string path, const FileHeader& header);

  TraceWriter(TraceWriter&& other) noexcept;
  TraceWriter& operator=(TraceWriter&& other) noexcept;
  TraceWriter(const TraceWriter&) = delete;
  TraceWriter& operator=(const TraceWriter&) = delete;
  // Flushes what is buffered (ignoring errors: call close() to see them) and closes.
  ~TraceWriter();

  // Queues one complete record. `record` starts with a RecordHeader whose `size`
  // equals `size` (a multiple of 8): anything else is a caller bug and stops the
  // process. Writes the buffer out when it is full. After a write error every
  // call returns that error again: what fit is in the file (a record cut by the
  // failure is left as a truncated tail), nothing more is written.
  Result<void> append(const void* record, size_t size);
  // Writes out everything queued so far.
  Result<void> flush();
  // Rewrites FileHeader.features in the file (what a recording learned only
  // at its end, e.g. kFeatureStepMayMiss). Flushes first.
  Result<void> set_features(uint64_t features);
  // Flushes and closes the file; the first error wins. Idempotent.
  Result<void> close();

  const std::string& path() const { return path_; }
  uint64_t records_appended() const { return records_appended_; }
  // Records completely written to the file so far.
  uint64_t records_written() const { return records_written_; }

 private:
  TraceWriter(int fd, std::string path, const FileHeader& header);
  Result<void> write_out();
  void count_written(size_t bytes);
  void release();

  int fd_ = -1;
  std::string path_;
  std::unique_ptr<uint8_t[]> buffer_;
  size_t used_ = 0;
  size_t header_pending_ = 0;  // bytes at the start of buffer_ that are the file header, not records
  uint64_t records_appended_ = 0;
  uint64_t records_written_ = 0;
  std::string error_;  // set by the first failed write, returned ever after
};

}  // namespace mmiotrace::trace
