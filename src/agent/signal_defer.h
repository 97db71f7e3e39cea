// Deferring the program's signal handlers while a thread is in the fast
// path's critical part (agent/patch: mt_patch_entry). There the thread may
// hold the order lock or be half-way through pushing a record into its ring,
// outside any signal handler, with the program's signals open: a handler of
// the program that ran now and touched device memory would wait forever for
// the lock its own thread holds. (The fault path has no such window: it runs
// in the agent's handler with every signal blocked; blocking them in the fast
// path would cost two system calls per access.)
//
// So the agent installs its own wrapper for every handler the program
// installs (interpose_signal.cc) while patching is on. A signal that arrives
// in the section is not handled there: the wrapper adds it to the
// interrupted frame's mask (it stays blocked when the wrapper returns) and
// keeps its siginfo; when the section ends, the thread sends it to itself
// again with that siginfo (rt_tgsigqueueinfo) and unblocks it, and the
// program's handler runs then, outside the section. A signal's default
// action (termination) is not deferred: the lock's owner-death takeover and
// LOST records cover a process that dies inside.
//
// Limits: a real-time signal deferred this way is delivered after instances
// of the same signal that arrived while it was deferred; more than
// kMaxDeferred signals deferred at once lose the siginfo of the rest (they
// are re-sent with tgkill).
//
// Async-signal-safe: TLS and raw system calls.
#pragma once

#include <signal.h>
#include <ucontext.h>

#include <atomic>

namespace mmiotrace::agent {

// The thread's fast-section state: how deep it is in FastSections, and
// whether a signal was deferred (release_deferred() then re-sends it at the
// end). Inline, so that the fast path's entry pays two TLS increments, not
// two calls through the PLT.
struct FastSectionState {
  unsigned depth;
  unsigned pending;  // signals were deferred
};
extern constinit thread_local FastSectionState tls_fast_section __attribute__((tls_model("initial-exec")));
void release_deferred();

// The critical part of the fast path, for its scope.
class FastSection {
 public:
  FastSection() {
    ++tls_fast_section.depth;
    std::atomic_signal_fence(std::memory_order_seq_cst);
  }
  ~FastSection() {
    std::atomic_signal_fence(std::memory_order_seq_cst);
    FastSectionState& s = tls_fast_section;
    if (--s.depth == 0 && s.pending != 0) release_deferred();
  }
  FastSection(const FastSection&) = delete;
  FastSection& operator=(const FastSection&) = delete;
};

inline bool in_fast_section() { return tls_fast_section.depth != 0; }

// In a signal handler that interrupted a FastSection: keeps `sig` (with
// `si`) for its end, blocked in frame `uc` meanwhile.
void defer_signal(int sig, const siginfo_t* si, ucontext_t* uc);

}  // namespace mmiotrace::agent
