// Async-signal-safe: runs in the traced program's signal handler; no allocation, no locks.
//
// Loads and stores of general registers, without arithmetic (the table's
// families GPR_MOVE, SETCC, CMOVCC and PUSH_POP; SDM Vol. 2, each by name).
// None of them changes RFLAGS.
//   MOV (88-8B, C6 /0, C7 /0, A0-A3), MOVZX, MOVSX, MOVSXD, MOVNTI, MOVBE: one
//     access of the memory operand's width; a load extends into the register
//     (MOVBE: reverses the bytes between memory and register).
//   SETcc: one 1-byte write of 0 or 1, no read.
//   CMOVcc: one read whatever the condition (the CPU loads the operand, and
//     faults on it, even when the condition is false); the register is written
//     only if the condition holds, except that a 32-bit destination is
//     zero-extended to 64 bits either way ("In 64-bit mode, CMOVcc with a
//     32-bit operand size will clear the upper 32 bits of the destination
//     register even if the condition is false").
//   PUSH m: read the operand (address computed with RSP before the push),
//     then write the stack at RSP - size. POP m: read the stack at RSP, then
//     write the operand, whose address is computed with RSP already
//     incremented ("If the ESP register is used as a base register for
//     addressing a destination operand in memory, the POP instruction computes
//     the effective address of the operand after it increments the ESP
//     register", SDM Vol. 2, POP). RSP changes only if both accesses succeed.
// The table (instruction_table.cc) has settled the mnemonic, the encoding and
// the memory operand's width: 1, 2, 4 or 8 bytes.
#include <Zydis/Zydis.h>

#include "common/check.h"
#include "common/handler_rules.h"
#include "emu/instruction_table.h"
#include "emu/native_ops.h"

MT_HANDLER_RULES

