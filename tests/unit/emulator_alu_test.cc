// emu::emulate for the ALU rows (docs/emulated-instructions.md, "ALU"): ADD
// OR ADC SBB AND SUB XOR CMP TEST, INC DEC NOT NEG, shifts and rotates,
// SHLD/SHRD, BT/BTS/BTR/BTC. Three kinds of checks:
//   - known-answer rows, flags worked out by hand from the SDM;
//   - a matrix over every form and width against a reference model written
//     here from the SDM's Operation sections (flags the SDM leaves undefined
//     are not compared);
//   - accesses: exactly one read (CMP, TEST, BT, register destinations) or one
//     read then one write, of the operand's width, at every addressing form;
//     faults leave registers and flags alone.
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

// ---- Reference model (SDM Vol. 2, each instruction's "Operation" and "Flags Affected").

enum class Op : uint8_t {
  ADD,
  OR,
  ADC,
  SBB,
  AND,
  SUB,
  XOR,
  CMP,
  TEST,
  INC,
  DEC,
  NOT,
  NEG,
  ROL,
  ROR,
  RCL,
  RCR,
  SHL,
  SHR,
  SAR,
  SHLD,
  SHRD,
  BT,
  BTS,
  BTR,
  BTC,
};

struct Model {
  uint64_t value = 0;      // the destination after
  uint64_t flags = 0;      // RFLAGS after
  uint64_t undefined = 0;  // flags the SDM leaves undefined
  bool value_defined = true;
};

uint64_t width_mask(unsigned bits) { return bits == 64 ? ~uint64_t{0} : (uint64_t{1} << bits) - 1; }
uint64_t msb(uint64_t v, unsigned bits) { return (v >> (bits - 1)) & 1; }
uint64_t sext(uint64_t v, unsigned bits) {
  return bits == 64 ? v : ((v & width_mask(bits)) ^ (uint64_t{1} << (bits - 1))) - (uint64_t{1} << (bits - 1));
}

// SF, ZF, PF of a result.
uint64_t szp(uint64_t r, unsigned bits) {
  uint64_t f = 0;
  if (msb(r, bits)) f |= SF;
  if ((r & width_mask(bits)) == 0) f |= ZF;
  if (__builtin_popcountll(r & 0xff) % 2 == 0) f |= PF;
  return f;
}

uint64_t set_arith(uint64_t in, uint64_t arith) { return (in & ~kArith) | arith; }

Model add_model(uint64_t a, uint64_t b, unsigned c, unsigned bits, uint64_t in) {
  const uint64_t m = width_mask(bits);
  const unsigned __int128 wide = static_cast<unsigned __int128>(a) + b + c;
  const uint64_t r = static_cast<uint64_t>(wide) & m;
  uint64_t f = szp(r, bits);
  if (wide > m) f |= CF;
  if (msb((a ^ r) & (b ^ r), bits)) f |= OF;
  if (((a ^ b ^ r) >> 4) & 1) f |= AF;
  return {r, set_arith(in, f)};
}

Model sub_model(uint64_t a, uint64_t b, unsigned c, unsigned bits, uint64_t in) {
  const uint64_t m = width_mask(bits);
  const uint64_t r = (a - b - c) & m;
  uint64_t f = szp(r, bits);
  if (static_cast<unsigned __int128>(a) < static_cast<unsigned __int128>(b) + c) f |= CF;
  if (msb((a ^ b) & (a ^ r), bits)) f |= OF;
  if (((a ^ b ^ r) >> 4) & 1) f |= AF;
  return {r, set_arith(in, f)};
}

Model logic_model(uint64_t r, unsigned bits, uint64_t in) { return {r, set_arith(in, szp(r, bits)), AF}; }

