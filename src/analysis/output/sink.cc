#include "analysis/output/sink.h"

#include <cerrno>
#include <cstring>

namespace mmiotrace::output {

TextSink::TextSink(FILE* out, std::string_view out_name) : out_(out), out_name_(out_name) {}

bool TextSink::record_failure(int err) {
  if (err == EPIPE) {
    pipe_closed_ = true;
  } else if (error_.empty()) {
    error_ = fmt::format("writing {} failed: {}", out_name_, std::strerror(err != 0 ? err : EIO));
  }
  buffer_.clear();
  return false;
}

bool TextSink::write_buffer() {
  if (pipe_closed_ || !error_.empty()) return false;
  if (buffer_.size() != 0) {
    errno = 0;
    const size_t n = std::fwrite(buffer_.data(), 1, buffer_.size(), out_);
    if (n != buffer_.size()) return record_failure(errno);
    buffer_.clear();
  }
  return true;
}

bool TextSink::flush() {
  if (!write_buffer()) return false;
  errno = 0;
  if (std::fflush(out_) != 0) return record_failure(errno);
  return true;
}

PrintOutcome TextSink::failure_outcome() const {
  if (pipe_closed_) return {};
  return {PrintStatus::WRITE_FAILED, error_};
}

}  // namespace mmiotrace::output
