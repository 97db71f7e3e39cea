// Async-signal-safe: runs in the traced program's signal handler; no allocation, no locks.
// Zydis's encoder is pure computation too (libZydis imports only memcpy, memset, strlen).
//
// The generic path: an instruction outside the table, with exactly one
// explicit memory operand that is a plain load/store operand, is re-encoded
// with Zydis's encoder so that the operand is RIP-relative to a bounce buffer,
// and followed by a HLT. The agent copies the device bytes the instruction
// reads into the bounce buffer, runs the stub with the thread's own registers,
// and copies the bytes it writes back to the device when the HLT faults.
// An AVX-512 instruction masked by k1-k7 that only reads its operand reads
// only the bytes of the selected elements (GenericPlan::read_mask).
//
// What cannot be done this way is refused before anything happens, with the
// reason: a second (implicit) memory operand, control transfers, system and
// segment-loading instructions, LOCK and the always-atomic XCHG (atomicity
// cannot be kept across two device accesses), REP, conditional accesses
// and masked writes (which bytes are accessed is decided by the CPU), cache-line
// operations (they act on an address, not on data), and operands whose size
// is not a fixed 1-64 bytes or an x87 m80 (FXSAVE, XSAVE, FNSTENV...).
#include <Zydis/Zydis.h>

#include <csignal>
#include <cstring>

#include "common/handler_rules.h"
#include "emu/emulate_internal.h"

MT_HANDLER_RULES

