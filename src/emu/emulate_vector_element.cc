// Async-signal-safe: runs in the traced program's signal handler; no allocation, no locks.
//
// The table's VECTOR_ELEMENT family: vector moves of part of a register
// (docs/emulated-instructions.md, 4, "Scalar, half, broadcast and duplicating
// moves"), legacy, VEX and EVEX with {k}/{z}. The row (instruction_table.cc)
// gives each form's kind, element size, whether it takes an opmask, and its
// alignment rule.
//   SCALAR: MOVSS/MOVSD and VMOVSS/VMOVSD to and from memory (one element).
//   HALF_LO/HALF_HI: MOVLPS/MOVLPD/MOVHPS/MOVHPD and VEX/EVEX forms (one qword).
//   BCAST: the memory operand (m8-m256) read once, replicated into the destination.
//   DUP_*: MOVDDUP (qword j <- m qword j&~1), MOVSLDUP (dword j <- j&~1),
//          MOVSHDUP (dword j <- j|1); the full operand is read (m64 for MOVDDUP xmm).
// Registers are read and written through cpu.xsave; register effects as for
// whole-vector moves (emulate_vector_move.cc).
#include <Zydis/Zydis.h>

#include <csignal>
#include <cstring>

#include "common/handler_rules.h"
#include "emu/instruction_table.h"

MT_HANDLER_RULES

