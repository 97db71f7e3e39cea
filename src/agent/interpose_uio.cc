// Normal context: the program's read() and write() calls (interpose_uio.h).
#include "agent/interpose_uio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>

#include "agent/backend/model.h"
#include "agent/session.h"
#include "trace/format.h"

namespace mmiotrace::agent {

namespace {

// Per descriptor: 0, or 1 + the interrupt count it has seen (as UIO keeps
// one per open file). Descriptors past the table are not UIO stand-ins.
constexpr int kMaxFd = 4096;
std::atomic<uint64_t> g_seen[kMaxFd];

}  // namespace

void uio_stand_in_opened(int fd, int path) {
  if (fd < 0 || fd >= kMaxFd || !session_has(trace::kSessionModel)) return;
  if (session_path(static_cast<uint32_t>(path)).kind != static_cast<uint16_t>(trace::DeviceKind::UIO)) return;
  g_seen[fd].store(1 + uint64_t{model_interrupts()});
}

bool uio_model_call(int fd, bool write, void* buf, size_t n, ssize_t* result) {
  if (fd < 0 || fd >= kMaxFd) return false;
  const uint64_t seen = g_seen[fd].load();
  if (seen == 0) return false;
  // The descriptor may have been closed and its number reused since.
  char link[48], target[96];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  const ssize_t len = readlink(link, target, sizeof target - 1);
  if (len <= 0 || (target[len] = '\0', stand_in_for_fd_link(target)) < 0) {
    g_seen[fd].store(0);
    return false;
  }
  if (n != sizeof(uint32_t)) {
    errno = EINVAL;
    *result = -1;
    return true;
  }
  *result = sizeof(uint32_t);
  if (write) return true;  // interrupt enable/disable: the model's line is what it is
  uint32_t count = model_interrupts();
  if (count == static_cast<uint32_t>(seen - 1)) {
    const int fl = fcntl(fd, F_GETFL);
    if (fl >= 0 && (fl & O_NONBLOCK) != 0) {
      errno = EAGAIN;
      *result = -1;
      return true;
    }
    count = model_wait_interrupt(count);
  }
  g_seen[fd].store(1 + uint64_t{count});
  memcpy(buf, &count, sizeof count);
  return true;
}

}  // namespace mmiotrace::agent
