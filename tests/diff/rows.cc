// The row table and the instance generator (see rows.h).
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
constexpr uint8_t kWig = 2;

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

// ============================================================================
// Random numbers: splitmix64, fully determined by the instance seed.
// ============================================================================

struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed) {}
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  uint64_t below(uint64_t n) { return n == 0 ? 0 : next() % n; }
  bool chance(unsigned num, unsigned den) { return below(den) < num; }
  int64_t range(int64_t lo, int64_t hi) {  // inclusive
    return lo + static_cast<int64_t>(below(static_cast<uint64_t>(hi - lo) + 1));
  }
};

// Register values: mostly random, often small, boundary or sign-interesting.
uint64_t random_value(Rng& r) {
  switch (r.below(8)) {
    case 0:
      return r.below(256);
    case 1:
      return ~uint64_t{0} - r.below(4);
    case 2:
      return uint64_t{1} << r.below(64);
    case 3:
      return r.next() & 0xffffffffu;
    case 4:
      return 0x80000000u + r.below(5) - 2;
    default:
      return r.next();
  }
}

uint64_t random_opmask(Rng& r) {
  switch (r.below(6)) {
    case 0:
      return 0;
    case 1:
      return ~uint64_t{0};
    case 2:
      return r.next() & 0xff;
    case 3:
      return r.next() & 0xffff;
    case 4:
      return uint64_t{1} << r.below(64);
    default:
      return r.next();
  }
}

void fill_random(Rng& r, uint8_t* p, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const uint64_t v = r.next();
    std::memcpy(p + i, &v, 8);
  }
  for (; i < n; ++i) p[i] = static_cast<uint8_t>(r.next());
}

constexpr uint32_t kXstateBvOffset = 512;

// Random XMM/YMM/ZMM 0-31 and k0-k7, and a random XSTATE_BV: a component
// whose bit is clear is in its initial state (zeros) and its bytes, left
// random here, must not be used.
void random_vector_state(Rng& r, const Env& env, const uint8_t* tmpl, uint8_t* xs) {
  const emu::XsaveLayout& l = emu::XsaveLayout::host();
  std::memcpy(xs, tmpl, xsave_buffer_size());
  fill_random(r, xs + 160, 256);  // XMM0-15 in the legacy region
  for (unsigned c : {2u, 6u, 7u}) {
    if ((env.xfeatures >> c) & 1) fill_random(r, xs + l.offset[c], l.size[c]);
  }
  if ((env.xfeatures >> 5) & 1) {
    for (unsigned k = 0; k < 8; ++k) {
      const uint64_t v = random_opmask(r);
      std::memcpy(xs + l.offset[5] + 8 * k, &v, 8);
    }
  }
  uint64_t bv = 0;
  std::memcpy(&bv, tmpl + kXstateBvOffset, 8);
  bv &= 1;  // x87 as captured
  for (unsigned c : {1u, 2u, 5u, 6u, 7u}) {
    if (((env.xfeatures >> c) & 1) && !r.chance(1, 8)) bv |= uint64_t{1} << c;
  }
  std::memcpy(xs + kXstateBvOffset, &bv, 8);
}

// ============================================================================
// Operand placement.
// ============================================================================

uint8_t* mem_at(const Env& env, Instance& inst, uint64_t a) { return inst.mem + (a - env.region); }

// A linear address for an access of `size` bytes: usually inside pages A-B;
// sometimes straddling the A/B boundary (unaligned forms), misaligned
// (aligned forms: #GP), or reaching into a guard page (#PF).
uint64_t pick_target(Rng& r, const Env& env, unsigned size, unsigned align, Instance& inst) {
  const unsigned k = static_cast<unsigned>(r.below(100));
  const uint64_t mid = env.lo + kPage;
  if (k < 4) {
    inst.placement = "guard";
    const bool straddle = size > 1 && r.chance(1, 2);
    uint64_t t = 0;
    if (r.chance(1, 2)) {
      t = straddle ? env.lo - 1 - r.below(size - 1) : env.lo - size - r.below(kPage - size + 1);
    } else {
      t = straddle ? env.hi - 1 - r.below(size - 1) : env.hi + r.below(kPage - size + 1);
    }
    if (align != 0) t &= ~uint64_t{align - 1};
    return t;
  }
  if (align > 1 && k < 8) {
    inst.placement = "misaligned";
    const uint64_t t = (env.lo + r.below(2 * kPage - 2 * align)) & ~uint64_t{align - 1};
    return t + 1 + r.below(align - 1);
  }
  if (align == 0 && size > 1 && k < 20) {
    inst.placement = "straddle";
    return mid - 1 - r.below(size - 1);
  }
  inst.placement = "normal";
  uint64_t t = env.lo + r.below(2 * kPage - size + 1);
  if (align != 0) t &= ~uint64_t{align - 1};
  return t;
}

