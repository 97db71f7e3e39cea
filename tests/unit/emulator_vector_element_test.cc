// emu::emulate for the scalar, half, broadcast and duplicating vector moves
// (docs/emulated-instructions.md, 4): MOVSS/MOVSD, MOVLPS/MOVHPS/MOVLPD/MOVHPD,
// VBROADCAST*/VPBROADCAST*, MOVDDUP/MOVSLDUP/MOVSHDUP, legacy, VEX and EVEX
// with {k}/{z}: the exact accesses and the resulting registers (all 512 bits).
#include <gtest/gtest.h>

#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "emu/emulator.h"
#include "emu/xsave_area.h"

namespace mmiotrace::emu {
namespace {

using Bytes = std::vector<uint8_t>;
using Kregs = std::vector<std::pair<unsigned, uint64_t>>;

constexpr uint64_t kRip = 0x400000;
constexpr uint64_t kS = 0x10000;  // RSI
constexpr uint64_t kD = 0x20000;  // RDI

struct Access {
  bool write;
  uint64_t addr;
  unsigned size;
  Bytes bytes;        // masked reads: unselected bytes 0
  uint64_t mask = 0;  // masked reads only
  bool operator==(const Access&) const = default;
};
void PrintTo(const Access& a, std::ostream* os) {
  *os << (a.write ? "W" : "R") << "(0x" << std::hex << a.addr << std::dec << ", " << a.size << ", mask 0x" << std::hex
      << a.mask << std::dec << ")";
}

uint8_t fill_byte(uint64_t a) { return static_cast<uint8_t>((a * 131) ^ (a >> 8) ^ 0x5c); }
Bytes M(uint64_t addr, unsigned n) {
  Bytes b(n);
  for (unsigned i = 0; i < n; ++i) b[i] = fill_byte(addr + i);
  return b;
}
Access R(uint64_t addr, unsigned n) { return {false, addr, n, M(addr, n)}; }
Access W(uint64_t addr, const Bytes& b) { return {true, addr, static_cast<unsigned>(b.size()), b}; }
Bytes masked(const Bytes& b, uint64_t mask) {
  Bytes out(b.size(), 0);
  for (size_t i = 0; i < b.size(); ++i) {
    if ((mask >> i) & 1) out[i] = b[i];
  }
  return out;
}
Access RM(uint64_t addr, unsigned n, uint64_t mask) { return {false, addr, n, masked(M(addr, n), mask), mask}; }

// Masked writes are never expected of these forms; one fails the test.
class FakeMemory final : public Memory {
 public:
  std::vector<Access> log;
  MemFault read(uint64_t addr, unsigned size, void* out) override {
    Bytes b = M(addr, size);
    std::memcpy(out, b.data(), size);
    log.push_back({false, addr, size, b});
    return {};
  }
  MemFault write(uint64_t addr, unsigned size, const void* in) override {
    const auto* p = static_cast<const uint8_t*>(in);
    log.push_back({true, addr, size, Bytes(p, p + size)});
    return {};
  }
  MemFault read_masked(uint64_t addr, unsigned size, uint64_t mask, void* out) override {
    const Bytes b = masked(M(addr, size), mask);
    auto* o = static_cast<uint8_t*>(out);
    for (unsigned i = 0; i < size; ++i) {
      if ((mask >> i) & 1) o[i] = b[i];
    }
    log.push_back({false, addr, size, b, mask});
    return {};
  }
  MemFault write_masked(uint64_t, unsigned, uint64_t, const void*) override {
    ADD_FAILURE() << "masked write";
    return {};
  }
};

Bytes P(unsigned reg) {
  Bytes b(64);
  for (unsigned i = 0; i < 64; ++i) b[i] = static_cast<uint8_t>((reg + 1) * 37 + i * 3);
  return b;
}
Bytes Z(unsigned n) { return Bytes(n, 0); }
Bytes slice(const Bytes& v, unsigned from, unsigned to) { return Bytes(v.begin() + from, v.begin() + to); }
Bytes cat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}
Bytes zext(const Bytes& v) { return cat(v, Z(64 - static_cast<unsigned>(v.size()))); }
Bytes rep(const Bytes& v, unsigned total) {
  Bytes out;
  while (out.size() < total) out = cat(out, v);
  return out;
}
// Element e of `v` (elem bytes) replaced by `w`'s when bit e of `keep` is set.
Bytes merge(const Bytes& v, const Bytes& w, uint64_t keep, unsigned elem) {
  Bytes out = v;
  for (unsigned i = 0; i < v.size(); ++i) {
    if ((keep >> (i / elem)) & 1) out[i] = w[i];
  }
  return out;
}

bool host_has_avx512() {
  return (XsaveLayout::host().supported & 0xE0) == 0xE0 && __builtin_cpu_supports("avx512f") &&
         __builtin_cpu_supports("avx512bw");
}

class VectorState {
 public:
  explicit VectorState(const Kregs& k) {
    const size_t size = (XsaveLayout::host().total_size + 63) / 64 * 64;
    area_ = static_cast<uint8_t*>(std::aligned_alloc(64, size));
    std::memset(area_, 0, size);
    XsaveArea full(area_, XsaveLayout::host().supported);
    for (unsigned r = 0; r < 32; ++r) EXPECT_TRUE(full.write_vector(r, 64, P(r).data(), false));
    for (const auto& [n, v] : k) EXPECT_TRUE(full.write_opmask(n, v));
    cpu.rip = kRip;
    cpu.rflags = 0x202;
    cpu.reg(Gpr::RSI) = kS;
    cpu.reg(Gpr::RDI) = kD;
    cpu.xsave = XsaveArea(area_, XsaveLayout::host().supported);
  }
  ~VectorState() { std::free(area_); }
  VectorState(const VectorState&) = delete;
  VectorState& operator=(const VectorState&) = delete;
  Bytes reg(unsigned r) const {
    Bytes b(64);
    XsaveArea(area_, XsaveLayout::host().supported).read_vector(r, 64, b.data());
    return b;
  }
  CpuState cpu;
  FakeMemory mem;

