// Async-signal-safe: runs in the traced program's signal handler; no allocation, no locks.
//
// emulate(): decode, find the instruction's row in the closed table
// (instruction_table.cc), let the row's family check its operands before it
// touches memory, then advance RIP. disassemble() and to_string() for the tools.
#include "emu/emulator.h"

#include <Zydis/Zydis.h>

#include <algorithm>
#include <cstring>

#include "common/handler_rules.h"
#include "emu/instruction_table.h"

MT_HANDLER_RULES

namespace mmiotrace::emu {
namespace {

// The table's row decides the family; the family checks the operands it
// needs, then accesses memory.
detail::Outcome dispatch(CpuState& cpu, const detail::Insn& insn, Memory& mem, const EmuOptions& options) {
  const detail::Row* row = detail::find_row(insn);
  if (row == nullptr) return detail::outcome_unsupported();
  switch (row->family) {
    case Family::GPR_MOVE:
      return detail::emulate_gpr_move(cpu, insn, *row, mem);
    case Family::SETCC:
      return detail::emulate_setcc(cpu, insn, mem);
    case Family::CMOVCC:
      return detail::emulate_cmovcc(cpu, insn, mem);
    case Family::PUSH_POP:
      return detail::emulate_push_pop(cpu, insn, mem);
    case Family::STRING:
      return detail::emulate_string(cpu, insn, *row, mem, options);
    case Family::STRING_COMPARE:
      return detail::emulate_string_compare(cpu, insn, mem, options);
    case Family::ALU:
      return detail::emulate_alu(cpu, insn, *row, mem);
    case Family::CMPXCHG_WIDE:
      return detail::emulate_cmpxchg_wide(cpu, insn, *row, mem);
    case Family::VECTOR_MOVE:
      return detail::emulate_vector_move(cpu, insn, *row, mem);
    case Family::VECTOR_ELEMENT:
      return detail::emulate_vector_element(cpu, insn, *row, mem);
    case Family::PREFETCH:
      return detail::outcome_done();
  }
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
