// Async-signal-safe: runs in the traced program's signal handler; no allocation, no locks.
//
// String comparisons CMPS and SCAS (byte, word, dword, qword), alone or with
// REPE/REPZ (F3) or REPNE/REPNZ (F2), either direction, 64- or 32-bit (67h)
// addresses. Per element (SDM Vol. 2, CMPS/CMPSB/CMPSW/CMPSD/CMPSQ, SCAS, REP):
//   CMPS: read [seg:RSI] then [ES:RDI]; flags of [RSI] - [RDI] (CMP semantics);
//   SCAS: read [ES:RDI]; flags of accumulator - [RDI].
// With a repeat prefix: while RCX != 0: one element, RCX -= 1, then stop if
// ZF = 0 (REPE) or ZF = 1 (REPNE). RCX = 0 performs no access and leaves the
// flags alone. RCX/RSI/RDI are updated after every element, so that a fault
// in element i leaves them as after element i-1 with RIP on the instruction
// (SDM Vol. 2B, REP/REPE/REPZ/REPNE/REPNZ: "the source and destination
// registers point to the next string elements ... ECX has the value it held
// following the last successful iteration"), as emulate_string.cc does for
// MOVS/STOS/LODS.
//
// RFLAGS at such a fault is where the vendors differ (RepCompareFlags):
//   - Intel: "When a fault occurs during the execution of a CMPS or SCAS
//     instruction that is prefixed with REPE or REPNE, the EFLAGS value is
//     restored to the state prior to the execution of the instruction" (same
//     page). tests/diff on a Xeon (Sapphire Rapids) agreed.
//   - AMD: the APM says nothing of it (Vol. 3, 1.2.6 "Repeat Prefixes" and
//     the CMPS/SCAS pages); an EPYC (Zen 3) reports the flags of the last
//     completed comparison (tests/diff: every cmps/scas divergence on that
//     host, and none once the emulator did the same).
// The emulator does what the CPU it runs on does (host_rep_compare_flags(),
// from the CPUID vendor), so that a program's SIGSEGV handler sees the state
// it would have seen natively. A run stopped by max_rep_iterations leaves
// RFLAGS as a fault at that point would, so that a fault in a later run
// reports the same as one native run.
#include <Zydis/Zydis.h>
#include <cpuid.h>

#include <atomic>
#include <cstring>

#include "common/handler_rules.h"
#include "emu/instruction_table.h"
#include "emu/native_ops.h"

MT_HANDLER_RULES

namespace mmiotrace::emu {
namespace {

// 0: not looked at yet, else 1 + RepCompareFlags. CPUID traps to the
// hypervisor in a VM (microseconds), hence computed once; a race computes it twice.
constinit std::atomic<uint8_t> g_host_rep_compare_flags{0};

RepCompareFlags rep_compare_flags_of_vendor() {
  unsigned max_leaf = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid(0, &max_leaf, &ebx, &ecx, &edx) == 0) return RepCompareFlags::INSTRUCTION_START;
  char vendor[12];
  memcpy(vendor, &ebx, 4);
  memcpy(vendor + 4, &edx, 4);
  memcpy(vendor + 8, &ecx, 4);
  return memcmp(vendor, "AuthenticAMD", 12) == 0 ? RepCompareFlags::LAST_COMPARISON
                                                 : RepCompareFlags::INSTRUCTION_START;
}

}  // namespace

RepCompareFlags host_rep_compare_flags() {
  uint8_t v = g_host_rep_compare_flags.load(std::memory_order_relaxed);
  if (v == 0) {
    v = static_cast<uint8_t>(1 + static_cast<uint8_t>(rep_compare_flags_of_vendor()));
    g_host_rep_compare_flags.store(v, std::memory_order_relaxed);
  }
  return static_cast<RepCompareFlags>(v - 1);
}

unsigned rep_count_bits(const uint8_t* bytes, size_t len) {
  detail::Insn insn;
  if (!detail::decode(bytes, len, insn)) return 0;
  const ZydisDecodedInstruction& in = insn.in;
  const detail::Row* row = detail::find_row(insn);
  const bool move = row != nullptr && row->family == Family::STRING;
  const bool compare = row != nullptr && row->family == Family::STRING_COMPARE;
  // As the emulator takes them: REP on the moves (REPNE there is refused), REPE/REPNE on the comparisons.
  const bool rep = move ? (in.attributes & ZYDIS_ATTRIB_HAS_REP) != 0 && (in.attributes & ZYDIS_ATTRIB_HAS_REPNE) == 0
                        : compare && (in.attributes & (ZYDIS_ATTRIB_HAS_REPE | ZYDIS_ATTRIB_HAS_REPNE)) != 0;
  return rep && (in.attributes & ZYDIS_ATTRIB_HAS_LOCK) == 0 ? in.address_width : 0;
}

}  // namespace mmiotrace::emu

