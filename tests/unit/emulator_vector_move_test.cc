// emu::emulate for the whole-vector moves (docs/emulated-instructions.md, 4:
// legacy SSE, VEX, EVEX with opmasks) through an XSAVE buffer: the exact
// accesses (kind, address, size, bytes, mask) and all 512 bits of every
// register; alignment faults, refusals by what the XSAVE area holds, faults;
// and every memory-operand form of glibc's memcpy/memset.
#include <gtest/gtest.h>

#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "emu/emulator.h"
#include "emu/xsave_area.h"
#include "emulator_test_support.h"

namespace mmiotrace::emu::emu_test {
namespace {

// ---- Vector moves (SSE, AVX, AVX-512) through an XSAVE buffer.

constexpr uint64_t kS = 0x10000;  // RSI
constexpr uint64_t kD = 0x20000;  // RDI
constexpr uint64_t kA = 0x30000;  // RAX
constexpr uint64_t kAvx512Bits = 0xE0;
using Kregs = std::vector<std::pair<unsigned, uint64_t>>;

// Initial contents of vector register `reg` (all 64 bytes, distinct per register).
Bytes P(unsigned reg) {
  Bytes b(64);
  for (unsigned i = 0; i < 64; ++i) b[i] = static_cast<uint8_t>((reg + 1) * 37 + i * 3);
  return b;
}
Bytes Z(unsigned n) { return Bytes(n, 0); }
Bytes head(const Bytes& v, unsigned n) { return Bytes(v.begin(), v.begin() + n); }
Bytes slice(const Bytes& v, unsigned from, unsigned to) { return Bytes(v.begin() + from, v.begin() + to); }
Bytes cat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}
// Legacy SSE load: the low 16 bytes are `low` (zero-padded), bits 511:128 kept.
Bytes keep_upper(unsigned reg, const Bytes& low) { return cat(cat(low, Z(16 - low.size())), slice(P(reg), 16, 64)); }
// VEX/EVEX load: `v` then zeros up to 512 bits.
Bytes zext(const Bytes& v) { return cat(v, Z(64 - v.size())); }
Access WMF(uint64_t addr, uint64_t mask, unsigned size) { return {Kind::WRITE_MASKED, addr, size, {}, mask, true}; }

bool host_has_avx512() {
  return (XsaveLayout::host().supported & kAvx512Bits) == kAvx512Bits && __builtin_cpu_supports("avx512f") &&
         __builtin_cpu_supports("avx512bw");
}

// A CpuState whose XSAVE buffer holds P(r) in every zmm register and the given
// opmasks; `features` restricts what the buffer can hold.
class VectorState {
 public:
  explicit VectorState(uint64_t features = XsaveLayout::host().supported, const Kregs& k = {}) {
    const size_t size = (XsaveLayout::host().total_size + 63) / 64 * 64;
    area_ = static_cast<uint8_t*>(std::aligned_alloc(64, size));
    std::memset(area_, 0, size);
    XsaveArea full(area_, XsaveLayout::host().supported);
    for (unsigned r = 0; r < 32; ++r) EXPECT_TRUE(full.write_vector(r, 64, P(r).data(), false));
    for (const auto& [n, v] : k) EXPECT_TRUE(full.write_opmask(n, v));
    cpu = base_cpu();
    cpu.reg(Gpr::RSI) = kS;
    cpu.reg(Gpr::RDI) = kD;
    cpu.reg(Gpr::RAX) = kA;
    cpu.reg(Gpr::RDX) = 0x100;
    cpu.xsave = XsaveArea(area_, features);
    k_ = k;
  }
  ~VectorState() { std::free(area_); }
  VectorState(const VectorState&) = delete;
  VectorState& operator=(const VectorState&) = delete;

  Bytes reg(unsigned r) const {
    Bytes b(64);
    XsaveArea(area_, XsaveLayout::host().supported).read_vector(r, 64, b.data());
    return b;
  }
  // Every vector register is P(r) except `changed` (which must equal `after`); opmasks as set.
  void expect_vectors(int changed = -1, const Bytes& after = {}) const {
    for (unsigned r = 0; r < 32; ++r) {
      EXPECT_EQ(reg(r), static_cast<int>(r) == changed ? after : P(r)) << "zmm" << r;
    }
    const XsaveArea x(area_, XsaveLayout::host().supported);
    for (unsigned n = 1; n < 8; ++n) {
      uint64_t want = 0;
      for (const auto& [kn, v] : k_) {
        if (kn == n) want = v;
      }
      EXPECT_EQ(x.read_opmask(n), want) << "k" << n;
    }
  }

  CpuState cpu;
  FakeMemory mem;

