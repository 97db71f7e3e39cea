// Async-signal-safe: runs in the traced program's signal handler; no allocation, no locks.
//
// The closed table of emulated instructions, the one place that says what is
// emulated and by which family (docs/emulated-instructions.md, whose section
// numbers the comments below give), and the lookup of a decoded instruction's
// row. An instruction is in the table when a row covers its mnemonic,
// encoding, opcode map, opcode and ModRM.reg, and its prefixes and memory
// operand width are ones the row accepts; the family then checks the operands
// it needs (instruction_table.h) before any access.
#include "emu/instruction_table.h"

#include <Zydis/Zydis.h>

#include <array>
#include <cstddef>

#include "common/handler_rules.h"

MT_HANDLER_RULES

namespace mmiotrace::emu::detail {
namespace {

using A = AccessShape;

// ---- Row makers, one per family: each fills the columns its family reads.

constexpr Row base(ZydisMnemonic m, Family family, uint8_t encodings, AccessShape access, uint8_t w) {
  Row r{m};
  r.family = family;
  r.encodings = encodings;
  r.access = access;
  r.widths = w;
  return r;
}

// Restricts a row to an opcode map, an opcode range in it, and a ModRM.reg.
constexpr Row at(Row r, ZydisOpcodeMap map, uint8_t lo, uint8_t hi, int8_t reg = kAnyReg) {
  r.map = static_cast<int8_t>(map);
  r.opcode_lo = lo;
  r.opcode_hi = hi;
  r.modrm_reg = reg;
  return r;
}

constexpr Row gpr(ZydisMnemonic m, AccessShape access, uint8_t w, GprKind kind = GprKind::PLAIN) {
  Row r = base(m, Family::GPR_MOVE, kLegacy, access, w);
  r.kind = static_cast<uint8_t>(kind);
  return r;
}

// SETcc: 0F 90+cc; CMOVcc: 0F 40+cc. The condition is the opcode's low nibble.
constexpr Row setcc(ZydisMnemonic m) {
  return at(base(m, Family::SETCC, kLegacy, A::STORE, widths(1)), ZYDIS_OPCODE_MAP_0F, 0x90, 0x9F);
}
constexpr Row cmovcc(ZydisMnemonic m) {
  return at(base(m, Family::CMOVCC, kLegacy, A::LOAD, widths(2, 4, 8)), ZYDIS_OPCODE_MAP_0F, 0x40, 0x4F);
}

// String instructions go by opcode: Zydis calls both MOVS dword (A5) and SSE2's
// scalar move (F2 0F 10) MOVSD, and both CMPS dword (A7) and SSE2's compare CMPSD.
constexpr Row string(ZydisMnemonic m, StringOp op, uint8_t opcode, unsigned w) {
  const AccessShape access = op == StringOp::MOVS ? A::COPY : op == StringOp::STOS ? A::STORE : A::LOAD;
  Row r = at(base(m, Family::STRING, kLegacy, access, widths(w)), ZYDIS_OPCODE_MAP_DEFAULT, opcode, opcode + 1);
  r.rep = Rep::REP;
  r.kind = static_cast<uint8_t>(op);
  return r;
}
constexpr Row string_compare(ZydisMnemonic m, uint8_t opcode, unsigned w) {
  Row r =
      at(base(m, Family::STRING_COMPARE, kLegacy, A::LOAD, widths(w)), ZYDIS_OPCODE_MAP_DEFAULT, opcode, opcode + 1);
  r.rep = Rep::REPE_REPNE;
  return r;
}

constexpr Row alu(ZydisMnemonic m, AluShape shape, NativeOp op, NativeOp op_reg, AccessShape access, Lock lock,
                  uint8_t w = widths(1, 2, 4, 8)) {
  Row r = base(m, Family::ALU, kLegacy, access, w);
  r.kind = static_cast<uint8_t>(shape);
  r.op = op;
  r.op_reg = op_reg;
  r.lock = lock;
  return r;
}
// The read-modify-write forms that take LOCK, and the ones that read only.
constexpr Row alu_rmw(ZydisMnemonic m, AluShape shape, NativeOp op, NativeOp op_reg, uint8_t w = widths(1, 2, 4, 8)) {
  return alu(m, shape, op, op_reg, A::READ_MODIFY_WRITE, Lock::ALLOWED, w);
}
constexpr Row shift(ZydisMnemonic m, NativeOp op, NativeOp by_one) {
  return alu(m, AluShape::SHIFT, op, by_one, A::READ_MODIFY_WRITE, Lock::NEVER);
}

constexpr Row cmpxchg_wide(ZydisMnemonic m, unsigned w, Align align) {
  Row r = base(m, Family::CMPXCHG_WIDE, kLegacy, A::READ_MODIFY_WRITE, widths(w));
  r.lock = Lock::ALLOWED;
  r.align = align;
  return r;
}

constexpr uint8_t kAvx = kVex | kEvex;

// Loads and stores of a whole vector; `elem`: the opmask's element bytes when maskable.
constexpr Row vector(ZydisMnemonic m, uint8_t encodings, uint8_t w, Align align, uint8_t elem = 0) {
  Row r = base(m, Family::VECTOR_MOVE, encodings, A::STORE, w);
  r.align = align;
  r.elem = elem;
  r.maskable = elem != 0;
  return r;
}

constexpr Row element(ZydisMnemonic m, uint8_t encodings, ElementKind kind, uint8_t w, uint8_t elem, bool maskable,
                      Align align = Align::NONE) {
  Row r = base(m, Family::VECTOR_ELEMENT, encodings, A::STORE, w);
  r.kind = static_cast<uint8_t>(kind);
  r.elem = elem;
  r.maskable = maskable;
  r.align = align;
  return r;
}

constexpr Row prefetch(ZydisMnemonic m) { return base(m, Family::PREFETCH, kAnyEncoding, A::NONE, kAnyWidth); }

constexpr uint8_t kGprWidths = widths(1, 2, 4, 8);
constexpr uint8_t kVecWidths = widths(16, 32, 64);
constexpr uint8_t kVexWidths = widths(16, 32);  // VEX-only mnemonics (EVEX has its own names)

// ---- The table. `access` is the access when the memory operand is the
// instruction's first operand (a destination); a memory source is a LOAD.
// clang-format off
constexpr Row kTable[] = {
    // 1, 2. MOV, extending loads, MOVNTI; 8. MOVBE (emulate_gpr.cc)
    at(gpr(ZYDIS_MNEMONIC_MOV, A::STORE, kGprWidths), ZYDIS_OPCODE_MAP_DEFAULT, 0x88, 0x8B),  // MOV r/m, r and r, r/m
    at(gpr(ZYDIS_MNEMONIC_MOV, A::STORE, kGprWidths), ZYDIS_OPCODE_MAP_DEFAULT, 0xA0, 0xA3),  // MOV with moffs
    at(gpr(ZYDIS_MNEMONIC_MOV, A::STORE, kGprWidths), ZYDIS_OPCODE_MAP_DEFAULT, 0xC6, 0xC7),  // MOV r/m, imm (/0)
    gpr(ZYDIS_MNEMONIC_MOVZX, A::LOAD, widths(1, 2)),
    gpr(ZYDIS_MNEMONIC_MOVSX, A::LOAD, widths(1, 2), GprKind::SIGN_EXTEND),
    gpr(ZYDIS_MNEMONIC_MOVSXD, A::LOAD, widths(4), GprKind::SIGN_EXTEND),  // not 66 63: emulate_gpr.cc
    gpr(ZYDIS_MNEMONIC_MOVNTI, A::STORE, widths(4, 8)),
    at(gpr(ZYDIS_MNEMONIC_MOVBE, A::STORE, widths(2, 4, 8), GprKind::BYTE_SWAP), ZYDIS_OPCODE_MAP_0F38, 0xF0, 0xF1),
    // 8. SETcc, CMOVcc, PUSH m, POP m (emulate_gpr.cc)
    setcc(ZYDIS_MNEMONIC_SETO),    setcc(ZYDIS_MNEMONIC_SETNO),   setcc(ZYDIS_MNEMONIC_SETB),    setcc(ZYDIS_MNEMONIC_SETNB),
    setcc(ZYDIS_MNEMONIC_SETZ),    setcc(ZYDIS_MNEMONIC_SETNZ),   setcc(ZYDIS_MNEMONIC_SETBE),   setcc(ZYDIS_MNEMONIC_SETNBE),
    setcc(ZYDIS_MNEMONIC_SETS),    setcc(ZYDIS_MNEMONIC_SETNS),   setcc(ZYDIS_MNEMONIC_SETP),    setcc(ZYDIS_MNEMONIC_SETNP),
    setcc(ZYDIS_MNEMONIC_SETL),    setcc(ZYDIS_MNEMONIC_SETNL),   setcc(ZYDIS_MNEMONIC_SETLE),   setcc(ZYDIS_MNEMONIC_SETNLE),
    cmovcc(ZYDIS_MNEMONIC_CMOVO),  cmovcc(ZYDIS_MNEMONIC_CMOVNO), cmovcc(ZYDIS_MNEMONIC_CMOVB),  cmovcc(ZYDIS_MNEMONIC_CMOVNB),
    cmovcc(ZYDIS_MNEMONIC_CMOVZ),  cmovcc(ZYDIS_MNEMONIC_CMOVNZ), cmovcc(ZYDIS_MNEMONIC_CMOVBE), cmovcc(ZYDIS_MNEMONIC_CMOVNBE),
    cmovcc(ZYDIS_MNEMONIC_CMOVS),  cmovcc(ZYDIS_MNEMONIC_CMOVNS), cmovcc(ZYDIS_MNEMONIC_CMOVP),  cmovcc(ZYDIS_MNEMONIC_CMOVNP),
    cmovcc(ZYDIS_MNEMONIC_CMOVL),  cmovcc(ZYDIS_MNEMONIC_CMOVNL), cmovcc(ZYDIS_MNEMONIC_CMOVLE), cmovcc(ZYDIS_MNEMONIC_CMOVNLE),
    at(base(ZYDIS_MNEMONIC_PUSH, Family::PUSH_POP, kLegacy, A::COPY, widths(2, 8)), ZYDIS_OPCODE_MAP_DEFAULT, 0xFF, 0xFF),  // FF /6
    at(base(ZYDIS_MNEMONIC_POP, Family::PUSH_POP, kLegacy, A::COPY, widths(2, 8)), ZYDIS_OPCODE_MAP_DEFAULT, 0x8F, 0x8F),   // 8F /0

    // 3. MOVS, STOS, LODS (emulate_string.cc)
    string(ZYDIS_MNEMONIC_MOVSB, StringOp::MOVS, 0xA4, 1), string(ZYDIS_MNEMONIC_MOVSW, StringOp::MOVS, 0xA4, 2),
    string(ZYDIS_MNEMONIC_MOVSD, StringOp::MOVS, 0xA4, 4), string(ZYDIS_MNEMONIC_MOVSQ, StringOp::MOVS, 0xA4, 8),
    string(ZYDIS_MNEMONIC_STOSB, StringOp::STOS, 0xAA, 1), string(ZYDIS_MNEMONIC_STOSW, StringOp::STOS, 0xAA, 2),
    string(ZYDIS_MNEMONIC_STOSD, StringOp::STOS, 0xAA, 4), string(ZYDIS_MNEMONIC_STOSQ, StringOp::STOS, 0xAA, 8),
    string(ZYDIS_MNEMONIC_LODSB, StringOp::LODS, 0xAC, 1), string(ZYDIS_MNEMONIC_LODSW, StringOp::LODS, 0xAC, 2),
    string(ZYDIS_MNEMONIC_LODSD, StringOp::LODS, 0xAC, 4), string(ZYDIS_MNEMONIC_LODSQ, StringOp::LODS, 0xAC, 8),
    // 9. CMPS, SCAS (emulate_string_compare.cc)
    string_compare(ZYDIS_MNEMONIC_CMPSB, 0xA6, 1), string_compare(ZYDIS_MNEMONIC_CMPSW, 0xA6, 2),
    string_compare(ZYDIS_MNEMONIC_CMPSD, 0xA6, 4), string_compare(ZYDIS_MNEMONIC_CMPSQ, 0xA6, 8),
    string_compare(ZYDIS_MNEMONIC_SCASB, 0xAE, 1), string_compare(ZYDIS_MNEMONIC_SCASW, 0xAE, 2),
    string_compare(ZYDIS_MNEMONIC_SCASD, 0xAE, 4), string_compare(ZYDIS_MNEMONIC_SCASQ, 0xAE, 8),

    // 4. Whole-vector moves (emulate_vector_move.cc). Alignment: SDM Vol. 2 "MOVAPS",
    // "MOVDQA,VMOVDQA32/64", "MOVNTDQ", "MOVNTDQA", "MOVNTPS", "MOVNTPD".
    vector(ZYDIS_MNEMONIC_MOVUPS, kLegacy, widths(16), Align::NONE),
    vector(ZYDIS_MNEMONIC_MOVUPD, kLegacy, widths(16), Align::NONE),
    vector(ZYDIS_MNEMONIC_MOVAPS, kLegacy, widths(16), Align::VECTOR),
    vector(ZYDIS_MNEMONIC_MOVAPD, kLegacy, widths(16), Align::VECTOR),
    vector(ZYDIS_MNEMONIC_MOVDQU, kLegacy, widths(16), Align::NONE),
    vector(ZYDIS_MNEMONIC_MOVDQA, kLegacy, widths(16), Align::VECTOR),
    vector(ZYDIS_MNEMONIC_MOVD, kLegacy, widths(4), Align::NONE),
    vector(ZYDIS_MNEMONIC_MOVQ, kLegacy, widths(8), Align::NONE),
    vector(ZYDIS_MNEMONIC_MOVNTDQ, kLegacy, widths(16), Align::VECTOR),
    vector(ZYDIS_MNEMONIC_MOVNTPS, kLegacy, widths(16), Align::VECTOR),
    vector(ZYDIS_MNEMONIC_MOVNTPD, kLegacy, widths(16), Align::VECTOR),
    vector(ZYDIS_MNEMONIC_MOVNTDQA, kLegacy, widths(16), Align::VECTOR),
    vector(ZYDIS_MNEMONIC_VMOVUPS, kAvx, kVecWidths, Align::NONE, 4),
    vector(ZYDIS_MNEMONIC_VMOVUPD, kAvx, kVecWidths, Align::NONE, 8),
    vector(ZYDIS_MNEMONIC_VMOVAPS, kAvx, kVecWidths, Align::VECTOR, 4),
    vector(ZYDIS_MNEMONIC_VMOVAPD, kAvx, kVecWidths, Align::VECTOR, 8),
    vector(ZYDIS_MNEMONIC_VMOVDQU, kVex, kVexWidths, Align::NONE),
    vector(ZYDIS_MNEMONIC_VMOVDQA, kVex, kVexWidths, Align::VECTOR),
    vector(ZYDIS_MNEMONIC_VMOVD, kAvx, widths(4), Align::NONE),
    vector(ZYDIS_MNEMONIC_VMOVQ, kAvx, widths(8), Align::NONE),
    vector(ZYDIS_MNEMONIC_VMOVNTDQ, kAvx, kVecWidths, Align::VECTOR),
    vector(ZYDIS_MNEMONIC_VMOVNTPS, kAvx, kVecWidths, Align::VECTOR),
    vector(ZYDIS_MNEMONIC_VMOVNTPD, kAvx, kVecWidths, Align::VECTOR),
    vector(ZYDIS_MNEMONIC_VMOVNTDQA, kAvx, kVecWidths, Align::VECTOR),
    vector(ZYDIS_MNEMONIC_VMOVDQU8, kEvex, kVecWidths, Align::NONE, 1),
    vector(ZYDIS_MNEMONIC_VMOVDQU16, kEvex, kVecWidths, Align::NONE, 2),
    vector(ZYDIS_MNEMONIC_VMOVDQU32, kEvex, kVecWidths, Align::NONE, 4),
    vector(ZYDIS_MNEMONIC_VMOVDQU64, kEvex, kVecWidths, Align::NONE, 8),
    vector(ZYDIS_MNEMONIC_VMOVDQA32, kEvex, kVecWidths, Align::VECTOR, 4),
    vector(ZYDIS_MNEMONIC_VMOVDQA64, kEvex, kVecWidths, Align::VECTOR, 8),

    // 4. Scalar, half, broadcast and duplicating moves (emulate_vector_element.cc).
    // `elem`: the destination's element bytes (opmask granularity, replication).
    at(element(ZYDIS_MNEMONIC_MOVSS, kLegacy, ElementKind::SCALAR, widths(4), 4, false), ZYDIS_OPCODE_MAP_0F, 0x10, 0x11),
    at(element(ZYDIS_MNEMONIC_MOVSD, kLegacy, ElementKind::SCALAR, widths(8), 8, false), ZYDIS_OPCODE_MAP_0F, 0x10, 0x11),
    element(ZYDIS_MNEMONIC_VMOVSS, kAvx, ElementKind::SCALAR, widths(4), 4, true),
    element(ZYDIS_MNEMONIC_VMOVSD, kAvx, ElementKind::SCALAR, widths(8), 8, true),
    element(ZYDIS_MNEMONIC_MOVLPS, kLegacy, ElementKind::HALF_LO, widths(8), 8, false),
    element(ZYDIS_MNEMONIC_MOVLPD, kLegacy, ElementKind::HALF_LO, widths(8), 8, false),
    element(ZYDIS_MNEMONIC_MOVHPS, kLegacy, ElementKind::HALF_HI, widths(8), 8, false),
    element(ZYDIS_MNEMONIC_MOVHPD, kLegacy, ElementKind::HALF_HI, widths(8), 8, false),
    element(ZYDIS_MNEMONIC_VMOVLPS, kAvx, ElementKind::HALF_LO, widths(8), 8, false),
    element(ZYDIS_MNEMONIC_VMOVLPD, kAvx, ElementKind::HALF_LO, widths(8), 8, false),
    element(ZYDIS_MNEMONIC_VMOVHPS, kAvx, ElementKind::HALF_HI, widths(8), 8, false),
    element(ZYDIS_MNEMONIC_VMOVHPD, kAvx, ElementKind::HALF_HI, widths(8), 8, false),
    element(ZYDIS_MNEMONIC_VBROADCASTSS, kAvx, ElementKind::BCAST, widths(4), 4, true),
    element(ZYDIS_MNEMONIC_VBROADCASTSD, kAvx, ElementKind::BCAST, widths(8), 8, true),
    element(ZYDIS_MNEMONIC_VBROADCASTF128, kAvx, ElementKind::BCAST, widths(16), 4, false),
    element(ZYDIS_MNEMONIC_VBROADCASTI128, kAvx, ElementKind::BCAST, widths(16), 4, false),
    element(ZYDIS_MNEMONIC_VBROADCASTF32X2, kAvx, ElementKind::BCAST, widths(8), 4, true),
    element(ZYDIS_MNEMONIC_VBROADCASTI32X2, kAvx, ElementKind::BCAST, widths(8), 4, true),
    element(ZYDIS_MNEMONIC_VBROADCASTF32X4, kAvx, ElementKind::BCAST, widths(16), 4, true),
    element(ZYDIS_MNEMONIC_VBROADCASTI32X4, kAvx, ElementKind::BCAST, widths(16), 4, true),
    element(ZYDIS_MNEMONIC_VBROADCASTF64X2, kAvx, ElementKind::BCAST, widths(16), 8, true),
    element(ZYDIS_MNEMONIC_VBROADCASTI64X2, kAvx, ElementKind::BCAST, widths(16), 8, true),
    element(ZYDIS_MNEMONIC_VBROADCASTF32X8, kAvx, ElementKind::BCAST, widths(32), 4, true),
    element(ZYDIS_MNEMONIC_VBROADCASTI32X8, kAvx, ElementKind::BCAST, widths(32), 4, true),
    element(ZYDIS_MNEMONIC_VBROADCASTF64X4, kAvx, ElementKind::BCAST, widths(32), 8, true),
    element(ZYDIS_MNEMONIC_VBROADCASTI64X4, kAvx, ElementKind::BCAST, widths(32), 8, true),
    element(ZYDIS_MNEMONIC_VPBROADCASTB, kAvx, ElementKind::BCAST, widths(1), 1, true),
    element(ZYDIS_MNEMONIC_VPBROADCASTW, kAvx, ElementKind::BCAST, widths(2), 2, true),
    element(ZYDIS_MNEMONIC_VPBROADCASTD, kAvx, ElementKind::BCAST, widths(4), 4, true),
    element(ZYDIS_MNEMONIC_VPBROADCASTQ, kAvx, ElementKind::BCAST, widths(8), 8, true),
    element(ZYDIS_MNEMONIC_MOVDDUP, kLegacy, ElementKind::DUP_Q, widths(8), 8, false),
    element(ZYDIS_MNEMONIC_MOVSLDUP, kLegacy, ElementKind::DUP_LO, widths(16), 4, false, Align::SIXTEEN),
    element(ZYDIS_MNEMONIC_MOVSHDUP, kLegacy, ElementKind::DUP_HI, widths(16), 4, false, Align::SIXTEEN),
    element(ZYDIS_MNEMONIC_VMOVDDUP, kAvx, ElementKind::DUP_Q, widths(8, 32, 64), 8, true),
    element(ZYDIS_MNEMONIC_VMOVSLDUP, kAvx, ElementKind::DUP_LO, kVecWidths, 4, true),
    element(ZYDIS_MNEMONIC_VMOVSHDUP, kAvx, ElementKind::DUP_HI, kVecWidths, 4, true),

    // 5. Prefetches: hints with no architectural access (SDM Vol. 2, PREFETCHh): emulating one only moves RIP.
    prefetch(ZYDIS_MNEMONIC_PREFETCH),   prefetch(ZYDIS_MNEMONIC_PREFETCHNTA), prefetch(ZYDIS_MNEMONIC_PREFETCHT0),
    prefetch(ZYDIS_MNEMONIC_PREFETCHT1), prefetch(ZYDIS_MNEMONIC_PREFETCHT2),  prefetch(ZYDIS_MNEMONIC_PREFETCHW),
    prefetch(ZYDIS_MNEMONIC_PREFETCHWT1),

    // 6, 7. ALU, exchanges, CMPXCHG (emulate_alu.cc). LOCK: SDM Vol. 2, LOCK.
    alu_rmw(ZYDIS_MNEMONIC_ADD, AluShape::BINARY, NativeOp::ADD, NativeOp::ADD_R),
    alu_rmw(ZYDIS_MNEMONIC_OR, AluShape::BINARY, NativeOp::OR, NativeOp::OR_R),
    alu_rmw(ZYDIS_MNEMONIC_ADC, AluShape::BINARY, NativeOp::ADC, NativeOp::ADC_R),
    alu_rmw(ZYDIS_MNEMONIC_SBB, AluShape::BINARY, NativeOp::SBB, NativeOp::SBB_R),
    alu_rmw(ZYDIS_MNEMONIC_AND, AluShape::BINARY, NativeOp::AND, NativeOp::AND_R),
    alu_rmw(ZYDIS_MNEMONIC_SUB, AluShape::BINARY, NativeOp::SUB, NativeOp::SUB_R),
    alu_rmw(ZYDIS_MNEMONIC_XOR, AluShape::BINARY, NativeOp::XOR, NativeOp::XOR_R),
    alu(ZYDIS_MNEMONIC_CMP, AluShape::BINARY, NativeOp::CMP, NativeOp::CMP_R, A::LOAD, Lock::NEVER),
    // TEST r/m, r (84/85) and TEST r/m, imm (F6/F7 /0; the undocumented alias /1 is not in the SDM).
    // TEST has no register-destination form.
    at(alu(ZYDIS_MNEMONIC_TEST, AluShape::BINARY, NativeOp::TEST, NativeOp::TEST, A::LOAD, Lock::NEVER), ZYDIS_OPCODE_MAP_DEFAULT, 0x84, 0x85),
    at(alu(ZYDIS_MNEMONIC_TEST, AluShape::BINARY, NativeOp::TEST, NativeOp::TEST, A::LOAD, Lock::NEVER), ZYDIS_OPCODE_MAP_DEFAULT, 0xF6, 0xF7, 0),
    alu_rmw(ZYDIS_MNEMONIC_INC, AluShape::UNARY, NativeOp::INC, NativeOp::INC),
    alu_rmw(ZYDIS_MNEMONIC_DEC, AluShape::UNARY, NativeOp::DEC, NativeOp::DEC),
    alu_rmw(ZYDIS_MNEMONIC_NOT, AluShape::UNARY, NativeOp::NOT, NativeOp::NOT),
    alu_rmw(ZYDIS_MNEMONIC_NEG, AluShape::UNARY, NativeOp::NEG, NativeOp::NEG),
    shift(ZYDIS_MNEMONIC_ROL, NativeOp::ROL, NativeOp::ROL1),
    shift(ZYDIS_MNEMONIC_ROR, NativeOp::ROR, NativeOp::ROR1),
    shift(ZYDIS_MNEMONIC_RCL, NativeOp::RCL, NativeOp::RCL1),
    shift(ZYDIS_MNEMONIC_RCR, NativeOp::RCR, NativeOp::RCR1),
    // SHL/SAL is /4; Zydis 4.0 has no SAL and names the undocumented alias /6 SHL too.
    at(shift(ZYDIS_MNEMONIC_SHL, NativeOp::SHL, NativeOp::SHL1), ZYDIS_OPCODE_MAP_DEFAULT, 0x00, 0xFF, 4),
    shift(ZYDIS_MNEMONIC_SHR, NativeOp::SHR, NativeOp::SHR1),
    shift(ZYDIS_MNEMONIC_SAR, NativeOp::SAR, NativeOp::SAR1),
    alu(ZYDIS_MNEMONIC_SHLD, AluShape::DOUBLE, NativeOp::SHLD, NativeOp::SHLD, A::READ_MODIFY_WRITE, Lock::NEVER, widths(2, 4, 8)),
    alu(ZYDIS_MNEMONIC_SHRD, AluShape::DOUBLE, NativeOp::SHRD, NativeOp::SHRD, A::READ_MODIFY_WRITE, Lock::NEVER, widths(2, 4, 8)),
    alu(ZYDIS_MNEMONIC_BT, AluShape::BIT, NativeOp::BT, NativeOp::BT, A::LOAD, Lock::NEVER, widths(2, 4, 8)),
    alu_rmw(ZYDIS_MNEMONIC_BTS, AluShape::BIT, NativeOp::BTS, NativeOp::BTS, widths(2, 4, 8)),
    alu_rmw(ZYDIS_MNEMONIC_BTR, AluShape::BIT, NativeOp::BTR, NativeOp::BTR, widths(2, 4, 8)),
    alu_rmw(ZYDIS_MNEMONIC_BTC, AluShape::BIT, NativeOp::BTC, NativeOp::BTC, widths(2, 4, 8)),
    alu(ZYDIS_MNEMONIC_XCHG, AluShape::SWAP, NativeOp::XCHG, NativeOp::XCHG, A::READ_MODIFY_WRITE, Lock::ALWAYS),
    alu_rmw(ZYDIS_MNEMONIC_XADD, AluShape::SWAP, NativeOp::XADD, NativeOp::XADD),
    alu_rmw(ZYDIS_MNEMONIC_CMPXCHG, AluShape::CMPXCHG, NativeOp::CMPXCHG, NativeOp::CMPXCHG),
    cmpxchg_wide(ZYDIS_MNEMONIC_CMPXCHG8B, 8, Align::NONE),
    cmpxchg_wide(ZYDIS_MNEMONIC_CMPXCHG16B, 16, Align::SIXTEEN),
};
// clang-format on

constexpr size_t kRows = sizeof kTable / sizeof kTable[0];
constexpr size_t kMnemonics = static_cast<size_t>(ZYDIS_MNEMONIC_MAX_VALUE) + 1;

// Rows of one mnemonic must never cover the same instruction: checked at compile time.
constexpr bool overlap(const Row& a, const Row& b) {
  if (a.mnemonic != b.mnemonic || (a.encodings & b.encodings) == 0) return false;
  if (a.map != kAnyMap && b.map != kAnyMap && a.map != b.map) return false;
  if (a.opcode_hi < b.opcode_lo || b.opcode_hi < a.opcode_lo) return false;
  return a.modrm_reg == kAnyReg || b.modrm_reg == kAnyReg || a.modrm_reg == b.modrm_reg;
}
constexpr bool rows_disjoint() {
  for (size_t i = 0; i < kRows; ++i) {
    for (size_t j = i + 1; j < kRows; ++j) {
      if (overlap(kTable[i], kTable[j])) return false;
    }
  }
  return true;
}
static_assert(rows_disjoint(), "two rows of kTable cover the same instruction");

// The rows of each mnemonic, found in O(1): the row indices grouped by
// mnemonic (`order`), mnemonic m's being order[first[m]] .. order[first[m + 1] - 1].
struct Index {
  std::array<uint16_t, kMnemonics + 1> first{};
  std::array<uint8_t, kRows> order{};
};
static_assert(kRows <= 255, "Index::order holds row numbers in a byte");

constexpr Index build_index() {
  Index ix;
  for (const Row& r : kTable) ++ix.first[static_cast<size_t>(r.mnemonic) + 1];
  for (size_t m = 0; m < kMnemonics; ++m) ix.first[m + 1] += ix.first[m];
  std::array<uint16_t, kMnemonics> next{};
  for (size_t m = 0; m < kMnemonics; ++m) next[m] = ix.first[m];
  for (size_t i = 0; i < kRows; ++i)
    ix.order[next[static_cast<size_t>(kTable[i].mnemonic)]++] = static_cast<uint8_t>(i);
  return ix;
}
constexpr Index kIndex = build_index();

uint8_t encoding_bit(ZydisInstructionEncoding e) {
  switch (e) {
    case ZYDIS_INSTRUCTION_ENCODING_LEGACY:
      return kLegacy;
    case ZYDIS_INSTRUCTION_ENCODING_VEX:
      return kVex;
    case ZYDIS_INSTRUCTION_ENCODING_EVEX:
      return kEvex;
    default:
      return 0x80;  // 3DNow!, XOP, MVEX: only rows of any encoding
  }
}

bool covers(const Row& r, const ZydisDecodedInstruction& in) {
  if ((r.encodings & encoding_bit(in.encoding)) == 0) return false;
  if (r.map != kAnyMap && in.opcode_map != static_cast<ZydisOpcodeMap>(r.map)) return false;
  if (in.opcode < r.opcode_lo || in.opcode > r.opcode_hi) return false;
  return r.modrm_reg == kAnyReg || in.raw.modrm.reg == static_cast<uint8_t>(r.modrm_reg);
}

// The prefixes and the memory operand's width, which the row must accept.
bool accepts(const Row& r, const Insn& insn) {
  const ZydisDecodedInstruction& in = insn.in;
  const ZydisDecodedOperand* m = table_operand(insn);
  if (r.widths != kAnyWidth && (m == nullptr || (r.widths & width_bit(m->size / 8u)) == 0)) return false;
  // LOCK needs a row that takes it, on a memory destination.
  if ((in.attributes & ZYDIS_ATTRIB_HAS_LOCK) && (r.lock == Lock::NEVER || m != &insn.ops[0])) return false;
  return !(r.rep == Rep::REP && (in.attributes & ZYDIS_ATTRIB_HAS_REPNE));
}

}  // namespace

const ZydisDecodedOperand* table_operand(const Insn& insn) {
  for (unsigned i = 0; i < insn.in.operand_count; ++i) {
    if (insn.ops[i].type == ZYDIS_OPERAND_TYPE_MEMORY) return &insn.ops[i];
  }
  return nullptr;
}

const Row* find_row(const Insn& insn) {
  const size_t m = static_cast<size_t>(insn.in.mnemonic);
  if (m >= kMnemonics) return nullptr;
  for (size_t i = kIndex.first[m]; i < kIndex.first[m + 1]; ++i) {
    const Row& r = kTable[kIndex.order[i]];
    if (covers(r, insn.in)) return accepts(r, insn) ? &r : nullptr;
  }
  return nullptr;
}

unsigned required_alignment(const Row& row, const Insn& insn, unsigned bytes) {
  switch (row.align) {
    case Align::NONE:
      return 0;
    case Align::VECTOR:
      return insn.in.encoding == ZYDIS_INSTRUCTION_ENCODING_LEGACY ? 16 : bytes;
    case Align::SIXTEEN:
      return 16;
  }
  return 0;
}

}  // namespace mmiotrace::emu::detail

