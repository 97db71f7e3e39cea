// The differential tester's row table (see rows.h); the instance generator
// is generate.cc and generate_forms.cc.
#include "diff/rows.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <initializer_list>

#include "diff/native.h"
#include "emu/cpu_state.h"
#include "emu/xsave_area.h"

namespace mmiotrace::difftest {
namespace {

// ============================================================================
// The table.
// ============================================================================

std::vector<Variant> widths(uint8_t byte_opcode, uint8_t opcode) {
  return {{1, 1, byte_opcode}, {2, 2, opcode}, {4, 4, opcode}, {8, 8, opcode}};
}
std::vector<Variant> widths_wdq(uint8_t opcode) { return {{2, 2, opcode}, {4, 4, opcode}, {8, 8, opcode}}; }

Row gpr(const char* name, Ops ops, MemUse mem, uint8_t map, const std::vector<Variant>& v, uint32_t opts,
        int8_t digit = -1, uint8_t imm = 0) {
  Row r;
  r.name = name;
  r.ops = ops;
  r.mem = mem;
  r.map = map;
  r.nv = static_cast<uint8_t>(std::min<size_t>(v.size(), 4));
  for (unsigned i = 0; i < r.nv; ++i) r.v[i] = v[i];
  r.opts = opts;
  r.digit = digit;
  r.imm = imm;
  return r;
}

constexpr uint8_t k128 = 1, k256 = 2, k512 = 4;

Row vec(const char* name, Enc enc, uint8_t pp, uint8_t map, uint8_t opcode, uint8_t w, uint8_t vls, bool store,
        bool aligned, uint8_t mask_elem = 0, uint8_t vmem = 0) {
  Row r;
  r.name = name;
  r.ops = Ops::VEC_MEM;
  r.mem = store ? MemUse::WRITE : MemUse::READ;
  r.enc = enc;
  r.pp = pp;
  r.map = map;
  r.vopcode = opcode;
  r.w = w;
  r.vls = vls;
  r.store = store;
  r.aligned = aligned;
  r.mask_elem = mask_elem;
  r.vmem = vmem;
  r.opts = kOptSeg | kOptAddr32 | (enc == Enc::LEGACY ? uint32_t{kOptRex} : 0u);
  return r;
}

Row special(Row r, Special s) {
  r.special = s;
  return r;
}
[[maybe_unused]] Row disabled(Row r) {
  r.enabled = false;
  return r;
}
Row refused(Row r) {
  r.expect_refused = true;
  return r;
}
[[maybe_unused]] Row inexact(Row r) {
  r.exact = false;
  return r;
}

constexpr uint32_t kAddr = kOptSeg | kOptAddr32;  // every ModRM form takes these

std::vector<Row> make_rows() {
  // A table, one case per line.
  // clang-format off
  using enum Ops;
  using enum MemUse;
  using enum Enc;
  std::vector<Row> t;
  // ---- 1. MOV (docs/emulated-instructions.md, section 1).
  t.push_back(gpr("mov m,r", GPR_MEM, WRITE, 0, widths(0x88, 0x89), kAddr | kOptRex | kOptRepIgnored));
  t.push_back(gpr("mov r,m", GPR_MEM, READ, 0, widths(0x8a, 0x8b), kAddr | kOptRex | kOptRepIgnored));
  t.push_back(gpr("mov m,imm", IMM_MEM, WRITE, 0, widths(0xc6, 0xc7), kAddr | kOptRex | kOptRepIgnored, 0, 4));
  t.push_back(gpr("mov acc,moffs", MOFFS, READ, 0, widths(0xa0, 0xa1), kAddr | kOptRex));
  t.push_back(gpr("mov moffs,acc", MOFFS, WRITE, 0, widths(0xa2, 0xa3), kAddr | kOptRex));
  // ---- 2. Extending loads and MOVNTI.
  t.push_back(gpr("movzx r,m8", GPR_MEM, READ, 1, {{2, 1, 0xb6}, {4, 1, 0xb6}, {8, 1, 0xb6}}, kAddr | kOptRex));
  t.push_back(gpr("movzx r,m16", GPR_MEM, READ, 1, {{4, 2, 0xb7}, {8, 2, 0xb7}}, kAddr | kOptRex));
  t.push_back(gpr("movsx r,m8", GPR_MEM, READ, 1, {{2, 1, 0xbe}, {4, 1, 0xbe}, {8, 1, 0xbe}}, kAddr | kOptRex));
  t.push_back(gpr("movsx r,m16", GPR_MEM, READ, 1, {{4, 2, 0xbf}, {8, 2, 0xbf}}, kAddr | kOptRex));
  t.push_back(gpr("movsxd r,m32", GPR_MEM, READ, 0, {{4, 4, 0x63}, {8, 4, 0x63}}, kAddr | kOptRex));
  // With kOptRex some REX.W instances get a redundant 66, which makes 0F C3 an
  // invalid opcode: the CPU (#UD) and the decoder (DECODE_ERROR) must agree.
  t.push_back(gpr("movnti m,r", GPR_MEM, WRITE, 1, {{4, 4, 0xc3}, {8, 8, 0xc3}}, kAddr | kOptRex));
  // ---- 3. String instructions.
  t.push_back(gpr("movs", STRING, READ_WRITE, 0, widths(0xa4, 0xa5), kOptSeg | kOptAddr32 | kOptRex | kOptRep));
  t.push_back(gpr("stos", STRING, WRITE, 0, widths(0xaa, 0xab), kOptSeg | kOptAddr32 | kOptRex | kOptRep));
  t.push_back(gpr("lods", STRING, READ, 0, widths(0xac, 0xad), kOptSeg | kOptAddr32 | kOptRex | kOptRep));
  // ---- 4. Vector moves: legacy SSE (xmm0-15).
  t.push_back(vec("movups load", LEGACY, 0, 1, 0x10, 0, k128, false, false));
  t.push_back(vec("movups store", LEGACY, 0, 1, 0x11, 0, k128, true, false));
  t.push_back(vec("movupd load", LEGACY, 1, 1, 0x10, 0, k128, false, false));
  t.push_back(vec("movupd store", LEGACY, 1, 1, 0x11, 0, k128, true, false));
  t.push_back(vec("movaps load", LEGACY, 0, 1, 0x28, 0, k128, false, true));
  t.push_back(vec("movaps store", LEGACY, 0, 1, 0x29, 0, k128, true, true));
  t.push_back(vec("movapd load", LEGACY, 1, 1, 0x28, 0, k128, false, true));
  t.push_back(vec("movapd store", LEGACY, 1, 1, 0x29, 0, k128, true, true));
  t.push_back(vec("movdqu load", LEGACY, 2, 1, 0x6f, 0, k128, false, false));
  t.push_back(vec("movdqu store", LEGACY, 2, 1, 0x7f, 0, k128, true, false));
  t.push_back(vec("movdqa load", LEGACY, 1, 1, 0x6f, 0, k128, false, true));
  t.push_back(vec("movdqa store", LEGACY, 1, 1, 0x7f, 0, k128, true, true));
  t.push_back(vec("movntdq", LEGACY, 1, 1, 0xe7, 0, k128, true, true));
  t.push_back(vec("movntps", LEGACY, 0, 1, 0x2b, 0, k128, true, true));
  t.push_back(vec("movntpd", LEGACY, 1, 1, 0x2b, 0, k128, true, true));
  t.push_back(vec("movntdqa", LEGACY, 1, 2, 0x2a, 0, k128, false, true));
  t.push_back(vec("movd xmm,m32", LEGACY, 1, 1, 0x6e, 0, k128, false, false, 0, 4));
  t.push_back(vec("movq xmm,m64 (66 REX.W 6E)", LEGACY, 1, 1, 0x6e, 1, k128, false, false, 0, 8));
  t.push_back(vec("movq xmm,m64 (F3 7E)", LEGACY, 2, 1, 0x7e, 0, k128, false, false, 0, 8));
  t.push_back(vec("movd m32,xmm", LEGACY, 1, 1, 0x7e, 0, k128, true, false, 0, 4));
  t.push_back(vec("movq m64,xmm (66 REX.W 7E)", LEGACY, 1, 1, 0x7e, 1, k128, true, false, 0, 8));
  t.push_back(vec("movq m64,xmm (66 D6)", LEGACY, 1, 1, 0xd6, 0, k128, true, false, 0, 8));
  // ---- VEX (xmm/ymm 0-15).
  const uint8_t k128_256 = k128 | k256;
  t.push_back(vec("vmovups load (VEX)", VEX, 0, 1, 0x10, kWig, k128_256, false, false));
  t.push_back(vec("vmovups store (VEX)", VEX, 0, 1, 0x11, kWig, k128_256, true, false));
  t.push_back(vec("vmovupd load (VEX)", VEX, 1, 1, 0x10, kWig, k128_256, false, false));
  t.push_back(vec("vmovupd store (VEX)", VEX, 1, 1, 0x11, kWig, k128_256, true, false));
  t.push_back(vec("vmovaps load (VEX)", VEX, 0, 1, 0x28, kWig, k128_256, false, true));
  t.push_back(vec("vmovaps store (VEX)", VEX, 0, 1, 0x29, kWig, k128_256, true, true));
  t.push_back(vec("vmovapd load (VEX)", VEX, 1, 1, 0x28, kWig, k128_256, false, true));
  t.push_back(vec("vmovapd store (VEX)", VEX, 1, 1, 0x29, kWig, k128_256, true, true));
  t.push_back(vec("vmovdqu load (VEX)", VEX, 2, 1, 0x6f, kWig, k128_256, false, false));
  t.push_back(vec("vmovdqu store (VEX)", VEX, 2, 1, 0x7f, kWig, k128_256, true, false));
  t.push_back(vec("vmovdqa load (VEX)", VEX, 1, 1, 0x6f, kWig, k128_256, false, true));
  t.push_back(vec("vmovdqa store (VEX)", VEX, 1, 1, 0x7f, kWig, k128_256, true, true));
  t.push_back(vec("vmovntdq (VEX)", VEX, 1, 1, 0xe7, kWig, k128_256, true, true));
  t.push_back(vec("vmovntps (VEX)", VEX, 0, 1, 0x2b, kWig, k128_256, true, true));
  t.push_back(vec("vmovntpd (VEX)", VEX, 1, 1, 0x2b, kWig, k128_256, true, true));
  t.push_back(vec("vmovntdqa (VEX)", VEX, 1, 2, 0x2a, kWig, k128_256, false, true));
  t.push_back(vec("vmovd xmm,m32 (VEX)", VEX, 1, 1, 0x6e, 0, k128, false, false, 0, 4));
  t.push_back(vec("vmovq xmm,m64 (VEX.W1 6E)", VEX, 1, 1, 0x6e, 1, k128, false, false, 0, 8));
  t.push_back(vec("vmovq xmm,m64 (VEX F3 7E)", VEX, 2, 1, 0x7e, kWig, k128, false, false, 0, 8));
  t.push_back(vec("vmovd m32,xmm (VEX)", VEX, 1, 1, 0x7e, 0, k128, true, false, 0, 4));
  t.push_back(vec("vmovq m64,xmm (VEX.W1 7E)", VEX, 1, 1, 0x7e, 1, k128, true, false, 0, 8));
  t.push_back(vec("vmovq m64,xmm (VEX D6)", VEX, 1, 1, 0xd6, kWig, k128, true, false, 0, 8));
  // ---- EVEX (xmm/ymm/zmm 0-31, opmask k1-k7).
  const uint8_t kAll = k128 | k256 | k512;
  t.push_back(vec("vmovups load (EVEX)", EVEX, 0, 1, 0x10, 0, kAll, false, false, 4));
  t.push_back(vec("vmovups store (EVEX)", EVEX, 0, 1, 0x11, 0, kAll, true, false, 4));
  t.push_back(vec("vmovupd load (EVEX)", EVEX, 1, 1, 0x10, 1, kAll, false, false, 8));
  t.push_back(vec("vmovupd store (EVEX)", EVEX, 1, 1, 0x11, 1, kAll, true, false, 8));
  t.push_back(vec("vmovaps load (EVEX)", EVEX, 0, 1, 0x28, 0, kAll, false, true, 4));
  t.push_back(vec("vmovaps store (EVEX)", EVEX, 0, 1, 0x29, 0, kAll, true, true, 4));
  t.push_back(vec("vmovapd load (EVEX)", EVEX, 1, 1, 0x28, 1, kAll, false, true, 8));
  t.push_back(vec("vmovapd store (EVEX)", EVEX, 1, 1, 0x29, 1, kAll, true, true, 8));
  t.push_back(vec("vmovdqu8 load", EVEX, 3, 1, 0x6f, 0, kAll, false, false, 1));
  t.push_back(vec("vmovdqu8 store", EVEX, 3, 1, 0x7f, 0, kAll, true, false, 1));
  t.push_back(vec("vmovdqu16 load", EVEX, 3, 1, 0x6f, 1, kAll, false, false, 2));
  t.push_back(vec("vmovdqu16 store", EVEX, 3, 1, 0x7f, 1, kAll, true, false, 2));
  t.push_back(vec("vmovdqu32 load", EVEX, 2, 1, 0x6f, 0, kAll, false, false, 4));
  t.push_back(vec("vmovdqu32 store", EVEX, 2, 1, 0x7f, 0, kAll, true, false, 4));
  t.push_back(vec("vmovdqu64 load", EVEX, 2, 1, 0x6f, 1, kAll, false, false, 8));
  t.push_back(vec("vmovdqu64 store", EVEX, 2, 1, 0x7f, 1, kAll, true, false, 8));
  t.push_back(vec("vmovdqa32 load", EVEX, 1, 1, 0x6f, 0, kAll, false, true, 4));
  t.push_back(vec("vmovdqa32 store", EVEX, 1, 1, 0x7f, 0, kAll, true, true, 4));
  t.push_back(vec("vmovdqa64 load", EVEX, 1, 1, 0x6f, 1, kAll, false, true, 8));
  t.push_back(vec("vmovdqa64 store", EVEX, 1, 1, 0x7f, 1, kAll, true, true, 8));
  t.push_back(vec("vmovntdq (EVEX)", EVEX, 1, 1, 0xe7, 0, kAll, true, true));
  t.push_back(vec("vmovntps (EVEX)", EVEX, 0, 1, 0x2b, 0, kAll, true, true));
  t.push_back(vec("vmovntpd (EVEX)", EVEX, 1, 1, 0x2b, 1, kAll, true, true));
  t.push_back(vec("vmovntdqa (EVEX)", EVEX, 1, 2, 0x2a, 0, kAll, false, true));
  t.push_back(vec("vmovd xmm,m32 (EVEX)", EVEX, 1, 1, 0x6e, 0, k128, false, false, 0, 4));
  t.push_back(vec("vmovq xmm,m64 (EVEX.W1 6E)", EVEX, 1, 1, 0x6e, 1, k128, false, false, 0, 8));
  t.push_back(vec("vmovq xmm,m64 (EVEX F3 7E)", EVEX, 2, 1, 0x7e, 1, k128, false, false, 0, 8));
  t.push_back(vec("vmovd m32,xmm (EVEX)", EVEX, 1, 1, 0x7e, 0, k128, true, false, 0, 4));
  t.push_back(vec("vmovq m64,xmm (EVEX.W1 7E)", EVEX, 1, 1, 0x7e, 1, k128, true, false, 0, 8));
  t.push_back(vec("vmovq m64,xmm (EVEX D6)", EVEX, 1, 1, 0xd6, 1, k128, true, false, 0, 8));
  // ---- 4b. Scalar, half, broadcast and duplicating moves (emulated-instructions.md, 4).
  // The encoder leaves VEX/EVEX.vvvv at 1111: the 3-operand half loads take
  // their other qword from xmm15.
  t.push_back(vec("movss load", LEGACY, 2, 1, 0x10, 0, k128, false, false, 0, 4));
  t.push_back(vec("movss store", LEGACY, 2, 1, 0x11, 0, k128, true, false, 0, 4));
  t.push_back(vec("movsd load", LEGACY, 3, 1, 0x10, 0, k128, false, false, 0, 8));
  t.push_back(vec("movsd store", LEGACY, 3, 1, 0x11, 0, k128, true, false, 0, 8));
  t.push_back(vec("vmovss load (VEX)", VEX, 2, 1, 0x10, kWig, k128, false, false, 0, 4));
  t.push_back(vec("vmovss store (VEX)", VEX, 2, 1, 0x11, kWig, k128, true, false, 0, 4));
  t.push_back(vec("vmovsd load (VEX)", VEX, 3, 1, 0x10, kWig, k128, false, false, 0, 8));
  t.push_back(vec("vmovsd store (VEX)", VEX, 3, 1, 0x11, kWig, k128, true, false, 0, 8));
  t.push_back(vec("vmovss load (EVEX)", EVEX, 2, 1, 0x10, 0, k128, false, false, 4, 4));
  t.push_back(vec("vmovss store (EVEX)", EVEX, 2, 1, 0x11, 0, k128, true, false, 4, 4));
  t.push_back(vec("vmovsd load (EVEX)", EVEX, 3, 1, 0x10, 1, k128, false, false, 8, 8));
  t.push_back(vec("vmovsd store (EVEX)", EVEX, 3, 1, 0x11, 1, k128, true, false, 8, 8));
  t.push_back(vec("movlps load", LEGACY, 0, 1, 0x12, 0, k128, false, false, 0, 8));
  t.push_back(vec("movlps store", LEGACY, 0, 1, 0x13, 0, k128, true, false, 0, 8));
  t.push_back(vec("movhps load", LEGACY, 0, 1, 0x16, 0, k128, false, false, 0, 8));
  t.push_back(vec("movhps store", LEGACY, 0, 1, 0x17, 0, k128, true, false, 0, 8));
  t.push_back(vec("movlpd load", LEGACY, 1, 1, 0x12, 0, k128, false, false, 0, 8));
  t.push_back(vec("movlpd store", LEGACY, 1, 1, 0x13, 0, k128, true, false, 0, 8));
  t.push_back(vec("movhpd load", LEGACY, 1, 1, 0x16, 0, k128, false, false, 0, 8));
  t.push_back(vec("movhpd store", LEGACY, 1, 1, 0x17, 0, k128, true, false, 0, 8));
  t.push_back(vec("vmovlps load (VEX)", VEX, 0, 1, 0x12, kWig, k128, false, false, 0, 8));
  t.push_back(vec("vmovlps store (VEX)", VEX, 0, 1, 0x13, kWig, k128, true, false, 0, 8));
  t.push_back(vec("vmovhps load (VEX)", VEX, 0, 1, 0x16, kWig, k128, false, false, 0, 8));
  t.push_back(vec("vmovhps store (VEX)", VEX, 0, 1, 0x17, kWig, k128, true, false, 0, 8));
  t.push_back(vec("vmovlpd load (VEX)", VEX, 1, 1, 0x12, kWig, k128, false, false, 0, 8));
  t.push_back(vec("vmovlpd store (VEX)", VEX, 1, 1, 0x13, kWig, k128, true, false, 0, 8));
  t.push_back(vec("vmovhpd load (VEX)", VEX, 1, 1, 0x16, kWig, k128, false, false, 0, 8));
  t.push_back(vec("vmovhpd store (VEX)", VEX, 1, 1, 0x17, kWig, k128, true, false, 0, 8));
  t.push_back(vec("vmovlps load (EVEX)", EVEX, 0, 1, 0x12, 0, k128, false, false, 0, 8));
  t.push_back(vec("vmovlps store (EVEX)", EVEX, 0, 1, 0x13, 0, k128, true, false, 0, 8));
  t.push_back(vec("vmovhps load (EVEX)", EVEX, 0, 1, 0x16, 0, k128, false, false, 0, 8));
  t.push_back(vec("vmovhps store (EVEX)", EVEX, 0, 1, 0x17, 0, k128, true, false, 0, 8));
  t.push_back(vec("vmovlpd load (EVEX)", EVEX, 1, 1, 0x12, 1, k128, false, false, 0, 8));
  t.push_back(vec("vmovlpd store (EVEX)", EVEX, 1, 1, 0x13, 1, k128, true, false, 0, 8));
  t.push_back(vec("vmovhpd load (EVEX)", EVEX, 1, 1, 0x16, 1, k128, false, false, 0, 8));
  t.push_back(vec("vmovhpd store (EVEX)", EVEX, 1, 1, 0x17, 1, k128, true, false, 0, 8));
  {
    const auto rep = [&t](const char* name, Enc e, uint8_t pp, uint8_t map, uint8_t op, uint8_t w,
                          uint8_t vls, uint8_t elem, uint8_t vmem, uint8_t dup = 0, bool aligned = false) {
      Row r = special(vec(name, e, pp, map, op, w, vls, false, aligned, elem, vmem), Special::REPLICATE);
      r.dup = dup;
      t.push_back(r);
    };
    rep("vbroadcastss (VEX)", VEX, 1, 2, 0x18, 0, k128_256, 0, 4);
    rep("vbroadcastsd (VEX)", VEX, 1, 2, 0x19, 0, k256, 0, 8);
    rep("vbroadcastf128", VEX, 1, 2, 0x1a, 0, k256, 0, 16);
    rep("vbroadcasti128", VEX, 1, 2, 0x5a, 0, k256, 0, 16);
    rep("vpbroadcastb (VEX)", VEX, 1, 2, 0x78, 0, k128_256, 0, 1);
    rep("vpbroadcastw (VEX)", VEX, 1, 2, 0x79, 0, k128_256, 0, 2);
    rep("vpbroadcastd (VEX)", VEX, 1, 2, 0x58, 0, k128_256, 0, 4);
    rep("vpbroadcastq (VEX)", VEX, 1, 2, 0x59, 0, k128_256, 0, 8);
    rep("vbroadcastss (EVEX)", EVEX, 1, 2, 0x18, 0, kAll, 4, 4);
    rep("vbroadcastsd (EVEX)", EVEX, 1, 2, 0x19, 1, k256 | k512, 8, 8);
    rep("vbroadcastf32x2", EVEX, 1, 2, 0x19, 0, k256 | k512, 4, 8);
    rep("vbroadcasti32x2", EVEX, 1, 2, 0x59, 0, kAll, 4, 8);
    rep("vbroadcastf32x4", EVEX, 1, 2, 0x1a, 0, k256 | k512, 4, 16);
    rep("vbroadcastf64x2", EVEX, 1, 2, 0x1a, 1, k256 | k512, 8, 16);
    rep("vbroadcasti32x4", EVEX, 1, 2, 0x5a, 0, k256 | k512, 4, 16);
    rep("vbroadcasti64x2", EVEX, 1, 2, 0x5a, 1, k256 | k512, 8, 16);
    rep("vbroadcastf32x8", EVEX, 1, 2, 0x1b, 0, k512, 4, 32);
    rep("vbroadcastf64x4", EVEX, 1, 2, 0x1b, 1, k512, 8, 32);
    rep("vbroadcasti32x8", EVEX, 1, 2, 0x5b, 0, k512, 4, 32);
    rep("vbroadcasti64x4", EVEX, 1, 2, 0x5b, 1, k512, 8, 32);
    rep("vpbroadcastb (EVEX)", EVEX, 1, 2, 0x78, 0, kAll, 1, 1);
    rep("vpbroadcastw (EVEX)", EVEX, 1, 2, 0x79, 0, kAll, 2, 2);
    rep("vpbroadcastd (EVEX)", EVEX, 1, 2, 0x58, 0, kAll, 4, 4);
    rep("vpbroadcastq (EVEX)", EVEX, 1, 2, 0x59, 1, kAll, 8, 8);
    rep("movddup", LEGACY, 3, 1, 0x12, 0, k128, 0, 8, 1);
    rep("movsldup", LEGACY, 2, 1, 0x12, 0, k128, 0, 0, 1, true);
    rep("movshdup", LEGACY, 2, 1, 0x16, 0, k128, 0, 0, 2, true);
    rep("vmovddup xmm (VEX)", VEX, 3, 1, 0x12, kWig, k128, 0, 8, 1);
    rep("vmovddup ymm (VEX)", VEX, 3, 1, 0x12, kWig, k256, 0, 0, 1);
    rep("vmovsldup (VEX)", VEX, 2, 1, 0x12, kWig, k128_256, 0, 0, 1);
    rep("vmovshdup (VEX)", VEX, 2, 1, 0x16, kWig, k128_256, 0, 0, 2);
    rep("vmovddup xmm (EVEX)", EVEX, 3, 1, 0x12, 1, k128, 8, 8, 1);
    rep("vmovddup ymm/zmm (EVEX)", EVEX, 3, 1, 0x12, 1, k256 | k512, 8, 0, 1);
    rep("vmovsldup (EVEX)", EVEX, 2, 1, 0x12, 0, kAll, 4, 0, 1);
    rep("vmovshdup (EVEX)", EVEX, 2, 1, 0x16, 0, kAll, 4, 0, 2);
  }
  // ---- 5. Prefetches: any address, mapped or not; no access, no fault.
  t.push_back(special(gpr("prefetchnta", MEM, NONE, 1, {{1, 1, 0x18}}, kAddr, 0), Special::PREFETCH));
  t.push_back(special(gpr("prefetcht0", MEM, NONE, 1, {{1, 1, 0x18}}, kAddr, 1), Special::PREFETCH));
  t.push_back(special(gpr("prefetcht1", MEM, NONE, 1, {{1, 1, 0x18}}, kAddr, 2), Special::PREFETCH));
  t.push_back(special(gpr("prefetcht2", MEM, NONE, 1, {{1, 1, 0x18}}, kAddr, 3), Special::PREFETCH));
  t.push_back(special(gpr("prefetch (0F 0D /0)", MEM, NONE, 1, {{1, 1, 0x0d}}, kAddr, 0), Special::PREFETCH));
  t.push_back(special(gpr("prefetchw", MEM, NONE, 1, {{1, 1, 0x0d}}, kAddr, 1), Special::PREFETCH));
  // ---- Documented refusals: every instance must be UNSUPPORTED, nothing accessed or changed.
  t.push_back(refused(gpr("movsxd r16,m32 (refused)", GPR_MEM, READ, 0, {{2, 4, 0x63}}, kAddr)));
  {
    Row r = refused(gpr("repne movs/stos/lods (refused)", STRING, READ_WRITE, 0,
                        {{1, 1, 0xa4}, {8, 8, 0xa5}, {1, 1, 0xaa}, {4, 4, 0xad}}, kOptAddr32));
    r.opts |= kOptRepCond;  // the generator adds F2 to every instance of this row (see gen_string)
    t.push_back(r);
  }
  // LOCK on MOV is #UD: the CPU raises SIGILL, the emulator says DECODE_ERROR.
  {
    Row r = gpr("lock mov m,r (#UD)", GPR_MEM, WRITE, 0, widths(0x88, 0x89), kAddr);
    r.opts |= kOptLockAlways;
    t.push_back(r);
  }

  // ---- 6-7. ALU instructions, exchanges, XADD, CMPXCHG with a memory operand.
  // Read then write for read-modify-write; one atomic_rmw (RMW) when locked.
  static const char* const kAlu[8] = {"add", "or", "adc", "sbb", "and", "sub", "xor", "cmp"};
  static char names[8][5][24];
  for (uint8_t k = 0; k < 8; ++k) {
    const bool cmp = k == 7;
    const MemUse rmw = cmp ? READ : READ_WRITE;
    const uint32_t lock = cmp ? 0u : kOptLock;
    std::snprintf(names[k][0], sizeof names[k][0], "%s m,r", kAlu[k]);
    std::snprintf(names[k][1], sizeof names[k][1], "%s r,m", kAlu[k]);
    std::snprintf(names[k][2], sizeof names[k][2], "%s m8,imm8", kAlu[k]);
    std::snprintf(names[k][3], sizeof names[k][3], "%s m,imm", kAlu[k]);
    std::snprintf(names[k][4], sizeof names[k][4], "%s m,simm8", kAlu[k]);
    const auto o = static_cast<uint8_t>(8 * k);
    t.push_back(gpr(names[k][0], GPR_MEM, rmw, 0, widths(o, o + 1), kAddr | kOptRex | lock));
    t.push_back(gpr(names[k][1], GPR_MEM, READ, 0, widths(o + 2, o + 3), kAddr | kOptRex));
    t.push_back(gpr(names[k][2], IMM_MEM, rmw, 0, {{1, 1, 0x80}}, kAddr | lock, static_cast<int8_t>(k), 1));
    t.push_back(gpr(names[k][3], IMM_MEM, rmw, 0, widths_wdq(0x81), kAddr | kOptRex | lock, static_cast<int8_t>(k), 4));
    t.push_back(gpr(names[k][4], IMM_MEM, rmw, 0, widths_wdq(0x83), kAddr | kOptRex | lock, static_cast<int8_t>(k), 1));
  }
  t.push_back(gpr("test m,r", GPR_MEM, READ, 0, widths(0x84, 0x85), kAddr | kOptRex));
  t.push_back(gpr("test m,imm", IMM_MEM, READ, 0, widths(0xf6, 0xf7), kAddr | kOptRex, 0, 4));
  t.push_back(gpr("inc m", MEM, READ_WRITE, 0, widths(0xfe, 0xff), kAddr | kOptRex | kOptLock, 0));
  t.push_back(gpr("dec m", MEM, READ_WRITE, 0, widths(0xfe, 0xff), kAddr | kOptRex | kOptLock, 1));
  t.push_back(gpr("not m", MEM, READ_WRITE, 0, widths(0xf6, 0xf7), kAddr | kOptRex | kOptLock, 2));
  t.push_back(gpr("neg m", MEM, READ_WRITE, 0, widths(0xf6, 0xf7), kAddr | kOptRex | kOptLock, 3));
  {
    Row r = gpr("xchg m,r", GPR_MEM, READ_WRITE, 0, widths(0x86, 0x87), kAddr | kOptRex | kOptLock);
    r.atomic = true;  // XCHG with memory is always locked
    t.push_back(r);
  }
  // CMPXCHG writes even when the comparison fails (the operand, unchanged).
  t.push_back(gpr("cmpxchg m,r", GPR_MEM, READ_WRITE, 1, widths(0xb0, 0xb1), kAddr | kOptRex | kOptLock));
  t.push_back(gpr("xadd m,r", GPR_MEM, READ_WRITE, 1, widths(0xc0, 0xc1), kAddr | kOptRex | kOptLock));
  t.push_back(special(gpr("bt m,r", GPR_MEM, READ, 1, widths_wdq(0xa3), kAddr | kOptRex), Special::BT_REG));
  t.push_back(special(gpr("bts m,r", GPR_MEM, READ_WRITE, 1, widths_wdq(0xab), kAddr | kOptRex | kOptLock), Special::BT_REG));
  t.push_back(special(gpr("btr m,r", GPR_MEM, READ_WRITE, 1, widths_wdq(0xb3), kAddr | kOptRex | kOptLock), Special::BT_REG));
  t.push_back(special(gpr("btc m,r", GPR_MEM, READ_WRITE, 1, widths_wdq(0xbb), kAddr | kOptRex | kOptLock), Special::BT_REG));
  t.push_back(gpr("bt m,imm8", IMM_MEM, READ, 1, widths_wdq(0xba), kAddr | kOptRex, 4, 1));
  t.push_back(gpr("bts m,imm8", IMM_MEM, READ_WRITE, 1, widths_wdq(0xba), kAddr | kOptRex | kOptLock, 5, 1));
  t.push_back(gpr("btr m,imm8", IMM_MEM, READ_WRITE, 1, widths_wdq(0xba), kAddr | kOptRex | kOptLock, 6, 1));
  t.push_back(gpr("btc m,imm8", IMM_MEM, READ_WRITE, 1, widths_wdq(0xba), kAddr | kOptRex | kOptLock, 7, 1));
  // Shifts and rotates of memory (no LOCK: #UD), by imm8, by 1 and by CL.
  static const char* const kShift[8] = {"rol", "ror", "rcl", "rcr", "shl", "shr", nullptr, "sar"};
  static char shift_names[8][3][20];
  for (uint8_t k = 0; k < 8; ++k) {
    if (kShift[k] == nullptr) continue;  // /6 is an undocumented alias of SHL
    std::snprintf(shift_names[k][0], sizeof shift_names[k][0], "%s m,imm8", kShift[k]);
    std::snprintf(shift_names[k][1], sizeof shift_names[k][1], "%s m,1", kShift[k]);
    std::snprintf(shift_names[k][2], sizeof shift_names[k][2], "%s m,cl", kShift[k]);
    const auto d = static_cast<int8_t>(k);
    t.push_back(gpr(shift_names[k][0], IMM_MEM, READ_WRITE, 0, widths(0xc0, 0xc1), kAddr | kOptRex, d, 1));
    t.push_back(gpr(shift_names[k][1], MEM, READ_WRITE, 0, widths(0xd0, 0xd1), kAddr | kOptRex, d));
    t.push_back(gpr(shift_names[k][2], MEM, READ_WRITE, 0, widths(0xd2, 0xd3), kAddr | kOptRex, d));
  }
  t.push_back(gpr("shld m,r,imm8", GPR_MEM, READ_WRITE, 1, widths_wdq(0xa4), kAddr | kOptRex, -1, 1));
  t.push_back(gpr("shld m,r,cl", GPR_MEM, READ_WRITE, 1, widths_wdq(0xa5), kAddr | kOptRex));
  t.push_back(gpr("shrd m,r,imm8", GPR_MEM, READ_WRITE, 1, widths_wdq(0xac), kAddr | kOptRex, -1, 1));
  t.push_back(gpr("shrd m,r,cl", GPR_MEM, READ_WRITE, 1, widths_wdq(0xad), kAddr | kOptRex));
  t.push_back(gpr("cmpxchg8b m64", MEM, READ_WRITE, 1, {{4, 8, 0xc7}}, kAddr | kOptLock, 1));
  {
    Row r = gpr("cmpxchg16b m128", MEM, READ_WRITE, 1, {{8, 16, 0xc7}}, kAddr | kOptLock, 1);
    r.aligned = true;  // #GP unless 16-byte aligned
    t.push_back(r);
  }
  // ---- 8. SETcc, CMOVcc (the load happens whatever the condition), MOVBE, PUSH m, POP m.
  t.push_back(special(gpr("setcc m8", MEM, WRITE, 1, {{1, 1, 0x90}}, kAddr | kOptRex, 0), Special::CC));
  t.push_back(special(gpr("cmovcc r,m", GPR_MEM, READ, 1, widths_wdq(0x40), kAddr | kOptRex), Special::CC));
  t.push_back(gpr("movbe r,m", GPR_MEM, READ, 2, widths_wdq(0xf0), kAddr | kOptRex));
  t.push_back(gpr("movbe m,r", GPR_MEM, WRITE, 2, widths_wdq(0xf1), kAddr | kOptRex));
  t.push_back(special(gpr("push m", MEM, READ, 0, {{8, 8, 0xff}, {2, 2, 0xff}}, kAddr | kOptNoRspAddr, 6), Special::PUSH));
  t.push_back(special(gpr("pop m", MEM, WRITE, 0, {{8, 8, 0x8f}, {2, 2, 0x8f}}, kAddr | kOptNoRspAddr, 0), Special::POP));
  // ---- 9. CMPS and SCAS, with REPE/REPNE (CMPS reads RSI's element, then RDI's).
  t.push_back(gpr("cmps", STRING, READ, 0, widths(0xa6, 0xa7), kOptSeg | kOptAddr32 | kOptRex | kOptRepCond));
  t.push_back(gpr("scas", STRING, READ, 0, widths(0xae, 0xaf), kOptSeg | kOptAddr32 | kOptRex | kOptRepCond));
  // ==========================================================================
  // Forms being added to the emulator: add their rows here wrapped in
  // disabled(...) until the emulator supports them (`--all-rows` or `--row
  // NAME` runs them; the tester prints a note at startup when a disabled row's
  // instances stop being refused), then remove the wrapper. A row the emulator
  // emulates but that must stay disabled carries its disabled_reason. The
  // access model is the SDM's; rows marked inexact() compare only the bytes
  // read and written, not the sequence of Memory calls.
  // ==========================================================================
  return t;
  // clang-format on
}

}  // namespace

const std::vector<Row>& all_rows() {
  static const std::vector<Row> rows = make_rows();
  return rows;
}

std::string to_string(const Access& a) {
  static const char* const kNames[] = {"R", "W", "RM", "WM", "RMW"};
  char buf[96];
  if (a.kind == AccessKind::READ_MASKED || a.kind == AccessKind::WRITE_MASKED) {
    std::snprintf(buf, sizeof buf, "%s(0x%llx, %u, mask 0x%llx)", kNames[static_cast<int>(a.kind)],
                  static_cast<unsigned long long>(a.addr), a.size, static_cast<unsigned long long>(a.mask));
  } else {
    std::snprintf(buf, sizeof buf, "%s(0x%llx, %u)", kNames[static_cast<int>(a.kind)],
                  static_cast<unsigned long long>(a.addr), a.size);
  }
  return buf;
}

}  // namespace mmiotrace::difftest
