// The register state the emulator reads and writes: general registers, RIP,
// RFLAGS, segment bases and (through XsaveArea) the vector and opmask
// registers. The agent fills it from a signal frame and writes it back; tests
// fill it by hand or from the CPU itself.
//
// Async-signal-safe: plain data, no allocation.
#pragma once

#include <cstdint>

#include "emu/xsave_area.h"

namespace mmiotrace::emu {

// General registers in x86 encoding order (ModRM/REX numbering).
enum class Gpr : uint8_t {
  RAX = 0,
  RCX,
  RDX,
  RBX,
  RSP,
  RBP,
  RSI,
  RDI,
  R8,
  R9,
  R10,
  R11,
  R12,
  R13,
  R14,
  R15,
};

inline constexpr uint64_t kFlagCF = 1u << 0;
inline constexpr uint64_t kFlagPF = 1u << 2;
inline constexpr uint64_t kFlagAF = 1u << 4;
inline constexpr uint64_t kFlagZF = 1u << 6;
inline constexpr uint64_t kFlagSF = 1u << 7;
inline constexpr uint64_t kFlagTF = 1u << 8;
inline constexpr uint64_t kFlagDF = 1u << 10;
inline constexpr uint64_t kFlagOF = 1u << 11;

struct CpuState {
  uint64_t gpr[16] = {};  // indexed by Gpr
  uint64_t rip = 0;
  uint64_t rflags = 0x202;
  uint64_t fs_base = 0;  // needed only for FS-relative operands
  uint64_t gs_base = 0;  // needed only for GS-relative operands
  XsaveArea xsave;       // vector/opmask registers; may be empty (then vector instructions are refused)

  uint64_t& reg(Gpr r) { return gpr[static_cast<unsigned>(r)]; }
  uint64_t reg(Gpr r) const { return gpr[static_cast<unsigned>(r)]; }
};

}  // namespace mmiotrace::emu
