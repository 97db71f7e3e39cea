#include "trace/writer.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <utility>

#include "common/check.h"

namespace mmiotrace::trace {

FileHeader make_file_header(uint64_t start_monotonic_ns, uint64_t start_realtime_ns, uint32_t recorder_pid) {
  FileHeader h;
  std::memset(&h, 0, sizeof h);
  std::memcpy(h.magic, kMagic, sizeof h.magic);
  h.version_major = kVersionMajor;
  h.version_minor = kVersionMinor;
  h.header_size = sizeof(FileHeader);
  h.features = kFeatureNone;
  h.start_monotonic_ns = start_monotonic_ns;
  h.start_realtime_ns = start_realtime_ns;
  h.recorder_pid = recorder_pid;
  return h;
}

Result<TraceWriter> TraceWriter::create(const std::string& path, const FileHeader& header) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return make_error(fmt::format("cannot create trace file '{}': {}", path, std::strerror(errno)));
  return TraceWriter(fd, path, header);
}

TraceWriter TraceWriter::adopt_fd(int fd, std::string path, const FileHeader& header) {
  return TraceWriter(fd, std::move(path), header);
}

TraceWriter::TraceWriter(int fd, std::string path, const FileHeader& header)
    : fd_(fd), path_(std::move(path)), buffer_(new uint8_t[kBufferSize]) {
  MT_CHECK(fd >= 0);
  MT_CHECK(header.header_size == sizeof(FileHeader));
  std::memcpy(buffer_.get(), &header, sizeof header);
  used_ = header_pending_ = sizeof header;
}

TraceWriter::TraceWriter(TraceWriter&& other) noexcept { *this = std::move(other); }

TraceWriter& TraceWriter::operator=(TraceWriter&& other) noexcept {
  if (this != &other) {
    release();
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
    buffer_ = std::move(other.buffer_);
    used_ = std::exchange(other.used_, 0);
    header_pending_ = std::exchange(other.header_pending_, 0);
    records_appended_ = other.records_appended_;
    records_written_ = other.records_written_;
    error_ = std::move(other.error_);
  }
  return *this;
}

TraceWriter::~TraceWriter() { release(); }

void TraceWriter::release() {
  if (fd_ < 0) return;
  if (error_.empty()) (void)write_out();
  ::close(fd_);
  fd_ = -1;
}

Result<void> TraceWriter::append(const void* record, size_t size) {
  MT_CHECK_MSG(fd_ >= 0, "append after close");
  MT_CHECK(size >= sizeof(RecordHeader) && size % 8 == 0 && size <= 0xfff8);
  RecordHeader h;
  std::memcpy(&h, record, sizeof h);
  MT_CHECK_MSG(h.size == size, "record header size differs from the size appended");
  if (!error_.empty()) return make_error(error_);
  if (size > kBufferSize - used_) {
    auto r = write_out();
    if (!r) return r;
  }
  std::memcpy(buffer_.get() + used_, record, size);
  used_ += size;
  ++records_appended_;
  return {};
}

Result<void> TraceWriter::flush() {
  MT_CHECK_MSG(fd_ >= 0, "flush after close");
  if (!error_.empty()) return make_error(error_);
  return write_out();
}

Result<void> TraceWriter::set_features(uint64_t features) {
  auto flushed = flush();
  if (!flushed) return flushed;
  const ssize_t n = ::pwrite(fd_, &features, sizeof features, offsetof(FileHeader, features));
  if (n != static_cast<ssize_t>(sizeof features)) {
    error_ = fmt::format("writing the header of trace file '{}' failed: {}", path_, std::strerror(n < 0 ? errno : EIO));
    return make_error(error_);
  }
  return {};
}

Result<void> TraceWriter::close() {
  if (fd_ < 0) return {};
  Result<void> result = error_.empty() ? write_out() : Result<void>(make_error(error_));
  int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0 && result.ok()) {
    // close(2) is where NFS and some FUSE file systems report a failed write.
    error_ = fmt::format("closing trace file '{}' failed: {}", path_, std::strerror(errno));
    return make_error(error_);
  }
  return result;
}

// Writes buffer_[0, used_) with as many write(2) calls as it takes. On a failure
// the bytes that did get written stay written (a partial write is kept, not
// undone), the rest is dropped and the error becomes sticky: the file may now
// end inside a record, and anything appended after that would be unreadable.
Result<void> TraceWriter::write_out() {
  size_t done = 0;
  int err = 0;
  while (done < used_) {
    ssize_t n = ::write(fd_, buffer_.get() + done, used_ - done);
    if (n > 0) {
      done += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      err = n < 0 ? errno : EIO;
      break;
    }
  }
  if (done == used_) {
    records_written_ = records_appended_;  // every record appended so far is in the file
    header_pending_ = 0;
  } else {
    count_written(done);
  }
  used_ = 0;  // all written, or the error below makes the rest unwritable
  if (err == 0) return {};
  error_ = fmt::format("writing trace file '{}' failed: {} ({} record{} written before the failure {} in the file)",
                       path_, std::strerror(err), records_written_, records_written_ == 1 ? "" : "s",
                       records_written_ == 1 ? "is" : "are");
  return make_error(error_);
}

// Counts the records that lie completely inside the first `bytes` bytes of the
// buffer, which have just been written.
void TraceWriter::count_written(size_t bytes) {
  if (bytes <= header_pending_) {
    header_pending_ -= bytes;
    return;
  }
  size_t pos = header_pending_;
  header_pending_ = 0;
  while (pos + sizeof(RecordHeader) <= bytes) {
    RecordHeader h;
    std::memcpy(&h, buffer_.get() + pos, sizeof h);
    if (pos + h.size > bytes) break;
    pos += h.size;
    ++records_written_;
  }
}

}  // namespace mmiotrace::trace
