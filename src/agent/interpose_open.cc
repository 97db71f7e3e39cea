// open() and its relatives, for sessions that stand in for devices (replay,
// device models; docs/replay.md, "Device files"). A path the session stands
// in for is recognised by its text (agent/session.h, common/device_path.h)
// before the kernel sees it, and the program gets the stand-in memfd instead:
// on this machine the same path may name one of its own live devices, which
// must never be opened. In a replay, any other of this machine's device files
// (a PCI device's sysfs files, /dev/mem, /dev/uio*, /dev/vfio/*) is refused
// with ENOENT: a replay has no device.
//
// Without a session every call passes straight through.
//
// Normal context (the program's own calls); no signal handler of the agent
// runs this.
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

#include "agent/agent.h"
#include "agent/interpose_uio.h"
#include "agent/safe_format.h"
#include "agent/session.h"
#include "common/device_path.h"

namespace mmiotrace::agent {

namespace {

using OpenatFn = int (*)(int, const char*, int, ...);
using FopenFn = FILE* (*)(const char*, const char*);

OpenatFn g_real_openat = nullptr;
FopenFn g_real_fopen = nullptr;

__attribute__((constructor(101))) void resolve_open_calls() {
  g_real_openat = reinterpret_cast<OpenatFn>(dlsym(RTLD_NEXT, "openat"));
  g_real_fopen = reinterpret_cast<FopenFn>(dlsym(RTLD_NEXT, "fopen"));
}

int real_openat(int dirfd, const char* path, int flags, mode_t mode) {
  if (g_real_openat != nullptr) return g_real_openat(dirfd, path, flags, mode);
  return static_cast<int>(syscall(SYS_openat, dirfd, path, flags, mode));
}

// The directory a relative path starts from.
bool base_dir(int dirfd, char* out, size_t cap) {
  if (dirfd == AT_FDCWD) return getcwd(out, cap) != nullptr;
  char link[40];
  SafeBuf l;
  l.str("/proc/self/fd/").dec(static_cast<uint64_t>(dirfd));
  l.copy_to(link, sizeof link);
  const ssize_t n = readlink(link, out, cap - 1);
  if (n <= 0) return false;
  out[n] = '\0';
  return true;
}

enum class Verdict { PASS, STAND_IN, REFUSE };

// What becomes of opening `path` (relative to `dirfd`); *stand_in: the
// session path it stands in for.
Verdict judge(int dirfd, const char* path, int* stand_in) {
  trace::SessionHeader* s = session();
  if (s == nullptr || !attached() || path == nullptr) return Verdict::PASS;
  char dir[PATH_MAX];
  if (path[0] != '/' && !base_dir(dirfd, dir, sizeof dir)) return Verdict::PASS;
  char normal[PATH_MAX];
  if (!normalize_path(path, path[0] == '/' ? nullptr : dir, normal, sizeof normal)) return Verdict::PASS;
  *stand_in = stand_in_for_path(normal);
  if (*stand_in >= 0) return Verdict::STAND_IN;
  if ((s->flags & trace::kSessionReplay) != 0 && names_real_device(normal)) {
    s->refused_opens.fetch_add(1, std::memory_order_relaxed);
    SafeBuf m;
    m.str("mmiotrace replay: refused to open ").str(normal);
    m.str(": a device file of this machine that the recording does not stand in for (a replay opens no device)\n");
    m.write_to(STDERR_FILENO);
    return Verdict::REFUSE;
  }
  return Verdict::PASS;
}

// The stand-in memfd of session path `i`, opened with the program's access
// mode (never created or truncated).
int open_stand_in(int i, int flags) {
  session()->stand_in_opens.fetch_add(1, std::memory_order_relaxed);
  const int keep = flags & (O_ACCMODE | O_CLOEXEC | O_NONBLOCK | O_SYNC | O_DSYNC);
  const int fd = real_openat(AT_FDCWD, session_path(static_cast<uint32_t>(i)).fd_path, keep, 0);
  uio_stand_in_opened(fd, i);
  return fd;
}

int do_openat(int dirfd, const char* path, int flags, mode_t mode) {
  int stand_in = -1;
  switch (judge(dirfd, path, &stand_in)) {
    case Verdict::PASS:
      break;
    case Verdict::STAND_IN:
      return open_stand_in(stand_in, flags);
    case Verdict::REFUSE:
      errno = ENOENT;
      return -1;
  }
  return real_openat(dirfd, path, flags, mode);
}

mode_t mode_arg(int flags, va_list ap) {
  // The mode argument exists only with O_CREAT or O_TMPFILE (open(2)).
  return (flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE ? static_cast<mode_t>(va_arg(ap, int)) : 0;
}

}  // namespace

}  // namespace mmiotrace::agent

extern "C" {

using mmiotrace::agent::do_openat;
using mmiotrace::agent::mode_arg;

__attribute__((visibility("default"))) int open(const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  const mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  return do_openat(AT_FDCWD, path, flags, mode);
}

__attribute__((visibility("default"))) int open64(const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  const mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  return do_openat(AT_FDCWD, path, flags | O_LARGEFILE, mode);
}

__attribute__((visibility("default"))) int openat(int dirfd, const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  const mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  return do_openat(dirfd, path, flags, mode);
}

__attribute__((visibility("default"))) int openat64(int dirfd, const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  const mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  return do_openat(dirfd, path, flags | O_LARGEFILE, mode);
}

// The _FORTIFY_SOURCE entry points (open without a mode that could be needed):
// glibc's names, reserved as they are.
// NOLINTBEGIN(bugprone-reserved-identifier)
__attribute__((visibility("default"))) int __open_2(const char* path, int flags) {
  return do_openat(AT_FDCWD, path, flags, 0);
}
__attribute__((visibility("default"))) int __open64_2(const char* path, int flags) {
  return do_openat(AT_FDCWD, path, flags | O_LARGEFILE, 0);
}
__attribute__((visibility("default"))) int __openat_2(int dirfd, const char* path, int flags) {
  return do_openat(dirfd, path, flags, 0);
}
__attribute__((visibility("default"))) int __openat64_2(int dirfd, const char* path, int flags) {
  return do_openat(dirfd, path, flags | O_LARGEFILE, 0);
}
// NOLINTEND(bugprone-reserved-identifier)

__attribute__((visibility("default"))) int creat(const char* path, mode_t mode) {
  return do_openat(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}
__attribute__((visibility("default"))) int creat64(const char* path, mode_t mode) {
  return do_openat(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC | O_LARGEFILE, mode);
}

// fopen opens through libc's internal open, which no interposer sees.
__attribute__((visibility("default"))) FILE* fopen(const char* path, const char* mode) {
  using namespace mmiotrace::agent;
  int stand_in = -1;
  switch (judge(AT_FDCWD, path, &stand_in)) {
    case Verdict::PASS:
      break;
    case Verdict::STAND_IN: {
      const bool rw = strchr(mode, '+') != nullptr;
      const int fd = open_stand_in(stand_in, rw ? O_RDWR : (mode[0] == 'r' ? O_RDONLY : O_WRONLY));
      if (fd < 0) return nullptr;
      FILE* f = fdopen(fd, mode);
      if (f == nullptr) close(fd);
      return f;
    }
    case Verdict::REFUSE:
      errno = ENOENT;
      return nullptr;
  }
  if (g_real_fopen != nullptr) return g_real_fopen(path, mode);
  errno = ENOSYS;
  return nullptr;
}

__attribute__((visibility("default"))) FILE* fopen64(const char* path, const char* mode) { return fopen(path, mode); }

}  // extern "C"
