/* A patched site faults as the original instruction did (docs/record.md,
 * "Patching"): the program's SIGSEGV handler gets the same signal, code and
 * address, with RIP at its own instruction, whether the site meets unmapped
 * ordinary memory (the relocated instruction faults in the trampoline) or a
 * device mapping it may not write (the fault path finds it). Between the
 * faults, the same sites work on the device and on ordinary memory. The
 * recorder runs this with --patch-after up to 4. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <string.h>

#include "e2e.h"

__attribute__((naked, noinline)) static uint32_t load32(volatile uint32_t* p) {
  (void)p;
  __asm__ volatile("movl (%rdi),%eax\n\tret");
}
__attribute__((naked, noinline)) static void store32(volatile uint32_t* p, uint32_t v) {
  (void)p;
  (void)v;
  __asm__ volatile("movl %esi,(%rdi)\n\tret");
}

static sigjmp_buf escape;
static volatile void* fault_addr;
static volatile int fault_code;
static volatile uint64_t fault_rip;

static void on_segv(int sig, siginfo_t* si, void* ucv) {
  (void)sig;
  const ucontext_t* uc = (const ucontext_t*)ucv;
  fault_addr = si->si_addr;
  fault_code = si->si_code;
  fault_rip = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
  siglongjmp(escape, 1);
}

static void expect_fault(const char* what, void* addr, int code, void* site) {
  E2E_CHECK(fault_addr == addr);
  E2E_CHECK(fault_code == code);
  if (fault_rip != (uint64_t)site) {
    printf("FAIL %s: RIP 0x%" PRIx64 ", the instruction is at %p\n", what, fault_rip, site);
    exit(1);
  }
  printf("FAULT %s at its own instruction\n", what);
}

static void accesses(volatile uint32_t* dev, uint32_t round) {
  for (uint32_t i = 0; i < 6; ++i) {
    const uint32_t v = round * 0x1000 + i * 0x11;
    store32(dev + i, v);
    e2e_expect('W', 4, i * 4, v);
    E2E_CHECK(load32(dev + i) == v);
    e2e_expect('R', 4, i * 4, v);
  }
}

int main(int argc, char** argv) {
  (void)argc;
  volatile uint32_t* dev = e2e_map(argv[1], 4096);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_segv;
  sa.sa_flags = SA_SIGINFO;
  sigaction(SIGSEGV, &sa, NULL);

  accesses(dev, 1);  // the sites get patched

  // Ordinary memory through the same sites: runs natively, nothing recorded.
  uint32_t local[4] = {0};
  store32(&local[1], 0x1234);
  E2E_CHECK(local[1] == 0x1234 && load32(&local[1]) == 0x1234);

  // Unmapped ordinary memory.
  void* hole = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  munmap(hole, 4096);
  if (sigsetjmp(escape, 1) == 0) {
    (void)load32((volatile uint32_t*)hole);
    printf("FAIL no fault reading unmapped memory\n");
    return 1;
  }
  expect_fault("load from unmapped memory", hole, SEGV_MAPERR, (void*)load32);
  if (sigsetjmp(escape, 1) == 0) {
    store32((volatile uint32_t*)hole + 1, 7);
    printf("FAIL no fault writing unmapped memory\n");
    return 1;
  }
  expect_fault("store to unmapped memory", (uint32_t*)hole + 1, SEGV_MAPERR, (void*)store32);

  // The device mapped read-only: the store faults, the load still works.
  E2E_CHECK(mprotect((void*)dev, 4096, PROT_READ) == 0);
  if (sigsetjmp(escape, 1) == 0) {
    store32(dev + 2, 5);
    printf("FAIL no fault writing a read-only device mapping\n");
    return 1;
  }
  expect_fault("store to a read-only device mapping", (void*)(dev + 2), SEGV_ACCERR, (void*)store32);
  E2E_CHECK(load32(dev + 3) == 0x1000 + 3 * 0x11);
  e2e_expect('R', 4, 12, 0x1000 + 3 * 0x11);
  E2E_CHECK(mprotect((void*)dev, 4096, PROT_READ | PROT_WRITE) == 0);

  accesses(dev, 2);  // and the sites still work
  printf("DONE\n");
  return 0;
}
