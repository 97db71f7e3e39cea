// Async-signal-safe: runs in the traced program's signal handler; no allocation, no locks.
//
// The other general-register loads and stores: SETcc m8, CMOVcc r, m, MOVBE
// (both directions), PUSH m and POP m (SDM Vol. 2, each by name). None of them
// changes RFLAGS.
//   SETcc: one 1-byte write of 0 or 1, no read.
//   CMOVcc: one read whatever the condition (the CPU loads the operand, and
//     faults on it, even when the condition is false); the register is written
//     only if the condition holds, except that a 32-bit destination is
//     zero-extended to 64 bits either way ("In 64-bit mode, CMOVcc with a
//     32-bit operand size will clear the upper 32 bits of the destination
//     register even if the condition is false").
//   MOVBE: one read or one write, bytes reversed between memory and register.
//   PUSH m: read the operand (address computed with RSP before the push),
//     then write the stack at RSP - size. POP m: read the stack at RSP, then
//     write the operand, whose address is computed with RSP already
//     incremented ("If the ESP register is used as a base register for
//     addressing a destination operand in memory, the POP instruction computes
//     the effective address of the operand after it increments the ESP
//     register", SDM Vol. 2, POP). RSP changes only if both accesses succeed.
#include <Zydis/Zydis.h>

#include "common/handler_rules.h"
#include "emu/emulate_internal.h"
#include "emu/native_ops.h"

MT_HANDLER_RULES

namespace mmiotrace::emu::detail {
namespace {

bool is_gpr_reg(const ZydisDecodedOperand& op) {
  return op.type == ZYDIS_OPERAND_TYPE_REGISTER && is_gpr(op.reg.value);
}

bool legacy_map(const ZydisDecodedInstruction& in, ZydisOpcodeMap map) {
  return in.encoding == ZYDIS_INSTRUCTION_ENCODING_LEGACY && in.opcode_map == map;
}

// SETcc: 0F 90+cc. CMOVcc: 0F 40+cc.
bool is_setcc(const ZydisDecodedInstruction& in) {
  return legacy_map(in, ZYDIS_OPCODE_MAP_0F) && (in.opcode & 0xF0) == 0x90;
}
bool is_cmovcc(const ZydisDecodedInstruction& in) {
  return legacy_map(in, ZYDIS_OPCODE_MAP_0F) && (in.opcode & 0xF0) == 0x40;
}
// MOVBE: 0F 38 F0 (load) / F1 (store); F2 0F 38 F0/F1 is CRC32, another mnemonic.
bool is_movbe(const ZydisDecodedInstruction& in) {
  return in.mnemonic == ZYDIS_MNEMONIC_MOVBE && legacy_map(in, ZYDIS_OPCODE_MAP_0F38);
}
// PUSH r/m: FF /6; POP r/m: 8F /0 (the other PUSH/POP encodings have no memory operand).
bool is_push_pop(const ZydisDecodedInstruction& in) {
  return legacy_map(in, ZYDIS_OPCODE_MAP_DEFAULT) && ((in.mnemonic == ZYDIS_MNEMONIC_PUSH && in.opcode == 0xFF) ||
                                                      (in.mnemonic == ZYDIS_MNEMONIC_POP && in.opcode == 0x8F));
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

Outcome setcc(CpuState& cpu, const Insn& insn, Memory& mem) {
  const ZydisDecodedOperand& m = insn.ops[0];
  if (!is_plain_memory(m) || m.size != 8) return outcome_unsupported();
  const uint8_t value = condition_holds(insn.in.opcode & 0xF, cpu.rflags) ? 1 : 0;
  return done_or_fault(mem.write(effective_address(cpu, insn, m), 1, &value));
}

Outcome cmovcc(CpuState& cpu, const Insn& insn, Memory& mem) {
  const ZydisDecodedOperand& dst = insn.ops[0];
  const ZydisDecodedOperand& src = insn.ops[1];
  const unsigned bytes = src.size / 8;
  if (!is_gpr_reg(dst) || !is_plain_memory(src) || (bytes != 2 && bytes != 4 && bytes != 8)) {
    return outcome_unsupported();
  }
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

Outcome movbe(CpuState& cpu, const Insn& insn, Memory& mem) {
  const bool load = insn.in.opcode == 0xF0;
  const ZydisDecodedOperand& m = insn.ops[load ? 1 : 0];
  const ZydisDecodedOperand& r = insn.ops[load ? 0 : 1];
  const unsigned bytes = m.size / 8;
  if (!is_gpr_reg(r) || !is_plain_memory(m) || (bytes != 2 && bytes != 4 && bytes != 8)) {
    return outcome_unsupported();
  }
  const uint64_t addr = effective_address(cpu, insn, m);
  uint64_t value = 0;
  if (load) {
    const MemFault f = mem.read(addr, bytes, &value);
    if (!f.ok()) return outcome_fault(f);
    write_gpr(cpu, r.reg.value, byte_swap(value, bytes));
    return outcome_done();
  }
  value = byte_swap(read_gpr(cpu, r.reg.value), bytes);
  return done_or_fault(mem.write(addr, bytes, &value));
}

Outcome push_pop(CpuState& cpu, const Insn& insn, Memory& mem) {
  const ZydisDecodedOperand& m = insn.ops[0];
  const unsigned bytes = m.size / 8;  // 8, or 2 with 66h; 32-bit pushes do not exist in 64-bit mode
  if (!is_plain_memory(m) || (bytes != 2 && bytes != 8)) return outcome_unsupported();
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

}  // namespace

bool is_gpr_extra(const Insn& insn) {
  const ZydisDecodedInstruction& in = insn.in;
  return is_setcc(in) || is_cmovcc(in) || is_movbe(in) || is_push_pop(in);
}

Outcome emulate_gpr_extra(CpuState& cpu, const Insn& insn, Memory& mem) {
  const ZydisDecodedInstruction& in = insn.in;
  if (in.attributes & ZYDIS_ATTRIB_HAS_LOCK) return outcome_unsupported();
  if (is_setcc(in)) return setcc(cpu, insn, mem);
  if (is_cmovcc(in)) return cmovcc(cpu, insn, mem);
  if (is_movbe(in)) return movbe(cpu, insn, mem);
  if (is_push_pop(in)) return push_pop(cpu, insn, mem);
  return outcome_unsupported();
}

}  // namespace mmiotrace::emu::detail
