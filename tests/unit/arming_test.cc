// The protection-key side of arming (src/agent/arming.h) on a hand-made
// signal frame: what can be checked on a CPU without PKU.
#include "agent/arming.h"

#include <gtest/gtest.h>
#include <ucontext.h>

#include <cstdint>
#include <cstring>

namespace mmiotrace::agent {
namespace {

constexpr uint32_t kPkruOffset = 2688;  // component 9 on an AVX-512 machine (CPUID 0xD, 9)

// An XSAVE area in a signal frame: fpx_sw_bytes with magic and xfeatures at
// 464, XSTATE_BV at 512, PKRU at kPkruOffset.
struct Frame {
  alignas(64) uint8_t xsave[4096] = {};
  ucontext_t uc{};
  explicit Frame(uint64_t xfeatures, uint64_t xstate_bv, uint32_t pkru) {
    const uint32_t magic = 0x46505853;
    memcpy(xsave + 464, &magic, 4);
    memcpy(xsave + 464 + 8, &xfeatures, 8);
    memcpy(xsave + 512, &xstate_bv, 8);
    memcpy(xsave + kPkruOffset, &pkru, 4);
    uc.uc_mcontext.fpregs = reinterpret_cast<fpregset_t>(xsave);
  }
  uint32_t pkru() const {
    uint32_t v;
    memcpy(&v, xsave + kPkruOffset, 4);
    return v;
  }
  uint64_t xstate_bv() const {
    uint64_t v;
    memcpy(&v, xsave + 512, 8);
    return v;
  }
};

class Arming : public ::testing::Test {
 protected:
  void SetUp() override { arming_set_for_test(2, kPkruOffset); }
  void TearDown() override { arming_set_for_test(-1, 0); }
};

TEST_F(Arming, OpensAndClosesOnlyTheAgentsKeyInTheFramesPkru) {
  // Linux's default PKRU: every key but 0 access-disabled; key 3 also write-disabled.
  Frame f(0x2e7, 0x2e7, 0x55555554u | (2u << 6));
  ASSERT_TRUE(frame_open_key(&f.uc, true));
  EXPECT_EQ(f.pkru(), (0x55555554u | (2u << 6)) & ~(3u << 4));  // key 2: both bits clear
  ASSERT_TRUE(frame_open_key(&f.uc, false));
  EXPECT_EQ(f.pkru(), 0x55555554u | (2u << 6));  // access-disabled again, the rest untouched
}

TEST_F(Arming, PkruInItsInitialStateIsMadeExplicit) {
  // XSTATE_BV[9] clear: sigreturn would load PKRU's init value (0, every key
  // open) whatever is written: the bit must be set with the value.
  Frame f(0x2e7, 0x0e7, 0xffffffffu);
  ASSERT_TRUE(frame_open_key(&f.uc, false));
  EXPECT_EQ(f.pkru(), 1u << 4);
  EXPECT_EQ(f.xstate_bv(), 0x2e7u);
}

TEST_F(Arming, FrameWithoutPkruIsRefused) {
  Frame no_pkru(0x0e7, 0x0e7, 0);
  EXPECT_FALSE(frame_open_key(&no_pkru.uc, true));
  Frame fxsave_only(0x2e7, 0x2e7, 0);
  memset(fxsave_only.xsave + 464, 0, 4);  // no FP_XSTATE_MAGIC1: an FXSAVE image
  EXPECT_FALSE(frame_open_key(&fxsave_only.uc, true));
  ucontext_t none{};
  EXPECT_FALSE(frame_open_key(&none, true));
}

TEST(ArmingWithoutKeys, NothingToOpenInAFrame) {
  arming_set_for_test(-1, 0);
  Frame f(0x2e7, 0x2e7, 0x55555554u);
  EXPECT_EQ(arming_pkey(), -1);
  EXPECT_FALSE(frame_open_key(&f.uc, true));
  EXPECT_EQ(f.pkru(), 0x55555554u);
}

}  // namespace
}  // namespace mmiotrace::agent
