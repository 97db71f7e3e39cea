#include "analysis/output/disassembly.h"

#include <algorithm>
#include <cstring>

#include "emu/emulator.h"

namespace mmiotrace::output {

void append_disassembly(std::span<const uint8_t> insn, uint64_t pc, Out& out) {
  char text[128];
  text[0] = '\0';
  emu::disassemble(insn.data(), insn.size(), pc, text, sizeof text);
  put(out, std::string_view(text));
}

void DisassemblyCache::append(std::span<const uint8_t> insn, uint64_t pc, Out& out) {
  const size_t len = std::min(insn.size(), sizeof(Entry::bytes));
  Entry& e = entries_[(pc ^ (pc >> 12)) % kEntries];
  if (!e.valid || e.pc != pc || e.len != len || std::memcmp(e.bytes, insn.data(), len) != 0) {
    Out text;
    append_disassembly(insn, pc, text);
    e.pc = pc;
    e.len = len;
    std::memcpy(e.bytes, insn.data(), len);
    e.valid = true;
    e.text.assign(text.data(), text.size());
  }
  put(out, e.text);
}

}  // namespace mmiotrace::output
