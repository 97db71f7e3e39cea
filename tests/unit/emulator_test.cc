// emu::emulate()'s contract whatever the instruction: what is refused
// (UNSUPPORTED, DECODE_ERROR) touches nothing; at most 15 bytes are looked
// at; to_string(); and disassemble().
#include "emu/emulator.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "emulator_test_support.h"

namespace mmiotrace::emu::emu_test {
namespace {

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

}  // namespace
}  // namespace mmiotrace::emu::emu_test
