// Async-signal-safe: runs in the traced program's signal handler; no allocation, no locks.
//
// Decoding and the operand helpers shared by the handlers: general-register
// access with the x86-64 partial-register rules, and effective addresses.
#include <Zydis/Zydis.h>

#include "common/handler_rules.h"
#include "emu/emulate_internal.h"

MT_HANDLER_RULES

namespace mmiotrace::emu::detail {
namespace {

// Index (0-15, encoding order, = Gpr) of the 64-bit register enclosing r, or -1.
int gpr_index(ZydisRegister r) {
  const ZydisRegister full = ZydisRegisterGetLargestEnclosing(ZYDIS_MACHINE_MODE_LONG_64, r);
  if (full < ZYDIS_REGISTER_RAX || full > ZYDIS_REGISTER_R15) return -1;
  return static_cast<int>(full - ZYDIS_REGISTER_RAX);
}

// AH, CH, DH, BH: bits 15:8 of RAX..RBX, reachable only without a REX prefix.
bool is_high_byte(ZydisRegister r) {
  return r == ZYDIS_REGISTER_AH || r == ZYDIS_REGISTER_CH || r == ZYDIS_REGISTER_DH || r == ZYDIS_REGISTER_BH;
}

}  // namespace

bool decode(const uint8_t* bytes, size_t len, Insn& out) {
  if (bytes == nullptr || len == 0) return false;
  if (len > ZYDIS_MAX_INSTRUCTION_LENGTH) len = ZYDIS_MAX_INSTRUCTION_LENGTH;
  // ZydisDecoder is plain data and its initialisation only stores a few
  // fields: doing it per call avoids any shared state.
  ZydisDecoder decoder;
  if (!ZYAN_SUCCESS(ZydisDecoderInit(&decoder, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64))) {
    return false;
  }
  return ZYAN_SUCCESS(ZydisDecoderDecodeFull(&decoder, bytes, len, &out.in, out.ops));
}

bool is_gpr(ZydisRegister r) {
  switch (ZydisRegisterGetClass(r)) {
    case ZYDIS_REGCLASS_GPR8:
    case ZYDIS_REGCLASS_GPR16:
    case ZYDIS_REGCLASS_GPR32:
    case ZYDIS_REGCLASS_GPR64:
      return gpr_index(r) >= 0;
    default:
      return false;
  }
}

unsigned vector_reg_bytes(ZydisRegister r) {
  switch (ZydisRegisterGetClass(r)) {
    case ZYDIS_REGCLASS_XMM:
      return 16;
    case ZYDIS_REGCLASS_YMM:
      return 32;
    case ZYDIS_REGCLASS_ZMM:
      return 64;
    default:
      return 0;
  }
}

uint64_t read_gpr(const CpuState& cpu, ZydisRegister r) {
  const int i = gpr_index(r);
  if (i < 0) return 0;
  const uint64_t v = cpu.gpr[i];
  if (is_high_byte(r)) return (v >> 8) & 0xff;
  return truncate_bits(v, ZydisRegisterGetWidth(ZYDIS_MACHINE_MODE_LONG_64, r));
}

// SDM Vol. 1, 3.4.1.1: a 32-bit destination is zero-extended to 64 bits; an
// 8- or 16-bit destination leaves the other bits of the register unchanged.
void write_gpr(CpuState& cpu, ZydisRegister r, uint64_t v) {
  const int i = gpr_index(r);
  if (i < 0) return;
  uint64_t& reg = cpu.gpr[i];
  if (is_high_byte(r)) {
    reg = (reg & ~uint64_t{0xff00}) | ((v & 0xff) << 8);
    return;
  }
  const unsigned width = ZydisRegisterGetWidth(ZYDIS_MACHINE_MODE_LONG_64, r);
  if (width >= 32) {
    reg = truncate_bits(v, width);
    return;
  }
  const uint64_t mask = (uint64_t{1} << width) - 1;
  reg = (reg & ~mask) | (v & mask);
}

bool is_plain_memory(const ZydisDecodedOperand& op) {
  if (op.type != ZYDIS_OPERAND_TYPE_MEMORY || op.mem.type != ZYDIS_MEMOP_TYPE_MEM) return false;
  const ZydisRegister base = op.mem.base;
  const ZydisRegister index = op.mem.index;
  const bool base_ok =
      base == ZYDIS_REGISTER_NONE || base == ZYDIS_REGISTER_RIP || base == ZYDIS_REGISTER_EIP || is_gpr(base);
  const bool index_ok = index == ZYDIS_REGISTER_NONE || is_gpr(index);
  return base_ok && index_ok;
}

uint64_t segment_base(const CpuState& cpu, ZydisRegister seg) {
  // In 64-bit mode CS, DS, ES and SS have base 0; only FS and GS keep theirs.
  if (seg == ZYDIS_REGISTER_FS) return cpu.fs_base;
  if (seg == ZYDIS_REGISTER_GS) return cpu.gs_base;
  return 0;
}

uint64_t effective_address(const CpuState& cpu, const Insn& insn, const ZydisDecodedOperand& op) {
  uint64_t ea = static_cast<uint64_t>(op.mem.disp.value);
  const ZydisRegister base = op.mem.base;
  if (base == ZYDIS_REGISTER_RIP || base == ZYDIS_REGISTER_EIP) {
    // RIP-relative: relative to the next instruction (SDM Vol. 2, 2.2.1.6).
    ea += cpu.rip + insn.in.length;
  } else if (base != ZYDIS_REGISTER_NONE) {
    ea += read_gpr(cpu, base);
  }
  if (op.mem.index != ZYDIS_REGISTER_NONE) {
    ea += read_gpr(cpu, op.mem.index) * op.mem.scale;
  }
  // 67h: the effective address is computed in 32 bits and wraps (SDM Vol. 1,
  // 3.3.7); the segment base is added to the truncated offset.
  ea = truncate_bits(ea, insn.in.address_width);
  return segment_base(cpu, op.mem.segment) + ea;
}

}  // namespace mmiotrace::emu::detail
