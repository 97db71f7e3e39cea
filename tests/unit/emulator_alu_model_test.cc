// emu::emulate for the ALU rows against a reference model written here from
// the SDM's Operation sections (docs/emulated-instructions.md, "ALU"): every
// encoding form at every width, over interesting values and input flags; the
// flags the SDM leaves undefined are not compared. Known answers, accesses,
// faults and refusals: emulator_alu_test.cc.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "alu_test_support.h"
#include "emu/emulator.h"

namespace mmiotrace::emu::alu_test {
namespace {

constexpr uint64_t CF = kFlagCF, PF = kFlagPF, AF = kFlagAF, ZF = kFlagZF, SF = kFlagSF, OF = kFlagOF;
constexpr uint64_t B = 0x10000;  // RBX, the base of (%rbx)

uint64_t fl(uint64_t bits) { return kBaseFlags | bits; }

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

}  // namespace
}  // namespace mmiotrace::emu::alu_test