Model shift_model(Op op, uint64_t a, unsigned count, unsigned bits, uint64_t in) {
  const uint64_t m = width_mask(bits);
  const unsigned mc = count & (bits == 64 ? 63 : 31);
  if (mc == 0) return {a, in};
  uint64_t r = 0;
  uint64_t cf = 0;
  uint64_t of = 0;
  uint64_t undefined = AF | (mc == 1 ? 0 : OF);
  switch (op) {
    case Op::SHL:
      r = mc >= bits ? 0 : (a << mc) & m;
      cf = mc > bits ? 0 : (a >> (bits - mc)) & 1;
      of = msb(r, bits) ^ cf;
      if (mc >= bits) undefined |= CF;  // "undefined for SHL and SHR [...] count >= size"
      break;
    case Op::SHR:
      r = mc >= bits ? 0 : a >> mc;
      cf = mc > bits ? 0 : (a >> (mc - 1)) & 1;
      of = msb(a, bits);
      if (mc >= bits) undefined |= CF;
      break;
    default: {  // SAR
      const int64_t s = static_cast<int64_t>(sext(a, bits));
      r = static_cast<uint64_t>(s >> (mc >= bits ? bits - 1 : mc)) & m;
      cf = static_cast<uint64_t>(s >> (mc > bits ? bits - 1 : mc - 1)) & 1;
      of = 0;
      break;
    }
  }
  uint64_t f = szp(r, bits) | (cf ? CF : 0) | (of ? OF : 0);
  return {r, set_arith(in, f), undefined};
}

Model rotate_model(Op op, uint64_t a, unsigned count, unsigned bits, uint64_t in) {
  const uint64_t m = width_mask(bits);
  const unsigned mc = count & (bits == 64 ? 63 : 31);
  uint64_t cf = in & CF ? 1 : 0;
  uint64_t r = a & m;
  uint64_t of = 0;
  if (op == Op::ROL || op == Op::ROR) {
    if (mc == 0) return {a, in};
    const unsigned t = mc % bits;
    if (t != 0) r = op == Op::ROL ? ((r << t) | (r >> (bits - t))) & m : ((r >> t) | (r << (bits - t))) & m;
    cf = op == Op::ROL ? (r & 1) : msb(r, bits);
    of = op == Op::ROL ? msb(r, bits) ^ cf : msb(r, bits) ^ msb(r, bits - 1);
  } else {
    const unsigned t = bits < 32 ? mc % (bits + 1) : mc;
    if (op == Op::RCR && mc == 1) of = msb(r, bits) ^ cf;  // before the rotation
    for (unsigned i = 0; i < t; ++i) {
      if (op == Op::RCL) {
        const uint64_t out = msb(r, bits);
        r = ((r << 1) | cf) & m;
        cf = out;
      } else {
        const uint64_t out = r & 1;
        r = (r >> 1) | (cf << (bits - 1));
        cf = out;
      }
    }
    if (op == Op::RCL) of = msb(r, bits) ^ cf;
  }
  // Rotates change CF and OF only; OF is defined for a masked count of 1.
  uint64_t f = (in & ~(CF | OF)) | (cf ? CF : 0) | (of ? OF : 0);
  return {r, f, mc == 1 ? uint64_t{0} : OF};
}

Model double_shift_model(Op op, uint64_t a, uint64_t s, unsigned count, unsigned bits, uint64_t in) {
  const uint64_t m = width_mask(bits);
  const unsigned mc = count & (bits == 64 ? 63 : 31);
  if (mc == 0) return {a, in};
  if (mc > bits) return {a, in, kArith, false};  // "the result is undefined", flags too
  uint64_t r = 0;
  uint64_t cf = 0;
  if (op == Op::SHLD) {
    r = ((a << mc) | (mc == bits ? s : (s & m) >> (bits - mc))) & m;
    if (mc == bits) r = s & m;
    cf = (a >> (bits - mc)) & 1;
  } else {
    r = ((mc == bits ? 0 : a >> mc) | ((s << (bits - mc)) & m)) & m;
    if (mc == bits) r = s & m;
    cf = (a >> (mc - 1)) & 1;
  }
  uint64_t f = szp(r, bits) | (cf ? CF : 0) | (msb(r ^ a, bits) ? OF : 0);
  return {r, set_arith(in, f), AF | (mc == 1 ? 0 : OF)};
}

