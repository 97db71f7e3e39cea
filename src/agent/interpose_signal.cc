// The program's signal dispositions for the signals the agent owns (SIGSEGV
// and SIGBUS). The agent's handler stays installed whatever the program does:
// the program's sigaction/signal calls are recorded here and answered as if
// they had taken effect, and faults that are not the tracer's are handed to
// the program's handler, or to the default action, by forward_signal().
//
// Async-signal-safe: forward_signal() runs in the signal handler; the saved
// actions are read through a seqlock, never a lock. The interposers run in
// normal context.
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

#include "agent/agent.h"
#include "agent/exit_barrier.h"
#include "agent/patch/patcher.h"
#include "agent/producer.h"
#include "agent/signal_defer.h"
#include "common/handler_rules.h"

MT_HANDLER_RULES

namespace mmiotrace::agent {

namespace {

using SigactionFn = int (*)(int, const struct sigaction*, struct sigaction*);
using SigmaskFn = int (*)(int, const sigset_t*, sigset_t*);
SigactionFn g_real_sigaction = nullptr;
SigmaskFn g_real_sigmask = nullptr;

struct SavedAction {
  std::atomic<uint32_t> gen{0};
  struct sigaction act;  // what the program believes is installed
};
constexpr size_t kOwned = sizeof(kAgentSignals) / sizeof(kAgentSignals[0]);
SavedAction g_saved[kOwned];  // the program's action for each of kAgentSignals, in its order
std::atomic<bool> g_saved_lock{false};

SavedAction* saved_for(int sig) {
  for (size_t i = 0; i < kOwned; ++i) {
    if (kAgentSignals[i] == sig) return &g_saved[i];
  }
  return nullptr;
}

struct sigaction load_saved(SavedAction* s) {
  for (;;) {
    uint32_t g = s->gen.load(std::memory_order_acquire);
    if (g & 1u) continue;
    struct sigaction copy;
    memcpy(&copy, &s->act, sizeof(copy));
    std::atomic_thread_fence(std::memory_order_acquire);
    if (s->gen.load(std::memory_order_relaxed) == g) return copy;
  }
}

void store_saved(SavedAction* s, const struct sigaction& act) {
  while (g_saved_lock.exchange(true, std::memory_order_acquire)) __builtin_ia32_pause();
  s->gen.fetch_add(1, std::memory_order_acq_rel);
  std::atomic_thread_fence(std::memory_order_release);
  memcpy(&s->act, &act, sizeof(act));
  s->gen.fetch_add(1, std::memory_order_release);
  g_saved_lock.store(false, std::memory_order_release);
}

bool is_default_or_ignore(const struct sigaction& a) {
  return !(a.sa_flags & SA_SIGINFO) && (a.sa_handler == SIG_DFL || a.sa_handler == SIG_IGN);
}

// Makes the process die by `sig` now, as the kernel's default action would.
void die_by(int sig, siginfo_t* info, bool reraise) {
  exit_barrier();
  struct sigaction dfl;
  memset(&dfl, 0, sizeof(dfl));
  dfl.sa_handler = SIG_DFL;
  g_real_sigaction(sig, &dfl, nullptr);
  if (!reraise) return;  // the faulting instruction re-runs and faults again
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  real_sigmask(SIG_UNBLOCK, &set, nullptr);
  info->si_signo = sig;
  syscall(SYS_rt_tgsigqueueinfo, getpid(), static_cast<pid_t>(current_tid()), sig, info);
}

// The program's handlers of the other signals, while patching is on: the
// kernel runs mt_signal_wrapper, which defers the program's handler while the
// thread is in the fast path's critical part (signal_defer.h).
SavedAction g_wrapped[NSIG];
std::atomic<bool> g_wrapped_set[NSIG];

bool is_handler(const struct sigaction& a) { return !is_default_or_ignore(a); }

bool wraps(int sig) {
  return attached() && patch::enabled() && sig > 0 && sig < NSIG && sig != SIGKILL && sig != SIGSTOP;
}

// What the kernel gets for the program's action `a`: the wrapper in place of
// its handler, its mask without the agent's signals.
struct sigaction wrapped_action(const struct sigaction& a);

}  // namespace

extern "C" void mt_signal_wrapper(int sig, siginfo_t* si, void* ucv) {
  auto* uc = static_cast<ucontext_t*>(ucv);
  struct sigaction a = load_saved(&g_wrapped[sig]);
  if (in_fast_section()) {
    const int saved_errno = errno;
    // The kernel reset a one-shot handler for this delivery: put the wrapper
    // back, so that the re-sent signal reaches the program's handler.
    if (a.sa_flags & SA_RESETHAND) {
      const struct sigaction w = wrapped_action(a);
      g_real_sigaction(sig, &w, nullptr);
    }
    defer_signal(sig, si, uc);
    errno = saved_errno;
    return;
  }
  if (a.sa_flags & SA_RESETHAND) {
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    store_saved(&g_wrapped[sig], dfl);
  }
  if (!is_handler(a)) return;  // changed meanwhile
  // Interrupted at an instruction's copy in a trampoline: the program sees its own code.
  patch::frame_to_original(uc);
  if (a.sa_flags & SA_SIGINFO) {
    a.sa_sigaction(sig, si, uc);
  } else {
    a.sa_handler(sig);
  }
}

namespace {

struct sigaction wrapped_action(const struct sigaction& a) {
  struct sigaction w = a;
  remove_agent_signals(&w.sa_mask);
  if (is_handler(a)) {
    w.sa_sigaction = mt_signal_wrapper;
    w.sa_flags |= SA_SIGINFO;
  }
  return w;
}

}  // namespace

int real_sigaction(int sig, const struct sigaction* act, struct sigaction* old) {
  return g_real_sigaction(sig, act, old);
}

int real_sigmask(int how, const sigset_t* set, sigset_t* old) { return g_real_sigmask(how, set, old); }

bool is_owned_signal(int sig) { return saved_for(sig) != nullptr; }

void forward_signal(int sig, siginfo_t* info, ucontext_t* uc, bool synthetic) {
  SavedAction* s = saved_for(sig);
  struct sigaction a = load_saved(s);
  // A signal someone sent (kill, sigqueue, raise) is not raised again by
  // re-running the instruction.
  const bool sent = info->si_code <= 0;
  if (is_default_or_ignore(a)) {
    if (a.sa_handler == SIG_IGN && sent) return;  // an ignored sent signal is dropped
    // A fault with SIGSEGV/SIGBUS ignored kills the process all the same (the
    // kernel's force_sig_fault), so both end here.
    die_by(sig, info, synthetic || sent);
    return;
  }
  sigset_t mask = uc->uc_sigmask;
  sigorset(&mask, &mask, &a.sa_mask);
  if (!(a.sa_flags & SA_NODEFER)) sigaddset(&mask, sig);
  // The tracer's own signals stay deliverable, so that the program's handler
  // can touch device memory.
  remove_agent_signals(&mask);
  if (a.sa_flags & SA_RESETHAND) {
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    store_saved(s, dfl);
  }
  sigset_t before;
  real_sigmask(SIG_SETMASK, &mask, &before);
  if (a.sa_flags & SA_SIGINFO) {
    a.sa_sigaction(sig, info, uc);
  } else {
    a.sa_handler(sig);
  }
  real_sigmask(SIG_SETMASK, &before, nullptr);
}

void restore_program_dispositions() {
  for (int sig : {SIGSEGV, SIGBUS}) {
    struct sigaction a = load_saved(saved_for(sig));
    g_real_sigaction(sig, &a, nullptr);
  }
  for (int sig = 1; sig < NSIG; ++sig) {
    if (!g_wrapped_set[sig].load(std::memory_order_acquire)) continue;
    struct sigaction a = load_saved(&g_wrapped[sig]);
    g_real_sigaction(sig, &a, nullptr);
  }
}

void init_signal_interposition() {
  g_real_sigmask = reinterpret_cast<SigmaskFn>(dlsym(RTLD_NEXT, "pthread_sigmask"));
  g_real_sigaction = reinterpret_cast<SigactionFn>(dlsym(RTLD_NEXT, "sigaction"));
  if (g_real_sigaction == nullptr) g_real_sigaction = reinterpret_cast<SigactionFn>(dlsym(RTLD_DEFAULT, "__sigaction"));
  for (int sig : kAgentSignals) {
    struct sigaction cur;
    memset(&cur, 0, sizeof(cur));
    g_real_sigaction(sig, nullptr, &cur);
    store_saved(saved_for(sig), cur);
  }
}

}  // namespace mmiotrace::agent

