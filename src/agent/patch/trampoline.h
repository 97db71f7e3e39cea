// Trampolines: the code a patched site jumps to (docs/record.md, "Patching").
//
// A site's trampoline keeps every register and the flags of the program, and
// never touches the red zone (the 128 bytes below RSP a leaf function may
// use) before it has moved RSP past it.
//
// A LOAD or STORE site (the plain MOVs, the hot case) saves only what the C
// function it calls may change (the ABI's caller-saved registers and the
// flags); the others stay live in their registers:
//
//   lea -128(%rsp),%rsp; pushfq; push RAX, RCX, RDX, RSI, RDI, R8-R11 (the
//   frame: frame[0] RAX ... frame[8] R11, frame[9] RFLAGS); cld
//   %rsi = the memory operand's address (as below)
//   %rdx = the instruction's register as it was (a LOAD's destination, a
//   STORE's source; from the frame if saved there, else the register itself)
//   align RSP to 16, the frame's address kept above it
//   {value, status} = mt_patch_access(patch, address, register) in RAX:RDX
//   0: done; a LOAD writes RAX (the destination's new contents, extended
//      and merged as the instruction would) to the destination, in the frame
//      or in the register itself; pop the frame, lea 128(%rsp),%rsp, jmp back
//      after the site
//   1: pop the frame unchanged, run the original instruction, relocated
//
// Any other site (the emulator's):
//
//   lea -128(%rsp),%rsp; pushfq; push the 16 general registers (the frame:
//   frame[i] is register i in encoding order, frame[16] RFLAGS); cld
//   %rsi = the memory operand's address, from the registers as they were
//   (RSP-based operands adjusted, RIP-relative ones as an absolute address)
//   align RSP to 64 and XSAVE the vector and opmask state below it (the
//   emulator's code and Zydis may use vector registers; a plain load or
//   store runs only the agent's own code, built without them)
//   mt_patch_entry(patch, address, frame, xsave area)
//   XRSTOR; restore RSP to the frame
//   0: the access was done and recorded; pop the (updated) registers and
//      flags, lea 128(%rsp),%rsp, jmp back after the site
//   1: not a device access (or one the fault path must handle): pop the
//      registers and flags unchanged, lea 128(%rsp),%rsp, run the original
//      instruction, relocated, and jmp back after the site
//
// A signal may arrive anywhere in it: the kernel puts its frame below RSP,
// past the red zone, and nothing above RSP is live but the frame.
//
// An evictee's trampoline (an instruction moved out of the way of a jump,
// tactics.h) is the instruction relocated, then jmp back after it.
//
// Async-signal-safe: pure computation into caller buffers.
#pragma once

#include <cstdint>

#include "emu/emulator.h"

namespace mmiotrace::agent::patch {

inline constexpr unsigned kMaxTrampoline = 512;

// What mt_patch_entry returns to the trampoline.
inline constexpr uint32_t kAccessDone = 0;
inline constexpr uint32_t kRunOriginal = 1;

// What mt_patch_access (a LOAD or STORE site's entry) returns, in RAX:RDX:
// the destination register's new contents for a LOAD, and the status.
struct AccessResult {
  uint64_t value;
  uint64_t status;
};

struct SiteCode {
  uint64_t at = 0;              // where the trampoline will be
  uint64_t patch = 0;           // the Patch record passed to mt_patch_entry
  uint64_t entry_function = 0;  // mt_patch_access for LOAD/STORE, else mt_patch_entry
  uint64_t pc = 0;              // the site
  const uint8_t* insn = nullptr;
  uint8_t insn_len = 0;
  const emu::PatchPlan* plan = nullptr;
  // The trampoline runs the emulator (PatchKind::EMULATE): that code, and
  // Zydis's, may use vector registers, so they are saved around the call.
  bool emulate = false;
  uint64_t xsave_mask = 0;  // XSAVE's requested-feature bitmap
  uint32_t xsave_size = 0;  // bytes of the XSAVE area
};

// Where the pieces ended up in a built trampoline.
struct Built {
  unsigned size = 0;
  unsigned copy_offset = 0;  // the relocated original instruction
  unsigned copy_len = 0;
};

// Builds a site's trampoline into out[0..kMaxTrampoline). False if it cannot
// be built (the operand's displacement does not fit, the instruction cannot
// be relocated there, the site is out of reach of a rel32 jump).
bool build_site(const SiteCode& s, uint8_t* out, Built* built);

// Builds an evictee's trampoline at `at`: the instruction at `pc` relocated,
// then a jump to pc + len.
bool build_evictee(uint64_t at, uint64_t pc, const uint8_t* insn, uint8_t len, uint8_t* out, Built* built);

// A 5-byte `jmp target` at `at` into out. False if out of rel32 reach.
bool build_jump(uint64_t at, uint64_t target, uint8_t* out);

}  // namespace mmiotrace::agent::patch
