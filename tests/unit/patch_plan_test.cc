// emu::plan_patch (what the fast path may patch and how its trampoline
// performs it), apply_patch_load/patch_store_value, and emu::relocate (an
// instruction re-encoded to run elsewhere with the same effect).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "emu/emulator.h"

namespace mmiotrace::emu {
namespace {

using Bytes = std::vector<uint8_t>;

PatchPlan plan(const Bytes& b) {
  CpuState cpu;
  cpu.rip = 0x401000;
  return plan_patch(cpu, b.data(), b.size());
}

TEST(PlanPatch, LoadsWithTheirRegisterAndExtension) {
  PatchPlan p = plan({0x8b, 0x07});  // mov (%rdi),%eax
  EXPECT_EQ(p.kind, PatchKind::LOAD);
  EXPECT_EQ(p.insn_len, 2);
  EXPECT_EQ(p.size, 4u);
  EXPECT_EQ(p.reg, 0);
  EXPECT_EQ(p.reg_bytes, 4);
  EXPECT_EQ(p.base, 7);
  EXPECT_EQ(p.index, -1);
  EXPECT_FALSE(p.sign);
  EXPECT_TRUE(p.reads);
  EXPECT_FALSE(p.writes);

  p = plan({0x44, 0x0f, 0xb6, 0x6d, 0x10});  // movzbl 0x10(%rbp),%r13d
  EXPECT_EQ(p.kind, PatchKind::LOAD);
  EXPECT_EQ(p.size, 1u);
  EXPECT_EQ(p.reg, 13);
  EXPECT_EQ(p.reg_bytes, 4);
  EXPECT_EQ(p.base, 5);
  EXPECT_EQ(p.disp, 0x10);
  EXPECT_FALSE(p.sign);

  p = plan({0x48, 0x0f, 0xbe, 0x08});  // movsbq (%rax),%rcx
  EXPECT_EQ(p.kind, PatchKind::LOAD);
  EXPECT_EQ(p.size, 1u);
  EXPECT_EQ(p.reg, 1);
  EXPECT_EQ(p.reg_bytes, 8);
  EXPECT_TRUE(p.sign);

  p = plan({0x8b, 0x04, 0x8f});  // mov (%rdi,%rcx,4),%eax
  EXPECT_EQ(p.base, 7);
  EXPECT_EQ(p.index, 1);
  EXPECT_EQ(p.scale, 4);

  p = plan({0x8b, 0x05, 0x00, 0x01, 0x00, 0x00});  // mov 0x100(%rip),%eax
  EXPECT_EQ(p.kind, PatchKind::LOAD);
  EXPECT_TRUE(p.rip_relative);
  EXPECT_EQ(p.base, -1);
  EXPECT_EQ(p.disp, 0x100);
}

TEST(PlanPatch, StoresOfARegisterOrAnImmediate) {
  PatchPlan p = plan({0x88, 0x27});  // mov %ah,(%rdi)
  EXPECT_EQ(p.kind, PatchKind::STORE);
  EXPECT_EQ(p.size, 1u);
  EXPECT_EQ(p.reg, 0);
  EXPECT_TRUE(p.high8);
  EXPECT_TRUE(p.writes);
  EXPECT_FALSE(p.reads);

  p = plan({0xc7, 0x47, 0x08, 0x34, 0x12, 0x00, 0x00});  // movl $0x1234,0x8(%rdi)
  EXPECT_EQ(p.kind, PatchKind::STORE);
  EXPECT_TRUE(p.has_imm);
  EXPECT_EQ(p.imm, 0x1234u);
  EXPECT_EQ(p.size, 4u);

  p = plan({0x48, 0xc7, 0x00, 0xff, 0xff, 0xff, 0xff});  // movq $-1,(%rax)
  EXPECT_EQ(p.kind, PatchKind::STORE);
  EXPECT_EQ(p.imm, ~uint64_t{0});
  EXPECT_EQ(p.size, 8u);
}

TEST(PlanPatch, OtherInstructionsOfTheTableAreEmulated) {
  PatchPlan p = plan({0xf0, 0x01, 0x07});  // lock add %eax,(%rdi)
  EXPECT_EQ(p.kind, PatchKind::EMULATE);
  EXPECT_TRUE(p.reads && p.writes);
  EXPECT_FALSE(p.vector);
  p = plan({0x87, 0x07});  // xchg %eax,(%rdi)
  EXPECT_EQ(p.kind, PatchKind::EMULATE);
  // A vector instruction is in the table when the vector state is at hand
  // (the agent plans with the signal frame's XSAVE area).
  const XsaveLayout& l = XsaveLayout::host();
  std::vector<uint8_t> area((l.total_size + 63) / 64 * 64 + 64, 0);
  auto* aligned = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(area.data()) + 63) & ~uintptr_t{63});
  CpuState cpu;
  cpu.rip = 0x401000;
  cpu.xsave = XsaveArea(aligned, l.supported);
  const Bytes movdqu = {0xf3, 0x0f, 0x6f, 0x07};  // movdqu (%rdi),%xmm0
  p = plan_patch(cpu, movdqu.data(), movdqu.size());
  EXPECT_EQ(p.kind, PatchKind::EMULATE);
  EXPECT_TRUE(p.vector);
  EXPECT_EQ(p.size, 16u);
  // Without it the table refuses it, and so does the plan.
  EXPECT_EQ(plan(movdqu).refusal, PatchRefusal::NOT_IN_TABLE);
}

