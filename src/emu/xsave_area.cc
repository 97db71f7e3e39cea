// Async-signal-safe: runs in the traced program's signal handler; no allocation, no locks.
//
// XsaveArea over a standard-format (non-compacted) XSAVE buffer. Offsets and
// sizes of the extended components come from CPUID leaf 0xD (Intel SDM Vol. 1,
// 13.2 and 13.4.3); the legacy region's layout is fixed (SDM Vol. 1,
// 10.5.1: XMM0-15 at bytes 160-415), and the XSAVE header's XSTATE_BV is the
// 8 bytes at offset 512 (SDM Vol. 1, 13.4.2).
#include "emu/xsave_area.h"

#include <cpuid.h>

#include <cstring>

#include "common/check.h"
#include "common/handler_rules.h"

MT_HANDLER_RULES

namespace mmiotrace::emu {
namespace {

constexpr uint32_t kXstateBvOffset = 512;
constexpr uint32_t kXmmOffset = 160;
constexpr uint32_t kXmmBytes = 256;  // XMM0-15, 16 bytes each
constexpr uint32_t kLegacyAreaBytes = 512;
constexpr unsigned kXsaveLeaf = 0xD;
constexpr uint32_t kCpuid1EcxOsxsave = 1u << 27;

// Plain data with constant initialisation: no guard variable, no dynamic
// initialiser, so reading it from a signal handler is safe at any time.
constinit XsaveLayout g_layout;
constinit int g_layout_ready = 0;

uint64_t read_xcr0() {
  uint32_t lo = 0;
  uint32_t hi = 0;
  asm volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

void compute_layout(XsaveLayout& l) {
  l.offset[0] = 0;
  l.size[0] = kXmmOffset;
  l.offset[1] = kXmmOffset;
  l.size[1] = kXmmBytes;
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  const unsigned max_leaf = __get_cpuid_max(0, nullptr);
  bool osxsave = false;
  if (max_leaf >= 1) {
    __cpuid_count(1, 0, eax, ebx, ecx, edx);
    osxsave = (ecx & kCpuid1EcxOsxsave) != 0;
  }
  if (!osxsave || max_leaf < kXsaveLeaf) {
    // No XSAVE enabled by the OS: signal frames hold the FXSAVE image only.
    l.supported = 0x3;
    l.total_size = kLegacyAreaBytes;
    return;
  }
  // XGETBV is only legal once CPUID.1:ECX.OSXSAVE says CR4.OSXSAVE is set (SDM Vol. 2, XGETBV).
  l.supported = read_xcr0();
  __cpuid_count(kXsaveLeaf, 0, eax, ebx, ecx, edx);
  l.total_size = ebx;  // EBX: size for the components enabled in XCR0 (SDM Vol. 1, 13.2)
  for (unsigned c = 2; c < 8; ++c) {
    if (((l.supported >> c) & 1) == 0) continue;
    __cpuid_count(kXsaveLeaf, c, eax, ebx, ecx, edx);
    l.size[c] = eax;
    l.offset[c] = ebx;  // standard-format offset (SDM Vol. 1, 13.4.3)
  }
}

// Runs at load time (the agent is LD_PRELOADed: before main and any thread), so
// that a signal handler normally finds the layout computed.
__attribute__((constructor)) void init_host_layout() { (void)XsaveLayout::host(); }

}  // namespace

const XsaveLayout& XsaveLayout::host() {
  if (__atomic_load_n(&g_layout_ready, __ATOMIC_ACQUIRE) != 0) return g_layout;
  // Not computed yet (only possible before constructors ran). Two threads may
  // both get here; each stores the same values, so the result is the same.
  XsaveLayout l;
  compute_layout(l);
  g_layout = l;
  __atomic_store_n(&g_layout_ready, 1, __ATOMIC_RELEASE);
  return g_layout;
}

bool XsaveArea::has(XComponent c) const {
  const unsigned i = static_cast<unsigned>(c);
  if (area_ == nullptr || i >= 8 || ((features_ >> i) & 1) == 0) return false;
  const XsaveLayout& l = XsaveLayout::host();
  return ((l.supported >> i) & 1) != 0 && l.size[i] != 0;
}

uint64_t XsaveArea::xstate_bv() const {
  if (area_ == nullptr) return 0;
  uint64_t bv = 0;
  std::memcpy(&bv, area_ + kXstateBvOffset, sizeof bv);
  return bv;
}

// Returns where component `c`'s bytes are (for SSE: the XMM0-15 part of the
// legacy region), or nullptr if the buffer cannot hold it or, for a read, if
// it is in its initial state (XSTATE_BV bit clear: the bytes are stale and the
// registers are zero, SDM Vol. 1, 13.6). For a write, a component in its
// initial state is first zero-filled and marked in use, so that XRSTOR loads
// what is written next and zeros for the rest (SDM Vol. 1, 13.8.1).
uint8_t* XsaveArea::component(XComponent c, bool for_write) const {
  if (!has(c)) return nullptr;
  const unsigned i = static_cast<unsigned>(c);
  const XsaveLayout& l = XsaveLayout::host();
  MT_CHECK(l.offset[i] != 0 || i < 2);  // has(c) says the host has the component: its place is known
  uint8_t* p = area_ + l.offset[i];
  const uint64_t bv = xstate_bv();
  if ((bv >> i) & 1) return p;
  // x87's initial state is not all zeros (FCW=037FH): never synthesise it.
  if (!for_write || c == XComponent::X87) return nullptr;
  // For SSE only the XMM registers are zero-filled: MXCSR is loaded by XRSTOR
  // whatever XSTATE_BV[1] says (SDM Vol. 1, 13.8.1), so it must keep its value.
  std::memset(p, 0, l.size[i]);
  const uint64_t new_bv = bv | (uint64_t{1} << i);
  std::memcpy(area_ + kXstateBvOffset, &new_bv, sizeof new_bv);
  return p;
}

bool XsaveArea::holds_vector(unsigned reg, unsigned bytes) const {
  if (reg > 31 || (bytes != 16 && bytes != 32 && bytes != 64)) return false;
  if (reg >= 16) return has(XComponent::HI16_ZMM);
  return has(XComponent::SSE) && (bytes <= 16 || has(XComponent::AVX)) && (bytes <= 32 || has(XComponent::ZMM_HI256));
}

namespace {

// Copies `n` bytes at `off` of a component, or zeros if it is in its initial state.
void load_part(const uint8_t* comp, uint32_t off, unsigned n, uint8_t* out) {
  if (comp != nullptr) {
    std::memcpy(out, comp + off, n);
  } else {
    std::memset(out, 0, n);
  }
}

}  // namespace

bool XsaveArea::read_vector(unsigned reg, unsigned bytes, uint8_t* out) const {
  if (!holds_vector(reg, bytes)) return false;
  if (reg >= 16) {
    load_part(component(XComponent::HI16_ZMM, false), 64 * (reg - 16), bytes, out);
    return true;
  }
  load_part(component(XComponent::SSE, false), 16 * reg, 16, out);
  if (bytes >= 32) load_part(component(XComponent::AVX, false), 16 * reg, 16, out + 16);
  if (bytes == 64) load_part(component(XComponent::ZMM_HI256, false), 32 * reg, 32, out + 32);
  return true;
}

// Zeroes `n` bytes at `off` of component `c` if the buffer holds it. A
// component in its initial state already reads as zeros and is left alone.
void XsaveArea::clear_part(XComponent c, uint32_t off, unsigned n) {
  uint8_t* p = component(c, false);
  if (p != nullptr) std::memset(p + off, 0, n);
}

bool XsaveArea::write_vector(unsigned reg, unsigned bytes, const uint8_t* in, bool zero_upper) {
  if (!holds_vector(reg, bytes)) return false;
  if (reg >= 16) {
    const uint32_t base = 64 * (reg - 16);
    uint8_t* p = component(XComponent::HI16_ZMM, true);
    std::memcpy(p + base, in, bytes);
    if (zero_upper && bytes < 64) std::memset(p + base + bytes, 0, 64 - bytes);
    return true;
  }
  std::memcpy(component(XComponent::SSE, true) + 16 * reg, in, 16);
  if (bytes >= 32) {
    std::memcpy(component(XComponent::AVX, true) + 16 * reg, in + 16, 16);
  } else if (zero_upper) {
    clear_part(XComponent::AVX, 16 * reg, 16);
  }
  if (bytes == 64) {
    std::memcpy(component(XComponent::ZMM_HI256, true) + 32 * reg, in + 32, 32);
  } else if (zero_upper) {
    clear_part(XComponent::ZMM_HI256, 32 * reg, 32);
  }
  return true;
}

uint64_t XsaveArea::read_opmask(unsigned k) const {
  if (k > 7) return 0;
  const uint8_t* p = component(XComponent::OPMASK, false);
  if (p == nullptr) return 0;
  uint64_t v = 0;
  std::memcpy(&v, p + 8 * k, sizeof v);
  return v;
}

bool XsaveArea::write_opmask(unsigned k, uint64_t value) {
  if (k > 7 || !has(XComponent::OPMASK)) return false;
  std::memcpy(component(XComponent::OPMASK, true) + 8 * k, &value, sizeof value);
  return true;
}

}  // namespace mmiotrace::emu
