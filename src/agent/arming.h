// Arming: how the program's range of a device mapping is made to fault, and
// how one instruction is let through it for a single step. Both modes use it.
//
// With protection keys (CPUID PKU and OSPKE, and pkey_alloc succeeds), the
// program's range keeps its own PROT_* rights but carries the agent's key,
// which every thread's PKRU denies (set at load time; new threads inherit the
// creating thread's PKRU). An access faults with SEGV_PKUERR. To step, the key
// is opened only in the faulting thread's saved PKRU, in its signal frame's
// XSAVE area (component 9): the kernel restores PKRU from the frame on
// sigreturn, so only that thread, for that one instruction, can reach the
// device. Other threads keep faulting: nothing is missed, no TLB shootdown.
// A mapping on which pkey_mprotect fails is armed PROT_NONE instead.
//
// Without protection keys the range is PROT_NONE, and a step opens the pages
// with mprotect for every thread (as the kernel's kmmio does): another thread
// can slip past the tracer during the step (ChannelHeader.step_flags says so,
// and then the trace header).
//
// arm()/rearm() run in normal context (the mmap/mprotect interposers); the
// rest runs in the signal handler and is async-signal-safe: raw system calls
// and plain memory only.
#pragma once

#include <signal.h>
#include <ucontext.h>

#include <cstdint>

#include "agent/region_table.h"

namespace mmiotrace::agent {

// At load time, outside any handler: detects protection keys and allocates
// the agent's key with access disabled in the calling thread's PKRU.
// `allow` false: never use them (MMIOTRACE_NO_PKEYS=1, for tests and the benchmark).
void arming_init(bool allow);
// The agent's key, or -1 if protection keys are not in use.
int arming_pkey();
// Unit tests (tests/unit/arming_test.cc), on a CPU without PKU: pretend the
// key is `pkey` and PKRU sits at `pkru_offset` of the XSAVE area.
void arming_set_for_test(int pkey, uint32_t pkru_offset);

// Arms the program's range [addr, addr+len) that mmap just created with
// PROT_NONE, for a program that asked for `prot`. Returns the key it now
// carries, or -1 (left PROT_NONE).
int arm(void* addr, uint64_t len, int prot);
// The program changed its rights on a piece of an armed range.
void rearm(const RegionInfo& piece);

// The PKRU value saved in a signal frame (XSAVE component 9). Null if the
// frame has none (no XSAVE, or PKRU not among its features).
uint32_t* frame_pkru(ucontext_t* uc);
// Opens (or closes) the agent's key in the frame's PKRU. False if the frame
// has no PKRU.
bool frame_open_key(ucontext_t* uc, bool open);

// mprotect stepping: gives the program's range [start, end) of `r` its own
// rights (open) or PROT_NONE again (close).
void open_pages(const RegionInfo& r, uint64_t start, uint64_t end, bool open);

}  // namespace mmiotrace::agent