Model bit_model(Op op, uint64_t a, uint64_t offset, unsigned bits, uint64_t in) {
  const uint64_t bit = uint64_t{1} << (offset & (bits - 1));
  uint64_t r = a;
  if (op == Op::BTS) r = a | bit;
  if (op == Op::BTR) r = a & ~bit;
  if (op == Op::BTC) r = a ^ bit;
  const uint64_t f = (in & ~CF) | ((a & bit) ? CF : 0);  // ZF unaffected
  return {r, f, OF | SF | AF | PF};
}

Model model(Op op, uint64_t a, uint64_t s, unsigned count, unsigned bits, uint64_t in) {
  const uint64_t m = width_mask(bits);
  a &= m;
  s &= m;
  const unsigned c = (in & CF) ? 1 : 0;
  switch (op) {
    case Op::ADD:
      return add_model(a, s, 0, bits, in);
    case Op::ADC:
      return add_model(a, s, c, bits, in);
    case Op::SUB:
    case Op::CMP:
      return sub_model(a, s, 0, bits, in);
    case Op::SBB:
      return sub_model(a, s, c, bits, in);
    case Op::AND:
    case Op::TEST:
      return logic_model(a & s, bits, in);
    case Op::OR:
      return logic_model(a | s, bits, in);
    case Op::XOR:
      return logic_model(a ^ s, bits, in);
    case Op::INC: {
      Model r = add_model(a, 1, 0, bits, in);
      r.flags = (r.flags & ~CF) | (in & CF);
      return r;
    }
    case Op::DEC: {
      Model r = sub_model(a, 1, 0, bits, in);
      r.flags = (r.flags & ~CF) | (in & CF);
      return r;
    }
    case Op::NOT:
      return {~a & m, in};
    case Op::NEG:
      return sub_model(0, a, 0, bits, in);
    case Op::SHL:
    case Op::SHR:
    case Op::SAR:
      return shift_model(op, a, count, bits, in);
    case Op::ROL:
    case Op::ROR:
    case Op::RCL:
    case Op::RCR:
      return rotate_model(op, a, count, bits, in);
    case Op::SHLD:
    case Op::SHRD:
      return double_shift_model(op, a, s, count, bits, in);
    case Op::BT:
    case Op::BTS:
    case Op::BTR:
    case Op::BTC:
      return bit_model(op, a, s, bits, in);
  }
  return {};
}

// TEST leaves the destination alone, as do CMP and BT.
bool writes_memory(Op op) { return op != Op::CMP && op != Op::TEST && op != Op::BT; }

// ---- The matrix: every encoding form at every width, against the model.

enum class FormKind : uint8_t {
  MEM_REG,   // op m, r         (00-39 even/odd /r, 84/85, 0F A3.., SHLD/SHRD /r)
  REG_MEM,   // op r, m         (02/03 ... 3A/3B)
  MEM_IMM,   // op m, imm8/16/32 (80/81 /n, F6/F7 /0)
  MEM_IMM8,  // op m, imm8 sign-extended (83 /n)
  UNARY,     // FE/FF /0 /1, F6/F7 /2 /3
  BY_ONE,    // D0/D1 /n
  BY_IMM,    // C0/C1 /n ib; SHLD/SHRD ib; BT* 0F BA /n ib
  BY_CL,     // D2/D3 /n; SHLD/SHRD CL
};

struct MatrixForm {
  const char* name;
  Op op;
  FormKind kind;
  uint8_t opcode;      // 8-bit form (or the only form for 0F opcodes); the others are opcode + 1
  uint8_t ext;         // ModRM.reg for /n forms
  bool two_byte;       // 0F map
  bool has_byte_form;  // an 8-bit encoding exists
};

