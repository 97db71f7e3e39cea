// The traced program's code mappings as CODEMAP records (code_maps.h).
//
// Normal context: the agent's constructor, the fork child's atfork step, the
// dlopen and mmap interposers. Records are stamped with every signal but the
// agent's own blocked (SignalsBlocked), because the fault handler takes the
// same order lock.
//
// Every record sent is also kept in a fixed arena (no allocation), so that a
// forked child can send its parent's code maps again under its own pid
// without asking the loader, and so that an object is sent once.
#include "agent/code_maps.h"

#include <elf.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

#include "agent/agent.h"
#include "agent/producer.h"
#include "trace/encode.h"
#include "trace/format.h"

namespace mmiotrace::agent {

namespace {

// Records sent so far, back to back. 256 KiB holds well over a thousand
// objects' segments; past that, new code maps are still sent but a forked
// child does not repeat them.
constexpr size_t kArenaBytes = 256 * 1024;
alignas(8) uint8_t g_arena[kArenaBytes];
std::atomic<size_t> g_arena_used{0};    // published with release once a record is complete
std::atomic<bool> g_lock{false};        // writers (threads that dlopen or mmap at once)
uint64_t g_loader_adds = ~uint64_t{0};  // dlpi_adds at the last look, under g_lock

class ArenaLock {
 public:
  ArenaLock() {
    while (g_lock.exchange(true, std::memory_order_acquire)) sched_yield();
  }
  ~ArenaLock() { g_lock.store(false, std::memory_order_release); }
  ArenaLock(const ArenaLock&) = delete;
  ArenaLock& operator=(const ArenaLock&) = delete;
};

uint64_t page_size() {
  static const auto size = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  return size;
}

// Whether a record for the same range and path was sent already.
bool already_sent(uint64_t virt, uint64_t len, const char* path, size_t path_len) {
  const size_t used = g_arena_used.load(std::memory_order_acquire);
  for (size_t pos = 0; pos < used;) {
    trace::CodeMapRecord r;
    std::memcpy(&r, g_arena + pos, sizeof r);
    if (r.virt == virt && r.len == len && r.path_len == path_len &&
        std::memcmp(g_arena + pos + sizeof r + r.build_id_len, path, path_len) == 0) {
      return true;
    }
    pos += r.h.size;
  }
  return false;
}

// Sends one record and keeps a copy (under ArenaLock). `first` flags it as
// the first of this process's address space.
void send(trace::CodeMapFields& f, bool first) {
  if (first) f.flags |= trace::kCodeMapFirst;
  alignas(8) uint8_t buf[trace::record_size_for_codemap(trace::kMaxBuildId, PATH_MAX)];
  const size_t n = trace::encode_codemap(buf, sizeof buf, trace::RecordStamp{0, 0, current_tid()}, f);
  if (n == 0) return;
  const size_t used = g_arena_used.load(std::memory_order_relaxed);
  if (used + n <= kArenaBytes) {
    std::memcpy(g_arena + used, buf, n);
    // The copy is kept without kCodeMapFirst: a child sets it on its own first.
    auto* kept = reinterpret_cast<trace::CodeMapRecord*>(g_arena + used);
    kept->flags = static_cast<uint16_t>(kept->flags & ~trace::kCodeMapFirst);
    g_arena_used.store(used + n, std::memory_order_release);
  }
  SignalsBlocked blocked;
  stamp_and_push(buf, n);
}

void fill_file_facts(const struct stat& st, trace::CodeMapFields& f) {
  f.mtime_ns = static_cast<uint64_t>(st.st_mtim.tv_sec) * 1000000000u + static_cast<uint64_t>(st.st_mtim.tv_nsec);
  f.file_size = static_cast<uint64_t>(st.st_size);
  f.inode = st.st_ino;
}

// The GNU build-id in a note segment's bytes; its length, or 0.
size_t find_build_id(const uint8_t* notes, size_t size, size_t align, const uint8_t** id) {
  const size_t a = align == 8 ? 8 : 4;
  size_t pos = 0;
  while (pos + sizeof(Elf64_Nhdr) <= size) {
    Elf64_Nhdr n;
    std::memcpy(&n, notes + pos, sizeof n);
    const size_t name_at = pos + sizeof n;
    const size_t desc_at = name_at + ((n.n_namesz + a - 1) & ~(a - 1));
    const size_t next = desc_at + ((n.n_descsz + a - 1) & ~(a - 1));
    if (desc_at + n.n_descsz > size || next <= pos) return 0;
    if (n.n_type == NT_GNU_BUILD_ID && n.n_namesz == 4 && std::memcmp(notes + name_at, "GNU", 4) == 0) {
      if (n.n_descsz == 0 || n.n_descsz > trace::kMaxBuildId) return 0;
      *id = notes + desc_at;
      return n.n_descsz;
    }
    pos = next;
  }
  return 0;
}

struct Scan {
  bool first_call = true;
  bool first_record = false;  // the next record sent is the address space's first
  bool stop = false;          // nothing was added since the last look
};

// One object the loader has mapped: a record per executable PT_LOAD segment.
int on_object(struct dl_phdr_info* info, size_t, void* data) {
  auto* scan = static_cast<Scan*>(data);
  if (scan->first_call) {
    scan->first_call = false;
    if (info->dlpi_adds == g_loader_adds) {
      scan->stop = true;
      return 1;
    }
    g_loader_adds = info->dlpi_adds;
  }
  char path[PATH_MAX];
  const char* name = info->dlpi_name;
  if (name == nullptr || name[0] == '\0') {
    // The program itself (the loader lists it first, without a name).
    const ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    if (n <= 0) return 0;
    path[n] = '\0';
  } else if (std::strchr(name, '/') == nullptr || realpath(name, path) == nullptr) {
    return 0;  // the vDSO (no file), or a file that is gone
  }
  const uint8_t* build_id = nullptr;
  size_t build_id_len = 0;
  for (int i = 0; i < info->dlpi_phnum && build_id_len == 0; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_NOTE) continue;
    build_id_len = find_build_id(reinterpret_cast<const uint8_t*>(info->dlpi_addr + ph.p_vaddr), ph.p_memsz, ph.p_align,
                                 &build_id);
  }
  trace::CodeMapFields f;
  struct stat st;
  if (stat(path, &st) == 0) fill_file_facts(st, f);
  f.pid = g_agent.pid;
  f.build_id = build_id;
  f.build_id_len = static_cast<uint8_t>(build_id_len);
  f.path = path;
  f.path_len = static_cast<uint16_t>(std::strlen(path));
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || (ph.p_flags & PF_X) == 0) continue;
    // The kernel maps whole pages: the segment's first page holds the file
    // bytes from the page-aligned offset on.
    const uint64_t start = (info->dlpi_addr + ph.p_vaddr) & ~(page_size() - 1);
    const uint64_t end = (info->dlpi_addr + ph.p_vaddr + ph.p_memsz + page_size() - 1) & ~(page_size() - 1);
    f.virt = start;
    f.len = end - start;
    f.file_offset = ph.p_offset & ~(page_size() - 1);
    f.elf_vaddr = start - info->dlpi_addr;
    if (already_sent(f.virt, f.len, path, f.path_len)) continue;
    send(f, scan->first_record);
    scan->first_record = false;
  }
  return 0;
}

