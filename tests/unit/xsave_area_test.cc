// XsaveArea: the layout from CPUID, the init-state rule (XSTATE_BV bit clear:
// zeros on read, zero-fill on first write), zero_upper, and a round trip
// through the real CPU with XSAVE/XRSTOR.
#include "emu/xsave_area.h"

#include <cpuid.h>
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace mmiotrace::emu {
namespace {

constexpr uint32_t kXstateBv = 512;
constexpr uint32_t kMxcsr = 24;
constexpr uint64_t kAvx512Bits = (1u << 5) | (1u << 6) | (1u << 7);

// A 64-byte aligned buffer of the host XSAVE size.
class Buffer {
 public:
  explicit Buffer(uint8_t fill) {
    size_ = (XsaveLayout::host().total_size + 63) / 64 * 64;
    p_ = static_cast<uint8_t*>(std::aligned_alloc(64, size_));
    std::memset(p_, fill, size_);
    set_bv(0);
    std::memset(p_ + kXstateBv + 8, 0, 56);  // rest of the XSAVE header must be zero for XRSTOR
  }
  ~Buffer() { std::free(p_); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  uint8_t* data() { return p_; }
  size_t size() const { return size_; }
  uint64_t bv() const {
    uint64_t v;
    std::memcpy(&v, p_ + kXstateBv, 8);
    return v;
  }
  void set_bv(uint64_t v) { std::memcpy(p_ + kXstateBv, &v, 8); }
  uint8_t* at(XComponent c) { return p_ + XsaveLayout::host().offset[static_cast<unsigned>(c)]; }

 private:
  uint8_t* p_;
  size_t size_;
};

std::vector<uint8_t> pattern(unsigned seed, unsigned n) {
  std::vector<uint8_t> v(n);
  for (unsigned i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed * 37 + i * 3 + 1);
  return v;
}

std::vector<uint8_t> concat(std::vector<uint8_t> a, const std::vector<uint8_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::vector<uint8_t> zeros(unsigned n) { return std::vector<uint8_t>(n, 0); }

std::vector<uint8_t> read_reg(const XsaveArea& x, unsigned reg, unsigned bytes) {
  std::vector<uint8_t> v(bytes, 0xEE);
  EXPECT_TRUE(x.read_vector(reg, bytes, v.data())) << "reg " << reg;
  return v;
}

bool host_has_avx512() {
  return (XsaveLayout::host().supported & kAvx512Bits) == kAvx512Bits && __builtin_cpu_supports("avx512f") &&
         __builtin_cpu_supports("avx512bw");
}

#define REQUIRE_AVX512()                                                  \
  do {                                                                    \
    if (!host_has_avx512()) GTEST_SKIP() << "no AVX-512 on this machine"; \
  } while (0)

TEST(XsaveLayout, HostMatchesTheArchitecture) {
  const XsaveLayout& l = XsaveLayout::host();
  EXPECT_EQ(&l, &XsaveLayout::host());  // computed once
  EXPECT_EQ(l.supported & 0x3, 0x3u);
  EXPECT_EQ(l.offset[1], 160u);
  EXPECT_EQ(l.size[1], 256u);
  if (l.supported & (1u << 2)) {
    EXPECT_EQ(l.offset[2], 576u);  // first extended component, right after the header
    EXPECT_EQ(l.size[2], 256u);
  }
  if ((l.supported & kAvx512Bits) == kAvx512Bits) {
    EXPECT_EQ(l.size[5], 64u);
    EXPECT_EQ(l.size[6], 512u);
    EXPECT_EQ(l.size[7], 1024u);
  }
  for (unsigned c = 2; c < 8; ++c) {
    if (l.supported & (1u << c)) {
      EXPECT_LE(l.offset[c] + l.size[c], l.total_size) << c;
    }
  }
}

TEST(XsaveArea, EmptyAreaHoldsNothing) {
  XsaveArea x;
  uint8_t buf[64] = {};
  EXPECT_FALSE(x.valid());
  EXPECT_FALSE(x.has(XComponent::SSE));
  EXPECT_FALSE(x.holds_vector(0, 16));
  EXPECT_FALSE(x.read_vector(0, 16, buf));
  EXPECT_FALSE(x.write_vector(0, 16, buf, false));
  EXPECT_FALSE(x.write_opmask(1, 5));
  EXPECT_EQ(x.read_opmask(1), 0u);
  EXPECT_EQ(x.xstate_bv(), 0u);
}

TEST(XsaveArea, InitialStateReadsAsZeros) {
  REQUIRE_AVX512();
  Buffer b(0xCC);  // stale bytes everywhere, XSTATE_BV = 0
  XsaveArea x(b.data(), XsaveLayout::host().supported);
  EXPECT_EQ(read_reg(x, 3, 64), zeros(64));
  EXPECT_EQ(read_reg(x, 15, 32), zeros(32));
  EXPECT_EQ(read_reg(x, 20, 64), zeros(64));
  EXPECT_EQ(x.read_opmask(1), 0u);
  // With the bits set the same bytes are the registers.
  b.set_bv(XsaveLayout::host().supported);
  EXPECT_EQ(read_reg(x, 3, 64), std::vector<uint8_t>(64, 0xCC));
  EXPECT_EQ(x.read_opmask(1), 0xCCCCCCCCCCCCCCCCu);
}

TEST(XsaveArea, FirstSseWriteZeroFillsXmmButKeepsMxcsr) {
  Buffer b(0xCC);
  const uint32_t mxcsr = 0x1f80;
  std::memcpy(b.data() + kMxcsr, &mxcsr, 4);
  XsaveArea x(b.data(), XsaveLayout::host().supported);
  const auto v = pattern(1, 16);
  ASSERT_TRUE(x.write_vector(3, 16, v.data(), false));
  EXPECT_EQ(b.bv(), 0x2u);  // only SSE marked in use
  EXPECT_EQ(read_reg(x, 3, 16), v);
  EXPECT_EQ(read_reg(x, 4, 16), zeros(16));
  EXPECT_EQ(std::vector<uint8_t>(b.data() + 160, b.data() + 160 + 48), zeros(48));
  EXPECT_EQ(std::vector<uint8_t>(b.data() + 160 + 48, b.data() + 160 + 64), v);
  uint32_t m;
  std::memcpy(&m, b.data() + kMxcsr, 4);
  EXPECT_EQ(m, mxcsr);
  EXPECT_EQ(b.data()[0], 0xCC);  // x87 part untouched
  EXPECT_EQ(b.data()[159], 0xCC);
}

TEST(XsaveArea, FirstAvxAndOpmaskWritesZeroFillTheirComponent) {
  REQUIRE_AVX512();
  Buffer b(0xCC);
  b.set_bv(0x2);
  XsaveArea x(b.data(), XsaveLayout::host().supported);
  const auto v = pattern(2, 32);
  ASSERT_TRUE(x.write_vector(5, 32, v.data(), false));
  EXPECT_EQ(b.bv(), 0x6u);
  EXPECT_EQ(read_reg(x, 5, 32), v);
  EXPECT_EQ(std::vector<uint8_t>(b.at(XComponent::AVX), b.at(XComponent::AVX) + 16), zeros(16));
  EXPECT_EQ(read_reg(x, 6, 64), concat(std::vector<uint8_t>(16, 0xCC), zeros(48)));
  ASSERT_TRUE(x.write_opmask(3, 0x123456789abcdef0));
  EXPECT_EQ(b.bv(), 0x26u);
  EXPECT_EQ(x.read_opmask(3), 0x123456789abcdef0u);
  EXPECT_EQ(x.read_opmask(2), 0u);
  const auto z = pattern(3, 64);
  ASSERT_TRUE(x.write_vector(25, 64, z.data(), false));
  EXPECT_EQ(b.bv(), 0xA6u);
  EXPECT_EQ(read_reg(x, 25, 64), z);
  EXPECT_EQ(read_reg(x, 24, 64), zeros(64));
}

TEST(XsaveArea, ZeroUpperClearsUpToTheWidestRegister) {
  REQUIRE_AVX512();
  Buffer b(0);
  b.set_bv(XsaveLayout::host().supported);
  XsaveArea x(b.data(), XsaveLayout::host().supported);
  const auto full = pattern(4, 64);
  const auto low = pattern(5, 16);
  ASSERT_TRUE(x.write_vector(7, 64, full.data(), false));
  ASSERT_TRUE(x.write_vector(7, 16, low.data(), false));  // legacy: upper kept
  EXPECT_EQ(read_reg(x, 7, 64), concat(low, std::vector<uint8_t>(full.begin() + 16, full.end())));
  ASSERT_TRUE(x.write_vector(7, 16, low.data(), true));  // VEX.128: ymm and zmm upper cleared
  EXPECT_EQ(read_reg(x, 7, 64), concat(low, zeros(48)));
  const auto y = pattern(6, 32);
  ASSERT_TRUE(x.write_vector(7, 64, full.data(), false));
  ASSERT_TRUE(x.write_vector(7, 32, y.data(), true));  // VEX.256: zmm upper cleared
  EXPECT_EQ(read_reg(x, 7, 64), concat(y, zeros(32)));
  ASSERT_TRUE(x.write_vector(20, 64, full.data(), false));
  ASSERT_TRUE(x.write_vector(20, 32, y.data(), true));
  EXPECT_EQ(read_reg(x, 20, 64), concat(y, zeros(32)));
  ASSERT_TRUE(x.write_vector(21, 64, full.data(), false));
  ASSERT_TRUE(x.write_vector(21, 16, low.data(), false));
  EXPECT_EQ(read_reg(x, 21, 64), concat(low, std::vector<uint8_t>(full.begin() + 16, full.end())));
}

TEST(XsaveArea, ZeroUpperOfAComponentInInitStateStillReadsZero) {
  REQUIRE_AVX512();
  Buffer b(0xCC);
  b.set_bv(0x2);
  XsaveArea x(b.data(), XsaveLayout::host().supported);
  const auto low = pattern(7, 16);
  ASSERT_TRUE(x.write_vector(1, 16, low.data(), true));
  EXPECT_EQ(read_reg(x, 1, 64), concat(low, zeros(48)));
}

TEST(XsaveArea, RefusesWhatTheBufferCannotHold) {
  Buffer b(0);
  b.set_bv(0x3);
  XsaveArea x(b.data(), 0x3);  // a frame with x87 and SSE only
  uint8_t buf[64] = {};
  EXPECT_TRUE(x.holds_vector(15, 16));
  EXPECT_FALSE(x.holds_vector(0, 32));
  EXPECT_FALSE(x.holds_vector(16, 16));
  EXPECT_FALSE(x.read_vector(0, 32, buf));
  EXPECT_FALSE(x.write_vector(0, 32, buf, true));
  EXPECT_FALSE(x.write_vector(16, 16, buf, true));
  EXPECT_FALSE(x.write_opmask(1, 1));
  EXPECT_EQ(b.bv(), 0x3u);  // nothing was marked
  EXPECT_FALSE(x.read_vector(32, 16, buf));
  EXPECT_FALSE(x.read_vector(0, 8, buf));
  EXPECT_FALSE(x.has(XComponent::AVX));
  EXPECT_TRUE(x.has(XComponent::SSE));
  // A legacy write with zero_upper into a frame without AVX writes the xmm only.
  const auto low = pattern(8, 16);
  EXPECT_TRUE(x.write_vector(2, 16, low.data(), true));
  EXPECT_EQ(read_reg(x, 2, 16), low);
}

// ---- Round trips through the real CPU (XSAVE/XRSTOR, SDM Vol. 1, 13.7 and 13.8).

struct CpuValues {
  alignas(64) uint8_t z[4][64];
  uint64_t k[2];
};

#define ALL_VECTOR_CLOBBERS                                                                                           \
  "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", \
      "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24", "xmm25",     \
      "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31", "k1", "k2", "k3", "k4", "k5", "k6", "k7"

// Loads zmm1, zmm9, zmm17, zmm31, k1, k7 and saves the whole state to `area`
// in one asm statement, so the compiler cannot touch the registers in between.
__attribute__((target("avx512f,avx512bw"))) void load_and_xsave(const CpuValues& v, uint8_t* area) {
  asm volatile(
      "vmovdqu64 0(%[z]), %%zmm1\n\t"
      "vmovdqu64 64(%[z]), %%zmm9\n\t"
      "vmovdqu64 128(%[z]), %%zmm17\n\t"
      "vmovdqu64 192(%[z]), %%zmm31\n\t"
      "kmovq 0(%[k]), %%k1\n\t"
      "kmovq 8(%[k]), %%k7\n\t"
      "xsave64 (%[a])\n\t"
      :
      : [z] "r"(v.z), [k] "r"(v.k), [a] "r"(area), "a"(0xffffffffu), "d"(0xffffffffu)
      : "memory", "xmm1", "xmm9", "xmm17", "xmm31", "k1", "k7");
}

__attribute__((target("avx512f,avx512bw"))) void xsave_now(uint8_t* area) {
  asm volatile("xsave64 (%0)" : : "r"(area), "a"(0xffffffffu), "d"(0xffffffffu) : "memory");
}

// Loads `area` into the CPU and stores zmm5, zmm12, zmm13, zmm20, zmm21 and k2
// (XRSTOR loads every register: all are clobbered).
__attribute__((target("avx512f,avx512bw"))) void xrstor_and_store(const uint8_t* area, uint8_t (*z)[64], uint64_t* k2,
                                                                  uint32_t* mxcsr) {
  asm volatile(
      "xrstor64 (%[a])\n\t"
      "vmovdqu64 %%zmm5, 0(%[z])\n\t"
      "vmovdqu64 %%zmm12, 64(%[z])\n\t"
      "vmovdqu64 %%zmm13, 128(%[z])\n\t"
      "vmovdqu64 %%zmm20, 192(%[z])\n\t"
      "vmovdqu64 %%zmm21, 256(%[z])\n\t"
      "kmovq %%k2, (%[k])\n\t"
      "stmxcsr (%[m])\n\t"
      :
      : [a] "r"(area), [z] "r"(z), [k] "r"(k2), [m] "r"(mxcsr), "a"(0xffffffffu), "d"(0xffffffffu)
      : "memory", ALL_VECTOR_CLOBBERS);
}

TEST(XsaveAreaCpu, ReadsWhatXsaveCaptured) {
  REQUIRE_AVX512();
  CpuValues v;
  for (unsigned r = 0; r < 4; ++r) {
    const auto p = pattern(10 + r, 64);
    std::memcpy(v.z[r], p.data(), 64);
  }
  v.k[0] = 0xfedcba9876543210;
  v.k[1] = 0x00000000ffff0001;
  Buffer b(0);
  load_and_xsave(v, b.data());
  XsaveArea x(b.data(), XsaveLayout::host().supported);
  EXPECT_EQ(read_reg(x, 1, 64), pattern(10, 64));
  EXPECT_EQ(read_reg(x, 1, 16), pattern(10, 16));
  EXPECT_EQ(read_reg(x, 9, 32), pattern(11, 32));
  EXPECT_EQ(read_reg(x, 9, 64), pattern(11, 64));
  EXPECT_EQ(read_reg(x, 17, 64), pattern(12, 64));
  EXPECT_EQ(read_reg(x, 31, 16), pattern(13, 16));
  EXPECT_EQ(read_reg(x, 31, 64), pattern(13, 64));
  EXPECT_EQ(x.read_opmask(1), 0xfedcba9876543210u);
  EXPECT_EQ(x.read_opmask(7), 0x00000000ffff0001u);
}

TEST(XsaveAreaCpu, WrittenValuesLandInRealRegisters) {
  REQUIRE_AVX512();
  Buffer b(0);
  xsave_now(b.data());
  XsaveArea x(b.data(), XsaveLayout::host().supported);
  const auto z5 = pattern(20, 64);
  const auto x12 = pattern(21, 16);
  const auto y20 = pattern(22, 32);
  const auto z13 = pattern(23, 64);
  ASSERT_TRUE(x.write_vector(13, 64, z13.data(), false));
  ASSERT_TRUE(x.write_vector(5, 64, z5.data(), false));
  ASSERT_TRUE(x.write_vector(12, 16, x12.data(), true));
  ASSERT_TRUE(x.write_vector(20, 32, y20.data(), true));
  ASSERT_TRUE(x.write_vector(13, 16, x12.data(), false));  // legacy: keeps bits 511:128
  ASSERT_TRUE(x.write_opmask(2, 0x8000000000000001));
  alignas(64) uint8_t out[5][64];
  uint64_t k2 = 0;
  uint32_t mxcsr = 0;
  xrstor_and_store(b.data(), out, &k2, &mxcsr);
  EXPECT_EQ(std::vector<uint8_t>(out[0], out[0] + 64), z5);
  EXPECT_EQ(std::vector<uint8_t>(out[1], out[1] + 64), concat(x12, zeros(48)));
  EXPECT_EQ(std::vector<uint8_t>(out[2], out[2] + 64), concat(x12, std::vector<uint8_t>(z13.begin() + 16, z13.end())));
  EXPECT_EQ(std::vector<uint8_t>(out[3], out[3] + 64), concat(y20, zeros(32)));
  EXPECT_EQ(k2, 0x8000000000000001u);
}

// The init-state rule with the hardware as the judge: components marked not
// in use hold garbage; XRSTOR must load zeros for them except what was written.
TEST(XsaveAreaCpu, InitStateRuleMatchesXrstor) {
  REQUIRE_AVX512();
  Buffer b(0);
  xsave_now(b.data());
  uint32_t saved_mxcsr = 0;
  std::memcpy(&saved_mxcsr, b.data() + kMxcsr, 4);
  const XsaveLayout& l = XsaveLayout::host();
  for (XComponent c :
       {XComponent::SSE, XComponent::AVX, XComponent::OPMASK, XComponent::ZMM_HI256, XComponent::HI16_ZMM}) {
    std::memset(b.at(c), 0xCC, l.size[static_cast<unsigned>(c)]);
  }
  b.set_bv(b.bv() & ~uint64_t{0xE6});  // SSE, AVX, opmask, ZMM_Hi256, Hi16_ZMM: initial
  XsaveArea x(b.data(), l.supported);
  const auto x12 = pattern(30, 16);
  const auto x20 = pattern(31, 16);
  ASSERT_TRUE(x.write_vector(12, 16, x12.data(), false));
  ASSERT_TRUE(x.write_vector(20, 16, x20.data(), false));
  alignas(64) uint8_t out[5][64];
  uint64_t k2 = 1;
  uint32_t mxcsr = 0;
  xrstor_and_store(b.data(), out, &k2, &mxcsr);
  EXPECT_EQ(std::vector<uint8_t>(out[1], out[1] + 64), concat(x12, zeros(48)));  // zmm12
  EXPECT_EQ(std::vector<uint8_t>(out[0], out[0] + 64), zeros(64));               // zmm5
  EXPECT_EQ(std::vector<uint8_t>(out[3], out[3] + 64), concat(x20, zeros(48)));  // zmm20
  EXPECT_EQ(std::vector<uint8_t>(out[4], out[4] + 64), zeros(64));               // zmm21
  EXPECT_EQ(k2, 0u);
  EXPECT_EQ(mxcsr, saved_mxcsr);
}

}  // namespace
}  // namespace mmiotrace::emu