const MatrixForm kMatrix[] = {
    {"add_mr", Op::ADD, FormKind::MEM_REG, 0x00, 0, false, true},
    {"or_mr", Op::OR, FormKind::MEM_REG, 0x08, 0, false, true},
    {"adc_mr", Op::ADC, FormKind::MEM_REG, 0x10, 0, false, true},
    {"sbb_mr", Op::SBB, FormKind::MEM_REG, 0x18, 0, false, true},
    {"and_mr", Op::AND, FormKind::MEM_REG, 0x20, 0, false, true},
    {"sub_mr", Op::SUB, FormKind::MEM_REG, 0x28, 0, false, true},
    {"xor_mr", Op::XOR, FormKind::MEM_REG, 0x30, 0, false, true},
    {"cmp_mr", Op::CMP, FormKind::MEM_REG, 0x38, 0, false, true},
    {"test_mr", Op::TEST, FormKind::MEM_REG, 0x84, 0, false, true},
    {"add_rm", Op::ADD, FormKind::REG_MEM, 0x02, 0, false, true},
    {"or_rm", Op::OR, FormKind::REG_MEM, 0x0a, 0, false, true},
    {"adc_rm", Op::ADC, FormKind::REG_MEM, 0x12, 0, false, true},
    {"sbb_rm", Op::SBB, FormKind::REG_MEM, 0x1a, 0, false, true},
    {"and_rm", Op::AND, FormKind::REG_MEM, 0x22, 0, false, true},
    {"sub_rm", Op::SUB, FormKind::REG_MEM, 0x2a, 0, false, true},
    {"xor_rm", Op::XOR, FormKind::REG_MEM, 0x32, 0, false, true},
    {"cmp_rm", Op::CMP, FormKind::REG_MEM, 0x3a, 0, false, true},
    {"add_mi", Op::ADD, FormKind::MEM_IMM, 0x80, 0, false, true},
    {"or_mi", Op::OR, FormKind::MEM_IMM, 0x80, 1, false, true},
    {"adc_mi", Op::ADC, FormKind::MEM_IMM, 0x80, 2, false, true},
    {"sbb_mi", Op::SBB, FormKind::MEM_IMM, 0x80, 3, false, true},
    {"and_mi", Op::AND, FormKind::MEM_IMM, 0x80, 4, false, true},
    {"sub_mi", Op::SUB, FormKind::MEM_IMM, 0x80, 5, false, true},
    {"xor_mi", Op::XOR, FormKind::MEM_IMM, 0x80, 6, false, true},
    {"cmp_mi", Op::CMP, FormKind::MEM_IMM, 0x80, 7, false, true},
    {"test_mi", Op::TEST, FormKind::MEM_IMM, 0xf6, 0, false, true},
    {"add_mi8", Op::ADD, FormKind::MEM_IMM8, 0x83, 0, false, false},
    {"or_mi8", Op::OR, FormKind::MEM_IMM8, 0x83, 1, false, false},
    {"adc_mi8", Op::ADC, FormKind::MEM_IMM8, 0x83, 2, false, false},
    {"sbb_mi8", Op::SBB, FormKind::MEM_IMM8, 0x83, 3, false, false},
    {"and_mi8", Op::AND, FormKind::MEM_IMM8, 0x83, 4, false, false},
    {"sub_mi8", Op::SUB, FormKind::MEM_IMM8, 0x83, 5, false, false},
    {"xor_mi8", Op::XOR, FormKind::MEM_IMM8, 0x83, 6, false, false},
    {"cmp_mi8", Op::CMP, FormKind::MEM_IMM8, 0x83, 7, false, false},
    {"inc", Op::INC, FormKind::UNARY, 0xfe, 0, false, true},
    {"dec", Op::DEC, FormKind::UNARY, 0xfe, 1, false, true},
    {"not", Op::NOT, FormKind::UNARY, 0xf6, 2, false, true},
    {"neg", Op::NEG, FormKind::UNARY, 0xf6, 3, false, true},
    {"rol_1", Op::ROL, FormKind::BY_ONE, 0xd0, 0, false, true},
    {"ror_1", Op::ROR, FormKind::BY_ONE, 0xd0, 1, false, true},
    {"rcl_1", Op::RCL, FormKind::BY_ONE, 0xd0, 2, false, true},
    {"rcr_1", Op::RCR, FormKind::BY_ONE, 0xd0, 3, false, true},
    {"shl_1", Op::SHL, FormKind::BY_ONE, 0xd0, 4, false, true},
    {"shr_1", Op::SHR, FormKind::BY_ONE, 0xd0, 5, false, true},
    {"sar_1", Op::SAR, FormKind::BY_ONE, 0xd0, 7, false, true},
    {"rol_imm", Op::ROL, FormKind::BY_IMM, 0xc0, 0, false, true},
    {"ror_imm", Op::ROR, FormKind::BY_IMM, 0xc0, 1, false, true},
    {"rcl_imm", Op::RCL, FormKind::BY_IMM, 0xc0, 2, false, true},
    {"rcr_imm", Op::RCR, FormKind::BY_IMM, 0xc0, 3, false, true},
    {"shl_imm", Op::SHL, FormKind::BY_IMM, 0xc0, 4, false, true},
    {"shr_imm", Op::SHR, FormKind::BY_IMM, 0xc0, 5, false, true},
    {"sar_imm", Op::SAR, FormKind::BY_IMM, 0xc0, 7, false, true},
    {"rol_cl", Op::ROL, FormKind::BY_CL, 0xd2, 0, false, true},
    {"ror_cl", Op::ROR, FormKind::BY_CL, 0xd2, 1, false, true},
    {"rcl_cl", Op::RCL, FormKind::BY_CL, 0xd2, 2, false, true},
    {"rcr_cl", Op::RCR, FormKind::BY_CL, 0xd2, 3, false, true},
    {"shl_cl", Op::SHL, FormKind::BY_CL, 0xd2, 4, false, true},
    {"shr_cl", Op::SHR, FormKind::BY_CL, 0xd2, 5, false, true},
    {"sar_cl", Op::SAR, FormKind::BY_CL, 0xd2, 7, false, true},
    {"shld_imm", Op::SHLD, FormKind::BY_IMM, 0xa4, 0, true, false},
    {"shld_cl", Op::SHLD, FormKind::BY_CL, 0xa5, 0, true, false},
    {"shrd_imm", Op::SHRD, FormKind::BY_IMM, 0xac, 0, true, false},
    {"shrd_cl", Op::SHRD, FormKind::BY_CL, 0xad, 0, true, false},
    {"bt_imm", Op::BT, FormKind::BY_IMM, 0xba, 4, true, false},
    {"bts_imm", Op::BTS, FormKind::BY_IMM, 0xba, 5, true, false},
    {"btr_imm", Op::BTR, FormKind::BY_IMM, 0xba, 6, true, false},
    {"btc_imm", Op::BTC, FormKind::BY_IMM, 0xba, 7, true, false},
    {"bt_reg", Op::BT, FormKind::MEM_REG, 0xa3, 0, true, false},
    {"bts_reg", Op::BTS, FormKind::MEM_REG, 0xab, 0, true, false},
    {"btr_reg", Op::BTR, FormKind::MEM_REG, 0xb3, 0, true, false},
    {"btc_reg", Op::BTC, FormKind::MEM_REG, 0xbb, 0, true, false},
};

