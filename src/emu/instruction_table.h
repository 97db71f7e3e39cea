// The closed table of emulated instructions (docs/emulated-instructions.md):
// one row per form, saying which decoded instructions it covers, which family
// emulates them (emulator.h, Family) and the properties the families and the
// table's users need. An instruction no row covers is refused. Adding an
// instruction: docs/emulated-instructions.md, "The table in the code".
//
// Internal to src/emu (rows name Zydis's types); others ask the table through
// emu::describe() (emulator.h).
//
// Async-signal-safe: constant data and pure lookups; no allocation, no locks.
#pragma once

#include <Zydis/Zydis.h>

#include <cstdint>

#include "emu/emulate_internal.h"
#include "emu/emulator.h"
#include "emu/native_ops.h"

namespace mmiotrace::emu::detail {

// Encodings a row covers (bit set).
inline constexpr uint8_t kLegacy = 1;  // legacy (no VEX/EVEX prefix)
inline constexpr uint8_t kVex = 2;
inline constexpr uint8_t kEvex = 4;
inline constexpr uint8_t kAnyEncoding = 0xFF;

// Widths of the memory operand a row accepts (bit set, bit i = 2^i bytes); kAnyWidth: no rule.
inline constexpr uint8_t kAnyWidth = 0;
constexpr uint8_t width_bit(unsigned bytes) {
  switch (bytes) {
    case 1:
      return 1;
    case 2:
      return 2;
    case 4:
      return 4;
    case 8:
      return 8;
    case 16:
      return 16;
    case 32:
      return 32;
    case 64:
      return 64;
    default:
      return 0;  // 0 bytes, 10 (m80), anything odd: no row accepts it
  }
}
template <typename... B>
constexpr uint8_t widths(B... bytes) {
  return static_cast<uint8_t>((width_bit(bytes) | ...));
}

// LOCK (F0). NEVER: a LOCK prefix is refused (on these forms it is #UD, which the
// decoder already reports). ALLOWED: with LOCK, on a memory destination, the
// read and write are one Memory::atomic_rmw. ALWAYS: atomic with or without it (XCHG).
enum class Lock : uint8_t { NEVER, ALLOWED, ALWAYS };
// Repeat prefixes. IGNORED: F2/F3 have no effect (as for the CPU). REP: F3 repeats,
// F2 (undefined on MOVS/STOS/LODS) is refused. REPE_REPNE: both repeat (CMPS/SCAS).
enum class Rep : uint8_t { IGNORED, REP, REPE_REPNE };
// Alignment, checked by the family before any access (#GP: FAULT {SIGSEGV, SI_KERNEL, 0}).
// VECTOR: legacy SSE 16 bytes, VEX/EVEX the operand's size. SIXTEEN: 16 bytes.
enum class Align : uint8_t { NONE, VECTOR, SIXTEEN };

// Family variants (Row::kind).
enum class GprKind : uint8_t { PLAIN, SIGN_EXTEND, BYTE_SWAP };  // loads: zero-extend/merge, sign-extend, MOVBE
enum class StringOp : uint8_t { MOVS, STOS, LODS };              // CMPS and SCAS: their own family
enum class AluShape : uint8_t {
  BINARY,  // op r/m, r/imm and op r, r/m
  UNARY,   // op r/m
  SHIFT,   // op r/m, 1/imm8/CL
  DOUBLE,  // SHLD/SHRD r/m, r, imm8/CL
  BIT,     // BT* r/m, r/imm8
  SWAP,    // XCHG, XADD: r/m, r; the register receives the old memory value
  CMPXCHG,
};
// SCALAR: one element (MOVSS/MOVSD). HALF_LO/HALF_HI: one qword into the low/high half of an
// xmm (MOVLPS...). BCAST: the operand read once and replicated. DUP_Q: MOVDDUP (qword j <- m
// qword j&~1); DUP_LO/DUP_HI: MOVSLDUP/MOVSHDUP (dword j <- j&~1 / j|1).
enum class ElementKind : uint8_t { SCALAR, HALF_LO, HALF_HI, BCAST, DUP_Q, DUP_LO, DUP_HI };

inline constexpr int8_t kAnyMap = -1;
inline constexpr int8_t kAnyReg = -1;

struct Row {
  // Which decoded instructions the row covers: this mnemonic, in one of these
  // encodings, opcode map and opcode range, and (if set) ModRM.reg.
  ZydisMnemonic mnemonic;
  uint8_t encodings = kAnyEncoding;
  int8_t map = kAnyMap;  // a ZydisOpcodeMap
  uint8_t opcode_lo = 0x00;
  uint8_t opcode_hi = 0xFF;
  int8_t modrm_reg = kAnyReg;
  // What is emulated, and how.
  Family family = Family::PREFETCH;
  AccessShape access = AccessShape::NONE;  // when the memory operand is the first operand; else a LOAD
  uint8_t widths = kAnyWidth;              // of the memory operand
  Lock lock = Lock::NEVER;
  Rep rep = Rep::IGNORED;
  Align align = Align::NONE;
  uint8_t elem = 0;                 // vector element bytes (opmask granularity, replication, scalar width)
  bool maskable = false;            // an EVEX opmask k1-k7 is allowed
  uint8_t kind = 0;                 // the family's variant: GprKind, StringOp, AluShape or ElementKind
  NativeOp op = NativeOp::ADD;      // ALU: the operation with a memory destination
  NativeOp op_reg = NativeOp::ADD;  // ALU: with a register destination (BINARY), by 1 (SHIFT, D0/D1)
};

// The first memory operand of the instruction, explicit or implicit, or nullptr:
// the operand a row's `widths` and `access` speak of.
const ZydisDecodedOperand* table_operand(const Insn& insn);

// The row that covers the decoded instruction, prefixes and operand width
// included, or nullptr: the instruction is not in the table.
const Row* find_row(const Insn& insn);

// The alignment `row` requires of a memory operand of `bytes` bytes (0: none).
unsigned required_alignment(const Row& row, const Insn& insn, unsigned bytes);

// The families (one file each, named after what they hold; each receives the
// row that covers the instruction and refuses, before any access and having
// touched nothing, the operand combinations it cannot address: register-only
// forms, registers of the wrong class, widths inconsistent with the register).
Outcome emulate_gpr_move(CpuState& cpu, const Insn& insn, const Row& row, Memory& mem);  // emulate_gpr.cc
Outcome emulate_setcc(CpuState& cpu, const Insn& insn, Memory& mem);                     // emulate_gpr.cc
Outcome emulate_cmovcc(CpuState& cpu, const Insn& insn, Memory& mem);                    // emulate_gpr.cc
Outcome emulate_push_pop(CpuState& cpu, const Insn& insn, Memory& mem);                  // emulate_gpr.cc
Outcome emulate_string(CpuState& cpu, const Insn& insn, const Row& row, Memory& mem,
                       const EmuOptions& options);  // emulate_string.cc
Outcome emulate_string_compare(CpuState& cpu, const Insn& insn, Memory& mem,
                               const EmuOptions& options);                          // emulate_string_compare.cc
Outcome emulate_alu(CpuState& cpu, const Insn& insn, const Row& row, Memory& mem);  // emulate_alu.cc
Outcome emulate_cmpxchg_wide(CpuState& cpu, const Insn& insn, const Row& row, Memory& mem);  // emulate_alu.cc
Outcome emulate_vector_move(CpuState& cpu, const Insn& insn, const Row& row, Memory& mem);   // emulate_vector_move.cc
Outcome emulate_vector_element(CpuState& cpu, const Insn& insn, const Row& row,
                               Memory& mem);  // emulate_vector_element.cc

}  // namespace mmiotrace::emu::detail
