// The disassembly of an access's instruction, for printers: the one place the
// output needs the emulator's decoder (src/emu), so that trace/ does not.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "analysis/output/text.h"

namespace mmiotrace::output {

// AT&T text of the instruction at `pc` whose bytes are `insn` (as the
// emulator's decoder reads it); "(bad)"-style text for bytes it cannot decode.
void append_disassembly(std::span<const uint8_t> insn, uint64_t pc, Out& out);

// The same, remembering the last instructions seen (by address and bytes):
// loops touch a device from the same few instructions, and decoding costs
// more than all of a line's other fields.
class DisassemblyCache {
 public:
  void append(std::span<const uint8_t> insn, uint64_t pc, Out& out);

 private:
  struct Entry {
    uint64_t pc = 0;
    uint8_t bytes[16] = {};
    size_t len = 0;
    bool valid = false;
    std::string text;
  };
  static constexpr size_t kEntries = 256;
  std::vector<Entry> entries_ = std::vector<Entry>(kEntries);
};

}  // namespace mmiotrace::output