bool is_bit_op(Op op) { return op == Op::BT || op == Op::BTS || op == Op::BTR || op == Op::BTC; }
bool is_double_shift(Op op) { return op == Op::SHLD || op == Op::SHRD; }

// The instruction bytes of form `f` at width `bits` with memory operand (%rbx),
// register operand RDX/EDX/DX/DL and immediate `imm`.
Bytes encode(const MatrixForm& f, unsigned bits, uint64_t imm) {
  Bytes code;
  if (bits == 16) code.push_back(0x66);
  if (bits == 64) code.push_back(0x48);
  if (f.two_byte) code.push_back(0x0f);
  // 8-bit forms use the listed opcode; the others add 1 (except 83, 0F maps).
  const bool plus_one = !f.two_byte && f.has_byte_form && bits != 8;
  code.push_back(static_cast<uint8_t>(f.opcode + (plus_one ? 1 : 0)));
  const bool reg_field_is_rdx = f.kind == FormKind::MEM_REG || f.kind == FormKind::REG_MEM || is_double_shift(f.op);
  code.push_back(static_cast<uint8_t>(((reg_field_is_rdx ? 2 : f.ext) << 3) | 3));
  unsigned imm_bytes = 0;
  if (f.kind == FormKind::MEM_IMM) imm_bytes = bits == 8 ? 1 : bits == 16 ? 2 : 4;
  if (f.kind == FormKind::MEM_IMM8 || f.kind == FormKind::BY_IMM) imm_bytes = 1;
  for (unsigned i = 0; i < imm_bytes; ++i) code.push_back(static_cast<uint8_t>(imm >> (8 * i)));
  return code;
}

