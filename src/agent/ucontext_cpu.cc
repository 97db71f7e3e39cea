// Async-signal-safe: runs in the traced program's signal handler.
#include "agent/ucontext_cpu.h"

#include <asm/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

#include "agent/agent.h"
#include "common/handler_rules.h"

MT_HANDLER_RULES

namespace mmiotrace::agent {

namespace {

// glibc's gregs index for each register in x86 encoding order (sys/ucontext.h).
constexpr int kGregOf[16] = {REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP, REG_RSI, REG_RDI,
                             REG_R8,  REG_R9,  REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15};

// Linux's software-reserved bytes at offset 464 of the FXSAVE image say whether
// the frame holds an XSAVE area and with which components
// (arch/x86/include/uapi/asm/sigcontext.h, struct _fpx_sw_bytes).
constexpr uint32_t kFpXstateMagic1 = 0x46505853;

struct FpxSwBytes {
  uint32_t magic1;
  uint32_t extended_size;
  uint64_t xfeatures;
  uint32_t xstate_size;
  uint32_t padding[7];
};

uint64_t read_fs_base() {
  if (g_agent.has_fsgsbase) {
    uint64_t v;
    asm volatile("rdfsbase %0" : "=r"(v));
    return v;
  }
  unsigned long v = 0;
  syscall(SYS_arch_prctl, ARCH_GET_FS, &v);
  return v;
}

uint64_t read_gs_base() {
  if (g_agent.has_fsgsbase) {
    uint64_t v;
    asm volatile("rdgsbase %0" : "=r"(v));
    return v;
  }
  unsigned long v = 0;
  syscall(SYS_arch_prctl, ARCH_GET_GS, &v);
  return v;
}

}  // namespace

void cpu_from_ucontext(const ucontext_t* uc, const uint8_t* insn, size_t insn_len, emu::CpuState* cpu) {
  const greg_t* g = uc->uc_mcontext.gregs;
  for (int i = 0; i < 16; ++i) cpu->gpr[i] = static_cast<uint64_t>(g[kGregOf[i]]);
  cpu->rip = static_cast<uint64_t>(g[REG_RIP]);
  cpu->rflags = static_cast<uint64_t>(g[REG_EFL]);
  // Segment bases cost a system call on CPUs without FSGSBASE: read them only
  // when the instruction carries an FS or GS prefix (legacy prefixes come first).
  cpu->fs_base = 0;
  cpu->gs_base = 0;
  for (size_t i = 0; i < insn_len; ++i) {
    uint8_t b = insn[i];
    if (b == 0x64)
      cpu->fs_base = read_fs_base();
    else if (b == 0x65)
      cpu->gs_base = read_gs_base();
    else if (b != 0x26 && b != 0x2e && b != 0x36 && b != 0x3e && b != 0x66 && b != 0x67 && b != 0xf0 && b != 0xf2 &&
             b != 0xf3)
      break;
  }
  auto* fx = reinterpret_cast<uint8_t*>(uc->uc_mcontext.fpregs);
  if (fx == nullptr) {
    cpu->xsave = emu::XsaveArea();
    return;
  }
  FpxSwBytes sw;
  memcpy(&sw, fx + 464, sizeof(sw));
  uint64_t features = sw.magic1 == kFpXstateMagic1 ? sw.xfeatures : 0x3;  // FXSAVE only: x87 + SSE
  cpu->xsave = emu::XsaveArea(fx, features);
}

void cpu_to_ucontext(const emu::CpuState& cpu, ucontext_t* uc) {
  greg_t* g = uc->uc_mcontext.gregs;
  for (int i = 0; i < 16; ++i) g[kGregOf[i]] = static_cast<greg_t>(cpu.gpr[i]);
  g[REG_RIP] = static_cast<greg_t>(cpu.rip);
  g[REG_EFL] = static_cast<greg_t>(cpu.rflags);
  // Vector registers were changed in place in the frame's XSAVE area.
}

}  // namespace mmiotrace::agent
