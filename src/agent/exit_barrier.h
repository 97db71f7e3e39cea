// The exit barrier: when the process ends by exit(), _exit() or a fatal
// fault, the thread that ends it first waits until no other thread is in the
// middle of a device access, and stops the others from starting one. So every
// device access the program made is in the trace: none is cut off between the
// access itself and its record.
//
// Async-signal-safe: atomics and raw system calls only. Per process, never
// shared through the channel (a forked child's exit must not stop its parent).
#pragma once

#include <atomic>
#include <cstdint>

#include "agent/producer.h"

namespace mmiotrace::agent {

// The thread ending the process (0: not ending).
extern std::atomic<uint32_t> g_exiting_tid;

// Around the emulation of one instruction in the fault handler. If the
// process is exiting, enter_access() does not return: the thread waits to be
// ended with the rest of the process.
void enter_access();
void leave_access();

// Under the order lock, for an access made and recorded entirely within one
// hold of it without enter_access() (the fast path, agent/patch): if another
// thread is ending the process, releases the lock and waits to be ended
// with the rest of the process (does not return). exit_barrier() takes the
// order lock once after setting the exiting thread, so an access either
// completes, record published, before the process ends, or is not made.
[[noreturn]] void park_exiting_locked();
inline void park_if_exiting_locked() {
  const uint32_t exiting = g_exiting_tid.load(std::memory_order_relaxed);  // ordered by the order lock
  if (exiting != 0 && exiting != current_tid()) park_exiting_locked();
}

// Called by the thread that ends the process, before it does.
void exit_barrier();

// For a thread that waits inside an access (a replay waiting for its turn, an
// injected delay): if another thread is ending the process, it stops holding
// the exit up and waits to be ended with the rest of the process (does not
// return). Otherwise returns at once.
void park_if_exiting();

}  // namespace mmiotrace::agent
