// Runs one generated instruction natively (differential tester).
//
// The process gets three fixed mappings below 2 GiB (MAP_32BIT, so that
// absolute disp32, RIP-relative and 67h-truncated addresses can reach them):
//
//   region: [guard page][page A][page B][guard page]   PROT_NONE / RW / RW / PROT_NONE
//   code:   one RWX page: the instruction, then a jump to dt_native_exit
//
// run() loads the instance's registers (native_stub.S), runs the instruction
// and collects registers, RFLAGS and the XSAVE image after it; a signal
// (#GP, #PF on a guard page, #UD) is caught on an alternate stack, its siginfo
// and the registers/vector state of its signal frame are collected, and
// execution resumes in run() with siglongjmp.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mmiotrace::difftest {

inline constexpr uint64_t kPage = 4096;
inline constexpr uint64_t kRegionPages = 4;  // guard, A, B, guard
inline constexpr uint64_t kRegionBytes = kRegionPages * kPage;
// Vector/opmask components the tester loads and compares: x87, SSE, AVX,
// opmask, ZMM_Hi256, Hi16_ZMM (not PKRU, not AMX tiles). Same as native_stub.S.
inline constexpr uint64_t kRfbm = 0xe7;

struct NativeResult {
  bool signalled = false;  // the instruction raised a signal
  int signo = 0;
  int code = 0;           // si_code
  uint64_t addr = 0;      // si_addr
  uint64_t gpr[16] = {};  // after the instruction, or from the signal frame
  uint64_t rip = 0;       // from the signal frame; else the address after the instruction
  uint64_t rflags = 0;
  const uint8_t* xsave = nullptr;  // standard-format XSAVE image after the instruction
  uint64_t xsave_features = 0;     // components that image may hold
};

class NativeRunner {
 public:
  // Maps the region and the code page, installs the signal handlers (SIGSEGV,
  // SIGBUS, SIGILL, SIGFPE on an alternate stack). Aborts if anything fails.
  NativeRunner();
  NativeRunner(const NativeRunner&) = delete;
  NativeRunner& operator=(const NativeRunner&) = delete;

  uint64_t region() const { return region_; }          // program address of the lower guard page
  uint64_t lo() const { return region_ + kPage; }      // first byte of page A
  uint64_t hi() const { return region_ + 3 * kPage; }  // one past page B
  uint64_t code_page() const { return code_; }
  uint64_t fs_base() const { return fs_base_; }
  // Bytes the instruction plus its exit jump may need at `insn_addr`.
  static constexpr unsigned kExitJumpBytes = 14;

  // Sets the GS base of this thread (arch_prctl). Returns false if refused.
  bool set_gs_base(uint64_t base);

  // Copies pages A and B (2 * kPage bytes) in and out of the live region.
  void load_memory(const uint8_t* pages_ab);
  const uint8_t* memory() const { return reinterpret_cast<const uint8_t*>(lo()); }

  // Runs the instruction `code[0..len)` placed at `insn_addr` (inside the code
  // page, with room for kExitJumpBytes after it) with the given registers and
  // the 64-byte aligned XSAVE image `xsave_in` (standard format, host layout).
  NativeResult run(const uint8_t* code, unsigned len, uint64_t insn_addr, const uint64_t gpr[16], uint64_t rflags,
                   const uint8_t* xsave_in);

 private:
  uint64_t region_ = 0;
  uint64_t code_ = 0;
  uint64_t fs_base_ = 0;
  uint8_t* xsave_in_ = nullptr;  // 64-byte aligned copies XRSTOR/XSAVE use
  uint8_t* xsave_out_ = nullptr;
  uint8_t* stack_ = nullptr;  // private stack
  uint8_t* altstack_ = nullptr;
};

// Size of an XSAVE buffer for the host layout, rounded up to 64.
size_t xsave_buffer_size();

// XSAVE of this thread's current state (components kRfbm) into `buf`
// (64-byte aligned, xsave_buffer_size() bytes): a valid image (x87 control
// words, MXCSR, header) that the generator starts each instance from.
void capture_xsave(uint8_t* buf);

}  // namespace mmiotrace::difftest
