// Async-signal-safe: runs in the traced program's signal handler (when the
// agent decides to patch a site); no allocation, no locks.
//
// plan_patch(): what the fast path (src/agent/patch) needs to know about an
// instruction before it patches it into a jump to a trampoline. Whether the
// instruction is emulated at all is the table's answer, not a second list
// here: the instruction is emulated once against a Memory that faults at its
// first access (every handler decides whether it supports an instruction
// before it touches memory), so nothing is accessed and no register changes.
// On top of that, a trampoline needs exactly one explicit memory operand whose
// address it can compute from the registers alone, and an instruction that
// leaves RSP and RIP alone.
#include <Zydis/Zydis.h>

#include <csignal>

#include "common/handler_rules.h"
#include "emu/emulate_internal.h"

MT_HANDLER_RULES

namespace mmiotrace::emu {
namespace {

using detail::Insn;

// Faults at the first access, as if every address were unmapped.
class FaultingMemory final : public Memory {
 public:
  MemFault read(uint64_t addr, unsigned, void*) override { return fault(addr); }
  MemFault write(uint64_t addr, unsigned, const void*) override { return fault(addr); }
  MemFault read_masked(uint64_t addr, unsigned, uint64_t, void*) override { return fault(addr); }
  MemFault write_masked(uint64_t addr, unsigned, uint64_t, const void*) override { return fault(addr); }
  MemFault atomic_rmw(uint64_t addr, unsigned, void*, RmwCompute, void*) override { return fault(addr); }
  MemFault string_run(const StringRun& run, uint64_t* done, uint64_t*) override {
    *done = 0;
    return fault(run.src);
  }

