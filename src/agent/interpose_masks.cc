// The calls that install a temporary signal mask while they wait: sigsuspend,
// pselect, ppoll, epoll_pwait, epoll_pwait2. Like pthread_sigmask
// (interpose_signal.cc), the mask they get never blocks the agent's signals
// (kAgentSignals): a handler that runs while the thread waits, or any fault,
// must still reach the agent's handler. sigwait, sigwaitinfo and
// sigtimedwait are not interposed: they wait for signals, they do not block
// them, and the agent's signals are never waited for.
//
// Not covered: a program that makes the system call itself
// (syscall(SYS_rt_sigprocmask, ...), or rt_sigsuspend and the others through
// syscall()) bypasses every interposer; its mask takes effect as given.
//
// Normal context (each interposer runs in the program's thread; a signal
// handler of the program may call sigsuspend, which is async-signal-safe,
// and so are these: a copy of the mask and one call).
#include <dlfcn.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>

#include "agent/agent.h"

namespace mmiotrace::agent {
namespace {

using SigsuspendFn = int (*)(const sigset_t*);
using PselectFn = int (*)(int, fd_set*, fd_set*, fd_set*, const struct timespec*, const sigset_t*);
using PpollFn = int (*)(struct pollfd*, nfds_t, const struct timespec*, const sigset_t*);
using EpollPwaitFn = int (*)(int, struct epoll_event*, int, int, const sigset_t*);
using EpollPwait2Fn = int (*)(int, struct epoll_event*, int, const struct timespec*, const sigset_t*);

SigsuspendFn g_sigsuspend = nullptr;
PselectFn g_pselect = nullptr;
PpollFn g_ppoll = nullptr;
EpollPwaitFn g_epoll_pwait = nullptr;
EpollPwait2Fn g_epoll_pwait2 = nullptr;

// Resolved when the agent is loaded, never in a signal handler (dlsym is not
// async-signal-safe); on first use if a constructor that ran before the
// agent's calls one.
__attribute__((constructor(101))) void resolve_mask_calls() {
  g_sigsuspend = reinterpret_cast<SigsuspendFn>(dlsym(RTLD_NEXT, "sigsuspend"));
  g_pselect = reinterpret_cast<PselectFn>(dlsym(RTLD_NEXT, "pselect"));
  g_ppoll = reinterpret_cast<PpollFn>(dlsym(RTLD_NEXT, "ppoll"));
  g_epoll_pwait = reinterpret_cast<EpollPwaitFn>(dlsym(RTLD_NEXT, "epoll_pwait"));
  g_epoll_pwait2 = reinterpret_cast<EpollPwait2Fn>(dlsym(RTLD_NEXT, "epoll_pwait2"));
}

// The mask to install: the program's without kAgentSignals. A null mask (no
// change) stays null.
const sigset_t* filtered(const sigset_t* mask, sigset_t* copy) {
  if (mask == nullptr || !attached()) return mask;
  *copy = *mask;
  remove_agent_signals(copy);
  return copy;
}

}  // namespace
}  // namespace mmiotrace::agent

extern "C" {

__attribute__((visibility("default"))) int sigsuspend(const sigset_t* mask) {
  using namespace mmiotrace::agent;
  if (g_sigsuspend == nullptr) resolve_mask_calls();
  sigset_t copy;
  return g_sigsuspend(filtered(mask, &copy));
}

__attribute__((visibility("default"))) int pselect(int n, fd_set* r, fd_set* w, fd_set* e, const struct timespec* t,
                                                   const sigset_t* mask) {
  using namespace mmiotrace::agent;
  if (g_pselect == nullptr) resolve_mask_calls();
  sigset_t copy;
  return g_pselect(n, r, w, e, t, filtered(mask, &copy));
}

__attribute__((visibility("default"))) int ppoll(struct pollfd* fds, nfds_t n, const struct timespec* t,
                                                 const sigset_t* mask) {
  using namespace mmiotrace::agent;
  if (g_ppoll == nullptr) resolve_mask_calls();
  sigset_t copy;
  return g_ppoll(fds, n, t, filtered(mask, &copy));
}

__attribute__((visibility("default"))) int epoll_pwait(int fd, struct epoll_event* ev, int max, int timeout,
                                                       const sigset_t* mask) {
  using namespace mmiotrace::agent;
  if (g_epoll_pwait == nullptr) resolve_mask_calls();
  sigset_t copy;
  return g_epoll_pwait(fd, ev, max, timeout, filtered(mask, &copy));
}

__attribute__((visibility("default"))) int epoll_pwait2(int fd, struct epoll_event* ev, int max,
                                                        const struct timespec* t, const sigset_t* mask) {
  using namespace mmiotrace::agent;
  if (g_epoll_pwait2 == nullptr) resolve_mask_calls();
  sigset_t copy;
  return g_epoll_pwait2(fd, ev, max, t, filtered(mask, &copy));
}

}  // extern "C"