// Any address at all, for prefetches: in the region, in a guard page,
// unmapped user space, the kernel half, or non-canonical.
uint64_t pick_any_address(Rng& r, const Env& env, Instance& inst) {
  switch (r.below(5)) {
    case 0:
      inst.placement = "guard";
      return env.region + (r.chance(1, 2) ? 0 : 3 * kPage) + r.below(kPage);
    case 1:
      inst.placement = "user";
      return r.next() & ((uint64_t{1} << 47) - 1);
    case 2:
      inst.placement = "kernel";
      return 0xffff800000000000ull | r.next();
    case 3:
      inst.placement = "non-canonical";
      return (r.next() & 0x00007fffffffffffull) | 0x0008000000000000ull;
    default:
      inst.placement = "normal";
      return env.lo + r.below(2 * kPage);
  }
}

// An instruction under construction.
struct Build {
  EncodeRequest req;
  uint8_t pre[8] = {};  // legacy prefixes other than the mandatory one, shuffled at the end
  unsigned npre = 0;
  bool rip = false;     // RIP-relative: the displacement is fixed once the length is known
  uint64_t rip_ea = 0;  // the effective address it must produce
  bool addr32 = false;
  void prefix(uint8_t p) {
    if (npre < sizeof pre) pre[npre++] = p;
  }
};

constexpr uint8_t kIgnoredSegments[4] = {0x2e, 0x3e, 0x26, 0x36};  // CS, DS, ES, SS

uint64_t inverse_odd(uint64_t a) {  // a^-1 mod 2^64, a odd (Newton's iteration)
  uint64_t x = a;
  for (int i = 0; i < 6; ++i) x *= 2 - a * x;
  return x;
}

// Segment choice for an operand at linear address t. Sets inst.gs_base when
// GS is chosen; returns the effective address (what base + index*scale + disp
// must produce, already truncated to the address size).
uint64_t choose_segment(Rng& r, const Env& env, const Row& row, Instance& inst, Build& b, uint64_t t, bool ea_free) {
  // ea_free: the effective address can be any 64-bit value (registers provide it).
  int seg = 0;  // 0 none, 1 FS, 2 GS, 3 ignored
  if (row.opts & kOptSeg) {
    const unsigned k = static_cast<unsigned>(r.below(16));
    seg = k < 2 ? 1 : k < 4 ? 2 : k == 4 ? 3 : 0;
  }
  if (seg == 1 && (!ea_free || b.addr32)) seg = 2;  // FS base is high: only a 64-bit free EA reaches t
  const uint64_t mask = b.addr32 ? 0xffffffffull : ~uint64_t{0};
  switch (seg) {
    case 1:
      b.prefix(0x64);
      return (t - env.fs_base) & mask;
    case 2: {
      b.prefix(0x65);
      uint64_t ea = 0;
      if (ea_free && !b.addr32) {
        inst.gs_base = r.chance(1, 4) ? r.below(env.lo) : r.next() & ((uint64_t{1} << 46) - 1);
        ea = t - inst.gs_base;
      } else {
        ea = r.below(t + 1);  // the base must stay a user address: ea in [0, t]
        inst.gs_base = t - ea;
      }
      inst.set_gs = true;
      return ea & mask;
    }
    case 3:
      b.prefix(kIgnoredSegments[r.below(4)]);
      return t & mask;
    default:
      return t & mask;
  }
}

int pick_reg(Rng& r, uint32_t avoid, bool index) {
  for (;;) {
    const int x = static_cast<int>(r.below(16));
    if (index && x == 4) continue;
    if ((avoid >> x) & 1) continue;
    return x;
  }
}

