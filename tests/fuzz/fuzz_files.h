// Shared by the file readers' fuzz harnesses (trace_reader_fuzzer.cc,
// kernel_log_fuzzer.cc): a fuzz input as the file descriptors the readers
// read from, and the checks' trap.
//
// - as_memfd(): the input as a regular file (a memfd), whose /proc/self/fd
//   path can be opened again, as `mmiotrace print` does with a file.
// - ChunkedPipe: the input through a SOCK_SEQPACKET socket, in messages of 1
//   to 400 bytes whose sizes follow from the input's bytes: every read(2) then
//   returns one message, a short count, as a pipe may, so the readers refill
//   their buffers at every offset, the same way each run whatever the timing.
//   (A read shorter than the message would lose its rest: the readers ask for
//   the room left in their buffers, far more than 400 bytes for inputs of
//   the sizes fuzzed.)
#pragma once

#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>

#define FUZZ_CHECK(cond)           \
  do {                             \
    if (!(cond)) __builtin_trap(); \
  } while (0)

namespace mmiotrace::fuzz {

// A memfd holding `data`, positioned at `offset`; -1 if the system refuses one.
inline int as_memfd(const uint8_t* data, size_t size, size_t offset) {
  const int fd = memfd_create("fuzz", MFD_CLOEXEC);
  FUZZ_CHECK(fd >= 0);
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::write(fd, data + done, size - done);
    FUZZ_CHECK(n > 0);
    done += static_cast<size_t>(n);
  }
  FUZZ_CHECK(::lseek(fd, static_cast<off_t>(offset), SEEK_SET) == static_cast<off_t>(offset));
  return fd;
}

inline std::string fd_path(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

// Where printers write: nothing is kept, every byte is formatted.
inline FILE* dev_null() {
  static FILE* f = std::fopen("/dev/null", "w");
  FUZZ_CHECK(f != nullptr);
  return f;
}

class ChunkedPipe {
 public:
  ChunkedPipe(const uint8_t* data, size_t size) : data_(data), size_(size) {
    int sv[2];
    FUZZ_CHECK(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
    read_fd_ = sv[0];
    write_fd_ = sv[1];
    // As much as the socket takes now, without a thread (usually all of it);
    // a thread writes the rest while the reader reads.
    if (!write_some(MSG_DONTWAIT)) writer_ = std::thread([this] { write_some(0); });
  }
  ~ChunkedPipe() {
    if (read_fd_ >= 0) ::close(read_fd_);  // a writer still blocked gets EPIPE
    if (writer_.joinable()) writer_.join();
  }
  ChunkedPipe(const ChunkedPipe&) = delete;
  ChunkedPipe& operator=(const ChunkedPipe&) = delete;

  // The reading end, for a reader to own (it closes it).
  int release_read_fd() {
    const int fd = read_fd_;
    read_fd_ = -1;
    return fd;
  }

 private:
  // Messages of 1-400 bytes from done_ on, then the end of file. With
  // MSG_DONTWAIT it stops when the socket is full and returns false (the same
  // message is sent next time); without, it blocks.
  bool write_some(int flags) {
    while (done_ < size_) {
      const uint32_t h = (hash_ ^ data_[done_]) * 16777619u;
      const size_t chunk = std::min<size_t>(size_ - done_, 1 + (h >> 8) % 400);
      const ssize_t n = ::send(write_fd_, data_ + done_, chunk, MSG_NOSIGNAL | flags);
      if (n < 0 && (flags & MSG_DONTWAIT) && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
      if (n != static_cast<ssize_t>(chunk)) break;  // the reader went away
      hash_ = h;
      done_ += chunk;
    }
    ::close(write_fd_);  // end of file for the reader
    return true;
  }

  const uint8_t* data_;
  size_t size_;
  size_t done_ = 0;
  uint32_t hash_ = 2166136261u;
  int read_fd_ = -1;
  int write_fd_ = -1;
  std::thread writer_;
};

}  // namespace mmiotrace::fuzz
