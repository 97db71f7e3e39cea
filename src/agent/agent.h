// The agent's process-wide state and the entry points its parts share.
// See ARCHITECTURE.md for the path of one access through these files.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <cstdint>

#include "agent/region_table.h"
#include "trace/channel.h"

namespace mmiotrace::agent {

struct Agent {
  trace::ChannelHeader* channel = nullptr;  // null: not attached, everything passes through
  uint32_t pid = 0;
  bool has_avx512bw = false;
  bool has_fsgsbase = false;
  bool step_mode = false;  // record --mode=step (trace::kChannelStepMode)
  RegionTable regions;
};

extern Agent g_agent;

inline bool attached() { return g_agent.channel != nullptr; }

// agent_init.cc: the child side of fork (atfork) and of clone without
// CLONE_VM (interpose_clone.cc): the child's own pid and rings, or, with
// record --no-follow, the child detaches and runs untraced.
void after_fork_child();

// fault_handler.cc
extern "C" void mt_fault_handler(int sig, siginfo_t* info, void* ucontext);
void install_fault_handlers();

// interpose_signal.cc: the program's own dispositions for the signals the
// agent owns (SIGSEGV, SIGBUS, and SIGTRAP for single-stepping).
bool is_owned_signal(int sig);
// Delivers a fault to the program as the kernel would have: its handler if it
// installed one, else the default action (the process dies by `sig`).
// `synthetic`: the fault was found by the emulator, not raised by the CPU.
void forward_signal(int sig, siginfo_t* info, ucontext_t* uc, bool synthetic);
// Calls the real sigaction (libc's, bypassing the interposer).
int real_sigaction(int sig, const struct sigaction* act, struct sigaction* old);
// The signals the agent needs delivered whatever masks the program sets:
// SIGSEGV and SIGBUS (every traced access starts with one) and SIGTRAP (the
// step mode's single steps). One list for every interposer that filters a
// mask (interpose_signal.cc, interpose_masks.cc).
inline constexpr int kAgentSignals[] = {SIGSEGV, SIGBUS, SIGTRAP};
inline void remove_agent_signals(sigset_t* set) {
  for (int sig : kAgentSignals) sigdelset(set, sig);
}
// The real pthread_sigmask (the interposer keeps kAgentSignals unblocked).
int real_sigmask(int how, const sigset_t* set, sigset_t* old);
void init_signal_interposition();
// Installs the program's own SIGSEGV/SIGBUS dispositions in place of the
// agent's handler (a child that detaches, record --no-follow).
void restore_program_dispositions();

// Every signal but kAgentSignals blocked for a scope (normal context only): a
// signal handler of the program must not run, and fault on device memory,
// while this thread holds the region table's writer lock or the order lock.
// The agent's own signals stay deliverable, as in its fault handler: a guarded
// access that faults in the scope (agent/safe_access.h, e.g. a system call's
// buffer that is not mapped) must reach the agent's handler and its fixup;
// blocked, the kernel would kill the process instead.
class SignalsBlocked {
 public:
  SignalsBlocked() {
    sigset_t all;
    sigfillset(&all);
    remove_agent_signals(&all);
    real_sigmask(SIG_BLOCK, &all, &old_);
  }
  ~SignalsBlocked() { real_sigmask(SIG_SETMASK, &old_, nullptr); }
  SignalsBlocked(const SignalsBlocked&) = delete;
  SignalsBlocked& operator=(const SignalsBlocked&) = delete;

 private:
  sigset_t old_;
};

// marker.cc: a MARK record from this thread, in order with its accesses
// (the text is cut to trace::kMaxMarkText). Async-signal-safe.
void emit_mark(const char* text, size_t len);

// interpose_mmap.cc
void* real_mmap(void* addr, size_t len, int prot, int flags, int fd, off_t off);
int real_munmap(void* addr, size_t len);
int real_mprotect(void* addr, size_t len, int prot);

}  // namespace mmiotrace::agent