using MatrixParam = std::tuple<int, unsigned>;  // index in kMatrix, width in bits

class AluMatrix : public ::testing::TestWithParam<MatrixParam> {};

std::vector<uint64_t> interesting(unsigned bits) {
  const uint64_t m = width_mask(bits);
  const uint64_t top = uint64_t{1} << (bits - 1);
  return {0, 1, 2, top - 1, top, top + 1, m, m - 1, 0x5a5a5a5a5a5a5a5a & m, 0x8421c3e7f00f1248 & m, 0x0f & m, 0x10 & m};
}

TEST_P(AluMatrix, AgreesWithTheModel) {
  const auto [index, bits] = GetParam();
  const MatrixForm& f = kMatrix[index];
  const unsigned bytes = bits / 8;
  const uint64_t m = width_mask(bits);
  const std::vector<uint64_t> values = interesting(bits);
  std::vector<uint64_t> sources = values;
  const bool counted = f.kind == FormKind::BY_ONE || f.kind == FormKind::BY_IMM || f.kind == FormKind::BY_CL;
  if (counted && !is_double_shift(f.op) && !is_bit_op(f.op)) sources = {0};
  std::vector<unsigned> counts = {0};
  if (f.kind == FormKind::BY_ONE) counts = {1};
  if (counted && f.kind != FormKind::BY_ONE) {
    counts = {0, 1, 2, 3, 4, 7, 8, 9, 15, 16, 17, 18, 31, 32, 33, 63, 64, 65, 127, 255};
  }
  if (f.kind == FormKind::MEM_IMM || f.kind == FormKind::MEM_IMM8) {
    // Immediates: what the encoding can hold.
    sources = {0, 1, 0x7f, 0x80, 0xff, 0x1234, 0x8000, 0x7fffffff, 0x80000000, 0xdeadbeef};
  }
  if (is_bit_op(f.op) && f.kind == FormKind::MEM_REG) {
    sources = {0, 1, bits - 1, bits, bits + 3, 5 * bits + 7, m, m - bits, (m >> 1) + 1, m >> 1};
  }
  const uint64_t flag_sets[] = {fl(0), fl(CF), fl(kArith), fl(ZF | OF)};
  for (uint64_t a : values) {
    for (uint64_t s : sources) {
      for (unsigned count : counts) {
        for (uint64_t flags_in : flag_sets) {
          // The operand the instruction sees: immediates are sign-extended to the width.
          uint64_t src = s & m;
          uint64_t imm = s;
          if (f.kind == FormKind::MEM_IMM) src = (bits == 64 ? sext(s & 0xffffffff, 32) : s) & m;
          if (f.kind == FormKind::MEM_IMM8) src = sext(s & 0xff, 8) & m;
          if (f.kind == FormKind::BY_IMM) imm = count;
          if (is_bit_op(f.op) && f.kind == FormKind::BY_IMM) src = count & 0xff;
          const Model want = model(f.op, a, src, count, bits, flags_in);
          const Bytes code = encode(f, bits, imm);
          // The operand accessed: BT* with a register offset moves by whole operands.
          uint64_t addr = B;
          if (is_bit_op(f.op) && f.kind == FormKind::MEM_REG) {
            addr = B + static_cast<uint64_t>((static_cast<int64_t>(sext(src, bits)) >> (bits == 16   ? 4
                                                                                        : bits == 32 ? 5
                                                                                                     : 6)) *
                                             static_cast<int64_t>(bytes));
          }
          SCOPED_TRACE(testing::Message() << std::hex << "a=0x" << a << " src=0x" << src << " count=" << std::dec
                                          << count << " flags=0x" << std::hex << flags_in);
          CpuState cpu = base_cpu();
          cpu.reg(Gpr::RBX) = B;
          cpu.reg(Gpr::RDX) = 0xabababababababab & ~m;
          cpu.reg(Gpr::RDX) |=
              (f.kind == FormKind::MEM_REG || f.kind == FormKind::REG_MEM || is_double_shift(f.op)) ? src : 0;
          cpu.reg(Gpr::RCX) = 0xcdcdcdcdcdcdcd00 | (count & 0xff);
          cpu.rflags = flags_in;
          const CpuState before = cpu;
          RecordingMemory mem;
          mem.put(addr, le(a, bytes));
          const EmuResult r = emulate(cpu, code.data(), code.size(), mem);
          ASSERT_EQ(r.status, EmuStatus::OK) << to_string(r.status);
          ASSERT_EQ(cpu.rip, kRip + code.size());
          ASSERT_GE(mem.log.size(), 1u);
          EXPECT_EQ(mem.log[0], R(addr, le(a, bytes)));
          const bool writes = writes_memory(f.op) && f.kind != FormKind::REG_MEM;
          ASSERT_EQ(mem.log.size(), writes ? 2u : 1u);
          uint64_t result = 0;
          if (writes) {
            ASSERT_EQ(mem.log[1].kind, Kind::WRITE);
            ASSERT_EQ(mem.log[1].addr, addr);
            ASSERT_EQ(mem.log[1].size, bytes);
            for (unsigned i = 0; i < bytes; ++i) result |= uint64_t{mem.log[1].bytes[i]} << (8 * i);
          }
          Regs changed;
          if (f.kind == FormKind::REG_MEM) {
            // op r, m: the register is the left operand and takes the result
            // (a 32-bit one zero-extended); CMP writes nothing.
            const Model reg_want = model(f.op, src, a, 0, bits, flags_in);
            if (f.op != Op::CMP) {
              const uint64_t keep = bits >= 32 ? 0 : before.reg(Gpr::RDX) & ~m;
              changed.push_back({Gpr::RDX, keep | reg_want.value});
            }
            expect_gprs(cpu, before, changed);
            expect_flags(cpu.rflags, reg_want.flags, reg_want.undefined);
            continue;
          }
          expect_gprs(cpu, before, changed);
          if (writes && want.value_defined) {
            EXPECT_EQ(result, want.value) << std::hex << result;
          }
          expect_flags(cpu.rflags, want.flags, want.undefined);
          if (::testing::Test::HasFailure()) return;  // one failing case is enough to read
        }
      }
    }
  }
}

std::vector<MatrixParam> matrix_params() {
  // A table, one case per line.
  // clang-format off
  std::vector<MatrixParam> out;
  for (int i = 0; i < static_cast<int>(std::size(kMatrix)); ++i) {
    for (unsigned bits : {8u, 16u, 32u, 64u}) {
      const MatrixForm& f = kMatrix[i];
      const bool no_byte_form = f.two_byte || f.kind == FormKind::MEM_IMM8;
      if (bits == 8 && no_byte_form) continue;
      out.push_back({i, bits});
    }
  }
  return out;
  // clang-format on
}

INSTANTIATE_TEST_SUITE_P(AllForms, AluMatrix, ::testing::ValuesIn(matrix_params()), [](const auto& info) {
  return std::string(kMatrix[std::get<0>(info.param)].name) + "_" + std::to_string(std::get<1>(info.param));
});

// ---- Addressing forms: the operand's address, as for MOV (emulator_test.cc).

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
