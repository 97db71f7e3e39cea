// Async-signal-safe: runs in the traced program's signal handler; no allocation, no locks.
//
// SSE, AVX and AVX-512 moves between a vector register and memory (no
// arithmetic): MOVUPS/MOVAPS/MOVUPD/MOVAPD/MOVDQU/MOVDQA, MOVD/MOVQ, the
// non-temporal MOVNT* forms, their VEX forms, and the EVEX forms with opmask
// merge/zero masking; and MOVSS/MOVSD, MOVLPS/MOVHPS/MOVLPD/MOVHPD,
// VBROADCAST*/VPBROADCAST* and MOVDDUP/MOVSLDUP/MOVSHDUP from memory (kExtra).
// Registers are read and written through cpu.xsave.
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
#include "emu/emulate_internal.h"

MT_HANDLER_RULES

namespace mmiotrace::emu::detail {
namespace {

struct VectorForm {
  ZydisMnemonic mnemonic;
  bool aligned;       // #GP on a memory operand not aligned to its size (legacy: 16)
  uint8_t mask_elem;  // element bytes for EVEX masking; 0: no masked form
};

// The closed table (docs/emulated-instructions.md). Alignment rules: SDM Vol. 2
// "MOVAPS", "MOVDQA,VMOVDQA32/64", "MOVNTDQ", "MOVNTDQA", "MOVNTPS", "MOVNTPD".
constexpr VectorForm kForms[] = {
    {ZYDIS_MNEMONIC_MOVUPS, false, 0},    {ZYDIS_MNEMONIC_MOVUPD, false, 0},    {ZYDIS_MNEMONIC_MOVAPS, true, 0},
    {ZYDIS_MNEMONIC_MOVAPD, true, 0},     {ZYDIS_MNEMONIC_MOVDQU, false, 0},    {ZYDIS_MNEMONIC_MOVDQA, true, 0},
    {ZYDIS_MNEMONIC_MOVD, false, 0},      {ZYDIS_MNEMONIC_MOVQ, false, 0},      {ZYDIS_MNEMONIC_MOVNTDQ, true, 0},
    {ZYDIS_MNEMONIC_MOVNTPS, true, 0},    {ZYDIS_MNEMONIC_MOVNTPD, true, 0},    {ZYDIS_MNEMONIC_MOVNTDQA, true, 0},
    {ZYDIS_MNEMONIC_VMOVUPS, false, 4},   {ZYDIS_MNEMONIC_VMOVUPD, false, 8},   {ZYDIS_MNEMONIC_VMOVAPS, true, 4},
    {ZYDIS_MNEMONIC_VMOVAPD, true, 8},    {ZYDIS_MNEMONIC_VMOVDQU, false, 0},   {ZYDIS_MNEMONIC_VMOVDQA, true, 0},
    {ZYDIS_MNEMONIC_VMOVD, false, 0},     {ZYDIS_MNEMONIC_VMOVQ, false, 0},     {ZYDIS_MNEMONIC_VMOVNTDQ, true, 0},
    {ZYDIS_MNEMONIC_VMOVNTPS, true, 0},   {ZYDIS_MNEMONIC_VMOVNTPD, true, 0},   {ZYDIS_MNEMONIC_VMOVNTDQA, true, 0},
    {ZYDIS_MNEMONIC_VMOVDQU8, false, 1},  {ZYDIS_MNEMONIC_VMOVDQU16, false, 2}, {ZYDIS_MNEMONIC_VMOVDQU32, false, 4},
    {ZYDIS_MNEMONIC_VMOVDQU64, false, 8}, {ZYDIS_MNEMONIC_VMOVDQA32, true, 4},  {ZYDIS_MNEMONIC_VMOVDQA64, true, 8},
};

const VectorForm* find_form(ZydisMnemonic m) {
  for (const VectorForm& f : kForms) {
    if (f.mnemonic == m) return &f;
  }
  return nullptr;
}

// Everything the accesses need, settled before the first one.
struct VectorPlan {
  const VectorForm* form = nullptr;
  const ZydisDecodedOperand* mem_op = nullptr;
  unsigned reg = 0;        // vector register number, 0-31
  unsigned reg_bytes = 0;  // 16, 32, 64: the register width the instruction writes or reads
  unsigned mem_bytes = 0;  // 4, 8, 16, 32, 64
  bool store = false;
  bool legacy = false;   // legacy SSE encoding: upper bits kept on a load
  unsigned mask_k = 0;   // 1-7 when masked, else 0
  bool zeroing = false;  // {z}
};

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
  const unsigned m = p.mem_bytes;
  const bool size_ok = m == 4 || m == 8 || m == 16 || m == 32 || m == 64;
  return p.mem_op != nullptr && p.reg_bytes != 0 && size_ok && m <= p.reg_bytes;
}

// Opmask use: none for legacy/VEX and for EVEX with k0; k1-k7 merge or zero.
bool plan_mask(const ZydisDecodedInstruction& in, VectorPlan& p) {
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
  return p.mask_k <= 7 && p.form->mask_elem != 0 && !(p.store && p.zeroing);
}

bool plan_vector(const CpuState& cpu, const Insn& insn, VectorPlan& p) {
  const ZydisDecodedInstruction& in = insn.in;
  p.form = find_form(in.mnemonic);
  if (p.form == nullptr || (in.attributes & ZYDIS_ATTRIB_HAS_LOCK)) return false;
  p.legacy = in.encoding == ZYDIS_INSTRUCTION_ENCODING_LEGACY;
  if (!p.legacy && in.encoding != ZYDIS_INSTRUCTION_ENCODING_VEX && in.encoding != ZYDIS_INSTRUCTION_ENCODING_EVEX) {
    return false;
  }
  if (!find_operands(insn, p) || !plan_mask(in, p)) return false;
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

// ---- Scalar, half, broadcast and duplicating moves (docs/emulated-instructions.md, 4).
//
// SCALAR: MOVSS/MOVSD and VMOVSS/VMOVSD to and from memory (one element).
// HALF_LO/HALF_HI: MOVLPS/MOVLPD/MOVHPS/MOVHPD and VEX/EVEX forms (one qword).
// BCAST: the memory operand (m8-m256) read once, replicated into the destination.
// DUP_*: MOVDDUP (qword j <- m qword j&~1), MOVSLDUP (dword j <- j&~1),
//        MOVSHDUP (dword j <- j|1); the full operand is read (m64 for MOVDDUP xmm).
enum class XKind : uint8_t { SCALAR, HALF_LO, HALF_HI, BCAST, DUP_Q, DUP_LO, DUP_HI };

struct ExtraForm {
  ZydisMnemonic mnemonic;
  XKind kind;
  uint8_t elem;   // destination element bytes (masking)
  bool maskable;  // EVEX {k}/{z} allowed
};

constexpr ExtraForm kExtra[] = {
    {ZYDIS_MNEMONIC_MOVSS, XKind::SCALAR, 4, false},         {ZYDIS_MNEMONIC_MOVSD, XKind::SCALAR, 8, false},
    {ZYDIS_MNEMONIC_VMOVSS, XKind::SCALAR, 4, true},         {ZYDIS_MNEMONIC_VMOVSD, XKind::SCALAR, 8, true},
    {ZYDIS_MNEMONIC_MOVLPS, XKind::HALF_LO, 8, false},       {ZYDIS_MNEMONIC_MOVLPD, XKind::HALF_LO, 8, false},
    {ZYDIS_MNEMONIC_MOVHPS, XKind::HALF_HI, 8, false},       {ZYDIS_MNEMONIC_MOVHPD, XKind::HALF_HI, 8, false},
    {ZYDIS_MNEMONIC_VMOVLPS, XKind::HALF_LO, 8, false},      {ZYDIS_MNEMONIC_VMOVLPD, XKind::HALF_LO, 8, false},
    {ZYDIS_MNEMONIC_VMOVHPS, XKind::HALF_HI, 8, false},      {ZYDIS_MNEMONIC_VMOVHPD, XKind::HALF_HI, 8, false},
    {ZYDIS_MNEMONIC_VBROADCASTSS, XKind::BCAST, 4, true},    {ZYDIS_MNEMONIC_VBROADCASTSD, XKind::BCAST, 8, true},
    {ZYDIS_MNEMONIC_VBROADCASTF128, XKind::BCAST, 4, false}, {ZYDIS_MNEMONIC_VBROADCASTI128, XKind::BCAST, 4, false},
    {ZYDIS_MNEMONIC_VBROADCASTF32X2, XKind::BCAST, 4, true}, {ZYDIS_MNEMONIC_VBROADCASTI32X2, XKind::BCAST, 4, true},
    {ZYDIS_MNEMONIC_VBROADCASTF32X4, XKind::BCAST, 4, true}, {ZYDIS_MNEMONIC_VBROADCASTI32X4, XKind::BCAST, 4, true},
    {ZYDIS_MNEMONIC_VBROADCASTF64X2, XKind::BCAST, 8, true}, {ZYDIS_MNEMONIC_VBROADCASTI64X2, XKind::BCAST, 8, true},
    {ZYDIS_MNEMONIC_VBROADCASTF32X8, XKind::BCAST, 4, true}, {ZYDIS_MNEMONIC_VBROADCASTI32X8, XKind::BCAST, 4, true},
    {ZYDIS_MNEMONIC_VBROADCASTF64X4, XKind::BCAST, 8, true}, {ZYDIS_MNEMONIC_VBROADCASTI64X4, XKind::BCAST, 8, true},
    {ZYDIS_MNEMONIC_VPBROADCASTB, XKind::BCAST, 1, true},    {ZYDIS_MNEMONIC_VPBROADCASTW, XKind::BCAST, 2, true},
    {ZYDIS_MNEMONIC_VPBROADCASTD, XKind::BCAST, 4, true},    {ZYDIS_MNEMONIC_VPBROADCASTQ, XKind::BCAST, 8, true},
    {ZYDIS_MNEMONIC_MOVDDUP, XKind::DUP_Q, 8, false},        {ZYDIS_MNEMONIC_MOVSLDUP, XKind::DUP_LO, 4, false},
    {ZYDIS_MNEMONIC_MOVSHDUP, XKind::DUP_HI, 4, false},      {ZYDIS_MNEMONIC_VMOVDDUP, XKind::DUP_Q, 8, true},
    {ZYDIS_MNEMONIC_VMOVSLDUP, XKind::DUP_LO, 4, true},      {ZYDIS_MNEMONIC_VMOVSHDUP, XKind::DUP_HI, 4, true},
};

const ExtraForm* find_extra(ZydisMnemonic m) {
  for (const ExtraForm& f : kExtra) {
    if (f.mnemonic == m) return &f;
  }
  return nullptr;
}

struct ExtraPlan {
  const ExtraForm* form = nullptr;
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

bool plan_extra(const CpuState& cpu, const Insn& insn, ExtraPlan& p) {
  const ZydisDecodedInstruction& in = insn.in;
  p.form = find_extra(in.mnemonic);
  if (p.form == nullptr || (in.attributes & ZYDIS_ATTRIB_HAS_LOCK)) return false;
  p.legacy = in.encoding == ZYDIS_INSTRUCTION_ENCODING_LEGACY;
  const bool evex = in.encoding == ZYDIS_INSTRUCTION_ENCODING_EVEX;
  if (!p.legacy && in.encoding != ZYDIS_INSTRUCTION_ENCODING_VEX && !evex) return false;
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
  const XKind kind = p.form->kind;
  const bool half = kind == XKind::HALF_LO || kind == XKind::HALF_HI;
  // Only the 3-operand VEX/EVEX half loads name a second register.
  if (p.src2 >= 0 && !(half && !p.legacy && !p.store)) return false;
  if (half && !p.legacy && !p.store && p.src2 < 0) return false;
  p.elem = p.form->elem;
  // Operand widths, settled here so that nothing below can overrun `data`.
  const unsigned m = p.mem_bytes;
  bool ok = false;
  switch (kind) {
    case XKind::SCALAR:
      ok = m == p.elem && p.reg_bytes == 16;
      break;
    case XKind::HALF_LO:
    case XKind::HALF_HI:
      ok = m == 8 && p.reg_bytes == 16;
      break;
    case XKind::BCAST:
      ok = !p.store && m >= 1 && m <= 32 && (m & (m - 1)) == 0 && m < p.reg_bytes;
      break;
    case XKind::DUP_Q:
      ok = !p.store && m == (p.reg_bytes == 16 ? 8u : p.reg_bytes);
      break;
    case XKind::DUP_LO:
    case XKind::DUP_HI:
      ok = !p.store && m == p.reg_bytes;
      break;
  }
  if (!ok) return false;
  if (evex) {
    // Zydis reports the broadcast loads' own replication as a static
    // broadcast; an embedded one (EVEX.b on a memory operand) is refused.
    if (in.avx.broadcast.mode != ZYDIS_BROADCAST_MODE_INVALID &&
        !(kind == XKind::BCAST && in.avx.broadcast.is_static)) {
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
    if (p.mask_k != 0 && (!p.form->maskable || p.mask_k > 7 || (p.store && p.zeroing))) return false;
  }
  const XsaveArea& x = cpu.xsave;
  if (!x.valid() || !x.holds_vector(p.reg, p.reg_bytes)) return false;
  if (p.src2 >= 0 && !x.holds_vector(static_cast<unsigned>(p.src2), 16)) return false;
  return p.mask_k == 0 || x.has(XComponent::OPMASK);
}

Outcome emulate_extra(CpuState& cpu, const Insn& insn, Memory& mem) {
  ExtraPlan p;
  if (!plan_extra(cpu, insn, p)) return outcome_unsupported();
  const uint64_t addr = effective_address(cpu, insn, *p.mem_op);
  const XKind kind = p.form->kind;
  // Element selection: bit e = destination element e (SCALAR: element 0 only).
  const unsigned nelem = kind == XKind::SCALAR ? 1 : p.reg_bytes / p.elem;
  uint64_t sel = nelem >= 64 ? ~uint64_t{0} : (uint64_t{1} << nelem) - 1;
  if (p.mask_k != 0) sel &= cpu.xsave.read_opmask(p.mask_k);
  uint8_t data[64] = {};
  if (p.store) {
    // SCALAR: the low element; HALF: the low or high qword. A masked-out
    // VMOVSS/VMOVSD store writes nothing.
    cpu.xsave.read_vector(p.reg, 16, data);
    if (sel == 0) return outcome_done();
    const unsigned off = kind == XKind::HALF_HI ? 8 : 0;
    const MemFault f = mem.write(addr, p.mem_bytes, data + off);
    return f.ok() ? outcome_done() : outcome_fault(f);
  }
  // Legacy MOVSLDUP/MOVSHDUP take an m128 that must be 16-byte aligned (#GP).
  if (p.legacy && (kind == XKind::DUP_LO || kind == XKind::DUP_HI) && (addr & 15) != 0) {
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
  const bool dup = kind == XKind::DUP_Q || kind == XKind::DUP_LO || kind == XKind::DUP_HI;
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
    case XKind::SCALAR:
      std::memcpy(data, m, p.mem_bytes);  // legacy and VEX/EVEX: bits 127:elem zeroed
      width = 16;
      break;
    case XKind::HALF_LO:
    case XKind::HALF_HI: {
      const int other = p.legacy ? static_cast<int>(p.reg) : p.src2;
      cpu.xsave.read_vector(static_cast<unsigned>(other), 16, data);
      std::memcpy(data + (kind == XKind::HALF_HI ? 8 : 0), m, 8);
      width = 16;
      break;
    }
    case XKind::BCAST:
      for (unsigned i = 0; i < p.reg_bytes; ++i) data[i] = m[i % p.mem_bytes];
      break;
    case XKind::DUP_Q:
      for (unsigned i = 0; i < p.reg_bytes; ++i) data[i] = m[(i & ~15u) | (i & 7u)];
      break;
    case XKind::DUP_LO:
      for (unsigned i = 0; i < p.reg_bytes; ++i) data[i] = m[(i & ~7u) | (i & 3u)];
      break;
    case XKind::DUP_HI:
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

}  // namespace

bool is_vector_move(const Insn& insn) {
  return find_form(insn.in.mnemonic) != nullptr || find_extra(insn.in.mnemonic) != nullptr;
}

Outcome emulate_vector(CpuState& cpu, const Insn& insn, Memory& mem) {
  if (find_extra(insn.in.mnemonic) != nullptr) return emulate_extra(cpu, insn, mem);
  VectorPlan p;
  if (!plan_vector(cpu, insn, p)) return outcome_unsupported();
  const uint64_t addr = effective_address(cpu, insn, *p.mem_op);
  uint64_t mask = 0;
  if (p.mask_k != 0) {
    mask = byte_mask(cpu.xsave.read_opmask(p.mask_k), p.form->mask_elem, p.mem_bytes);
  }
  const unsigned align = p.legacy ? 16 : p.mem_bytes;
  // An opmask that selects no element suppresses the alignment check too: the
  // CPU then neither faults nor accesses memory (observed on the host by
  // tests/diff; a single selected element brings the #GP back).
  const bool none_selected = p.mask_k != 0 && mask == 0;
  if (p.form->aligned && (addr & (align - 1)) != 0 && !none_selected) {
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
