// The fast path (docs/record.md, "Patching"; ARCHITECTURE.md, the path of one
// access): an instruction that keeps faulting on device memory is rewritten
// into a jump to a trampoline (trampoline.h), which performs and records its
// device accesses through the same DeviceMemory as the fault path, with no
// fault and no signal, and runs it unchanged on ordinary memory.
//
// The patcher counts faults per instruction address; at the `patch_after`-th
// (record --patch-after, default 4; --no-patch: never; nothing in step mode)
// it asks the emulator whether and how the instruction can be patched
// (emu::plan_patch), finds a tactic (tactics.h) and room for the trampolines
// (code_cache.h), builds them and changes the code (code_writer.h), all
// within the fault handler, under its own lock (try-lock there: a fault that
// finds it taken just stays on the fault path). A patch is undone when the
// device mapping it was made for is unmapped, and forgotten when its code is
// unmapped (munmap, dlclose). Fork children inherit patches, trampolines and
// these tables; exec starts clean.
//
// Async-signal-safe unless said otherwise: runs in the traced program's
// signal handler; raw system calls and static tables only.
#pragma once

#include <signal.h>
#include <ucontext.h>

#include <atomic>
#include <cstdint>

#include "agent/device_memory.h"
#include "agent/patch/tactics.h"
#include "emu/cpu_state.h"
#include "emu/emulator.h"

namespace mmiotrace::agent::patch {

// An instruction of the program and where its copy runs in a trampoline.
struct Moved {
  uint64_t pc = 0;
  uint8_t len = 0;
  uint8_t bytes[16] = {};
  uint64_t copy = 0;  // 0: none
  uint8_t copy_len = 0;
};

enum class PatchState : uint8_t {
  FREE,        // unused record
  WRITING,     // being patched or restored right now
  LIVE,        // the site jumps to its trampoline
  UNDONE,      // the site holds its own bytes again (its mapping went away); may be patched again as it was
  SUPERSEDED,  // the site holds its own bytes again for good: a patch of the instruction its jump read
               // on into replaced those bytes (a new record patches it again)
  GONE,        // its code was unmapped: forgotten
};

// One patched site. Records are never reused for another site: trampolines
// hold their address, and a thread may still be in one after an undo.
struct Patch {
  std::atomic<uint8_t> state{0};
  uint32_t map_id = 0;  // the device mapping whose accesses made the site hot
  Tactic tactic = Tactic::NONE;
  emu::PatchPlan plan;
  Moved site;    // the site; its copy is the trampoline's ordinary branch
  Rewrite code;  // the site's bytes when patched ([pc, pc + len))
  uint64_t trampoline = 0;
  bool evicts = false;
  Moved evictee;  // T2/T3: the instruction moved out of the way (for good)
  uint8_t evictee_code[kMaxEvictLen + 5] = {};
  // Bytes of other instructions the jumps read as part of a displacement,
  // and their values then. A patch of such an instruction (or its undo)
  // first takes this patch off (dependents first).
  uint64_t pun_addr[2] = {};
  uint8_t pun_len[2] = {};
  uint8_t pun_bytes[2][4] = {};
  unsigned n_puns = 0;
};

// Called once at attach: `patch_after` faults make a site hot (0: off).
void init(uint32_t patch_after);
// THE switch that turns patching off in this process: from then on no site is
// patched (sites already patched stay so). For a device backend whose
// accesses must all take the fault path, or a mode that must see every access
// fault; call it at attach, before the first device mapping. Step mode and
// record --no-patch are the same switch (enabled() is false).
void turn_off();
bool enabled();

// The fault path emulated the instruction in `ctx` (at ctx.pc, as fetched)
// on mapping `map_id`: count the fault and, at the patch_after-th, try to
// patch it. `cpu`: the thread's registers.
void note_fault(const FaultContext& ctx, const emu::CpuState& cpu, uint32_t map_id);

// A fault or signal at `exec_pc`: when it is the start of an instruction's copy
// in a trampoline, the original (pc, bytes) and the copy, and true.
bool translate(uint64_t exec_pc, Moved* out);
// The original bytes of an instruction a patch rewrote that starts at `pc`.
bool original_at(uint64_t pc, Moved* out);
// Before a signal reaches the program: a frame whose RIP is at an
// instruction's copy in a trampoline (or just after it) is pointed at the
// original (or just after it), so that the program sees its own code.
void frame_to_original(ucontext_t* uc);

// Every SIGTRAP first: an INT3 of a code change (code_writer.h)? Then the
// thread resumes at the instruction once the change is complete, and true.
// A thread whose CPU keeps executing an INT3 that memory no longer holds
// (an emulator's stale translation) gets the byte refreshed.
bool trap(const siginfo_t* si, ucontext_t* uc);

// Normal context (the munmap/mmap/mremap interposers, with signals blocked):
// undo every patch whose device mapping no longer exists.
void after_device_unmap();
// Normal context: [start, end) of code is being unmapped, or a dlclose has
// run: forget the patches whose code is gone.
void code_unmapped(uint64_t start, uint64_t end);
void after_dlclose();

// Around fork (and clone without CLONE_VM): no patch is half written in the child.
void fork_prepare();
void fork_parent();
void fork_child();

}  // namespace mmiotrace::agent::patch