namespace mmiotrace::emu::detail {
namespace {

bool is_gpr_operand(const ZydisDecodedOperand& op) {
  return op.type == ZYDIS_OPERAND_TYPE_REGISTER && is_gpr(op.reg.value);
}

// The memory operand's bytes; the row's widths keep them within a uint64_t.
unsigned mem_bytes(const ZydisDecodedOperand& op) {
  const unsigned bytes = op.size / 8;
  MT_CHECK(bytes >= 1 && bytes <= 8);
  return bytes;
}

uint64_t sign_extend(uint64_t v, unsigned bits) {
  if (bits >= 64) return v;
  const uint64_t sign = uint64_t{1} << (bits - 1);
  v = truncate_bits(v, bits);
  return (v ^ sign) - sign;
}

uint64_t byte_swap(uint64_t v, unsigned bytes) {
  switch (bytes) {
    case 2:
      return __builtin_bswap16(static_cast<uint16_t>(v));
    case 4:
      return __builtin_bswap32(static_cast<uint32_t>(v));
    default:
      return __builtin_bswap64(v);
  }
}

Outcome done_or_fault(const MemFault& f) { return f.ok() ? outcome_done() : outcome_fault(f); }

// Store of a register or an immediate to memory (MOV 88/89/A2/A3/C6/C7, MOVNTI, MOVBE m, r).
Outcome store(CpuState& cpu, const Insn& insn, GprKind kind, Memory& mem) {
  const ZydisDecodedOperand& dst = insn.ops[0];
  const ZydisDecodedOperand& src = insn.ops[1];
  const unsigned bytes = mem_bytes(dst);
  uint64_t value = 0;
  if (is_gpr_operand(src)) {
    value = read_gpr(cpu, src.reg.value);
  } else if (src.type == ZYDIS_OPERAND_TYPE_IMMEDIATE) {
    // Zydis sign-extends the immediate to 64 bits; REX.W C7 stores the
    // sign-extended imm32 as 8 bytes (the kernel's decoder logs 4 bytes).
    value = src.imm.value.u;
  } else {
    return outcome_unsupported();
  }
  if (kind == GprKind::BYTE_SWAP) value = byte_swap(value, bytes);
  value = truncate_bits(value, bytes * 8);
  return done_or_fault(mem.write(effective_address(cpu, insn, dst), bytes, &value));
}

// Load into a register, zero- or sign-extending from the memory width
// (MOV 8A/8B/A0/A1, MOVZX, MOVSX, MOVSXD), or byte-reversed (MOVBE r, m). The
// access is of the memory operand's width; only the register sees the extended value.
Outcome load(CpuState& cpu, const Insn& insn, GprKind kind, Memory& mem) {
  const ZydisDecodedOperand& dst = insn.ops[0];
  const ZydisDecodedOperand& src = insn.ops[1];
  const unsigned bytes = mem_bytes(src);
  if (!is_gpr_operand(dst)) return outcome_unsupported();
  uint64_t value = 0;
  const MemFault f = mem.read(effective_address(cpu, insn, src), bytes, &value);
  if (!f.ok()) return outcome_fault(f);
  value = truncate_bits(value, bytes * 8);
  if (kind == GprKind::SIGN_EXTEND) value = sign_extend(value, bytes * 8);
  if (kind == GprKind::BYTE_SWAP) value = byte_swap(value, bytes);
  write_gpr(cpu, dst.reg.value, value);
  return outcome_done();
}

}  // namespace

Outcome emulate_gpr_move(CpuState& cpu, const Insn& insn, const Row& row, Memory& mem) {
  const ZydisDecodedInstruction& in = insn.in;
  if (in.operand_count < 2) return outcome_unsupported();
  // 66 63 (MOVSXD r16): the SDM lists a 16-bit source, Zydis 4.0 decodes a
  // 32-bit one. Refused rather than guess the access width.
  if (in.mnemonic == ZYDIS_MNEMONIC_MOVSXD && in.operand_width == 16) return outcome_unsupported();
  const auto kind = static_cast<GprKind>(row.kind);
  if (is_plain_memory(insn.ops[0])) return store(cpu, insn, kind, mem);
  if (is_plain_memory(insn.ops[1])) return load(cpu, insn, kind, mem);
  return outcome_unsupported();
}

Outcome emulate_setcc(CpuState& cpu, const Insn& insn, Memory& mem) {
  const ZydisDecodedOperand& m = insn.ops[0];
  if (!is_plain_memory(m)) return outcome_unsupported();
  const uint8_t value = condition_holds(insn.in.opcode & 0xF, cpu.rflags) ? 1 : 0;
  return done_or_fault(mem.write(effective_address(cpu, insn, m), 1, &value));
}

Outcome emulate_cmovcc(CpuState& cpu, const Insn& insn, Memory& mem) {
  const ZydisDecodedOperand& dst = insn.ops[0];
  const ZydisDecodedOperand& src = insn.ops[1];
  if (!is_gpr_operand(dst) || !is_plain_memory(src)) return outcome_unsupported();
  const unsigned bytes = mem_bytes(src);
  uint64_t value = 0;
  const MemFault f = mem.read(effective_address(cpu, insn, src), bytes, &value);
  if (!f.ok()) return outcome_fault(f);
  if (condition_holds(insn.in.opcode & 0xF, cpu.rflags)) {
    write_gpr(cpu, dst.reg.value, value);
  } else if (bytes == 4) {
    write_gpr(cpu, dst.reg.value, read_gpr(cpu, dst.reg.value));  // the 32-bit write zero-extends
  }
  return outcome_done();
}

Outcome emulate_push_pop(CpuState& cpu, const Insn& insn, Memory& mem) {
  const ZydisDecodedOperand& m = insn.ops[0];
  if (!is_plain_memory(m)) return outcome_unsupported();
  const unsigned bytes = mem_bytes(m);  // 8, or 2 with 66h; 32-bit pushes do not exist in 64-bit mode
  const uint64_t rsp = cpu.reg(Gpr::RSP);
  uint64_t value = 0;
  if (insn.in.mnemonic == ZYDIS_MNEMONIC_PUSH) {
    MemFault f = mem.read(effective_address(cpu, insn, m), bytes, &value);
    if (f.ok()) f = mem.write(rsp - bytes, bytes, &value);  // SS has base 0
    if (!f.ok()) return outcome_fault(f);
    cpu.reg(Gpr::RSP) = rsp - bytes;
    return outcome_done();
  }
  cpu.reg(Gpr::RSP) = rsp + bytes;  // for the destination's address only, until both succeed
  const uint64_t addr = effective_address(cpu, insn, m);
  cpu.reg(Gpr::RSP) = rsp;
  MemFault f = mem.read(rsp, bytes, &value);
  if (f.ok()) f = mem.write(addr, bytes, &value);
  if (!f.ok()) return outcome_fault(f);
  cpu.reg(Gpr::RSP) = rsp + bytes;
  return outcome_done();
}

}  // namespace mmiotrace::emu::detail
