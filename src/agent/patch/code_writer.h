// Changing the program's code while its other threads may be running it.
//
// Bytes are written through /proc/self/mem (the kernel writes the page for
// us, as for a debugger's breakpoint), so no code page is ever made writable,
// let alone writable and executable. Each write that another thread might
// execute follows the Linux kernel's text_poke_bp() order (Intel SDM Vol. 3A,
// 8.1.3 "Handling Self- and Cross-Modifying Code"): an INT3 over the first
// byte of every instruction being changed; a core-serialising barrier on every
// thread (membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE)); the other
// bytes; the barrier; the first bytes, last instruction first, each followed
// by the barrier. A thread that meets an INT3 meanwhile traps (SIGTRAP) and
// waits in code_trap() until the change is complete, then resumes at the
// instruction, new or old. No thread ever executes a torn instruction.
//
// Async-signal-safe: runs in the traced program's signal handler (the patch
// is made while handling a fault); raw system calls and static memory only.
#pragma once

#include <signal.h>
#include <ucontext.h>

#include <cstddef>
#include <cstdint>

namespace mmiotrace::agent::patch {

// One range of code to change: `len` bytes at `addr`, from `before` (what is
// there now) to `after`.
struct CodeChange {
  uint64_t addr = 0;
  uint8_t len = 0;
  const uint8_t* before = nullptr;
  const uint8_t* after = nullptr;
};

// Opens this process's /proc/self/mem and registers for the core-serialising
// membarrier (once per process: a fork child does it again). False if either
// is unavailable: then nothing can be patched. Close it with writer_close()
// once the patch is written.
bool writer_open();
void writer_close();

// Writes bytes nobody executes yet (a new trampoline, fresh code cache page).
bool write_fresh(uint64_t addr, const void* bytes, size_t n);

// Changes live code. `starts` are the addresses of every instruction whose
// bytes change, as the code is now (each must lie in a change): the INT3s go
// there. Other threads may run the code throughout. False if a write failed
// (the code is then as before, or, if a later step failed, as `after` with
// INT3s left where a first byte could not be written: never torn).
bool poke(const CodeChange* changes, unsigned n, const uint64_t* starts, unsigned n_starts);

// What code_trap() found.
enum class Trap : uint8_t {
  NOT_OURS,  // not an INT3 of a poke: the program's own trap
  RESUME,    // RIP points back at the instruction, now complete
  // As RESUME, but this thread has now met this INT3 again with no change
  // of code in between: its CPU still executes a byte that memory no
  // longer holds. No x86 processor does that after the signal's return
  // (IRET serialises), but an emulator may: QEMU's TCG can keep a
  // translation made while the INT3 was there (a race between translating
  // and a write from another vCPU), and the thread would trap for ever.
  // The caller refreshes the byte (refresh()), which such an emulator
  // takes as a code change and translates again.
  RESUME_STALE,
};

// Checked first for every SIGTRAP: an INT3 that a poke put there (RIP is one
// past it)? Then waits until no poke is in progress, points RIP back at the
// instruction and returns RESUME (or RESUME_STALE).
Trap code_trap(const siginfo_t* si, ucontext_t* uc);

// Writes the byte at `addr` again, unchanged, and serialises every core: for
// a stale view of code (Trap::RESUME_STALE). The writer must be open and no
// poke in progress (the patcher's lock held). False if the write failed.
bool refresh(uint64_t addr);

}  // namespace mmiotrace::agent::patch
