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
  OK = 0,        // emulated; cpu.rip advanced (or, for a REP instruction stopped early, left for a re-run)
  DECODE_ERROR,  // the bytes are not a valid instruction
  UNSUPPORTED,   // valid, but not in the table: nothing was accessed, nothing changed
  FAULT,         // a memory access faulted as it would natively: see EmuResult.fault;
                 // cpu holds the state at the fault (REP: the iterations done so far)
};

const char* to_string(EmuStatus s);

struct EmuResult {
  EmuStatus status = EmuStatus::OK;
  MemFault fault;
  uint8_t insn_len = 0;  // length of the decoded instruction (0 on DECODE_ERROR)
};

// The RFLAGS a REPE/REPNE CMPS or SCAS shows when it faults after completing
// some elements (or is stopped by max_rep_iterations): the vendors differ
// (docs/emulated-instructions.md, section 9).
enum class RepCompareFlags : uint8_t {
  HOST,               // whichever of the two the CPU this runs on does (host_rep_compare_flags)
  INSTRUCTION_START,  // the flags before the instruction: Intel (SDM Vol. 2B, REP/REPE/REPZ/REPNE/REPNZ)
  LAST_COMPARISON,    // the flags of the last completed element's comparison: AMD
};

// The behaviour of this CPU, from its CPUID vendor: LAST_COMPARISON on
// AuthenticAMD, INSTRUCTION_START (the SDM's rule) on any other. Computed once.
RepCompareFlags host_rep_compare_flags();

struct EmuOptions {
  // REP string instructions stop after this many iterations with RIP unchanged
  // and RCX/RSI/RDI updated, so that the CPU re-runs the instruction (and the
  // program can take signals between chunks). 0: no limit.
  uint64_t max_rep_iterations = 0;
  RepCompareFlags rep_compare_flags = RepCompareFlags::HOST;
};

// The bits of the count register (RCX: 64; ECX with 67h: 32) if the
// instruction at `bytes` is a REP string instruction the emulator runs (REP
// MOVS/STOS/LODS, REPE/REPNE CMPS/SCAS), else 0. Its iterations each take one
// off the count (SDM Vol. 2B, REP/REPE/REPZ/REPNE/REPNZ, Operation).
unsigned rep_count_bits(const uint8_t* bytes, size_t len);

// Emulates the instruction at cpu.rip whose bytes are `bytes[0..len)` (len may
// exceed the instruction; up to 15 are looked at).
EmuResult emulate(CpuState& cpu, const uint8_t* bytes, size_t len, Memory& mem, const EmuOptions& options = {});

// ---- The table, asked about one instruction (src/emu/instruction_table.cc,
// docs/emulated-instructions.md "The table in the code"): which family
// emulates it, and the shape of its memory accesses, from its bytes alone.

// The emulator's families: each is one handler, and each row of the table names one.
enum class Family : uint8_t {
  GPR_MOVE,        // MOV, MOVZX, MOVSX, MOVSXD, MOVNTI, MOVBE: one load or store of a general register
  SETCC,           // SETcc m8: one store of 0 or 1
  CMOVCC,          // CMOVcc r, m: one load, whatever the condition
  PUSH_POP,        // PUSH m / POP m: the operand, and the stack at RSP
  STRING,          // MOVS, STOS, LODS, alone or with REP
  STRING_COMPARE,  // CMPS, SCAS, alone or with REPE/REPNE
  ALU,             // arithmetic, logic, shifts, rotates, bit tests, XCHG, XADD, CMPXCHG
  CMPXCHG_WIDE,    // CMPXCHG8B, CMPXCHG16B
  VECTOR_MOVE,     // SSE/AVX/AVX-512 loads and stores of a whole vector (AVX-512: opmasks)
  VECTOR_ELEMENT,  // scalar, half, broadcast and duplicating vector loads and stores
  PREFETCH,        // hints: no access at all
};

// The memory accesses of one instruction, by shape. A memory operand that is a
// source (not the instruction's first operand) is always a LOAD.
enum class AccessShape : uint8_t {
  NONE,               // no access (prefetches)
  LOAD,               // reads only (also CMP, TEST, BT and the ALU forms with a register destination)
  STORE,              // writes only, without reading
  READ_MODIFY_WRITE,  // reads, then writes the same bytes (even when the value does not change)
  COPY,               // reads one address and writes another: MOVS, PUSH m (operand -> stack), POP m
};

