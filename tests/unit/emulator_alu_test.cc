// emu::emulate for the ALU rows (docs/emulated-instructions.md, "ALU"): ADD
// OR ADC SBB AND SUB XOR CMP TEST, INC DEC NOT NEG, shifts and rotates,
// SHLD/SHRD, BT/BTS/BTR/BTC:
//   - known-answer rows, flags worked out by hand from the SDM;
//   - accesses: exactly one read (CMP, TEST, BT, register destinations) or one
//     read then one write, of the operand's width, at every addressing form;
//     faults leave registers and flags alone; refusals touch nothing.
// The matrix of every form and width against a reference model of the SDM is
// emulator_alu_model_test.cc.
#include <gtest/gtest.h>

#include <csignal>
#include <cstdint>
#include <string>
#include <vector>

#include "alu_test_support.h"
#include "emu/emulator.h"

namespace mmiotrace::emu::alu_test {
namespace {

constexpr uint64_t CF = kFlagCF, PF = kFlagPF, AF = kFlagAF, ZF = kFlagZF, SF = kFlagSF, OF = kFlagOF;
constexpr uint64_t B = 0x10000;  // RBX, the base of (%rbx)

uint64_t fl(uint64_t bits) { return kBaseFlags | bits; }

// ---- Known answers.

std::vector<Row> known_answer_rows() {
  // A table, one case per line.
  // clang-format off
  using enum Gpr;
  const uint64_t all = fl(kArith);
  return {
      // Binary, memory destination: read then write.
      {"addl_imm8_overflow", {0x83, 0x03, 0x01}, {{RBX, B}}, fl(0),
       {R(B, le(0x7fffffff, 4)), W(B, le(0x80000000, 4))}, {}, fl(OF | SF | AF | PF)},
      {"addb_reg_carry_to_zero", {0x00, 0x13}, {{RBX, B}, {RDX, 0x01}}, fl(0),
       {R(B, {0xff}), W(B, {0x00})}, {}, fl(CF | ZF | AF | PF)},
      {"addw_imm16", {0x66, 0x81, 0x03, 0x34, 0x12}, {{RBX, B}}, fl(0),
       {R(B, le(0x0001, 2)), W(B, le(0x1235, 2))}, {}, fl(PF)},
      {"addq_reg_carry_and_overflow", {0x48, 0x01, 0x13}, {{RBX, B}, {RDX, 0x8000000000000000}},
       fl(0), {R(B, le(0x8000000000000000, 8)), W(B, le(0, 8))}, {}, fl(CF | OF | ZF | PF)},
      {"adcl_consumes_cf", {0x11, 0x13}, {{RBX, B}, {RDX, 0}}, fl(CF),
       {R(B, le(0xffffffff, 4)), W(B, le(0, 4))}, {}, fl(CF | ZF | AF | PF)},
      {"sbbq_imm8_consumes_cf", {0x48, 0x83, 0x1b, 0x01}, {{RBX, B}}, fl(CF),
       {R(B, le(2, 8)), W(B, le(0, 8))}, {}, fl(ZF | PF)},
      {"subl_reg_borrow", {0x29, 0x13}, {{RBX, B}, {RDX, 1}}, fl(0),
       {R(B, le(0, 4)), W(B, le(0xffffffff, 4))}, {}, fl(CF | SF | AF | PF)},
      {"subb_imm_overflow", {0x80, 0x2b, 0x01}, {{RBX, B}}, fl(0), {R(B, {0x80}), W(B, {0x7f})}, {},
       fl(OF | AF)},
      {"andl_imm32_clears_cf_of", {0x81, 0x23, 0x00, 0xff, 0x00, 0xff}, {{RBX, B}}, fl(CF | OF),
       {R(B, le(0x12345678, 4)), W(B, le(0x12005600, 4))}, {}, fl(PF), AF},
      {"orw_reg", {0x66, 0x09, 0x13}, {{RBX, B}, {RDX, 0x0001}}, fl(0),
       {R(B, le(0x8000, 2)), W(B, le(0x8001, 2))}, {}, fl(SF), AF},
      {"xorq_reg_to_zero", {0x48, 0x31, 0x13}, {{RBX, B}, {RDX, 0x1122334455667788}},
       fl(CF | OF | SF), {R(B, le(0x1122334455667788, 8)), W(B, le(0, 8))}, {}, fl(ZF | PF), AF},
      // CMP and TEST only read.
      {"cmpl_imm8_equal", {0x83, 0x3b, 0x05}, {{RBX, B}}, fl(0), {R(B, le(5, 4))}, {}, fl(ZF | PF)},
      {"cmpb_reg_below", {0x38, 0x13}, {{RBX, B}, {RDX, 0x01}}, fl(0), {R(B, {0x00})}, {},
       fl(CF | SF | AF | PF)},
      {"cmpq_imm32_sign_extended", {0x48, 0x81, 0x3b, 0xff, 0xff, 0xff, 0xff}, {{RBX, B}}, fl(0),
       {R(B, le(~uint64_t{0}, 8))}, {}, fl(ZF | PF)},
      {"testb_imm", {0xf6, 0x03, 0x80}, {{RBX, B}}, fl(CF | OF), {R(B, {0x80})}, {}, fl(SF), AF},
      {"testq_reg_zero", {0x48, 0x85, 0x13}, {{RBX, B}, {RDX, 0x00ff}}, fl(0), {R(B, le(0xff00, 8))},
       {}, fl(ZF | PF), AF},
      {"testw_imm16", {0x66, 0xf7, 0x03, 0x00, 0x80}, {{RBX, B}}, fl(0), {R(B, le(0x8001, 2))}, {},
       fl(SF | PF), AF},
      // Binary, register destination: one read, the register takes the result.
      {"addl_mem_to_reg_zero_extends", {0x03, 0x13}, {{RBX, B}, {RDX, 0xffffffff00000001}}, fl(0),
       {R(B, le(0xffffffff, 4))}, {{RDX, 0}}, fl(CF | ZF | AF | PF)},
      {"subb_mem_from_dh", {0x2a, 0x33}, {{RBX, B}, {RDX, 0x0500}}, fl(0), {R(B, {0x03})},
       {{RDX, 0x0200}}, fl(0)},
      {"cmpq_reg_with_mem_keeps_reg", {0x48, 0x3b, 0x13}, {{RBX, B}, {RDX, 1}}, fl(0),
       {R(B, le(2, 8))}, {}, fl(CF | SF | AF | PF)},
      {"orw_mem_to_reg_keeps_upper", {0x66, 0x0b, 0x13}, {{RBX, B}, {RDX, 0x1111111111110000}},
       fl(0), {R(B, le(0x00f0, 2))}, {{RDX, 0x11111111111100f0}}, fl(PF), AF},
      {"adcq_mem_to_r9", {0x4c, 0x13, 0x0b}, {{RBX, B}, {R9, 1}}, fl(CF), {R(B, le(2, 8))},
       {{R9, 4}}, fl(0)},
      {"sbbw_mem_from_ax", {0x66, 0x1b, 0x03}, {{RBX, B}, {RAX, 0x1122334455660000}}, fl(CF),
       {R(B, le(0, 2))}, {{RAX, 0x112233445566ffff}}, fl(CF | SF | AF | PF)},
      {"andb_mem_to_al", {0x22, 0x03}, {{RBX, B}, {RAX, 0x11223344556677f0}}, fl(0), {R(B, {0x3c})},
       {{RAX, 0x1122334455667730}}, fl(PF), AF},
      {"xorl_mem_to_eax", {0x33, 0x03}, {{RBX, B}, {RAX, 0xffffffff80000000}}, fl(0),
       {R(B, le(0x80000001, 4))}, {{RAX, 1}}, fl(0), AF},
      {"subq_mem_from_rbx_base_register", {0x48, 0x2b, 0x1b}, {{RBX, B}}, fl(0), {R(B, le(B, 8))},
       {{RBX, 0}}, fl(ZF | PF)},
      // Unary.
      {"incl_overflow_keeps_cf", {0xff, 0x03}, {{RBX, B}}, fl(CF),
       {R(B, le(0x7fffffff, 4)), W(B, le(0x80000000, 4))}, {}, fl(CF | OF | SF | AF | PF)},
      {"decb_to_zero", {0xfe, 0x0b}, {{RBX, B}}, fl(0), {R(B, {0x01}), W(B, {0x00})}, {},
       fl(ZF | PF)},
      {"decq_wraps_keeps_cf", {0x48, 0xff, 0x0b}, {{RBX, B}}, fl(CF),
       {R(B, le(0, 8)), W(B, le(~uint64_t{0}, 8))}, {}, fl(CF | SF | AF | PF)},
      {"incw_wraps", {0x66, 0xff, 0x03}, {{RBX, B}}, fl(0), {R(B, le(0xffff, 2)), W(B, le(0, 2))},
       {}, fl(ZF | AF | PF)},
      {"notl_keeps_flags", {0xf7, 0x13}, {{RBX, B}}, all,
       {R(B, le(0x0f0f0f0f, 4)), W(B, le(0xf0f0f0f0, 4))}, {}, all},
      {"notb", {0xf6, 0x13}, {{RBX, B}}, fl(0), {R(B, {0x5a}), W(B, {0xa5})}, {}, fl(0)},
      {"notw", {0x66, 0xf7, 0x13}, {{RBX, B}}, fl(0), {R(B, le(0x1234, 2)), W(B, le(0xedcb, 2))},
       {}, fl(0)},
      {"notq", {0x48, 0xf7, 0x13}, {{RBX, B}}, fl(0), {R(B, le(1, 8)), W(B, le(~uint64_t{1}, 8))},
       {}, fl(0)},
      {"negl_one", {0xf7, 0x1b}, {{RBX, B}}, fl(0), {R(B, le(1, 4)), W(B, le(0xffffffff, 4))}, {},
       fl(CF | SF | AF | PF)},
      {"negb_zero_clears_cf", {0xf6, 0x1b}, {{RBX, B}}, fl(CF), {R(B, {0}), W(B, {0})}, {},
       fl(ZF | PF)},
      {"negw_min_overflows", {0x66, 0xf7, 0x1b}, {{RBX, B}}, fl(0),
       {R(B, le(0x8000, 2)), W(B, le(0x8000, 2))}, {}, fl(CF | OF | SF | PF)},
      {"negq", {0x48, 0xf7, 0x1b}, {{RBX, B}}, fl(0),
       {R(B, le(5, 8)), W(B, le(0xfffffffffffffffb, 8))}, {}, fl(CF | SF | AF)},
      // Shifts and rotates: by 1 (D0/D1), by imm8 (C0/C1), by CL (D2/D3).
      {"shll_by_1", {0xd1, 0x23}, {{RBX, B}}, fl(0),
       {R(B, le(0x40000000, 4)), W(B, le(0x80000000, 4))}, {}, fl(OF | SF | PF), AF},
      {"shrb_by_1", {0xd0, 0x2b}, {{RBX, B}}, fl(0), {R(B, {0x81}), W(B, {0x40})}, {}, fl(CF | OF),
       AF},
      {"sarw_by_cl", {0x66, 0xd3, 0x3b}, {{RBX, B}, {RCX, 4}}, fl(0),
       {R(B, le(0x8000, 2)), W(B, le(0xf800, 2))}, {}, fl(SF | PF), OF | AF},
      {"shlq_by_imm8", {0x48, 0xc1, 0x23, 0x04}, {{RBX, B}}, fl(0),
       {R(B, le(0x1000000000000001, 8)), W(B, le(0x10, 8))}, {}, fl(CF), OF | AF},
      {"salq_by_imm8_is_shl", {0x48, 0xc1, 0x23, 0x01}, {{RBX, B}}, fl(0),
       {R(B, le(0xc000000000000000, 8)), W(B, le(0x8000000000000000, 8))}, {}, fl(CF | SF | PF), AF},
      // A masked count of 0 changes neither value nor flags, and still writes.
      {"shll_cl_0_writes_back", {0xd3, 0x23}, {{RBX, B}, {RCX, 0x100}}, all,
       {R(B, le(0x12345678, 4)), W(B, le(0x12345678, 4))}, {}, all},
      {"shll_cl_32_masked_to_0", {0xd3, 0x23}, {{RBX, B}, {RCX, 32}}, fl(CF),
       {R(B, le(0x12345678, 4)), W(B, le(0x12345678, 4))}, {}, fl(CF)},
      {"rorb_imm_32_masked_to_0", {0xc0, 0x0b, 0x20}, {{RBX, B}}, fl(OF),
       {R(B, {0x81}), W(B, {0x81})}, {}, fl(OF)},
      {"shlq_cl_32_not_masked", {0x48, 0xd3, 0x23}, {{RBX, B}, {RCX, 32}}, fl(0),
       {R(B, le(0x00000000ffffffff, 8)), W(B, le(0xffffffff00000000, 8))}, {}, fl(SF | PF), OF | AF},
      {"rolb_by_1_keeps_szp", {0xd0, 0x03}, {{RBX, B}}, fl(ZF), {R(B, {0x81}), W(B, {0x03})}, {},
       fl(ZF | CF | OF)},
      {"rorl_by_cl", {0xd3, 0x0b}, {{RBX, B}, {RCX, 4}}, fl(ZF),
       {R(B, le(0x0000000f, 4)), W(B, le(0xf0000000, 4))}, {}, fl(ZF | CF), OF},
      {"rolb_by_8_sets_cf_from_lsb", {0xc0, 0x03, 0x08}, {{RBX, B}}, fl(0),
       {R(B, {0x81}), W(B, {0x81})}, {}, fl(CF), OF},
      {"rclw_by_1_takes_cf", {0x66, 0xd1, 0x13}, {{RBX, B}}, fl(CF),
       {R(B, le(0x8000, 2)), W(B, le(0x0001, 2))}, {}, fl(CF | OF)},
      {"rcrq_by_cl_1", {0x48, 0xd3, 0x1b}, {{RBX, B}, {RCX, 1}}, fl(0),
       {R(B, le(1, 8)), W(B, le(0, 8))}, {}, fl(CF)},
      {"rcrl_by_imm2_through_cf", {0xc1, 0x1b, 0x02}, {{RBX, B}}, fl(CF),
       {R(B, le(0x00000002, 4)), W(B, le(0x40000000, 4))}, {}, fl(CF), OF},
      {"rclb_by_9_is_a_full_turn", {0xc0, 0x13, 0x09}, {{RBX, B}}, fl(CF),
       {R(B, {0x42}), W(B, {0x42})}, {}, fl(CF), OF},
      // SHLD/SHRD, memory destination.
      {"shldl_imm4", {0x0f, 0xa4, 0x13, 0x04}, {{RBX, B}, {RDX, 0x9abcdef0}}, fl(0),
       {R(B, le(0x12345678, 4)), W(B, le(0x23456789, 4))}, {}, fl(CF), OF | AF},
      {"shrdw_cl8", {0x66, 0x0f, 0xad, 0x13}, {{RBX, B}, {RDX, 0xabcd}, {RCX, 8}}, fl(0),
       {R(B, le(0x1234, 2)), W(B, le(0xcd12, 2))}, {}, fl(SF | PF), OF | AF},
      {"shrdq_imm1", {0x48, 0x0f, 0xac, 0x13, 0x01}, {{RBX, B}, {RDX, 0}}, fl(0),
       {R(B, le(1, 8)), W(B, le(0, 8))}, {}, fl(CF | ZF | PF), AF},
      {"shldl_cl_0_writes_back", {0x0f, 0xa5, 0x13}, {{RBX, B}, {RCX, 0}}, all,
       {R(B, le(0x12345678, 4)), W(B, le(0x12345678, 4))}, {}, all},
      // BT: one read. BTS/BTR/BTC: read then write. Immediate offsets are
      // masked to the width; register offsets select the operand to access.
      {"btl_imm", {0x0f, 0xba, 0x23, 0x03}, {{RBX, B}}, fl(ZF), {R(B, le(0x08, 4))}, {},
       fl(ZF | CF), OF | SF | AF | PF},
      {"btl_imm_35_masked_to_3", {0x0f, 0xba, 0x23, 0x23}, {{RBX, B}}, fl(CF), {R(B, le(0xf7, 4))},
       {}, fl(0), OF | SF | AF | PF},
      {"btw_imm_17_masked_to_1", {0x66, 0x0f, 0xba, 0x23, 0x11}, {{RBX, B}}, fl(0),
       {R(B, le(0x0002, 2))}, {}, fl(CF), OF | SF | AF | PF},
      {"btsq_reg_65_next_qword", {0x48, 0x0f, 0xab, 0x13}, {{RBX, B}, {RDX, 65}}, fl(0),
       {R(B + 8, le(0, 8)), W(B + 8, le(2, 8))}, {}, fl(0), OF | SF | AF | PF},
      {"btrw_reg_minus_1_previous_word", {0x66, 0x0f, 0xb3, 0x13}, {{RBX, B}, {RDX, 0x123400000000ffff}},
       fl(0), {R(B - 2, le(0x8000, 2)), W(B - 2, le(0, 2))}, {}, fl(CF), OF | SF | AF | PF},
      {"btcl_reg_minus_33", {0x0f, 0xbb, 0x13}, {{RBX, B}, {RDX, 0xffffffdf}}, fl(0),
       {R(B - 8, le(0, 4)), W(B - 8, le(0x80000000, 4))}, {}, fl(0), OF | SF | AF | PF},
      {"btq_reg_most_negative", {0x48, 0x0f, 0xa3, 0x13}, {{RBX, B}, {RDX, 0x8000000000000000}},
       fl(0), {R(B - (uint64_t{1} << 60), le(1, 8))}, {}, fl(CF), OF | SF | AF | PF},
      {"btq_reg_large_positive", {0x48, 0x0f, 0xa3, 0x13}, {{RBX, B}, {RDX, 0x1000}}, fl(0),
       {R(B + 0x200, le(0, 8))}, {}, fl(0), OF | SF | AF | PF},
      {"btl_reg_offset_is_32_bits", {0x0f, 0xa3, 0x13}, {{RBX, B}, {RDX, 0xffffffff00000040}}, fl(0),
       {R(B + 8, le(1, 4))}, {}, fl(CF), OF | SF | AF | PF},
      {"btl_reg_addr32_wraps", {0x67, 0x0f, 0xa3, 0x13}, {{RBX, 0x10}, {RDX, 0xffffff00}}, fl(0),
       {R(0xfffffff0, le(0, 4))}, {}, fl(0), OF | SF | AF | PF},
      {"btsl_reg_fs_base_added_after_offset", {0x64, 0x0f, 0xab, 0x13}, {{RBX, 0x10}, {RDX, 32}},
       fl(0), {R(0x7f0000000014, le(0, 4)), W(0x7f0000000014, le(1, 4))}, {}, fl(0),
       OF | SF | AF | PF, 0x7f0000000000},
  };
  // clang-format on
}

class AluKnownAnswer : public ::testing::TestWithParam<Row> {};

TEST_P(AluKnownAnswer, AccessesRegistersFlags) { run_row(GetParam()); }

INSTANTIATE_TEST_SUITE_P(Table, AluKnownAnswer, ::testing::ValuesIn(known_answer_rows()),
                         [](const auto& info) { return sanitize(info.param.name); });

// ---- Addressing forms: the operand's address, as for MOV (emulator_gpr_test.cc).

struct Addressing {
  const char* name;
  Bytes prefixes;    // 64/65/67
  uint8_t rex;       // REX.X/REX.B bits (0x42, 0x41...), or 0
  uint8_t modrm_rm;  // mod and r/m bits of the ModRM byte (reg added per instruction)
  Bytes tail;        // SIB and displacement
  Regs regs;
  uint64_t addr;  // expected address; RIP-relative: displacement from the next instruction
  bool rip_relative = false;
  uint64_t fs_base = 0;
  uint64_t gs_base = 0;
};

const Addressing kAddressing[] = {
    {"base", {}, 0, 0x03, {}, {{Gpr::RBX, 0x10000}}, 0x10000},
    {"sib_index_scale8", {}, 0, 0x04, {0xc8}, {{Gpr::RAX, 0x10000}, {Gpr::RCX, 5}}, 0x10028},
    {"disp8_negative", {}, 0, 0x45, {0xf8}, {{Gpr::RBP, 0x10010}}, 0x10008},
    {"disp32", {}, 0, 0x83, {0x78, 0x56, 0x34, 0x12}, {{Gpr::RBX, 0x10000}}, 0x12355678},
    {"sib_no_base", {}, 0, 0x04, {0x4d, 0x00, 0x10, 0x00, 0x00}, {{Gpr::RCX, 0x10}}, 0x1020},
    {"sib_rsp_base", {}, 0, 0x04, {0x24}, {{Gpr::RSP, 0x7ffc0000}}, 0x7ffc0000},
    {"sib_rex_x_b", {}, 0x43, 0x44, {0x6c, 0x08}, {{Gpr::R12, 0x10000}, {Gpr::R13, 0x100}}, 0x10208},
    {"rip_relative", {}, 0, 0x05, {0x00, 0x01, 0x00, 0x00}, {}, 0x100, true},
    {"rip_relative_negative", {}, 0, 0x05, {0xe0, 0xff, 0xff, 0xff}, {}, static_cast<uint64_t>(-0x20), true},
    {"addr32_truncates_base", {0x67}, 0, 0x03, {}, {{Gpr::RBX, 0xFFFFFFFF00010000}}, 0x10000},
    {"addr32_wraps", {0x67}, 0, 0x40, {0xfc}, {{Gpr::RAX, 0x0000000500000002}}, 0xFFFFFFFE},
    {"fs_override", {0x64}, 0, 0x04, {0x25, 0x10, 0, 0, 0}, {}, 0x7f0000001010, false, 0x7f0000001000},
    {"gs_override", {0x65}, 0, 0x03, {}, {{Gpr::RBX, 0x10}}, 0x7f0000002010, false, 0x7f0000001000, 0x7f0000002000},
    {"es_override_ignored", {0x26}, 0, 0x03, {}, {{Gpr::RBX, 0x10000}}, 0x10000, false, 0x7f0000001000},
};

// An instruction in front of an addressing form: prefixes, REX bits, opcode
// bytes, ModRM.reg, immediate; the accesses it makes at `addr`.
struct AddressedInsn {
  const char* name;
  Bytes prefixes;  // 66, F0
  uint8_t rex;     // REX.W/REX.R bits, or 0
  Bytes opcode;
  uint8_t reg;  // ModRM.reg
  Bytes imm;
  unsigned size;
  Kind kind;  // READ: read only; WRITE: read then write; RMW: one atomic_rmw
};

const AddressedInsn kAddressedInsns[] = {
    {"addl_edx", {}, 0, {0x01}, 2, {}, 4, Kind::WRITE},
    {"cmpq_to_rdx", {}, 0x48, {0x3b}, 2, {}, 8, Kind::READ},
    {"lock_orb_imm", {0xf0}, 0, {0x80}, 1, {0x01}, 1, Kind::RMW},
    {"incw", {0x66}, 0, {0xff}, 0, {}, 2, Kind::WRITE},
    {"shrl_imm", {}, 0, {0xc1}, 5, {0x03}, 4, Kind::WRITE},
    {"btsq_imm", {}, 0x48, {0x0f, 0xba}, 5, {0x05}, 8, Kind::WRITE},
    {"btw_imm", {0x66}, 0, {0x0f, 0xba}, 4, {0x05}, 2, Kind::READ},
    {"testb_imm", {}, 0, {0xf6}, 0, {0x01}, 1, Kind::READ},
};

using AddressingParam = std::tuple<int, int>;
class AluAddressing : public ::testing::TestWithParam<AddressingParam> {};

TEST_P(AluAddressing, AccessesTheOperandsAddress) {
  const Addressing& a = kAddressing[std::get<0>(GetParam())];
  const AddressedInsn& x = kAddressedInsns[std::get<1>(GetParam())];
  Bytes code = cat(x.prefixes, a.prefixes);
  const uint8_t rex = a.rex | x.rex;
  if (rex != 0) code.push_back(rex | 0x40);
  code = cat(code, x.opcode);
  code.push_back(static_cast<uint8_t>(a.modrm_rm | (x.reg << 3)));
  code = cat(cat(code, a.tail), x.imm);
  const uint64_t addr = a.rip_relative ? kRip + code.size() + a.addr : a.addr;

  CpuState cpu = base_cpu();
  for (const auto& [r, v] : a.regs) cpu.reg(r) = v;
  cpu.fs_base = a.fs_base;
  cpu.gs_base = a.gs_base;
  RecordingMemory mem;
  const EmuResult r = emulate(cpu, code.data(), code.size(), mem);
  ASSERT_EQ(r.status, EmuStatus::OK) << to_string(r.status);
  EXPECT_EQ(cpu.rip, kRip + code.size());
  ASSERT_EQ(mem.log.size(), x.kind == Kind::WRITE ? 2u : 1u);
  EXPECT_EQ(mem.log[0].kind, x.kind == Kind::RMW ? Kind::RMW : Kind::READ);
  for (const Access& acc : mem.log) {
    EXPECT_EQ(acc.addr, addr) << std::hex << acc.addr << " want " << addr;
    EXPECT_EQ(acc.size, x.size);
  }
  if (x.kind == Kind::WRITE) {
    EXPECT_EQ(mem.log[1].kind, Kind::WRITE);
  }
}

INSTANTIATE_TEST_SUITE_P(Forms, AluAddressing,
                         ::testing::Combine(::testing::Range(0, static_cast<int>(std::size(kAddressing))),
                                            ::testing::Range(0, static_cast<int>(std::size(kAddressedInsns)))),
                         [](const auto& info) {
                           return std::string(kAddressedInsns[std::get<1>(info.param)].name) + "_" +
                                  kAddressing[std::get<0>(info.param)].name;
                         });

// ---- Faults: registers, flags and RIP stay as they were.

struct FaultCase {
  const char* name;
  Bytes code;
  Regs in;
  uint64_t fault_addr;
  bool writes_only;
  std::vector<Access> expect;
};

class AluFault : public ::testing::TestWithParam<FaultCase> {};

TEST_P(AluFault, LeavesTheStateAlone) {
  const FaultCase& c = GetParam();
  CpuState cpu = base_cpu();
  for (const auto& [r, v] : c.in) cpu.reg(r) = v;
  cpu.rflags = fl(CF | ZF);
  const CpuState before = cpu;
  RecordingMemory mem;
  serve_reads(mem, c.expect);
  mem.fault_at(c.fault_addr, MemFault{SIGSEGV, SEGV_ACCERR, c.fault_addr}, c.writes_only);
  const EmuResult r = emulate(cpu, c.code.data(), c.code.size(), mem);
  EXPECT_EQ(r.status, EmuStatus::FAULT) << to_string(r.status);
  EXPECT_EQ(r.fault.signo, SIGSEGV);
  EXPECT_EQ(r.fault.code, SEGV_ACCERR);
  EXPECT_EQ(r.fault.addr, c.fault_addr);
  EXPECT_EQ(r.insn_len, c.code.size());
  EXPECT_EQ(cpu.rip, kRip);
  EXPECT_EQ(cpu.rflags, before.rflags);
  EXPECT_EQ(mem.log, c.expect);
  expect_gprs(cpu, before, {});
}

INSTANTIATE_TEST_SUITE_P(
    Table, AluFault,
    ::testing::ValuesIn(std::vector<FaultCase>{
        {"addl_read_faults", {0x01, 0x13}, {{Gpr::RBX, B}}, B + 2, false, {RF(B, 4)}},
        {"addl_write_faults_after_the_read",
         {0x01, 0x13},
         {{Gpr::RBX, B}},
         B,
         true,
         {R(B, le(0x7fffffff, 4)), WF(B, 4)}},
        {"add_to_register_read_faults", {0x48, 0x03, 0x13}, {{Gpr::RBX, B}}, B + 7, false, {RF(B, 8)}},
        {"cmpb_read_faults", {0x80, 0x3b, 0x01}, {{Gpr::RBX, B}}, B, false, {RF(B, 1)}},
        {"lock_incl_faults_whole", {0xf0, 0xff, 0x03}, {{Gpr::RBX, B}}, B + 1, false, {RMWF(B, 4)}},
        {"shll_cl0_write_faults", {0xd3, 0x23}, {{Gpr::RBX, B}, {Gpr::RCX, 0}}, B, true, {R(B, le(5, 4)), WF(B, 4)}},
        {"btsq_reg_write_faults",
         {0x48, 0x0f, 0xab, 0x13},
         {{Gpr::RBX, B}, {Gpr::RDX, 64}},
         B + 8,
         true,
         {R(B + 8, le(0, 8)), WF(B + 8, 8)}},
    }),
    [](const auto& info) { return sanitize(info.param.name); });

// ---- Refused: valid instructions outside the table, and #UD forms.

struct RefusedCase {
  const char* name;
  Bytes code;
  EmuStatus status;
};

class AluRefused : public ::testing::TestWithParam<RefusedCase> {};

TEST_P(AluRefused, TouchesNothing) {
  const RefusedCase& c = GetParam();
  CpuState cpu = base_cpu();
  const CpuState before = cpu;
  RecordingMemory mem;
  const EmuResult r = emulate(cpu, c.code.data(), c.code.size(), mem);
  EXPECT_EQ(r.status, c.status) << to_string(r.status);
  EXPECT_TRUE(mem.log.empty());
  EXPECT_EQ(cpu.rip, kRip);
  EXPECT_EQ(cpu.rflags, before.rflags);
  expect_gprs(cpu, before, {});
}

INSTANTIATE_TEST_SUITE_P(Table, AluRefused,
                         ::testing::ValuesIn(std::vector<RefusedCase>{
                             {"add_register_to_register", {0x01, 0xd8}, EmuStatus::UNSUPPORTED},
                             {"shl_register", {0xd1, 0xe0}, EmuStatus::UNSUPPORTED},
                             {"bt_register", {0x0f, 0xa3, 0xc3}, EmuStatus::UNSUPPORTED},
                             {"shl_undocumented_slash6", {0xd1, 0x33}, EmuStatus::UNSUPPORTED},
                             {"test_undocumented_slash1", {0xf6, 0x0b, 0x01}, EmuStatus::UNSUPPORTED},
                             {"imul_m32", {0x0f, 0xaf, 0x03}, EmuStatus::UNSUPPORTED},
                             {"mul_m32", {0xf7, 0x23}, EmuStatus::UNSUPPORTED},
                             {"div_m32", {0xf7, 0x33}, EmuStatus::UNSUPPORTED},
                             {"bsf_m32", {0x0f, 0xbc, 0x03}, EmuStatus::UNSUPPORTED},
                             {"popcnt_m32", {0xf3, 0x0f, 0xb8, 0x03}, EmuStatus::UNSUPPORTED},
                             {"crc32_m8", {0xf2, 0x0f, 0x38, 0xf0, 0x03}, EmuStatus::UNSUPPORTED},
                             {"andn_vex", {0xc4, 0xe2, 0x78, 0xf2, 0x03}, EmuStatus::UNSUPPORTED},
                             {"lock_cmp_is_ud", {0xf0, 0x39, 0x03}, EmuStatus::DECODE_ERROR},
                             {"lock_test_is_ud", {0xf0, 0x85, 0x03}, EmuStatus::DECODE_ERROR},
                             {"lock_bt_is_ud", {0xf0, 0x0f, 0xa3, 0x03}, EmuStatus::DECODE_ERROR},
                             {"lock_shl_is_ud", {0xf0, 0xd1, 0x23}, EmuStatus::DECODE_ERROR},
                             {"lock_add_to_register_is_ud", {0xf0, 0x03, 0x03}, EmuStatus::DECODE_ERROR},
                         }),
                         [](const auto& info) { return sanitize(info.param.name); });

}  // namespace
}  // namespace mmiotrace::emu::alu_test