// Addresses linear address `t` with a ModRM memory operand: chooses the
// addressing mode, 67h, the segment, the base/index registers (not in
// `avoid`) and their values, and the displacement. `far`: t may be any
// 64-bit address (only register-based modes can reach it).
void place_operand(Rng& r, const Env& env, const Row& row, Instance& inst, Build& b, uint64_t t, uint32_t avoid,
                   bool far, unsigned disp8_n) {
  enum Mode { BASE, BASE_INDEX, INDEX, ABS, RIP };
  Mode mode = BASE;
  if (far) {
    mode = r.chance(1, 2) ? BASE : BASE_INDEX;
  } else {
    const unsigned k = static_cast<unsigned>(r.below(100));
    mode = k < 35 ? BASE : k < 65 ? BASE_INDEX : k < 73 ? INDEX : k < 80 ? ABS : RIP;
  }
  b.addr32 = !far && (row.opts & kOptAddr32) && r.chance(1, 8);
  const bool ea_free = mode == BASE || mode == BASE_INDEX || mode == INDEX;
  const uint64_t ea = choose_segment(r, env, row, inst, b, t, ea_free);
  if (b.addr32) b.prefix(0x67);
  const uint64_t mask = b.addr32 ? 0xffffffffull : ~uint64_t{0};
  const auto with_upper = [&](uint64_t v) {  // 67h: the upper halves are ignored; make them random
    return b.addr32 ? ((v & mask) | (r.next() << 32)) : v;
  };
  MemOperand& m = b.req.mem;
  m = MemOperand{};
  const auto choose_disp = [&](int base) {
    unsigned k = static_cast<unsigned>(r.below(3));
    if (k == 0 && (base & 7) == 5) k = 1;  // RBP/R13 need a displacement
    if (k == 0) {
      m.disp_size = 0;
      m.disp = 0;
    } else if (k == 1) {
      m.disp_size = 1;
      m.disp = static_cast<int64_t>(disp8_n) * r.range(-128, 127);
    } else {
      m.disp_size = 4;
      m.disp = r.chance(1, 2) ? r.range(-4096, 4096) : static_cast<int32_t>(r.next());
    }
  };
  switch (mode) {
    case BASE: {
      m.base = pick_reg(r, avoid, false);
      choose_disp(m.base);
      m.force_sib = r.chance(1, 8);
      inst.gpr[m.base] = with_upper(ea - static_cast<uint64_t>(m.disp));
      break;
    }
    case BASE_INDEX: {
      m.base = pick_reg(r, avoid, false);
      m.index = pick_reg(r, avoid, true);
      m.scale = 1u << r.below(4);
      choose_disp(m.base);
      const uint64_t rest = ea - static_cast<uint64_t>(m.disp);
      if (m.base == m.index) {
        if (m.scale == 1) m.scale = 2;  // value * (1 + scale): 1 + scale odd, so invertible mod 2^n
        inst.gpr[m.base] = with_upper(rest * inverse_odd(1 + m.scale));
      } else {
        const uint64_t index_value = r.chance(1, 2) ? static_cast<uint64_t>(r.range(-4096, 4096)) : random_value(r);
        inst.gpr[m.index] = with_upper(index_value);
        inst.gpr[m.base] = with_upper(rest - index_value * m.scale);
      }
      break;
    }
    case INDEX: {
      m.index = pick_reg(r, avoid, true);
      const unsigned shift = static_cast<unsigned>(r.below(4));
      m.scale = 1u << shift;
      m.disp_size = 4;
      int64_t disp = r.chance(1, 2) ? r.range(-4096, 4096) : static_cast<int32_t>(r.next());
      disp = (disp & ~static_cast<int64_t>(m.scale - 1)) | static_cast<int64_t>(ea & (m.scale - 1));
      m.disp = disp;
      uint64_t v = ((ea - static_cast<uint64_t>(disp)) & mask) >> shift;
      const unsigned bits = b.addr32 ? 32 : 64;
      if (shift != 0) v |= (r.next() << (bits - shift)) & mask;  // bits that scale shifts out
      inst.gpr[m.index] = with_upper(v);
      break;
    }
    case ABS:
      m.disp_size = 4;
      m.disp = static_cast<int64_t>(ea);  // t is below 2 GiB: a positive disp32
      break;
    case RIP:
      m.base = kRipReg;
      m.disp_size = 4;
      b.rip = true;
      b.rip_ea = ea;
      break;
  }
}

// Shuffles the optional prefixes, encodes, and settles a RIP-relative displacement.
bool finish(Rng& r, Build& b, Instance& inst) {
  for (unsigned i = b.npre; i > 1; --i) std::swap(b.pre[i - 1], b.pre[r.below(i)]);
  std::memcpy(b.req.prefixes, b.pre, b.npre);
  b.req.nprefixes = b.npre;
  unsigned len = encode(b.req, inst.code);
  if (len == 0) return false;
  if (b.rip) {
    const uint64_t next = inst.insn_addr + len;
    // EIP-relative with 67h: (next + disp) mod 2^32; both below 2 GiB, so the
    // difference fits a disp32 either way.
    b.req.mem.disp = static_cast<int64_t>(b.rip_ea - next);
    if (b.req.mem.disp < INT32_MIN || b.req.mem.disp > INT32_MAX) return false;
    if (encode(b.req, inst.code) != len) return false;
  }
  inst.len = len;
  return true;
}

