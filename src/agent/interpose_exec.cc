// The exec family and posix_spawn: programs the agent cannot enter. A traced
// process that execs (or spawns) a statically linked program, or one that is
// not x86-64, starts something LD_PRELOAD never reaches: it would run
// untraced without a word. Before the real call, the interposer looks at
// what the kernel will run (common/program_kind.h: PT_INTERP, #! scripts)
// and, if the agent cannot enter it, writes a warning on stderr and a MARK
// into the trace naming it; the exec then goes ahead. A program started with
// an environment that has lost the agent's LD_PRELOAD entry or
// MMIOTRACE_CHANNEL (`env -i`, a wrapper that cleans the environment) is
// reported the same way.
// Device mappings made by a raw mmap system call are reported before the
// process image goes (untraced_mappings.h).
//
// Normal context. exec may be called in a vfork child, which shares the
// parent's memory (and the calling thread's TLS): nothing here allocates or
// takes a lock; the MARK goes through the calling thread's ring, as the
// parent thread's own would (it is suspended until the exec).
#include <dlfcn.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/safe_format.h"
#include "agent/untraced_mappings.h"
#include "common/program_kind.h"
#include "trace/channel.h"

namespace mmiotrace::agent {
namespace {

using ExecveFn = int (*)(const char*, char* const[], char* const[]);
using ExecvpeFn = int (*)(const char*, char* const[], char* const[]);
using FexecveFn = int (*)(int, char* const[], char* const[]);
using SpawnFn = int (*)(pid_t*, const char*, const posix_spawn_file_actions_t*, const posix_spawnattr_t*, char* const[],
                        char* const[]);

struct RealExec {
  ExecveFn execve = nullptr;
  ExecvpeFn execvpe = nullptr;
  FexecveFn fexecve = nullptr;
  SpawnFn posix_spawn = nullptr;
  SpawnFn posix_spawnp = nullptr;
};
RealExec g_real;

// Resolved when the agent is loaded (dlsym may allocate: never in a vfork child).
__attribute__((constructor(101))) void resolve_exec() {
  g_real.execve = reinterpret_cast<ExecveFn>(dlsym(RTLD_NEXT, "execve"));
  g_real.execvpe = reinterpret_cast<ExecvpeFn>(dlsym(RTLD_NEXT, "execvpe"));
  g_real.fexecve = reinterpret_cast<FexecveFn>(dlsym(RTLD_NEXT, "fexecve"));
  g_real.posix_spawn = reinterpret_cast<SpawnFn>(dlsym(RTLD_NEXT, "posix_spawn"));
  g_real.posix_spawnp = reinterpret_cast<SpawnFn>(dlsym(RTLD_NEXT, "posix_spawnp"));
}

// The value of `name` in `envp`, or null.
const char* env_value(char* const envp[], const char* name) {
  const size_t n = strlen(name);
  for (char* const* e = envp; e != nullptr && *e != nullptr; ++e) {
    if (strncmp(*e, name, n) == 0 && (*e)[n] == '=') return *e + n + 1;
  }
  return nullptr;
}

// Whether a program started with `envp` loads the agent and finds the
// recording: MMIOTRACE_CHANNEL, and the agent (this process's first
// LD_PRELOAD entry, as record put it) in LD_PRELOAD.
bool environment_keeps_tracing(char* const envp[]) {
  if (env_value(envp, trace::kChannelEnv) == nullptr) return false;
  const char* ours = getenv("LD_PRELOAD");
  if (ours == nullptr) return true;  // the program changed its own: nothing to compare with
  const size_t agent_len = strcspn(ours, ": ");
  const char* theirs = env_value(envp, "LD_PRELOAD");
  if (theirs == nullptr) return false;
  for (const char* p = theirs; *p != '\0';) {
    const size_t len = strcspn(p, ": ");
    if (len == agent_len && strncmp(p, ours, len) == 0) return true;
    p += len;
    if (*p != '\0') ++p;
  }
  return false;
}

// The warning and the MARK for a program about to run untraced.
void report(const char* named, const char* runs, const char* why) {
  const auto pid = static_cast<uint64_t>(syscall(SYS_getpid));
  SafeBuf mark;
  mark.str("mmiotrace: process ").dec(pid).str(" execs ").str(named);
  if (strcmp(named, runs) != 0) mark.str(", which runs ").str(runs);
  mark.str(", which ").str(why).str(": not traced");
  emit_mark(mark.data(), mark.size());
  SafeBuf warning;
  warning.str("mmiotrace: warning: process ").dec(pid).str(" execs '").str(named).str("'");
  if (strcmp(named, runs) != 0) warning.str(", which runs '").str(runs).str("'");
  warning.str(", which ")
      .str(why)
      .str(
          ": the agent cannot enter it (it is loaded with LD_PRELOAD), so its device "
          "accesses are not traced\n");
  warning.write_to(STDERR_FILENO);
}

// Before a process image is replaced by `path` (as given to exec) with `envp`.
void before_exec(const char* path, char* const envp[]) {
  if (!attached() || path == nullptr) return;
  report_untraced_device_mappings();
  char runs[256];
  const ProgramKind kind = program_kind(path, runs, sizeof runs);
  const char* why = untraceable_reason(kind);
  if (*why == '\0' && kind == ProgramKind::DYNAMIC && !environment_keeps_tracing(envp))
    why = "gets an environment without the agent (LD_PRELOAD) or MMIOTRACE_CHANNEL";
  if (*why != '\0') report(path, runs, why);
}

// As execvp searches PATH for `file` (a name without '/'): the first
// executable file, in a stack buffer. Without PATH, glibc's default "/bin:/usr/bin".
void before_exec_search(const char* file, char* const envp[]) {
  if (!attached() || file == nullptr || *file == '\0') return;
  if (strchr(file, '/') != nullptr) return before_exec(file, envp);
  const char* path = getenv("PATH");
  if (path == nullptr) path = "/bin:/usr/bin";
  char candidate[512];
  for (const char* p = path;; ++p) {
    const char* end = strchrnul(p, ':');
    const size_t dir_len = static_cast<size_t>(end - p);
    const size_t file_len = strlen(file);
    if (dir_len + file_len + 2 <= sizeof candidate) {
      size_t n = 0;
      if (dir_len == 0) {
        candidate[n++] = '.';  // an empty PATH entry is the current folder
      } else {
        memcpy(candidate, p, dir_len);
        n = dir_len;
      }
      candidate[n++] = '/';
      memcpy(candidate + n, file, file_len + 1);
      if (syscall(SYS_faccessat, AT_FDCWD, candidate, X_OK) == 0) return before_exec(candidate, envp);
    }
    if (*end == '\0') return;
    p = end;
  }
}

}  // namespace
}  // namespace mmiotrace::agent

