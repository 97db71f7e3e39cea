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

// Why the generic path refuses an instruction: one code per reason, each
// with a one-line meaning (describe()), as Zydis's status codes.
enum class GenericRefusal : uint8_t {
  NONE = 0,
  LOCKED,                    // a LOCK prefix: atomicity cannot be kept across two device accesses
  REPEATED,                  // a REP prefix repeats the access
  SYSTEM,                    // a system instruction (privileged, VMX, SGX, CET, control/debug registers...)
  ENCODING,                  // a 3DNow! or MVEX encoding, which is not re-encoded
  CONTROL_TRANSFER,          // a branch, call or return through memory, or anything writing RIP
  FAR_POINTER,               // a far branch or call through a pointer operand
  XSAVE_SIZE,                // an XSAVE-family operand, whose size depends on the processor state
  SEGMENT_LOAD,              // it loads a segment register
  NOT_PLAIN_MEMORY,          // its memory operand is not a plain load or store (LEA, MPX, AMX, ENQCMD)
  XCHG_ATOMIC,               // XCHG with memory is always locked: atomicity cannot be kept
  CACHE_LINE,                // a cache-line operation acts on the address, not on data
  MASK_DECIDES,              // a mask register (VMASKMOV, MASKMOVDQU) decides which bytes it accesses
  TWO_MEMORY_OPERANDS,       // more than one memory operand (a stack, string or two-address instruction)
  NO_MEMORY_OPERAND,         // no memory operand at all
  IMPLICIT_MEMORY,           // memory accessed only implicitly (a stack or string instruction)
  VSIB,                      // a gather or scatter: several addresses through a vector index
  CONDITIONAL_ACCESS,        // whether it reads or writes its operand depends on the data (CMPXCHG...)
  NO_ACCESS,                 // it neither reads nor writes its memory operand
  OPERAND_SIZE,              // an operand of other than 1, 2, 4, 8, 16, 32 or 64 bytes or an x87 m80
  M80_OUTSIDE_X87,           // a 10-byte operand outside the x87 instructions
  MASKED_WRITE,              // AVX-512 masking decides which elements of the operand it writes
  MASKED_EXPAND,             // a masked expand reads as many elements as mask bits are set
  NO_OPMASK_STATE,           // AVX-512 masking, but the opmask registers' state is not available
  MASKED_BLOCK_BROADCAST,    // AVX-512 masking of a block broadcast (elements not one to one with mask bits)
  MASKED_NO_ELEMENT_SIZE,    // AVX-512 masking of an operand whose element size Zydis does not give
  MASKED_ELEMENTS_UNMAPPED,  // AVX-512 masking where the operand's elements are not one to one with mask bits
  BAD_BUFFERS,               // the caller's stub buffer is too small or its bounce area misaligned
  ENCODE_FAILED,             // Zydis's encoder could not re-encode it
  ENCODE_MISMATCH,           // Zydis re-encoded it into a different instruction
};

// The one-line meaning of `r` (static text).
const char* describe(GenericRefusal r);