namespace mmiotrace::emu::detail {
namespace {

struct ElementPlan {
  const ZydisDecodedOperand* mem_op = nullptr;
  unsigned reg = 0;        // destination (load) or source (store)
  unsigned reg_bytes = 0;  // its width
  int src2 = -1;           // VEX/EVEX 3-operand half loads: the other qword's register
  unsigned mem_bytes = 0;
  unsigned elem = 0;
  bool store = false;
  bool legacy = false;
  unsigned mask_k = 0;
  bool zeroing = false;
};

bool plan_element(const CpuState& cpu, const Insn& insn, const Row& row, ElementPlan& p) {
  const ZydisDecodedInstruction& in = insn.in;
  p.legacy = in.encoding == ZYDIS_INSTRUCTION_ENCODING_LEGACY;
  const bool evex = in.encoding == ZYDIS_INSTRUCTION_ENCODING_EVEX;
  unsigned nvec = 0;
  for (unsigned i = 0; i < in.operand_count_visible; ++i) {
    const ZydisDecodedOperand& op = insn.ops[i];
    if (op.type == ZYDIS_OPERAND_TYPE_MEMORY) {
      if (p.mem_op != nullptr || !is_plain_memory(op)) return false;
      p.mem_op = &op;
      p.mem_bytes = op.size / 8;
      p.store = (op.actions & ZYDIS_OPERAND_ACTION_MASK_WRITE) != 0;
    } else if (op.type == ZYDIS_OPERAND_TYPE_REGISTER && vector_reg_bytes(op.reg.value) != 0) {
      const unsigned id = ZydisRegisterGetId(op.reg.value);
      if (nvec == 0) {
        p.reg = id;
        p.reg_bytes = vector_reg_bytes(op.reg.value);
      } else if (nvec == 1 && vector_reg_bytes(op.reg.value) == 16) {
        p.src2 = static_cast<int>(id);
      } else {
        return false;
      }
      ++nvec;
    } else if (!(op.type == ZYDIS_OPERAND_TYPE_REGISTER &&
                 ZydisRegisterGetClass(op.reg.value) == ZYDIS_REGCLASS_MASK)) {
      return false;
    }
  }
  if (p.mem_op == nullptr || p.reg_bytes == 0) return false;
  const auto kind = static_cast<ElementKind>(row.kind);
  const bool half = kind == ElementKind::HALF_LO || kind == ElementKind::HALF_HI;
  // Only the 3-operand VEX/EVEX half loads name a second register.
  if (p.src2 >= 0 && !(half && !p.legacy && !p.store)) return false;
  if (half && !p.legacy && !p.store && p.src2 < 0) return false;
  p.elem = row.elem;
  // The register widths that go with the memory operand's (the row's widths),
  // settled here so that nothing below can overrun `data`.
  const unsigned m = p.mem_bytes;
  bool ok = false;
  switch (kind) {
    case ElementKind::SCALAR:
    case ElementKind::HALF_LO:
    case ElementKind::HALF_HI:
      ok = p.reg_bytes == 16;
      break;
    case ElementKind::BCAST:
      ok = !p.store && m < p.reg_bytes;
      break;
    case ElementKind::DUP_Q:
      ok = !p.store && m == (p.reg_bytes == 16 ? 8u : p.reg_bytes);
      break;
    case ElementKind::DUP_LO:
    case ElementKind::DUP_HI:
      ok = !p.store && m == p.reg_bytes;
      break;
  }
  if (!ok) return false;
  if (evex) {
    // Zydis reports the broadcast loads' own replication as a static
    // broadcast; an embedded one (EVEX.b on a memory operand) is refused.
    if (in.avx.broadcast.mode != ZYDIS_BROADCAST_MODE_INVALID &&
        !(kind == ElementKind::BCAST && in.avx.broadcast.is_static)) {
      return false;
    }
    switch (in.avx.mask.mode) {
      case ZYDIS_MASK_MODE_DISABLED:
        break;
      case ZYDIS_MASK_MODE_MERGING:
      case ZYDIS_MASK_MODE_ZEROING:
        p.mask_k = ZydisRegisterGetId(in.avx.mask.reg);
        p.zeroing = in.avx.mask.mode == ZYDIS_MASK_MODE_ZEROING;
        break;
      default:
        return false;
    }
    if (p.mask_k == 0 && p.zeroing) return false;
    if (p.mask_k != 0 && (!row.maskable || p.mask_k > 7 || (p.store && p.zeroing))) return false;
  }
  const XsaveArea& x = cpu.xsave;
  if (!x.valid() || !x.holds_vector(p.reg, p.reg_bytes)) return false;
  if (p.src2 >= 0 && !x.holds_vector(static_cast<unsigned>(p.src2), 16)) return false;
  return p.mask_k == 0 || x.has(XComponent::OPMASK);
}

}  // namespace

Outcome emulate_vector_element(CpuState& cpu, const Insn& insn, const Row& row, Memory& mem) {
  ElementPlan p;
  if (!plan_element(cpu, insn, row, p)) return outcome_unsupported();
  const uint64_t addr = effective_address(cpu, insn, *p.mem_op);
  const auto kind = static_cast<ElementKind>(row.kind);
  // Element selection: bit e = destination element e (SCALAR: element 0 only).
  const unsigned nelem = kind == ElementKind::SCALAR ? 1 : p.reg_bytes / p.elem;
  uint64_t sel = nelem >= 64 ? ~uint64_t{0} : (uint64_t{1} << nelem) - 1;
  if (p.mask_k != 0) sel &= cpu.xsave.read_opmask(p.mask_k);
  uint8_t data[64] = {};
  if (p.store) {
    // SCALAR: the low element; HALF: the low or high qword. A masked-out
    // VMOVSS/VMOVSD store writes nothing.
    cpu.xsave.read_vector(p.reg, 16, data);
    if (sel == 0) return outcome_done();
    const unsigned off = kind == ElementKind::HALF_HI ? 8 : 0;
    const MemFault f = mem.write(addr, p.mem_bytes, data + off);
    return f.ok() ? outcome_done() : outcome_fault(f);
  }
  // Legacy MOVSLDUP/MOVSHDUP take an m128 that must be 16-byte aligned (#GP).
  const unsigned align = required_alignment(row, insn, p.mem_bytes);
  if (align != 0 && (addr & (align - 1)) != 0) {
    return outcome_fault(MemFault{SIGSEGV, SI_KERNEL, 0});
  }
  // Loads: one read of the operand. Unmasked: the whole operand. Masked: only
  // the memory elements that a selected destination element takes (the CPU
  // suppresses faults on the others, observed by tests/diff): all of them, one
  // plain read; none, no access; some, one masked read.
  uint8_t m[64] = {};
  uint64_t need = truncate_bits(~uint64_t{0}, p.mem_bytes);
  // MOVDDUP/MOVSLDUP/MOVSHDUP read the whole operand whatever the mask (the
  // CPU faults on it even when no element is selected; observed by tests/diff).
  const bool dup = kind == ElementKind::DUP_Q || kind == ElementKind::DUP_LO || kind == ElementKind::DUP_HI;
  if (p.mask_k != 0 && !dup) {
    need = 0;
    const unsigned e_per_m = p.mem_bytes / p.elem;  // memory elements
    for (unsigned e = 0; e < nelem; ++e) {
      if (!((sel >> e) & 1)) continue;
      need |= truncate_bits(~uint64_t{0}, p.elem) << ((e % e_per_m) * p.elem);
    }
  }
  if (need == truncate_bits(~uint64_t{0}, p.mem_bytes)) {
    const MemFault f = mem.read(addr, p.mem_bytes, m);
    if (!f.ok()) return outcome_fault(f);
  } else if (need != 0) {
    const MemFault f = mem.read_masked(addr, p.mem_bytes, need, m);
    if (!f.ok()) return outcome_fault(f);
  }
  uint8_t old[64] = {};
  cpu.xsave.read_vector(p.reg, p.reg_bytes, old);
  unsigned width = p.reg_bytes;  // bytes of the register written; above: kept (legacy) or zeroed
  switch (kind) {
    case ElementKind::SCALAR:
      std::memcpy(data, m, p.mem_bytes);  // legacy and VEX/EVEX: bits 127:elem zeroed
      width = 16;
      break;
    case ElementKind::HALF_LO:
    case ElementKind::HALF_HI: {
      const int other = p.legacy ? static_cast<int>(p.reg) : p.src2;
      cpu.xsave.read_vector(static_cast<unsigned>(other), 16, data);
      std::memcpy(data + (kind == ElementKind::HALF_HI ? 8 : 0), m, 8);
      width = 16;
      break;
    }
    case ElementKind::BCAST:
      for (unsigned i = 0; i < p.reg_bytes; ++i) data[i] = m[i % p.mem_bytes];
      break;
    case ElementKind::DUP_Q:
      for (unsigned i = 0; i < p.reg_bytes; ++i) data[i] = m[(i & ~15u) | (i & 7u)];
      break;
    case ElementKind::DUP_LO:
      for (unsigned i = 0; i < p.reg_bytes; ++i) data[i] = m[(i & ~7u) | (i & 3u)];
      break;
    case ElementKind::DUP_HI:
      for (unsigned i = 0; i < p.reg_bytes; ++i) data[i] = m[(i & ~7u) | 4u | (i & 3u)];
      break;
  }
  if (p.mask_k != 0) {
    for (unsigned e = 0; e < nelem; ++e) {
      if ((sel >> e) & 1) continue;
      for (unsigned b = e * p.elem; b < (e + 1) * p.elem; ++b) data[b] = p.zeroing ? 0 : old[b];
    }
  }
  cpu.xsave.write_vector(p.reg, p.legacy ? 16 : width, data, !p.legacy);
  return outcome_done();
}

}  // namespace mmiotrace::emu::detail
