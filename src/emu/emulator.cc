// Async-signal-safe: runs in the traced program's signal handler; no allocation, no locks.
//
// emulate(): decode, pick the handler from the closed table
// (docs/emulated-instructions.md), let it decide support before it touches
// memory, then advance RIP. disassemble() and to_string() for the tools.
#include "emu/emulator.h"

#include <Zydis/Zydis.h>

#include <algorithm>
#include <cstring>

#include "common/handler_rules.h"
#include "emu/emulate_internal.h"

MT_HANDLER_RULES

namespace mmiotrace::emu {
namespace {

// Prefetches are hints with no architectural memory access ("merely a hint and
// does not affect program behavior", SDM Vol. 2, PREFETCHh): they never fault,
// even on a PROT_NONE page, so emulating one is a no-op that only moves RIP.
bool is_prefetch(ZydisMnemonic m) {
  switch (m) {
    case ZYDIS_MNEMONIC_PREFETCH:
    case ZYDIS_MNEMONIC_PREFETCHNTA:
    case ZYDIS_MNEMONIC_PREFETCHT0:
    case ZYDIS_MNEMONIC_PREFETCHT1:
    case ZYDIS_MNEMONIC_PREFETCHT2:
    case ZYDIS_MNEMONIC_PREFETCHW:
    case ZYDIS_MNEMONIC_PREFETCHWT1:
      return true;
    default:
      return false;
  }
}

detail::Outcome dispatch(CpuState& cpu, const detail::Insn& insn, Memory& mem, const EmuOptions& options) {
  switch (insn.in.mnemonic) {
    case ZYDIS_MNEMONIC_MOV:
    case ZYDIS_MNEMONIC_MOVZX:
    case ZYDIS_MNEMONIC_MOVSX:
    case ZYDIS_MNEMONIC_MOVSXD:
    case ZYDIS_MNEMONIC_MOVNTI:
      return detail::emulate_gpr_move(cpu, insn, mem);
    default:
      break;
  }
  // String instructions go by opcode: Zydis calls both MOVS dword (A5) and
  // SSE2's scalar move (F2 0F 10) MOVSD.
  if (detail::is_string_move(insn)) return detail::emulate_string(cpu, insn, mem, options);
  if (detail::is_vector_move(insn)) return detail::emulate_vector(cpu, insn, mem);
  if (detail::is_alu(insn)) return detail::emulate_alu(cpu, insn, mem);
  if (detail::is_gpr_extra(insn)) return detail::emulate_gpr_extra(cpu, insn, mem);
  if (detail::is_string_compare(insn)) return detail::emulate_string_compare(cpu, insn, mem, options);
  if (is_prefetch(insn.in.mnemonic)) return detail::outcome_done();
  return detail::outcome_unsupported();
}

// Zydis's AT&T style with lowercase hex and unpadded absolute addresses
// (RIP-relative operands print as the absolute address, given `pc`).
bool init_formatter(ZydisFormatter& f) {
  return ZYAN_SUCCESS(ZydisFormatterInit(&f, ZYDIS_FORMATTER_STYLE_ATT)) &&
         ZYAN_SUCCESS(ZydisFormatterSetProperty(&f, ZYDIS_FORMATTER_PROP_HEX_UPPERCASE, ZYAN_FALSE)) &&
         ZYAN_SUCCESS(
             ZydisFormatterSetProperty(&f, ZYDIS_FORMATTER_PROP_ADDR_PADDING_ABSOLUTE, ZYDIS_PADDING_DISABLED));
}

}  // namespace

const char* to_string(EmuStatus s) {
  switch (s) {
    case EmuStatus::OK:
      return "OK";
    case EmuStatus::DECODE_ERROR:
      return "DECODE_ERROR";
    case EmuStatus::UNSUPPORTED:
      return "UNSUPPORTED";
    case EmuStatus::FAULT:
      return "FAULT";
  }
  return "?";
}

EmuResult emulate(CpuState& cpu, const uint8_t* bytes, size_t len, Memory& mem, const EmuOptions& options) {
  EmuResult result;
  detail::Insn insn;
  if (!detail::decode_cached(cpu.rip, bytes, len, insn)) {
    result.status = EmuStatus::DECODE_ERROR;
    return result;
  }
  MT_CHECK(insn.in.length != 0 && insn.in.length <= len && insn.in.length <= ZYDIS_MAX_INSTRUCTION_LENGTH);
  result.insn_len = insn.in.length;
  mem.instruction_decoded(insn.in.length);
  const detail::Outcome o = dispatch(cpu, insn, mem, options);
  result.status = o.status;
  result.fault = o.fault;
  if (o.status == EmuStatus::OK && o.advance) cpu.rip += insn.in.length;
  return result;
}

size_t disassemble(const uint8_t* bytes, size_t len, uint64_t pc, char* out, size_t out_size) {
  char text[256];
  detail::Insn insn;
  size_t length = 0;
  ZydisFormatter formatter;
  if (!detail::decode(bytes, len, insn)) {
    std::strcpy(text, "(bad)");
  } else {
    length = insn.in.length;
    if (!init_formatter(formatter) ||
        !ZYAN_SUCCESS(ZydisFormatterFormatInstruction(&formatter, &insn.in, insn.ops, insn.in.operand_count_visible,
                                                      text, sizeof text, pc, nullptr))) {
      std::strcpy(text, "(unprintable)");
    }
  }
  if (out != nullptr && out_size != 0) {
    const size_t n = std::min(std::strlen(text), out_size - 1);
    std::memcpy(out, text, n);
    out[n] = '\0';
  }
  return length;
}

}  // namespace mmiotrace::emu
