// Async-signal-safe, allocation-free: raw system calls and stack buffers only
// (see program_kind.h).
#include "common/program_kind.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

namespace mmiotrace {
namespace {

long sys_open(const char* path) { return syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC); }
long sys_pread(long fd, void* buf, size_t n, off_t off) { return syscall(SYS_pread64, fd, buf, n, off); }
void sys_close(long fd) { syscall(SYS_close, fd); }

void copy_path(const char* from, size_t n, char* to, size_t cap) {
  if (cap == 0) return;
  if (n >= cap) n = cap - 1;
  memcpy(to, from, n);
  to[n] = '\0';
}

// The dynamic loader runs programs too (`ld-linux-x86-64.so.2 ./prog`), and
// has no PT_INTERP of its own: it is the file some program names in its
// PT_INTERP. Compared with the loader that loaded this process, by inode.
bool is_this_process_loader(const struct stat& st) {
  const long fd = sys_open("/proc/self/exe");
  if (fd < 0) return false;
  Elf64_Ehdr eh;
  bool same = false;
  if (sys_pread(fd, &eh, sizeof eh, 0) == static_cast<long>(sizeof eh) && eh.e_phentsize == sizeof(Elf64_Phdr)) {
    for (unsigned i = 0; i < eh.e_phnum && i < 256 && !same; ++i) {
      Elf64_Phdr ph;
      if (sys_pread(fd, &ph, sizeof ph, static_cast<off_t>(eh.e_phoff + i * sizeof ph)) != sizeof ph) break;
      if (ph.p_type != PT_INTERP || ph.p_filesz == 0 || ph.p_filesz > 255) continue;
      char interp[256];
      if (sys_pread(fd, interp, ph.p_filesz, static_cast<off_t>(ph.p_offset)) != static_cast<long>(ph.p_filesz)) break;
      interp[ph.p_filesz] = '\0';
      struct stat lst;
      same =
          syscall(SYS_newfstatat, AT_FDCWD, interp, &lst, 0) == 0 && lst.st_dev == st.st_dev && lst.st_ino == st.st_ino;
    }
  }
  sys_close(fd);
  return same;
}

// The kind of one ELF file open as `fd`, or OTHER if it is not ELF.
ProgramKind elf_kind(long fd, const unsigned char* head, long got) {
  if (got < static_cast<long>(EI_NIDENT) || memcmp(head, ELFMAG, SELFMAG) != 0) return ProgramKind::OTHER;
  if (head[EI_CLASS] != ELFCLASS64 || got < static_cast<long>(sizeof(Elf64_Ehdr))) return ProgramKind::FOREIGN;
  Elf64_Ehdr eh;
  memcpy(&eh, head, sizeof eh);
  if (eh.e_machine != EM_X86_64) return ProgramKind::FOREIGN;
  if (eh.e_phentsize != sizeof(Elf64_Phdr)) return ProgramKind::OTHER;
  for (unsigned i = 0; i < eh.e_phnum && i < 4096; ++i) {
    Elf64_Phdr ph;
    if (sys_pread(fd, &ph, sizeof ph, static_cast<off_t>(eh.e_phoff + i * sizeof ph)) != sizeof ph) {
      return ProgramKind::OTHER;
    }
    if (ph.p_type == PT_INTERP) return ProgramKind::DYNAMIC;
  }
  struct stat st;
  if (eh.e_type == ET_DYN && syscall(SYS_fstat, fd, &st) == 0 && is_this_process_loader(st)) {
    return ProgramKind::DYNAMIC;
  }
  return ProgramKind::STATIC;
}

}  // namespace

ProgramKind program_kind(const char* path, char* runs, size_t runs_cap) {
  char current[256];
  copy_path(path, strnlen(path, sizeof current), current, sizeof current);
  // The kernel follows at most 4 levels of #! interpreters (BINPRM_MAX_RECURSION).
  for (int depth = 0; depth < 5; ++depth) {
    copy_path(current, strlen(current), runs, runs_cap);
    const long fd = sys_open(current);
    if (fd < 0) return ProgramKind::OTHER;
    unsigned char head[256];
    const long got = sys_pread(fd, head, sizeof head, 0);
    if (got >= 2 && head[0] == '#' && head[1] == '!') {
      sys_close(fd);
      // "#!" [spaces] interpreter [spaces argument]: the interpreter ends at a blank or the line's end.
      long i = 2;
      while (i < got && (head[i] == ' ' || head[i] == '\t')) ++i;
      const long start = i;
      while (i < got && head[i] != ' ' && head[i] != '\t' && head[i] != '\n') ++i;
      if (i == start) return ProgramKind::OTHER;
      copy_path(reinterpret_cast<const char*>(head) + start, static_cast<size_t>(i - start), current, sizeof current);
      continue;
    }
    const ProgramKind kind = elf_kind(fd, head, got);
    sys_close(fd);
    return kind;
  }
  return ProgramKind::OTHER;
}

const char* untraceable_reason(ProgramKind kind) {
  switch (kind) {
    case ProgramKind::STATIC:
      return "is statically linked";
    case ProgramKind::FOREIGN:
      return "is not an x86-64 program";
    case ProgramKind::DYNAMIC:
    case ProgramKind::OTHER:
      break;
  }
  return "";
}

}  // namespace mmiotrace
