// Async-signal-safe: runs in the traced program's signal handler; no allocation, no locks.
//
// The table's VECTOR_MOVE family: SSE, AVX and AVX-512 moves of a whole vector
// between a register and memory (no arithmetic): MOVUPS/MOVAPS/MOVUPD/MOVAPD/
// MOVDQU/MOVDQA, MOVD/MOVQ, the non-temporal MOVNT* forms, their VEX forms, and
// the EVEX forms with opmask merge/zero masking. The rows (instruction_table.cc)
// give each form's alignment rule and opmask element size. Registers are read
// and written through cpu.xsave.
//
// Register effects (SDM Vol. 1, 15.5 "Accessing XMM, YMM and ZMM Registers";
// SDM Vol. 2, 2.3.10.1 on vector length transitions):
//   legacy SSE load: writes the low 128 bits, bits above are kept;
//   VEX/EVEX load:   writes the destination width, bits above up to the widest
//                    register are zeroed;
//   MOVD/MOVQ load:  the rest of the XMM register is zeroed.
// Masked EVEX accesses touch only the selected elements, and unselected ones
// cannot fault (SDM Vol. 1, ch. 15, memory fault suppression): the byte mask
// goes to Memory::read_masked/write_masked, which honour it.
#include <Zydis/Zydis.h>

#include <csignal>
#include <cstring>

#include "common/handler_rules.h"
#include "emu/instruction_table.h"

MT_HANDLER_RULES

