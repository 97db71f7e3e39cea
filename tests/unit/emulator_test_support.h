// Shared by the emulator_*_test.cc files that check exact accesses with a
// FakeMemory: a Memory that records every call (kind, address, size, bytes,
// mask) and serves reads from what the test put there (or deterministic bytes),
// the access constructors the case tables use (R, W, RM, WM, RF, WF), and the
// register checks.
#pragma once

#include <gtest/gtest.h>

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

namespace mmiotrace::emu::emu_test {

using Bytes = std::vector<uint8_t>;
using Regs = std::vector<std::pair<Gpr, uint64_t>>;

inline constexpr uint64_t kRip = 0x400000;
inline constexpr uint64_t kFlagsDown = 0x202 | kFlagDF;

// ---- Recording fake memory.

enum class Kind : uint8_t { READ, WRITE, READ_MASKED, WRITE_MASKED };

struct Access {
  Kind kind;
  uint64_t addr;
  unsigned size;
  Bytes bytes;        // read or written; unselected bytes of a masked access are 0; empty if faulted
  uint64_t mask = 0;  // masked accesses only
  bool faulted = false;
  bool operator==(const Access&) const = default;
};

inline void PrintTo(const Access& a, std::ostream* os) {
  static const char* const kNames[] = {"R", "W", "RM", "WM"};
  *os << kNames[static_cast<int>(a.kind)] << "(0x" << std::hex << a.addr << ", size " << std::dec << a.size
      << ", mask 0x" << std::hex << a.mask << (a.faulted ? ", FAULTED" : "") << ", [";
  for (uint8_t b : a.bytes) *os << " " << static_cast<int>(b);
  *os << " ])" << std::dec;
}

inline Access R(uint64_t addr, Bytes b) { return {Kind::READ, addr, static_cast<unsigned>(b.size()), b}; }
inline Access W(uint64_t addr, Bytes b) { return {Kind::WRITE, addr, static_cast<unsigned>(b.size()), b}; }
inline Access RF(uint64_t addr, unsigned size) { return {Kind::READ, addr, size, {}, 0, true}; }
inline Access WF(uint64_t addr, unsigned size) { return {Kind::WRITE, addr, size, {}, 0, true}; }

inline Bytes masked(const Bytes& b, uint64_t mask) {
  Bytes out(b.size(), 0);
  for (size_t i = 0; i < b.size(); ++i) {
    if ((mask >> i) & 1) out[i] = b[i];
  }
  return out;
}
inline Access RM(uint64_t addr, uint64_t mask, const Bytes& b) {
  return {Kind::READ_MASKED, addr, static_cast<unsigned>(b.size()), masked(b, mask), mask};
}
inline Access WM(uint64_t addr, uint64_t mask, const Bytes& b) {
  return {Kind::WRITE_MASKED, addr, static_cast<unsigned>(b.size()), masked(b, mask), mask};
}

// Deterministic contents of memory nobody wrote.
inline uint8_t fill_byte(uint64_t a) { return static_cast<uint8_t>((a * 131) ^ (a >> 8) ^ 0x5c); }
inline Bytes M(uint64_t addr, unsigned n) {
  Bytes b(n);
  for (unsigned i = 0; i < n; ++i) b[i] = fill_byte(addr + i);
  return b;
}

inline Bytes le(uint64_t v, unsigned n) {
  Bytes b(n);
  for (unsigned i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(v >> (8 * i));
  return b;
}

class FakeMemory final : public Memory {
 public:
  std::vector<Access> log;

  void put(uint64_t addr, const Bytes& b) {
    for (size_t i = 0; i < b.size(); ++i) bytes_[addr + i] = b[i];
  }
  // Every access that includes byte `addr` (a selected byte, if masked) fails with `f`.
  void fault_at(uint64_t addr, MemFault f) {
    fault_addr_ = addr;
    fault_ = f;
  }
  uint8_t byte(uint64_t a) const {
    const auto it = bytes_.find(a);
    return it == bytes_.end() ? fill_byte(a) : it->second;
  }

  MemFault read(uint64_t addr, unsigned size, void* out) override {
    return access(Kind::READ, addr, size, ~uint64_t{0}, static_cast<uint8_t*>(out), nullptr);
  }
  MemFault write(uint64_t addr, unsigned size, const void* in) override {
    return access(Kind::WRITE, addr, size, ~uint64_t{0}, nullptr, static_cast<const uint8_t*>(in));
  }
  MemFault read_masked(uint64_t addr, unsigned size, uint64_t mask, void* out) override {
    return access(Kind::READ_MASKED, addr, size, mask, static_cast<uint8_t*>(out), nullptr);
  }
  MemFault write_masked(uint64_t addr, unsigned size, uint64_t mask, const void* in) override {
    return access(Kind::WRITE_MASKED, addr, size, mask, nullptr, static_cast<const uint8_t*>(in));
  }

 private:
  MemFault access(Kind k, uint64_t addr, unsigned size, uint64_t mask, uint8_t* out, const uint8_t* in) {
    const bool is_masked = k == Kind::READ_MASKED || k == Kind::WRITE_MASKED;
    EXPECT_TRUE(size == 1 || size == 2 || size == 4 || size == 8 || size == 16 || size == 32 || size == 64)
        << "size " << size;
    Access a{k, addr, size, Bytes(size, 0), is_masked ? mask : 0};
    for (unsigned i = 0; i < size && i < 64; ++i) {
      if (((mask >> i) & 1) && fault_addr_ && addr + i == *fault_addr_) {
        a.bytes.clear();
        a.faulted = true;
        log.push_back(a);
        return fault_;
      }
    }
    for (unsigned i = 0; i < size; ++i) {
      if (i < 64 && !((mask >> i) & 1)) continue;
      if (in != nullptr) {
        bytes_[addr + i] = in[i];
        a.bytes[i] = in[i];
      } else {
        out[i] = byte(addr + i);
        a.bytes[i] = out[i];
      }
    }
    log.push_back(a);
    return {};
  }

  std::map<uint64_t, uint8_t> bytes_;
  std::optional<uint64_t> fault_addr_;
  MemFault fault_;
};

inline void serve_reads(FakeMemory& mem, const std::vector<Access>& expected) {
  for (const Access& a : expected) {
    if ((a.kind == Kind::READ || a.kind == Kind::READ_MASKED) && !a.faulted) {
      for (size_t i = 0; i < a.bytes.size(); ++i) {
        if (a.kind == Kind::READ || ((a.mask >> i) & 1)) mem.put(a.addr + i, {a.bytes[i]});
      }
    }
  }
}

inline CpuState base_cpu() {
  CpuState cpu;
  for (unsigned i = 0; i < 16; ++i) cpu.gpr[i] = 0x0101010101010101u * (i + 1);
  cpu.rip = kRip;
  cpu.rflags = 0x202;
  return cpu;
}

inline void expect_gprs(const CpuState& cpu, const CpuState& before, const Regs& changed) {
  CpuState want = before;
  for (const auto& [r, v] : changed) want.reg(r) = v;
  for (unsigned i = 0; i < 16; ++i) {
    EXPECT_EQ(cpu.gpr[i], want.gpr[i]) << "gpr " << i << " got 0x" << std::hex << cpu.gpr[i] << " want 0x"
                                       << want.gpr[i];
  }
  EXPECT_EQ(cpu.rflags, before.rflags);
}

inline std::string sanitize(std::string s) {
  for (char& c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return s;
}

inline constexpr uint64_t kV = 0x1122334455667788;
inline constexpr uint64_t kOnes = ~uint64_t{0};

}  // namespace mmiotrace::emu::emu_test