TEST(PlanPatch, RefusalsSayWhy) {
  const struct {
    Bytes bytes;
    PatchRefusal why;
  } cases[] = {
      {{0xa4}, PatchRefusal::STRING},                                         // movsb
      {{0xf3, 0xaa}, PatchRefusal::STRING},                                   // rep stosb
      {{0xff, 0x30}, PatchRefusal::WRITES_RSP_OR_RIP},                        // push (%rax)
      {{0x8f, 0x00}, PatchRefusal::WRITES_RSP_OR_RIP},                        // pop (%rax)
      {{0x64, 0x8b, 0x00}, PatchRefusal::SEGMENT},                            // mov %fs:(%rax),%eax
      {{0x67, 0x8b, 0x00}, PatchRefusal::ADDRESS_SIZE},                       // mov (%eax),%eax
      {{0xff, 0x20}, PatchRefusal::WRITES_RSP_OR_RIP},                        // jmp *(%rax)
      {{0x48, 0x8b, 0x20}, PatchRefusal::WRITES_RSP_OR_RIP},                  // mov (%rax),%rsp
      {{0xd9, 0x00}, PatchRefusal::NOT_IN_TABLE},                             // flds (%rax)
      {{0xc4, 0xe2, 0x6d, 0x90, 0x1c, 0x88}, PatchRefusal::MEMORY_OPERANDS},  // vpgatherdd: VSIB
      {{0x0f, 0x0b}, PatchRefusal::MEMORY_OPERANDS},                          // ud2: no memory operand
      {{0xff, 0xff}, PatchRefusal::NOT_AN_INSTRUCTION},
  };
  for (const auto& c : cases) {
    const PatchPlan p = plan(c.bytes);
    EXPECT_EQ(p.kind, PatchKind::NONE) << describe(c.why);
    EXPECT_EQ(p.refusal, c.why) << describe(c.why) << ", got " << describe(p.refusal);
  }
}