namespace mmiotrace::emu::detail {
namespace {

// Everything the accesses need, settled before the first one.
struct VectorPlan {
  const ZydisDecodedOperand* mem_op = nullptr;
  unsigned reg = 0;        // vector register number, 0-31
  unsigned reg_bytes = 0;  // 16, 32, 64: the register width the instruction writes or reads
  unsigned mem_bytes = 0;  // 4, 8, 16, 32, 64 (the row's widths)
  bool store = false;
  bool legacy = false;   // legacy SSE encoding: upper bits kept on a load
  unsigned mask_k = 0;   // 1-7 when masked, else 0
  bool zeroing = false;  // {z}
};

// Finds the memory operand and the vector register among the visible
// operands; anything else there (other than EVEX's opmask) is refused.
bool find_operands(const Insn& insn, VectorPlan& p) {
  for (unsigned i = 0; i < insn.in.operand_count_visible; ++i) {
    const ZydisDecodedOperand& op = insn.ops[i];
    if (op.type == ZYDIS_OPERAND_TYPE_MEMORY) {
      if (p.mem_op != nullptr || !is_plain_memory(op)) return false;
      p.mem_op = &op;
      p.mem_bytes = op.size / 8;
      p.store = (op.actions & ZYDIS_OPERAND_ACTION_MASK_WRITE) != 0;
    } else if (op.type == ZYDIS_OPERAND_TYPE_REGISTER && vector_reg_bytes(op.reg.value) != 0) {
      if (p.reg_bytes != 0) return false;
      p.reg_bytes = vector_reg_bytes(op.reg.value);
      p.reg = ZydisRegisterGetId(op.reg.value);
    } else if (!(op.type == ZYDIS_OPERAND_TYPE_REGISTER &&
                 ZydisRegisterGetClass(op.reg.value) == ZYDIS_REGCLASS_MASK)) {
      return false;  // a general register (MOVD r32, xmm), an MMX register, an immediate...
    }
  }
  return p.mem_op != nullptr && p.reg_bytes != 0 && p.mem_bytes <= p.reg_bytes;
}

// Opmask use: none for legacy/VEX and for EVEX with k0; k1-k7 merge or zero.
bool plan_mask(const ZydisDecodedInstruction& in, const Row& row, VectorPlan& p) {
  if (in.encoding != ZYDIS_INSTRUCTION_ENCODING_EVEX) return true;
  if (in.avx.broadcast.mode != ZYDIS_BROADCAST_MODE_INVALID) return false;
  switch (in.avx.mask.mode) {
    case ZYDIS_MASK_MODE_DISABLED:
      return true;
    case ZYDIS_MASK_MODE_MERGING:
    case ZYDIS_MASK_MODE_ZEROING:
      break;
    default:
      return false;
  }
  p.mask_k = ZydisRegisterGetId(in.avx.mask.reg);
  p.zeroing = in.avx.mask.mode == ZYDIS_MASK_MODE_ZEROING;
  // A zeroing-masked store is #UD (Zydis already refuses it); k0 means "no mask".
  if (p.mask_k == 0) return !p.zeroing;
  return p.mask_k <= 7 && row.maskable && !(p.store && p.zeroing);
}

bool plan_vector(const CpuState& cpu, const Insn& insn, const Row& row, VectorPlan& p) {
  const ZydisDecodedInstruction& in = insn.in;
  p.legacy = in.encoding == ZYDIS_INSTRUCTION_ENCODING_LEGACY;
  if (!find_operands(insn, p) || !plan_mask(in, row, p)) return false;
  const XsaveArea& x = cpu.xsave;
  if (!x.valid() || !x.holds_vector(p.reg, p.reg_bytes)) return false;
  return p.mask_k == 0 || x.has(XComponent::OPMASK);
}

// Byte mask of the selected elements (bit i = byte i of the access).
uint64_t byte_mask(uint64_t k, unsigned elem, unsigned bytes) {
  uint64_t m = 0;
  for (unsigned e = 0; e < bytes / elem; ++e) {
    if ((k >> e) & 1) m |= truncate_bits(~uint64_t{0}, elem) << (e * elem);
  }
  return m;
}

MemFault do_store(const VectorPlan& p, uint64_t addr, uint64_t mask, const uint8_t* data, Memory& mem) {
  const uint64_t all = truncate_bits(~uint64_t{0}, p.mem_bytes);
  if (p.mask_k == 0 || mask == all) return mem.write(addr, p.mem_bytes, data);
  if (mask == 0) return {};  // no element selected: no access at all
  return mem.write_masked(addr, p.mem_bytes, mask, data);
}

MemFault do_load(const VectorPlan& p, uint64_t addr, uint64_t mask, uint8_t* data, Memory& mem) {
  const uint64_t all = truncate_bits(~uint64_t{0}, p.mem_bytes);
  if (p.mask_k == 0 || mask == all) return mem.read(addr, p.mem_bytes, data);
  if (mask == 0) return {};
  return mem.read_masked(addr, p.mem_bytes, mask, data);
}

}  // namespace

Outcome emulate_vector_move(CpuState& cpu, const Insn& insn, const Row& row, Memory& mem) {
  VectorPlan p;
  if (!plan_vector(cpu, insn, row, p)) return outcome_unsupported();
  const uint64_t addr = effective_address(cpu, insn, *p.mem_op);
  uint64_t mask = 0;
  if (p.mask_k != 0) mask = byte_mask(cpu.xsave.read_opmask(p.mask_k), row.elem, p.mem_bytes);
  const unsigned align = required_alignment(row, insn, p.mem_bytes);
  // An opmask that selects no element suppresses the alignment check too: the
  // CPU then neither faults nor accesses memory (observed on the host by
  // tests/diff; a single selected element brings the #GP back).
  const bool none_selected = p.mask_k != 0 && mask == 0;
  if (align != 0 && (addr & (align - 1)) != 0 && !none_selected) {
    // #GP(0), checked before any access. Linux delivers it as SIGSEGV with
    // si_code SI_KERNEL and si_addr 0 (arch/x86/kernel/traps.c, exc_general_protection).
    return outcome_fault(MemFault{SIGSEGV, SI_KERNEL, 0});
  }
  uint8_t data[64] = {};
  if (p.store) {
    cpu.xsave.read_vector(p.reg, p.reg_bytes, data);
    const MemFault f = do_store(p, addr, mask, data, mem);
    return f.ok() ? outcome_done() : outcome_fault(f);
  }
  // Merge masking keeps the unselected elements; zero masking (and the
  // unmasked forms, where everything not loaded is zeroed) starts from zeros.
  if (p.mask_k != 0 && !p.zeroing) cpu.xsave.read_vector(p.reg, p.reg_bytes, data);
  const MemFault f = do_load(p, addr, mask, data, mem);
  if (!f.ok()) return outcome_fault(f);
  // Legacy SSE writes 128 bits and keeps the rest; VEX/EVEX zero above the width.
  cpu.xsave.write_vector(p.reg, p.legacy ? 16 : p.reg_bytes, data, !p.legacy);
  return outcome_done();
}

}  // namespace mmiotrace::emu::detail
