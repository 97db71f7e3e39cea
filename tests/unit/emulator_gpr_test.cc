// emu::emulate for SETcc, CMOVcc, MOVBE, PUSH m and POP m
// (docs/emulated-instructions.md, "Conditional moves, MOVBE, PUSH/POP"):
// exact accesses and register effects; none changes RFLAGS.
#include <gtest/gtest.h>

#include <csignal>
#include <cstdint>
#include <string>
#include <vector>

#include "alu_test_support.h"
#include "emu/emulator.h"

namespace mmiotrace::emu::alu_test {
namespace {

constexpr uint64_t CF = kFlagCF, PF = kFlagPF, ZF = kFlagZF, SF = kFlagSF, OF = kFlagOF;
constexpr uint64_t B = 0x10000;

uint64_t fl(uint64_t bits) { return kBaseFlags | bits; }

// SDM Vol. 1, Appendix B, Table B-1, one line per mnemonic.
bool expected_condition(unsigned cc, uint64_t f) {
  const bool cf = f & CF, pf = f & PF, zf = f & ZF, sf = f & SF, of = f & OF;
  switch (cc) {
    case 0x0:
      return of;  // O
    case 0x1:
      return !of;  // NO
    case 0x2:
      return cf;  // B, C, NAE
    case 0x3:
      return !cf;  // AE, NB, NC
    case 0x4:
      return zf;  // E, Z
    case 0x5:
      return !zf;  // NE, NZ
    case 0x6:
      return cf || zf;  // BE, NA
    case 0x7:
      return !cf && !zf;  // A, NBE
    case 0x8:
      return sf;  // S
    case 0x9:
      return !sf;  // NS
    case 0xA:
      return pf;  // P, PE
    case 0xB:
      return !pf;  // NP, PO
    case 0xC:
      return sf != of;  // L, NGE
    case 0xD:
      return sf == of;  // GE, NL
    case 0xE:
      return zf || sf != of;  // LE, NG
    default:
      return !zf && sf == of;  // G, NLE
  }
}

// Every combination of CF, PF, ZF, SF, OF (and DF, AF that no condition reads).
std::vector<uint64_t> flag_combinations() {
  // A table, one case per line.
  // clang-format off
  std::vector<uint64_t> out;
  const uint64_t bits[] = {CF, PF, ZF, SF, OF};
  for (unsigned m = 0; m < 32; ++m) {
    uint64_t f = kBaseFlags | ((m & 1) ? kFlagAF : 0) | ((m & 2) ? kFlagDF : 0);
    for (unsigned i = 0; i < 5; ++i) {
      if (m & (1u << i)) f |= bits[i];
    }
    out.push_back(f);
  }
  return out;
  // clang-format on
}

class EmulatorSetcc : public ::testing::TestWithParam<unsigned> {};

TEST_P(EmulatorSetcc, WritesOneByteNoRead) {
  const unsigned cc = GetParam();
  const Bytes code = {0x0f, static_cast<uint8_t>(0x90 + cc), 0x03};  // setcc (%rbx)
  for (uint64_t f : flag_combinations()) {
    SCOPED_TRACE(testing::Message() << "rflags 0x" << std::hex << f);
    CpuState cpu = base_cpu();
    cpu.reg(Gpr::RBX) = B;
    cpu.rflags = f;
    const CpuState before = cpu;
    RecordingMemory mem;
    const EmuResult r = emulate(cpu, code.data(), code.size(), mem);
    ASSERT_EQ(r.status, EmuStatus::OK) << to_string(r.status);
    EXPECT_EQ(cpu.rip, kRip + 3);
    const uint8_t want = expected_condition(cc, f) ? 1 : 0;
    EXPECT_EQ(mem.log, (std::vector<Access>{W(B, {want})}));
    EXPECT_EQ(cpu.rflags, f);
    expect_gprs(cpu, before, {});
  }
}

INSTANTIATE_TEST_SUITE_P(AllConditions, EmulatorSetcc, ::testing::Range(0u, 16u),
                         [](const auto& info) { return "cc" + std::to_string(info.param); });

// CMOVcc r, m: the read happens whatever the condition.
using CmovParam = std::tuple<unsigned, unsigned>;  // cc, width in bits
class EmulatorCmov : public ::testing::TestWithParam<CmovParam> {};

TEST_P(EmulatorCmov, AlwaysReadsWritesOnlyIfTrue) {
  const auto [cc, bits] = GetParam();
  Bytes code;
  if (bits == 16) code.push_back(0x66);
  if (bits == 64) code.push_back(0x48);
  code = cat(code, {0x0f, static_cast<uint8_t>(0x40 + cc), 0x13});  // cmovcc (%rbx), %dx
  const unsigned bytes = bits / 8;
  const uint64_t value = 0x8877665544332211;
  const uint64_t rdx = 0xfedcba9876543210;
  for (uint64_t f : flag_combinations()) {
    SCOPED_TRACE(testing::Message() << "rflags 0x" << std::hex << f);
    CpuState cpu = base_cpu();
    cpu.reg(Gpr::RBX) = B;
    cpu.reg(Gpr::RDX) = rdx;
    cpu.rflags = f;
    const CpuState before = cpu;
    RecordingMemory mem;
    mem.put(B, le(value, bytes));
    const EmuResult r = emulate(cpu, code.data(), code.size(), mem);
    ASSERT_EQ(r.status, EmuStatus::OK) << to_string(r.status);
    EXPECT_EQ(mem.log, (std::vector<Access>{R(B, le(value, bytes))}));
    uint64_t want = rdx;
    if (expected_condition(cc, f)) {
      want = bits == 16 ? (rdx & ~uint64_t{0xffff}) | (value & 0xffff) : bits == 32 ? value & 0xffffffff : value;
    } else if (bits == 32) {
      want = rdx & 0xffffffff;  // a 32-bit CMOV zero-extends even when false
    }
    expect_gprs(cpu, before, {{Gpr::RDX, want}});
    EXPECT_EQ(cpu.rflags, f);
  }
}

INSTANTIATE_TEST_SUITE_P(AllConditions, EmulatorCmov,
                         ::testing::Combine(::testing::Range(0u, 16u), ::testing::Values(16u, 32u, 64u)),
                         [](const auto& info) {
                           return "cc" + std::to_string(std::get<0>(info.param)) + "_" +
                                  std::to_string(std::get<1>(info.param));
                         });

std::vector<Row> extra_rows() {
  // A table, one case per line.
  // clang-format off
  using enum Gpr;
  const uint64_t f = fl(CF | ZF);
  return {
      // SETcc with other operands.
      {"setz_rex_rip_relative", {0x40, 0x0f, 0x94, 0x05, 0x10, 0, 0, 0}, {}, f,
       {W(kRip + 8 + 0x10, {1})}, {}, f},
      {"setnz_fs_disp32", {0x64, 0x0f, 0x95, 0x04, 0x25, 0x00, 0x01, 0, 0}, {}, f,
       {W(0x7f0000000100, {0})}, {}, f, 0, 0x7f0000000000},
      // CMOVcc: addressing and REX registers.
      {"cmovnel_r10d_sib", {0x44, 0x0f, 0x45, 0x14, 0xc8}, {{RAX, B}, {RCX, 2}, {R10, ~uint64_t{0}}},
       fl(0), {R(B + 16, le(0x12345678, 4))}, {{R10, 0x12345678}}, fl(0)},
      {"cmovel_false_zero_extends", {0x0f, 0x44, 0x03}, {{RBX, B}, {RAX, 0xffffffff00000001}}, fl(0),
       {R(B, le(0x99, 4))}, {{RAX, 1}}, fl(0)},
      {"cmovew_false_keeps_all", {0x66, 0x0f, 0x44, 0x03}, {{RBX, B}, {RAX, 0xffffffff00000001}},
       fl(0), {R(B, le(0x99, 2))}, {}, fl(0)},
      {"cmovbq_true", {0x48, 0x0f, 0x42, 0x03}, {{RBX, B}}, fl(CF), {R(B, le(0x1122334455667788, 8))},
       {{RAX, 0x1122334455667788}}, fl(CF)},
      // MOVBE: one access, bytes reversed.
      {"movbe_load_16_keeps_upper", {0x66, 0x0f, 0x38, 0xf0, 0x03}, {{RBX, B}, {RAX, 0x1111111111111111}},
       fl(0), {R(B, {0x12, 0x34})}, {{RAX, 0x1111111111111234}}, fl(0)},
      {"movbe_load_32_zero_extends", {0x0f, 0x38, 0xf0, 0x03}, {{RBX, B}, {RAX, ~uint64_t{0}}}, fl(0),
       {R(B, {0x12, 0x34, 0x56, 0x78})}, {{RAX, 0x12345678}}, fl(0)},
      {"movbe_load_64_r9", {0x4c, 0x0f, 0x38, 0xf0, 0x0b}, {{RBX, B}}, fl(0),
       {R(B, {1, 2, 3, 4, 5, 6, 7, 8})}, {{R9, 0x0102030405060708}}, fl(0)},
      {"movbe_store_16", {0x66, 0x0f, 0x38, 0xf1, 0x03}, {{RBX, B}, {RAX, 0x1234}}, fl(0),
       {W(B, {0x12, 0x34})}, {}, fl(0)},
      {"movbe_store_32", {0x0f, 0x38, 0xf1, 0x03}, {{RBX, B}, {RAX, 0xaabbccdd12345678}}, fl(0),
       {W(B, {0x12, 0x34, 0x56, 0x78})}, {}, fl(0)},
      {"movbe_store_64_rip_relative", {0x48, 0x0f, 0x38, 0xf1, 0x05, 0x00, 0x02, 0, 0},
       {{RAX, 0x0102030405060708}}, fl(0), {W(kRip + 9 + 0x200, {1, 2, 3, 4, 5, 6, 7, 8})}, {}, fl(0)},
      // PUSH m: read the operand, then write the stack below RSP.
      {"push_m64", {0xff, 0x33}, {{RBX, B}, {RSP, 0x7ff000}}, fl(0),
       {R(B, le(0x1122334455667788, 8)), W(0x7feff8, le(0x1122334455667788, 8))},
       {{RSP, 0x7feff8}}, fl(0)},
      {"push_m16", {0x66, 0xff, 0x33}, {{RBX, B}, {RSP, 0x7ff000}}, fl(0),
       {R(B, {0xaa, 0xbb}), W(0x7feffe, {0xaa, 0xbb})}, {{RSP, 0x7feffe}}, fl(0)},
      {"push_rsp_relative_uses_old_rsp", {0xff, 0x74, 0x24, 0x08}, {{RSP, 0x7ff000}}, fl(0),
       {R(0x7ff008, le(5, 8)), W(0x7feff8, le(5, 8))}, {{RSP, 0x7feff8}}, fl(0)},
      {"push_fs_relative", {0x64, 0xff, 0x34, 0x25, 0x28, 0, 0, 0}, {{RSP, 0x7ff000}}, fl(0),
       {R(0x7f0000000028, le(6, 8)), W(0x7feff8, le(6, 8))}, {{RSP, 0x7feff8}}, fl(0), 0,
       0x7f0000000000},
      // POP m: read the stack, then write the operand.
      {"pop_m64", {0x8f, 0x03}, {{RBX, B}, {RSP, 0x7ff000}}, fl(0),
       {R(0x7ff000, le(0x99, 8)), W(B, le(0x99, 8))}, {{RSP, 0x7ff008}}, fl(0)},
      {"pop_m16", {0x66, 0x8f, 0x03}, {{RBX, B}, {RSP, 0x7ff000}}, fl(0),
       {R(0x7ff000, {1, 2}), W(B, {1, 2})}, {{RSP, 0x7ff002}}, fl(0)},
      {"pop_rsp_relative_uses_new_rsp", {0x8f, 0x44, 0x24, 0x08}, {{RSP, 0x7ff000}}, fl(0),
       {R(0x7ff000, le(7, 8)), W(0x7ff010, le(7, 8))}, {{RSP, 0x7ff008}}, fl(0)},
      {"pop_to_rsp_itself", {0x8f, 0x04, 0x24}, {{RSP, 0x7ff000}}, fl(0),
       {R(0x7ff000, le(8, 8)), W(0x7ff008, le(8, 8))}, {{RSP, 0x7ff008}}, fl(0)},
      {"pop_m16_rsp_relative", {0x66, 0x8f, 0x44, 0x24, 0x08}, {{RSP, 0x7ff000}}, fl(0),
       {R(0x7ff000, {3, 4}), W(0x7ff00a, {3, 4})}, {{RSP, 0x7ff002}}, fl(0)},
  };
  // clang-format on
}

class EmulatorGprExtra : public ::testing::TestWithParam<Row> {};

TEST_P(EmulatorGprExtra, AccessesAndRegisters) { run_row(GetParam()); }

INSTANTIATE_TEST_SUITE_P(Table, EmulatorGprExtra, ::testing::ValuesIn(extra_rows()),
                         [](const auto& info) { return sanitize(info.param.name); });

struct ExtraFault {
  const char* name;
  Bytes code;
  uint64_t fault_addr;
  bool writes_only;
  std::vector<Access> expect;
};

class EmulatorGprExtraFault : public ::testing::TestWithParam<ExtraFault> {};

TEST_P(EmulatorGprExtraFault, LeavesRegistersAndRsp) {
  const ExtraFault& c = GetParam();
  CpuState cpu = base_cpu();
  cpu.reg(Gpr::RBX) = B;
  cpu.reg(Gpr::RSP) = 0x7ff000;
  cpu.rflags = fl(ZF);
  const CpuState before = cpu;
  RecordingMemory mem;
  serve_reads(mem, c.expect);
  mem.fault_at(c.fault_addr, MemFault{SIGSEGV, SEGV_MAPERR, c.fault_addr}, c.writes_only);
  const EmuResult r = emulate(cpu, c.code.data(), c.code.size(), mem);
  EXPECT_EQ(r.status, EmuStatus::FAULT);
  EXPECT_EQ(r.fault.addr, c.fault_addr);
  EXPECT_EQ(cpu.rip, kRip);
  EXPECT_EQ(mem.log, c.expect);
  EXPECT_EQ(cpu.rflags, before.rflags);
  expect_gprs(cpu, before, {});
}

INSTANTIATE_TEST_SUITE_P(Table, EmulatorGprExtraFault,
                         ::testing::ValuesIn(std::vector<ExtraFault>{
                             {"setz_write", {0x0f, 0x94, 0x03}, B, false, {WF(B, 1)}},
                             {"cmove_read_when_false", {0x0f, 0x45, 0x03}, B, false, {RF(B, 4)}},
                             {"movbe_load", {0x48, 0x0f, 0x38, 0xf0, 0x03}, B + 7, false, {RF(B, 8)}},
                             {"push_source_read", {0xff, 0x33}, B, false, {RF(B, 8)}},
                             {"push_stack_write", {0xff, 0x33}, 0x7feffc, false, {R(B, le(1, 8)), WF(0x7feff8, 8)}},
                             {"pop_stack_read", {0x8f, 0x03}, 0x7ff000, false, {RF(0x7ff000, 8)}},
                             {"pop_destination_write", {0x8f, 0x03}, B, true, {R(0x7ff000, le(2, 8)), WF(B, 8)}},
                         }),
                         [](const auto& info) { return sanitize(info.param.name); });

struct RefusedCase {
  const char* name;
  Bytes code;
  EmuStatus status;
};

class EmulatorGprExtraRefused : public ::testing::TestWithParam<RefusedCase> {};

TEST_P(EmulatorGprExtraRefused, TouchesNothing) {
  const RefusedCase& c = GetParam();
  CpuState cpu = base_cpu();
  const CpuState before = cpu;
  RecordingMemory mem;
  const EmuResult r = emulate(cpu, c.code.data(), c.code.size(), mem);
  EXPECT_EQ(r.status, c.status) << to_string(r.status);
  EXPECT_TRUE(mem.log.empty());
  EXPECT_EQ(cpu.rip, kRip);
  expect_gprs(cpu, before, {});
}

INSTANTIATE_TEST_SUITE_P(Table, EmulatorGprExtraRefused,
                         ::testing::ValuesIn(std::vector<RefusedCase>{
                             {"setz_register", {0x0f, 0x94, 0xc0}, EmuStatus::UNSUPPORTED},
                             {"cmove_register", {0x0f, 0x44, 0xc3}, EmuStatus::UNSUPPORTED},
                             {"push_register", {0x50}, EmuStatus::UNSUPPORTED},
                             {"push_imm", {0x6a, 0x01}, EmuStatus::UNSUPPORTED},
                             {"pop_register", {0x58}, EmuStatus::UNSUPPORTED},
                             {"push_fs", {0x0f, 0xa0}, EmuStatus::UNSUPPORTED},
                             {"pushf", {0x9c}, EmuStatus::UNSUPPORTED},
                             {"kmovw_vex_0f_90", {0xc5, 0xf8, 0x90, 0x03}, EmuStatus::UNSUPPORTED},
                             {"movbe_register_form_is_ud", {0x0f, 0x38, 0xf0, 0xc0}, EmuStatus::DECODE_ERROR},
                             {"lock_setz_is_ud", {0xf0, 0x0f, 0x94, 0x03}, EmuStatus::DECODE_ERROR},
                         }),
                         [](const auto& info) { return sanitize(info.param.name); });

}  // namespace
}  // namespace mmiotrace::emu::alu_test
