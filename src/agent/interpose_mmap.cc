// mmap/munmap/mprotect interposers: where device mappings are armed.
//
// For a device file the program gets a mapping of the same file at the same
// offset with PROT_NONE, so every access faults; the agent keeps a second,
// real mapping of the same bytes for the emulator. No traced page is ever made
// accessible to the program, so no thread can slip past the tracer.
//
// Normal context. Records are stamped with every signal but the agent's own
// blocked (SignalsBlocked), because the fault handler takes the same order lock.
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

#include "agent/agent.h"
#include "agent/arming.h"
#include "agent/backend/backend.h"
#include "agent/code_maps.h"
#include "agent/device_identify.h"
#include "agent/patch/patcher.h"
#include "agent/producer.h"
#include "agent/safe_format.h"
#include "agent/session.h"
#include "common/device_path.h"
#include "trace/encode.h"
#include "trace/format.h"

namespace mmiotrace::agent {

namespace {

uint64_t page_size() {
  static const auto size = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  return size;
}

uint64_t page_round_up(uint64_t v) { return (v + page_size() - 1) & ~(page_size() - 1); }

// Stamps and pushes a record; the caller has blocked signals.
void emit(void* record, size_t size) { stamp_and_push(record, size); }

void emit_map(const DeviceInfo& dev, uint64_t virt, uint64_t len, uint64_t offset, int prot, uint32_t map_id) {
  trace::MapFields f;
  f.phys = dev.phys;
  f.virt = virt;
  f.len = len;
  f.file_offset = offset;
  f.pid = g_agent.pid;
  f.map_id = map_id;
  f.kind = dev.kind;
  f.prot = static_cast<uint16_t>(prot);
  f.bar = dev.bar;
  f.pci_busdevfn = dev.has_pci ? dev.busdevfn : 0;
  f.path = dev.path;
  f.path_len = static_cast<uint16_t>(strlen(dev.path));
  alignas(8) uint8_t buf[trace::record_size_for_map(PATH_MAX)];
  size_t n = trace::encode_map(buf, sizeof(buf), trace::RecordStamp{0, 0, current_tid()}, f);
  if (n != 0) emit(buf, n);
}

void emit_pcidev_record(uint8_t* record, size_t size, void*) {
  reinterpret_cast<trace::RecordHeader*>(record)->tid = current_tid();
  emit(record, size);
}

// The PCIDEV line(s) of a new mapping (the recorder keeps one per device).
void emit_pcidevs(const DeviceInfo& dev, uint64_t len) {
  // (A replay's /dev/mem: the device it recorded, never this machine's.)
  if (dev.kind == trace::DeviceKind::DEV_MEM && dev.session_device < 0) {
    pcidevs_in_range(dev.phys, len, emit_pcidev_record, nullptr);
    return;
  }
  alignas(8) uint8_t buf[trace::record_size_for_pcidev(256)];
  size_t n = build_pcidev(dev, buf, sizeof(buf));
  if (n != 0) emit_pcidev_record(buf, n, nullptr);
}

void on_removed(const RegionInfo& piece, void*) {
  real_munmap(host_pointer(piece.real), piece.size());
  trace::UnmapFields f;
  f.virt = piece.start;
  f.len = piece.size();
  f.pid = g_agent.pid;
  f.map_id = piece.map_id;
  alignas(8) uint8_t buf[sizeof(trace::UnmapRecord)];
  size_t n = trace::encode_unmap(buf, sizeof(buf), trace::RecordStamp{0, 0, current_tid()}, f);
  emit(buf, n);
}

void on_protected(const RegionInfo& piece, void*) {
  // The real mapping follows the program's rights where the file allows it;
  // the program's own range stays PROT_NONE.
  real_mprotect(host_pointer(piece.real), piece.size(), piece.prot & (PROT_READ | PROT_WRITE));
  rearm(piece);  // a range armed with a protection key carries the program's rights (arming.h)
}

// A device the session stands in for: the program maps its backing memfd
// (session.h) in place of the stand-in file it opened. Returns the backing's
// descriptor (the caller closes it) and sets *off to the offset into it, or
// -1 with errno set.
int open_backing(const DeviceInfo& dev, size_t len, off_t* off) {
  const trace::SessionDevice& d = session_device(static_cast<uint32_t>(dev.session_device));
  const uint64_t device_offset = static_cast<uint64_t>(*off) - d.file_base;
  if (device_offset < d.backing_base) {
    errno = ENXIO;  // below what the recording mapped (/dev/mem): nothing stands in there
    return -1;
  }
  const int fd = static_cast<int>(syscall(SYS_openat, AT_FDCWD, d.backing_path, O_RDWR | O_CLOEXEC));
  if (fd < 0) return -1;
  *off = static_cast<off_t>(device_offset - d.backing_base);
  // Mapped further than the recording did: the backing grows (sparse).
  struct stat st;
  const uint64_t need = static_cast<uint64_t>(*off) + page_round_up(len);
  if (fstat(fd, &st) == 0 && static_cast<uint64_t>(st.st_size) < need) {
    (void)!ftruncate(fd, static_cast<off_t>(need));
  }
  return fd;
}

void* map_device(void* addr, size_t len, int prot, int flags, int fd, off_t off, const DeviceInfo& dev) {
  // Code the loader added behind the agent's back (a dlopen that went
  // straight through, interpose_dlopen.cc) is recorded before any access to
  // this mapping can be.
  record_new_code_maps();
  const off_t file_offset = off;  // the program's (the MAP record's), whatever is mapped in its place
  int backing = -1;
  if (dev.session_device >= 0) {
    backing = open_backing(dev, len, &off);
    if (backing < 0) return MAP_FAILED;
    fd = backing;
  }
  const int real_flags = flags & ~(MAP_FIXED | MAP_FIXED_NOREPLACE);
  void* real = real_mmap(nullptr, len, prot & (PROT_READ | PROT_WRITE), real_flags, fd, off);
  void* prog = real == MAP_FAILED ? MAP_FAILED : real_mmap(addr, len, PROT_NONE, flags, fd, off);
  if (backing >= 0) {
    const int e = errno;
    close(backing);
    errno = e;
  }
  if (real == MAP_FAILED) return MAP_FAILED;  // errno as the program's own mmap would have set it
  if (prog == MAP_FAILED) {
    int e = errno;
    real_munmap(real, len);
    errno = e;
    return MAP_FAILED;
  }
  RegionInfo r;
  r.start = reinterpret_cast<uint64_t>(prog);
  r.end = r.start + page_round_up(len);
  r.real = AgentAddr(reinterpret_cast<uint64_t>(real));
  r.phys = PhysAddr(dev.phys);
  r.offset = DeviceOffset(dev.offset);
  r.prot = prot;
  r.pkey = arm(prog, page_round_up(len), prot);  // a protection key, or left PROT_NONE
  r.map_id = g_agent.channel->next_map_id.fetch_add(1, std::memory_order_relaxed);
  choose_backend(dev, &r);
  SignalsBlocked blocked;
  if (!g_agent.regions.add(r)) {
    // Out of table slots: the mapping works but cannot be traced. Say so
    // rather than let accesses through unseen.
    real_munmap(prog, len);
    real_munmap(real, len);
    errno = ENOMEM;
    return MAP_FAILED;
  }
  emit_pcidevs(dev, len);
  emit_map(dev, r.start, len, static_cast<uint64_t>(file_offset), prot, r.map_id);
  return prog;
}

// In a replay, a mapping of one of this machine's own device files is refused:
// a replay has no device, and its open() interposer refuses them, so this
// is a file opened some other way (a raw system call).
bool replay_forbids(int fd) {
  if (!session_has(trace::kSessionReplay)) return false;
  char link[64], path[PATH_MAX], normal[PATH_MAX];
  snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  const ssize_t n = readlink(link, path, sizeof(path) - 1);
  if (n <= 0) return false;
  path[n] = '\0';
  if (stand_in_for_fd_link(path) >= 0 || !normalize_path(path, nullptr, normal, sizeof normal)) return false;
  return names_real_device(normal) || strcmp(path, "anon_inode:[vfio-device]") == 0;
}

void on_detached(const RegionInfo&, void*) {}

long sys_mremap(uint64_t old, uint64_t old_len, uint64_t new_len, int flags, uint64_t new_addr) {
  return syscall(SYS_mremap, old, old_len, new_len, flags, new_addr);
}

// mremap of a piece of one traced mapping, [start, start + old_len) within
// `r`. The program's range is moved/resized by the real call (it stays
// PROT_NONE and maps the same file); the agent's real mapping of it follows
// (grown first, so that a grow the file does not allow fails before the
// program's range changes, with the kernel's errno); the table entry is
// replaced by one for the new range with the same map id and physical
// address. A shrink records an UNMAP for the part it removes.
void* remap_device(const RegionInfo& r, uint64_t start, uint64_t old_len, uint64_t new_len, int flags,
                   uint64_t new_addr) {
  const uint64_t old_r = page_round_up(old_len);
  const uint64_t new_r = page_round_up(new_len);
  const uint64_t real_old = r.real_at(start).value();
  RegionInfo piece = r;
  piece.start = start;
  piece.end = start + old_r;
  piece.real = AgentAddr(real_old);
  piece.phys = r.phys_at(start);
  piece.offset = r.offset_at(start);
  {
    // Out of the table while it changes: no stale range stays armed.
    SignalsBlocked blocked;
    if (!g_agent.regions.remove_range(piece.start, piece.end, on_detached, nullptr)) {
      errno = ENOMEM;
      return MAP_FAILED;
    }
  }
  auto restore = [&piece] {
    SignalsBlocked blocked;
    g_agent.regions.add(piece);
  };
  uint64_t real_new = real_old;
  if (new_r > old_r) {
    long rc = sys_mremap(real_old, old_r, new_r, MREMAP_MAYMOVE, 0);
    if (rc == -1) {
      restore();
      return MAP_FAILED;  // errno from the kernel: the file cannot be mapped that far
    }
    real_new = static_cast<uint64_t>(rc);
  }
  long rc = sys_mremap(start, old_len, new_len, flags, new_addr);
  if (rc == -1) {
    const int e = errno;
    if (real_new != real_old) {
      sys_mremap(real_new, new_r, old_r, MREMAP_MAYMOVE | MREMAP_FIXED, real_old);
    } else if (new_r > old_r) {
      sys_mremap(real_new, new_r, old_r, 0, 0);
    }
    restore();
    errno = e;
    return MAP_FAILED;
  }
  SignalsBlocked blocked;
  if (new_r < old_r) {
    RegionInfo tail = piece;
    tail.start = start + new_r;
    tail.real = piece.real_at(tail.start);
    tail.phys = piece.phys_at(tail.start);
    tail.offset = piece.offset_at(tail.start);
    on_removed(tail, nullptr);  // unmaps the agent's tail, records UNMAP
  }
  RegionInfo moved = piece;
  moved.start = static_cast<uint64_t>(rc);
  moved.end = moved.start + new_r;
  moved.real = AgentAddr(real_new);
  if (!g_agent.regions.add(moved)) {
    // No slot (a piece of a mapping split off): the range cannot stay traced.
    real_munmap(reinterpret_cast<void*>(rc), new_r);
    real_munmap(reinterpret_cast<void*>(real_new), new_r);
    errno = ENOMEM;
    return MAP_FAILED;
  }
  return reinterpret_cast<void*>(rc);
}

}  // namespace

void* real_mmap(void* addr, size_t len, int prot, int flags, int fd, off_t off) {
  long rc = syscall(SYS_mmap, addr, len, prot, flags, fd, off);
  return rc == -1 ? MAP_FAILED : reinterpret_cast<void*>(rc);
}

int real_munmap(void* addr, size_t len) { return static_cast<int>(syscall(SYS_munmap, addr, len)); }

int real_mprotect(void* addr, size_t len, int prot) { return static_cast<int>(syscall(SYS_mprotect, addr, len, prot)); }

}  // namespace mmiotrace::agent

