// emu::memory_operands: what single-stepping learns from the decoder alone
// for an instruction outside the emulator's table (src/agent/step_plan.cc).
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "emu/emulator.h"

namespace mmiotrace::emu {
namespace {

constexpr uint64_t kRip = 0x400000;

std::vector<OperandAccess> operands(const std::vector<uint8_t>& bytes, const CpuState& cpu, int* n_out = nullptr) {
  OperandAccess out[8];
  uint8_t len = 0;
  const int n = memory_operands(cpu, bytes.data(), bytes.size(), out, 8, &len);
  if (n_out != nullptr) *n_out = n;
  if (n < 0) return {};
  EXPECT_EQ(len, bytes.size());
  return std::vector<OperandAccess>(out, out + n);
}

CpuState cpu_at(uint64_t rax, uint64_t rsp = 0x7ffd0000) {
  CpuState cpu;
  cpu.rip = kRip;
  cpu.reg(Gpr::RAX) = rax;
  cpu.reg(Gpr::RSP) = rsp;
  cpu.reg(Gpr::RSI) = 0x5000;
  cpu.reg(Gpr::RDI) = 0x6000;
  return cpu;
}

TEST(MemoryOperands, CallThroughMemoryReadsEightBytesAtItsAddress) {
  // call *0x8(%rax): the pointer is read; the return address goes to the stack.
  const auto ops = operands({0xff, 0x50, 0x08}, cpu_at(0x7f0000001000));
  ASSERT_GE(ops.size(), 1u);
  EXPECT_EQ(ops[0].addr, 0x7f0000001008u);
  EXPECT_EQ(ops[0].size, 8u);
  EXPECT_TRUE(ops[0].read);
  EXPECT_FALSE(ops[0].write);
}

TEST(MemoryOperands, ReadModifyWriteOperandIsReadAndWritten) {
  // orl %ecx,(%rax)
  const auto ops = operands({0x09, 0x08}, cpu_at(0x1234));
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].addr, 0x1234u);
  EXPECT_EQ(ops[0].size, 4u);
  EXPECT_TRUE(ops[0].read);
  EXPECT_TRUE(ops[0].write);
}

TEST(MemoryOperands, MovsHasItsTwoImplicitOperands) {
  // movsq: reads (%rsi), writes (%rdi)
  const auto ops = operands({0x48, 0xa5}, cpu_at(0));
  ASSERT_EQ(ops.size(), 2u);
  bool read_rsi = false, write_rdi = false;
  for (const OperandAccess& o : ops) {
    read_rsi = read_rsi || (o.addr == 0x5000 && o.size == 8 && o.read && !o.write);
    write_rdi = write_rdi || (o.addr == 0x6000 && o.size == 8 && o.write && !o.read);
  }
  EXPECT_TRUE(read_rsi);
  EXPECT_TRUE(write_rdi);
}

TEST(MemoryOperands, LeaAndRegisterOnlyInstructionsHaveNone) {
  EXPECT_TRUE(operands({0x48, 0x8d, 0x40, 0x08}, cpu_at(0)).empty());  // lea 0x8(%rax),%rax
  EXPECT_TRUE(operands({0x48, 0x01, 0xc8}, cpu_at(0)).empty());        // add %rcx,%rax
}

TEST(MemoryOperands, NotAnInstruction) {
  int n = 0;
  operands({0x0f, 0x0b}, cpu_at(0), &n);  // ud2 decodes (no operand)
  EXPECT_EQ(n, 0);
  operands({0xf0, 0x90}, cpu_at(0), &n);  // lock nop: #UD
  EXPECT_EQ(n, -1);
}

}  // namespace
}  // namespace mmiotrace::emu
