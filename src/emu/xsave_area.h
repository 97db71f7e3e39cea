// XsaveArea: read and write vector (XMM/YMM/ZMM 0-31) and opmask (k0-k7)
// registers in a buffer in the standard (non-compacted) XSAVE format, which is
// what Linux puts in a signal frame (uc_mcontext.fpregs points at it) and what
// the XSAVE instruction writes. Component offsets come from CPUID leaf 0xD
// (Intel SDM Vol. 1, 13.4 and 13.5).
//
// A component whose XSTATE_BV bit is clear is in its initial state (all
// zeros) and its bytes in the buffer are undefined: reads return zeros; the
// first write zero-fills the component and sets the bit, so that XRSTOR (or
// the kernel's sigreturn) loads what was written.
//
// Async-signal-safe: no allocation; layout() runs CPUID once and caches it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mmiotrace::emu {

// State components (SDM 13.1).
enum class XComponent : uint8_t {
  X87 = 0,
  SSE = 1,
  AVX = 2,
  OPMASK = 5,
  ZMM_HI256 = 6,
  HI16_ZMM = 7,
};

struct XsaveLayout {
  uint32_t offset[8] = {};  // byte offset of each component in the standard format
  uint32_t size[8] = {};
  uint64_t supported = 0;            // XCR0: components the OS enabled
  uint32_t total_size = 0;           // bytes XSAVE writes for all of `supported`
  static const XsaveLayout& host();  // from CPUID/XGETBV, computed once
};

class XsaveArea {
 public:
  XsaveArea() = default;
  // `area` is a standard-format XSAVE buffer of the host layout (64-byte aligned
  // for the XSAVE instruction, any alignment for reading/writing here).
  // `features` lists the components the buffer may hold (for a signal frame: the
  // xfeatures word of its fpx_sw_bytes).
  XsaveArea(uint8_t* area, uint64_t features) : area_(area), features_(features) {}

  bool valid() const { return area_ != nullptr; }
  bool has(XComponent c) const;  // the buffer can hold component c
  // The buffer can hold the low `bytes` (16, 32 or 64) of vector register `reg`
  // (0-31): read_vector/write_vector with these arguments will succeed. Lets a
  // caller decide before it has side effects (the emulator, before any access).
  bool holds_vector(unsigned reg, unsigned bytes) const;

  // Vector register `reg` (0-31), low `bytes` (16, 32 or 64) bytes. Returns false
  // if the buffer cannot hold that register (e.g. ZMM16 without AVX-512).
  bool read_vector(unsigned reg, unsigned bytes, uint8_t* out) const;
  // Writes the low `bytes` bytes of register `reg`. With zero_upper (VEX/EVEX
  // encodings) the bits above `bytes` up to the widest supported register are
  // cleared; without it (legacy SSE) they are left as they were.
  bool write_vector(unsigned reg, unsigned bytes, const uint8_t* in, bool zero_upper);

  uint64_t read_opmask(unsigned k) const;
  bool write_opmask(unsigned k, uint64_t value);

  uint64_t xstate_bv() const;
  uint8_t* data() const { return area_; }

 private:
  uint8_t* component(XComponent c, bool for_write) const;
  void clear_part(XComponent c, uint32_t off, unsigned n);

  uint8_t* area_ = nullptr;
  uint64_t features_ = 0;
};

}  // namespace mmiotrace::emu
