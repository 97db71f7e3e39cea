// Shared by the emulator tests of general-register rows (emulator_alu*_test.cc,
// emulator_gpr_test.cc, emulator_string_compare_test.cc): a Memory that records every call
// (kind, address, size, bytes; one entry per atomic_rmw with the bytes read
// and the bytes written) and serves reads from what the test put there, and
// the row runner the table-driven tests use.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "emu/cpu_state.h"
#include "emu/emulator.h"
#include "emu/memory.h"

namespace mmiotrace::emu::alu_test {

using Bytes = std::vector<uint8_t>;
using Regs = std::vector<std::pair<Gpr, uint64_t>>;

inline constexpr uint64_t kRip = 0x400000;
inline constexpr uint64_t kArith = kFlagCF | kFlagPF | kFlagAF | kFlagZF | kFlagSF | kFlagOF;
inline constexpr uint64_t kBaseFlags = 0x202;

enum class Kind : uint8_t { READ, WRITE, RMW };

struct Access {
  Kind kind;
  uint64_t addr;
  unsigned size;
  Bytes bytes;         // read or written; RMW: the bytes read; empty if faulted
  Bytes written = {};  // RMW only: the bytes written, empty if none
  bool faulted = false;
  bool operator==(const Access&) const = default;
};

inline void PrintTo(const Access& a, std::ostream* os) {
  static const char* const kNames[] = {"R", "W", "RMW"};
  *os << kNames[static_cast<int>(a.kind)] << "(0x" << std::hex << a.addr << ", size " << std::dec << a.size
      << (a.faulted ? ", FAULTED" : "") << ", [" << std::hex;
  for (uint8_t b : a.bytes) *os << " " << static_cast<int>(b);
  *os << " ]";
  if (a.kind == Kind::RMW) {
    *os << " -> [";
    for (uint8_t b : a.written) *os << " " << static_cast<int>(b);
    *os << " ]";
  }
  *os << ")" << std::dec;
}

inline Bytes le(uint64_t v, unsigned n) {
  Bytes b(n);
  for (unsigned i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(i < 8 ? v >> (8 * i) : 0);
  return b;
}
inline Bytes cat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

inline Access R(uint64_t addr, Bytes b) { return {Kind::READ, addr, static_cast<unsigned>(b.size()), b}; }
inline Access W(uint64_t addr, Bytes b) { return {Kind::WRITE, addr, static_cast<unsigned>(b.size()), b}; }
inline Access RMW(uint64_t addr, Bytes old_value, Bytes new_value) {
  return {Kind::RMW, addr, static_cast<unsigned>(old_value.size()), old_value, new_value};
}
inline Access RF(uint64_t addr, unsigned size) { return {Kind::READ, addr, size, {}, {}, true}; }
inline Access WF(uint64_t addr, unsigned size) { return {Kind::WRITE, addr, size, {}, {}, true}; }
inline Access RMWF(uint64_t addr, unsigned size) { return {Kind::RMW, addr, size, {}, {}, true}; }

// Deterministic contents of memory nobody wrote.
inline uint8_t fill_byte(uint64_t a) { return static_cast<uint8_t>((a * 151) ^ (a >> 8) ^ 0x3a); }

class RecordingMemory final : public Memory {
 public:
  std::vector<Access> log;

  void put(uint64_t addr, const Bytes& b) {
    for (size_t i = 0; i < b.size(); ++i) bytes_[addr + i] = b[i];
  }
  uint8_t byte(uint64_t a) const {
    const auto it = bytes_.find(a);
    return it == bytes_.end() ? fill_byte(a) : it->second;
  }
  // Accesses that include byte `addr` fail with `f`; with `writes_only`, only
  // writes do (an atomic_rmw then fails whole, having read nothing).
  void fault_at(uint64_t addr, MemFault f, bool writes_only = false) {
    fault_addr_ = addr;
    fault_ = f;
    fault_writes_only_ = writes_only;
  }

  MemFault read(uint64_t addr, unsigned size, void* out) override {
    Access a{Kind::READ, addr, size, {}};
    if (faults(addr, size, false)) return failed(a);
    a.bytes = load(addr, size);
    std::copy(a.bytes.begin(), a.bytes.end(), static_cast<uint8_t*>(out));
    log.push_back(a);
    return {};
  }
  MemFault write(uint64_t addr, unsigned size, const void* in) override {
    Access a{Kind::WRITE, addr, size, {}};
    if (faults(addr, size, true)) return failed(a);
    const auto* p = static_cast<const uint8_t*>(in);
    a.bytes.assign(p, p + size);
    put(addr, a.bytes);
    log.push_back(a);
    return {};
  }
  MemFault read_masked(uint64_t, unsigned, uint64_t, void*) override {
    ADD_FAILURE() << "unexpected read_masked";
    return {};
  }
  MemFault write_masked(uint64_t, unsigned, uint64_t, const void*) override {
    ADD_FAILURE() << "unexpected write_masked";
    return {};
  }
  MemFault atomic_rmw(uint64_t addr, unsigned size, void* old_out, RmwCompute compute, void* ctx) override {
    EXPECT_TRUE(size == 1 || size == 2 || size == 4 || size == 8 || size == 16) << size;
    Access a{Kind::RMW, addr, size, {}};
    if (faults(addr, size, true)) return failed(a);
    a.bytes = load(addr, size);
    std::copy(a.bytes.begin(), a.bytes.end(), static_cast<uint8_t*>(old_out));
    uint8_t new_value[16] = {};
    if (compute(ctx, static_cast<const uint8_t*>(old_out), new_value)) {
      a.written.assign(new_value, new_value + size);
      put(addr, a.written);
    }
    log.push_back(a);
    return {};
  }

 private:
  Bytes load(uint64_t addr, unsigned size) const {
    Bytes b(size);
    for (unsigned i = 0; i < size; ++i) b[i] = byte(addr + i);
    return b;
  }
  bool faults(uint64_t addr, unsigned size, bool is_write) const {
    if (!fault_addr_ || (fault_writes_only_ && !is_write)) return false;
    return *fault_addr_ - addr < size;
  }
  MemFault failed(Access a) {
    a.faulted = true;
    log.push_back(a);
    return fault_;
  }

  std::map<uint64_t, uint8_t> bytes_;
  std::optional<uint64_t> fault_addr_;
  MemFault fault_;
  bool fault_writes_only_ = false;
};

// Reads come from the bytes the expected accesses list.
inline void serve_reads(RecordingMemory& mem, const std::vector<Access>& expected) {
  for (const Access& a : expected) {
    if ((a.kind == Kind::READ || a.kind == Kind::RMW) && !a.faulted) mem.put(a.addr, a.bytes);
  }
}

inline CpuState base_cpu() {
  CpuState cpu;
  for (unsigned i = 0; i < 16; ++i) cpu.gpr[i] = 0x0101010101010101u * (i + 1);
  cpu.rip = kRip;
  cpu.rflags = kBaseFlags;
  return cpu;
}

inline void expect_gprs(const CpuState& cpu, const CpuState& before, const Regs& changed) {
  CpuState want = before;
  for (const auto& [r, v] : changed) want.reg(r) = v;
  for (unsigned i = 0; i < 16; ++i) {
    EXPECT_EQ(cpu.gpr[i], want.gpr[i]) << "gpr " << i << " got 0x" << std::hex << cpu.gpr[i] << " want 0x"
                                       << want.gpr[i];
  }
}

// RFLAGS equal except for the bits in `ignored` (flags the SDM leaves undefined).
inline void expect_flags(uint64_t got, uint64_t want, uint64_t ignored = 0) {
  EXPECT_EQ(got & ~ignored, want & ~ignored)
      << std::hex << "rflags got 0x" << got << " want 0x" << want << " (ignoring 0x" << ignored << ")";
}

inline std::string sanitize(std::string s) {
  for (char& c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return s;
}

// One table row: bytes and state in, exact accesses and state out.
struct Row {
  const char* name;
  Bytes code;
  Regs in;
  uint64_t rflags_in;
  std::vector<Access> expect;
  Regs out;
  uint64_t rflags_out;
  uint64_t flags_ignored = 0;  // undefined flags not compared
  uint64_t fs_base = 0;
  uint64_t gs_base = 0;
};

inline void run_row(const Row& c, const EmuOptions& options = {}) {
  CpuState cpu = base_cpu();
  for (const auto& [r, v] : c.in) cpu.reg(r) = v;
  cpu.rflags = c.rflags_in;
  cpu.fs_base = c.fs_base;
  cpu.gs_base = c.gs_base;
  const CpuState before = cpu;
  RecordingMemory mem;
  serve_reads(mem, c.expect);
  const EmuResult r = emulate(cpu, c.code.data(), c.code.size(), mem, options);
  ASSERT_EQ(r.status, EmuStatus::OK) << to_string(r.status);
  EXPECT_EQ(r.insn_len, c.code.size());
  EXPECT_EQ(cpu.rip, kRip + c.code.size());
  EXPECT_EQ(mem.log, c.expect);
  expect_gprs(cpu, before, c.out);
  expect_flags(cpu.rflags, c.rflags_out, c.flags_ignored);
}

}  // namespace mmiotrace::emu::alu_test
