// emu::emulate for MOVS, STOS and LODS (docs/emulated-instructions.md, 3):
// every width x REP x direction x address size, the exact accesses and the
// registers; REP in chunks (max_rep_iterations) and faults mid-REP.
#include <gtest/gtest.h>

#include <csignal>
#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "emu/emulator.h"
#include "emulator_test_support.h"

namespace mmiotrace::emu::emu_test {
namespace {

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

}  // namespace
}  // namespace mmiotrace::emu::emu_test
