// Normal context, allocation-free: raw system calls and stack buffers (see
// untraced_mappings.h).
#include "agent/untraced_mappings.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>

#include "agent/agent.h"
#include "agent/device_identify.h"
#include "agent/safe_format.h"

namespace mmiotrace::agent {
namespace {

// Ranges already reported, by this process (a forked child starts afresh).
constexpr size_t kMaxReported = 32;
uint64_t g_reported[kMaxReported];
size_t g_reported_count = 0;
uint32_t g_reported_pid = 0;

bool parse_hex(const char*& p, const char* end, uint64_t* out) {
  uint64_t v = 0;
  const char* start = p;
  for (; p < end; ++p) {
    const char c = *p;
    if (c >= '0' && c <= '9') {
      v = v * 16 + static_cast<uint64_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      v = v * 16 + static_cast<uint64_t>(c - 'a' + 10);
    } else {
      break;
    }
  }
  *out = v;
  return p != start;
}

struct Overlap {
  uint64_t start, end;
  bool found;
};

// Whether [start, end) is one of the agent's: a traced mapping of the
// program (armed) or the agent's own real mapping behind one.
bool is_agents(uint64_t start, uint64_t end) {
  Overlap o{start, end, false};
  g_agent.regions.for_each(
      [](const RegionInfo& r, void* ctx) {
        auto* o = static_cast<Overlap*>(ctx);
        const uint64_t real_start = r.real.value();
        const uint64_t real_end = r.real_at(r.end).value();
        if ((o->start < r.end && r.start < o->end) || (o->start < real_end && real_start < o->end)) o->found = true;
      },
      &o);
  return o.found;
}

void report_one(uint64_t start, uint64_t end, const char* path) {
  for (size_t i = 0; i < g_reported_count; ++i) {
    if (g_reported[i] == start) return;
  }
  if (g_reported_count < kMaxReported) g_reported[g_reported_count++] = start;
  const auto pid = static_cast<uint64_t>(g_agent.pid);
  SafeBuf mark;
  mark.str("mmiotrace: process ").dec(pid).str(" mapped ").str(path).str(" at ").hex(start).str("-").hex(end);
  mark.str(" without mmap() (a raw system call): accesses through it were not traced");
  emit_mark(mark.data(), mark.size());
  SafeBuf warning;
  warning.str("mmiotrace: warning: process ").dec(pid).str(" has ").str(path).str(" mapped at ").hex(start);
  warning.str("-").hex(end).str(
      " by a raw mmap system call (as Go programs make), which the agent cannot see: its "
      "accesses were not traced\n");
  warning.write_to(STDERR_FILENO);
}

// One line of /proc/self/maps: "start-end perms offset dev inode   path".
void check_line(const char* p, const char* end) {
  uint64_t start = 0, stop = 0;
  if (!parse_hex(p, end, &start) || p == end || *p != '-') return;
  ++p;
  if (!parse_hex(p, end, &stop)) return;
  // Skip perms, offset, dev and inode: the path is the sixth field.
  for (int field = 0; field < 4; ++field) {
    while (p < end && *p == ' ') ++p;
    while (p < end && *p != ' ') ++p;
  }
  while (p < end && *p == ' ') ++p;
  if (p == end || *p == '[') return;  // anonymous, [heap], [stack], ...
  char path[PATH_MAX];
  const size_t n = static_cast<size_t>(end - p) < sizeof path ? static_cast<size_t>(end - p) : sizeof path - 1;
  memcpy(path, p, n);
  path[n] = '\0';
  if (is_device_path(path) && !is_agents(start, stop)) report_one(start, stop, path);
}

}  // namespace

void report_untraced_device_mappings() {
  if (!attached()) return;
  const auto pid = static_cast<uint32_t>(syscall(SYS_getpid));
  if (pid != g_agent.pid) return;  // a vfork child: the parent's mappings
  if (g_reported_pid != pid) {
    g_reported_pid = pid;
    g_reported_count = 0;
  }
  const long fd = syscall(SYS_openat, AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  char buf[PATH_MAX + 512];
  size_t have = 0;
  for (;;) {
    const long got = syscall(SYS_read, fd, buf + have, sizeof buf - have);
    if (got <= 0) break;
    have += static_cast<size_t>(got);
    size_t line_start = 0;
    for (size_t i = 0; i < have; ++i) {
      if (buf[i] != '\n') continue;
      check_line(buf + line_start, buf + i);
      line_start = i + 1;
    }
    if (line_start == 0 && have == sizeof buf) have = 0;  // a line longer than any path: skip it
    memmove(buf, buf + line_start, have - line_start);
    have -= line_start;
  }
  syscall(SYS_close, fd);
}

}  // namespace mmiotrace::agent