// Operand-size prefixes of a GPR form; the redundant ones with kOptRex.
void gpr_size_prefixes(Rng& r, const Row& row, unsigned opsize, Build& b) {
  if (opsize == 2) b.prefix(0x66);
  if (opsize == 8) b.req.rex_w = true;
  if (row.opts & kOptRex) {
    if (r.chance(1, 8)) b.req.force_rex = true;
    if (opsize == 8 && r.chance(1, 16)) b.prefix(0x66);      // REX.W wins over 66
    if (opsize == 1 && r.chance(1, 16)) b.req.rex_w = true;  // ignored by byte forms
  } else if (opsize == 1 && r.chance(1, 4)) {
    b.req.force_rex = true;  // SPL-DIL instead of AH-BH
  }
}

void expect_rw(Instance& inst, MemUse use, uint64_t t, unsigned size, bool locked = false) {
  if (locked && (use == MemUse::READ_WRITE || use == MemUse::READ_MAYBE_WRITE)) {
    inst.expected.push_back({AccessKind::RMW, t, size, 0});
    return;
  }
  if (use == MemUse::READ || use == MemUse::READ_WRITE || use == MemUse::READ_MAYBE_WRITE) {
    inst.expected.push_back({AccessKind::READ, t, size, 0});
  }
  if (use == MemUse::WRITE || use == MemUse::READ_WRITE || use == MemUse::READ_MAYBE_WRITE) {
    inst.expected.push_back({AccessKind::WRITE, t, size, 0});
  }
}

// ============================================================================
// Generators, one per operand layout.
// ============================================================================

// GPR_MEM, IMM_MEM, MEM.
bool gen_modrm(Rng& r, const Env& env, const Row& row, Instance& inst) {
  const Variant& v = row.v[r.below(row.nv)];
  Build b;
  b.req.enc = Enc::LEGACY;
  b.req.map = row.map;
  b.req.opcode = v.opcode;
  if (row.special == Special::CC) b.req.opcode = static_cast<uint8_t>(v.opcode + r.below(16));
  uint32_t avoid = (row.opts & kOptNoRspAddr) ? 1u << 4 : 0;
  if (row.ops == Ops::GPR_MEM) {
    b.req.reg = static_cast<unsigned>(r.below(16));
  } else {
    b.req.reg = static_cast<unsigned>(row.digit);
  }
  if (row.special == Special::BT_REG) avoid |= 1u << b.req.reg;
  gpr_size_prefixes(r, row, v.opsize, b);
  const bool lock_prefix = (row.opts & kOptLockAlways) || ((row.opts & kOptLock) && r.chance(1, 2));
  if (lock_prefix) b.prefix(0xf0);
  const bool locked = lock_prefix || row.atomic;
  if ((row.opts & kOptRepIgnored) && r.chance(1, 16)) b.prefix(r.chance(1, 2) ? 0xf2 : 0xf3);
  if (row.imm == 1) {
    b.req.imm_size = 1;
  } else if (row.imm == 4) {
    b.req.imm_size = v.opsize == 1 ? 1 : v.opsize == 2 ? 2 : 4;
  }
  b.req.imm = random_value(r);

  uint64_t t = 0;  // linear address of the memory operand
  switch (row.special) {
    case Special::PREFETCH: {
      t = pick_any_address(r, env, inst);
      const bool far = t < env.lo - kPage || t >= env.hi + kPage;
      place_operand(r, env, row, inst, b, t, avoid, far, 1);
      break;
    }
    case Special::BT_REG: {
      // The access is at ea + (offset SAR log2(bits)) * size, with the offset
      // the register sign-extended from the operand size.
      const unsigned bits = v.opsize * 8u;
      const int64_t offset = r.range(-8 * 300, 8 * 300);
      const int64_t shift = offset >= 0 ? offset / bits : -((-offset + bits - 1) / bits);
      const uint64_t access = pick_target(r, env, v.memsize, 0, inst);
      t = access - static_cast<uint64_t>(shift * v.opsize);
      const uint64_t low_mask = bits == 64 ? ~uint64_t{0} : (uint64_t{1} << bits) - 1;
      inst.gpr[b.req.reg] = (random_value(r) & ~low_mask) | (static_cast<uint64_t>(offset) & low_mask);
      place_operand(r, env, row, inst, b, t, avoid, false, 1);
      expect_rw(inst, row.mem, access, v.memsize, locked);
      break;
    }
    case Special::PUSH:
    case Special::POP: {
      t = pick_target(r, env, v.memsize, 0, inst);
      const char* placement = inst.placement;
      const uint64_t slot = pick_target(r, env, v.memsize, 0, inst);
      if (std::strcmp(inst.placement, "normal") == 0) inst.placement = placement;
      inst.gpr[4] = row.special == Special::PUSH ? slot + v.memsize : slot;
      place_operand(r, env, row, inst, b, t, avoid, false, 1);
      if (row.special == Special::PUSH) {
        inst.expected.push_back({AccessKind::READ, t, v.memsize, 0});
        inst.expected.push_back({AccessKind::WRITE, slot, v.memsize, 0});
      } else {
        inst.expected.push_back({AccessKind::READ, slot, v.memsize, 0});
        inst.expected.push_back({AccessKind::WRITE, t, v.memsize, 0});
      }
      break;
    }
    default:
      t = pick_target(r, env, v.memsize, row.aligned ? v.memsize : 0, inst);
      place_operand(r, env, row, inst, b, t, avoid, false, 1);
      expect_rw(inst, row.mem, t, v.memsize, locked);
      break;
  }
  return finish(r, b, inst);
}