extern "C" {

__attribute__((visibility("default"))) void* mmap(void* addr, size_t len, int prot, int flags, int fd, off_t off) {
  using namespace mmiotrace::agent;
  if (!attached() || len == 0) return real_mmap(addr, len, prot, flags, fd, off);
  const auto start = reinterpret_cast<uint64_t>(addr);
  if ((flags & MAP_FIXED) != 0) {
    SignalsBlocked blocked;
    patch::code_unmapped(start, start + page_round_up(len));  // patched code replaced
  }
  if ((flags & MAP_FIXED) != 0 && g_agent.regions.overlaps(start, start + page_round_up(len))) {
    // MAP_FIXED replaces what was there, whatever the new mapping is: end the
    // old traced mapping first.
    SignalsBlocked blocked;
    if (!g_agent.regions.remove_range(start, start + page_round_up(len), on_removed, nullptr)) {
      errno = ENOMEM;
      return MAP_FAILED;
    }
    patch::after_device_unmap();
  }
  if (fd >= 0 && (flags & MAP_ANONYMOUS) == 0 && replay_forbids(fd)) {
    SafeBuf m;
    m.str("mmiotrace replay: refused to map descriptor ").dec(static_cast<uint64_t>(fd));
    m.str(": a device of this machine, which a replay never touches\n");
    m.write_to(STDERR_FILENO);
    errno = EACCES;
    return MAP_FAILED;
  }
  DeviceInfo dev;
  if (fd < 0 || (flags & MAP_ANONYMOUS) != 0 || !identify_device(fd, static_cast<uint64_t>(off), len, &dev)) {
    void* p = real_mmap(addr, len, prot, flags, fd, off);
    // Code the program maps itself, not through the loader (whose own mmap
    // calls do not come through here).
    if (p != MAP_FAILED && (prot & PROT_EXEC) != 0 && fd >= 0 && (flags & MAP_ANONYMOUS) == 0) {
      record_mmapped_code(fd, reinterpret_cast<uint64_t>(p), len, static_cast<uint64_t>(off));
    }
    return p;
  }
  return map_device(addr, len, prot, flags, fd, off, dev);
}

__attribute__((visibility("default"))) void* mmap64(void* addr, size_t len, int prot, int flags, int fd, off_t off) {
  return mmap(addr, len, prot, flags, fd, off);
}

__attribute__((visibility("default"))) int munmap(void* addr, size_t len) {
  using namespace mmiotrace::agent;
  const auto start = reinterpret_cast<uint64_t>(addr);
  const uint64_t end = start + page_round_up(len);
  if (attached() && len != 0) {
    SignalsBlocked blocked;
    patch::code_unmapped(start, end);  // patched code going away
  }
  if (!attached() || len == 0 || (start & (page_size() - 1)) != 0 || !g_agent.regions.overlaps(start, end)) {
    return real_munmap(addr, len);
  }
  {
    // Punching a hole splits a traced mapping: with no room for the piece,
    // fail as the kernel does when a split would exceed the mapping limit.
    SignalsBlocked blocked;
    if (!g_agent.regions.remove_range(start, end, on_removed, nullptr)) {
      errno = ENOMEM;
      return -1;
    }
    // Sites patched for this mapping get their own bytes back.
    patch::after_device_unmap();
  }
  return real_munmap(addr, len);
}

__attribute__((visibility("default"))) void* mremap(void* old, size_t old_len, size_t new_len, int flags,
                                                    ...) noexcept {
  using namespace mmiotrace::agent;
  uint64_t new_addr = 0;
  if ((flags & MREMAP_FIXED) != 0) {
    va_list ap;
    va_start(ap, flags);
    new_addr = reinterpret_cast<uint64_t>(va_arg(ap, void*));
    va_end(ap);
  }
  const auto start = reinterpret_cast<uint64_t>(old);
  const uint64_t old_end = start + page_round_up(old_len == 0 ? 1 : old_len);
  if (!attached() || (start & (page_size() - 1)) != 0 || new_len == 0 ||
      ((flags & MREMAP_FIXED) != 0 && (new_addr & (page_size() - 1)) != 0)) {
    return reinterpret_cast<void*>(sys_mremap(start, old_len, new_len, flags, new_addr));
  }
  if ((flags & MREMAP_FIXED) != 0 && g_agent.regions.overlaps(new_addr, new_addr + page_round_up(new_len)) &&
      !(new_addr < old_end && start < new_addr + page_round_up(new_len))) {
    // As MAP_FIXED: the target's old traced mapping ends first.
    SignalsBlocked blocked;
    if (!g_agent.regions.remove_range(new_addr, new_addr + page_round_up(new_len), on_removed, nullptr)) {
      errno = ENOMEM;
      return MAP_FAILED;
    }
    patch::after_device_unmap();
  }
  if (!g_agent.regions.overlaps(start, old_end)) {
    return reinterpret_cast<void*>(sys_mremap(start, old_len, new_len, flags, new_addr));
  }
  RegionInfo r;
  if (old_len == 0 || (flags & MREMAP_DONTUNMAP) != 0 || !g_agent.regions.find(start, &r) || old_end > r.end) {
    // Duplicating a traced mapping, keeping its old range, or a range that is
    // not all one traced mapping: not supported.
    errno = old_len == 0 || (flags & MREMAP_DONTUNMAP) != 0 ? EINVAL : EFAULT;
    return MAP_FAILED;
  }
  return remap_device(r, start, old_len, new_len, flags, new_addr);
}

__attribute__((visibility("default"))) int mprotect(void* addr, size_t len, int prot) {
  using namespace mmiotrace::agent;
  const auto start = reinterpret_cast<uint64_t>(addr);
  const uint64_t end = start + page_round_up(len);
  if (!attached() || (start & (page_size() - 1)) != 0 || !g_agent.regions.overlaps(start, end)) {
    return real_mprotect(addr, len, prot);
  }
  {
    SignalsBlocked blocked;
    if (!g_agent.regions.protect_range(start, end, prot, on_protected, nullptr)) {
      errno = ENOMEM;
      return -1;
    }
  }
  // Apply the change to everything but the traced pieces (which stay armed),
  // one gap at a time.
  uint64_t pos = start;
  while (pos < end) {
    RegionInfo r;
    if (g_agent.regions.find(pos, &r)) {
      pos = r.end < end ? r.end : end;
      continue;
    }
    uint64_t next = g_agent.regions.next_start_after(pos);
    uint64_t stop = next < end ? next : end;
    if (real_mprotect(reinterpret_cast<void*>(pos), stop - pos, prot) != 0) return -1;
    pos = stop;
  }
  return 0;
}

}  // extern "C"
