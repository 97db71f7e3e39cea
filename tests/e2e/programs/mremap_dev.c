/* mremap of a device mapping: moved (MREMAP_FIXED onto a reserved range),
 * grown, shrunk and grown again in place. Accesses through the new address
 * reach the right device offsets under the same map id; the old range and a
 * removed tail fault as natively (the program's own SIGSEGV handler). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <string.h>

#include "e2e.h"

static sigjmp_buf recover;
static volatile void* fault_addr;

static void on_segv(int sig, siginfo_t* si, void* uc) {
  (void)sig;
  (void)uc;
  fault_addr = si->si_addr;
  siglongjmp(recover, 1);
}

/* Whether a 4-byte load at p faults with SIGSEGV at p. */
static int faults(volatile uint32_t* p) {
  fault_addr = NULL;
  if (sigsetjmp(recover, 1) == 0) {
    (void)*p;
    return 0;
  }
  return fault_addr == (void*)p;
}

int main(int argc, char** argv) {
  (void)argc;
  const size_t page = 4096;
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_sigaction = on_segv;
  sa.sa_flags = SA_SIGINFO;
  E2E_CHECK(sigaction(SIGSEGV, &sa, NULL) == 0);

  uint8_t* p = e2e_map(argv[1], 2 * page);
  *(volatile uint32_t*)(p + 0x0) = 0x11111111;
  e2e_expect('W', 4, 0x0, 0x11111111);
  *(volatile uint32_t*)(p + 0x1000) = 0x22222222;
  e2e_expect('W', 4, 0x1000, 0x22222222);

  /* Grow to 4 pages, moved onto a reserved range. */
  uint8_t* target = mmap(NULL, 4 * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  E2E_CHECK(target != MAP_FAILED);
  uint8_t* q = mremap(p, 2 * page, 4 * page, MREMAP_MAYMOVE | MREMAP_FIXED, target);
  E2E_CHECK(q == target);
  *(volatile uint32_t*)(q + 0x8) = 0x33333333;
  e2e_expect('W', 4, 0x8, 0x33333333);
  *(volatile uint32_t*)(q + 0x3000) = 0x44444444;
  e2e_expect('W', 4, 0x3000, 0x44444444);
  uint32_t v = *(volatile uint32_t*)(q + 0x0);
  e2e_expect('R', 4, 0x0, 0x11111111);
  E2E_CHECK(v == 0x11111111);
  v = *(volatile uint32_t*)(q + 0x1000);
  e2e_expect('R', 4, 0x1000, 0x22222222);
  E2E_CHECK(v == 0x22222222);
  v = *(volatile uint32_t*)(q + 0x2000);
  e2e_expect('R', 4, 0x2000, e2e_pattern_value(0x2000, 4));
  E2E_CHECK(v == e2e_pattern_value(0x2000, 4));
  E2E_CHECK(faults((volatile uint32_t*)p)); /* the old range is gone */

  /* Shrink to one page: the rest is unmapped. */
  uint8_t* s = mremap(q, 4 * page, page, 0);
  E2E_CHECK(s == q);
  E2E_CHECK(faults((volatile uint32_t*)(q + 0x1000)));
  E2E_CHECK(faults((volatile uint32_t*)(q + 0x3000)));
  *(volatile uint32_t*)(q + 0x4) = 0x55555555;
  e2e_expect('W', 4, 0x4, 0x55555555);

  /* Grow again in place (the page after it is free). */
  s = mremap(q, page, 2 * page, 0);
  E2E_CHECK(s == q);
  v = *(volatile uint32_t*)(q + 0x1000);
  e2e_expect('R', 4, 0x1000, 0x22222222);
  E2E_CHECK(v == 0x22222222);

  /* Moved without MREMAP_FIXED, by making the next page busy. */
  uint8_t* busy = mmap(q + 2 * page, page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  E2E_CHECK(busy == q + 2 * page);
  uint8_t* m = mremap(q, 2 * page, 3 * page, MREMAP_MAYMOVE);
  E2E_CHECK(m != MAP_FAILED && m != q);
  v = *(volatile uint32_t*)(m + 0x2004);
  e2e_expect('R', 4, 0x2004, e2e_pattern_value(0x2004, 4));
  E2E_CHECK(v == e2e_pattern_value(0x2004, 4));
  E2E_CHECK(faults((volatile uint32_t*)q));
  E2E_CHECK(munmap(m, 3 * page) == 0);
  puts("DONE");
  return 0;
}