 private:
  uint8_t* area_ = nullptr;
};

struct Case {
  const char* name;
  Bytes code;
  std::vector<Access> expect;
  int reg = -1;
  Bytes after = {};
  Kregs k = {};
};

std::vector<Case> cases() {
  // A table, one case per line.
  // clang-format off
  const Bytes m4 = M(kS, 4), m8 = M(kS, 8), m16 = M(kS, 16), m32 = M(kS, 32), m64 = M(kS, 64);
  // MOVDDUP / MOVSLDUP / MOVSHDUP images of memory at kS over n bytes.
  auto ddup = [](unsigned n) {
    Bytes out, m = M(kS, n == 16 ? 8 : n);
    for (unsigned i = 0; i < n; ++i) out.push_back(m[(i & ~15u) | (i & 7u)]);
    return out;
  };
  auto sdup = [](unsigned n, bool high) {
    Bytes out, m = M(kS, n);
    for (unsigned i = 0; i < n; ++i) out.push_back(m[(i & ~7u) | (high ? 4u : 0u) | (i & 3u)]);
    return out;
  };
  return {
      // 1. MOVSS / MOVSD: legacy zeroes 127:32 (127:64), keeps 511:128.
      {"movss_load", {0xf3, 0x0f, 0x10, 0x0e}, {R(kS, 4)}, 1, cat(cat(m4, Z(12)), slice(P(1), 16, 64))},
      {"movsd_load", {0xf2, 0x0f, 0x10, 0x16}, {R(kS, 8)}, 2, cat(cat(m8, Z(8)), slice(P(2), 16, 64))},
      {"movss_store", {0xf3, 0x0f, 0x11, 0x1f}, {W(kD, slice(P(3), 0, 4))}},
      {"movsd_store", {0xf2, 0x0f, 0x11, 0x27}, {W(kD, slice(P(4), 0, 8))}},
      {"vmovss_load_vex_zeroes_upper", {0xc5, 0xfa, 0x10, 0x2e}, {R(kS, 4)}, 5, zext(m4)},
      {"vmovsd_store_vex", {0xc5, 0xfb, 0x11, 0x37}, {W(kD, slice(P(6), 0, 8))}},
      {"vmovss_load_evex_k_selected", {0x62, 0xe1, 0x7e, 0x09, 0x10, 0x06}, {R(kS, 4)}, 16, zext(m4),
       {{1, 0x1}}},
      {"vmovss_load_evex_k_merge_masked_out", {0x62, 0xe1, 0x7e, 0x09, 0x10, 0x06}, {}, 16,
       zext(slice(P(16), 0, 4)), {{1, 0xFE}}},
      {"vmovss_load_evex_z_masked_out", {0x62, 0xe1, 0x7e, 0x89, 0x10, 0x0e}, {}, 17, Z(64), {{1, 0x2}}},
      {"vmovsd_store_evex_k_selected", {0x62, 0xe1, 0xff, 0x0a, 0x11, 0x17}, {W(kD, slice(P(18), 0, 8))},
       -1, {}, {{2, 0x3}}},
      {"vmovsd_store_evex_k_masked_out", {0x62, 0xe1, 0xff, 0x0a, 0x11, 0x17}, {}, -1, {}, {{2, 0x2}}},
      // 2. MOVLPS / MOVHPS / MOVLPD / MOVHPD.
      {"movlps_load", {0x0f, 0x12, 0x0e}, {R(kS, 8)}, 1, cat(m8, slice(P(1), 8, 64))},
      {"movhps_load", {0x0f, 0x16, 0x16}, {R(kS, 8)}, 2, cat(cat(slice(P(2), 0, 8), m8), slice(P(2), 16, 64))},
      {"movlpd_load", {0x66, 0x0f, 0x12, 0x1e}, {R(kS, 8)}, 3, cat(m8, slice(P(3), 8, 64))},
      {"movhpd_load", {0x66, 0x0f, 0x16, 0x26}, {R(kS, 8)}, 4, cat(cat(slice(P(4), 0, 8), m8), slice(P(4), 16, 64))},
      {"movlps_store", {0x0f, 0x13, 0x2f}, {W(kD, slice(P(5), 0, 8))}},
      {"movhps_store", {0x0f, 0x17, 0x37}, {W(kD, slice(P(6), 8, 16))}},
      {"movhpd_store", {0x66, 0x0f, 0x17, 0x3f}, {W(kD, slice(P(7), 8, 16))}},
      {"vmovlps_load_3op", {0xc5, 0xe8, 0x12, 0x0e}, {R(kS, 8)}, 1, zext(cat(m8, slice(P(2), 8, 16)))},
      {"vmovhps_load_3op", {0xc5, 0xe0, 0x16, 0x26}, {R(kS, 8)}, 4, zext(cat(slice(P(3), 0, 8), m8))},
      {"vmovhpd_load_evex", {0x62, 0xe1, 0xe5, 0x00, 0x16, 0x26}, {R(kS, 8)}, 20,
       zext(cat(slice(P(19), 0, 8), m8))},
      {"vmovlpd_store_evex", {0x62, 0xe1, 0xfd, 0x08, 0x13, 0x2f}, {W(kD, slice(P(21), 0, 8))}},
      {"vmovhps_store_vex", {0xc5, 0xf8, 0x17, 0x2f}, {W(kD, slice(P(5), 8, 16))}},
      // 3. Broadcasts: one read at the operand's width.
      {"vbroadcastss_ymm", {0xc4, 0xe2, 0x7d, 0x18, 0x0e}, {R(kS, 4)}, 1, zext(rep(m4, 32))},
      {"vbroadcastsd_ymm", {0xc4, 0xe2, 0x7d, 0x19, 0x16}, {R(kS, 8)}, 2, zext(rep(m8, 32))},
      {"vbroadcastf128", {0xc4, 0xe2, 0x7d, 0x1a, 0x1e}, {R(kS, 16)}, 3, zext(rep(m16, 32))},
      {"vbroadcasti128", {0xc4, 0xe2, 0x7d, 0x5a, 0x26}, {R(kS, 16)}, 4, zext(rep(m16, 32))},
      {"vpbroadcastb_xmm", {0xc4, 0xe2, 0x79, 0x78, 0x2e}, {R(kS, 1)}, 5, zext(rep(M(kS, 1), 16))},
      {"vpbroadcastw_ymm", {0xc4, 0xe2, 0x7d, 0x79, 0x36}, {R(kS, 2)}, 6, zext(rep(M(kS, 2), 32))},
      {"vpbroadcastd_zmm_merge", {0x62, 0xe2, 0x7d, 0x49, 0x58, 0x06}, {R(kS, 4)}, 16,
       merge(rep(m4, 64), P(16), ~uint64_t{0x8001}, 4), {{1, 0x8001}}},
      {"vpbroadcastq_zmm_zero", {0x62, 0xe2, 0xfd, 0xc9, 0x59, 0x0e}, {R(kS, 8)}, 17,
       merge(rep(m8, 64), Z(64), ~uint64_t{0x12}, 8), {{1, 0x12}}},
      {"vbroadcastf32x4_merge", {0x62, 0xe2, 0x7d, 0x4a, 0x1a, 0x16}, {R(kS, 16)}, 18,
       merge(rep(m16, 64), P(18), ~uint64_t{0xF0F0}, 4), {{2, 0xF0F0}}},
      {"vbroadcasti64x4", {0x62, 0xe2, 0xfd, 0x48, 0x5b, 0x1e}, {R(kS, 32)}, 19, rep(m32, 64)},
      {"vbroadcastf32x2_ymm_zero", {0x62, 0xe2, 0x7d, 0xab, 0x19, 0x26}, {R(kS, 8)}, 20,
       zext(merge(rep(m8, 32), Z(32), ~uint64_t{0x0F}, 4)), {{3, 0xFF0F}}},
      // Some memory elements taken by no selected element: one masked read of the others.
      {"vbroadcastf32x4_partial_mask_masked_read", {0x62, 0xe2, 0x7d, 0x4a, 0x1a, 0x16}, {RM(kS, 16, 0x0F0F)}, 18,
       merge(rep(masked(m16, 0x0F0F), 64), P(18), ~uint64_t{0x0505}, 4), {{2, 0x0505}}},
      {"vbroadcasti64x4_one_qword", {0x62, 0xe2, 0xfd, 0x48 | 0x01, 0x5b, 0x1e}, {RM(kS, 32, 0xFF00)}, 19,
       merge(rep(masked(m32, 0xFF00), 64), P(19), ~uint64_t{0x02}, 8), {{1, 0x02}}},
      {"vbroadcastss_zmm_empty_mask_no_access", {0x62, 0xe2, 0x7d, 0x4c, 0x18, 0x2e}, {}, 21, P(21),
       {{4, 0}}},
      {"vbroadcastf64x2_ymm25", {0x62, 0x62, 0xfd, 0x28, 0x1a, 0x0e}, {R(kS, 16)}, 25, zext(rep(m16, 32))},
      {"vbroadcasti32x8", {0x62, 0x62, 0x7d, 0x48, 0x5b, 0x16}, {R(kS, 32)}, 26, rep(m32, 64)},
      // 4. MOVDDUP / MOVSLDUP / MOVSHDUP.
      {"movddup_m64", {0xf2, 0x0f, 0x12, 0x0e}, {R(kS, 8)}, 1, cat(ddup(16), slice(P(1), 16, 64))},
      {"movsldup", {0xf3, 0x0f, 0x12, 0x16}, {R(kS, 16)}, 2, cat(sdup(16, false), slice(P(2), 16, 64))},
      {"movshdup", {0xf3, 0x0f, 0x16, 0x1e}, {R(kS, 16)}, 3, cat(sdup(16, true), slice(P(3), 16, 64))},
      {"vmovddup_ymm", {0xc5, 0xff, 0x12, 0x26}, {R(kS, 32)}, 4, zext(ddup(32))},
      {"vmovddup_xmm_m64", {0xc5, 0xfb, 0x12, 0x2e}, {R(kS, 8)}, 5, zext(ddup(16))},
      {"vmovsldup_zmm_merge", {0x62, 0xe1, 0x7e, 0x4d, 0x12, 0x36}, {R(kS, 64)}, 22,
       merge(sdup(64, false), P(22), ~uint64_t{0x00FF}, 4), {{5, 0x00FF}}},
      {"vmovshdup_zmm_zero", {0x62, 0xe1, 0x7e, 0xce, 0x16, 0x3e}, {R(kS, 64)}, 23,
       merge(sdup(64, true), Z(64), ~uint64_t{0x8421}, 4), {{6, 0x8421}}},
      // MOVxDUP under an opmask still reads the whole operand, even with none selected.
      {"vmovsldup_zmm_empty_mask_reads_all", {0x62, 0xe1, 0x7e, 0x4d, 0x12, 0x36}, {R(kS, 64)}, 22, P(22),
       {{5, 0}}},
      {"vmovddup_zmm_merge", {0x62, 0x61, 0xff, 0x4f, 0x12, 0x06}, {R(kS, 64)}, 24,
       merge(ddup(64), P(24), ~uint64_t{0x81}, 8), {{7, 0x81}}},
  };
  // clang-format on
}

class VectorElementTest : public ::testing::TestWithParam<Case> {};

TEST_P(VectorElementTest, AccessesAndRegisters) {
  if (!host_has_avx512()) GTEST_SKIP() << "no AVX-512 on this machine";
  const Case& c = GetParam();
  VectorState s(c.k);
  const CpuState before = s.cpu;
  const EmuResult r = emulate(s.cpu, c.code.data(), c.code.size(), s.mem);
  ASSERT_EQ(r.status, EmuStatus::OK) << to_string(r.status);
  EXPECT_EQ(s.cpu.rip, kRip + c.code.size());
  EXPECT_EQ(s.mem.log, c.expect);
  for (unsigned i = 0; i < 16; ++i) EXPECT_EQ(s.cpu.gpr[i], before.gpr[i]);
  for (unsigned reg = 0; reg < 32; ++reg) {
    EXPECT_EQ(s.reg(reg), static_cast<int>(reg) == c.reg ? c.after : P(reg)) << "zmm" << reg;
  }
  for (const auto& [n, v] : c.k) EXPECT_EQ(s.cpu.xsave.read_opmask(n), v);
}

INSTANTIATE_TEST_SUITE_P(Table, VectorElementTest, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return std::string(info.param.name); });

