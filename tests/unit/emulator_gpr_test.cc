// emu::emulate for the general-register families (src/emu/emulate_gpr.cc):
// SETcc, CMOVcc, MOVBE, PUSH m and POP m (docs/emulated-instructions.md, 8),
// then MOV, MOVZX, MOVSX, MOVSXD and MOVNTI (1, 2): exact accesses and
// register effects; none changes RFLAGS.
#include <gtest/gtest.h>

#include <csignal>
#include <cstdint>
#include <string>
#include <vector>

#include "alu_test_support.h"
#include "emu/emulator.h"
#include "emulator_test_support.h"

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

std::vector<Row> setcc_cmovcc_movbe_push_pop_rows() {
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

class SetccCmovccMovbePushPop : public ::testing::TestWithParam<Row> {};

TEST_P(SetccCmovccMovbePushPop, AccessesAndRegisters) { run_row(GetParam()); }

INSTANTIATE_TEST_SUITE_P(Table, SetccCmovccMovbePushPop, ::testing::ValuesIn(setcc_cmovcc_movbe_push_pop_rows()),
                         [](const auto& info) { return sanitize(info.param.name); });

struct RowFault {
  const char* name;
  Bytes code;
  uint64_t fault_addr;
  bool writes_only;
  std::vector<Access> expect;
};

class SetccCmovccMovbePushPopFault : public ::testing::TestWithParam<RowFault> {};

TEST_P(SetccCmovccMovbePushPopFault, LeavesRegistersAndRsp) {
  const RowFault& c = GetParam();
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

INSTANTIATE_TEST_SUITE_P(Table, SetccCmovccMovbePushPopFault,
                         ::testing::ValuesIn(std::vector<RowFault>{
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

class SetccCmovccMovbePushPopRefused : public ::testing::TestWithParam<RefusedCase> {};

TEST_P(SetccCmovccMovbePushPopRefused, TouchesNothing) {
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

INSTANTIATE_TEST_SUITE_P(Table, SetccCmovccMovbePushPopRefused,
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

// ---- MOV, MOVZX, MOVSX, MOVSXD, MOVNTI (docs/emulated-instructions.md, 1-2),
// with the explicit string and prefetch rows, against a FakeMemory
// (emulator_test_support.h).

namespace mmiotrace::emu::emu_test {
namespace {

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

}  // namespace
}  // namespace mmiotrace::emu::emu_test
