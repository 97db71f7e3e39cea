// Async-signal-safe: FastSection runs in the fast path (no allocation, no
// lock), defer_signal() in a signal handler. Initial-exec TLS and raw system
// calls.
#include "agent/signal_defer.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

#include "agent/producer.h"
#include "common/check.h"
#include "common/handler_rules.h"

MT_HANDLER_RULES

namespace mmiotrace::agent {

namespace {

constexpr unsigned kMaxDeferred = 8;

struct Deferred {
  unsigned n;        // entries of `info` in use
  unsigned extra;    // signals deferred beyond kMaxDeferred (bits of `extra_set`)
  sigset_t blocked;  // what the wrappers added to the thread's mask
  sigset_t extra_set;
  siginfo_t info[kMaxDeferred];
};

constinit thread_local Deferred tls_deferred __attribute__((tls_model("initial-exec"))) = {};

}  // namespace

constinit thread_local FastSectionState tls_fast_section __attribute__((tls_model("initial-exec"))) = {};

// Sends the deferred signals to this thread again and unblocks them: each is
// delivered on the way out of the sigprocmask call, to the program's handler.
void release_deferred() {
  Deferred& d = tls_deferred;
  tls_fast_section.pending = 0;
  siginfo_t info[kMaxDeferred];
  const unsigned n = d.n;
  memcpy(info, d.info, sizeof(siginfo_t) * n);
  sigset_t unblock = d.blocked;
  sigset_t extra = d.extra_set;
  const bool any_extra = d.extra != 0;
  d.n = 0;
  d.extra = 0;
  sigemptyset(&d.blocked);
  sigemptyset(&d.extra_set);
  const long pid = syscall(SYS_getpid);
  const long tid = current_tid();
  for (unsigned i = 0; i < n; ++i) syscall(SYS_rt_tgsigqueueinfo, pid, tid, info[i].si_signo, &info[i]);
  if (any_extra) {
    for (int sig = 1; sig < NSIG; ++sig) {
      if (sigismember(&extra, sig) == 1) syscall(SYS_tgkill, pid, tid, sig);
    }
  }
  syscall(SYS_rt_sigprocmask, SIG_UNBLOCK, &unblock, nullptr, sizeof(uint64_t));
}

void defer_signal(int sig, const siginfo_t* si, ucontext_t* uc) {
  Deferred& d = tls_deferred;
  tls_fast_section.pending = 1;
  sigaddset(&uc->uc_sigmask, sig);  // stays blocked after this handler returns
  if (sigismember(&d.blocked, sig) != 1) sigaddset(&d.blocked, sig);
  if (d.n < kMaxDeferred) {
    d.info[d.n] = *si;
    d.info[d.n].si_signo = sig;
    ++d.n;
  } else {
    sigaddset(&d.extra_set, sig);
    ++d.extra;
  }
}

}  // namespace mmiotrace::agent
