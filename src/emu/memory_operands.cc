// Async-signal-safe: runs in the traced program's signal handler; no allocation, no locks.
//
// memory_operands(): what an instruction accesses, from the decoder alone.
#include <Zydis/Zydis.h>

#include "common/handler_rules.h"
#include "emu/emulate_internal.h"
#include "emu/emulator.h"

MT_HANDLER_RULES

namespace mmiotrace::emu {

int memory_operands(const CpuState& cpu, const uint8_t* bytes, size_t len, OperandAccess* out, unsigned cap,
                    uint8_t* insn_len) {
  detail::Insn insn;
  if (!detail::decode_cached(cpu.rip, bytes, len, insn)) return -1;
  *insn_len = insn.in.length;
  unsigned n = 0;
  for (unsigned i = 0; i < insn.in.operand_count; ++i) {
    const ZydisDecodedOperand& op = insn.ops[i];
    if (!detail::is_plain_memory(op) || op.size == 0) continue;
    if (n == cap) return -2;
    OperandAccess& a = out[n++];
    a.addr = detail::effective_address(cpu, insn, op);
    a.size = op.size / 8;
    a.read = (op.actions & ZYDIS_OPERAND_ACTION_MASK_READ) != 0;
    a.write = (op.actions & ZYDIS_OPERAND_ACTION_MASK_WRITE) != 0;
  }
  return static_cast<int>(n);
}

}  // namespace mmiotrace::emu