namespace mmiotrace::emu {
namespace {

using detail::Insn;

GenericPlan refused(GenericRefusal why) {
  GenericPlan p;
  p.status = EmuStatus::UNSUPPORTED;
  p.refusal = why;
  return p;
}

GenericRefusal refusal_for_category(ZydisInstructionCategory c) {
  switch (c) {
    case ZYDIS_CATEGORY_COND_BR:
    case ZYDIS_CATEGORY_UNCOND_BR:
    case ZYDIS_CATEGORY_CALL:
    case ZYDIS_CATEGORY_RET:
      return GenericRefusal::CONTROL_TRANSFER;
    case ZYDIS_CATEGORY_SYSTEM:
    case ZYDIS_CATEGORY_SYSCALL:
    case ZYDIS_CATEGORY_SYSRET:
    case ZYDIS_CATEGORY_INTERRUPT:
    case ZYDIS_CATEGORY_VTX:
    case ZYDIS_CATEGORY_SGX:
    case ZYDIS_CATEGORY_PCONFIG:
    case ZYDIS_CATEGORY_PT:
    case ZYDIS_CATEGORY_UINTR:
    case ZYDIS_CATEGORY_KEYLOCKER:
    case ZYDIS_CATEGORY_KEYLOCKER_WIDE:
    case ZYDIS_CATEGORY_CET:
      return GenericRefusal::SYSTEM;
    case ZYDIS_CATEGORY_XSAVE:
    case ZYDIS_CATEGORY_XSAVEOPT:
      return GenericRefusal::XSAVE_SIZE;
    case ZYDIS_CATEGORY_SEGOP:
      return GenericRefusal::SEGMENT_LOAD;
    case ZYDIS_CATEGORY_AMX_TILE:
    case ZYDIS_CATEGORY_MPX:
    case ZYDIS_CATEGORY_ENQCMD:
      return GenericRefusal::NOT_PLAIN_MEMORY;
    default:
      return GenericRefusal::NONE;
  }
}

GenericRefusal refusal_for_mnemonic(ZydisMnemonic m) {
  switch (m) {
    case ZYDIS_MNEMONIC_XCHG:
      // SDM Vol. 2, XCHG: with a memory operand the locking protocol is
      // automatic, LOCK prefix or not.
      return GenericRefusal::XCHG_ATOMIC;
    case ZYDIS_MNEMONIC_CLFLUSH:
    case ZYDIS_MNEMONIC_CLFLUSHOPT:
    case ZYDIS_MNEMONIC_CLWB:
    case ZYDIS_MNEMONIC_CLDEMOTE:
      return GenericRefusal::CACHE_LINE;
    case ZYDIS_MNEMONIC_VMASKMOVPS:
    case ZYDIS_MNEMONIC_VMASKMOVPD:
    case ZYDIS_MNEMONIC_VPMASKMOVD:
    case ZYDIS_MNEMONIC_VPMASKMOVQ:
    case ZYDIS_MNEMONIC_MASKMOVQ:
    case ZYDIS_MNEMONIC_MASKMOVDQU:
    case ZYDIS_MNEMONIC_VMASKMOVDQU:
      return GenericRefusal::MASK_DECIDES;
    default:
      return GenericRefusal::NONE;
  }
}

// Registers the generic path must not let the instruction write or read:
// RIP (a control transfer), segment registers (a segment load), and the
// system registers.
GenericRefusal refusal_for_register(const ZydisDecodedOperand& op) {
  switch (ZydisRegisterGetClass(op.reg.value)) {
    case ZYDIS_REGCLASS_IP:
      return GenericRefusal::CONTROL_TRANSFER;
    case ZYDIS_REGCLASS_SEGMENT:
      return (op.actions & ZYDIS_OPERAND_ACTION_MASK_WRITE) ? GenericRefusal::SEGMENT_LOAD : GenericRefusal::NONE;
    case ZYDIS_REGCLASS_TABLE:
    case ZYDIS_REGCLASS_TEST:
    case ZYDIS_REGCLASS_CONTROL:
    case ZYDIS_REGCLASS_DEBUG:
    case ZYDIS_REGCLASS_BOUND:
    case ZYDIS_REGCLASS_TMM:
      return GenericRefusal::SYSTEM;
    default:
      return GenericRefusal::NONE;
  }
}

// The one memory operand, or a refusal.
GenericRefusal find_memory_operand(const Insn& insn, const ZydisDecodedOperand** out) {
  const ZydisDecodedOperand* mem = nullptr;
  for (unsigned i = 0; i < insn.in.operand_count; ++i) {
    const ZydisDecodedOperand& op = insn.ops[i];
    switch (op.type) {
      case ZYDIS_OPERAND_TYPE_MEMORY:
        if (mem != nullptr) return GenericRefusal::TWO_MEMORY_OPERANDS;
        mem = &op;
        break;
      case ZYDIS_OPERAND_TYPE_REGISTER:
        if (const GenericRefusal why = refusal_for_register(op); why != GenericRefusal::NONE) return why;
        break;
      case ZYDIS_OPERAND_TYPE_POINTER:
        return GenericRefusal::FAR_POINTER;
      default:
        break;
    }
  }
  if (mem == nullptr) return GenericRefusal::NO_MEMORY_OPERAND;
  if (mem->visibility != ZYDIS_OPERAND_VISIBILITY_EXPLICIT) return GenericRefusal::IMPLICIT_MEMORY;
  if (mem->mem.type == ZYDIS_MEMOP_TYPE_VSIB) return GenericRefusal::VSIB;
  if (!detail::is_plain_memory(*mem)) return GenericRefusal::NOT_PLAIN_MEMORY;
  *out = mem;
  return GenericRefusal::NONE;
}

bool valid_size(unsigned bytes) {
  switch (bytes) {
    case 1:
    case 2:
    case 4:
    case 8:
    case 10:
    case 16:
    case 32:
    case 64:
      return true;
    default:
      return false;
  }
}

// Legacy SSE instructions with a 16-byte memory operand raise #GP(0) if it is
// not 16-byte aligned, except these (SDM Vol. 1, 11.6.9 "128-Bit SIMD Data
// Alignment"; Vol. 3A, 6.15 "#AC" on MOVUPS/MOVUPD/MOVDQU/LDDQU; Vol. 2,
// PCMPESTRI/PCMPESTRM/PCMPISTRI/PCMPISTRM: "no alignment requirement").
// VEX and EVEX encodings require alignment only in the aligned moves, which
// are in the table.
bool legacy_sse_unaligned_ok(ZydisMnemonic m) {
  switch (m) {
    case ZYDIS_MNEMONIC_MOVUPS:
    case ZYDIS_MNEMONIC_MOVUPD:
    case ZYDIS_MNEMONIC_MOVDQU:
    case ZYDIS_MNEMONIC_LDDQU:
    case ZYDIS_MNEMONIC_PCMPESTRI:
    case ZYDIS_MNEMONIC_PCMPESTRM:
    case ZYDIS_MNEMONIC_PCMPISTRI:
    case ZYDIS_MNEMONIC_PCMPISTRM:
      return true;
    default:
      return false;
  }
}

// Everything that decides whether the generic path may run the instruction,
// before any encoding: a refusal, or NONE.
GenericRefusal check_instruction(const Insn& insn) {
  const ZydisDecodedInstruction& in = insn.in;
  if (in.attributes & ZYDIS_ATTRIB_HAS_LOCK) return GenericRefusal::LOCKED;
  if (in.attributes & (ZYDIS_ATTRIB_HAS_REP | ZYDIS_ATTRIB_HAS_REPE | ZYDIS_ATTRIB_HAS_REPNE)) {
    return GenericRefusal::REPEATED;
  }
  if (in.attributes & ZYDIS_ATTRIB_IS_PRIVILEGED) return GenericRefusal::SYSTEM;
  switch (in.encoding) {
    case ZYDIS_INSTRUCTION_ENCODING_LEGACY:
    case ZYDIS_INSTRUCTION_ENCODING_VEX:
    case ZYDIS_INSTRUCTION_ENCODING_EVEX:
    case ZYDIS_INSTRUCTION_ENCODING_XOP:
      break;
    default:
      return GenericRefusal::ENCODING;
  }
  if (const GenericRefusal why = refusal_for_category(in.meta.category); why != GenericRefusal::NONE) return why;
  return refusal_for_mnemonic(in.mnemonic);
}

// EVEX write masking with k1-k7 (k0 means no masking).
unsigned mask_register(const Insn& insn) {
  const ZydisDecodedInstruction& in = insn.in;
  if (in.encoding != ZYDIS_INSTRUCTION_ENCODING_EVEX || in.avx.mask.mode == ZYDIS_MASK_MODE_DISABLED ||
      in.avx.mask.reg < ZYDIS_REGISTER_K1 || in.avx.mask.reg > ZYDIS_REGISTER_K7) {
    return 0;
  }
  return static_cast<unsigned>(in.avx.mask.reg - ZYDIS_REGISTER_K0);
}

// The exception classes without memory fault suppression (SDM Vol. 2, 2.8,
// the "NF" types): the CPU reads the whole operand whatever the mask
// (permutes, shuffles, VPMADDWD...: an element is not tied to one mask bit).
bool no_fault_suppression(ZydisExceptionClass c) {
  switch (c) {
    case ZYDIS_EXCEPTION_CLASS_E1NF:
    case ZYDIS_EXCEPTION_CLASS_E2NF:
    case ZYDIS_EXCEPTION_CLASS_E3NF:
    case ZYDIS_EXCEPTION_CLASS_E4NF:
    case ZYDIS_EXCEPTION_CLASS_E5NF:
    case ZYDIS_EXCEPTION_CLASS_E6NF:
    case ZYDIS_EXCEPTION_CLASS_E9NF:
    case ZYDIS_EXCEPTION_CLASS_E10NF:
    case ZYDIS_EXCEPTION_CLASS_E11NF:
      return true;
    default:
      return false;
  }
}

// Embedded broadcast {1toN}: N, or 0 for any other broadcast mode.
unsigned broadcast_count(ZydisBroadcastMode m) {
  switch (m) {
    case ZYDIS_BROADCAST_MODE_1_TO_2:
      return 2;
    case ZYDIS_BROADCAST_MODE_1_TO_4:
      return 4;
    case ZYDIS_BROADCAST_MODE_1_TO_8:
      return 8;
    case ZYDIS_BROADCAST_MODE_1_TO_16:
      return 16;
    case ZYDIS_BROADCAST_MODE_1_TO_32:
      return 32;
    case ZYDIS_BROADCAST_MODE_1_TO_64:
      return 64;
    default:
      return 0;
  }
}

// A masked instruction that reads its memory operand: the bytes the CPU
// reads, as a byte mask over the operand (bit i = byte i), for opmask value
// `k`. With fault suppression (SDM Vol. 1, 15.6.1; Vol. 2, 2.8) the CPU reads
// only the elements whose mask bit is set: element i of the operand goes with
// mask bit i; a scalar operand (one element) with bit 0; an embedded
// broadcast {1toN} reads its one element if any of the N bits is set, and not
// at all otherwise (bits beyond the N elements do not count; checked natively
// on the host, see docs/emulated-instructions.md). Returns a refusal when
// the elements do not map one to one onto mask bits.
GenericRefusal masked_read_bytes(const Insn& insn, const ZydisDecodedOperand& mem, unsigned bytes_n, uint64_t k,
                                 uint64_t* out) {
  const ZydisDecodedInstruction& in = insn.in;
  const uint64_t all = bytes_n >= 64 ? ~uint64_t{0} : (uint64_t{1} << bytes_n) - 1;
  if (no_fault_suppression(in.meta.exception_class)) {
    *out = all;
    return GenericRefusal::NONE;
  }
  if (in.avx.broadcast.mode != ZYDIS_BROADCAST_MODE_INVALID) {
    const unsigned n = broadcast_count(in.avx.broadcast.mode);
    if (n == 0 || mem.element_count != 1) return GenericRefusal::MASKED_BLOCK_BROADCAST;
    *out = (k & ((n >= 64) ? ~uint64_t{0} : (uint64_t{1} << n) - 1)) != 0 ? all : 0;
    return GenericRefusal::NONE;
  }
  const unsigned count = mem.element_count;
  const unsigned elem = mem.element_size / 8;
  if (count == 0 || mem.element_size % 8 != 0 || elem == 0 || elem * count != bytes_n) {
    return GenericRefusal::MASKED_NO_ELEMENT_SIZE;
  }
  if (count > 1) {
    // The destination is governed by the same mask: a mask register (a
    // compare), or a vector register of as many elements as the operand.
    const ZydisDecodedOperand& dst = insn.ops[0];
    const bool k_dst =
        dst.type == ZYDIS_OPERAND_TYPE_REGISTER && ZydisRegisterGetClass(dst.reg.value) == ZYDIS_REGCLASS_MASK;
    const bool same = dst.type == ZYDIS_OPERAND_TYPE_REGISTER && dst.element_count == count;
    if (!k_dst && !same) return GenericRefusal::MASKED_ELEMENTS_UNMAPPED;
  }
  uint64_t m = 0;
  const uint64_t one = elem >= 8 ? 0xff : (uint64_t{1} << elem) - 1;
  for (unsigned e = 0; e < count; ++e) {
    if ((k >> e) & 1) m |= one << (e * elem);
  }
  *out = m;
  return GenericRefusal::NONE;
}

ZydisEncodableEncoding encodable(ZydisInstructionEncoding e) {
  switch (e) {
    case ZYDIS_INSTRUCTION_ENCODING_VEX:
      return ZYDIS_ENCODABLE_ENCODING_VEX;
    case ZYDIS_INSTRUCTION_ENCODING_EVEX:
      return ZYDIS_ENCODABLE_ENCODING_EVEX;
    case ZYDIS_INSTRUCTION_ENCODING_XOP:
      return ZYDIS_ENCODABLE_ENCODING_XOP;
    default:
      return ZYDIS_ENCODABLE_ENCODING_LEGACY;
  }
}

constexpr ZydisInstructionAttributes kSegmentPrefixes = ZYDIS_ATTRIB_HAS_SEGMENT_CS | ZYDIS_ATTRIB_HAS_SEGMENT_SS |
                                                        ZYDIS_ATTRIB_HAS_SEGMENT_DS | ZYDIS_ATTRIB_HAS_SEGMENT_ES |
                                                        ZYDIS_ATTRIB_HAS_SEGMENT_FS | ZYDIS_ATTRIB_HAS_SEGMENT_GS;

// encode_stub and verify_stub are never inlined: each has a large frame (the
// encoder's request and its own state, a second decoded instruction), and
// kept apart they are not on the signal stack at the same time.
//
// Encodes the instruction with its memory operand replaced by
// [rip + (bounce_addr - next)]: 64-bit addressing (a 67h prefix would make
// it EIP-relative and truncate the address), no segment override (the
// original operand's FS/GS base is already in the plan's address). Returns
// the length, or 0.
__attribute__((noinline)) size_t encode_stub(const Insn& insn, uint64_t stub_addr, uint64_t bounce_addr, uint8_t* out,
                                             size_t cap) {
  ZydisEncoderRequest req;
  if (!ZYAN_SUCCESS(
          ZydisEncoderDecodedInstructionToEncoderRequest(&insn.in, insn.ops, insn.in.operand_count_visible, &req))) {
    return 0;
  }
  req.allowed_encodings = encodable(insn.in.encoding);
  req.prefixes &= ~kSegmentPrefixes;
  req.address_size_hint = ZYDIS_ADDRESS_SIZE_HINT_NONE;
  unsigned memory_operands = 0;
  for (unsigned i = 0; i < req.operand_count; ++i) {
    ZydisEncoderOperand& op = req.operands[i];
    if (op.type != ZYDIS_OPERAND_TYPE_MEMORY) continue;
    ++memory_operands;
    op.mem.base = ZYDIS_REGISTER_RIP;
    op.mem.index = ZYDIS_REGISTER_NONE;
    op.mem.scale = 0;
    // ZydisEncoderEncodeInstructionAbsolute takes the absolute target and
    // computes the displacement from the final instruction length.
    op.mem.displacement = static_cast<ZyanI64>(bounce_addr);
  }
  if (memory_operands != 1) return 0;
  ZyanUSize length = cap;
  if (!ZYAN_SUCCESS(ZydisEncoderEncodeInstructionAbsolute(&req, out, &length, stub_addr))) return 0;
  return length;
}

bool same_operand(const ZydisDecodedOperand& a, const ZydisDecodedOperand& b) {
  if (a.type != b.type || a.visibility != b.visibility || a.actions != b.actions || a.size != b.size ||
      a.element_type != b.element_type || a.element_size != b.element_size || a.element_count != b.element_count) {
    return false;
  }
  switch (a.type) {
    case ZYDIS_OPERAND_TYPE_REGISTER:
      return a.reg.value == b.reg.value;
    case ZYDIS_OPERAND_TYPE_IMMEDIATE:
      return a.imm.value.u == b.imm.value.u && a.imm.is_signed == b.imm.is_signed && !a.imm.is_relative &&
             !b.imm.is_relative;
    case ZYDIS_OPERAND_TYPE_MEMORY:
      return true;  // the address is checked by the caller
    default:
      return false;
  }
}

// The stub decodes back to the same instruction: same mnemonic, opcode,
// encoding, widths, AVX attributes and operands (registers, immediates,
// sizes, element types and read/write actions), the memory operand being
// [rip + disp] with no segment override, addressing bounce_addr.
bool stub_matches(const Insn& orig, const Insn& stub, uint64_t stub_addr, uint64_t bounce_addr) {
  const ZydisDecodedInstruction& a = orig.in;
  const ZydisDecodedInstruction& b = stub.in;
  if (a.mnemonic != b.mnemonic || a.encoding != b.encoding || a.opcode_map != b.opcode_map || a.opcode != b.opcode ||
      a.operand_width != b.operand_width || b.address_width != 64 || a.operand_count != b.operand_count ||
      a.operand_count_visible != b.operand_count_visible || a.avx.vector_length != b.avx.vector_length ||
      a.avx.mask.mode != b.avx.mask.mode || a.avx.mask.reg != b.avx.mask.reg ||
      a.avx.broadcast.mode != b.avx.broadcast.mode || a.avx.rounding.mode != b.avx.rounding.mode ||
      a.avx.has_sae != b.avx.has_sae || (b.attributes & (kSegmentPrefixes | ZYDIS_ATTRIB_HAS_LOCK))) {
    return false;
  }
  for (unsigned i = 0; i < a.operand_count; ++i) {
    const ZydisDecodedOperand& x = orig.ops[i];
    const ZydisDecodedOperand& y = stub.ops[i];
    if (!same_operand(x, y)) return false;
    if (y.type != ZYDIS_OPERAND_TYPE_MEMORY) continue;
    if (y.mem.type != ZYDIS_MEMOP_TYPE_MEM || y.mem.base != ZYDIS_REGISTER_RIP || y.mem.index != ZYDIS_REGISTER_NONE ||
        y.mem.segment != ZYDIS_REGISTER_DS) {
      return false;
    }
    if (stub_addr + b.length + static_cast<uint64_t>(y.mem.disp.value) != bounce_addr) return false;
  }
  return true;
}

// The `n` bytes of `stub` decode to exactly `n` bytes of the same instruction.
__attribute__((noinline)) bool verify_stub(const Insn& insn, const uint8_t* stub, size_t n, uint64_t stub_addr,
                                           uint64_t bounce_addr) {
  Insn check;
  return detail::decode(stub, n, check) && check.in.length == n && stub_matches(insn, check, stub_addr, bounce_addr);
}

}  // namespace

const char* describe(GenericRefusal r) {
  switch (r) {
    case GenericRefusal::NONE:
      return "not refused";
    case GenericRefusal::LOCKED:
      return "a LOCK prefix: atomicity cannot be kept across two device accesses";
    case GenericRefusal::REPEATED:
      return "a REP prefix repeats the access";
    case GenericRefusal::SYSTEM:
      return "it is a system instruction";
    case GenericRefusal::ENCODING:
      return "its encoding (3DNow!, MVEX) is not re-encoded";
    case GenericRefusal::CONTROL_TRANSFER:
      return "it transfers control (a branch, call or return through memory)";
    case GenericRefusal::FAR_POINTER:
      return "it transfers control (a far branch or call)";
    case GenericRefusal::XSAVE_SIZE:
      return "its memory operand's size depends on the processor state (XSAVE family)";
    case GenericRefusal::SEGMENT_LOAD:
      return "it loads a segment register";
    case GenericRefusal::NOT_PLAIN_MEMORY:
      return "its memory operand is not a plain load or store";
    case GenericRefusal::XCHG_ATOMIC:
      return "XCHG with memory is atomic, and atomicity cannot be kept across two device accesses";
    case GenericRefusal::CACHE_LINE:
      return "a cache-line operation acts on the address, not on data";
    case GenericRefusal::MASK_DECIDES:
      return "a mask register decides which bytes it accesses";
    case GenericRefusal::TWO_MEMORY_OPERANDS:
      return "it has more than one memory operand (a stack, string or two-address instruction)";
    case GenericRefusal::NO_MEMORY_OPERAND:
      return "it has no memory operand";
    case GenericRefusal::IMPLICIT_MEMORY:
      return "it accesses memory only implicitly (a stack or string instruction)";
    case GenericRefusal::VSIB:
      return "a gather or scatter accesses several addresses through a vector index";
    case GenericRefusal::CONDITIONAL_ACCESS:
      return "whether it reads or writes its memory operand depends on the data (CMPXCHG...)";
    case GenericRefusal::NO_ACCESS:
      return "it neither reads nor writes its memory operand";
    case GenericRefusal::OPERAND_SIZE:
      return "its memory operand is not 1, 2, 4, 8, 16, 32 or 64 bytes or an x87 m80 "
             "(FXSAVE, FNSAVE, FNSTENV and the like are state-dependent)";
    case GenericRefusal::M80_OUTSIDE_X87:
      return "a 10-byte operand outside the x87 instructions";
    case GenericRefusal::MASKED_WRITE:
      return "AVX-512 masking decides which elements of its memory operand it writes";
    case GenericRefusal::MASKED_EXPAND:
      return "with a mask, an expand reads as many elements as bits are set (a variable layout)";
    case GenericRefusal::NO_OPMASK_STATE:
      return "AVX-512 masking without the opmask registers' state";
    case GenericRefusal::MASKED_BLOCK_BROADCAST:
      return "AVX-512 masking of a block broadcast: its elements do not map one to one onto mask bits";
    case GenericRefusal::MASKED_NO_ELEMENT_SIZE:
      return "AVX-512 masking of a memory operand whose element size Zydis does not give";
    case GenericRefusal::MASKED_ELEMENTS_UNMAPPED:
      return "AVX-512 masking where its memory operand's elements do not map one to one onto mask bits";
    case GenericRefusal::BAD_BUFFERS:
      return "the stub buffer is too small or the bounce area misaligned";
    case GenericRefusal::ENCODE_FAILED:
      return "Zydis could not re-encode it";
    case GenericRefusal::ENCODE_MISMATCH:
      return "Zydis re-encoded it into a different instruction";
  }
  return "unknown refusal";
}

GenericPlan plan_generic(const CpuState& cpu, const uint8_t* bytes, size_t len, uint64_t stub_addr,
                         uint64_t bounce_area, uint8_t* stub_out, size_t stub_cap) {
  Insn insn;
  if (!detail::decode(bytes, len, insn)) {
    GenericPlan p;
    p.status = EmuStatus::DECODE_ERROR;
    return p;
  }
  if (const GenericRefusal why = check_instruction(insn); why != GenericRefusal::NONE) return refused(why);
  const ZydisDecodedOperand* mem = nullptr;
  if (const GenericRefusal why = find_memory_operand(insn, &mem); why != GenericRefusal::NONE) return refused(why);
  const unsigned k = mask_register(insn);
  // Zydis calls an AVX-512 masked store's operand conditionally written: the
  // mask, not the data, decides which elements, and that is the reason given.
  if (k != 0 && (mem->actions & (ZYDIS_OPERAND_ACTION_WRITE | ZYDIS_OPERAND_ACTION_CONDWRITE))) {
    return refused(GenericRefusal::MASKED_WRITE);
  }
  if (mem->actions & (ZYDIS_OPERAND_ACTION_CONDREAD | ZYDIS_OPERAND_ACTION_CONDWRITE)) {
    return refused(GenericRefusal::CONDITIONAL_ACCESS);
  }
  const bool reads = (mem->actions & ZYDIS_OPERAND_ACTION_READ) != 0;
  const bool writes = (mem->actions & ZYDIS_OPERAND_ACTION_WRITE) != 0;
  if (!reads && !writes) return refused(GenericRefusal::NO_ACCESS);
  const unsigned bytes_n = mem->size / 8;
  if (mem->size % 8 != 0 || !valid_size(bytes_n)) return refused(GenericRefusal::OPERAND_SIZE);
  if (bytes_n == 10 && insn.in.meta.category != ZYDIS_CATEGORY_X87_ALU) {
    return refused(GenericRefusal::M80_OUTSIDE_X87);
  }
  uint64_t read_mask = 0;
  if (k != 0) {
    if (insn.in.mnemonic == ZYDIS_MNEMONIC_VPEXPANDB || insn.in.mnemonic == ZYDIS_MNEMONIC_VPEXPANDW ||
        insn.in.mnemonic == ZYDIS_MNEMONIC_VPEXPANDD || insn.in.mnemonic == ZYDIS_MNEMONIC_VPEXPANDQ ||
        insn.in.mnemonic == ZYDIS_MNEMONIC_VEXPANDPS || insn.in.mnemonic == ZYDIS_MNEMONIC_VEXPANDPD) {
      return refused(GenericRefusal::MASKED_EXPAND);
    }
    if (!cpu.xsave.has(XComponent::OPMASK)) return refused(GenericRefusal::NO_OPMASK_STATE);
    const GenericRefusal why = masked_read_bytes(insn, *mem, bytes_n, cpu.xsave.read_opmask(k), &read_mask);
    if (why != GenericRefusal::NONE) return refused(why);
  }
  if (stub_cap < kGenericStubCapacity || (bounce_area % kGenericBounceAlign) != 0) {
    return refused(GenericRefusal::BAD_BUFFERS);
  }

  GenericPlan p;
  p.addr = detail::effective_address(cpu, insn, *mem);
  p.size = bytes_n;
  p.reads = reads;
  p.writes = writes;
  p.insn_len = insn.in.length;
  p.masked = k != 0;
  p.read_mask = read_mask;
  // The operand keeps its offset modulo 64 in the bounce buffer, so that the
  // CPU's alignment checks (#GP, #AC) see what they would natively.
  p.bounce_addr = bounce_area + (p.addr % kGenericBounceAlign);

  uint8_t stub[kGenericStubCapacity];
  const size_t n = encode_stub(insn, stub_addr, p.bounce_addr, stub, ZYDIS_MAX_INSTRUCTION_LENGTH);
  if (n == 0) return refused(GenericRefusal::ENCODE_FAILED);
  if (!verify_stub(insn, stub, n, stub_addr, p.bounce_addr)) return refused(GenericRefusal::ENCODE_MISMATCH);
  stub[n] = kGenericTerminator;

  if (insn.in.encoding == ZYDIS_INSTRUCTION_ENCODING_LEGACY && bytes_n == 16 &&
      !legacy_sse_unaligned_ok(insn.in.mnemonic) && (p.addr % 16) != 0) {
    // #GP(0) before any access; Linux delivers it as SIGSEGV, SI_KERNEL,
    // address 0 (arch/x86/kernel/traps.c, exc_general_protection).
    GenericPlan f;
    f.status = EmuStatus::FAULT;
    f.fault = MemFault{SIGSEGV, SI_KERNEL, 0};
    f.addr = p.addr;
    f.size = p.size;
    f.insn_len = p.insn_len;
    return f;
  }
  std::memcpy(stub_out, stub, n + 1);
  p.status = EmuStatus::OK;
  p.stub_len = static_cast<uint8_t>(n + 1);
  p.terminator_offset = static_cast<uint8_t>(n);
  return p;
}

}  // namespace mmiotrace::emu

