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

struct EmuOptions {
  // REP string instructions stop after this many iterations with RIP unchanged
  // and RCX/RSI/RDI updated, so that the CPU re-runs the instruction (and the
  // program can take signals between chunks). 0: no limit.
  uint64_t max_rep_iterations = 0;
};

// Emulates the instruction at cpu.rip whose bytes are `bytes[0..len)` (len may
// exceed the instruction; up to 15 are looked at).
EmuResult emulate(CpuState& cpu, const uint8_t* bytes, size_t len, Memory& mem, const EmuOptions& options = {});

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