using mmiotrace::agent::before_exec;
using mmiotrace::agent::before_exec_search;
using mmiotrace::agent::g_real;

extern "C" {

__attribute__((visibility("default"))) int execve(const char* path, char* const argv[], char* const envp[]) {
  before_exec(path, envp);
  if (g_real.execve == nullptr) return static_cast<int>(syscall(SYS_execve, path, argv, envp));
  return g_real.execve(path, argv, envp);
}

__attribute__((visibility("default"))) int execv(const char* path, char* const argv[]) {
  return execve(path, argv, environ);
}

__attribute__((visibility("default"))) int execvpe(const char* file, char* const argv[], char* const envp[]) {
  before_exec_search(file, envp);
  if (g_real.execvpe == nullptr) mmiotrace::agent::resolve_exec();  // called before the agent's constructor
  return g_real.execvpe(file, argv, envp);
}

__attribute__((visibility("default"))) int execvp(const char* file, char* const argv[]) {
  return execvpe(file, argv, environ);
}

__attribute__((visibility("default"))) int fexecve(int fd, char* const argv[], char* const envp[]) {
  char name[32];
  snprintf(name, sizeof name, "/proc/self/fd/%d", fd);
  before_exec(name, envp);
  if (g_real.fexecve == nullptr) mmiotrace::agent::resolve_exec();
  return g_real.fexecve(fd, argv, envp);
}

__attribute__((visibility("default"))) int posix_spawn(pid_t* pid, const char* path,
                                                       const posix_spawn_file_actions_t* actions,
                                                       const posix_spawnattr_t* attr, char* const argv[],
                                                       char* const envp[]) {
  before_exec(path, envp);
  if (g_real.posix_spawn == nullptr) mmiotrace::agent::resolve_exec();
  return g_real.posix_spawn(pid, path, actions, attr, argv, envp);
}

__attribute__((visibility("default"))) int posix_spawnp(pid_t* pid, const char* file,
                                                        const posix_spawn_file_actions_t* actions,
                                                        const posix_spawnattr_t* attr, char* const argv[],
                                                        char* const envp[]) {
  before_exec_search(file, envp);
  if (g_real.posix_spawnp == nullptr) mmiotrace::agent::resolve_exec();
  return g_real.posix_spawnp(pid, file, actions, attr, argv, envp);
}

// execl, execle, execlp: glibc's own call its internal execve, which no
// interposer sees, so they are rebuilt here on the ones above. The argument
// list (`first`, which glibc declares non-null, the variadic ones, the
// terminating NULL) goes on the stack, as glibc does; `ap` is left after the
// NULL (where execle's envp is). `argv` names the array it declares, so it
// cannot be parenthesized.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define MT_COLLECT_ARGS(first, ap, argv)                                            \
  size_t count = 1;                                                                 \
  {                                                                                 \
    va_list probe;                                                                  \
    va_copy(probe, ap);                                                             \
    while (va_arg(probe, char*) != nullptr) ++count;                                \
    va_end(probe);                                                                  \
  }                                                                                 \
  char** argv = static_cast<char**>(__builtin_alloca((count + 1) * sizeof(char*))); \
  argv[0] = const_cast<char*>(first);                                               \
  for (size_t i = 1; i <= count; ++i) argv[i] = va_arg(ap, char*);
// NOLINTEND(bugprone-macro-parentheses)

__attribute__((visibility("default"))) int execl(const char* path, const char* arg, ...) {
  va_list ap;
  va_start(ap, arg);
  MT_COLLECT_ARGS(arg, ap, argv)
  va_end(ap);
  return execve(path, argv, environ);
}

__attribute__((visibility("default"))) int execle(const char* path, const char* arg, ...) {
  va_list ap;
  va_start(ap, arg);
  MT_COLLECT_ARGS(arg, ap, argv)
  char* const* envp = va_arg(ap, char* const*);
  va_end(ap);
  return execve(path, argv, envp);
}

__attribute__((visibility("default"))) int execlp(const char* file, const char* arg, ...) {
  va_list ap;
  va_start(ap, arg);
  MT_COLLECT_ARGS(arg, ap, argv)
  va_end(ap);
  return execvp(file, argv);
}

#undef MT_COLLECT_ARGS

}  // extern "C"
