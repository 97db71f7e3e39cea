// A small x86-64 encoder for the differential tester: one instruction with a
// ModRM memory operand, in legacy, VEX or EVEX encoding, with full control
// over the choices a general-purpose assembler makes for you (disp8 vs disp32,
// SIB without index, redundant REX, two- vs three-byte VEX, prefix order).
// Instructions without ModRM (string, moffs) are written by their generators.
#pragma once

#include <cstdint>

namespace mmiotrace::difftest {

enum class Enc : uint8_t { LEGACY, VEX, EVEX };

inline constexpr int kNoReg = -1;
inline constexpr int kRipReg = 16;  // MemOperand::base: RIP-relative (EIP with 67h)

struct MemOperand {
  int base = kNoReg;       // 0-15 (x86 encoding order), kRipReg, or kNoReg
  int index = kNoReg;      // 0-15 except 4 (RSP), or kNoReg
  unsigned scale = 1;      // 1, 2, 4, 8
  int64_t disp = 0;        // byte displacement (EVEX disp8: a multiple of disp8_n)
  unsigned disp_size = 0;  // 0, 1 or 4; RIP-relative and no-base forms always use 4
  bool force_sib = false;  // SIB byte (index none) even where ModRM alone could name the base
};

struct EncodeRequest {
  Enc enc = Enc::LEGACY;
  uint8_t prefixes[8] = {};  // legacy prefixes emitted first, in this order (segment, 67, 66, F0, F2/F3)
  unsigned nprefixes = 0;
  // Legacy: REX bits are derived from the registers; these add to them.
  bool rex_w = false;
  bool force_rex = false;   // REX even when no bit is set (SPL-DIL, or redundant)
  bool forbid_rex = false;  // fail rather than emit a REX (AH-BH operands)
  // Legacy SSE mandatory prefix, VEX/EVEX pp: 0 none, 1 66, 2 F3, 3 F2.
  uint8_t pp = 0;
  // VEX/EVEX
  uint8_t w = 0;
  uint8_t ll = 0;        // vector length: 0 128, 1 256, 2 512 (EVEX)
  bool vex3 = false;     // three-byte VEX (C4) even when the two-byte form (C5) would do
  uint8_t aaa = 0;       // EVEX opmask register
  bool z = false;        // EVEX zeroing
  unsigned disp8_n = 1;  // EVEX compressed displacement scale (disp8 * N)
  // Opcode
  uint8_t map = 0;  // 0: one-byte, 1: 0F, 2: 0F 38, 3: 0F 3A
  uint8_t opcode = 0;
  unsigned reg = 0;  // ModRM.reg: register 0-15 (EVEX 0-31) or /digit
  MemOperand mem;
  uint64_t imm = 0;
  unsigned imm_size = 0;  // 0, 1, 2, 4
};

// Encodes into out[0..15). Returns the length, or 0 if the request cannot be
// encoded (an impossible operand combination, or longer than 15 bytes).
// `disp_offset`, if not null, receives the offset of the displacement field.
unsigned encode(const EncodeRequest& r, uint8_t out[15], unsigned* disp_offset = nullptr);

}  // namespace mmiotrace::difftest