namespace mmiotrace::emu {
namespace {

enum class Dependence : uint8_t { NONE, RIP_MEMORY, BRANCH, REFUSED };

// What of the instruction depends on where it is: nothing (copied as it is),
// a RIP-relative memory operand, a relative JMP/Jcc, or something that cannot
// move (a call pushes its own address; LOOP/JRCXZ/XBEGIN have only 8/32-bit
// forms that this does not rebuild; anything else that reads RIP).
Dependence dependence(const detail::Insn& insn) {
  bool rip_memory = false, relative = false, reads_rip = false;
  for (unsigned i = 0; i < insn.in.operand_count; ++i) {
    const ZydisDecodedOperand& op = insn.ops[i];
    if (op.type == ZYDIS_OPERAND_TYPE_MEMORY &&
        (op.mem.base == ZYDIS_REGISTER_RIP || op.mem.base == ZYDIS_REGISTER_EIP)) {
      rip_memory = true;
    } else if (op.type == ZYDIS_OPERAND_TYPE_IMMEDIATE && op.imm.is_relative) {
      relative = true;
    } else if (op.type == ZYDIS_OPERAND_TYPE_REGISTER && ZydisRegisterGetClass(op.reg.value) == ZYDIS_REGCLASS_IP &&
               (op.actions & ZYDIS_OPERAND_ACTION_MASK_READ) != 0) {
      reads_rip = true;
    }
  }
  const bool jump = insn.in.mnemonic == ZYDIS_MNEMONIC_JMP || insn.in.meta.category == ZYDIS_CATEGORY_COND_BR;
  switch (insn.in.mnemonic) {
    case ZYDIS_MNEMONIC_LOOP:
    case ZYDIS_MNEMONIC_LOOPE:
    case ZYDIS_MNEMONIC_LOOPNE:
    case ZYDIS_MNEMONIC_JCXZ:
    case ZYDIS_MNEMONIC_JECXZ:
    case ZYDIS_MNEMONIC_JRCXZ:
      return Dependence::REFUSED;
    default:
      break;
  }
  // A CALL (through anything) pushes its own address; other readers of RIP
  // than a relative jump cannot move either.
  if ((reads_rip && !(relative && jump)) || (relative && !jump) || (rip_memory && relative)) return Dependence::REFUSED;
  if (rip_memory) return Dependence::RIP_MEMORY;
  return relative ? Dependence::BRANCH : Dependence::NONE;
}

// A relative JMP/Jcc re-encoded at `to` with the same destination, in
// whatever width it needs; checked by decoding it back.
size_t relocate_branch(const detail::Insn& insn, uint64_t from, uint64_t to, uint8_t* out, size_t cap) {
  ZyanU64 target = 0;
  if (!ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(&insn.in, &insn.ops[0], from, &target))) return 0;
  ZydisEncoderRequest req;
  if (!ZYAN_SUCCESS(
          ZydisEncoderDecodedInstructionToEncoderRequest(&insn.in, insn.ops, insn.in.operand_count_visible, &req))) {
    return 0;
  }
  req.branch_type = ZYDIS_BRANCH_TYPE_NONE;
  req.branch_width = ZYDIS_BRANCH_WIDTH_NONE;
  req.operands[0].imm.u = target;
  ZyanUSize length = cap;
  if (!ZYAN_SUCCESS(ZydisEncoderEncodeInstructionAbsolute(&req, out, &length, to))) return 0;
  detail::Insn check;
  ZyanU64 check_target = 0;
  if (!detail::decode(out, length, check) || check.in.length != length || check.in.mnemonic != insn.in.mnemonic ||
      !ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(&check.in, &check.ops[0], to, &check_target)) || check_target != target) {
    return 0;
  }
  return length;
}

}  // namespace

