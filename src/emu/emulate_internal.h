// Internal to src/emu: the decoded instruction and the helpers the emulator's
// handlers share (operand access, effective addresses). Not part of the
// emulator's interface; only src/emu includes Zydis.
//
// Async-signal-safe: runs in the traced program's signal handler; no allocation, no locks.
#pragma once

#include <Zydis/Zydis.h>

#include <cstddef>
#include <cstdint>

#include "emu/emulator.h"

namespace mmiotrace::emu::detail {

// One decoded instruction: about 1 KiB, meant to live on the stack.
struct Insn {
  ZydisDecodedInstruction in;
  ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
};

// What a handler did. `advance`: RIP moves past the instruction (false for a
// REP instruction stopped early, which the CPU must re-run).
struct Outcome {
  EmuStatus status = EmuStatus::OK;
  MemFault fault;
  bool advance = true;
};

inline Outcome outcome_unsupported() { return {EmuStatus::UNSUPPORTED, {}, false}; }
inline Outcome outcome_fault(const MemFault& f) { return {EmuStatus::FAULT, f, false}; }
inline Outcome outcome_done() { return {EmuStatus::OK, {}, true}; }

// Decodes in 64-bit mode. False if the bytes are not a valid instruction.
bool decode(const uint8_t* bytes, size_t len, Insn& out);
// decode() through the calling thread's cache, keyed by the instruction's
// address `pc` and checked against its bytes (decode_cache.cc).
bool decode_cached(uint64_t pc, const uint8_t* bytes, size_t len, Insn& out);

// A memory operand the emulator can address: an ordinary load/store operand
// (not LEA's address generation, not MPX's MIB, not a VSIB gather/scatter)
// whose base and index are general registers or RIP.
bool is_plain_memory(const ZydisDecodedOperand& op);

bool is_gpr(ZydisRegister r);
unsigned vector_reg_bytes(ZydisRegister r);                  // XMM 16, YMM 32, ZMM 64; 0: not a vector register
uint64_t read_gpr(const CpuState& cpu, ZydisRegister r);     // value of r, zero-extended
void write_gpr(CpuState& cpu, ZydisRegister r, uint64_t v);  // with the x86-64 merge rules

// Linear address of a plain memory operand (SDM Vol. 1, 3.7.5): segment base
// (FS/GS only; the others are 0 in 64-bit mode) + effective address, the
// latter truncated to the address size (67h: 32 bits).
uint64_t effective_address(const CpuState& cpu, const Insn& insn, const ZydisDecodedOperand& op);

// Base of segment `seg` in 64-bit mode (SDM Vol. 1, 3.4.2.1).
uint64_t segment_base(const CpuState& cpu, ZydisRegister seg);

inline uint64_t truncate_bits(uint64_t v, unsigned bits) { return bits >= 64 ? v : v & ((uint64_t{1} << bits) - 1); }

// The families that emulate each row of the table: instruction_table.h.

}  // namespace mmiotrace::emu::detail
