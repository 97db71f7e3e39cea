// What a single-stepped instruction does to the device, and where each value
// can be found without touching the device again (agent/step.h).
//
// The emulator is used as an oracle, never on the device: it runs twice on a
// copy of the thread's registers with a probe Memory that performs no device
// access (and no write at all) and records the accesses the instruction
// makes. Device reads return a pattern P in the first run and its complement
// ~P in the second (a different pattern per access). Then:
//   - a written value that is the same in both runs depends only on the
//     registers and ordinary memory: it is exact, taken before the step;
//   - a written value that differs between the runs depends on the reads:
//     once every read value is known (after the step), the emulator runs the
//     instruction once more from the saved registers with those values, and
//     its written values are taken if the registers, RIP and flags it ends
//     with are exactly those the CPU ended with (XADD, CMPXCHG whichever way
//     the comparison went, a device-to-register-to-device move...);
//   - a read whose pattern (and complement) turns up at one place of the
//     resulting state (a general register at a byte offset, a vector
//     register, RIP, an ordinary-memory write) is taken from that place in
//     the real state after the step. P and ~P differ in every bit, so the
//     place holds the read value bit for bit, whatever the value.
//   - anything else (`or [dev], eax`, `cmp [dev], 1`, a device-to-device
//     MOVS: a read no register holds, and what depends on it) is recorded
//     with kAccessValueUnknown.
// An instruction outside the emulator's table is described by the decoder
// alone (emu::memory_operands): its accesses are known, their values not.
//
// Async-signal-safe: runs in the traced program's signal handler; stack and
// TLS memory only.
#pragma once

#include <ucontext.h>

#include <cstdint>

#include "agent/device_memory.h"
#include "agent/strategy.h"
#include "emu/emulator.h"

namespace mmiotrace::agent {

enum class ValueFrom : uint8_t {
  KNOWN,    // `value` holds it (writes: taken before the step)
  GPR,      // general register `reg` (encoding order), bytes [offset, offset+size)
  VECTOR,   // vector register `reg`, bytes [offset, offset+size)
  MEMORY,   // ordinary memory at `mem`
  RIP,      // the instruction pointer after the step (JMP/CALL through the device)
  DEPENDS,  // a write whose value depends on what the instruction read: known once
            // every read is, by replaying the instruction on them (checked, below)
  UNKNOWN,
};

struct StepAccess {
  uint64_t addr = 0;
  uint64_t mask = 0;  // bytes accessed, with `masked`
  uint64_t mem = 0;
  uint8_t size = 0;
  bool write = false;
  bool masked = false;
  ValueFrom from = ValueFrom::UNKNOWN;
  uint8_t reg = 0;
  uint8_t offset = 0;
  uint8_t value[64] = {};
};

inline constexpr unsigned kMaxStepAccesses = 8;

struct StepPlan {
  emu::EmuStatus status = emu::EmuStatus::UNSUPPORTED;  // OK: planned; FAULT: `fault`; else refused
  emu::MemFault fault;
  Refusal refusal = Refusal::NONE;  // UNSUPPORTED: why
  uint8_t insn_len = 0;
  bool from_decoder = false;  // the emulator refused it: decoder only, values unknown
  emu::CpuState pre;          // the registers before the step (no vector registers): for the replay
  emu::CpuState post;         // the registers after it, as the first dry run left them (pattern P
                              // for what the reads set): where the next REP iteration starts
  unsigned n = 0;
  StepAccess acc[kMaxStepAccesses];
};

// Plans the step of the instruction in `ctx` (bytes at ctx.pc) from the
// faulting thread's frame `uc`.
void plan_step(const ucontext_t* uc, const FaultContext& ctx, StepPlan* plan);
// The same from registers alone (no vector registers): one more iteration of
// a REP string instruction from where the previous plan's `post` left it.
void plan_step_from(const emu::CpuState& frame, const FaultContext& ctx, StepPlan* plan);

// After the step, from the trap's frame: fills the values of reads (and of
// writes that depend on them, by a checked replay); those that cannot be had
// become UNKNOWN. `later_iterations_ran`: the plan is for an iteration of a
// REP string instruction that more iterations followed before this trap;
// they wrote the same registers again, so only values in ordinary memory
// (each iteration writes its own element) can still be taken.
void collect_values(const ucontext_t* trap_uc, const FaultContext& ctx, StepPlan* plan,
                    bool later_iterations_ran = false);

}  // namespace mmiotrace::agent