 private:
  static MemFault fault(uint64_t addr) { return MemFault{SIGSEGV, SEGV_MAPERR, addr}; }
};

// Gpr number (0-15) of the 64-bit register enclosing `r`, or -1.
int gpr_number(ZydisRegister r) {
  const ZydisRegister full = ZydisRegisterGetLargestEnclosing(ZYDIS_MACHINE_MODE_LONG_64, r);
  if (full < ZYDIS_REGISTER_RAX || full > ZYDIS_REGISTER_R15) return -1;
  return static_cast<int>(full - ZYDIS_REGISTER_RAX);
}

bool is_high8(ZydisRegister r) {
  return r == ZYDIS_REGISTER_AH || r == ZYDIS_REGISTER_CH || r == ZYDIS_REGISTER_DH || r == ZYDIS_REGISTER_BH;
}

bool is_vector_class(ZydisRegisterClass c) {
  switch (c) {
    case ZYDIS_REGCLASS_XMM:
    case ZYDIS_REGCLASS_YMM:
    case ZYDIS_REGCLASS_ZMM:
    case ZYDIS_REGCLASS_MASK:
    case ZYDIS_REGCLASS_MMX:
    case ZYDIS_REGCLASS_X87:
      return true;
    default:
      return false;
  }
}

PatchPlan refused(PatchRefusal why, uint8_t len) {
  PatchPlan p;
  p.refusal = why;
  p.insn_len = len;
  return p;
}

// The one explicit memory operand, or a refusal; sets *vector if a vector or
// opmask register is an operand.
PatchRefusal operands(const Insn& insn, const ZydisDecodedOperand** mem, bool* vector) {
  unsigned memories = 0;
  for (unsigned i = 0; i < insn.in.operand_count; ++i) {
    const ZydisDecodedOperand& op = insn.ops[i];
    if (op.type == ZYDIS_OPERAND_TYPE_MEMORY) {
      ++memories;
      if (op.visibility == ZYDIS_OPERAND_VISIBILITY_EXPLICIT && detail::is_plain_memory(op)) *mem = &op;
      continue;
    }
    if (op.type == ZYDIS_OPERAND_TYPE_POINTER) return PatchRefusal::WRITES_RSP_OR_RIP;
    if (op.type != ZYDIS_OPERAND_TYPE_REGISTER) continue;
    const ZydisRegisterClass c = ZydisRegisterGetClass(op.reg.value);
    const bool written = (op.actions & ZYDIS_OPERAND_ACTION_MASK_WRITE) != 0;
    if (c == ZYDIS_REGCLASS_IP || (written && gpr_number(op.reg.value) == 4)) return PatchRefusal::WRITES_RSP_OR_RIP;
    if (is_vector_class(c)) *vector = true;
  }
  if (memories != 1 || *mem == nullptr) return PatchRefusal::MEMORY_OPERANDS;
  return PatchRefusal::NONE;
}

bool is_mov_opcode(const ZydisDecodedInstruction& in) {
  if (in.opcode_map != ZYDIS_OPCODE_MAP_DEFAULT) return false;
  switch (in.opcode) {
    case 0x88:
    case 0x89:
    case 0x8A:
    case 0x8B:
    case 0xC6:
    case 0xC7:
    case 0xA0:
    case 0xA1:
    case 0xA2:
    case 0xA3:
      return true;
    default:
      return false;
  }
}

// MOV/MOVNTI/MOVZX/MOVSX/MOVSXD between a general register (or, stored, an
// immediate) and memory: LOAD or STORE. Everything else stays EMULATE.
void classify_move(const Insn& insn, const ZydisDecodedOperand& mem, PatchPlan* p) {
  const ZydisDecodedInstruction& in = insn.in;
  const bool mov = in.mnemonic == ZYDIS_MNEMONIC_MOV && is_mov_opcode(in);
  const bool extend = in.mnemonic == ZYDIS_MNEMONIC_MOVZX || in.mnemonic == ZYDIS_MNEMONIC_MOVSX ||
                      in.mnemonic == ZYDIS_MNEMONIC_MOVSXD;
  if ((!mov && !extend && in.mnemonic != ZYDIS_MNEMONIC_MOVNTI) || in.operand_count_visible != 2) return;
  const ZydisDecodedOperand& other = &mem == &insn.ops[0] ? insn.ops[1] : insn.ops[0];
  const bool store = &mem == &insn.ops[0];
  if (other.type == ZYDIS_OPERAND_TYPE_REGISTER && detail::is_gpr(other.reg.value)) {
    p->reg = static_cast<uint8_t>(gpr_number(other.reg.value));
    p->reg_bytes = static_cast<uint8_t>(other.size / 8);
    p->high8 = is_high8(other.reg.value);
  } else if (store && other.type == ZYDIS_OPERAND_TYPE_IMMEDIATE && mov) {
    p->has_imm = true;
    p->imm = detail::truncate_bits(other.imm.value.u, p->size * 8);
  } else {
    return;
  }
  p->kind = store ? PatchKind::STORE : PatchKind::LOAD;
  p->sign = in.mnemonic == ZYDIS_MNEMONIC_MOVSX || in.mnemonic == ZYDIS_MNEMONIC_MOVSXD;
}

}  // namespace

const char* describe(PatchRefusal r) {
  switch (r) {
    case PatchRefusal::NONE:
      return "patchable";
    case PatchRefusal::NOT_AN_INSTRUCTION:
      return "not a valid instruction";
    case PatchRefusal::NOT_IN_TABLE:
      return "not in the emulator's table";
    case PatchRefusal::STRING:
      return "a string instruction";
    case PatchRefusal::MEMORY_OPERANDS:
      return "not exactly one explicit memory operand";
    case PatchRefusal::ADDRESS_SIZE:
      return "32-bit address arithmetic (67h)";
    case PatchRefusal::SEGMENT:
      return "an FS or GS segment override";
    case PatchRefusal::WRITES_RSP_OR_RIP:
      return "it writes RSP or transfers control";
  }
  return "unknown refusal";
}

PatchPlan plan_patch(const CpuState& cpu, const uint8_t* bytes, size_t len) {
  Insn insn;
  if (!detail::decode(bytes, len, insn)) return refused(PatchRefusal::NOT_AN_INSTRUCTION, 0);
  const ZydisDecodedInstruction& in = insn.in;
  if (in.meta.category == ZYDIS_CATEGORY_STRINGOP) return refused(PatchRefusal::STRING, in.length);
  const ZydisDecodedOperand* mem = nullptr;
  bool vector = false;
  if (const PatchRefusal why = operands(insn, &mem, &vector); why != PatchRefusal::NONE) {
    return refused(why, in.length);
  }
  if (in.address_width != 64) return refused(PatchRefusal::ADDRESS_SIZE, in.length);
  if (mem->mem.segment == ZYDIS_REGISTER_FS || mem->mem.segment == ZYDIS_REGISTER_GS) {
    return refused(PatchRefusal::SEGMENT, in.length);
  }
  // The table's answer.
  CpuState probe = cpu;
  FaultingMemory faulting;
  switch (emulate(probe, bytes, len, faulting).status) {
    case EmuStatus::UNSUPPORTED:
      return refused(PatchRefusal::NOT_IN_TABLE, in.length);
    case EmuStatus::DECODE_ERROR:
      return refused(PatchRefusal::NOT_AN_INSTRUCTION, in.length);
    case EmuStatus::OK:
    case EmuStatus::FAULT:
      break;
  }
  PatchPlan p;
  p.kind = PatchKind::EMULATE;
  p.insn_len = in.length;
  p.rip_relative = mem->mem.base == ZYDIS_REGISTER_RIP;
  p.base = static_cast<int8_t>(p.rip_relative || mem->mem.base == ZYDIS_REGISTER_NONE ? -1 : gpr_number(mem->mem.base));
  p.index = static_cast<int8_t>(mem->mem.index == ZYDIS_REGISTER_NONE ? -1 : gpr_number(mem->mem.index));
  p.scale = static_cast<uint8_t>(p.index < 0 ? 1 : mem->mem.scale);
  p.disp = mem->mem.disp.value;
  p.size = mem->size / 8;
  p.reads = (mem->actions & ZYDIS_OPERAND_ACTION_MASK_READ) != 0 || (in.attributes & ZYDIS_ATTRIB_HAS_LOCK) != 0;
  p.writes = (mem->actions & ZYDIS_OPERAND_ACTION_MASK_WRITE) != 0 || (in.attributes & ZYDIS_ATTRIB_HAS_LOCK) != 0;
  p.vector = vector;
  if (p.size == 0 || p.size > 64) return refused(PatchRefusal::MEMORY_OPERANDS, in.length);
  if (!vector) classify_move(insn, *mem, &p);
  return p;
}

}  // namespace mmiotrace::emu
