// Single-stepping a faulting instruction on the device itself (record
// --mode=step, and emulate mode's fallback for what neither the emulator nor
// the generic path can run): the kernel's kmmio, in user space.
//
// On the fault: work out the instruction's device accesses (step_plan.h),
// take each written value from its source before the step, open the pages
// (arming.h: the agent's protection key in this thread's saved PKRU, else
// mprotect), set TF in the saved RFLAGS, block the program's other signals
// in the saved mask, and return: the instruction runs for real. On the debug
// trap (SIGTRAP, TRAP_TRACE): take each read value from the instruction's
// destination (a register, a vector register, ordinary memory), record the
// accesses, close the pages, restore the program's mask and TF. The device
// is never read again for a value. A program that set TF itself gets its
// trap after the recording; a REP string instruction traps after each
// iteration and is stepped iteration by iteration.
//
// Order: the thread holds the order lock (producer.h) from the fault to the
// trap, so no other traced access, stepped or emulated, of any thread can
// reach the device in between, and seq order is the device's order. The
// lock is held across the one instruction the step runs; every path that
// ends a step (the trap, a fault that aborts it, the next fault of a step
// whose trap a debugger took) releases it.
//
// Async-signal-safe: runs in the traced program's signal handler. No
// allocation (per-thread state is initial-exec TLS), no lock but the order
// lock, raw system calls only.
#pragma once

#include <signal.h>
#include <ucontext.h>

#include <cstdint>

#include "agent/device_memory.h"
#include "agent/region_table.h"
#include "agent/strategy.h"

namespace mmiotrace::agent {

// A traced fault at ctx.pc. `record_flags` go on every record (kAccessStepped,
// plus what the caller adds). DONE: return from the handler, the instruction
// runs under TF. FAULT: it would fault before reaching the device (deliver it
// as the emulator's FAULT). REFUSED: it cannot be stepped (NOT_AN_INSTRUCTION,
// STEP_*).
Outcome step_start(ucontext_t* uc, FaultContext& ctx, uint8_t record_flags);

// Checked for every SIGTRAP: the end of this thread's step? Then records,
// closes, restores and returns true; *forward says whether the program must
// get the trap as well (it had set TF itself). False: not a step's trap.
bool step_trap(siginfo_t* si, ucontext_t* uc, bool* forward);

// A fault that is not the step's own arrived while this thread is stepping
// (the instruction faulted on ordinary memory): undo the step so that the
// program's handler sees its own state, then the caller forwards the fault.
void step_abort(ucontext_t* uc);

bool step_active();

// At agent start: reads the testing hook MMIOTRACE_TESTING_STEP_LOSE_TRAPS
// (step.cc; tests/e2e/step_test.cc).
void step_init();

}  // namespace mmiotrace::agent