// The build-id of an ELF file (read from its note segments with pread), and
// the ELF virtual address of its byte at `off` (into `f`; left as they are if
// the file is not an ELF file, or no PT_LOAD holds `off`).
void read_elf_facts(int fd, uint64_t off, trace::CodeMapFields& f, uint8_t (&id_out)[trace::kMaxBuildId]) {
  Elf64_Ehdr eh;
  if (pread(fd, &eh, sizeof eh, 0) != static_cast<ssize_t>(sizeof eh) ||
      std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
      eh.e_phentsize != sizeof(Elf64_Phdr)) {
    return;
  }
  for (unsigned i = 0; i < eh.e_phnum && i < 256; ++i) {
    Elf64_Phdr ph;
    if (pread(fd, &ph, sizeof ph, static_cast<off_t>(eh.e_phoff + i * sizeof ph)) != static_cast<ssize_t>(sizeof ph))
      return;
    if (ph.p_type == PT_LOAD && off >= ph.p_offset && off - ph.p_offset < ph.p_filesz) {
      f.elf_vaddr = ph.p_vaddr + (off - ph.p_offset);
    }
    if (ph.p_type != PT_NOTE || f.build_id_len != 0) continue;
    uint8_t notes[1024];
    const size_t size = ph.p_filesz < sizeof notes ? ph.p_filesz : sizeof notes;
    if (pread(fd, notes, size, static_cast<off_t>(ph.p_offset)) != static_cast<ssize_t>(size)) continue;
    const uint8_t* id = nullptr;
    const size_t n = find_build_id(notes, size, ph.p_align, &id);
    if (n != 0) {
      std::memcpy(id_out, id, n);
      f.build_id = id_out;
      f.build_id_len = static_cast<uint8_t>(n);
    }
  }
}

}  // namespace

