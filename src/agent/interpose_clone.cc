// glibc's clone(): a child made without CLONE_VM is a new process with a copy
// of the caller's memory, like fork, but glibc runs no atfork handlers for it.
// The interposer starts such a child through a trampoline that runs the
// agent's fork-child step first (after_fork_child: its own pid, no ring of
// the parent's, or, with record --no-follow, detaching), then the program's
// function.
//
// A child made with CLONE_VM shares the caller's memory (and, without
// CLONE_SETTLS, the calling thread's TLS, which holds the agent's per-thread
// state): it passes through untouched. posix_spawn and vfork make such
// children, which only exec or _exit; a CLONE_VM child that touches device
// memory itself is not supported (docs/record.md). A raw clone system call
// (syscall(SYS_clone, ...)) bypasses the interposer altogether.
//
// Normal context.
#include <dlfcn.h>
#include <sched.h>
#include <stdarg.h>
#include <sys/types.h>

#include "agent/agent.h"
#include "agent/patch/patcher.h"

namespace mmiotrace::agent {
namespace {

using CloneFn = int (*)(int (*)(void*), void*, int, void*, ...);
CloneFn g_real_clone = nullptr;

__attribute__((constructor(101))) void resolve_clone() {
  g_real_clone = reinterpret_cast<CloneFn>(dlsym(RTLD_NEXT, "clone"));
}

struct CloneStart {
  int (*fn)(void*);
  void* arg;
};

// Runs in the child. `start` lives on the parent's stack, of which the child
// has its own copy (no CLONE_VM).
int clone_trampoline(void* p) {
  const CloneStart start = *static_cast<CloneStart*>(p);
  after_fork_child();
  return start.fn(start.arg);
}

}  // namespace
}  // namespace mmiotrace::agent

extern "C" __attribute__((visibility("default"))) int clone(int (*fn)(void*), void* stack, int flags, void* arg, ...) {
  using namespace mmiotrace::agent;
  // The optional arguments, as glibc's own clone reads them: it uses each
  // only if `flags` asks for it.
  va_list ap;
  va_start(ap, arg);
  pid_t* parent_tid = va_arg(ap, pid_t*);
  void* tls = va_arg(ap, void*);
  pid_t* child_tid = va_arg(ap, pid_t*);
  va_end(ap);
  if (g_real_clone == nullptr) resolve_clone();  // called before the agent's constructor ran
  if (!attached() || (flags & CLONE_VM) != 0) return g_real_clone(fn, stack, flags, arg, parent_tid, tls, child_tid);
  CloneStart start{fn, arg};
  // As fork's atfork handlers: no code change is half done in the child
  // (clone_trampoline's after_fork_child releases the lock there).
  patch::fork_prepare();
  const int rc = g_real_clone(clone_trampoline, stack, flags, &start, parent_tid, tls, child_tid);
  patch::fork_parent();
  return rc;
}