namespace mmiotrace::emu {

FormInfo describe(const uint8_t* bytes, size_t len) {
  FormInfo info;
  detail::Insn insn;
  if (!detail::decode(bytes, len, insn)) {
    info.status = EmuStatus::DECODE_ERROR;
    return info;
  }
  info.insn_len = insn.in.length;
  const detail::Row* row = detail::find_row(insn);
  const ZydisDecodedOperand* m = detail::table_operand(insn);
  if (row == nullptr || m == nullptr) return info;  // UNSUPPORTED (every row has a memory operand)
  const ZydisDecodedInstruction& in = insn.in;
  info.status = EmuStatus::OK;
  info.family = row->family;
  info.access = m == &insn.ops[0] || row->access == AccessShape::NONE ? row->access : AccessShape::LOAD;
  info.width = info.access == AccessShape::NONE ? 0 : m->size / 8u;
  info.align = detail::required_alignment(*row, insn, info.width);
  info.atomic = row->lock == detail::Lock::ALWAYS || (in.attributes & ZYDIS_ATTRIB_HAS_LOCK) != 0;
  info.repeated = row->rep != detail::Rep::IGNORED &&
                  (in.attributes & (ZYDIS_ATTRIB_HAS_REP | ZYDIS_ATTRIB_HAS_REPE | ZYDIS_ATTRIB_HAS_REPNE)) != 0;
  info.masked = in.encoding == ZYDIS_INSTRUCTION_ENCODING_EVEX && in.avx.mask.reg != ZYDIS_REGISTER_NONE &&
                in.avx.mask.reg != ZYDIS_REGISTER_K0;
  info.register_bit_offset = row->family == Family::ALU &&
                             static_cast<detail::AluShape>(row->kind) == detail::AluShape::BIT &&
                             in.operand_count_visible >= 2 && insn.ops[1].type == ZYDIS_OPERAND_TYPE_REGISTER;
  return info;
}

}  // namespace mmiotrace::emu