// Register-only forms (MOVHLPS, MOVLHPS, VMOVSS xmm, xmm, xmm, VBROADCASTSS
// from a register) and broadcast embedded in an EVEX memory operand: refused,
// nothing touched.
TEST(VectorElementSupport, RefusesOtherForms) {
  if (!host_has_avx512()) GTEST_SKIP() << "no AVX-512 on this machine";
  const Bytes refused[] = {
      {0x0f, 0x12, 0xca},                    // movhlps %xmm2,%xmm1
      {0x0f, 0x16, 0xca},                    // movlhps %xmm2,%xmm1
      {0xf3, 0x0f, 0x10, 0xca},              // movss %xmm2,%xmm1
      {0xc5, 0xf2, 0x10, 0xc2},              // vmovss %xmm2,%xmm1,%xmm0
      {0xc4, 0xe2, 0x7d, 0x18, 0xc1},        // vbroadcastss %xmm1,%ymm0
      {0x62, 0xf2, 0x7d, 0x48, 0x7c, 0xc0},  // vpbroadcastd %eax,%zmm0
  };
  for (const Bytes& code : refused) {
    VectorState s({{1, 0xFF}});
    const EmuResult r = emulate(s.cpu, code.data(), code.size(), s.mem);
    EXPECT_EQ(r.status, EmuStatus::UNSUPPORTED) << int{code[1]} << " " << int{code[2]};
    EXPECT_TRUE(s.mem.log.empty());
    EXPECT_EQ(s.cpu.rip, kRip);
  }
}

