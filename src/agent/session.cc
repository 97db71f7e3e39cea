// Normal context (attach, open and mmap interposers) and the handler
// (lookups): no allocation.
#include "agent/session.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

#include "agent/agent.h"
#include "agent/safe_format.h"
#include "common/device_path.h"
#include "trace/format.h"

namespace mmiotrace::agent {

namespace {

trace::SessionHeader* g_session = nullptr;

void warn(const char* what, const char* detail) {
  SafeBuf m;
  m.str("mmiotrace: agent not tracing this process: ").str(what).str(detail).str("\n");
  m.write_to(STDERR_FILENO);
}

}  // namespace

trace::SessionHeader* session() { return g_session; }

bool session_attach() {
  const char* path = getenv(trace::kSessionEnv);
  if (path == nullptr || *path == '\0') return true;
  const int fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    warn("cannot open the session ", path);
    return false;
  }
  trace::SessionHeader probe;
  if (pread(fd, &probe, sizeof(probe), 0) != static_cast<ssize_t>(sizeof(probe)) ||
      memcmp(probe.magic, trace::kSessionMagic, sizeof(probe.magic)) != 0 || probe.version != trace::kSessionVersion) {
    close(fd);
    warn("the session comes from a different mmiotrace version: ", path);
    return false;
  }
  void* p = real_mmap(nullptr, probe.total_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) {
    warn("cannot map the session ", path);
    return false;
  }
  g_session = static_cast<trace::SessionHeader*>(p);
  return true;
}

const trace::SessionPath& session_path(uint32_t i) {
  return trace::session_at<trace::SessionPath>(g_session, g_session->paths_off)[i];
}

const trace::SessionDevice& session_device(uint32_t i) {
  return trace::session_at<trace::SessionDevice>(g_session, g_session->devices_off)[i];
}

int stand_in_for_path(const char* normalized) {
  if (g_session == nullptr) return -1;
  for (uint32_t i = 0; i < g_session->path_count; ++i) {
    if (same_device_file(session_path(i).path, normalized)) return static_cast<int>(i);
  }
  return -1;
}

int stand_in_for_fd_link(const char* link) {
  if (g_session == nullptr) return -1;
  static constexpr char kPrefix[] = "/memfd:mmiotrace-standin-";
  if (strncmp(link, kPrefix, sizeof(kPrefix) - 1) != 0) return -1;
  const char* digits = link + sizeof(kPrefix) - 1;
  char* end = nullptr;
  const unsigned long i = strtoul(digits, &end, 10);
  if (end == digits || strcmp(end, " (deleted)") != 0 || i >= g_session->path_count) return -1;
  return static_cast<int>(i);
}

int stand_in_device_at(int path, uint64_t offset) {
  if (g_session == nullptr || path < 0) return -1;
  int fallback = -1;
  for (uint32_t i = 0; i < g_session->device_count; ++i) {
    const trace::SessionDevice& d = session_device(i);
    if (d.path != static_cast<uint32_t>(path)) continue;
    if (d.kind == static_cast<uint16_t>(trace::DeviceKind::UIO)) {
      if (offset == d.file_base) return static_cast<int>(i);  // UIO: the offset selects the map
      continue;
    }
    if (offset >= d.file_base) fallback = static_cast<int>(i);
  }
  return fallback;
}

}  // namespace mmiotrace::agent