TEST(PlanPatch, LoadedValuesFollowThePartialRegisterRules) {
  uint64_t gpr[16];
  for (uint64_t& r : gpr) r = 0x1111111111111111;
  PatchPlan p = plan({0x8b, 0x07});  // mov (%rdi),%eax: zero-extends to 64 bits
  apply_patch_load(p, gpr, 0xaabbccdd);
  EXPECT_EQ(gpr[0], 0xaabbccddu);
  p = plan({0x66, 0x8b, 0x0f});  // mov (%rdi),%cx: merges
  apply_patch_load(p, gpr, 0xbeef);
  EXPECT_EQ(gpr[1], 0x111111111111beefu);
  p = plan({0x8a, 0x27});  // mov (%rdi),%ah
  gpr[0] = 0x1111111111111111;
  apply_patch_load(p, gpr, 0x99);
  EXPECT_EQ(gpr[0], 0x1111111111119911u);
  p = plan({0x48, 0x0f, 0xbf, 0x17});  // movswq (%rdi),%rdx
  apply_patch_load(p, gpr, 0x8000);
  EXPECT_EQ(gpr[2], 0xffffffffffff8000u);
  p = plan({0x48, 0x63, 0x1f});  // movslq (%rdi),%rbx
  apply_patch_load(p, gpr, 0x80000000);
  EXPECT_EQ(gpr[3], 0xffffffff80000000u);
  p = plan({0x88, 0x3e});  // mov %bh,(%rsi)
  gpr[3] = 0x4200;
  EXPECT_EQ(patch_store_value(p, gpr) & 0xff, 0x42u);
}

uint64_t branch_target(const uint8_t* b, size_t n, uint64_t at) {
  char text[64];
  const size_t len = disassemble(b, n, at, text, sizeof text);
  if (len == 0) return 0;
  if (b[0] == 0xe9)
    return at + 5 +
           static_cast<uint64_t>(static_cast<int64_t>(
               static_cast<int32_t>(b[1] | b[2] << 8 | b[3] << 16 | static_cast<uint32_t>(b[4]) << 24)));
  if (b[0] == 0x0f && (b[1] & 0xf0) == 0x80) {
    return at + 6 +
           static_cast<uint64_t>(static_cast<int64_t>(
               static_cast<int32_t>(b[2] | b[3] << 8 | b[4] << 16 | static_cast<uint32_t>(b[5]) << 24)));
  }
  return 0;
}

TEST(Relocate, KeepsAddressesAndDestinations) {
  const uint64_t from = 0x401000, to = 0x70001000;  // within a rel32's reach, as a trampoline is
  uint8_t out[16];
  // Position-independent: copied as it is.
  const Bytes plain = {0x8b, 0x07};
  ASSERT_EQ(relocate(plain.data(), plain.size(), from, to, out, sizeof out), 2u);
  EXPECT_EQ(memcmp(out, plain.data(), 2), 0);
  // RIP-relative: the same absolute operand from the new place.
  const Bytes riprel = {0x8b, 0x05, 0x00, 0x01, 0x00, 0x00};  // mov 0x100(%rip),%eax
  const size_t n = relocate(riprel.data(), riprel.size(), from, from + 0x10000000, out, sizeof out);
  ASSERT_EQ(n, 6u);
  int32_t disp;
  memcpy(&disp, out + 2, 4);
  EXPECT_EQ(from + 0x10000000 + 6 + static_cast<uint64_t>(static_cast<int64_t>(disp)), from + 6 + 0x100);
  // jmp rel8 and jcc rel8 far away: rel32 forms with the same destination.
  const Bytes jmp8 = {0xeb, 0x10};
  ASSERT_EQ(relocate(jmp8.data(), jmp8.size(), from, to, out, sizeof out), 5u);
  EXPECT_EQ(branch_target(out, 5, to), from + 2 + 0x10);
  const Bytes je8 = {0x74, 0xf0};
  ASSERT_EQ(relocate(je8.data(), je8.size(), from, to, out, sizeof out), 6u);
  EXPECT_EQ(branch_target(out, 6, to), from + 2 - 0x10);
  // What cannot move.
  for (const Bytes& b : {Bytes{0xe8, 0, 0, 0, 0}, Bytes{0xff, 0xd0}, Bytes{0xe2, 0x10}, Bytes{0xe3, 0x10}}) {
    EXPECT_EQ(relocate(b.data(), b.size(), from, to, out, sizeof out), 0u) << int{b[0]};
  }
}

}  // namespace
}  // namespace mmiotrace::emu