using mmiotrace::agent::attached;
using mmiotrace::agent::g_real_sigaction;
using mmiotrace::agent::g_real_sigmask;

namespace mmiotrace::agent {
namespace {

// sigaction() for a signal whose handler the agent wraps.
int wrapped_sigaction(int sig, const struct sigaction* act, struct sigaction* old) {
  const bool known = g_wrapped_set[sig].load(std::memory_order_acquire);
  struct sigaction before;
  if (known) before = load_saved(&g_wrapped[sig]);
  struct sigaction kernel_old;
  int rc = 0;
  if (act != nullptr) {
    const struct sigaction w = wrapped_action(*act);
    rc = g_real_sigaction(sig, &w, &kernel_old);
    if (rc != 0) return rc;
    store_saved(&g_wrapped[sig], *act);
    g_wrapped_set[sig].store(true, std::memory_order_release);
  } else if (!known) {
    rc = g_real_sigaction(sig, nullptr, &kernel_old);
    if (rc != 0) return rc;
  }
  if (old != nullptr) *old = known ? before : kernel_old;
  return 0;
}

}  // namespace
}  // namespace mmiotrace::agent

extern "C" {

__attribute__((visibility("default"))) int sigaction(int sig, const struct sigaction* act, struct sigaction* old) {
  using namespace mmiotrace::agent;
  if (g_real_sigaction == nullptr) init_signal_interposition();
  if (!attached()) return g_real_sigaction(sig, act, old);
  if (!is_owned_signal(sig)) {
    if (wraps(sig)) return wrapped_sigaction(sig, act, old);
    if (act == nullptr) return g_real_sigaction(sig, act, old);
    // A handler's sa_mask is blocked while it runs: it must not block the
    // agent's signals, or the handler's first device access would kill.
    struct sigaction copy = *act;
    remove_agent_signals(&copy.sa_mask);
    return g_real_sigaction(sig, &copy, old);
  }
  SavedAction* s = saved_for(sig);
  if (old != nullptr) *old = load_saved(s);
  if (act != nullptr) store_saved(s, *act);
  return 0;
}

// SIGSEGV and SIGBUS are how the tracer sees device accesses: a thread that
// blocked them would be killed by its first one (the kernel does not queue a
// blocked fault). Masks the program sets keep kAgentSignals deliverable.
__attribute__((visibility("default"))) int pthread_sigmask(int how, const sigset_t* set, sigset_t* old) {
  using namespace mmiotrace::agent;
  if (g_real_sigmask == nullptr) init_signal_interposition();  // called before the agent's constructor
  if (set == nullptr || how == SIG_UNBLOCK || !attached()) return g_real_sigmask(how, set, old);
  sigset_t copy = *set;
  remove_agent_signals(&copy);
  return g_real_sigmask(how, &copy, old);
}

__attribute__((visibility("default"))) int sigprocmask(int how, const sigset_t* set, sigset_t* old) {
  int rc = pthread_sigmask(how, set, old);
  if (rc == 0) return 0;
  errno = rc;
  return -1;
}

__attribute__((visibility("default"))) sighandler_t signal(int sig, sighandler_t handler) {
  // glibc's signal() has BSD semantics: SA_RESTART, handler stays installed.
  struct sigaction act, old;
  memset(&act, 0, sizeof(act));
  act.sa_handler = handler;
  act.sa_flags = SA_RESTART;
  sigemptyset(&act.sa_mask);
  sigaddset(&act.sa_mask, sig);
  if (sigaction(sig, &act, &old) != 0) return SIG_ERR;
  return old.sa_handler;
}

__attribute__((visibility("default"))) sighandler_t bsd_signal(int sig, sighandler_t handler) {
  return signal(sig, handler);
}

__attribute__((visibility("default"))) sighandler_t sysv_signal(int sig, sighandler_t handler) {
  struct sigaction act, old;
  memset(&act, 0, sizeof(act));
  act.sa_handler = handler;
  act.sa_flags = SA_RESETHAND | SA_NODEFER;
  sigemptyset(&act.sa_mask);
  if (sigaction(sig, &act, &old) != 0) return SIG_ERR;
  return old.sa_handler;
}

}  // extern "C"