size_t relocate(const uint8_t* bytes, size_t len, uint64_t from, uint64_t to, uint8_t* out, size_t cap) {
  detail::Insn insn;
  if (cap < ZYDIS_MAX_INSTRUCTION_LENGTH || !detail::decode(bytes, len, insn)) return 0;
  const unsigned n = insn.in.length;
  switch (dependence(insn)) {
    case Dependence::NONE:
      std::memcpy(out, bytes, n);
      return n;
    case Dependence::BRANCH:
      return relocate_branch(insn, from, to, out, cap);
    case Dependence::REFUSED:
      return 0;
    case Dependence::RIP_MEMORY:
      break;
  }
  // The generic path's re-encoding, with the operand's own absolute address
  // in place of a bounce buffer.
  const ZydisDecodedOperand* mem = nullptr;
  for (unsigned i = 0; i < insn.in.operand_count; ++i) {
    if (insn.ops[i].type == ZYDIS_OPERAND_TYPE_MEMORY) mem = &insn.ops[i];
  }
  if (mem == nullptr || mem->mem.segment == ZYDIS_REGISTER_FS || mem->mem.segment == ZYDIS_REGISTER_GS ||
      insn.in.address_width != 64) {
    return 0;
  }
  const uint64_t target = from + n + static_cast<uint64_t>(mem->mem.disp.value);
  const size_t m = encode_stub(insn, to, target, out, cap);
  if (m == 0 || !verify_stub(insn, out, m, to, target)) return 0;
  return m;
}

}  // namespace mmiotrace::emu
