// x86-64 instruction encoding (SDM Vol. 2, chapter 2: 2.1 legacy prefixes,
// ModRM and SIB; 2.2.1 REX; 2.3.5 VEX; 2.7 EVEX and 2.7.5 compressed disp8*N).
#include "diff/encoder.h"

#include <cstring>

namespace mmiotrace::difftest {
namespace {

constexpr uint8_t kPpByte[4] = {0, 0x66, 0xf3, 0xf2};

}  // namespace

unsigned encode(const EncodeRequest& r, uint8_t out[15], unsigned* disp_offset) {
  const MemOperand& m = r.mem;
  // ModRM, SIB and displacement.
  unsigned mod = 0;
  unsigned rm = 0;
  bool has_sib = false;
  unsigned sib = 0;
  unsigned disp_size = m.disp_size;
  unsigned x = 0;  // REX.X / VEX.X / EVEX.X: index bit 3
  unsigned b = 0;  // REX.B: base bit 3
  if (m.index == 4 || m.index > 15) return 0;
  const unsigned scale_bits = m.scale == 1 ? 0 : m.scale == 2 ? 1 : m.scale == 4 ? 2 : m.scale == 8 ? 3 : 4;
  if (scale_bits > 3) return 0;
  if (m.base == kRipReg) {
    if (m.index != kNoReg) return 0;
    mod = 0;
    rm = 5;
    disp_size = 4;
  } else if (m.base == kNoReg) {
    // SIB with base 101 and mod 00: [index*scale + disp32], or [disp32] without index.
    mod = 0;
    rm = 4;
    has_sib = true;
    const unsigned index = m.index == kNoReg ? 4 : static_cast<unsigned>(m.index);
    x = index >> 3;
    sib = (scale_bits << 6) | ((index & 7) << 3) | 5;
    disp_size = 4;
  } else {
    if (m.base < 0 || m.base > 15) return 0;
    b = static_cast<unsigned>(m.base) >> 3;
    const unsigned base3 = static_cast<unsigned>(m.base) & 7;
    has_sib = m.index != kNoReg || base3 == 4 || m.force_sib;
    if (disp_size == 0 && base3 == 5) return 0;  // mod 00 with RBP/R13 means no base
    mod = disp_size == 0 ? 0 : disp_size == 1 ? 1 : disp_size == 4 ? 2 : 3;
    if (mod == 3) return 0;
    if (has_sib) {
      const unsigned index = m.index == kNoReg ? 4 : static_cast<unsigned>(m.index);
      x = index >> 3;
      sib = (scale_bits << 6) | ((index & 7) << 3) | base3;
      rm = 4;
    } else {
      rm = base3;
    }
  }
  int64_t disp = m.disp;
  if (disp_size == 0 && disp != 0) return 0;
  if (disp_size == 1) {
    const int64_t n = r.enc == Enc::EVEX ? r.disp8_n : 1;
    if (n == 0 || disp % n != 0) return 0;
    disp /= n;
    if (disp < -128 || disp > 127) return 0;
  }
  if (disp_size == 4 && (disp < INT32_MIN || disp > INT32_MAX)) return 0;

  const unsigned reg = r.reg;
  const unsigned rr = (reg >> 3) & 1;
  const unsigned rr2 = (reg >> 4) & 1;  // EVEX.R'
  if (r.enc != Enc::EVEX && reg > 15) return 0;

  uint8_t buf[32];
  unsigned n = 0;
  for (unsigned i = 0; i < r.nprefixes; ++i) buf[n++] = r.prefixes[i];
  switch (r.enc) {
    case Enc::LEGACY: {
      if (r.pp != 0) buf[n++] = kPpByte[r.pp & 3];
      const unsigned rex = (r.rex_w ? 8u : 0u) | (rr << 2) | (x << 1) | b;
      if (rex != 0 || r.force_rex) {
        if (r.forbid_rex) return 0;
        buf[n++] = static_cast<uint8_t>(0x40 | rex);
      }
      if (r.map == 1) {
        buf[n++] = 0x0f;
      } else if (r.map == 2) {
        buf[n++] = 0x0f;
        buf[n++] = 0x38;
      } else if (r.map == 3) {
        buf[n++] = 0x0f;
        buf[n++] = 0x3a;
      }
      break;
    }
    case Enc::VEX: {
      if (r.map < 1 || r.map > 3 || r.ll > 1) return 0;
      const unsigned l = r.ll;
      if (!r.vex3 && x == 0 && b == 0 && r.w == 0 && r.map == 1) {
        buf[n++] = 0xc5;
        buf[n++] = static_cast<uint8_t>(((rr ^ 1) << 7) | (0xf << 3) | (l << 2) | r.pp);
      } else {
        buf[n++] = 0xc4;
        buf[n++] = static_cast<uint8_t>(((rr ^ 1) << 7) | ((x ^ 1) << 6) | ((b ^ 1) << 5) | r.map);
        buf[n++] = static_cast<uint8_t>(((r.w & 1) << 7) | (0xf << 3) | (l << 2) | r.pp);
      }
      break;
    }
    case Enc::EVEX: {
      if (r.map < 1 || r.map > 3 || r.ll > 2 || r.aaa > 7) return 0;
      buf[n++] = 0x62;
      buf[n++] = static_cast<uint8_t>(((rr ^ 1) << 7) | ((x ^ 1) << 6) | ((b ^ 1) << 5) | ((rr2 ^ 1) << 4) | r.map);
      buf[n++] = static_cast<uint8_t>(((r.w & 1) << 7) | (0xf << 3) | (1 << 2) | r.pp);
      // z, L'L, b = 0 (no broadcast), V' = 1 (inverted: no high vvvv register), aaa.
      buf[n++] = static_cast<uint8_t>((r.z ? 0x80 : 0) | (r.ll << 5) | (1 << 3) | r.aaa);
      break;
    }
  }
  buf[n++] = r.opcode;
  buf[n++] = static_cast<uint8_t>((mod << 6) | ((reg & 7) << 3) | rm);
  if (has_sib) buf[n++] = static_cast<uint8_t>(sib);
  if (disp_offset != nullptr) *disp_offset = n;
  for (unsigned i = 0; i < disp_size; ++i) buf[n++] = static_cast<uint8_t>(static_cast<uint64_t>(disp) >> (8 * i));
  for (unsigned i = 0; i < r.imm_size; ++i) buf[n++] = static_cast<uint8_t>(r.imm >> (8 * i));
  if (n > 15) return 0;
  std::memcpy(out, buf, n);
  return n;
}

}  // namespace mmiotrace::difftest