struct GenericPlan {
  // OK: planned, the stub is in stub_out. UNSUPPORTED: refused, `refusal`
  // says why, stub_out is untouched. DECODE_ERROR: not an instruction.
  // FAULT: the instruction would fault before any access (a misaligned legacy
  // SSE operand: #GP), see `fault`.
  EmuStatus status = EmuStatus::UNSUPPORTED;
  GenericRefusal refusal = GenericRefusal::NONE;  // for UNSUPPORTED
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

// ---- The fast path (src/agent/patch, docs/record.md "Patching"): whether an
// instruction may be patched into a jump to a trampoline, and how the
// trampoline performs it. The table above stays the one place that says what
// is emulated: plan_patch() asks it (an instruction it refuses is not
// patchable), and adds what a trampoline needs on top.

enum class PatchKind : uint8_t {
  NONE,     // not patchable: PatchPlan::refusal says why
  LOAD,     // MOV/MOVZX/MOVSX/MOVSXD r, m: read `size` bytes, apply_patch_load() into the registers
  STORE,    // MOV/MOVNTI m, r or MOV m, imm: patch_store_value() is written, `size` bytes
  EMULATE,  // any other instruction of the table with one memory operand: emulate() with the
            // thread's registers (and its vector/opmask registers when `vector`)
};

// Why an instruction cannot be patched: one code per reason (describe()).
enum class PatchRefusal : uint8_t {
  NONE = 0,
  NOT_AN_INSTRUCTION,  // the bytes are not a valid instruction
  NOT_IN_TABLE,        // the emulator's table does not cover it (it keeps faulting: generic path, step)
  STRING,              // a string instruction (MOVS, STOS, LODS, CMPS, SCAS): implicit operands, REP
  MEMORY_OPERANDS,     // not exactly one explicit memory operand (PUSH/POP m, stack or implicit operands)
  ADDRESS_SIZE,        // a 67h prefix: 32-bit address arithmetic
  SEGMENT,             // an FS or GS override: the segment base is not at hand in a trampoline
  WRITES_RSP_OR_RIP,   // it writes RSP or transfers control
};

const char* describe(PatchRefusal r);

struct PatchPlan {
  PatchKind kind = PatchKind::NONE;
  PatchRefusal refusal = PatchRefusal::NONE;
  uint8_t insn_len = 0;
  // The memory operand: linear address = [base] + [index] * scale + disp, with
  // base and index general registers (Gpr numbering) or -1, and for a
  // RIP-relative operand `rip_relative` (disp from the next instruction).
  int8_t base = -1;
  int8_t index = -1;
  uint8_t scale = 1;
  bool rip_relative = false;
  int64_t disp = 0;
  unsigned size = 0;    // bytes the operand covers (accessed ones lie within)
  bool reads = false;   // it may read the operand (a locked operation reads and writes)
  bool writes = false;  // it may write it
  // LOAD and STORE: the general register (Gpr numbering), its width in bytes
  // (1, 2, 4, 8) and for AH..BH `high8`; LOAD sign-extends with `sign`;
  // STORE of an immediate has `has_imm`.
  uint8_t reg = 0;
  uint8_t reg_bytes = 0;
  bool high8 = false;
  bool sign = false;
  bool has_imm = false;
  uint64_t imm = 0;
  // EMULATE: the instruction reads or writes vector or opmask registers.
  bool vector = false;
};

// Plans the fast path for the instruction at cpu.rip (`bytes[0..len)`). Asks
// the table by emulating it on a copy of `cpu` with a Memory that faults at
// its first access, so nothing is accessed or changed.
PatchPlan plan_patch(const CpuState& cpu, const uint8_t* bytes, size_t len);

// LOAD: the destination register's new contents, from its old contents
// `reg` and the `size`-byte value read, as the instruction would write it
// (zero/sign extension, the x86-64 partial-register rules, SDM Vol. 1, 3.4.1.1).
inline uint64_t patch_load_result(const PatchPlan& p, uint64_t reg, uint64_t value) {
  const unsigned bits = p.size * 8;
  if (bits < 64) value &= (uint64_t{1} << bits) - 1;
  if (p.sign && bits < 64) value = (value ^ (uint64_t{1} << (bits - 1))) - (uint64_t{1} << (bits - 1));
  if (p.high8) return (reg & ~uint64_t{0xff00}) | ((value & 0xff) << 8);
  if (p.reg_bytes == 4) return value & 0xffffffffu;  // a 32-bit destination zero-extends
  if (p.reg_bytes == 8) return value;
  const uint64_t m = p.reg_bytes == 1 ? 0xff : 0xffff;
  return (reg & ~m) | (value & m);
}

// LOAD: writes the `size`-byte value read into gpr[] (patch_load_result).
inline void apply_patch_load(const PatchPlan& p, uint64_t* gpr, uint64_t value) {
  gpr[p.reg] = patch_load_result(p, gpr[p.reg], value);
}

// STORE: the value written (its low `size` bytes), from the source
// register's contents `reg` (unused for an immediate).
inline uint64_t patch_store_operand(const PatchPlan& p, uint64_t reg) {
  if (p.has_imm) return p.imm;
  return p.high8 ? (reg >> 8) & 0xff : reg;
}

// STORE: the value written (its low `size` bytes).
inline uint64_t patch_store_value(const PatchPlan& p, const uint64_t* gpr) {
  return patch_store_operand(p, p.has_imm ? 0 : gpr[p.reg]);
}

// Re-encodes the instruction `bytes[0..len)` at address `from` so that it runs
// at `to` with the same effect: a RIP-relative memory operand keeps its
// absolute address and a relative JMP/Jcc its destination (through the generic
// path's encoder, checked by decoding it back); anything else is copied as it
// is. Returns the length written to `out` (`cap` >= 15), or 0 if it cannot be
// moved (CALL, LOOP, JRCXZ, XBEGIN, FS/GS with RIP-relative, or a form the
// encoder does not give back).
size_t relocate(const uint8_t* bytes, size_t len, uint64_t from, uint64_t to, uint8_t* out, size_t cap);

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
