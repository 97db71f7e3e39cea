// Async-signal-safe: runs in the traced program's signal handler; no allocation, no locks.
//
// General-register moves to and from memory: MOV (88, 89, 8A, 8B, C6 /0,
// C7 /0, A0-A3), MOVZX, MOVSX, MOVSXD and MOVNTI. Each performs exactly one
// access of the memory operand's width (SDM Vol. 2, MOV/MOVZX/MOVSX/MOVNTI).
#include <Zydis/Zydis.h>

#include "common/handler_rules.h"
#include "emu/emulate_internal.h"

MT_HANDLER_RULES

namespace mmiotrace::emu::detail {
namespace {

bool is_mov_opcode(const ZydisDecodedInstruction& in) {
  if (in.opcode_map != ZYDIS_OPCODE_MAP_DEFAULT) return false;
  switch (in.opcode) {
    case 0x88:
    case 0x89:
    case 0x8A:
    case 0x8B:  // MOV r/m, r and r, r/m
    case 0xC6:
    case 0xC7:  // MOV r/m, imm (only /0 decodes as MOV)
    case 0xA0:
    case 0xA1:
    case 0xA2:
    case 0xA3:  // MOV with moffs
      return true;
    default:
      return false;  // 8C/8E (segment registers) and the control/debug forms are not in the table
  }
}

bool is_gpr_operand(const ZydisDecodedOperand& op) {
  return op.type == ZYDIS_OPERAND_TYPE_REGISTER && is_gpr(op.reg.value);
}

unsigned mem_bytes(const ZydisDecodedOperand& op) { return op.size / 8; }

bool valid_gpr_width(unsigned bytes) { return bytes == 1 || bytes == 2 || bytes == 4 || bytes == 8; }

uint64_t sign_extend(uint64_t v, unsigned bits) {
  if (bits >= 64) return v;
  const uint64_t sign = uint64_t{1} << (bits - 1);
  v = truncate_bits(v, bits);
  return (v ^ sign) - sign;
}

// Store of a register or an immediate to memory (MOV 88/89/A2/A3/C6/C7, MOVNTI).
Outcome store(CpuState& cpu, const Insn& insn, Memory& mem) {
  const ZydisDecodedOperand& dst = insn.ops[0];
  const ZydisDecodedOperand& src = insn.ops[1];
  const unsigned bytes = mem_bytes(dst);
  if (!valid_gpr_width(bytes)) return outcome_unsupported();
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
  value = truncate_bits(value, bytes * 8);
  const MemFault f = mem.write(effective_address(cpu, insn, dst), bytes, &value);
  if (!f.ok()) return outcome_fault(f);
  return outcome_done();
}

// Load into a register, zero- or sign-extending from the memory width
// (MOV 8A/8B/A0/A1, MOVZX, MOVSX, MOVSXD). The access is of the memory
// operand's width; only the register sees the extended value.
Outcome load(CpuState& cpu, const Insn& insn, Memory& mem, bool sign) {
  const ZydisDecodedOperand& dst = insn.ops[0];
  const ZydisDecodedOperand& src = insn.ops[1];
  const unsigned bytes = mem_bytes(src);
  if (!is_gpr_operand(dst) || !valid_gpr_width(bytes)) return outcome_unsupported();
  uint64_t value = 0;
  const MemFault f = mem.read(effective_address(cpu, insn, src), bytes, &value);
  if (!f.ok()) return outcome_fault(f);
  value = truncate_bits(value, bytes * 8);
  if (sign) value = sign_extend(value, bytes * 8);
  write_gpr(cpu, dst.reg.value, value);
  return outcome_done();
}

}  // namespace

Outcome emulate_gpr_move(CpuState& cpu, const Insn& insn, Memory& mem) {
  const ZydisDecodedInstruction& in = insn.in;
  if (in.operand_count < 2 || (in.attributes & ZYDIS_ATTRIB_HAS_LOCK)) return outcome_unsupported();
  const bool dst_mem = is_plain_memory(insn.ops[0]);
  const bool src_mem = is_plain_memory(insn.ops[1]);
  switch (in.mnemonic) {
    case ZYDIS_MNEMONIC_MOV:
      if (!is_mov_opcode(in)) return outcome_unsupported();
      if (dst_mem) return store(cpu, insn, mem);
      if (src_mem) return load(cpu, insn, mem, false);
      return outcome_unsupported();  // register to register: not a memory access
    case ZYDIS_MNEMONIC_MOVNTI:
      return dst_mem ? store(cpu, insn, mem) : outcome_unsupported();
    case ZYDIS_MNEMONIC_MOVZX:
      return src_mem ? load(cpu, insn, mem, false) : outcome_unsupported();
    case ZYDIS_MNEMONIC_MOVSX:
      return src_mem ? load(cpu, insn, mem, true) : outcome_unsupported();
    case ZYDIS_MNEMONIC_MOVSXD:
      // 66 63 (MOVSXD r16): the SDM lists a 16-bit source, Zydis 4.0 decodes a
      // 32-bit one. Refused rather than guess the access width.
      if (in.operand_width == 16) return outcome_unsupported();
      return src_mem ? load(cpu, insn, mem, true) : outcome_unsupported();
    default:
      return outcome_unsupported();
  }
}

}  // namespace mmiotrace::emu::detail
