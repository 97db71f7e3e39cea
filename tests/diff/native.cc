// Native execution for the differential tester: see native.h and native_stub.S.
#include "diff/native.h"

#include <asm/prctl.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>

#include "emu/xsave_area.h"

extern "C" {
// native_stub.S
__attribute__((visibility("hidden"))) extern uint64_t dt_in_gpr[16];
__attribute__((visibility("hidden"))) extern uint64_t dt_out_gpr[16];
__attribute__((visibility("hidden"))) extern uint64_t dt_in_rflags;
__attribute__((visibility("hidden"))) extern uint64_t dt_out_rflags;
__attribute__((visibility("hidden"))) extern uint8_t* dt_in_xsave;
__attribute__((visibility("hidden"))) extern uint8_t* dt_out_xsave;
__attribute__((visibility("hidden"))) extern uint64_t dt_insn_addr;
__attribute__((visibility("hidden"))) extern uint64_t dt_private_rsp;
__attribute__((visibility("hidden"))) void dt_native_enter();
__attribute__((visibility("hidden"))) void dt_native_exit();
}

namespace mmiotrace::difftest {
namespace {

constexpr size_t kStackBytes = 64 * 1024;
constexpr size_t kAltStackBytes = 256 * 1024;
// struct _fpx_sw_bytes at byte 464 of the FXSAVE image in a signal frame
// (arch/x86/include/uapi/asm/sigcontext.h).
constexpr size_t kSwBytesOffset = 464;
constexpr uint32_t kFpXstateMagic1 = 0x46505853;

[[noreturn]] void die(const char* what) {
  std::perror(what);
  std::abort();
}

// State shared with the signal handler. Only one run at a time (single thread).
struct FaultState {
  volatile sig_atomic_t active = 0;
  sigjmp_buf env;
  NativeResult* result = nullptr;
  uint8_t* xsave_out = nullptr;
  size_t xsave_size = 0;
};
FaultState g_fault;

// glibc's REG_* order in gregs differs from the x86 encoding order of Gpr.
constexpr int kGregOf[16] = {REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP, REG_RSI, REG_RDI,
                             REG_R8,  REG_R9,  REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15};

void on_signal(int sig, siginfo_t* si, void* ucv) {
  if (!g_fault.active) {
    // Not the generated instruction: a bug in the tester or the emulator.
    // Restore the default action; returning re-raises it.
    signal(sig, SIG_DFL);
    return;
  }
  g_fault.active = 0;
  const auto* uc = static_cast<const ucontext_t*>(ucv);
  NativeResult& r = *g_fault.result;
  r.signalled = true;
  r.signo = sig;
  r.code = si->si_code;
  r.addr = reinterpret_cast<uint64_t>(si->si_addr);
  for (int i = 0; i < 16; ++i) r.gpr[i] = static_cast<uint64_t>(uc->uc_mcontext.gregs[kGregOf[i]]);
  r.rip = static_cast<uint64_t>(uc->uc_mcontext.gregs[REG_RIP]);
  r.rflags = static_cast<uint64_t>(uc->uc_mcontext.gregs[REG_EFL]);
  r.xsave = g_fault.xsave_out;
  r.xsave_features = 0;
  const auto* fp = reinterpret_cast<const uint8_t*>(uc->uc_mcontext.fpregs);
  if (fp != nullptr) {
    uint32_t magic = 0;
    uint32_t xstate_size = 0;
    uint64_t xfeatures = 0;
    std::memcpy(&magic, fp + kSwBytesOffset, 4);
    std::memcpy(&xfeatures, fp + kSwBytesOffset + 8, 8);
    std::memcpy(&xstate_size, fp + kSwBytesOffset + 16, 4);
    if (magic == kFpXstateMagic1 && xstate_size <= g_fault.xsave_size) {
      std::memcpy(g_fault.xsave_out, fp, xstate_size);
      r.xsave_features = xfeatures & kRfbm;
    } else {
      std::memcpy(g_fault.xsave_out, fp, 512);  // FXSAVE image only: XMM0-15
      r.xsave_features = 0x3;
    }
  }
  siglongjmp(g_fault.env, 1);
}

uint8_t* aligned_buffer(size_t size) {
  void* p = std::aligned_alloc(64, size);
  if (p == nullptr) die("aligned_alloc");
  std::memset(p, 0, size);
  return static_cast<uint8_t*>(p);
}

uint64_t read_fs_base() {
  unsigned long v = 0;
  if (syscall(SYS_arch_prctl, ARCH_GET_FS, &v) != 0) die("arch_prctl(ARCH_GET_FS)");
  return v;
}

}  // namespace

size_t xsave_buffer_size() { return (emu::XsaveLayout::host().total_size + 63) / 64 * 64; }

void capture_xsave(uint8_t* buf) {
  std::memset(buf, 0, xsave_buffer_size());
  asm volatile("xsave64 (%0)" : : "r"(buf), "a"(static_cast<uint32_t>(kRfbm)), "d"(0) : "memory");
}

NativeRunner::NativeRunner() {
  void* region = mmap(nullptr, kRegionBytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
  if (region == MAP_FAILED) die("mmap region");
  region_ = reinterpret_cast<uint64_t>(region);
  if (mprotect(reinterpret_cast<void*>(lo()), 2 * kPage, PROT_READ | PROT_WRITE) != 0) {
    die("mprotect region");
  }
  void* code = mmap(nullptr, kPage, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
  if (code == MAP_FAILED) die("mmap code page (RWX)");
  code_ = reinterpret_cast<uint64_t>(code);
  fs_base_ = read_fs_base();

  xsave_in_ = aligned_buffer(xsave_buffer_size());
  xsave_out_ = aligned_buffer(xsave_buffer_size());
  stack_ = aligned_buffer(kStackBytes);
  altstack_ = aligned_buffer(kAltStackBytes);

  stack_t ss = {};
  ss.ss_sp = altstack_;
  ss.ss_size = kAltStackBytes;
  if (sigaltstack(&ss, nullptr) != 0) die("sigaltstack");
  struct sigaction sa = {};
  sa.sa_sigaction = on_signal;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE}) {
    if (sigaction(sig, &sa, nullptr) != 0) die("sigaction");
  }
  g_fault.xsave_out = xsave_out_;
  g_fault.xsave_size = xsave_buffer_size();
}

bool NativeRunner::set_gs_base(uint64_t base) { return syscall(SYS_arch_prctl, ARCH_SET_GS, base) == 0; }

void NativeRunner::load_memory(const uint8_t* pages_ab) {
  std::memcpy(reinterpret_cast<void*>(lo()), pages_ab, 2 * kPage);
}

NativeResult NativeRunner::run(const uint8_t* code, unsigned len, uint64_t insn_addr, const uint64_t gpr[16],
                               uint64_t rflags, const uint8_t* xsave_in) {
  // The instruction, then `jmp *0(%rip)` to dt_native_exit.
  auto* at = reinterpret_cast<uint8_t*>(insn_addr);
  std::memcpy(at, code, len);
  static const uint8_t kJmp[6] = {0xff, 0x25, 0, 0, 0, 0};
  std::memcpy(at + len, kJmp, sizeof kJmp);
  const uint64_t exit_addr = reinterpret_cast<uint64_t>(&dt_native_exit);
  std::memcpy(at + len + sizeof kJmp, &exit_addr, 8);

  std::memcpy(xsave_in_, xsave_in, xsave_buffer_size());
  std::memcpy(dt_in_gpr, gpr, sizeof dt_in_gpr);
  dt_in_rflags = rflags;
  dt_in_xsave = xsave_in_;
  dt_out_xsave = xsave_out_;
  dt_insn_addr = insn_addr;
  dt_private_rsp = reinterpret_cast<uint64_t>(stack_ + kStackBytes - 64);

  static NativeResult result;  // static: written by the signal handler across siglongjmp
  result = NativeResult{};
  g_fault.result = &result;
  if (sigsetjmp(g_fault.env, 1) == 0) {
    g_fault.active = 1;
    dt_native_enter();
    g_fault.active = 0;
    std::memcpy(result.gpr, dt_out_gpr, sizeof result.gpr);
    result.rip = insn_addr + len;
    result.rflags = dt_out_rflags;
    result.xsave = xsave_out_;
    result.xsave_features = kRfbm & emu::XsaveLayout::host().supported;
  }
  return result;
}

}  // namespace mmiotrace::difftest
