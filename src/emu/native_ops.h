// Internal to src/emu: the arithmetic of the ALU rows, done by the CPU itself.
// Each operation runs the instruction's own memory-operand form on a local
// copy of the operand, with the guest's arithmetic flags loaded first (popf)
// and read back after (pushf). The flags the SDM leaves undefined (AF after
// logic ops, OF after multi-bit rotates and shifts, SF/ZF/AF/PF after BT...)
// therefore come out as this CPU produces them, which is what the program
// would have seen natively.
//
// Why the memory form and not the register form: on this project's
// development CPU, ROL/ROR by an imm8 > 1 leave OF unchanged in the register
// form and compute it in the memory form; the memory forms with an imm8 count
// and with the same count in CL agree for every count (0-255), width and
// shift/rotate, as do BT/BTS/BTR/BTC with an imm8 and with a register offset
// (docs/emulated-instructions.md, section 6, "Flags", records the experiment).
// So counts and bit offsets are passed in CL / a register.
//
// Async-signal-safe: runs in the traced program's signal handler; no allocation, no locks.
#pragma once

#include <cstdint>

namespace mmiotrace::emu::detail {

// The RFLAGS bits an ALU instruction can change; all others are the guest's
// and are never loaded into the host's RFLAGS (TF, DF, AC...).
inline constexpr uint64_t kArithFlags = 0x8d5;  // OF SF ZF AF PF CF

// clang-format off
enum class NativeOp : uint8_t {
  // mem OP= src (memory destination; CMP/TEST only read): 00-39 /r, 80-83, F6/F7 /0
  ADD, OR, ADC, SBB, AND, SUB, XOR, CMP, TEST,
  // src OP= mem (register destination, result in NativeArgs::src): 02/03, 0A/0B, ... 3A/3B
  ADD_R, OR_R, ADC_R, SBB_R, AND_R, SUB_R, XOR_R, CMP_R,
  // unary on memory: FE/FF /0 /1, F6/F7 /2 /3
  INC, DEC, NOT, NEG,
  // shifts and rotates by NativeArgs::count (CL, or the imm8 passed in CL): C0/C1, D2/D3
  ROL, ROR, RCL, RCR, SHL, SHR, SAR,
  // the same by the implicit count 1: D0/D1
  ROL1, ROR1, RCL1, RCR1, SHL1, SHR1, SAR1,
  // double shifts, source register in NativeArgs::src, count in NativeArgs::count (16/32/64 bits)
  SHLD, SHRD,
  // bit tests; NativeArgs::src is the bit offset within the operand (16/32/64 bits)
  BT, BTS, BTR, BTC,
  // exchanges: NativeArgs::src is the register, and receives the old memory value
  XCHG, XADD,
  // NativeArgs::acc is the accumulator in and out, NativeArgs::src the source register
  CMPXCHG,
};
// clang-format on

struct NativeArgs {
  uint64_t src = 0;   // see NativeOp; low `bytes` bytes used
  uint64_t acc = 0;   // CMPXCHG only
  uint8_t count = 0;  // shift/rotate/double-shift count, before the CPU masks it
};

// Runs `op` at width `bytes` (1, 2, 4, 8) on `value`, a local copy of the
// memory operand that it updates as the instruction updates memory, with the
// arithmetic flags of `rflags` loaded. Returns `rflags` with its arithmetic
// flags replaced by the CPU's. Not every op exists at every width (no 8-bit
// SHLD/SHRD/BT*): the caller refuses those first; they leave `value` alone.
uint64_t run_native(NativeOp op, unsigned bytes, void* value, NativeArgs& args, uint64_t rflags);

// CMPXCHG8B (`bytes` 8) or CMPXCHG16B (`bytes` 16) on `value`, a local copy
// (any alignment) of the operand: compares with rdx:rax, stores rcx:rbx or
// loads the operand into rdx:rax (only the low 32 bits of each for 8B).
// Returns `rflags` with ZF replaced; the instruction changes no other flag.
struct WideCmpxchgArgs {
  uint64_t rax = 0, rdx = 0, rbx = 0, rcx = 0;
};
uint64_t run_native_cmpxchg_wide(unsigned bytes, void* value, WideCmpxchgArgs& args, uint64_t rflags);

// Whether condition code `cc` (the low 4 bits of the Jcc/SETcc/CMOVcc opcode)
// holds for `rflags` (SDM Vol. 1, Appendix B, "EFLAGS Condition Codes").
bool condition_holds(unsigned cc, uint64_t rflags);

}  // namespace mmiotrace::emu::detail