namespace mmiotrace::emu::detail {
namespace {

enum class CompareOp : uint8_t { NONE, CMPS, SCAS };

CompareOp compare_op(const ZydisDecodedInstruction& in) {
  if (in.encoding != ZYDIS_INSTRUCTION_ENCODING_LEGACY || in.opcode_map != ZYDIS_OPCODE_MAP_DEFAULT) {
    return CompareOp::NONE;
  }
  switch (in.opcode) {
    case 0xA6:
    case 0xA7:
      return CompareOp::CMPS;
    case 0xAE:
    case 0xAF:
      return CompareOp::SCAS;
    default:
      return CompareOp::NONE;
  }
}

struct CompareState {
  CompareOp op = CompareOp::NONE;
  unsigned width = 0;       // element bytes
  unsigned addr_bits = 64;  // 32 with 67h
  uint64_t src_base = 0;    // CMPS: segment base added to RSI (DS unless FS/GS override)
  bool down = false;        // DF = 1
};

// With 67h a 32-bit register write, which zero-extends (SDM Vol. 1, 3.4.1.1).
void set_addr_reg(CpuState& cpu, Gpr r, uint64_t v, unsigned addr_bits) { cpu.reg(r) = truncate_bits(v, addr_bits); }

void step_pointer(CpuState& cpu, Gpr r, const CompareState& s) {
  const uint64_t v = cpu.reg(r);
  set_addr_reg(cpu, r, s.down ? v - s.width : v + s.width, s.addr_bits);
}

// One element: its reads, the comparison (its flags into `flags`, from the
// guest's `flags`), then the pointer updates. On a fault nothing is updated.
MemFault one_element(CpuState& cpu, Memory& mem, const CompareState& s, uint64_t& flags) {
  const uint64_t src = s.src_base + truncate_bits(cpu.reg(Gpr::RSI), s.addr_bits);
  const uint64_t dst = truncate_bits(cpu.reg(Gpr::RDI), s.addr_bits);  // ES base is 0
  uint64_t left = 0;
  uint64_t right = 0;
  MemFault f;
  if (s.op == CompareOp::CMPS) {
    f = mem.read(src, s.width, &left);
    if (!f.ok()) return f;
  } else {
    left = truncate_bits(cpu.reg(Gpr::RAX), s.width * 8);
  }
  f = mem.read(dst, s.width, &right);
  if (!f.ok()) return f;
  // CMP r, m: the register holds the left operand, `right` plays the memory one.
  NativeArgs args;
  args.src = left;
  flags = run_native(NativeOp::CMP_R, s.width, &right, args, flags);
  if (s.op == CompareOp::CMPS) step_pointer(cpu, Gpr::RSI, s);
  step_pointer(cpu, Gpr::RDI, s);
  return f;
}

}  // namespace

Outcome emulate_string_compare(CpuState& cpu, const Insn& insn, Memory& mem, const EmuOptions& options) {
  const ZydisDecodedInstruction& in = insn.in;
  CompareState s;
  s.op = compare_op(in);
  const bool repe = (in.attributes & ZYDIS_ATTRIB_HAS_REPE) != 0;
  const bool repne = (in.attributes & ZYDIS_ATTRIB_HAS_REPNE) != 0;
  if (s.op == CompareOp::NONE || (in.attributes & ZYDIS_ATTRIB_HAS_LOCK) || (repe && repne)) {
    return outcome_unsupported();
  }
  s.width = in.operand_width / 8;
  s.addr_bits = in.address_width;
  // CMPS's first operand is DS:RSI and takes a segment override; SCAS's only
  // operand is ES:RDI, which cannot be overridden.
  s.src_base = s.op == CompareOp::CMPS ? segment_base(cpu, insn.ops[0].mem.segment) : 0;
  s.down = (cpu.rflags & kFlagDF) != 0;
  uint64_t flags = cpu.rflags;
  if (!repe && !repne) {
    const MemFault f = one_element(cpu, mem, s, flags);
    if (!f.ok()) return outcome_fault(f);
    cpu.rflags = flags;
    return outcome_done();
  }
  RepCompareFlags policy = options.rep_compare_flags;
  if (policy == RepCompareFlags::HOST) policy = host_rep_compare_flags();
  // LAST_COMPARISON: RFLAGS follows every element; INSTRUCTION_START: only
  // the completed instruction sets it (the file's comment).
  const bool per_element = policy == RepCompareFlags::LAST_COMPARISON;
  uint64_t count = truncate_bits(cpu.reg(Gpr::RCX), s.addr_bits);
  uint64_t done = 0;
  while (count != 0) {
    if (options.max_rep_iterations != 0 && done == options.max_rep_iterations) {
      return {EmuStatus::OK, {}, false};  // stopped early: the CPU re-runs the rest
    }
    const MemFault f = one_element(cpu, mem, s, flags);
    if (!f.ok()) return outcome_fault(f);
    --count;
    ++done;
    set_addr_reg(cpu, Gpr::RCX, count, s.addr_bits);
    if (per_element) cpu.rflags = flags;
    const bool zf = (flags & kFlagZF) != 0;
    if (repe ? !zf : zf) break;
  }
  cpu.rflags = flags;
  return outcome_done();
}

}  // namespace mmiotrace::emu::detail
