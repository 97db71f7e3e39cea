// The generic path, agent side (docs/emulated-instructions.md, "Generic
// path"): an instruction the emulator's table refuses runs for real in a
// per-thread stub, with its one memory operand redirected to a bounce buffer.
// The agent fills the buffer from the device with the instruction's exact
// width before (if the instruction reads the operand; under an AVX-512 mask
// k1-k7 only the selected elements, as one masked access), resumes the thread at
// the stub, and when the stub's HLT faults back into the handler copies the
// buffer to the device (if the instruction writes it) and resumes the thread
// after the original instruction. Both copies are recorded, flagged
// trace::kAccessGeneric.
//
// Async-signal-safe: runs in the traced program's signal handler. No
// allocation (the per-thread page comes from a raw mmap system call), no
// locks but the order lock.
#pragma once

#include <signal.h>
#include <ucontext.h>

#include <cstdint>

#include "agent/device_memory.h"
#include "agent/strategy.h"
#include "emu/cpu_state.h"

namespace mmiotrace::agent {

// For an instruction the table refused (UNSUPPORTED). `cpu` was filled from
// `uc`; `ctx` holds the instruction's bytes, trimmed to its length. DONE: the
// device bytes the instruction reads have been read and recorded, and the
// frame's RIP points at the stub (return from the handler). FAULT: the
// instruction would have faulted natively before running. REFUSED: not even
// the generic path can run it (GENERIC_PLAN with the planner's reason,
// GENERIC_NO_STUB_PAGE, GENERIC_WRITES_ORDINARY).
Outcome generic_start(ucontext_t* uc, const emu::CpuState& cpu, FaultContext& ctx);

// Checked first for every SIGSEGV/SIGBUS: is it the generic path's own,
// raised in this thread's stub page? The stub's HLT (copy the written bytes
// to the device, resume after the original instruction) or a fault of the
// re-encoded instruction itself (delivered to the program as raised by its
// own instruction). Returns true if it was, and has been dealt with.
bool generic_stub_fault(int sig, siginfo_t* si, ucontext_t* uc);

}  // namespace mmiotrace::agent
