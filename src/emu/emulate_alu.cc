// Async-signal-safe: runs in the traced program's signal handler; no allocation, no locks.
//
// The table's ALU and CMPXCHG_WIDE families: ALU instructions with a memory
// operand: ADD OR ADC SBB AND SUB XOR CMP TEST, INC DEC NOT NEG, ROL ROR RCL
// RCR SHL/SAL SHR SAR, SHLD SHRD, BT BTS BTR BTC, XCHG, XADD, CMPXCHG,
// CMPXCHG8B, CMPXCHG16B (SDM Vol. 2, each by name). Each row
// (instruction_table.cc) gives the form's shape, the operation run natively,
// whether it writes memory and whether it takes LOCK.
//
// Memory accesses, all of the operand's width, in this order:
//   read-only (CMP, TEST, BT, register destinations): one read;
//   read-modify-write: one read, then one write, even when the value does not
//     change (a shift or rotate by a masked count of 0, a failing CMPXCHG):
//     the CPU treats the operand as a write whatever the count or outcome;
//     shll %cl,(ro) with CL = 0 faults on a read-only page natively;
//   LOCK-prefixed, and XCHG (always locked): one Memory::atomic_rmw, which
//     does the read and the write as one unit.
// The result and the flags come from the CPU (native_ops.h). Registers and
// RFLAGS change only once every access has succeeded.
#include <Zydis/Zydis.h>

#include <csignal>
#include <cstring>

#include "common/check.h"
#include "common/handler_rules.h"
#include "emu/instruction_table.h"
#include "emu/native_ops.h"

MT_HANDLER_RULES

