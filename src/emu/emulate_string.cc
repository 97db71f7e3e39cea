// Async-signal-safe: runs in the traced program's signal handler; no allocation, no locks.
//
// The table's STRING family: MOVS, STOS and LODS (byte, word, dword, qword),
// with and without REP, either direction. A REP instruction's iterations go to the
// Memory as one StringRun (the agent performs and records them in bulk; the
// accesses are the same). One element per iteration; MOVS reads its
// source then writes its destination (SDM Vol. 2, MOVS/MOVSB/MOVSW/MOVSD/MOVSQ,
// STOS, LODS, REP/REPE/REPZ/REPNE/REPNZ). RSI/RDI/RCX are updated after every
// completed iteration, so that when an access faults the registers hold the
// iterations completed and RIP still points at the instruction: what the CPU
// reports for an exception inside a REP string instruction, so that it resumes
// where it stopped (SDM Vol. 2, REP, "Operation" and the note on interrupts).
// Flags are read (DF) but never written.
#include <Zydis/Zydis.h>

#include "common/handler_rules.h"
#include "emu/instruction_table.h"

MT_HANDLER_RULES

namespace mmiotrace::emu::detail {
namespace {

// The source operand's segment (DS unless overridden; MOVS and LODS only).
// The destination is always ES:RDI and ES cannot be overridden (SDM Vol. 2, MOVS).
ZydisRegister source_segment(const Insn& insn) {
  for (unsigned i = 0; i < insn.in.operand_count; ++i) {
    const ZydisDecodedOperand& op = insn.ops[i];
    if (op.type == ZYDIS_OPERAND_TYPE_MEMORY && (op.actions & ZYDIS_OPERAND_ACTION_MASK_READ)) {
      return op.mem.segment;
    }
  }
  return ZYDIS_REGISTER_DS;
}

struct StringState {
  StringOp op = StringOp::MOVS;
  unsigned width = 0;       // element bytes
  unsigned addr_bits = 64;  // 32 with 67h: ESI/EDI/ECX are used and written
  uint64_t src_base = 0;    // segment base added to RSI
  bool down = false;        // DF=1: the pointers decrement
};

// Writes a pointer or count register at the address size: with 67h a 32-bit
// write, which zero-extends to 64 bits (SDM Vol. 1, 3.4.1.1).
void set_addr_reg(CpuState& cpu, Gpr r, uint64_t v, unsigned addr_bits) { cpu.reg(r) = truncate_bits(v, addr_bits); }

void step_pointer(CpuState& cpu, Gpr r, const StringState& s) {
  const uint64_t v = cpu.reg(r);
  set_addr_reg(cpu, r, s.down ? v - s.width : v + s.width, s.addr_bits);
}

// The accumulator of the element width: AL, AX, EAX or RAX. LODSD writes EAX,
// which zero-extends into RAX; LODSB/LODSW keep the other bits.
void write_accumulator(CpuState& cpu, uint64_t value, unsigned width) {
  uint64_t& rax = cpu.reg(Gpr::RAX);
  if (width >= 4) {
    rax = truncate_bits(value, width * 8);
  } else {
    const uint64_t mask = (uint64_t{1} << (width * 8)) - 1;
    rax = (rax & ~mask) | (value & mask);
  }
}

// One element: its accesses, then the pointer updates. On a fault the
// registers are left as they were before this element.
MemFault one_element(CpuState& cpu, Memory& mem, const StringState& s) {
  const uint64_t src = s.src_base + truncate_bits(cpu.reg(Gpr::RSI), s.addr_bits);
  const uint64_t dst = truncate_bits(cpu.reg(Gpr::RDI), s.addr_bits);  // ES base is 0
  uint64_t value = 0;
  MemFault f;
  switch (s.op) {
    case StringOp::MOVS:
      f = mem.read(src, s.width, &value);
      if (f.ok()) f = mem.write(dst, s.width, &value);
      if (!f.ok()) return f;
      step_pointer(cpu, Gpr::RSI, s);
      step_pointer(cpu, Gpr::RDI, s);
      return f;
    case StringOp::STOS:
      value = truncate_bits(cpu.reg(Gpr::RAX), s.width * 8);
      f = mem.write(dst, s.width, &value);
      if (!f.ok()) return f;
      step_pointer(cpu, Gpr::RDI, s);
      return f;
    case StringOp::LODS:
      f = mem.read(src, s.width, &value);
      if (!f.ok()) return f;
      write_accumulator(cpu, value, s.width);
      step_pointer(cpu, Gpr::RSI, s);
      return f;
  }
  return f;
}

}  // namespace

// The row (instruction_table.cc) has refused F2 (REPNE), which is defined for
// CMPS/SCAS only (its effect on MOVS/STOS/LODS is undocumented), and LOCK.
Outcome emulate_string(CpuState& cpu, const Insn& insn, const Row& row, Memory& mem, const EmuOptions& options) {
  const ZydisDecodedInstruction& in = insn.in;
  StringState s;
  s.op = static_cast<StringOp>(row.kind);
  s.width = in.operand_width / 8;
  s.addr_bits = in.address_width;
  s.src_base = segment_base(cpu, source_segment(insn));
  s.down = (cpu.rflags & kFlagDF) != 0;
  if (!(in.attributes & ZYDIS_ATTRIB_HAS_REP)) {
    const MemFault f = one_element(cpu, mem, s);
    return f.ok() ? outcome_done() : outcome_fault(f);
  }
  // REP: the count is RCX, or ECX with 67h; a zero count performs no access.
  const uint64_t count = truncate_bits(cpu.reg(Gpr::RCX), s.addr_bits);
  if (count == 0) return outcome_done();
  const bool early = options.max_rep_iterations != 0 && options.max_rep_iterations < count;
  StringRun run;
  run.kind = s.op == StringOp::MOVS ? StringKind::MOVS : s.op == StringOp::STOS ? StringKind::STOS : StringKind::LODS;
  run.width = s.width;
  run.down = s.down;
  run.addr_bits = s.addr_bits;
  run.src_base = s.src_base;
  run.src = s.src_base + truncate_bits(cpu.reg(Gpr::RSI), s.addr_bits);
  run.dst = truncate_bits(cpu.reg(Gpr::RDI), s.addr_bits);  // ES base is 0
  run.count = early ? options.max_rep_iterations : count;
  run.value = truncate_bits(cpu.reg(Gpr::RAX), s.width * 8);
  uint64_t done = 0, last = 0;
  const MemFault f = mem.string_run(run, &done, &last);
  // The registers as after `done` complete iterations (also on a fault). With
  // none completed they are left as they were, as the SDM's pseudo-code has it
  // (this CPU zero-extends some of them under 67h even then: tests/diff/rows.h).
  if (done == 0 && !f.ok()) return outcome_fault(f);
  const uint64_t moved = done * s.width;
  auto advance = [&](Gpr r) {
    const uint64_t v = cpu.reg(r);
    set_addr_reg(cpu, r, s.down ? v - moved : v + moved, s.addr_bits);
  };
  if (s.op != StringOp::STOS) advance(Gpr::RSI);
  if (s.op != StringOp::LODS) advance(Gpr::RDI);
  if (s.op == StringOp::LODS && done != 0) write_accumulator(cpu, last, s.width);
  set_addr_reg(cpu, Gpr::RCX, count - done, s.addr_bits);
  if (!f.ok()) return outcome_fault(f);
  if (early) return {EmuStatus::OK, {}, false};  // stopped early: the CPU re-runs the rest
  return outcome_done();
}

}  // namespace mmiotrace::emu::detail