 private:
  uint8_t* area_ = nullptr;
  Kregs k_;
};

#define REQUIRE_AVX512()                                                  \
  do {                                                                    \
    if (!host_has_avx512()) GTEST_SKIP() << "no AVX-512 on this machine"; \
  } while (0)

struct VecCase {
  const char* name;
  Bytes code;
  std::vector<Access> expect;
  int reg = -1;      // the register the instruction writes, or -1
  Bytes after = {};  // its 64 bytes afterwards
  Kregs k = {};
  Regs regs = {};
};

std::vector<VecCase> vector_cases() {
  // A table, one case per line.
  // clang-format off
  using enum Gpr;
  const Bytes m16 = M(kS, 16), m32 = M(kS, 32), m64 = M(kS, 64);
  return {
      // Legacy SSE loads: 16 bytes, bits 511:128 kept; MOVD/MOVQ zero the rest of the xmm.
      {"movups_load_keeps_upper", {0x0f, 0x10, 0x0e}, {R(kS, m16)}, 1, keep_upper(1, m16)},
      {"movupd_load", {0x66, 0x0f, 0x10, 0x16}, {R(kS, m16)}, 2, keep_upper(2, m16)},
      {"movaps_load", {0x0f, 0x28, 0x1e}, {R(kS, m16)}, 3, keep_upper(3, m16)},
      {"movapd_load", {0x66, 0x0f, 0x28, 0x26}, {R(kS, m16)}, 4, keep_upper(4, m16)},
      {"movdqu_load", {0xf3, 0x0f, 0x6f, 0x2e}, {R(kS, m16)}, 5, keep_upper(5, m16)},
      {"movdqa_load", {0x66, 0x0f, 0x6f, 0x36}, {R(kS, m16)}, 6, keep_upper(6, m16)},
      {"movd_load_zeroes_xmm", {0x66, 0x0f, 0x6e, 0x3e}, {R(kS, M(kS, 4))}, 7, keep_upper(7, M(kS, 4))},
      {"movq_6e_load", {0x66, 0x48, 0x0f, 0x6e, 0x3e}, {R(kS, M(kS, 8))}, 7, keep_upper(7, M(kS, 8))},
      {"movq_f3_7e_load", {0xf3, 0x44, 0x0f, 0x7e, 0x06}, {R(kS, M(kS, 8))}, 8, keep_upper(8, M(kS, 8))},
      {"movntdqa_load", {0x66, 0x44, 0x0f, 0x38, 0x2a, 0x16}, {R(kS, m16)}, 10, keep_upper(10, m16)},
      {"movups_load_xmm15", {0x44, 0x0f, 0x10, 0x3e}, {R(kS, m16)}, 15, keep_upper(15, m16)},
      {"movups_load_unaligned", {0x0f, 0x10, 0x0e}, {R(kS + 3, M(kS + 3, 16))}, 1,
       keep_upper(1, M(kS + 3, 16)), {}, {{RSI, kS + 3}}},
      {"movdqa_load_16_aligned", {0x66, 0x0f, 0x6f, 0x36}, {R(kS + 16, M(kS + 16, 16))}, 6,
       keep_upper(6, M(kS + 16, 16)), {}, {{RSI, kS + 16}}},
      // Legacy SSE stores.
      {"movups_store", {0x0f, 0x11, 0x0f}, {W(kD, head(P(1), 16))}},
      {"movupd_store", {0x66, 0x0f, 0x11, 0x17}, {W(kD, head(P(2), 16))}},
      {"movaps_store", {0x0f, 0x29, 0x1f}, {W(kD, head(P(3), 16))}},
      {"movapd_store", {0x66, 0x0f, 0x29, 0x27}, {W(kD, head(P(4), 16))}},
      {"movdqu_store", {0xf3, 0x0f, 0x7f, 0x2f}, {W(kD, head(P(5), 16))}},
      {"movdqa_store", {0x66, 0x0f, 0x7f, 0x37}, {W(kD, head(P(6), 16))}},
      {"movd_store", {0x66, 0x0f, 0x7e, 0x3f}, {W(kD, head(P(7), 4))}},
      {"movq_7e_store", {0x66, 0x48, 0x0f, 0x7e, 0x3f}, {W(kD, head(P(7), 8))}},
      {"movq_d6_store", {0x66, 0x44, 0x0f, 0xd6, 0x07}, {W(kD, head(P(8), 8))}},
      {"movntdq_store", {0x66, 0x44, 0x0f, 0xe7, 0x17}, {W(kD, head(P(10), 16))}},
      {"movntps_store", {0x44, 0x0f, 0x2b, 0x1f}, {W(kD, head(P(11), 16))}},
      {"movntpd_store", {0x66, 0x44, 0x0f, 0x2b, 0x27}, {W(kD, head(P(12), 16))}},
      // VEX loads zero everything above the destination.
      {"vmovdqu_load_ymm0", {0xc5, 0xfe, 0x6f, 0x06}, {R(kS, m32)}, 0, zext(m32)},
      {"vmovdqu_load_xmm1_zeroes_upper", {0xc5, 0xfa, 0x6f, 0x0e}, {R(kS, m16)}, 1, zext(m16)},
      {"vmovups_load_ymm", {0xc5, 0xfc, 0x10, 0x16}, {R(kS, m32)}, 2, zext(m32)},
      {"vmovupd_load_ymm", {0xc5, 0xfd, 0x10, 0x1e}, {R(kS, m32)}, 3, zext(m32)},
      {"vmovaps_load_ymm", {0xc5, 0xfc, 0x28, 0x26}, {R(kS, m32)}, 4, zext(m32)},
      {"vmovapd_load_ymm", {0xc5, 0xfd, 0x28, 0x2e}, {R(kS, m32)}, 5, zext(m32)},
      {"vmovdqa_load_ymm", {0xc5, 0xfd, 0x6f, 0x36}, {R(kS, m32)}, 6, zext(m32)},
      {"vmovntdqa_load_ymm", {0xc4, 0xe2, 0x7d, 0x2a, 0x3e}, {R(kS, m32)}, 7, zext(m32)},
      {"vmovd_load", {0xc5, 0x79, 0x6e, 0x06}, {R(kS, M(kS, 4))}, 8, zext(M(kS, 4))},
      {"vmovq_load", {0xc5, 0x7a, 0x7e, 0x0e}, {R(kS, M(kS, 8))}, 9, zext(M(kS, 8))},
      {"vmovdqu_load_ymm15", {0xc5, 0x7e, 0x6f, 0x3e}, {R(kS, m32)}, 15, zext(m32)},
      // VEX stores.
      {"vmovdqu_store_ymm", {0xc5, 0xfe, 0x7f, 0x07}, {W(kD, head(P(0), 32))}},
      {"vmovups_store_xmm", {0xc5, 0xf8, 0x11, 0x0f}, {W(kD, head(P(1), 16))}},
      {"vmovupd_store_ymm", {0xc5, 0xfd, 0x11, 0x17}, {W(kD, head(P(2), 32))}},
      {"vmovaps_store_ymm", {0xc5, 0xfc, 0x29, 0x1f}, {W(kD, head(P(3), 32))}},
      {"vmovapd_store_xmm", {0xc5, 0xf9, 0x29, 0x27}, {W(kD, head(P(4), 16))}},
      {"vmovdqa_store_ymm", {0xc5, 0xfd, 0x7f, 0x2f}, {W(kD, head(P(5), 32))}},
      {"vmovntdq_store_ymm", {0xc5, 0xfd, 0xe7, 0x37}, {W(kD, head(P(6), 32))}},
      {"vmovntps_store_ymm", {0xc5, 0xfc, 0x2b, 0x3f}, {W(kD, head(P(7), 32))}},
      {"vmovntpd_store_xmm", {0xc5, 0x79, 0x2b, 0x07}, {W(kD, head(P(8), 16))}},
      {"vmovd_store", {0xc5, 0x79, 0x7e, 0x0f}, {W(kD, head(P(9), 4))}},
      {"vmovq_d6_store", {0xc5, 0x79, 0xd6, 0x17}, {W(kD, head(P(10), 8))}},
      {"vmovq_7e_store", {0xc4, 0xe1, 0xf9, 0x7e, 0x07}, {W(kD, head(P(0), 8))}},
      // EVEX loads, registers 0-31, zeroing above the vector length.
      {"vmovdqu64_load_zmm16", {0x62, 0xe1, 0xfe, 0x48, 0x6f, 0x06}, {R(kS, m64)}, 16, m64},
      {"vmovdqu64_load_ymm17", {0x62, 0xe1, 0xfe, 0x28, 0x6f, 0x0e}, {R(kS, m32)}, 17, zext(m32)},
      {"vmovdqu8_load_xmm18", {0x62, 0xe1, 0x7f, 0x08, 0x6f, 0x16}, {R(kS, m16)}, 18, zext(m16)},
      {"vmovdqu16_load_zmm19", {0x62, 0xe1, 0xff, 0x48, 0x6f, 0x1e}, {R(kS, m64)}, 19, m64},
      {"vmovdqu32_load_zmm0", {0x62, 0xf1, 0x7e, 0x48, 0x6f, 0x06}, {R(kS, m64)}, 0, m64},
      {"vmovdqa64_load_zmm31", {0x62, 0x61, 0xfd, 0x48, 0x6f, 0x3e}, {R(kS, m64)}, 31, m64},
      {"vmovdqa32_load_ymm1", {0x62, 0xf1, 0x7d, 0x28, 0x6f, 0x0e}, {R(kS, m32)}, 1, zext(m32)},
      {"evex_vmovups_load", {0x62, 0xf1, 0x7c, 0x48, 0x10, 0x16}, {R(kS, m64)}, 2, m64},
      {"evex_vmovaps_load", {0x62, 0xf1, 0x7c, 0x48, 0x28, 0x1e}, {R(kS, m64)}, 3, m64},
      {"evex_vmovupd_load", {0x62, 0xf1, 0xfd, 0x48, 0x10, 0x26}, {R(kS, m64)}, 4, m64},
      {"evex_vmovapd_load", {0x62, 0xf1, 0xfd, 0x48, 0x28, 0x2e}, {R(kS, m64)}, 5, m64},
      {"evex_vmovntdqa_load", {0x62, 0xf2, 0x7d, 0x48, 0x2a, 0x36}, {R(kS, m64)}, 6, m64},
      {"vmovdqu64_load_disp8_scaled", {0x62, 0xf1, 0xfe, 0x48, 0x6f, 0x7e, 0x01},
       {R(kS + 0x40, M(kS + 0x40, 64))}, 7, M(kS + 0x40, 64)},
      {"vmovdqu64_load_base_index_disp8", {0x62, 0xe1, 0xfe, 0x48, 0x6f, 0x4c, 0x16, 0xff},
       {R(kS + 0xC0, M(kS + 0xC0, 64))}, 17, M(kS + 0xC0, 64)},
      {"evex_vmovups_load_xmm20", {0x62, 0xe1, 0x7c, 0x08, 0x10, 0x26}, {R(kS, m16)}, 20, zext(m16)},
      {"evex_vmovd_load_xmm21", {0x62, 0xe1, 0x7d, 0x08, 0x6e, 0x2e}, {R(kS, M(kS, 4))}, 21, zext(M(kS, 4))},
      {"vmovdqa64_load_xmm16_16_aligned", {0x62, 0xe1, 0xfd, 0x08, 0x6f, 0x06},
       {R(kS + 16, M(kS + 16, 16))}, 16, zext(M(kS + 16, 16)), {}, {{RSI, kS + 16}}},
      {"vmovdqu64_load_unaligned", {0x62, 0xe1, 0xfe, 0x48, 0x6f, 0x06}, {R(kS + 1, M(kS + 1, 64))}, 16,
       M(kS + 1, 64), {}, {{RSI, kS + 1}}},
      // EVEX stores.
      {"vmovdqu64_store_zmm16", {0x62, 0xe1, 0xfe, 0x48, 0x7f, 0x07}, {W(kD, P(16))}},
      {"vmovdqa64_store_zmm31", {0x62, 0x61, 0xfd, 0x48, 0x7f, 0x3f}, {W(kD, P(31))}},
      {"evex_vmovntdq_store_zmm0", {0x62, 0xf1, 0x7d, 0x48, 0xe7, 0x07}, {W(kD, P(0))}},
      {"evex_vmovntdq_store_ymm20", {0x62, 0xe1, 0x7d, 0x28, 0xe7, 0x27}, {W(kD, head(P(20), 32))}},
      {"vmovdqu8_store_xmm30", {0x62, 0x61, 0x7f, 0x08, 0x7f, 0x37}, {W(kD, head(P(30), 16))}},
      {"evex_vmovups_store", {0x62, 0xf1, 0x7c, 0x48, 0x11, 0x0f}, {W(kD, P(1))}},
      {"evex_vmovapd_store", {0x62, 0xf1, 0xfd, 0x48, 0x29, 0x17}, {W(kD, P(2))}},
      {"vmovdqa32_store", {0x62, 0xf1, 0x7d, 0x48, 0x7f, 0x2f}, {W(kD, P(5))}},
      {"vmovdqu16_store_ymm", {0x62, 0xf1, 0xff, 0x28, 0x7f, 0x37}, {W(kD, head(P(6), 32))}},
      {"vmovdqu32_store", {0x62, 0xf1, 0x7e, 0x48, 0x7f, 0x3f}, {W(kD, P(7))}},
      {"vmovdqu64_store_ymm16_base_index", {0x62, 0xe1, 0xfe, 0x28, 0x7f, 0x44, 0x17, 0xff},
       {W(kD + 0xE0, head(P(16), 32))}},
      {"evex_vmovntps_store", {0x62, 0x71, 0x7c, 0x48, 0x2b, 0x07}, {W(kD, P(8))}},
      {"evex_vmovntpd_store", {0x62, 0x71, 0xfd, 0x48, 0x2b, 0x0f}, {W(kD, P(9))}},
      {"evex_vmovq_store_xmm22", {0x62, 0xe1, 0xfd, 0x08, 0x7e, 0x37}, {W(kD, head(P(22), 8))}},
      // Masked stores: only the selected elements, as a byte mask.
      {"vmovdqu8_masked_store", {0x62, 0xe1, 0x7f, 0x49, 0x7f, 0x00}, {WM(kA, 0xFFFF0001, P(16))}, -1, {},
       {{1, 0xFFFF0001}}},
      {"vmovdqu16_masked_store", {0x62, 0xe1, 0xff, 0x49, 0x7f, 0x00},
       {WM(kA, 0xC000000000000033, P(16))}, -1, {}, {{1, 0x80000005}}},
      {"vmovdqu32_masked_store", {0x62, 0xe1, 0x7e, 0x4a, 0x7f, 0x00},
       {WM(kA, 0xF00000000000000F, P(16))}, -1, {}, {{2, 0x8001}}},
      {"vmovdqu64_masked_store", {0x62, 0xe1, 0xfe, 0x4b, 0x7f, 0x00}, {WM(kA, 0xFF0000FF00, P(16))}, -1,
       {}, {{3, 0x12}}},
      {"vmovdqu32_masked_store_ymm_ignores_high_bits", {0x62, 0xe1, 0x7e, 0x2c, 0x7f, 0x08},
       {WM(kA, 0x0F, head(P(17), 32))}, -1, {}, {{4, 0xFFFFFF01}}},
      {"vmovaps_masked_store", {0x62, 0xf1, 0x7c, 0x4d, 0x29, 0x08}, {WM(kA, 0xFF, P(1))}, -1, {},
       {{5, 0x3}}},
      {"vmovdqu8_all_ones_mask_is_plain_write", {0x62, 0xe1, 0x7f, 0x49, 0x7f, 0x00}, {W(kA, P(16))}, -1,
       {}, {{1, ~uint64_t{0}}}},
      {"vmovdqu32_full_mask_is_plain_write", {0x62, 0xe1, 0x7e, 0x4a, 0x7f, 0x00}, {W(kA, P(16))}, -1, {},
       {{2, 0xFFFF}}},
      {"vmovdqu64_empty_mask_no_access", {0x62, 0xe1, 0xfe, 0x4b, 0x7f, 0x00}, {}, -1, {}, {{3, 0}}},
      // Masked loads: merge keeps, {z} clears the unselected elements; above VL is zeroed.
      {"vmovdqu32_merge_load", {0x62, 0xe1, 0x7e, 0x49, 0x6f, 0x06}, {RM(kS, 0xFFFFFFFF, m64)}, 16,
       cat(head(m64, 32), slice(P(16), 32, 64)), {{1, 0x00FF}}},
      {"vmovdqu32_zero_load", {0x62, 0xe1, 0x7e, 0xc9, 0x6f, 0x06}, {RM(kS, 0xFFFFFFFF, m64)}, 16,
       cat(head(m64, 32), Z(32)), {{1, 0x00FF}}},
      {"vmovdqu8_merge_load_ymm20", {0x62, 0xe1, 0x7f, 0x2a, 0x6f, 0x26}, {RM(kS, 0x1, m32)}, 20,
       cat(cat(head(m32, 1), slice(P(20), 1, 32)), Z(32)), {{2, 0x1}}},
      {"vmovdqu64_zero_load_xmm3", {0x62, 0xf1, 0xfe, 0x8b, 0x6f, 0x1e}, {RM(kS, 0xFF00, m16)}, 3,
       zext(cat(Z(8), slice(m16, 8, 16))), {{3, 0x2}}},
      {"vmovdqu16_merge_load_empty_mask", {0x62, 0xf1, 0xff, 0x4e, 0x6f, 0x26}, {}, 4, P(4), {{6, 0}}},
      {"vmovupd_zero_load_zmm25", {0x62, 0x61, 0xfd, 0xcf, 0x10, 0x0e}, {RM(kS, 0xFF000000000000FF, m64)},
       25, masked(m64, 0xFF000000000000FF), {{7, 0x81}}},
      {"vmovdqa64_full_mask_is_plain_read", {0x62, 0xf1, 0xfd, 0x49, 0x6f, 0x16}, {R(kS, m64)}, 2, m64,
       {{1, 0xFF}}},
  };
  // clang-format on
}

class VectorTest : public ::testing::TestWithParam<VecCase> {};

TEST_P(VectorTest, AccessesAndRegisters) {
  REQUIRE_AVX512();
  const VecCase& c = GetParam();
  VectorState s(XsaveLayout::host().supported, c.k);
  for (const auto& [r, v] : c.regs) s.cpu.reg(r) = v;
  const CpuState before = s.cpu;
  serve_reads(s.mem, c.expect);
  const EmuResult r = emulate(s.cpu, c.code.data(), c.code.size(), s.mem);
  ASSERT_EQ(r.status, EmuStatus::OK) << to_string(r.status);
  EXPECT_EQ(s.cpu.rip, kRip + c.code.size());
  EXPECT_EQ(s.mem.log, c.expect);
  expect_gprs(s.cpu, before, {});
  s.expect_vectors(c.reg, c.after);
}

INSTANTIATE_TEST_SUITE_P(Table, VectorTest, ::testing::ValuesIn(vector_cases()),
                         [](const auto& info) { return std::string(info.param.name); });

// Aligned forms on a misaligned address: #GP, which Linux reports as SIGSEGV,
// SI_KERNEL, address 0; checked before any access.
struct AlignCase {
  const char* name;
  Bytes code;
  Regs regs;
  Kregs k = {};
};

class AlignmentTest : public ::testing::TestWithParam<AlignCase> {};

TEST_P(AlignmentTest, FaultsBeforeAnyAccess) {
  REQUIRE_AVX512();
  const AlignCase& c = GetParam();
  VectorState s(XsaveLayout::host().supported, c.k);
  for (const auto& [r, v] : c.regs) s.cpu.reg(r) = v;
  const CpuState before = s.cpu;
  const EmuResult r = emulate(s.cpu, c.code.data(), c.code.size(), s.mem);
  ASSERT_EQ(r.status, EmuStatus::FAULT) << to_string(r.status);
  EXPECT_EQ(r.fault.signo, SIGSEGV);
  EXPECT_EQ(r.fault.code, SI_KERNEL);
  EXPECT_EQ(r.fault.code, 128);
  EXPECT_EQ(r.fault.addr, 0u);
  EXPECT_TRUE(s.mem.log.empty());
  EXPECT_EQ(s.cpu.rip, kRip);
  expect_gprs(s.cpu, before, {});
  s.expect_vectors();
}

INSTANTIATE_TEST_SUITE_P(
    Table, AlignmentTest,
    ::testing::ValuesIn(std::vector<AlignCase>{
        {"movaps_load", {0x0f, 0x28, 0x1e}, {{Gpr::RSI, kS + 8}}},
        {"movaps_store", {0x0f, 0x29, 0x1f}, {{Gpr::RDI, kD + 4}}},
        {"movdqa_load", {0x66, 0x0f, 0x6f, 0x36}, {{Gpr::RSI, kS + 1}}},
        {"movntdq_store", {0x66, 0x44, 0x0f, 0xe7, 0x17}, {{Gpr::RDI, kD + 8}}},
        {"movntdqa_load", {0x66, 0x44, 0x0f, 0x38, 0x2a, 0x16}, {{Gpr::RSI, kS + 8}}},
        {"vmovdqa_ymm_load_16_aligned", {0xc5, 0xfd, 0x6f, 0x36}, {{Gpr::RSI, kS + 16}}},
        {"vmovntdq_ymm_store", {0xc5, 0xfd, 0xe7, 0x37}, {{Gpr::RDI, kD + 16}}},
        {"vmovdqa64_zmm_store", {0x62, 0xe1, 0xfd, 0x48, 0x7f, 0x07}, {{Gpr::RDI, kD + 32}}},
        {"vmovdqa64_zmm_load", {0x62, 0x61, 0xfd, 0x48, 0x6f, 0x3e}, {{Gpr::RSI, kS + 32}}},
        {"vmovdqa64_masked_load", {0x62, 0xf1, 0xfd, 0x49, 0x6f, 0x16}, {{Gpr::RSI, kS + 8}}, {{1, 1}}},
        {"vmovaps_masked_store", {0x62, 0xf1, 0x7c, 0x4d, 0x29, 0x08}, {{Gpr::RAX, kA + 4}}, {{5, 3}}},
        {"evex_vmovntdq_store", {0x62, 0xf1, 0x7d, 0x48, 0xe7, 0x07}, {{Gpr::RDI, kD + 32}}},
    }),
    [](const auto& info) { return std::string(info.param.name); });

// A buffer that cannot hold what the instruction needs: refused, nothing touched.
TEST(VectorSupport, RefusesWhatTheXsaveAreaCannotHold) {
  REQUIRE_AVX512();
  const uint64_t all = XsaveLayout::host().supported;
  struct Row {
    uint64_t features;
    Bytes code;
    EmuStatus status;
  };
  const Row rows[] = {
      {all & ~uint64_t{0x80}, {0x62, 0xe1, 0xfe, 0x48, 0x6f, 0x06}, EmuStatus::UNSUPPORTED},  // zmm16
      {all & ~uint64_t{0x80}, {0x62, 0xf1, 0x7e, 0x48, 0x6f, 0x06}, EmuStatus::OK},           // zmm0
      {all & ~uint64_t{0x20}, {0x62, 0xe1, 0x7f, 0x49, 0x7f, 0x00}, EmuStatus::UNSUPPORTED},  // {k1}
      {all & ~uint64_t{0x20}, {0x62, 0xe1, 0xfe, 0x48, 0x7f, 0x07}, EmuStatus::OK},           // no mask
      {0x3, {0xc5, 0xfe, 0x6f, 0x06}, EmuStatus::UNSUPPORTED},                                // ymm0 load
      {0x3, {0xc5, 0xfe, 0x7f, 0x07}, EmuStatus::UNSUPPORTED},                                // ymm0 store
      {0x3, {0x0f, 0x10, 0x0e}, EmuStatus::OK},                                               // xmm1
  };
  for (const Row& row : rows) {
    VectorState s(row.features, {{1, 0xFF}});
    const CpuState before = s.cpu;
    const EmuResult r = emulate(s.cpu, row.code.data(), row.code.size(), s.mem);
    EXPECT_EQ(r.status, row.status) << std::hex << row.features << " " << int{row.code[4]};
    if (row.status == EmuStatus::UNSUPPORTED) {
      EXPECT_TRUE(s.mem.log.empty());
      EXPECT_EQ(s.cpu.rip, kRip);
      s.expect_vectors();
    } else {
      EXPECT_EQ(s.mem.log.size(), 1u);
    }
    expect_gprs(s.cpu, before, {});
  }
}

TEST(VectorFault, LoadFaultLeavesTheRegister) {
  REQUIRE_AVX512();
  VectorState s;
  s.mem.fault_at(kS + 0x20, MemFault{SIGSEGV, SEGV_ACCERR, kS + 0x20});
  const Bytes code = {0x62, 0xe1, 0xfe, 0x48, 0x6f, 0x06};
  const EmuResult r = emulate(s.cpu, code.data(), code.size(), s.mem);
  EXPECT_EQ(r.status, EmuStatus::FAULT);
  EXPECT_EQ(r.fault.code, SEGV_ACCERR);
  EXPECT_EQ(r.fault.addr, kS + 0x20);
  EXPECT_EQ(s.cpu.rip, kRip);
  EXPECT_EQ(s.mem.log, (std::vector<Access>{RF(kS, 64)}));
  s.expect_vectors();
}

// The mask goes to the Memory: a fault on an unselected byte cannot happen.
TEST(VectorFault, MaskedStoreFaultsOnlyOnSelectedBytes) {
  REQUIRE_AVX512();
  const Bytes code = {0x62, 0xe1, 0x7f, 0x49, 0x7f, 0x00};  // vmovdqu8 %zmm16,(%rax){%k1}
  {
    VectorState s(XsaveLayout::host().supported, {{1, 0x1}});
    s.mem.fault_at(kA + 8, MemFault{SIGSEGV, SEGV_ACCERR, kA + 8});
    EXPECT_EQ(emulate(s.cpu, code.data(), code.size(), s.mem).status, EmuStatus::OK);
    EXPECT_EQ(s.mem.log, (std::vector<Access>{WM(kA, 0x1, P(16))}));
  }
  {
    VectorState s(XsaveLayout::host().supported, {{1, 0x100}});
    s.mem.fault_at(kA + 8, MemFault{SIGSEGV, SEGV_ACCERR, kA + 8});
    const EmuResult r = emulate(s.cpu, code.data(), code.size(), s.mem);
    EXPECT_EQ(r.status, EmuStatus::FAULT);
    EXPECT_EQ(r.fault.addr, kA + 8);
    EXPECT_EQ(s.cpu.rip, kRip);
    EXPECT_EQ(s.mem.log, (std::vector<Access>{WMF(kA, 0x100, 64)}));
  }
}

// Every instruction with a memory operand in this machine's glibc 2.36
// __memmove_avx512_unaligned_erms and __memset_avx512_unaligned_erms
// (objdump of libc.so.6, at most two per operand shape; RIP-relative loads of
// libc's own tunables left out: they never touch a device).
TEST(GlibcForms, AllEmulate) {
  REQUIRE_AVX512();
  struct Form {
    Bytes code;
    const char* text;
  };
  const Form forms[] = {
      {{0x0f, 0x18, 0x8e, 0x00, 0x01, 0x00, 0x00}, "prefetcht0 0x100(%rsi)"},
      {{0x0f, 0x18, 0x8e, 0x00, 0x02, 0x00, 0x00}, "prefetcht0 0x200(%rsi)"},
      {{0x0f, 0xb7, 0x74, 0x16, 0x02}, "movzwl 0x2(%rsi,%rdx,1),%esi"},
      {{0x48, 0x89, 0x08}, "mov %rcx,(%rax)"},
      {{0x48, 0x89, 0x37}, "mov %rsi,(%rdi)"},
      {{0x48, 0x89, 0x4c, 0x10, 0xf8}, "mov %rcx,-0x8(%rax,%rdx,1)"},
      {{0x48, 0x89, 0x4c, 0x17, 0xf8}, "mov %rcx,-0x8(%rdi,%rdx,1)"},
      {{0x48, 0x8b, 0x36}, "mov (%rsi),%rsi"},
      {{0x48, 0x8b, 0x4c, 0x16, 0xf8}, "mov -0x8(%rsi,%rdx,1),%rcx"},
      {{0x62, 0x61, 0x7d, 0x48, 0xe7, 0x87, 0x00, 0x20, 0x00, 0x00}, "vmovntdq %zmm24,0x2000(%rdi)"},
      {{0x62, 0x61, 0x7d, 0x48, 0xe7, 0x8f, 0x40, 0x20, 0x00, 0x00}, "vmovntdq %zmm25,0x2040(%rdi)"},
      {{0x62, 0x61, 0xfe, 0x48, 0x6f, 0x44, 0x16, 0xfc}, "vmovdqu64 -0x100(%rsi,%rdx,1),%zmm24"},
      {{0x62, 0x61, 0xfe, 0x48, 0x6f, 0x44, 0x16, 0xff}, "vmovdqu64 -0x40(%rsi,%rdx,1),%zmm24"},
      {{0x62, 0x61, 0xfe, 0x48, 0x6f, 0x86, 0x00, 0x20, 0x00, 0x00}, "vmovdqu64 0x2000(%rsi),%zmm24"},
      {{0x62, 0x61, 0xfe, 0x48, 0x6f, 0x8e, 0x40, 0x20, 0x00, 0x00}, "vmovdqu64 0x2040(%rsi),%zmm25"},
      {{0x62, 0x61, 0xfe, 0x48, 0x7f, 0x02}, "vmovdqu64 %zmm24,(%rdx)"},
      {{0x62, 0x61, 0xfe, 0x48, 0x7f, 0x44, 0x3a, 0xff}, "vmovdqu64 %zmm24,-0x40(%rdx,%rdi,1)"},
      {{0x62, 0xc1, 0xfe, 0x48, 0x7f, 0x00}, "vmovdqu64 %zmm16,(%r8)"},
      {{0x62, 0xe1, 0x7d, 0x48, 0xe7, 0x07}, "vmovntdq %zmm16,(%rdi)"},
      {{0x62, 0xe1, 0x7f, 0x49, 0x7f, 0x00}, "vmovdqu8 %zmm16,(%rax){%k1}"},
      {{0x62, 0xe1, 0xfd, 0x48, 0x7f, 0x07}, "vmovdqa64 %zmm16,(%rdi)"},
      {{0x62, 0xe1, 0xfd, 0x48, 0x7f, 0x0f}, "vmovdqa64 %zmm17,(%rdi)"},
      {{0x62, 0xe1, 0xfd, 0x48, 0x7f, 0x47, 0x04}, "vmovdqa64 %zmm16,0x100(%rdi)"},
      {{0x62, 0xe1, 0xfd, 0x48, 0x7f, 0x47, 0x05}, "vmovdqa64 %zmm16,0x140(%rdi)"},
      {{0x62, 0xe1, 0xfe, 0x08, 0x7f, 0x44, 0x10, 0xff}, "vmovdqu64 %xmm16,-0x10(%rax,%rdx,1)"},
      {{0x62, 0xe1, 0xfe, 0x28, 0x6f, 0x06}, "vmovdqu64 (%rsi),%ymm16"},
      {{0x62, 0xe1, 0xfe, 0x48, 0x6f, 0x06}, "vmovdqu64 (%rsi),%zmm16"},
      {{0x62, 0xe1, 0xfe, 0x48, 0x7f, 0x40, 0x02}, "vmovdqu64 %zmm16,0x80(%rax)"},
      {{0x62, 0xe1, 0xfe, 0x48, 0x7f, 0x40, 0x03}, "vmovdqu64 %zmm16,0xc0(%rax)"},
      {{0x89, 0x34, 0x17}, "mov %esi,(%rdi,%rdx,1)"},
      {{0x8a, 0x0e}, "mov (%rsi),%cl"},
      {{0x8b, 0x34, 0x16}, "mov (%rsi,%rdx,1),%esi"},
      {{0xc5, 0xfa, 0x6f, 0x06}, "vmovdqu (%rsi),%xmm0"},
      {{0xc5, 0xfa, 0x6f, 0x4c, 0x16, 0xf0}, "vmovdqu -0x10(%rsi,%rdx,1),%xmm1"},
      {{0xc5, 0xfa, 0x7f, 0x07}, "vmovdqu %xmm0,(%rdi)"},
      {{0xc5, 0xfa, 0x7f, 0x4c, 0x17, 0xf0}, "vmovdqu %xmm1,-0x10(%rdi,%rdx,1)"},
      {{0xf3, 0xa4}, "rep movsb %ds:(%rsi),%es:(%rdi)"},
      {{0xf3, 0xaa}, "rep stos %al,%es:(%rdi)"},
  };
  for (const Form& f : forms) {
    VectorState s(XsaveLayout::host().supported, {{1, 0x0000FFFF0000FFFF}});
    s.cpu.reg(Gpr::RCX) = 3;
    s.cpu.reg(Gpr::R8) = 0x40000;
    const EmuResult r = emulate(s.cpu, f.code.data(), f.code.size(), s.mem);
    EXPECT_EQ(r.status, EmuStatus::OK) << f.text;
    EXPECT_EQ(s.cpu.rip, kRip + f.code.size()) << f.text;
    const std::string text = f.text;
    const size_t want = text.rfind("prefetch", 0) == 0              ? 0
                        : text == "rep movsb %ds:(%rsi),%es:(%rdi)" ? 6
                        : text.rfind("rep stos", 0) == 0            ? 3
                                                                    : 1;
    EXPECT_EQ(s.mem.log.size(), want) << f.text;
  }
}

}  // namespace
}  // namespace mmiotrace::emu::emu_test
