#include "analysis/atomic_file.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace mmiotrace::analysis {

Result<AtomicFile> AtomicFile::create(const std::string& path) {
  std::string temp = path + ".tmp-XXXXXX";
  int fd = ::mkostemp(temp.data(), O_CLOEXEC);
  if (fd < 0) return make_error(fmt::format("cannot create output file '{}': {}", path, std::strerror(errno)));
  // mkostemp makes it 0600; an output file gets the usual mode.
  const mode_t mask = ::umask(0);
  ::umask(mask);
  ::fchmod(fd, 0666 & ~mask);
  return AtomicFile(path, temp, fd);
}

AtomicFile::AtomicFile(AtomicFile&& other) noexcept
    : path_(std::move(other.path_)),
      temp_(std::move(other.temp_)),
      fd_(other.fd_),
      committed_(other.committed_),
      error_(std::move(other.error_)) {
  buffer_.append(other.buffer_);
  other.fd_ = -1;
  other.committed_ = true;  // nothing for the moved-from object to remove
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(temp_.c_str());
}

void AtomicFile::write(std::string_view s) {
  buffer_.append(s);
  maybe_flush();
}

void AtomicFile::maybe_flush() {
  if (buffer_.size() >= (size_t{1} << 20)) (void)flush();
}

Result<void> AtomicFile::flush() {
  if (!error_.empty()) return make_error(error_);
  const char* p = buffer_.data();
  size_t left = buffer_.size();
  while (left > 0) {
    const ssize_t n = ::write(fd_, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error_ = fmt::format("writing '{}' failed: {}", path_, std::strerror(errno));
      return make_error(error_);
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  buffer_.clear();
  return {};
}

void AtomicFile::close_for_reopen() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Result<void> AtomicFile::commit() {
  if (fd_ >= 0) {
    if (auto r = flush(); !r) return r;
    if (::fsync(fd_) != 0 || ::close(fd_) != 0) {
      fd_ = -1;
      return make_error(fmt::format("writing '{}' failed: {}", path_, std::strerror(errno)));
    }
    fd_ = -1;
  }
  if (::rename(temp_.c_str(), path_.c_str()) != 0)
    return make_error(fmt::format("cannot create output file '{}': {}", path_, std::strerror(errno)));
  committed_ = true;
  return {};
}

}  // namespace mmiotrace::analysis