// MOV with moffs (A0-A3).
bool gen_moffs(Rng& r, const Env& env, const Row& row, Instance& inst) {
  const Variant& v = row.v[r.below(row.nv)];
  Build b;
  gpr_size_prefixes(r, row, v.opsize, b);
  const uint64_t t = pick_target(r, env, v.memsize, 0, inst);
  b.addr32 = r.chance(1, 8);
  const uint64_t moffs = choose_segment(r, env, row, inst, b, t, true);
  if (b.addr32) b.prefix(0x67);
  for (unsigned i = b.npre; i > 1; --i) std::swap(b.pre[i - 1], b.pre[r.below(i)]);
  unsigned n = 0;
  for (unsigned i = 0; i < b.npre; ++i) inst.code[n++] = b.pre[i];
  if (b.req.rex_w || b.req.force_rex) inst.code[n++] = b.req.rex_w ? 0x48 : 0x40;
  inst.code[n++] = v.opcode;
  for (unsigned i = 0; i < (b.addr32 ? 4u : 8u); ++i) inst.code[n++] = static_cast<uint8_t>(moffs >> (8 * i));
  if (n > 15) return false;
  inst.len = n;
  expect_rw(inst, row.mem, t, v.memsize);
  return true;
}

// MOVS, STOS, LODS, CMPS, SCAS, with or without REP/REPE/REPNE.
bool gen_string(Rng& r, const Env& env, const Row& row, Instance& inst) {
  const Variant& v = row.v[r.below(row.nv)];
  const unsigned w = v.memsize;
  const uint8_t op = v.opcode & 0xfe;
  const bool reads_src = op == 0xa4 || op == 0xac || op == 0xa6;  // DS:RSI (overridable)
  const bool uses_dst = op != 0xac;                               // ES:RDI
  Build b;
  gpr_size_prefixes(r, row, v.opsize, b);
  uint8_t rep = 0;
  if (row.expect_refused) {
    rep = 0xf2;
  } else if (row.opts & kOptRepCond) {
    const unsigned k = static_cast<unsigned>(r.below(3));
    rep = k == 0 ? 0xf3 : k == 1 ? 0xf2 : 0;
  } else if ((row.opts & kOptRep) && r.chance(1, 2)) {
    rep = 0xf3;
  }
  if (rep != 0) b.prefix(rep);
  b.addr32 = (row.opts & kOptAddr32) && r.chance(1, 8);
  const uint64_t amask = b.addr32 ? 0xffffffffull : ~uint64_t{0};
  const bool down = (inst.rflags & emu::kFlagDF) != 0;

  uint64_t count = 1;
  if (rep != 0) {
    const unsigned k = static_cast<unsigned>(r.below(20));
    count = k == 0 ? 0 : k < 13 ? 1 + r.below(16) : 17 + r.below(284);
    inst.gpr[1] = b.addr32 ? ((r.next() << 32) | count) : count;
    if (r.chance(1, 4)) inst.rep_chunk = 1 + static_cast<unsigned>(r.below(8));
  }
  const uint64_t span = count * w;
  // First element's address so that all `count` elements lie in [lo, hi);
  // sometimes (guard) so that the walk runs into a guard page.
  const auto pick_start = [&](bool allow_guard) -> uint64_t {
    if (count == 0) {
      inst.placement = "count 0";
      return env.region + r.below(kRegionBytes);  // anywhere, guard pages included: no access
    }
    if (allow_guard && r.chance(1, 20)) {
      inst.placement = "guard";
      const uint64_t past = 1 + r.below(std::min<uint64_t>(count, 4));  // elements that fall in a guard page
      // The elements from index count - past on lie in a guard page.
      if (down) return env.lo - w + (count - past) * w;
      return env.hi - (count - past) * w;
    }
    if (span + w < kPage && r.chance(1, 5)) {
      inst.placement = "straddle";  // the walk crosses the A/B page boundary
      const uint64_t mid = env.lo + kPage;
      const uint64_t first = mid - w * (1 + r.below(count));
      const uint64_t start = down ? first + span - w : first;
      if (start >= env.lo && start + w <= env.hi) return start;
    }
    inst.placement = "normal";
    const uint64_t low = env.lo + r.below(2 * kPage - span + 1);  // lowest byte of the walk
    return down ? low + span - w : low;
  };
  uint64_t dst = uses_dst ? pick_start(true) : 0;
  const char* placement = inst.placement;
  uint64_t src = 0;
  if (reads_src) {
    if (op == 0xa4 && uses_dst && count != 0 && r.chance(1, 4)) {
      // Overlapping source and destination (memmove's hard case).
      const int64_t delta = r.range(-64, 64);
      src = dst + static_cast<uint64_t>(delta);
      const uint64_t low = down ? src - (span - w) : src;
      if (low < env.lo || low + span > env.hi)
        src = pick_start(false);
      else
        inst.placement = "overlap";
    } else {
      src = pick_start(true);
    }
    if (std::strcmp(placement, "normal") != 0 && uses_dst) inst.placement = placement;
  }
  if (uses_dst) inst.gpr[7] = b.addr32 ? ((r.next() << 32) | dst) : dst;
  uint64_t src_base = 0;
  if (reads_src || (row.opts & kOptSeg)) {
    // The segment override applies to the source only; on STOS/SCAS it is ignored.
    const uint64_t ea = choose_segment(r, env, row, inst, b, reads_src ? src : env.lo, true);
    if (reads_src) {
      src_base = src - ea;
      if (b.addr32 && (ea < span + 64 || ea + span + 64 > 0xffffffffull)) {
        return false;  // would wrap at 4 GiB: not what this test is about
      }
      inst.gpr[6] = b.addr32 ? ((r.next() << 32) | ea) : ea;
    } else if (inst.set_gs) {
      inst.set_gs = false;  // the override is ignored; no need to set a GS base
      inst.gs_base = 0;
    }
  }
  if (b.addr32) b.prefix(0x67);
  inst.a32_rep = b.addr32 && rep != 0;

  // CMPS/SCAS: make runs of equal elements so that REPE goes on for a while,
  // and plant an equal element for REPNE to stop at.
  if ((op == 0xa6 || op == 0xae) && count > 1) {
    const uint64_t run = r.below(count + 1);
    const int64_t step = down ? -static_cast<int64_t>(w) : static_cast<int64_t>(w);
    for (uint64_t i = 0; i < count; ++i) {
      const bool equal = rep == 0xf3 ? i < run : i == run;
      if (!equal) continue;
      const uint64_t d = dst + static_cast<uint64_t>(step * static_cast<int64_t>(i));
      if (d < env.lo || d + w > env.hi) break;
      if (op == 0xa6) {
        const uint64_t s = src + static_cast<uint64_t>(step * static_cast<int64_t>(i));
        if (s < env.lo || s + w > env.hi) break;
        std::memmove(mem_at(env, inst, d), mem_at(env, inst, s), w);
      } else {
        std::memcpy(mem_at(env, inst, d), &inst.gpr[0], w);
      }
    }
  }

  // Encode.
  for (unsigned i = b.npre; i > 1; --i) std::swap(b.pre[i - 1], b.pre[r.below(i)]);
  unsigned n = 0;
  for (unsigned i = 0; i < b.npre; ++i) inst.code[n++] = b.pre[i];
  if (b.req.rex_w || b.req.force_rex) inst.code[n++] = b.req.rex_w ? 0x48 : 0x40;
  inst.code[n++] = v.opcode;
  inst.len = n;

  // Model: element by element; CMPS/SCAS stop on the REPE/REPNE condition.
  const int64_t step = down ? -static_cast<int64_t>(w) : static_cast<int64_t>(w);
  uint64_t si = src - src_base;  // the offset in RSI/ESI
  uint64_t di = dst;
  for (uint64_t i = 0; i < count; ++i) {
    const uint64_t s = src_base + (si & amask);
    const uint64_t d = di & amask;
    uint64_t a = 0, c = 0;
    switch (op) {
      case 0xa4:
        inst.expected.push_back({AccessKind::READ, s, w, 0});
        inst.expected.push_back({AccessKind::WRITE, d, w, 0});
        break;
      case 0xaa:
        inst.expected.push_back({AccessKind::WRITE, d, w, 0});
        break;
      case 0xac:
        inst.expected.push_back({AccessKind::READ, s, w, 0});
        break;
      case 0xa6:
        inst.expected.push_back({AccessKind::READ, s, w, 0});
        inst.expected.push_back({AccessKind::READ, d, w, 0});
        if (s < env.lo || s + w > env.hi || d < env.lo || d + w > env.hi) break;
        std::memcpy(&a, mem_at(env, inst, s), w);
        std::memcpy(&c, mem_at(env, inst, d), w);
        break;
      case 0xae:
        inst.expected.push_back({AccessKind::READ, d, w, 0});
        if (d < env.lo || d + w > env.hi) break;
        std::memcpy(&a, &inst.gpr[0], w);
        std::memcpy(&c, mem_at(env, inst, d), w);
        break;
      default:
        break;
    }
    si += static_cast<uint64_t>(step);
    di += static_cast<uint64_t>(step);
    if (op == 0xa6 || op == 0xae) {
      if (rep == 0xf3 && a != c) break;
      if (rep == 0xf2 && a == c) break;
    }
  }
  return true;
}

