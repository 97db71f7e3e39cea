// emu::emulate: for each instruction form of the closed table
// (docs/emulated-instructions.md), the exact sequence of memory accesses
// (kind, address, size, bytes, mask) and the resulting registers and RIP.
// Reads are served by a fake memory from the bytes the expected accesses list.
#include "emu/emulator.h"

#include <gtest/gtest.h>

#include <cctype>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "emu/xsave_area.h"

namespace mmiotrace::emu {
namespace {

using Bytes = std::vector<uint8_t>;
using Regs = std::vector<std::pair<Gpr, uint64_t>>;

constexpr uint64_t kRip = 0x400000;
constexpr uint64_t kFlagsDown = 0x202 | kFlagDF;

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

void PrintTo(const Access& a, std::ostream* os) {
  static const char* const kNames[] = {"R", "W", "RM", "WM"};
  *os << kNames[static_cast<int>(a.kind)] << "(0x" << std::hex << a.addr << ", size " << std::dec << a.size
      << ", mask 0x" << std::hex << a.mask << (a.faulted ? ", FAULTED" : "") << ", [";
  for (uint8_t b : a.bytes) *os << " " << static_cast<int>(b);
  *os << " ])" << std::dec;
}

Access R(uint64_t addr, Bytes b) { return {Kind::READ, addr, static_cast<unsigned>(b.size()), b}; }
Access W(uint64_t addr, Bytes b) { return {Kind::WRITE, addr, static_cast<unsigned>(b.size()), b}; }
Access RF(uint64_t addr, unsigned size) { return {Kind::READ, addr, size, {}, 0, true}; }
Access WF(uint64_t addr, unsigned size) { return {Kind::WRITE, addr, size, {}, 0, true}; }

Bytes masked(const Bytes& b, uint64_t mask) {
  Bytes out(b.size(), 0);
  for (size_t i = 0; i < b.size(); ++i) {
    if ((mask >> i) & 1) out[i] = b[i];
  }
  return out;
}
Access RM(uint64_t addr, uint64_t mask, const Bytes& b) {
  return {Kind::READ_MASKED, addr, static_cast<unsigned>(b.size()), masked(b, mask), mask};
}
Access WM(uint64_t addr, uint64_t mask, const Bytes& b) {
  return {Kind::WRITE_MASKED, addr, static_cast<unsigned>(b.size()), masked(b, mask), mask};
}

// Deterministic contents of memory nobody wrote.
uint8_t fill_byte(uint64_t a) { return static_cast<uint8_t>((a * 131) ^ (a >> 8) ^ 0x5c); }
Bytes M(uint64_t addr, unsigned n) {
  Bytes b(n);
  for (unsigned i = 0; i < n; ++i) b[i] = fill_byte(addr + i);
  return b;
}

Bytes le(uint64_t v, unsigned n) {
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

void serve_reads(FakeMemory& mem, const std::vector<Access>& expected) {
  for (const Access& a : expected) {
    if ((a.kind == Kind::READ || a.kind == Kind::READ_MASKED) && !a.faulted) {
      for (size_t i = 0; i < a.bytes.size(); ++i) {
        if (a.kind == Kind::READ || ((a.mask >> i) & 1)) mem.put(a.addr + i, {a.bytes[i]});
      }
    }
  }
}

CpuState base_cpu() {
  CpuState cpu;
  for (unsigned i = 0; i < 16; ++i) cpu.gpr[i] = 0x0101010101010101u * (i + 1);
  cpu.rip = kRip;
  cpu.rflags = 0x202;
  return cpu;
}

void expect_gprs(const CpuState& cpu, const CpuState& before, const Regs& changed) {
  CpuState want = before;
  for (const auto& [r, v] : changed) want.reg(r) = v;
  for (unsigned i = 0; i < 16; ++i) {
    EXPECT_EQ(cpu.gpr[i], want.gpr[i]) << "gpr " << i << " got 0x" << std::hex << cpu.gpr[i] << " want 0x"
                                       << want.gpr[i];
  }
  EXPECT_EQ(cpu.rflags, before.rflags);
}

std::string sanitize(std::string s) {
  for (char& c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return s;
}

// ---- General-register moves and explicit string rows.

struct GprCase {
  const char* name;
  Bytes code;
  Regs in;
  std::vector<Access> expect;
  Regs out;
  uint64_t fs_base = 0;
  uint64_t gs_base = 0;
  uint64_t rflags = 0x202;
};

const uint64_t kV = 0x1122334455667788;
const uint64_t kOnes = ~uint64_t{0};

std::vector<GprCase> gpr_cases() {
  // A table, one case per line.
  // clang-format off
  using enum Gpr;
  return {
      // MOV 88/89: stores of every width, high-byte and REX byte registers.
      {"mov_m8_al", {0x88, 0x03}, {{RAX, kV}, {RBX, 0x10000}}, {W(0x10000, {0x88})}, {}},
      {"mov_m8_ah", {0x88, 0x23}, {{RAX, kV}, {RBX, 0x10000}}, {W(0x10000, {0x77})}, {}},
      {"mov_m8_sil_rex", {0x40, 0x88, 0x33}, {{RSI, 0xA5}, {RDX, 0xEE00}, {RBX, 0x10000}},
       {W(0x10000, {0xA5})}, {}},
      {"mov_m8_r9b", {0x44, 0x88, 0x0b}, {{R9, 0x5A}, {RBX, 0x10000}}, {W(0x10000, {0x5A})}, {}},
      {"mov_m16_ax", {0x66, 0x89, 0x03}, {{RAX, kV}, {RBX, 0x10000}}, {W(0x10000, {0x88, 0x77})}, {}},
      {"mov_m32_eax", {0x89, 0x03}, {{RAX, kV}, {RBX, 0x10000}}, {W(0x10000, le(kV, 4))}, {}},
      {"mov_m64_rax", {0x48, 0x89, 0x03}, {{RAX, kV}, {RBX, 0x10000}}, {W(0x10000, le(kV, 8))}, {}},
      {"mov_m64_r12_via_r13", {0x4d, 0x89, 0x65, 0x00}, {{R12, 0xCAFEBABEDEADBEEF}, {R13, 0x20000}},
       {W(0x20000, le(0xCAFEBABEDEADBEEF, 8))}, {}},
      // MOV 8A/8B: loads; 8/16-bit keep the rest, 32-bit zero-extends.
      {"mov_al_m8", {0x8a, 0x03}, {{RAX, kV}, {RBX, 0x10000}}, {R(0x10000, {0xAB})},
       {{RAX, 0x11223344556677AB}}},
      {"mov_bh_m8", {0x8a, 0x3b}, {{RBX, 0x10000}}, {R(0x10000, {0xCD})}, {{RBX, 0x1CD00}}},
      {"mov_r10b_m8", {0x44, 0x8a, 0x13}, {{R10, kOnes}, {RBX, 0x10000}}, {R(0x10000, {0x12})},
       {{R10, 0xFFFFFFFFFFFFFF12}}},
      {"mov_ax_m16", {0x66, 0x8b, 0x03}, {{RAX, kV}, {RBX, 0x10000}}, {R(0x10000, {0x34, 0x12})},
       {{RAX, 0x1122334455661234}}},
      {"mov_eax_m32_zero_extends", {0x8b, 0x03}, {{RAX, kOnes}, {RBX, 0x10000}},
       {R(0x10000, {0xAA, 0xBB, 0xCC, 0xDD})}, {{RAX, 0xDDCCBBAA}}},
      {"mov_rax_m64", {0x48, 0x8b, 0x03}, {{RBX, 0x10000}}, {R(0x10000, le(0x0123456789ABCDEF, 8))},
       {{RAX, 0x0123456789ABCDEF}}},
      {"mov_r15d_m32", {0x44, 0x8b, 0x3b}, {{R15, kOnes}, {RBX, 0x10000}}, {R(0x10000, {1, 2, 3, 4})},
       {{R15, 0x04030201}}},
      // MOV C6/C7 immediates; REX.W C7 stores the sign-extended imm32 as 8 bytes.
      {"movb_imm", {0xc6, 0x03, 0x7f}, {{RBX, 0x10000}}, {W(0x10000, {0x7f})}, {}},
      {"movw_imm", {0x66, 0xc7, 0x03, 0x34, 0x12}, {{RBX, 0x10000}}, {W(0x10000, {0x34, 0x12})}, {}},
      {"movl_imm", {0xc7, 0x03, 0xef, 0xcd, 0xab, 0x89}, {{RBX, 0x10000}},
       {W(0x10000, {0xef, 0xcd, 0xab, 0x89})}, {}},
      {"movq_imm_sign_extended", {0x48, 0xc7, 0x03, 0xfe, 0xff, 0xff, 0xff}, {{RBX, 0x10000}},
       {W(0x10000, {0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})}, {}},
      {"movq_imm_positive", {0x48, 0xc7, 0x03, 0xff, 0xff, 0xff, 0x7f}, {{RBX, 0x10000}},
       {W(0x10000, {0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0})}, {}},
      {"movl_imm_after_sib_disp8", {0xc7, 0x44, 0x88, 0x10, 0x44, 0x33, 0x22, 0x11},
       {{RAX, 0x10000}, {RCX, 3}}, {W(0x1001C, {0x44, 0x33, 0x22, 0x11})}, {}},
      // MOV A0-A3: 64-bit absolute moffs; with 67h a 32-bit one.
      {"moffs_load_al", {0xa0, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11}, {{RAX, kV}},
       {R(0x1122334455667788, {0x99})}, {{RAX, 0x1122334455667799}}},
      {"moffs_load_eax", {0xa1, 0, 0, 0, 0, 0x10, 0, 0, 0}, {{RAX, kOnes}},
       {R(0x1000000000, {1, 2, 3, 4})}, {{RAX, 0x04030201}}},
      {"moffs_load_rax", {0x48, 0xa1, 0, 0, 0, 0, 0x10, 0, 0, 0}, {},
       {R(0x1000000000, le(0x8877665544332211, 8))}, {{RAX, 0x8877665544332211}}},
      {"moffs_load_ax", {0x66, 0xa1, 0, 0, 0, 0, 0x10, 0, 0, 0}, {{RAX, kV}},
       {R(0x1000000000, {0x22, 0x11})}, {{RAX, 0x1122334455661122}}},
      {"moffs_store_al", {0xa2, 0, 0, 0, 0, 0x20, 0, 0, 0}, {{RAX, kV}}, {W(0x2000000000, {0x88})}, {}},
      {"moffs_store_eax", {0xa3, 0, 0, 0, 0, 0x20, 0, 0, 0}, {{RAX, kV}}, {W(0x2000000000, le(kV, 4))}, {}},
      {"moffs_store_rax", {0x48, 0xa3, 0, 0, 0, 0, 0x20, 0, 0, 0}, {{RAX, kV}},
       {W(0x2000000000, le(kV, 8))}, {}},
      {"moffs_addr32", {0x67, 0xa1, 0x00, 0x10, 0x00, 0x80}, {{RAX, kOnes}}, {R(0x80001000, {5, 6, 7, 8})},
       {{RAX, 0x08070605}}},
      {"moffs_addr32_top", {0x67, 0xa0, 0xff, 0xff, 0xff, 0xff}, {{RAX, kV}}, {R(0xFFFFFFFF, {0x42})},
       {{RAX, 0x1122334455667742}}},
      // Addressing modes.
      {"rip_relative_load", {0x8b, 0x05, 0x00, 0x01, 0x00, 0x00}, {}, {R(kRip + 6 + 0x100, {1, 0, 0, 0})},
       {{RAX, 1}}},
      {"rip_relative_negative", {0x48, 0x8b, 0x0d, 0xe0, 0xff, 0xff, 0xff}, {},
       {R(kRip + 7 - 0x20, le(7, 8))}, {{RCX, 7}}},
      {"rip_relative_store", {0x89, 0x15, 0x78, 0x56, 0x34, 0x12}, {{RDX, 0xAABBCCDD}},
       {W(kRip + 6 + 0x12345678, {0xDD, 0xCC, 0xBB, 0xAA})}, {}},
      {"sib_index_scale8", {0x48, 0x8b, 0x14, 0xc8}, {{RAX, 0x10000}, {RCX, 5}}, {R(0x10028, le(9, 8))},
       {{RDX, 9}}},
      {"disp8_negative", {0x8b, 0x45, 0xf8}, {{RBP, 0x10010}}, {R(0x10008, le(3, 4))}, {{RAX, 3}}},
      {"disp32", {0x8b, 0x83, 0x78, 0x56, 0x34, 0x12}, {{RBX, 0x10000}}, {R(0x12355678, le(4, 4))},
       {{RAX, 4}}},
      {"sib_no_base", {0x8b, 0x04, 0x4d, 0x00, 0x10, 0x00, 0x00}, {{RCX, 0x10}}, {R(0x1020, le(5, 4))},
       {{RAX, 5}}},
      {"sib_rsp_base", {0x48, 0x8b, 0x04, 0x24}, {{RSP, 0x7ffc0000}}, {R(0x7ffc0000, le(6, 8))}, {{RAX, 6}}},
      {"sib_rex_x_b", {0x43, 0x8b, 0x44, 0x6c, 0x08}, {{R12, 0x10000}, {R13, 0x100}},
       {R(0x10208, le(7, 4))}, {{RAX, 7}}},
      {"addr32_truncates_base", {0x67, 0x8b, 0x03}, {{RBX, 0xFFFFFFFF00010000}}, {R(0x10000, le(8, 4))},
       {{RAX, 8}}},
      {"addr32_wraps", {0x67, 0x8b, 0x48, 0xfc}, {{RAX, 0x0000000500000002}}, {R(0xFFFFFFFE, le(9, 4))},
       {{RCX, 9}}},
      {"addr32_rip_relative", {0x67, 0x8b, 0x05, 0x10, 0, 0, 0}, {}, {R(kRip + 7 + 0x10, le(10, 4))},
       {{RAX, 10}}},
      {"fs_override", {0x64, 0x48, 0x8b, 0x04, 0x25, 0x10, 0, 0, 0}, {}, {R(0x7f0000001010, le(11, 8))},
       {{RAX, 11}}, 0x7f0000001000},
      {"gs_override_store", {0x65, 0x89, 0x03}, {{RAX, kV}, {RBX, 0x10}}, {W(0x7f0000002010, le(kV, 4))},
       {}, 0x7f0000001000, 0x7f0000002000},
      {"es_override_ignored", {0x26, 0x8b, 0x03}, {{RBX, 0x10000}}, {R(0x10000, le(12, 4))}, {{RAX, 12}},
       0x7f0000001000, 0x7f0000002000},
      {"fs_override_addr32", {0x64, 0x67, 0x8b, 0x03}, {{RBX, 0xFFFFFFFF00000010}},
       {R(0x7f0000001010, le(13, 4))}, {{RAX, 13}}, 0x7f0000001000},
      {"xrelease_mov", {0xf3, 0x89, 0x03}, {{RAX, kV}, {RBX, 0x10000}}, {W(0x10000, le(kV, 4))}, {}},
      // MOVZX/MOVSX/MOVSXD: the access is the source width and logs the memory value.
      {"movzbl", {0x0f, 0xb6, 0x03}, {{RAX, kOnes}, {RBX, 0x10000}}, {R(0x10000, {0x80})}, {{RAX, 0x80}}},
      {"movzwl", {0x0f, 0xb7, 0x03}, {{RAX, kOnes}, {RBX, 0x10000}}, {R(0x10000, {0xef, 0xbe})},
       {{RAX, 0xBEEF}}},
      {"movzbw_keeps_upper", {0x66, 0x0f, 0xb6, 0x03}, {{RAX, kV}, {RBX, 0x10000}}, {R(0x10000, {0x80})},
       {{RAX, 0x1122334455660080}}},
      {"movzbq_r8", {0x4c, 0x0f, 0xb6, 0x03}, {{R8, kOnes}, {RBX, 0x10000}}, {R(0x10000, {0xff})},
       {{R8, 0xff}}},
      {"movzwq", {0x48, 0x0f, 0xb7, 0x03}, {{RAX, kOnes}, {RBX, 0x10000}}, {R(0x10000, {0x00, 0x80})},
       {{RAX, 0x8000}}},
      {"movsbl_negative", {0x0f, 0xbe, 0x03}, {{RAX, kV}, {RBX, 0x10000}}, {R(0x10000, {0x80})},
       {{RAX, 0xFFFFFF80}}},
      {"movsbl_positive", {0x0f, 0xbe, 0x03}, {{RAX, kV}, {RBX, 0x10000}}, {R(0x10000, {0x7f})},
       {{RAX, 0x7f}}},
      {"movsbw_keeps_upper", {0x66, 0x0f, 0xbe, 0x03}, {{RAX, kV}, {RBX, 0x10000}}, {R(0x10000, {0x80})},
       {{RAX, 0x112233445566FF80}}},
      {"movsbq", {0x48, 0x0f, 0xbe, 0x03}, {{RBX, 0x10000}}, {R(0x10000, {0x80})},
       {{RAX, 0xFFFFFFFFFFFFFF80}}},
      {"movswl", {0x0f, 0xbf, 0x03}, {{RAX, kV}, {RBX, 0x10000}}, {R(0x10000, {0x01, 0x80})},
       {{RAX, 0xFFFF8001}}},
      {"movswq", {0x48, 0x0f, 0xbf, 0x03}, {{RBX, 0x10000}}, {R(0x10000, {0x01, 0x80})},
       {{RAX, 0xFFFFFFFFFFFF8001}}},
      {"movslq", {0x48, 0x63, 0x03}, {{RBX, 0x10000}}, {R(0x10000, {0, 0, 0, 0x80})},
       {{RAX, 0xFFFFFFFF80000000}}},
      {"movsxd_without_rexw", {0x63, 0x03}, {{RAX, kOnes}, {RBX, 0x10000}}, {R(0x10000, {0, 0, 0, 0x80})},
       {{RAX, 0x80000000}}},
      {"movzbl_into_address_register", {0x0f, 0xb6, 0x1b}, {{RBX, 0x10000}}, {R(0x10000, {0x42})},
       {{RBX, 0x42}}},
      {"movnti_m32", {0x0f, 0xc3, 0x03}, {{RAX, kV}, {RBX, 0x10000}}, {W(0x10000, le(kV, 4))}, {}},
      {"movnti_m64", {0x4c, 0x0f, 0xc3, 0x0b}, {{R9, kV}, {RBX, 0x10000}}, {W(0x10000, le(kV, 8))}, {}},
      // String instructions, hand-written rows (the generated matrix is below).
      {"rep_movsb_interleaves", {0xf3, 0xa4}, {{RSI, 0x10000}, {RDI, 0x20000}, {RCX, 3}},
       {R(0x10000, {1}), W(0x20000, {1}), R(0x10001, {2}), W(0x20001, {2}), R(0x10002, {3}),
        W(0x20002, {3})},
       {{RSI, 0x10003}, {RDI, 0x20003}, {RCX, 0}}},
      {"std_rep_stosq", {0xf3, 0x48, 0xab}, {{RAX, kV}, {RDI, 0x20010}, {RCX, 2}},
       {W(0x20010, le(kV, 8)), W(0x20008, le(kV, 8))}, {{RDI, 0x20000}, {RCX, 0}}, 0, 0, kFlagsDown},
      {"addr32_movsb_wraps", {0x67, 0xa4}, {{RSI, 0x12FFFFFFFF}, {RDI, 0x0000000300020000}},
       {R(0xFFFFFFFF, {5}), W(0x20000, {5})}, {{RSI, 0}, {RDI, 0x20001}}},
      {"fs_lodsq", {0x64, 0x48, 0xad}, {{RSI, 0x100}}, {R(0x7f0000000100, le(kV, 8))},
       {{RAX, kV}, {RSI, 0x108}}, 0x7f0000000000},
      {"fs_movsb_destination_is_es", {0x64, 0xa4}, {{RSI, 0x100}, {RDI, 0x200}},
       {R(0x7f0000000100, {6}), W(0x200, {6})}, {{RSI, 0x101}, {RDI, 0x201}}, 0x7f0000000000},
      {"rep_movsb_rcx_zero", {0xf3, 0xa4}, {{RCX, 0}}, {}, {}},
      {"addr32_rep_stosb_ecx_zero", {0x67, 0xf3, 0xaa}, {{RCX, 0x100000000}}, {}, {}},
      {"addr32_rep_stosb_uses_ecx", {0x67, 0xf3, 0xaa}, {{RAX, 0x5A}, {RCX, 0x100000002}, {RDI, 0x20000}},
       {W(0x20000, {0x5A}), W(0x20001, {0x5A})}, {{RCX, 0}, {RDI, 0x20002}}},
      // Prefetches: no architectural access, RIP moves on.
      {"prefetcht0", {0x0f, 0x18, 0x0e}, {}, {}, {}},
      {"prefetchnta", {0x0f, 0x18, 0x46, 0x40}, {}, {}, {}},
      {"prefetchw", {0x0f, 0x0d, 0x0f}, {}, {}, {}},
  };
  // clang-format on
}

class GprTest : public ::testing::TestWithParam<GprCase> {};

TEST_P(GprTest, AccessesAndRegisters) {
  const GprCase& c = GetParam();
  CpuState cpu = base_cpu();
  for (const auto& [r, v] : c.in) cpu.reg(r) = v;
  cpu.fs_base = c.fs_base;
  cpu.gs_base = c.gs_base;
  cpu.rflags = c.rflags;
  const CpuState before = cpu;
  FakeMemory mem;
  serve_reads(mem, c.expect);
  const EmuResult r = emulate(cpu, c.code.data(), c.code.size(), mem);
  ASSERT_EQ(r.status, EmuStatus::OK) << to_string(r.status);
  EXPECT_EQ(r.insn_len, c.code.size());
  EXPECT_EQ(cpu.rip, kRip + c.code.size());
  EXPECT_EQ(mem.log, c.expect);
  expect_gprs(cpu, before, c.out);
}

INSTANTIATE_TEST_SUITE_P(Table, GprTest, ::testing::ValuesIn(gpr_cases()),
                         [](const auto& info) { return std::string(info.param.name); });

// ---- String instructions: every width x REP x direction x address size.

enum class StrOp : uint8_t { MOVS, STOS, LODS };
using StrParam = std::tuple<StrOp, unsigned, bool, bool, bool>;  // op, width, rep, down, addr32

class StringMatrixTest : public ::testing::TestWithParam<StrParam> {};

TEST_P(StringMatrixTest, AccessesAndRegisters) {
  const auto [op, w, rep, down, a32] = GetParam();
  Bytes code;
  if (a32) code.push_back(0x67);
  if (rep) code.push_back(0xf3);
  if (w == 2) code.push_back(0x66);
  if (w == 8) code.push_back(0x48);
  const uint8_t base_opcode = op == StrOp::MOVS ? 0xa4 : op == StrOp::STOS ? 0xaa : 0xac;
  code.push_back(static_cast<uint8_t>(base_opcode + (w == 1 ? 0 : 1)));

  // With 67h the upper halves must be ignored (and cleared by the 32-bit writes).
  const uint64_t junk = a32 ? 0x0000abcd00000000 : 0;
  const uint64_t si = down ? 0x10100 : 0x10000;
  const uint64_t di = down ? 0x20100 : 0x20000;
  const uint64_t count = rep ? 3 : 1;
  CpuState cpu = base_cpu();
  cpu.reg(Gpr::RSI) = junk | si;
  cpu.reg(Gpr::RDI) = junk | di;
  cpu.reg(Gpr::RCX) = rep ? (junk | 3) : 0x77;
  cpu.reg(Gpr::RAX) = kV;
  cpu.rflags = down ? kFlagsDown : 0x202;
  const CpuState before = cpu;

  std::vector<Access> expect;
  const int64_t step = down ? -static_cast<int64_t>(w) : static_cast<int64_t>(w);
  for (uint64_t i = 0; i < count; ++i) {
    const uint64_t s = si + i * step;
    const uint64_t d = di + i * step;
    if (op != StrOp::STOS) expect.push_back(R(s, M(s, w)));
    if (op == StrOp::MOVS) expect.push_back(W(d, M(s, w)));
    if (op == StrOp::STOS) expect.push_back(W(d, le(kV, w)));
  }
  Regs out;
  if (op != StrOp::STOS) out.push_back({Gpr::RSI, si + count * step});
  if (op != StrOp::LODS) out.push_back({Gpr::RDI, di + count * step});
  if (rep) out.push_back({Gpr::RCX, 0});
  if (op == StrOp::LODS) {
    uint64_t last = 0;
    const Bytes b = M(si + (count - 1) * step, w);
    for (unsigned i = 0; i < w; ++i) last |= uint64_t{b[i]} << (8 * i);
    const uint64_t keep = w >= 4 ? 0 : kV & ~((uint64_t{1} << (8 * w)) - 1);
    out.push_back({Gpr::RAX, keep | last});
  }
  FakeMemory mem;
  const EmuResult r = emulate(cpu, code.data(), code.size(), mem);
  ASSERT_EQ(r.status, EmuStatus::OK) << to_string(r.status);
  EXPECT_EQ(cpu.rip, kRip + code.size());
  EXPECT_EQ(mem.log, expect);
  expect_gprs(cpu, before, out);
}

std::string string_case_name(const ::testing::TestParamInfo<StrParam>& info) {
  const auto [op, w, rep, down, a32] = info.param;
  const char* names[] = {"movs", "stos", "lods"};
  return std::string(names[static_cast<int>(op)]) + std::to_string(w) + (rep ? "_rep" : "") + (down ? "_df1" : "_df0") +
         (a32 ? "_a32" : "_a64");
}

INSTANTIATE_TEST_SUITE_P(All, StringMatrixTest,
                         ::testing::Combine(::testing::Values(StrOp::MOVS, StrOp::STOS, StrOp::LODS),
                                            ::testing::Values(1u, 2u, 4u, 8u), ::testing::Bool(), ::testing::Bool(),
                                            ::testing::Bool()),
                         string_case_name);

TEST(StringRep, MaxIterationsStopsWithRipUnchangedAndResumes) {
  CpuState cpu = base_cpu();
  cpu.reg(Gpr::RSI) = 0x10000;
  cpu.reg(Gpr::RDI) = 0x20000;
  cpu.reg(Gpr::RCX) = 5;
  const Bytes code = {0xf3, 0xa4};
  FakeMemory mem;
  EmuOptions opt;
  opt.max_rep_iterations = 2;
  EmuResult r = emulate(cpu, code.data(), code.size(), mem, opt);
  EXPECT_EQ(r.status, EmuStatus::OK);
  EXPECT_EQ(cpu.rip, kRip);
  EXPECT_EQ(cpu.reg(Gpr::RCX), 3u);
  EXPECT_EQ(cpu.reg(Gpr::RSI), 0x10002u);
  EXPECT_EQ(cpu.reg(Gpr::RDI), 0x20002u);
  EXPECT_EQ(mem.log, (std::vector<Access>{R(0x10000, M(0x10000, 1)), W(0x20000, M(0x10000, 1)),
                                          R(0x10001, M(0x10001, 1)), W(0x20001, M(0x10001, 1))}));
  r = emulate(cpu, code.data(), code.size(), mem, opt);  // 2 more
  EXPECT_EQ(cpu.rip, kRip);
  EXPECT_EQ(cpu.reg(Gpr::RCX), 1u);
  r = emulate(cpu, code.data(), code.size(), mem, opt);  // the last one completes the instruction
  EXPECT_EQ(r.status, EmuStatus::OK);
  EXPECT_EQ(cpu.rip, kRip + 2);
  EXPECT_EQ(cpu.reg(Gpr::RCX), 0u);
  EXPECT_EQ(cpu.reg(Gpr::RSI), 0x10005u);
  EXPECT_EQ(mem.log.size(), 10u);
  EXPECT_EQ(mem.log.back(), W(0x20004, M(0x10004, 1)));
}

TEST(StringRep, MaxIterationsEqualToCountCompletes) {
  CpuState cpu = base_cpu();
  cpu.reg(Gpr::RDI) = 0x20000;
  cpu.reg(Gpr::RCX) = 3;
  const Bytes code = {0xf3, 0xaa};
  FakeMemory mem;
  EmuOptions opt;
  opt.max_rep_iterations = 3;
  EXPECT_EQ(emulate(cpu, code.data(), code.size(), mem, opt).status, EmuStatus::OK);
  EXPECT_EQ(cpu.rip, kRip + 2);
  EXPECT_EQ(cpu.reg(Gpr::RCX), 0u);
  EXPECT_EQ(mem.log.size(), 3u);
}

TEST(StringRep, FaultOnWriteMidRepLeavesCompletedIterations) {
  CpuState cpu = base_cpu();
  cpu.reg(Gpr::RSI) = 0x10000;
  cpu.reg(Gpr::RDI) = 0x20000;
  cpu.reg(Gpr::RCX) = 4;
  const CpuState before = cpu;
  const Bytes code = {0xf3, 0xa4};
  FakeMemory mem;
  mem.fault_at(0x20002, MemFault{SIGSEGV, SEGV_ACCERR, 0x20002});
  const EmuResult r = emulate(cpu, code.data(), code.size(), mem);
  EXPECT_EQ(r.status, EmuStatus::FAULT);
  EXPECT_EQ(r.fault.signo, SIGSEGV);
  EXPECT_EQ(r.fault.code, SEGV_ACCERR);
  EXPECT_EQ(r.fault.addr, 0x20002u);
  EXPECT_EQ(cpu.rip, kRip);
  EXPECT_EQ(mem.log,
            (std::vector<Access>{R(0x10000, M(0x10000, 1)), W(0x20000, M(0x10000, 1)), R(0x10001, M(0x10001, 1)),
                                 W(0x20001, M(0x10001, 1)), R(0x10002, M(0x10002, 1)), WF(0x20002, 1)}));
  expect_gprs(cpu, before, {{Gpr::RSI, 0x10002}, {Gpr::RDI, 0x20002}, {Gpr::RCX, 2}});
}

TEST(StringRep, FaultOnReadMidRepLodsw) {
  CpuState cpu = base_cpu();
  cpu.reg(Gpr::RSI) = 0x10000;
  cpu.reg(Gpr::RCX) = 3;
  cpu.reg(Gpr::RAX) = kV;
  const CpuState before = cpu;
  const Bytes code = {0xf3, 0x66, 0xad};
  FakeMemory mem;
  mem.put(0x10000, {0x34, 0x12});
  mem.fault_at(0x10003, MemFault{SIGBUS, BUS_ADRERR, 0x10003});
  const EmuResult r = emulate(cpu, code.data(), code.size(), mem);
  EXPECT_EQ(r.status, EmuStatus::FAULT);
  EXPECT_EQ(r.fault.signo, SIGBUS);
  EXPECT_EQ(cpu.rip, kRip);
  EXPECT_EQ(mem.log, (std::vector<Access>{R(0x10000, {0x34, 0x12}), RF(0x10002, 2)}));
  expect_gprs(cpu, before, {{Gpr::RSI, 0x10002}, {Gpr::RCX, 2}, {Gpr::RAX, 0x1122334455661234}});
}

TEST(StringRep, FaultOnFirstElementChangesNothing) {
  CpuState cpu = base_cpu();
  cpu.reg(Gpr::RDI) = 0x20000;
  cpu.reg(Gpr::RCX) = 3;
  const CpuState before = cpu;
  const Bytes code = {0xf3, 0x48, 0xab};
  FakeMemory mem;
  mem.fault_at(0x20007, MemFault{SIGSEGV, SEGV_MAPERR, 0x20007});
  EXPECT_EQ(emulate(cpu, code.data(), code.size(), mem).status, EmuStatus::FAULT);
  EXPECT_EQ(mem.log, (std::vector<Access>{WF(0x20000, 8)}));
  EXPECT_EQ(cpu.rip, kRip);
  expect_gprs(cpu, before, {});
}

TEST(GprFault, LoadFaultLeavesRegisterAndRip) {
  CpuState cpu = base_cpu();
  cpu.reg(Gpr::RBX) = 0x10000;
  const CpuState before = cpu;
  const Bytes code = {0x48, 0x8b, 0x03};
  FakeMemory mem;
  mem.fault_at(0x10004, MemFault{SIGSEGV, SEGV_MAPERR, 0x10004});
  const EmuResult r = emulate(cpu, code.data(), code.size(), mem);
  EXPECT_EQ(r.status, EmuStatus::FAULT);
  EXPECT_EQ(r.fault.addr, 0x10004u);
  EXPECT_EQ(r.insn_len, 3);
  EXPECT_EQ(cpu.rip, kRip);
  EXPECT_EQ(mem.log, (std::vector<Access>{RF(0x10000, 8)}));
  expect_gprs(cpu, before, {});
}

// ---- Refused instructions: nothing accessed, nothing changed.

struct RefusedCase {
  const char* name;
  Bytes code;
  EmuStatus status;
};

class RefusedTest : public ::testing::TestWithParam<RefusedCase> {};

TEST_P(RefusedTest, TouchesNothing) {
  const RefusedCase& c = GetParam();
  CpuState cpu = base_cpu();
  const CpuState before = cpu;
  FakeMemory mem;
  const EmuResult r = emulate(cpu, c.code.data(), c.code.size(), mem);
  EXPECT_EQ(r.status, c.status) << to_string(r.status);
  if (c.status == EmuStatus::DECODE_ERROR) {
    EXPECT_EQ(r.insn_len, 0);
  } else {
    EXPECT_EQ(r.insn_len, c.code.size());
  }
  EXPECT_TRUE(mem.log.empty());
  EXPECT_EQ(cpu.rip, kRip);
  expect_gprs(cpu, before, {});
}

INSTANTIATE_TEST_SUITE_P(
    Table, RefusedTest,
    ::testing::ValuesIn(std::vector<RefusedCase>{
        {"imul_m32", {0x0f, 0xaf, 0x03}, EmuStatus::UNSUPPORTED},
        {"div_m32", {0xf7, 0x30}, EmuStatus::UNSUPPORTED},
        {"x87_flds", {0xd9, 0x00}, EmuStatus::UNSUPPORTED},
        {"mov_from_segment_register", {0x8c, 0x00}, EmuStatus::UNSUPPORTED},
        {"mov_register_to_register", {0x89, 0xd8}, EmuStatus::UNSUPPORTED},
        {"lea", {0x48, 0x8d, 0x03}, EmuStatus::UNSUPPORTED},
        {"xlat", {0xd7}, EmuStatus::UNSUPPORTED},
        {"call_m64", {0xff, 0x10}, EmuStatus::UNSUPPORTED},
        {"crc32_m8", {0xf2, 0x0f, 0x38, 0xf0, 0x03}, EmuStatus::UNSUPPORTED},
        {"movd_xmm_to_gpr", {0x66, 0x0f, 0x7e, 0xc0}, EmuStatus::UNSUPPORTED},
        {"vmovss", {0xc5, 0xfa, 0x10, 0x00}, EmuStatus::UNSUPPORTED},
        {"mmx_movq", {0x0f, 0x6f, 0x00}, EmuStatus::UNSUPPORTED},
        {"mmx_movd", {0x0f, 0x6e, 0x00}, EmuStatus::UNSUPPORTED},
        {"insb", {0x6c}, EmuStatus::UNSUPPORTED},
        {"outsb", {0x6e}, EmuStatus::UNSUPPORTED},
        {"repne_movsb", {0xf2, 0xa4}, EmuStatus::UNSUPPORTED},
        {"movsxd_r16_width_disputed", {0x66, 0x63, 0x03}, EmuStatus::UNSUPPORTED},
        {"vector_move_without_xsave_area", {0x0f, 0x10, 0x0e}, EmuStatus::UNSUPPORTED},
        {"evex_move_without_xsave_area", {0x62, 0xe1, 0xfe, 0x48, 0x6f, 0x06}, EmuStatus::UNSUPPORTED},
        {"invalid_in_64_bit_mode", {0x06}, EmuStatus::DECODE_ERROR},
        {"truncated_modrm", {0x8b}, EmuStatus::DECODE_ERROR},
        {"truncated_vex", {0xc5}, EmuStatus::DECODE_ERROR},
        {"lock_mov_is_ud", {0xf0, 0x89, 0x03}, EmuStatus::DECODE_ERROR},
        {"evex_store_with_zero_masking", {0x62, 0xf1, 0x7f, 0xc9, 0x7f, 0x00}, EmuStatus::DECODE_ERROR},
        {"empty", {}, EmuStatus::DECODE_ERROR},
    }),
    [](const auto& info) { return sanitize(info.param.name); });

TEST(Emulate, LooksAtMostFifteenBytesAndStopsAtTheInstruction) {
  CpuState cpu = base_cpu();
  cpu.reg(Gpr::RBX) = 0x10000;
  Bytes code = {0x89, 0x03};
  code.resize(32, 0xCC);  // the next instructions follow
  FakeMemory mem;
  const EmuResult r = emulate(cpu, code.data(), code.size(), mem);
  EXPECT_EQ(r.status, EmuStatus::OK);
  EXPECT_EQ(r.insn_len, 2);
  EXPECT_EQ(cpu.rip, kRip + 2);
  EXPECT_EQ(mem.log.size(), 1u);
}

TEST(Emulate, ToString) {
  EXPECT_STREQ(to_string(EmuStatus::OK), "OK");
  EXPECT_STREQ(to_string(EmuStatus::DECODE_ERROR), "DECODE_ERROR");
  EXPECT_STREQ(to_string(EmuStatus::UNSUPPORTED), "UNSUPPORTED");
  EXPECT_STREQ(to_string(EmuStatus::FAULT), "FAULT");
}

TEST(Disassemble, AttSyntax) {
  char out[128];
  const uint8_t mov[] = {0x89, 0x03};
  EXPECT_EQ(disassemble(mov, sizeof mov, 0x1000, out, sizeof out), 2u);
  EXPECT_STREQ(out, "mov %eax, (%rbx)");
  const uint8_t riprel[] = {0x48, 0x8b, 0x05, 0x10, 0x00, 0x00, 0x00};
  EXPECT_EQ(disassemble(riprel, sizeof riprel, 0x1000, out, sizeof out), 7u);
  EXPECT_STREQ(out, "mov 0x1017, %rax");
  const uint8_t rep[] = {0xf3, 0xa4};
  EXPECT_EQ(disassemble(rep, sizeof rep, 0, out, sizeof out), 2u);
  EXPECT_STREQ(out, "rep movsb");
  const uint8_t vmov[] = {0xc5, 0xfe, 0x6f, 0x06};
  EXPECT_EQ(disassemble(vmov, sizeof vmov, 0, out, sizeof out), 4u);
  EXPECT_STREQ(out, "vmovdqu (%rsi), %ymm0");
}

TEST(Disassemble, BadBytesAndTruncation) {
  char out[16];
  const uint8_t bad[] = {0x06};
  EXPECT_EQ(disassemble(bad, sizeof bad, 0, out, sizeof out), 0u);
  EXPECT_STREQ(out, "(bad)");
  const uint8_t mov[] = {0x89, 0x03};
  EXPECT_EQ(disassemble(mov, sizeof mov, 0, out, 5), 2u);
  EXPECT_STREQ(out, "mov ");
  EXPECT_EQ(disassemble(mov, sizeof mov, 0, nullptr, 0), 2u);
}

// ---- Vector moves (SSE, AVX, AVX-512) through an XSAVE buffer.

constexpr uint64_t kS = 0x10000;  // RSI
constexpr uint64_t kD = 0x20000;  // RDI
constexpr uint64_t kA = 0x30000;  // RAX
constexpr uint64_t kAvx512Bits = 0xE0;
using Kregs = std::vector<std::pair<unsigned, uint64_t>>;

// Initial contents of vector register `reg` (all 64 bytes, distinct per register).
Bytes P(unsigned reg) {
  Bytes b(64);
  for (unsigned i = 0; i < 64; ++i) b[i] = static_cast<uint8_t>((reg + 1) * 37 + i * 3);
  return b;
}
Bytes Z(unsigned n) { return Bytes(n, 0); }
Bytes head(const Bytes& v, unsigned n) { return Bytes(v.begin(), v.begin() + n); }
Bytes slice(const Bytes& v, unsigned from, unsigned to) { return Bytes(v.begin() + from, v.begin() + to); }
Bytes cat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}
// Legacy SSE load: the low 16 bytes are `low` (zero-padded), bits 511:128 kept.
Bytes keep_upper(unsigned reg, const Bytes& low) { return cat(cat(low, Z(16 - low.size())), slice(P(reg), 16, 64)); }
// VEX/EVEX load: `v` then zeros up to 512 bits.
Bytes zext(const Bytes& v) { return cat(v, Z(64 - v.size())); }
Access WMF(uint64_t addr, uint64_t mask, unsigned size) { return {Kind::WRITE_MASKED, addr, size, {}, mask, true}; }

bool host_has_avx512() {
  return (XsaveLayout::host().supported & kAvx512Bits) == kAvx512Bits && __builtin_cpu_supports("avx512f") &&
         __builtin_cpu_supports("avx512bw");
}

// A CpuState whose XSAVE buffer holds P(r) in every zmm register and the given
// opmasks; `features` restricts what the buffer can hold.
class VectorState {
 public:
  explicit VectorState(uint64_t features = XsaveLayout::host().supported, const Kregs& k = {}) {
    const size_t size = (XsaveLayout::host().total_size + 63) / 64 * 64;
    area_ = static_cast<uint8_t*>(std::aligned_alloc(64, size));
    std::memset(area_, 0, size);
    XsaveArea full(area_, XsaveLayout::host().supported);
    for (unsigned r = 0; r < 32; ++r) EXPECT_TRUE(full.write_vector(r, 64, P(r).data(), false));
    for (const auto& [n, v] : k) EXPECT_TRUE(full.write_opmask(n, v));
    cpu = base_cpu();
    cpu.reg(Gpr::RSI) = kS;
    cpu.reg(Gpr::RDI) = kD;
    cpu.reg(Gpr::RAX) = kA;
    cpu.reg(Gpr::RDX) = 0x100;
    cpu.xsave = XsaveArea(area_, features);
    k_ = k;
  }
  ~VectorState() { std::free(area_); }
  VectorState(const VectorState&) = delete;
  VectorState& operator=(const VectorState&) = delete;

  Bytes reg(unsigned r) const {
    Bytes b(64);
    XsaveArea(area_, XsaveLayout::host().supported).read_vector(r, 64, b.data());
    return b;
  }
  // Every vector register is P(r) except `changed` (which must equal `after`); opmasks as set.
  void expect_vectors(int changed = -1, const Bytes& after = {}) const {
    for (unsigned r = 0; r < 32; ++r) {
      EXPECT_EQ(reg(r), static_cast<int>(r) == changed ? after : P(r)) << "zmm" << r;
    }
    const XsaveArea x(area_, XsaveLayout::host().supported);
    for (unsigned n = 1; n < 8; ++n) {
      uint64_t want = 0;
      for (const auto& [kn, v] : k_) {
        if (kn == n) want = v;
      }
      EXPECT_EQ(x.read_opmask(n), want) << "k" << n;
    }
  }

  CpuState cpu;
  FakeMemory mem;

 private:
  uint8_t* area_ = nullptr;
  Kregs k_;
};

#define REQUIRE_AVX512()                                                  \
  do {                                                                    \
    if (!host_has_avx512()) GTEST_SKIP() << "no AVX-512 on this machine"; \
  } while (0)

struct VecCase {
  const char* name;
  Bytes code;
  std::vector<Access> expect;
  int reg = -1;      // the register the instruction writes, or -1
  Bytes after = {};  // its 64 bytes afterwards
  Kregs k = {};
  Regs regs = {};
};

std::vector<VecCase> vector_cases() {
  // A table, one case per line.
  // clang-format off
  using enum Gpr;
  const Bytes m16 = M(kS, 16), m32 = M(kS, 32), m64 = M(kS, 64);
  return {
      // Legacy SSE loads: 16 bytes, bits 511:128 kept; MOVD/MOVQ zero the rest of the xmm.
      {"movups_load_keeps_upper", {0x0f, 0x10, 0x0e}, {R(kS, m16)}, 1, keep_upper(1, m16)},
      {"movupd_load", {0x66, 0x0f, 0x10, 0x16}, {R(kS, m16)}, 2, keep_upper(2, m16)},
      {"movaps_load", {0x0f, 0x28, 0x1e}, {R(kS, m16)}, 3, keep_upper(3, m16)},
      {"movapd_load", {0x66, 0x0f, 0x28, 0x26}, {R(kS, m16)}, 4, keep_upper(4, m16)},
      {"movdqu_load", {0xf3, 0x0f, 0x6f, 0x2e}, {R(kS, m16)}, 5, keep_upper(5, m16)},
      {"movdqa_load", {0x66, 0x0f, 0x6f, 0x36}, {R(kS, m16)}, 6, keep_upper(6, m16)},
      {"movd_load_zeroes_xmm", {0x66, 0x0f, 0x6e, 0x3e}, {R(kS, M(kS, 4))}, 7, keep_upper(7, M(kS, 4))},
      {"movq_6e_load", {0x66, 0x48, 0x0f, 0x6e, 0x3e}, {R(kS, M(kS, 8))}, 7, keep_upper(7, M(kS, 8))},
      {"movq_f3_7e_load", {0xf3, 0x44, 0x0f, 0x7e, 0x06}, {R(kS, M(kS, 8))}, 8, keep_upper(8, M(kS, 8))},
      {"movntdqa_load", {0x66, 0x44, 0x0f, 0x38, 0x2a, 0x16}, {R(kS, m16)}, 10, keep_upper(10, m16)},
      {"movups_load_xmm15", {0x44, 0x0f, 0x10, 0x3e}, {R(kS, m16)}, 15, keep_upper(15, m16)},
      {"movups_load_unaligned", {0x0f, 0x10, 0x0e}, {R(kS + 3, M(kS + 3, 16))}, 1,
       keep_upper(1, M(kS + 3, 16)), {}, {{RSI, kS + 3}}},
      {"movdqa_load_16_aligned", {0x66, 0x0f, 0x6f, 0x36}, {R(kS + 16, M(kS + 16, 16))}, 6,
       keep_upper(6, M(kS + 16, 16)), {}, {{RSI, kS + 16}}},
      // Legacy SSE stores.
      {"movups_store", {0x0f, 0x11, 0x0f}, {W(kD, head(P(1), 16))}},
      {"movupd_store", {0x66, 0x0f, 0x11, 0x17}, {W(kD, head(P(2), 16))}},
      {"movaps_store", {0x0f, 0x29, 0x1f}, {W(kD, head(P(3), 16))}},
      {"movapd_store", {0x66, 0x0f, 0x29, 0x27}, {W(kD, head(P(4), 16))}},
      {"movdqu_store", {0xf3, 0x0f, 0x7f, 0x2f}, {W(kD, head(P(5), 16))}},
      {"movdqa_store", {0x66, 0x0f, 0x7f, 0x37}, {W(kD, head(P(6), 16))}},
      {"movd_store", {0x66, 0x0f, 0x7e, 0x3f}, {W(kD, head(P(7), 4))}},
      {"movq_7e_store", {0x66, 0x48, 0x0f, 0x7e, 0x3f}, {W(kD, head(P(7), 8))}},
      {"movq_d6_store", {0x66, 0x44, 0x0f, 0xd6, 0x07}, {W(kD, head(P(8), 8))}},
      {"movntdq_store", {0x66, 0x44, 0x0f, 0xe7, 0x17}, {W(kD, head(P(10), 16))}},
      {"movntps_store", {0x44, 0x0f, 0x2b, 0x1f}, {W(kD, head(P(11), 16))}},
      {"movntpd_store", {0x66, 0x44, 0x0f, 0x2b, 0x27}, {W(kD, head(P(12), 16))}},
      // VEX loads zero everything above the destination.
      {"vmovdqu_load_ymm0", {0xc5, 0xfe, 0x6f, 0x06}, {R(kS, m32)}, 0, zext(m32)},
      {"vmovdqu_load_xmm1_zeroes_upper", {0xc5, 0xfa, 0x6f, 0x0e}, {R(kS, m16)}, 1, zext(m16)},
      {"vmovups_load_ymm", {0xc5, 0xfc, 0x10, 0x16}, {R(kS, m32)}, 2, zext(m32)},
      {"vmovupd_load_ymm", {0xc5, 0xfd, 0x10, 0x1e}, {R(kS, m32)}, 3, zext(m32)},
      {"vmovaps_load_ymm", {0xc5, 0xfc, 0x28, 0x26}, {R(kS, m32)}, 4, zext(m32)},
      {"vmovapd_load_ymm", {0xc5, 0xfd, 0x28, 0x2e}, {R(kS, m32)}, 5, zext(m32)},
      {"vmovdqa_load_ymm", {0xc5, 0xfd, 0x6f, 0x36}, {R(kS, m32)}, 6, zext(m32)},
      {"vmovntdqa_load_ymm", {0xc4, 0xe2, 0x7d, 0x2a, 0x3e}, {R(kS, m32)}, 7, zext(m32)},
      {"vmovd_load", {0xc5, 0x79, 0x6e, 0x06}, {R(kS, M(kS, 4))}, 8, zext(M(kS, 4))},
      {"vmovq_load", {0xc5, 0x7a, 0x7e, 0x0e}, {R(kS, M(kS, 8))}, 9, zext(M(kS, 8))},
      {"vmovdqu_load_ymm15", {0xc5, 0x7e, 0x6f, 0x3e}, {R(kS, m32)}, 15, zext(m32)},
      // VEX stores.
      {"vmovdqu_store_ymm", {0xc5, 0xfe, 0x7f, 0x07}, {W(kD, head(P(0), 32))}},
      {"vmovups_store_xmm", {0xc5, 0xf8, 0x11, 0x0f}, {W(kD, head(P(1), 16))}},
      {"vmovupd_store_ymm", {0xc5, 0xfd, 0x11, 0x17}, {W(kD, head(P(2), 32))}},
      {"vmovaps_store_ymm", {0xc5, 0xfc, 0x29, 0x1f}, {W(kD, head(P(3), 32))}},
      {"vmovapd_store_xmm", {0xc5, 0xf9, 0x29, 0x27}, {W(kD, head(P(4), 16))}},
      {"vmovdqa_store_ymm", {0xc5, 0xfd, 0x7f, 0x2f}, {W(kD, head(P(5), 32))}},
      {"vmovntdq_store_ymm", {0xc5, 0xfd, 0xe7, 0x37}, {W(kD, head(P(6), 32))}},
      {"vmovntps_store_ymm", {0xc5, 0xfc, 0x2b, 0x3f}, {W(kD, head(P(7), 32))}},
      {"vmovntpd_store_xmm", {0xc5, 0x79, 0x2b, 0x07}, {W(kD, head(P(8), 16))}},
      {"vmovd_store", {0xc5, 0x79, 0x7e, 0x0f}, {W(kD, head(P(9), 4))}},
      {"vmovq_d6_store", {0xc5, 0x79, 0xd6, 0x17}, {W(kD, head(P(10), 8))}},
      {"vmovq_7e_store", {0xc4, 0xe1, 0xf9, 0x7e, 0x07}, {W(kD, head(P(0), 8))}},
      // EVEX loads, registers 0-31, zeroing above the vector length.
      {"vmovdqu64_load_zmm16", {0x62, 0xe1, 0xfe, 0x48, 0x6f, 0x06}, {R(kS, m64)}, 16, m64},
      {"vmovdqu64_load_ymm17", {0x62, 0xe1, 0xfe, 0x28, 0x6f, 0x0e}, {R(kS, m32)}, 17, zext(m32)},
      {"vmovdqu8_load_xmm18", {0x62, 0xe1, 0x7f, 0x08, 0x6f, 0x16}, {R(kS, m16)}, 18, zext(m16)},
      {"vmovdqu16_load_zmm19", {0x62, 0xe1, 0xff, 0x48, 0x6f, 0x1e}, {R(kS, m64)}, 19, m64},
      {"vmovdqu32_load_zmm0", {0x62, 0xf1, 0x7e, 0x48, 0x6f, 0x06}, {R(kS, m64)}, 0, m64},
      {"vmovdqa64_load_zmm31", {0x62, 0x61, 0xfd, 0x48, 0x6f, 0x3e}, {R(kS, m64)}, 31, m64},
      {"vmovdqa32_load_ymm1", {0x62, 0xf1, 0x7d, 0x28, 0x6f, 0x0e}, {R(kS, m32)}, 1, zext(m32)},
      {"evex_vmovups_load", {0x62, 0xf1, 0x7c, 0x48, 0x10, 0x16}, {R(kS, m64)}, 2, m64},
      {"evex_vmovaps_load", {0x62, 0xf1, 0x7c, 0x48, 0x28, 0x1e}, {R(kS, m64)}, 3, m64},
      {"evex_vmovupd_load", {0x62, 0xf1, 0xfd, 0x48, 0x10, 0x26}, {R(kS, m64)}, 4, m64},
      {"evex_vmovapd_load", {0x62, 0xf1, 0xfd, 0x48, 0x28, 0x2e}, {R(kS, m64)}, 5, m64},
      {"evex_vmovntdqa_load", {0x62, 0xf2, 0x7d, 0x48, 0x2a, 0x36}, {R(kS, m64)}, 6, m64},
      {"vmovdqu64_load_disp8_scaled", {0x62, 0xf1, 0xfe, 0x48, 0x6f, 0x7e, 0x01},
       {R(kS + 0x40, M(kS + 0x40, 64))}, 7, M(kS + 0x40, 64)},
      {"vmovdqu64_load_base_index_disp8", {0x62, 0xe1, 0xfe, 0x48, 0x6f, 0x4c, 0x16, 0xff},
       {R(kS + 0xC0, M(kS + 0xC0, 64))}, 17, M(kS + 0xC0, 64)},
      {"evex_vmovups_load_xmm20", {0x62, 0xe1, 0x7c, 0x08, 0x10, 0x26}, {R(kS, m16)}, 20, zext(m16)},
      {"evex_vmovd_load_xmm21", {0x62, 0xe1, 0x7d, 0x08, 0x6e, 0x2e}, {R(kS, M(kS, 4))}, 21, zext(M(kS, 4))},
      {"vmovdqa64_load_xmm16_16_aligned", {0x62, 0xe1, 0xfd, 0x08, 0x6f, 0x06},
       {R(kS + 16, M(kS + 16, 16))}, 16, zext(M(kS + 16, 16)), {}, {{RSI, kS + 16}}},
      {"vmovdqu64_load_unaligned", {0x62, 0xe1, 0xfe, 0x48, 0x6f, 0x06}, {R(kS + 1, M(kS + 1, 64))}, 16,
       M(kS + 1, 64), {}, {{RSI, kS + 1}}},
      // EVEX stores.
      {"vmovdqu64_store_zmm16", {0x62, 0xe1, 0xfe, 0x48, 0x7f, 0x07}, {W(kD, P(16))}},
      {"vmovdqa64_store_zmm31", {0x62, 0x61, 0xfd, 0x48, 0x7f, 0x3f}, {W(kD, P(31))}},
      {"evex_vmovntdq_store_zmm0", {0x62, 0xf1, 0x7d, 0x48, 0xe7, 0x07}, {W(kD, P(0))}},
      {"evex_vmovntdq_store_ymm20", {0x62, 0xe1, 0x7d, 0x28, 0xe7, 0x27}, {W(kD, head(P(20), 32))}},
      {"vmovdqu8_store_xmm30", {0x62, 0x61, 0x7f, 0x08, 0x7f, 0x37}, {W(kD, head(P(30), 16))}},
      {"evex_vmovups_store", {0x62, 0xf1, 0x7c, 0x48, 0x11, 0x0f}, {W(kD, P(1))}},
      {"evex_vmovapd_store", {0x62, 0xf1, 0xfd, 0x48, 0x29, 0x17}, {W(kD, P(2))}},
      {"vmovdqa32_store", {0x62, 0xf1, 0x7d, 0x48, 0x7f, 0x2f}, {W(kD, P(5))}},
      {"vmovdqu16_store_ymm", {0x62, 0xf1, 0xff, 0x28, 0x7f, 0x37}, {W(kD, head(P(6), 32))}},
      {"vmovdqu32_store", {0x62, 0xf1, 0x7e, 0x48, 0x7f, 0x3f}, {W(kD, P(7))}},
      {"vmovdqu64_store_ymm16_base_index", {0x62, 0xe1, 0xfe, 0x28, 0x7f, 0x44, 0x17, 0xff},
       {W(kD + 0xE0, head(P(16), 32))}},
      {"evex_vmovntps_store", {0x62, 0x71, 0x7c, 0x48, 0x2b, 0x07}, {W(kD, P(8))}},
      {"evex_vmovntpd_store", {0x62, 0x71, 0xfd, 0x48, 0x2b, 0x0f}, {W(kD, P(9))}},
      {"evex_vmovq_store_xmm22", {0x62, 0xe1, 0xfd, 0x08, 0x7e, 0x37}, {W(kD, head(P(22), 8))}},
      // Masked stores: only the selected elements, as a byte mask.
      {"vmovdqu8_masked_store", {0x62, 0xe1, 0x7f, 0x49, 0x7f, 0x00}, {WM(kA, 0xFFFF0001, P(16))}, -1, {},
       {{1, 0xFFFF0001}}},
      {"vmovdqu16_masked_store", {0x62, 0xe1, 0xff, 0x49, 0x7f, 0x00},
       {WM(kA, 0xC000000000000033, P(16))}, -1, {}, {{1, 0x80000005}}},
      {"vmovdqu32_masked_store", {0x62, 0xe1, 0x7e, 0x4a, 0x7f, 0x00},
       {WM(kA, 0xF00000000000000F, P(16))}, -1, {}, {{2, 0x8001}}},
      {"vmovdqu64_masked_store", {0x62, 0xe1, 0xfe, 0x4b, 0x7f, 0x00}, {WM(kA, 0xFF0000FF00, P(16))}, -1,
       {}, {{3, 0x12}}},
      {"vmovdqu32_masked_store_ymm_ignores_high_bits", {0x62, 0xe1, 0x7e, 0x2c, 0x7f, 0x08},
       {WM(kA, 0x0F, head(P(17), 32))}, -1, {}, {{4, 0xFFFFFF01}}},
      {"vmovaps_masked_store", {0x62, 0xf1, 0x7c, 0x4d, 0x29, 0x08}, {WM(kA, 0xFF, P(1))}, -1, {},
       {{5, 0x3}}},
      {"vmovdqu8_all_ones_mask_is_plain_write", {0x62, 0xe1, 0x7f, 0x49, 0x7f, 0x00}, {W(kA, P(16))}, -1,
       {}, {{1, ~uint64_t{0}}}},
      {"vmovdqu32_full_mask_is_plain_write", {0x62, 0xe1, 0x7e, 0x4a, 0x7f, 0x00}, {W(kA, P(16))}, -1, {},
       {{2, 0xFFFF}}},
      {"vmovdqu64_empty_mask_no_access", {0x62, 0xe1, 0xfe, 0x4b, 0x7f, 0x00}, {}, -1, {}, {{3, 0}}},
      // Masked loads: merge keeps, {z} clears the unselected elements; above VL is zeroed.
      {"vmovdqu32_merge_load", {0x62, 0xe1, 0x7e, 0x49, 0x6f, 0x06}, {RM(kS, 0xFFFFFFFF, m64)}, 16,
       cat(head(m64, 32), slice(P(16), 32, 64)), {{1, 0x00FF}}},
      {"vmovdqu32_zero_load", {0x62, 0xe1, 0x7e, 0xc9, 0x6f, 0x06}, {RM(kS, 0xFFFFFFFF, m64)}, 16,
       cat(head(m64, 32), Z(32)), {{1, 0x00FF}}},
      {"vmovdqu8_merge_load_ymm20", {0x62, 0xe1, 0x7f, 0x2a, 0x6f, 0x26}, {RM(kS, 0x1, m32)}, 20,
       cat(cat(head(m32, 1), slice(P(20), 1, 32)), Z(32)), {{2, 0x1}}},
      {"vmovdqu64_zero_load_xmm3", {0x62, 0xf1, 0xfe, 0x8b, 0x6f, 0x1e}, {RM(kS, 0xFF00, m16)}, 3,
       zext(cat(Z(8), slice(m16, 8, 16))), {{3, 0x2}}},
      {"vmovdqu16_merge_load_empty_mask", {0x62, 0xf1, 0xff, 0x4e, 0x6f, 0x26}, {}, 4, P(4), {{6, 0}}},
      {"vmovupd_zero_load_zmm25", {0x62, 0x61, 0xfd, 0xcf, 0x10, 0x0e}, {RM(kS, 0xFF000000000000FF, m64)},
       25, masked(m64, 0xFF000000000000FF), {{7, 0x81}}},
      {"vmovdqa64_full_mask_is_plain_read", {0x62, 0xf1, 0xfd, 0x49, 0x6f, 0x16}, {R(kS, m64)}, 2, m64,
       {{1, 0xFF}}},
  };
  // clang-format on
}

class VectorTest : public ::testing::TestWithParam<VecCase> {};

TEST_P(VectorTest, AccessesAndRegisters) {
  REQUIRE_AVX512();
  const VecCase& c = GetParam();
  VectorState s(XsaveLayout::host().supported, c.k);
  for (const auto& [r, v] : c.regs) s.cpu.reg(r) = v;
  const CpuState before = s.cpu;
  serve_reads(s.mem, c.expect);
  const EmuResult r = emulate(s.cpu, c.code.data(), c.code.size(), s.mem);
  ASSERT_EQ(r.status, EmuStatus::OK) << to_string(r.status);
  EXPECT_EQ(s.cpu.rip, kRip + c.code.size());
  EXPECT_EQ(s.mem.log, c.expect);
  expect_gprs(s.cpu, before, {});
  s.expect_vectors(c.reg, c.after);
}

INSTANTIATE_TEST_SUITE_P(Table, VectorTest, ::testing::ValuesIn(vector_cases()),
                         [](const auto& info) { return std::string(info.param.name); });

// Aligned forms on a misaligned address: #GP, which Linux reports as SIGSEGV,
// SI_KERNEL, address 0; checked before any access.
struct AlignCase {
  const char* name;
  Bytes code;
  Regs regs;
  Kregs k = {};
};

class AlignmentTest : public ::testing::TestWithParam<AlignCase> {};

TEST_P(AlignmentTest, FaultsBeforeAnyAccess) {
  REQUIRE_AVX512();
  const AlignCase& c = GetParam();
  VectorState s(XsaveLayout::host().supported, c.k);
  for (const auto& [r, v] : c.regs) s.cpu.reg(r) = v;
  const CpuState before = s.cpu;
  const EmuResult r = emulate(s.cpu, c.code.data(), c.code.size(), s.mem);
  ASSERT_EQ(r.status, EmuStatus::FAULT) << to_string(r.status);
  EXPECT_EQ(r.fault.signo, SIGSEGV);
  EXPECT_EQ(r.fault.code, SI_KERNEL);
  EXPECT_EQ(r.fault.code, 128);
  EXPECT_EQ(r.fault.addr, 0u);
  EXPECT_TRUE(s.mem.log.empty());
  EXPECT_EQ(s.cpu.rip, kRip);
  expect_gprs(s.cpu, before, {});
  s.expect_vectors();
}

INSTANTIATE_TEST_SUITE_P(
    Table, AlignmentTest,
    ::testing::ValuesIn(std::vector<AlignCase>{
        {"movaps_load", {0x0f, 0x28, 0x1e}, {{Gpr::RSI, kS + 8}}},
        {"movaps_store", {0x0f, 0x29, 0x1f}, {{Gpr::RDI, kD + 4}}},
        {"movdqa_load", {0x66, 0x0f, 0x6f, 0x36}, {{Gpr::RSI, kS + 1}}},
        {"movntdq_store", {0x66, 0x44, 0x0f, 0xe7, 0x17}, {{Gpr::RDI, kD + 8}}},
        {"movntdqa_load", {0x66, 0x44, 0x0f, 0x38, 0x2a, 0x16}, {{Gpr::RSI, kS + 8}}},
        {"vmovdqa_ymm_load_16_aligned", {0xc5, 0xfd, 0x6f, 0x36}, {{Gpr::RSI, kS + 16}}},
        {"vmovntdq_ymm_store", {0xc5, 0xfd, 0xe7, 0x37}, {{Gpr::RDI, kD + 16}}},
        {"vmovdqa64_zmm_store", {0x62, 0xe1, 0xfd, 0x48, 0x7f, 0x07}, {{Gpr::RDI, kD + 32}}},
        {"vmovdqa64_zmm_load", {0x62, 0x61, 0xfd, 0x48, 0x6f, 0x3e}, {{Gpr::RSI, kS + 32}}},
        {"vmovdqa64_masked_load", {0x62, 0xf1, 0xfd, 0x49, 0x6f, 0x16}, {{Gpr::RSI, kS + 8}}, {{1, 1}}},
        {"vmovaps_masked_store", {0x62, 0xf1, 0x7c, 0x4d, 0x29, 0x08}, {{Gpr::RAX, kA + 4}}, {{5, 3}}},
        {"evex_vmovntdq_store", {0x62, 0xf1, 0x7d, 0x48, 0xe7, 0x07}, {{Gpr::RDI, kD + 32}}},
    }),
    [](const auto& info) { return std::string(info.param.name); });

// A buffer that cannot hold what the instruction needs: refused, nothing touched.
TEST(VectorSupport, RefusesWhatTheXsaveAreaCannotHold) {
  REQUIRE_AVX512();
  const uint64_t all = XsaveLayout::host().supported;
  struct Row {
    uint64_t features;
    Bytes code;
    EmuStatus status;
  };
  const Row rows[] = {
      {all & ~uint64_t{0x80}, {0x62, 0xe1, 0xfe, 0x48, 0x6f, 0x06}, EmuStatus::UNSUPPORTED},  // zmm16
      {all & ~uint64_t{0x80}, {0x62, 0xf1, 0x7e, 0x48, 0x6f, 0x06}, EmuStatus::OK},           // zmm0
      {all & ~uint64_t{0x20}, {0x62, 0xe1, 0x7f, 0x49, 0x7f, 0x00}, EmuStatus::UNSUPPORTED},  // {k1}
      {all & ~uint64_t{0x20}, {0x62, 0xe1, 0xfe, 0x48, 0x7f, 0x07}, EmuStatus::OK},           // no mask
      {0x3, {0xc5, 0xfe, 0x6f, 0x06}, EmuStatus::UNSUPPORTED},                                // ymm0 load
      {0x3, {0xc5, 0xfe, 0x7f, 0x07}, EmuStatus::UNSUPPORTED},                                // ymm0 store
      {0x3, {0x0f, 0x10, 0x0e}, EmuStatus::OK},                                               // xmm1
  };
  for (const Row& row : rows) {
    VectorState s(row.features, {{1, 0xFF}});
    const CpuState before = s.cpu;
    const EmuResult r = emulate(s.cpu, row.code.data(), row.code.size(), s.mem);
    EXPECT_EQ(r.status, row.status) << std::hex << row.features << " " << int{row.code[4]};
    if (row.status == EmuStatus::UNSUPPORTED) {
      EXPECT_TRUE(s.mem.log.empty());
      EXPECT_EQ(s.cpu.rip, kRip);
      s.expect_vectors();
    } else {
      EXPECT_EQ(s.mem.log.size(), 1u);
    }
    expect_gprs(s.cpu, before, {});
  }
}

TEST(VectorFault, LoadFaultLeavesTheRegister) {
  REQUIRE_AVX512();
  VectorState s;
  s.mem.fault_at(kS + 0x20, MemFault{SIGSEGV, SEGV_ACCERR, kS + 0x20});
  const Bytes code = {0x62, 0xe1, 0xfe, 0x48, 0x6f, 0x06};
  const EmuResult r = emulate(s.cpu, code.data(), code.size(), s.mem);
  EXPECT_EQ(r.status, EmuStatus::FAULT);
  EXPECT_EQ(r.fault.code, SEGV_ACCERR);
  EXPECT_EQ(r.fault.addr, kS + 0x20);
  EXPECT_EQ(s.cpu.rip, kRip);
  EXPECT_EQ(s.mem.log, (std::vector<Access>{RF(kS, 64)}));
  s.expect_vectors();
}

// The mask goes to the Memory: a fault on an unselected byte cannot happen.
TEST(VectorFault, MaskedStoreFaultsOnlyOnSelectedBytes) {
  REQUIRE_AVX512();
  const Bytes code = {0x62, 0xe1, 0x7f, 0x49, 0x7f, 0x00};  // vmovdqu8 %zmm16,(%rax){%k1}
  {
    VectorState s(XsaveLayout::host().supported, {{1, 0x1}});
    s.mem.fault_at(kA + 8, MemFault{SIGSEGV, SEGV_ACCERR, kA + 8});
    EXPECT_EQ(emulate(s.cpu, code.data(), code.size(), s.mem).status, EmuStatus::OK);
    EXPECT_EQ(s.mem.log, (std::vector<Access>{WM(kA, 0x1, P(16))}));
  }
  {
    VectorState s(XsaveLayout::host().supported, {{1, 0x100}});
    s.mem.fault_at(kA + 8, MemFault{SIGSEGV, SEGV_ACCERR, kA + 8});
    const EmuResult r = emulate(s.cpu, code.data(), code.size(), s.mem);
    EXPECT_EQ(r.status, EmuStatus::FAULT);
    EXPECT_EQ(r.fault.addr, kA + 8);
    EXPECT_EQ(s.cpu.rip, kRip);
    EXPECT_EQ(s.mem.log, (std::vector<Access>{WMF(kA, 0x100, 64)}));
  }
}

// Every instruction with a memory operand in this machine's glibc 2.36
// __memmove_avx512_unaligned_erms and __memset_avx512_unaligned_erms
// (objdump of libc.so.6, at most two per operand shape; RIP-relative loads of
// libc's own tunables left out: they never touch a device).
TEST(GlibcForms, AllEmulate) {
  REQUIRE_AVX512();
  struct Form {
    Bytes code;
    const char* text;
  };
  const Form forms[] = {
      {{0x0f, 0x18, 0x8e, 0x00, 0x01, 0x00, 0x00}, "prefetcht0 0x100(%rsi)"},
      {{0x0f, 0x18, 0x8e, 0x00, 0x02, 0x00, 0x00}, "prefetcht0 0x200(%rsi)"},
      {{0x0f, 0xb7, 0x74, 0x16, 0x02}, "movzwl 0x2(%rsi,%rdx,1),%esi"},
      {{0x48, 0x89, 0x08}, "mov %rcx,(%rax)"},
      {{0x48, 0x89, 0x37}, "mov %rsi,(%rdi)"},
      {{0x48, 0x89, 0x4c, 0x10, 0xf8}, "mov %rcx,-0x8(%rax,%rdx,1)"},
      {{0x48, 0x89, 0x4c, 0x17, 0xf8}, "mov %rcx,-0x8(%rdi,%rdx,1)"},
      {{0x48, 0x8b, 0x36}, "mov (%rsi),%rsi"},
      {{0x48, 0x8b, 0x4c, 0x16, 0xf8}, "mov -0x8(%rsi,%rdx,1),%rcx"},
      {{0x62, 0x61, 0x7d, 0x48, 0xe7, 0x87, 0x00, 0x20, 0x00, 0x00}, "vmovntdq %zmm24,0x2000(%rdi)"},
      {{0x62, 0x61, 0x7d, 0x48, 0xe7, 0x8f, 0x40, 0x20, 0x00, 0x00}, "vmovntdq %zmm25,0x2040(%rdi)"},
      {{0x62, 0x61, 0xfe, 0x48, 0x6f, 0x44, 0x16, 0xfc}, "vmovdqu64 -0x100(%rsi,%rdx,1),%zmm24"},
      {{0x62, 0x61, 0xfe, 0x48, 0x6f, 0x44, 0x16, 0xff}, "vmovdqu64 -0x40(%rsi,%rdx,1),%zmm24"},
      {{0x62, 0x61, 0xfe, 0x48, 0x6f, 0x86, 0x00, 0x20, 0x00, 0x00}, "vmovdqu64 0x2000(%rsi),%zmm24"},
      {{0x62, 0x61, 0xfe, 0x48, 0x6f, 0x8e, 0x40, 0x20, 0x00, 0x00}, "vmovdqu64 0x2040(%rsi),%zmm25"},
      {{0x62, 0x61, 0xfe, 0x48, 0x7f, 0x02}, "vmovdqu64 %zmm24,(%rdx)"},
      {{0x62, 0x61, 0xfe, 0x48, 0x7f, 0x44, 0x3a, 0xff}, "vmovdqu64 %zmm24,-0x40(%rdx,%rdi,1)"},
      {{0x62, 0xc1, 0xfe, 0x48, 0x7f, 0x00}, "vmovdqu64 %zmm16,(%r8)"},
      {{0x62, 0xe1, 0x7d, 0x48, 0xe7, 0x07}, "vmovntdq %zmm16,(%rdi)"},
      {{0x62, 0xe1, 0x7f, 0x49, 0x7f, 0x00}, "vmovdqu8 %zmm16,(%rax){%k1}"},
      {{0x62, 0xe1, 0xfd, 0x48, 0x7f, 0x07}, "vmovdqa64 %zmm16,(%rdi)"},
      {{0x62, 0xe1, 0xfd, 0x48, 0x7f, 0x0f}, "vmovdqa64 %zmm17,(%rdi)"},
      {{0x62, 0xe1, 0xfd, 0x48, 0x7f, 0x47, 0x04}, "vmovdqa64 %zmm16,0x100(%rdi)"},
      {{0x62, 0xe1, 0xfd, 0x48, 0x7f, 0x47, 0x05}, "vmovdqa64 %zmm16,0x140(%rdi)"},
      {{0x62, 0xe1, 0xfe, 0x08, 0x7f, 0x44, 0x10, 0xff}, "vmovdqu64 %xmm16,-0x10(%rax,%rdx,1)"},
      {{0x62, 0xe1, 0xfe, 0x28, 0x6f, 0x06}, "vmovdqu64 (%rsi),%ymm16"},
      {{0x62, 0xe1, 0xfe, 0x48, 0x6f, 0x06}, "vmovdqu64 (%rsi),%zmm16"},
      {{0x62, 0xe1, 0xfe, 0x48, 0x7f, 0x40, 0x02}, "vmovdqu64 %zmm16,0x80(%rax)"},
      {{0x62, 0xe1, 0xfe, 0x48, 0x7f, 0x40, 0x03}, "vmovdqu64 %zmm16,0xc0(%rax)"},
      {{0x89, 0x34, 0x17}, "mov %esi,(%rdi,%rdx,1)"},
      {{0x8a, 0x0e}, "mov (%rsi),%cl"},
      {{0x8b, 0x34, 0x16}, "mov (%rsi,%rdx,1),%esi"},
      {{0xc5, 0xfa, 0x6f, 0x06}, "vmovdqu (%rsi),%xmm0"},
      {{0xc5, 0xfa, 0x6f, 0x4c, 0x16, 0xf0}, "vmovdqu -0x10(%rsi,%rdx,1),%xmm1"},
      {{0xc5, 0xfa, 0x7f, 0x07}, "vmovdqu %xmm0,(%rdi)"},
      {{0xc5, 0xfa, 0x7f, 0x4c, 0x17, 0xf0}, "vmovdqu %xmm1,-0x10(%rdi,%rdx,1)"},
      {{0xf3, 0xa4}, "rep movsb %ds:(%rsi),%es:(%rdi)"},
      {{0xf3, 0xaa}, "rep stos %al,%es:(%rdi)"},
  };
  for (const Form& f : forms) {
    VectorState s(XsaveLayout::host().supported, {{1, 0x0000FFFF0000FFFF}});
    s.cpu.reg(Gpr::RCX) = 3;
    s.cpu.reg(Gpr::R8) = 0x40000;
    const EmuResult r = emulate(s.cpu, f.code.data(), f.code.size(), s.mem);
    EXPECT_EQ(r.status, EmuStatus::OK) << f.text;
    EXPECT_EQ(s.cpu.rip, kRip + f.code.size()) << f.text;
    const std::string text = f.text;
    const size_t want = text.rfind("prefetch", 0) == 0              ? 0
                        : text == "rep movsb %ds:(%rsi),%es:(%rdi)" ? 6
                        : text.rfind("rep stos", 0) == 0            ? 3
                                                                    : 1;
    EXPECT_EQ(s.mem.log.size(), want) << f.text;
  }
}

}  // namespace
}  // namespace mmiotrace::emu
