// Where printers write: a 64 KiB text buffer in front of a FILE*, and the
// outcome of a print (what the CLI turns into an exit status).
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace mmiotrace::output {

enum class PrintStatus : uint8_t {
  OK = 0,        // every record printed, or the output was a pipe whose reader went away (EPIPE): stop quietly
  BAD_INPUT,     // the trace is corrupt or truncated; every intact record before the damage was printed
  READ_FAILED,   // reading the trace failed (I/O error)
  WRITE_FAILED,  // writing the output failed
};

struct PrintOutcome {
  PrintStatus status = PrintStatus::OK;
  std::string message;  // one sentence for the user; empty when OK
};

// Text output through a 64 KiB buffer to a FILE*. Records a write error or a
// closed pipe (the caller must ignore SIGPIPE to get EPIPE instead of dying).
class TextSink {
 public:
  TextSink(FILE* out, std::string_view out_name);
  fmt::memory_buffer& buffer() { return buffer_; }
  // Writes the buffer out once it holds 64 KiB or more; false once output failed.
  bool maybe_flush() { return buffer_.size() < kFlushThreshold || write_buffer(); }
  // Writes everything and fflush()es; false once output failed.
  bool flush();
  bool pipe_closed() const { return pipe_closed_; }
  const std::string& error() const { return error_; }
  // OK for a closed pipe, WRITE_FAILED with the error otherwise.
  PrintOutcome failure_outcome() const;

 private:
  static constexpr size_t kFlushThreshold = 64 * 1024;
  bool write_buffer();
  bool record_failure(int err);

  FILE* out_;
  std::string out_name_;
  fmt::memory_buffer buffer_;
  bool pipe_closed_ = false;
  std::string error_;
};

}  // namespace mmiotrace::output