// Legacy MOVSLDUP/MOVSHDUP: m128 must be 16-byte aligned (#GP before any
// access); MOVDDUP's m64 and the VEX forms need no alignment.
TEST(VectorElementAlignment, LegacyMovsldupMovshdup) {
  if (!host_has_avx512()) GTEST_SKIP() << "no AVX-512 on this machine";
  const Bytes faulting[] = {{0xf3, 0x0f, 0x12, 0x16}, {0xf3, 0x0f, 0x16, 0x1e}};
  for (const Bytes& code : faulting) {
    VectorState s({});
    s.cpu.reg(Gpr::RSI) = kS + 8;
    const EmuResult r = emulate(s.cpu, code.data(), code.size(), s.mem);
    EXPECT_EQ(r.status, EmuStatus::FAULT);
    EXPECT_EQ(r.fault.signo, SIGSEGV);
    EXPECT_EQ(r.fault.code, SI_KERNEL);
    EXPECT_EQ(r.fault.addr, 0u);
    EXPECT_TRUE(s.mem.log.empty());
    EXPECT_EQ(s.cpu.rip, kRip);
    EXPECT_EQ(s.reg(2), P(2));
    EXPECT_EQ(s.reg(3), P(3));
  }
  const Bytes fine[] = {{0xf2, 0x0f, 0x12, 0x0e}, {0xc5, 0xfa, 0x12, 0x16}};  // movddup, vmovsldup
  for (const Bytes& code : fine) {
    VectorState s({});
    s.cpu.reg(Gpr::RSI) = kS + 8;
    EXPECT_EQ(emulate(s.cpu, code.data(), code.size(), s.mem).status, EmuStatus::OK);
    EXPECT_EQ(s.mem.log.size(), 1u);
  }
}

}  // namespace
}  // namespace mmiotrace::emu
