// The differential tester's comparison of an emulated run with the native
// one: outcome, registers, flags, vector and opmask state, memory, and the
// emulator's Memory calls against the row's model of its accesses (tester.h).
#include <signal.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "diff/tester.h"
#include "emu/xsave_area.h"

namespace mmiotrace::difftest {

std::string Tester::compare(const NativeResult& nat, const emu::CpuState& cpu, const DiffMemory&) {
  for (unsigned i = 0; i < 16; ++i) {
    if (nat.gpr[i] != cpu.gpr[i] && inst_.a32_rep && (i == 1 || i == 6 || i == 7)) {
      // See Instance::a32_rep: the same low half; one side left the register
      // as it was, the other zero-extended it.
      const uint64_t n = nat.gpr[i], e = cpu.gpr[i], init = inst_.gpr[i];
      if ((n & 0xffffffffu) == (e & 0xffffffffu) && ((n == init && (e >> 32) == 0) || (e == init && (n >> 32) == 0))) {
        tolerated_ = true;
        continue;
      }
    }
    if (nat.gpr[i] != cpu.gpr[i]) {
      return format("%s: native 0x%" PRIx64 ", emulator 0x%" PRIx64 " (initial 0x%" PRIx64 ")", kGprNames[i],
                    nat.gpr[i], cpu.gpr[i], inst_.gpr[i]);
    }
  }
  if (nat.rip != cpu.rip) {
    return format("rip: native 0x%" PRIx64 ", emulator 0x%" PRIx64 " (instruction at 0x%" PRIx64 ", length %u)",
                  nat.rip, cpu.rip, inst_.insn_addr, inst_.len);
  }
  if ((nat.rflags & kComparedFlags) != (cpu.rflags & kComparedFlags)) {
    return format("rflags: native 0x%" PRIx64 ", emulator 0x%" PRIx64 " (compared bits 0x%" PRIx64 ")", nat.rflags,
                  cpu.rflags, kComparedFlags);
  }
  const emu::XsaveArea nx(const_cast<uint8_t*>(nat.xsave), nat.xsave_features);
  for (unsigned reg = 0; reg < 32; ++reg) {
    unsigned width = 64;
    while (width >= 16 && !(nx.holds_vector(reg, width) && cpu.xsave.holds_vector(reg, width))) width /= 2;
    if (width < 16) continue;
    uint8_t a[64] = {}, b[64] = {};
    nx.read_vector(reg, width, a);
    cpu.xsave.read_vector(reg, width, b);
    for (unsigned i = 0; i < width; ++i) {
      if (a[i] != b[i]) {
        return format("zmm%u byte %u: native 0x%02x, emulator 0x%02x", reg, i, a[i], b[i]);
      }
    }
  }
  if (nx.has(emu::XComponent::OPMASK) && cpu.xsave.has(emu::XComponent::OPMASK)) {
    for (unsigned k = 0; k < 8; ++k) {
      if (nx.read_opmask(k) != cpu.xsave.read_opmask(k)) {
        return format("k%u: native 0x%" PRIx64 ", emulator 0x%" PRIx64, k, nx.read_opmask(k), cpu.xsave.read_opmask(k));
      }
    }
  }
  const uint8_t* live = native_.memory();
  const uint8_t* copy = emu_mem_ + kPage;
  if (std::memcmp(live, copy, 2 * kPage) != 0) {
    for (unsigned i = 0; i < 2 * kPage; ++i) {
      if (live[i] != copy[i]) {
        return format("memory 0x%" PRIx64 ": native 0x%02x, emulator 0x%02x (initial 0x%02x)", env_.lo + i, live[i],
                      copy[i], inst_mem_[kPage + i]);
      }
    }
  }
  return "";
}

std::string Tester::compare_accesses(const DiffMemory& mem, emu::EmuStatus status) const {
  if (!mem.violation.empty()) return mem.violation;
  const std::vector<Access>& want = inst_.expected;
  const Row& row = *inst_.row;
  for (size_t i = 0; i < mem.log.size(); ++i) {
    const bool last = i + 1 == mem.log.size();
    if (mem.log[i].faulted && !(last && status == emu::EmuStatus::FAULT)) {
      return format("Memory call %zu %s faulted but the emulator went on (status %s)", i,
                    to_string(mem.log[i].a).c_str(), emu::to_string(status));
    }
  }
  if (row.exact) {
    // Completed: exactly the model's sequence. Faulted: a prefix of it.
    const bool complete = status == emu::EmuStatus::OK;
    for (size_t i = 0; i < mem.log.size(); ++i) {
      if (i >= want.size() || !(mem.log[i].a == want[i])) {
        return format("Memory call %zu: emulator %s, expected %s", i, to_string(mem.log[i].a).c_str(),
                      i < want.size() ? to_string(want[i]).c_str() : "none");
      }
    }
    if (complete && mem.log.size() != want.size()) {
      return format("Memory calls: emulator made %zu, expected %zu (next expected %s)", mem.log.size(), want.size(),
                    to_string(want[mem.log.size()]).c_str());
    }
    return "";
  }
  // Inexact rows: the bytes read and written (selected bytes of masked calls).
  std::vector<uint8_t> got(kRegionBytes, 0), exp(kRegionBytes, 0);  // bit 0 read, bit 1 written
  const auto mark = [&](std::vector<uint8_t>& m, const Access& a) {
    const bool masked = a.kind == AccessKind::READ_MASKED || a.kind == AccessKind::WRITE_MASKED;
    const uint8_t bits = a.kind == AccessKind::RMW                                             ? 3
                         : (a.kind == AccessKind::WRITE || a.kind == AccessKind::WRITE_MASKED) ? 2
                                                                                               : 1;
    for (unsigned i = 0; i < a.size; ++i) {
      if (masked && !((a.mask >> i) & 1)) continue;
      const uint64_t b = a.addr + i - env_.region;
      if (b < kRegionBytes) m[b] |= bits;
    }
  };
  for (const Call& c : mem.log) mark(got, c.a);
  for (const Access& a : want) mark(exp, a);
  const bool maybe_write = row.mem == MemUse::READ_MAYBE_WRITE;
  for (uint64_t b = 0; b < kRegionBytes; ++b) {
    const uint8_t g = got[b], e = exp[b];
    const bool extra = (g & ~e) != 0;
    const bool missing_read = (e & 1) && !(g & 1);
    const bool missing_write = (e & 2) && !(g & 2) && !maybe_write;
    if (extra || (status == emu::EmuStatus::OK && (missing_read || missing_write))) {
      return format("byte 0x%" PRIx64 ": emulator %s%s, expected %s%s", env_.region + b, g & 1 ? "read " : "",
                    g & 2 ? "written" : (g ? "" : "untouched"), e & 1 ? "read " : "",
                    e & 2 ? (maybe_write ? "maybe written" : "written") : (e ? "" : "untouched"));
    }
  }
  return "";
}

}  // namespace mmiotrace::difftest
