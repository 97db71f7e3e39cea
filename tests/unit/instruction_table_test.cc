// emu::describe(): what the emulator's table (src/emu/instruction_table.cc)
// says about one instruction from its bytes: the family, the shape and width of
// its accesses, alignment, atomicity, repetition and masking, as a patcher
// would ask it (docs/emulated-instructions.md, "The table in the code"). That
// emulate() behaves as described is checked by the emulator's fuzzer
// (tests/fuzz/emu_fuzzer.cc) on every input it emulates.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "emu/emulator.h"

namespace mmiotrace::emu {
namespace {

using S = AccessShape;

struct DescribeCase {
  std::string name;
  std::vector<uint8_t> bytes;
  EmuStatus status;
  Family family;
  AccessShape access;
  unsigned width;
  unsigned align = 0;
  bool atomic = false;
  bool repeated = false;
  bool masked = false;
  bool bit_offset = false;
};

std::ostream& operator<<(std::ostream& os, const DescribeCase& c) { return os << c.name; }

constexpr EmuStatus OK = EmuStatus::OK;
constexpr EmuStatus NO = EmuStatus::UNSUPPORTED;

// clang-format off
const DescribeCase kCases[] = {
    // General registers.
    {"mov_load", {0x8b, 0x07}, OK, Family::GPR_MOVE, S::LOAD, 4},
    {"mov_store", {0x89, 0x07}, OK, Family::GPR_MOVE, S::STORE, 4},
    {"mov_imm32_m64", {0x48, 0xc7, 0x07, 0x78, 0x56, 0x34, 0x12}, OK, Family::GPR_MOVE, S::STORE, 8},
    {"mov_moffs_load", {0xa1, 0, 0x10, 0, 0, 0, 0, 0, 0}, OK, Family::GPR_MOVE, S::LOAD, 4},
    {"movzbl", {0x0f, 0xb6, 0x07}, OK, Family::GPR_MOVE, S::LOAD, 1},
    {"movbe_store", {0x0f, 0x38, 0xf1, 0x07}, OK, Family::GPR_MOVE, S::STORE, 4},
    {"sete", {0x0f, 0x94, 0x07}, OK, Family::SETCC, S::STORE, 1},
    {"cmove", {0x0f, 0x44, 0x07}, OK, Family::CMOVCC, S::LOAD, 4},
    {"push_m", {0xff, 0x37}, OK, Family::PUSH_POP, S::COPY, 8},
    {"pop_m16", {0x66, 0x8f, 0x07}, OK, Family::PUSH_POP, S::COPY, 2},
    // Strings.
    {"rep_movsb", {0xf3, 0xa4}, OK, Family::STRING, S::COPY, 1, 0, false, true},
    {"movsl", {0xa5}, OK, Family::STRING, S::COPY, 4},
    {"stosq", {0x48, 0xab}, OK, Family::STRING, S::STORE, 8},
    {"lodsb", {0xac}, OK, Family::STRING, S::LOAD, 1},
    {"repe_cmpsb", {0xf3, 0xa6}, OK, Family::STRING_COMPARE, S::LOAD, 1, 0, false, true},
    {"repne_scasw", {0x66, 0xf2, 0xaf}, OK, Family::STRING_COMPARE, S::LOAD, 2, 0, false, true},
    // ALU: a memory destination is a read-modify-write, a memory source a load.
    {"add_m_r", {0x01, 0x07}, OK, Family::ALU, S::READ_MODIFY_WRITE, 4},
    {"add_r_m", {0x03, 0x07}, OK, Family::ALU, S::LOAD, 4},
    {"lock_add", {0xf0, 0x01, 0x07}, OK, Family::ALU, S::READ_MODIFY_WRITE, 4, 0, true},
    {"xchg_always_atomic", {0x87, 0x07}, OK, Family::ALU, S::READ_MODIFY_WRITE, 4, 0, true},
    {"cmp_m_r", {0x48, 0x39, 0x07}, OK, Family::ALU, S::LOAD, 8},
    {"shl_m8_1", {0xd0, 0x27}, OK, Family::ALU, S::READ_MODIFY_WRITE, 1},
    {"bt_reg_offset", {0x0f, 0xa3, 0x07}, OK, Family::ALU, S::LOAD, 4, 0, false, false, false, true},
    {"bts_imm", {0x66, 0x0f, 0xba, 0x2f, 0x05}, OK, Family::ALU, S::READ_MODIFY_WRITE, 2},
    {"cmpxchg", {0x0f, 0xb1, 0x0f}, OK, Family::ALU, S::READ_MODIFY_WRITE, 4},
    {"cmpxchg16b", {0x48, 0x0f, 0xc7, 0x0f}, OK, Family::CMPXCHG_WIDE, S::READ_MODIFY_WRITE, 16, 16},
    {"lock_cmpxchg8b", {0xf0, 0x0f, 0xc7, 0x0f}, OK, Family::CMPXCHG_WIDE, S::READ_MODIFY_WRITE, 8, 0, true},
    // Vectors: alignment by encoding (legacy 16, VEX/EVEX the operand), opmasks.
    {"movaps_load", {0x0f, 0x28, 0x07}, OK, Family::VECTOR_MOVE, S::LOAD, 16, 16},
    {"movups_store", {0x0f, 0x11, 0x07}, OK, Family::VECTOR_MOVE, S::STORE, 16},
    {"vmovaps_ymm_store", {0xc5, 0xfc, 0x29, 0x07}, OK, Family::VECTOR_MOVE, S::STORE, 32, 32},
    {"vmovdqu_ymm_load", {0xc5, 0xfe, 0x6f, 0x07}, OK, Family::VECTOR_MOVE, S::LOAD, 32},
    {"vmovdqu64_zmm_k1", {0x62, 0xf1, 0xfe, 0x49, 0x6f, 0x07}, OK, Family::VECTOR_MOVE, S::LOAD, 64, 0, false, false, true},
    {"vmovdqa64_zmm_store", {0x62, 0xf1, 0xfd, 0x48, 0x7f, 0x07}, OK, Family::VECTOR_MOVE, S::STORE, 64, 64},
    {"movss_load", {0xf3, 0x0f, 0x10, 0x07}, OK, Family::VECTOR_ELEMENT, S::LOAD, 4},
    {"movsd_sse_not_string", {0xf2, 0x0f, 0x11, 0x07}, OK, Family::VECTOR_ELEMENT, S::STORE, 8},
    {"movsldup", {0xf3, 0x0f, 0x12, 0x07}, OK, Family::VECTOR_ELEMENT, S::LOAD, 16, 16},
    {"vbroadcastss_ymm", {0xc4, 0xe2, 0x7d, 0x18, 0x07}, OK, Family::VECTOR_ELEMENT, S::LOAD, 4},
    {"vmovlps_3op_load", {0xc5, 0xf0, 0x12, 0x07}, OK, Family::VECTOR_ELEMENT, S::LOAD, 8},
    {"prefetcht0", {0x0f, 0x18, 0x0f}, OK, Family::PREFETCH, S::NONE, 0},
    // Not in the table.
    {"mov_reg_reg", {0x89, 0xc3}, NO, Family::PREFETCH, S::NONE, 0},
    {"mov_m_sreg", {0x8c, 0x07}, NO, Family::PREFETCH, S::NONE, 0},
    {"imul_r_m", {0x0f, 0xaf, 0x07}, NO, Family::PREFETCH, S::NONE, 0},
    {"shl_alias_6", {0xd0, 0x37}, NO, Family::PREFETCH, S::NONE, 0},
    {"test_alias_1", {0xf6, 0x0f, 0x01}, NO, Family::PREFETCH, S::NONE, 0},
    {"repne_movsb", {0xf2, 0xa4}, NO, Family::PREFETCH, S::NONE, 0},
    {"cmpsd_sse_not_string", {0xf2, 0x0f, 0xc2, 0x07, 0x00}, NO, Family::PREFETCH, S::NONE, 0},
    {"addps_generic_path", {0x0f, 0x58, 0x07}, NO, Family::PREFETCH, S::NONE, 0},
    {"lock_mov_is_ud", {0xf0, 0x8b, 0x07}, EmuStatus::DECODE_ERROR, Family::PREFETCH, S::NONE, 0},
};
// clang-format on

class DescribeTest : public ::testing::TestWithParam<DescribeCase> {};

TEST_P(DescribeTest, FamilyShapeAndWidth) {
  const DescribeCase& c = GetParam();
  const FormInfo info = describe(c.bytes.data(), c.bytes.size());
  ASSERT_EQ(info.status, c.status);
  if (c.status == EmuStatus::DECODE_ERROR) {
    EXPECT_EQ(info.insn_len, 0);
    return;
  }
  EXPECT_EQ(info.insn_len, c.bytes.size());
  if (c.status != EmuStatus::OK) return;
  EXPECT_EQ(info.family, c.family);
  EXPECT_EQ(info.access, c.access);
  EXPECT_EQ(info.width, c.width);
  EXPECT_EQ(info.align, c.align);
  EXPECT_EQ(info.atomic, c.atomic);
  EXPECT_EQ(info.repeated, c.repeated);
  EXPECT_EQ(info.masked, c.masked);
  EXPECT_EQ(info.register_bit_offset, c.bit_offset);
}

INSTANTIATE_TEST_SUITE_P(Table, DescribeTest, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<DescribeCase>& i) { return i.param.name; });

}  // namespace
}  // namespace mmiotrace::emu