// What the table says about one instruction. status OK: a row of the table
// covers it; whenever emulate() emulates it (OK or FAULT), it does so as this
// says (family, shape, width, alignment, atomicity). emulate() may still refuse
// it (UNSUPPORTED, before any access) for operands the family cannot address
// (MMX registers of MOVD/MOVQ, 66 63, an embedded broadcast, an opmask on a form
// without one) or a register the XSAVE area lacks: what can be emulated is
// certain only from emulate(). UNSUPPORTED: no row covers it, emulate()
// refuses it. DECODE_ERROR: not an instruction.
struct FormInfo {
  EmuStatus status = EmuStatus::UNSUPPORTED;
  Family family = Family::PREFETCH;
  AccessShape access = AccessShape::NONE;
  unsigned width = 0;     // bytes of each access: the memory operand's (a string instruction's: one element's)
  unsigned align = 0;     // the address must be a multiple of this, else #GP before any access; 0: no rule
  bool atomic = false;    // the read and the write are one Memory::atomic_rmw (LOCK, or XCHG)
  bool repeated = false;  // REP/REPE/REPNE: RCX elements of `width` bytes
  bool masked = false;    // an AVX-512 opmask k1-k7 selects, at run time, the bytes accessed
  // BT/BTS/BTR/BTC with a register bit offset: the bytes accessed are not at the operand's
  // effective address ea but at ea + (offset >> log2(8 * width)) * width (docs/emulated-instructions.md, 6).
  bool register_bit_offset = false;
  uint8_t insn_len = 0;  // 0 on DECODE_ERROR
};

// The table's answer for the instruction at `bytes[0..len)` (up to 15 looked
// at). Pure computation: no CpuState, no memory access.
FormInfo describe(const uint8_t* bytes, size_t len);

// ---- The generic path (src/emu/emulate_generic.cc, docs/emulated-instructions.md
// "Generic path"): for an instruction the table refuses, a plan to run it for
// real with its one memory operand redirected to a bounce buffer. The caller
// moves the operand's bytes between the device and the bounce buffer (reads
// before, writes after) and runs the stub with the thread's own registers.

inline constexpr unsigned kGenericStubCapacity = 32;  // stub_out bytes plan_generic needs
inline constexpr unsigned kGenericBounceAlign = 64;   // bounce area alignment
inline constexpr unsigned kGenericBounceSize = 128;   // bounce area bytes: an operand of up to 64
                                                      // bytes at any offset modulo 64
inline constexpr uint8_t kGenericTerminator = 0xf4;   // HLT: #GP in user mode, SIGSEGV SI_KERNEL

struct GenericPlan {
  // OK: planned, the stub is in stub_out. UNSUPPORTED: refused, `refusal`
  // says why, stub_out is untouched. DECODE_ERROR: not an instruction.
  // FAULT: the instruction would fault before any access (a misaligned legacy
  // SSE operand: #GP), see `fault`.
  EmuStatus status = EmuStatus::UNSUPPORTED;
  const char* refusal = nullptr;  // static text, for UNSUPPORTED
  MemFault fault;
  uint64_t addr = 0;         // linear address of the memory operand
  unsigned size = 0;         // its bytes: 1, 2, 4, 8, 10 (x87 m80), 16, 32 or 64
  bool reads = false;        // the instruction reads the operand (copy device -> bounce first)
  bool writes = false;       // it writes it (copy bounce -> device after the stub ran)
  uint64_t bounce_addr = 0;  // where the stub's operand points: bounce_area + addr % 64
  // AVX-512 masked by k1-k7 (it then only reads): the device bytes the CPU
  // reads are those set in read_mask (bit i = byte i of the operand), the
  // selected elements; 0 when no element is selected (no access at all).
  bool masked = false;
  uint64_t read_mask = 0;
  uint8_t insn_len = 0;           // the original instruction's length
  uint8_t stub_len = 0;           // bytes written to stub_out: the re-encoded instruction, then HLT
  uint8_t terminator_offset = 0;  // offset of the HLT in the stub
};

// Plans the generic execution of the instruction at cpu.rip (`bytes[0..len)`),
// whose stub will live at `stub_addr` and whose bounce area (kGenericBounceSize
// bytes, kGenericBounceAlign-aligned, within +-2 GiB of the stub) is at
// `bounce_area`. Writes the stub to `stub_out` (`stub_cap` >= kGenericStubCapacity).
// Pure computation: no memory access beyond `bytes` and `stub_out`.
// The stub is checked by decoding it back: same instruction, same operands,
// the memory operand RIP-relative to bounce_addr; anything else is refused.
GenericPlan plan_generic(const CpuState& cpu, const uint8_t* bytes, size_t len, uint64_t stub_addr,
                         uint64_t bounce_area, uint8_t* stub_out, size_t stub_cap);

// ---- Decode only (the agent's single-stepping, for an instruction the table
// refuses): the memory operands of the instruction at cpu.rip, explicit and
// implicit, whose address the decoder can compute (general-register base and
// index; not VSIB, not MIB). Fills up to `cap` entries in operand order and
// returns their number; -1: not a valid instruction; -2: more than `cap`.
// *insn_len receives the instruction's length.
struct OperandAccess {
  uint64_t addr = 0;  // linear address
  unsigned size = 0;  // bytes
  bool read = false;
  bool write = false;
};
int memory_operands(const CpuState& cpu, const uint8_t* bytes, size_t len, OperandAccess* out, unsigned cap,
                    uint8_t* insn_len);

// Writes an AT&T-syntax disassembly of the instruction at `bytes` (runtime
// address `pc`) into `out` (NUL-terminated, truncated to `out_size`). Returns
// the instruction length, or 0 if the bytes do not decode (then `out` says so).
size_t disassemble(const uint8_t* bytes, size_t len, uint64_t pc, char* out, size_t out_size);

}  // namespace mmiotrace::emu