// Byte mask of the elements selected by opmask `k` (bit i = byte i).
uint64_t byte_mask(uint64_t k, unsigned elem, unsigned bytes) {
  uint64_t m = 0;
  for (unsigned e = 0; e < bytes / elem; ++e) {
    if ((k >> e) & 1) m |= (elem == 8 ? 0xffull : (uint64_t{1} << elem) - 1) << (e * elem);
  }
  return m;
}

// Vector moves: legacy SSE, VEX, EVEX.
bool gen_vector(Rng& r, const Env& env, const Row& row, Instance& inst) {
  unsigned lls[3];
  unsigned nll = 0;
  for (unsigned ll = 0; ll < 3; ++ll) {
    if ((row.vls >> ll) & 1) lls[nll++] = ll;
  }
  const unsigned ll = lls[r.below(nll)];
  const unsigned vl = 16u << ll;
  const unsigned size = row.vmem != 0 ? row.vmem : vl;
  const unsigned align = row.aligned ? (row.enc == Enc::LEGACY ? 16 : size) : 0;
  Build b;
  b.req.enc = row.enc;
  b.req.map = row.map;
  b.req.opcode = row.vopcode;
  b.req.pp = row.pp;
  b.req.ll = static_cast<uint8_t>(ll);
  b.req.w = static_cast<uint8_t>(row.w == kWig ? r.below(2) : row.w);
  b.req.reg = static_cast<unsigned>(r.below(row.enc == Enc::EVEX ? 32 : 16));
  b.req.vex3 = r.chance(1, 4);
  b.req.disp8_n = size;  // full-vector moves: N = VL; MOVD/MOVQ (tuple1 scalar): N = 4 or 8
  if (row.enc == Enc::LEGACY) {
    b.req.rex_w = row.w == 1;
    if ((row.opts & kOptRex) && r.chance(1, 8)) b.req.force_rex = true;
  }
  if (row.enc == Enc::EVEX && row.mask_elem != 0 && !r.chance(1, 4)) {
    b.req.aaa = static_cast<uint8_t>(1 + r.below(7));
    b.req.z = !row.store && r.chance(1, 2);
  }
  const uint64_t t = pick_target(r, env, size, align, inst);
  place_operand(r, env, row, inst, b, t, 0, false, row.enc == Enc::EVEX ? size : 1);
  // Model. Unmasked, or every element selected: one plain access; some
  // selected: one masked access; none: no access (emulated-instructions.md, 4).
  const AccessKind plain = row.store ? AccessKind::WRITE : AccessKind::READ;
  const AccessKind masked = row.store ? AccessKind::WRITE_MASKED : AccessKind::READ_MASKED;
  if (row.special == Special::REPLICATE && b.req.aaa != 0 && row.dup != 0) {
    // MOVDDUP/MOVSLDUP/MOVSHDUP: the whole operand whatever the mask (the CPU
    // faults on it even when the opmask selects no element).
    inst.expected.push_back({plain, t, size, 0});
  } else if (row.special == Special::REPLICATE && b.req.aaa != 0) {
    // Broadcasts under an opmask: the memory
    // elements some selected destination element takes (the CPU suppresses
    // faults on the others); all: one plain read, some: one masked read.
    const uint64_t k = emu::XsaveArea(inst.xsave, env.xfeatures).read_opmask(b.req.aaa);
    const unsigned elem = row.mask_elem;
    uint64_t need = 0;
    for (unsigned e = 0; e < vl / elem; ++e) {
      if (!((k >> e) & 1)) continue;
      // Memory element e modulo the operand's elements.
      const uint64_t ones = elem == 8 ? 0xffull : (uint64_t{1} << elem) - 1;
      need |= ones << ((e % (size / elem)) * elem);
    }
    const uint64_t all = size == 64 ? ~uint64_t{0} : (uint64_t{1} << size) - 1;
    if (need == all) {
      inst.expected.push_back({plain, t, size, 0});
    } else if (need != 0) {
      inst.expected.push_back({AccessKind::READ_MASKED, t, size, need});
    }
  } else if (b.req.aaa == 0) {
    inst.expected.push_back({plain, t, size, 0});
  } else {
    const emu::XsaveArea x(inst.xsave, env.xfeatures);
    const uint64_t bm = byte_mask(x.read_opmask(b.req.aaa), row.mask_elem, size);
    const uint64_t all = size == 64 ? ~uint64_t{0} : (uint64_t{1} << size) - 1;
    if (bm == all) {
      inst.expected.push_back({plain, t, size, 0});
    } else if (bm != 0) {
      inst.expected.push_back({masked, t, size, bm});
    }
  }
  return finish(r, b, inst);
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

void generate(uint64_t seed, const std::vector<const Row*>& rows, const Env& env, Instance& inst) {
  Rng r(seed);
  inst.seed = seed;
  inst.row = rows[r.below(rows.size())];
  const Row& row = *inst.row;
  // Common state: registers, flags, vector state, memory.
  for (uint64_t& g : inst.gpr) g = random_value(r);
  inst.rflags =
      0x202 | (r.next() & (emu::kFlagCF | emu::kFlagPF | emu::kFlagAF | emu::kFlagZF | emu::kFlagSF | emu::kFlagOF));
  if (r.chance(1, 4)) inst.rflags |= emu::kFlagDF;
  random_vector_state(r, env, env.xsave_template, inst.xsave);
  fill_random(r, inst.mem + kPage, 2 * kPage);
  // The instruction; a combination that cannot be encoded is drawn again.
  const uint64_t saved_gpr[16] = {inst.gpr[0],  inst.gpr[1],  inst.gpr[2],  inst.gpr[3], inst.gpr[4],  inst.gpr[5],
                                  inst.gpr[6],  inst.gpr[7],  inst.gpr[8],  inst.gpr[9], inst.gpr[10], inst.gpr[11],
                                  inst.gpr[12], inst.gpr[13], inst.gpr[14], inst.gpr[15]};
  for (int attempt = 0;; ++attempt) {
    std::memcpy(inst.gpr, saved_gpr, sizeof saved_gpr);
    inst.expected.clear();
    inst.set_gs = false;
    inst.gs_base = 0;
    inst.rep_chunk = 0;
    inst.a32_rep = false;
    inst.len = 0;
    inst.placement = "";
    inst.insn_addr = env.code_page + r.below(kPage - 15 - NativeRunner::kExitJumpBytes);
    bool ok = false;
    switch (row.ops) {
      case Ops::GPR_MEM:
      case Ops::IMM_MEM:
      case Ops::MEM:
        ok = gen_modrm(r, env, row, inst);
        break;
      case Ops::MOFFS:
        ok = gen_moffs(r, env, row, inst);
        break;
      case Ops::STRING:
        ok = gen_string(r, env, row, inst);
        break;
      case Ops::VEC_MEM:
        ok = gen_vector(r, env, row, inst);
        break;
    }
    if (ok) return;
    if (attempt == 100) {
      std::fprintf(stderr, "generator: row '%s' cannot produce an instance (seed 0x%llx)\n", row.name,
                   static_cast<unsigned long long>(seed));
      std::abort();
    }
  }
}

}  // namespace mmiotrace::difftest