void record_code_maps_at_start() {
  ArenaLock lock;
  Scan scan;
  scan.first_record = true;
  dl_iterate_phdr(on_object, &scan);
}

void record_new_code_maps() {
  ArenaLock lock;
  Scan scan;
  dl_iterate_phdr(on_object, &scan);
}

void record_code_maps_in_child() {
  // The only thread: a parent thread that held the lock at fork is not here.
  g_lock.store(false, std::memory_order_relaxed);
  ArenaLock lock;
  const size_t used = g_arena_used.load(std::memory_order_acquire);
  alignas(8) uint8_t buf[trace::record_size_for_codemap(trace::kMaxBuildId, PATH_MAX)];
  bool first = true;
  for (size_t pos = 0; pos < used;) {
    trace::CodeMapRecord r;
    std::memcpy(&r, g_arena + pos, sizeof r);
    std::memcpy(buf, g_arena + pos, r.h.size);
    auto* rec = reinterpret_cast<trace::CodeMapRecord*>(buf);
    rec->pid = g_agent.pid;
    rec->h.tid = current_tid();
    if (first) rec->flags = static_cast<uint16_t>(rec->flags | trace::kCodeMapFirst);
    first = false;
    {
      SignalsBlocked blocked;
      stamp_and_push(buf, r.h.size);
    }
    pos += r.h.size;
  }
}

void record_mmapped_code(int fd, uint64_t addr, uint64_t len, uint64_t off) {
  char link[64] = "/proc/self/fd/";
  char digits[16];
  int nd = 0;
  for (unsigned v = static_cast<unsigned>(fd); nd == 0 || v != 0; v /= 10)
    digits[nd++] = static_cast<char>('0' + v % 10);
  size_t at = std::strlen(link);
  while (nd > 0) link[at++] = digits[--nd];
  link[at] = '\0';
  char path[PATH_MAX];
  const ssize_t n = readlink(link, path, sizeof path - 1);
  if (n <= 0 || path[0] != '/') return;  // not a file (a memfd shows "/memfd:..." and is kept: it has a name)
  path[n] = '\0';
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return;
  uint8_t id[trace::kMaxBuildId];
  trace::CodeMapFields f;
  fill_file_facts(st, f);
  f.virt = addr;
  f.len = (len + page_size() - 1) & ~(page_size() - 1);
  f.file_offset = off;
  f.elf_vaddr = off;
  f.pid = g_agent.pid;
  f.flags = trace::kCodeMapMmap;
  read_elf_facts(fd, off, f, id);
  f.path = path;
  f.path_len = static_cast<uint16_t>(n);
  ArenaLock lock;
  send(f, false);
}

}  // namespace mmiotrace::agent
