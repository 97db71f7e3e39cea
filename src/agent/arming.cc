// Async-signal-safe where it runs in the signal handler (frame_pkru,
// frame_open_key, open_pages): raw system calls and plain memory only. See
// arming.h for the design.
#include "agent/arming.h"

#include <cpuid.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

#include "agent/agent.h"
#include "common/handler_rules.h"

MT_HANDLER_RULES

namespace mmiotrace::agent {

namespace {

constexpr unsigned kPkruComponent = 9;  // XSAVE state component of PKRU (SDM Vol. 1, 13.1)
constexpr uint32_t kFpXstateMagic1 = 0x46505853;
constexpr int kPkeyDisableAccess = 1;

int g_pkey = -1;
uint32_t g_pkru_offset = 0;  // of component 9 in the standard XSAVE format (CPUID 0xD, 9: EBX)

uint64_t xgetbv0() {
  uint32_t lo, hi;
  asm volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (uint64_t{hi} << 32) | lo;
}

// CPUID.(7,0):ECX[3] PKU and [4] OSPKE (the OS set CR4.PKE), XCR0[9] (the
// kernel saves PKRU with XSAVE, hence in signal frames).
bool cpu_has_pkeys() {
  unsigned a, b, c, d;
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d) == 0) return false;
  if ((c & (1u << 3)) == 0 || (c & (1u << 4)) == 0) return false;
  if (__get_cpuid_count(1, 0, &a, &b, &c, &d) == 0 || (c & (1u << 27)) == 0) return false;  // OSXSAVE
  if (((xgetbv0() >> kPkruComponent) & 1) == 0) return false;
  if (__get_cpuid_count(0xd, kPkruComponent, &a, &b, &c, &d) == 0 || a < 4) return false;
  g_pkru_offset = b;
  return true;
}

}  // namespace

void arming_init(bool allow) {
  if (!allow || !cpu_has_pkeys()) return;
  // pkey_alloc sets the new key's rights in this thread's PKRU; threads
  // created later inherit them (clone copies PKRU).
  const long key = syscall(SYS_pkey_alloc, 0, kPkeyDisableAccess);
  if (key > 0) g_pkey = static_cast<int>(key);
}

int arming_pkey() { return g_pkey; }

void arming_set_for_test(int pkey, uint32_t pkru_offset) {
  g_pkey = pkey;
  g_pkru_offset = pkru_offset;
}

int arm(void* addr, uint64_t len, int prot) {
  if (g_pkey < 0) return -1;
  // The program's own rights, plus the key. Some mappings may refuse a key
  // (a driver's mmap with special page-table handling): they stay PROT_NONE.
  if (syscall(SYS_pkey_mprotect, addr, len, prot, g_pkey) != 0) {
    syscall(SYS_mprotect, addr, len, PROT_NONE);
    return -1;
  }
  return g_pkey;
}

void rearm(const RegionInfo& piece) {
  if (piece.pkey < 0) return;  // PROT_NONE whatever the program's rights
  if (syscall(SYS_pkey_mprotect, piece.start, piece.size(), piece.prot, piece.pkey) != 0) {
    syscall(SYS_mprotect, piece.start, piece.size(), PROT_NONE);
  }
}

uint32_t* frame_pkru(ucontext_t* uc) {
  if (g_pkey < 0 || uc->uc_mcontext.fpregs == nullptr) return nullptr;
  auto* fx = reinterpret_cast<uint8_t*>(uc->uc_mcontext.fpregs);
  uint32_t magic1;
  uint64_t xfeatures;
  memcpy(&magic1, fx + 464, sizeof magic1);            // struct _fpx_sw_bytes, in the FXSAVE image's
  memcpy(&xfeatures, fx + 464 + 8, sizeof xfeatures);  // software-reserved bytes
  if (magic1 != kFpXstateMagic1 || ((xfeatures >> kPkruComponent) & 1) == 0) return nullptr;
  return reinterpret_cast<uint32_t*>(fx + g_pkru_offset);
}

bool frame_open_key(ucontext_t* uc, bool open) {
  uint32_t* pkru = frame_pkru(uc);
  if (pkru == nullptr) return false;
  auto* fx = reinterpret_cast<uint8_t*>(uc->uc_mcontext.fpregs);
  uint64_t xstate_bv;
  memcpy(&xstate_bv, fx + 512, sizeof xstate_bv);
  // XSTATE_BV[9] clear would make sigreturn's XRSTOR load PKRU's init value
  // (0: every key open) instead of what is written here.
  if (((xstate_bv >> kPkruComponent) & 1) == 0) {
    *pkru = 0;
    xstate_bv |= uint64_t{1} << kPkruComponent;
    memcpy(fx + 512, &xstate_bv, sizeof xstate_bv);
  }
  const uint32_t bits = 3u << (2 * g_pkey);  // access-disable and write-disable of the key
  *pkru = open ? (*pkru & ~bits) : (*pkru | (1u << (2 * g_pkey)));
  return true;
}

void open_pages(const RegionInfo& r, uint64_t start, uint64_t end, bool open) {
  syscall(SYS_mprotect, start, end - start, open ? r.prot : PROT_NONE);
}

}  // namespace mmiotrace::agent
