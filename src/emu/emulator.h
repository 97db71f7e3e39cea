// Decode one instruction and emulate it: apply its register effects to a
// CpuState and perform its memory accesses through a Memory. The set of
// instructions emulated is a closed table (docs/emulated-instructions.md);
// anything else is refused, never guessed.
//
// This folder (src/emu) is the only place that includes Zydis.
// Async-signal-safe: decode and emulate allocate nothing and take no locks.
#pragma once

#include <cstddef>
#include <cstdint>

#include "emu/cpu_state.h"
#include "emu/memory.h"

namespace mmiotrace::emu {

enum class EmuStatus : uint8_t {
  OK = 0,           // emulated; cpu.rip advanced (or, for a REP instruction stopped early, left for a re-run)
  DECODE_ERROR,     // the bytes are not a valid instruction
  UNSUPPORTED,      // valid, but not in the table: nothing was accessed, nothing changed
  FAULT,            // a memory access faulted as it would natively: see EmuResult.fault;
                    // cpu holds the state at the fault (REP: the iterations done so far)
};

const char* to_string(EmuStatus s);

struct EmuResult {
  EmuStatus status = EmuStatus::OK;
  MemFault fault;
  uint8_t insn_len = 0;  // length of the decoded instruction (0 on DECODE_ERROR)
};

struct EmuOptions {
  // REP string instructions stop after this many iterations with RIP unchanged
  // and RCX/RSI/RDI updated, so that the CPU re-runs the instruction (and the
  // program can take signals between chunks). 0: no limit.
  uint64_t max_rep_iterations = 0;
};

// Emulates the instruction at cpu.rip whose bytes are `bytes[0..len)` (len may
// exceed the instruction; up to 15 are looked at).
EmuResult emulate(CpuState& cpu, const uint8_t* bytes, size_t len, Memory& mem,
                  const EmuOptions& options = {});

// Writes an AT&T-syntax disassembly of the instruction at `bytes` (runtime
// address `pc`) into `out` (NUL-terminated, truncated to `out_size`). Returns
// the instruction length, or 0 if the bytes do not decode (then `out` says so).
size_t disassemble(const uint8_t* bytes, size_t len, uint64_t pc, char* out, size_t out_size);

}  // namespace mmiotrace::emu
