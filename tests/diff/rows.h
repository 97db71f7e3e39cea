// The differential tester's table of instruction rows and the generator that
// turns a row and a seed into one random instance.
//
// A row describes one instruction form of the emulator's table
// (docs/emulated-instructions.md): its encoding template, operand widths,
// operand kinds, how it uses memory, its alignment rule and the prefixes the
// generator may add. The generator picks everything else at random from the
// seed: registers, RFLAGS, vector and opmask state, memory contents, the
// addressing mode (base, base+index*scale, index only, absolute disp32,
// RIP-relative; disp0/8/32; SIB without index), 67h, segment overrides
// (FS, GS, and the ignored CS/DS/ES/SS), page-straddling operands, operands
// that reach a guard page, and misaligned operands for aligned forms.
//
// To test a new instruction form, add a row in rows.cc (see the ALU rows
// there for forms that need nothing new). A row whose `enabled` is false is
// ready but not run by default (`--all-rows` runs it).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "diff/encoder.h"

namespace mmiotrace::difftest {

// ---- Row descriptors.

// Operand layout, which decides how the generator builds the instruction.
enum class Ops : uint8_t {
  GPR_MEM,  // ModRM: reg = general register of the variant's operand size, rm = memory
  IMM_MEM,  // ModRM: reg = /digit, rm = memory; then an immediate
  MEM,      // ModRM: reg = /digit, rm = memory; no other explicit operand
  MOFFS,    // A0-A3: accumulator and a 64-bit absolute address (32-bit with 67h)
  STRING,   // MOVS/STOS/LODS/CMPS/SCAS: implicit RSI, RDI, RCX, accumulator
  VEC_MEM,  // ModRM: reg = vector register, rm = memory (legacy SSE, VEX, EVEX)
};

// What the instruction does to its memory operand (the model of its accesses).
enum class MemUse : uint8_t {
  NONE,  // no access (prefetch)
  READ,
  WRITE,
  READ_WRITE,        // a read, then a write of the same bytes
  READ_MAYBE_WRITE,  // a read; the write may or may not be made (CMPXCHG failing)
};

// Forms whose accesses do not follow from the operand alone.
enum class Special : uint8_t {
  NONE,
  PREFETCH,   // any address, mapped or not; never an access or a fault
  BT_REG,     // BT* m, r: the register's bit offset moves the access (SDM Vol. 2, BT)
  PUSH,       // PUSH m: read m, write [RSP - size]
  POP,        // POP m: read [RSP], write m
  CC,         // SETcc / CMOVcc: opcode + condition 0-15
  REPLICATE,  // VEC_MEM broadcast / MOVDDUP / MOVSLDUP / MOVSHDUP: unmasked, one plain read of the
              // operand; broadcasts under a mask, only the memory elements a selected destination
              // element takes; MOVxDUP under a mask, the whole operand
};

// Prefix options (Row::opts).
enum : uint32_t {
  kOptSeg = 1u << 0,         // segment override: FS, GS (base set per instance), or an ignored CS/DS/ES/SS
  kOptAddr32 = 1u << 1,      // 67h: 32-bit address size
  kOptRepIgnored = 1u << 2,  // F2/F3 that the CPU ignores (MOV: XACQUIRE/XRELEASE semantics without LOCK)
  kOptRex = 1u << 3,         // redundant REX / REX.W on byte forms, 66 together with REX.W
  kOptRep = 1u << 4,         // string: F3 (REP/REPE)
  kOptRepCond = 1u << 5,     // string: F3 (REPE) or F2 (REPNE) (CMPS, SCAS)
  kOptLock = 1u << 6,        // F0 LOCK on some instances
  kOptNoRspAddr = 1u << 7,   // never use RSP as base (PUSH/POP: RSP is the stack pointer)
  kOptLockAlways = 1u << 8,  // F0 LOCK on every instance
};

inline constexpr uint8_t kWig = 2;  // Row::w: VEX/EVEX.W ignored by the instruction

struct Variant {
  uint8_t opsize;   // operand size in bytes (register / immediate / string element)
  uint8_t memsize;  // bytes of the memory access
  uint8_t opcode;
};

struct Row {
  const char* name = "";
  bool enabled = true;                    // false: ready, not run by default (the emulator does not support it yet)
  const char* disabled_reason = nullptr;  // why a row the emulator does emulate stays disabled
  bool expect_refused = false;            // a documented refusal: every instance must be UNSUPPORTED
  Ops ops = Ops::GPR_MEM;
  MemUse mem = MemUse::READ;
  Special special = Special::NONE;
  uint8_t map = 0;    // 0: one-byte opcode, 1: 0F, 2: 0F 38, 3: 0F 3A
  Variant v[4] = {};  // GPR/string/moffs forms: one per operand size
  uint8_t nv = 0;
  int8_t digit = -1;  // ModRM.reg for IMM_MEM / MEM
  uint8_t imm = 0;    // IMM_MEM: 1 = imm8, 4 = imm16/imm32 by operand size (iz)
  uint32_t opts = 0;
  // VEC_MEM
  Enc enc = Enc::LEGACY;
  uint8_t pp = 0;  // mandatory prefix / VEX-EVEX pp: 0 none, 1 66, 2 F3, 3 F2
  uint8_t vopcode = 0;
  uint8_t w = 0;          // VEX/EVEX.W: 0, 1, or kWig (ignored: random)
  uint8_t vls = 0;        // vector lengths: bit 0 128, bit 1 256, bit 2 512
  uint8_t vmem = 0;       // access size: 0 = the vector length, else 4 or 8
  uint8_t mask_elem = 0;  // EVEX merge/zero masking element size; 0: not maskable
  bool store = false;     // VEC_MEM: register to memory
  bool aligned = false;   // #GP unless aligned (legacy SSE: 16; VEX/EVEX and GPR forms: the access size)
  bool exact = true;      // compare the sequence of Memory calls, not only the bytes they cover
  bool atomic = false;    // always locked (XCHG with memory): RMW even without F0
  uint8_t dup = 0;        // Special::REPLICATE: 0 broadcast, 1 MOVDDUP/MOVSLDUP (even elements), 2 MOVSHDUP (odd)
};

const std::vector<Row>& all_rows();

// ---- Instances.

// RMW: one Memory::atomic_rmw (a locked read-modify-write: every LOCK-prefixed
// instruction and XCHG with memory), never a separate read and write.
enum class AccessKind : uint8_t { READ, WRITE, READ_MASKED, WRITE_MASKED, RMW };

struct Access {
  AccessKind kind;
  uint64_t addr;
  unsigned size;
  uint64_t mask;  // masked kinds only (bit i = byte i)
  bool operator==(const Access&) const = default;
};
std::string to_string(const Access& a);

// Fixed for the process: where memory and code are, what the CPU has.
struct Env {
  uint64_t region = 0;      // lower guard page; then pages A, B; then the upper guard page
  uint64_t lo = 0, hi = 0;  // [lo, hi): pages A and B, ordinary memory
  uint64_t code_page = 0;
  uint64_t fs_base = 0;
  uint64_t xfeatures = 0;                   // XSAVE components loaded and compared
  const uint8_t* xsave_template = nullptr;  // a valid XSAVE image of this thread (capture_xsave)
  bool avx = false, avx512 = false, movbe = false;
};

struct Instance {
  const Row* row = nullptr;
  uint64_t seed = 0;
  uint8_t code[15] = {};
  unsigned len = 0;
  uint64_t insn_addr = 0;
  uint64_t gpr[16] = {};
  uint64_t rflags = 0x202;
  bool set_gs = false;
  uint64_t gs_base = 0;
  uint8_t* xsave = nullptr;  // initial XSAVE image (64-byte aligned; owned by the caller)
  uint8_t* mem = nullptr;    // initial contents of the 4-page region (guard pages' bytes unused)
  // Emulate REP string instructions in chunks of this many iterations
  // (EmuOptions::max_rep_iterations), re-running until done. 0: in one go.
  unsigned rep_chunk = 0;
  // A REP string instruction with 67h. When it completes no iteration (ECX = 0,
  // or a fault in the first), this CPU still zero-extends RCX and some of
  // RSI/RDI (MOVS both, STOS RDI, LODS neither); the SDM's pseudo-code writes
  // nothing, and neither does the emulator (b5ecf62; between 1b95a2d and it,
  // a fault in the first iteration zero-extended every register used). The
  // comparison accepts either value for those three registers' upper halves,
  // whichever side zero-extends (counted as "tolerated").
  bool a32_rep = false;
  // The accesses a correct emulation makes if the instruction completes.
  std::vector<Access> expected;
  const char* placement = "";  // how the operand was placed (normal, straddle, guard, misaligned, ...)
};

// Fills `inst` from `seed`: row choice (among `rows`), registers, RFLAGS,
// vector state and memory (the buffers must be allocated), then the instruction.
void generate(uint64_t seed, const std::vector<const Row*>& rows, const Env& env, Instance& inst);

}  // namespace mmiotrace::difftest