namespace mmiotrace::emu::detail {
namespace {

// Everything the accesses and the register effects need, settled before the first access.
struct AluPlan {
  NativeOp op = NativeOp::ADD;
  uint64_t addr = 0;
  unsigned bytes = 0;
  bool writes = false;                          // memory is written (after the read)
  bool atomic = false;                          // one Memory::atomic_rmw
  ZydisRegister reg_out = ZYDIS_REGISTER_NONE;  // receives args.src afterwards
  ZydisRegister acc = ZYDIS_REGISTER_NONE;      // CMPXCHG: receives args.acc if it failed
  NativeArgs args;
  uint64_t rflags_in = 0;
  uint64_t rflags_out = 0;  // set by the computation
};

bool is_gpr_reg(const ZydisDecodedOperand& op) {
  return op.type == ZYDIS_OPERAND_TYPE_REGISTER && is_gpr(op.reg.value);
}

uint64_t sign_extend(uint64_t v, unsigned bits) {
  if (bits >= 64) return v;
  const uint64_t sign = uint64_t{1} << (bits - 1);
  return (truncate_bits(v, bits) ^ sign) - sign;
}

// A count or bit-offset operand: an immediate, or a register's value.
bool operand_value(const CpuState& cpu, const ZydisDecodedOperand& op, uint64_t& out) {
  if (op.type == ZYDIS_OPERAND_TYPE_IMMEDIATE) {
    out = op.imm.value.u;
    return true;
  }
  if (is_gpr_reg(op)) {
    out = read_gpr(cpu, op.reg.value);
    return true;
  }
  return false;
}

ZydisRegister accumulator(unsigned bytes) {
  switch (bytes) {
    case 1:
      return ZYDIS_REGISTER_AL;
    case 2:
      return ZYDIS_REGISTER_AX;
    case 4:
      return ZYDIS_REGISTER_EAX;
    default:
      return ZYDIS_REGISTER_RAX;
  }
}

// BT* with a register bit offset addresses beyond the operand: the offset is
// signed, and the operand accessed is the one holding the bit, at
// ea + (offset >> log2(bits)) * bytes (SDM Vol. 2, BT, "bit base" and "bit
// offset"). The sum wraps at the address size, like the
// effective address itself.
uint64_t bit_operand_address(const CpuState& cpu, const Insn& insn, const ZydisDecodedOperand& m, uint64_t offset,
                             unsigned bytes) {
  const unsigned bits = bytes * 8;
  const unsigned log2_bits = bits == 16 ? 4 : bits == 32 ? 5 : 6;
  const int64_t signed_offset = static_cast<int64_t>(sign_extend(offset, bits));
  const int64_t displacement = (signed_offset >> log2_bits) * static_cast<int64_t>(bytes);
  const uint64_t seg = segment_base(cpu, m.mem.segment);
  const uint64_t ea = effective_address(cpu, insn, m) - seg;
  return seg + truncate_bits(ea + static_cast<uint64_t>(displacement), insn.in.address_width);
}

// Fills the operands of a BINARY form. ops[mem_index] is the memory operand.
bool plan_binary(const CpuState& cpu, const Insn& insn, const Row& f, unsigned mem_index, AluPlan& p) {
  const ZydisDecodedOperand& other = insn.ops[mem_index == 0 ? 1 : 0];
  uint64_t value = 0;
  if (!operand_value(cpu, other, value)) return false;
  p.args.src = truncate_bits(value, p.bytes * 8);  // Zydis sign-extends immediates to 64 bits
  if (mem_index == 0) return true;
  // Register destination: op r, m. TEST has no such encoding.
  if (f.mnemonic == ZYDIS_MNEMONIC_TEST || !is_gpr_reg(other)) return false;
  p.op = f.op_reg;
  p.writes = false;
  if (f.mnemonic != ZYDIS_MNEMONIC_CMP) p.reg_out = other.reg.value;
  return true;
}

// Fills the operands other than the memory one, ops[mem_index], by shape.
bool plan_operands(const CpuState& cpu, const Insn& insn, const Row& f, unsigned mem_index, AluPlan& p) {
  const ZydisDecodedInstruction& in = insn.in;
  const ZydisDecodedOperand& op1 = insn.ops[1];
  uint64_t value = 0;
  switch (static_cast<AluShape>(f.kind)) {
    case AluShape::BINARY:
      return in.operand_count_visible == 2 && plan_binary(cpu, insn, f, mem_index, p);
    case AluShape::UNARY:
      return in.operand_count_visible == 1;
    case AluShape::SHIFT:
      if (in.operand_count_visible != 2 || !operand_value(cpu, op1, value)) return false;
      // D0/D1: the "by 1" encodings, run as such; C0/C1 (imm8) and D2/D3 (CL) by count.
      if (in.opcode == 0xD0 || in.opcode == 0xD1) p.op = f.op_reg;
      p.args.count = static_cast<uint8_t>(value);
      return true;
    case AluShape::DOUBLE:
      if (in.operand_count_visible != 3 || !is_gpr_reg(op1) || !operand_value(cpu, insn.ops[2], value)) return false;
      p.args.src = read_gpr(cpu, op1.reg.value);
      p.args.count = static_cast<uint8_t>(value);
      return true;
    case AluShape::BIT:
      if (in.operand_count_visible != 2 || !operand_value(cpu, op1, value)) return false;
      // An immediate offset is taken modulo the width; a register one also
      // selects which operand-sized piece of memory is accessed.
      if (is_gpr_reg(op1)) p.addr = bit_operand_address(cpu, insn, insn.ops[0], value, p.bytes);
      p.args.src = value & (p.bytes * 8 - 1);
      return true;
    case AluShape::SWAP: {
      const ZydisDecodedOperand& r = insn.ops[mem_index == 0 ? 1 : 0];
      if (in.operand_count_visible != 2 || !is_gpr_reg(r)) return false;
      if (f.mnemonic == ZYDIS_MNEMONIC_XADD && mem_index != 0) return false;
      p.args.src = read_gpr(cpu, r.reg.value);
      p.reg_out = r.reg.value;
      return true;
    }
    case AluShape::CMPXCHG:
      if (in.operand_count_visible != 2 || mem_index != 0 || !is_gpr_reg(op1)) return false;
      p.args.src = read_gpr(cpu, op1.reg.value);
      p.acc = accumulator(p.bytes);
      p.args.acc = read_gpr(cpu, p.acc);
      return true;
  }
  return false;
}

// Fills `p` from the instruction, or returns false (refused, nothing touched).
// The row has settled the encoding (legacy), the memory operand's width (1, 2,
// 4 or 8 bytes; 2, 4 or 8 for DOUBLE and BIT) and LOCK (only where the row
// takes it, on a memory destination).
bool plan_alu(const CpuState& cpu, const Insn& insn, const Row& f, AluPlan& p) {
  const ZydisDecodedInstruction& in = insn.in;
  unsigned mem_index = 2;  // the memory operand is one of the first two
  for (unsigned i = 0; i < in.operand_count_visible && i < 2; ++i) {
    if (insn.ops[i].type == ZYDIS_OPERAND_TYPE_MEMORY) mem_index = i;
  }
  if (mem_index == 2 || !is_plain_memory(insn.ops[mem_index])) return false;
  const ZydisDecodedOperand& m = insn.ops[mem_index];
  p.bytes = m.size / 8;
  MT_CHECK(p.bytes >= 1 && p.bytes <= 8);
  p.atomic = (in.attributes & ZYDIS_ATTRIB_HAS_LOCK) || f.lock == Lock::ALWAYS;
  p.rflags_in = cpu.rflags;
  p.addr = effective_address(cpu, insn, m);
  p.op = f.op;
  p.writes = f.access == AccessShape::READ_MODIFY_WRITE;
  return plan_operands(cpu, insn, f, mem_index, p);
}

bool compute_alu(void* ctx, const uint8_t* old_value, uint8_t* new_value) {
  AluPlan& p = *static_cast<AluPlan*>(ctx);
  uint8_t v[8];
  std::memcpy(v, old_value, p.bytes);
  p.rflags_out = run_native(p.op, p.bytes, v, p.args, p.rflags_in);
  std::memcpy(new_value, v, p.bytes);
  return p.writes;
}

// The accesses of an instruction that reads its operand and may write it:
// one atomic_rmw if `atomic`, else read(), compute, and write() if compute says so.
MemFault read_modify_write(Memory& mem, uint64_t addr, unsigned bytes, bool atomic, RmwCompute compute, void* ctx) {
  uint8_t old_value[16];
  if (atomic) return mem.atomic_rmw(addr, bytes, old_value, compute, ctx);
  MemFault f = mem.read(addr, bytes, old_value);
  if (!f.ok()) return f;
  uint8_t new_value[16];
  if (!compute(ctx, old_value, new_value)) return f;
  return mem.write(addr, bytes, new_value);
}

// ---- CMPXCHG8B / CMPXCHG16B (0F C7 /1): compare EDX:EAX (RDX:RAX) with the
// operand; equal: store ECX:EBX (RCX:RBX), ZF = 1; else load the operand into
// EDX:EAX (RDX:RAX), ZF = 0, and write the operand back unchanged (SDM Vol. 2,
// CMPXCHG8B/CMPXCHG16B: "the destination operand is written back if the
// comparison fails"). CMPXCHG16B needs a 16-byte aligned operand.

struct WidePlan {
  unsigned bytes = 0;
  WideCmpxchgArgs args;
  uint64_t rflags_in = 0;
  uint64_t rflags_out = 0;
};

bool compute_wide(void* ctx, const uint8_t* old_value, uint8_t* new_value) {
  WidePlan& p = *static_cast<WidePlan*>(ctx);
  uint8_t v[16];
  std::memcpy(v, old_value, p.bytes);
  p.rflags_out = run_native_cmpxchg_wide(p.bytes, v, p.args, p.rflags_in);
  std::memcpy(new_value, v, p.bytes);
  return true;
}

}  // namespace

// The row has settled the encoding (legacy), the width (8 or 16 bytes) and the alignment rule.
Outcome emulate_cmpxchg_wide(CpuState& cpu, const Insn& insn, const Row& row, Memory& mem) {
  const ZydisDecodedInstruction& in = insn.in;
  const ZydisDecodedOperand& m = insn.ops[0];
  if (in.operand_count_visible != 1 || !is_plain_memory(m)) return outcome_unsupported();
  WidePlan p;
  p.bytes = m.size / 8;
  MT_CHECK(p.bytes == 8 || p.bytes == 16);
  const uint64_t addr = effective_address(cpu, insn, m);
  const unsigned align = required_alignment(row, insn, p.bytes);
  if (align != 0 && addr % align != 0) {
    // #GP(0) before any access; Linux delivers it as SIGSEGV with si_code
    // SI_KERNEL and si_addr 0 (arch/x86/kernel/traps.c, exc_general_protection).
    return outcome_fault(MemFault{SIGSEGV, SI_KERNEL, 0});
  }
  p.args = {cpu.reg(Gpr::RAX), cpu.reg(Gpr::RDX), cpu.reg(Gpr::RBX), cpu.reg(Gpr::RCX)};
  p.rflags_in = cpu.rflags;
  const bool atomic = (in.attributes & ZYDIS_ATTRIB_HAS_LOCK) != 0;
  const MemFault f = read_modify_write(mem, addr, p.bytes, atomic, compute_wide, &p);
  if (!f.ok()) return outcome_fault(f);
  // The CPU ran the instruction on these registers: on failure CMPXCHG8B has
  // written EDX:EAX (zero-extending), on success RAX and RDX are untouched.
  cpu.reg(Gpr::RAX) = p.args.rax;
  cpu.reg(Gpr::RDX) = p.args.rdx;
  cpu.rflags = p.rflags_out;
  return outcome_done();
}

Outcome emulate_alu(CpuState& cpu, const Insn& insn, const Row& row, Memory& mem) {
  AluPlan p;
  if (!plan_alu(cpu, insn, row, p)) return outcome_unsupported();
  const MemFault f = read_modify_write(mem, p.addr, p.bytes, p.atomic, compute_alu, &p);
  if (!f.ok()) return outcome_fault(f);
  cpu.rflags = p.rflags_out;
  if (p.reg_out != ZYDIS_REGISTER_NONE) write_gpr(cpu, p.reg_out, p.args.src);
  // CMPXCHG writes the accumulator only when the comparison failed (ZF = 0):
  // a 32-bit one then zero-extends RAX, a success leaves RAX alone.
  if (p.acc != ZYDIS_REGISTER_NONE && !(p.rflags_out & kFlagZF)) write_gpr(cpu, p.acc, p.args.acc);
  return outcome_done();
}

}  // namespace mmiotrace::emu::detail
