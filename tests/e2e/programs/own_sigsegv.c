/* A program with its own SIGSEGV handler for faults that have nothing to do
 * with the device: the handler must see them exactly as without the tracer
 * (same si_addr, same si_code), and device accesses around them are traced. */
#include <setjmp.h>
#include <signal.h>
#include <string.h>

#include "e2e.h"

static sigjmp_buf recover;
static volatile void* fault_addr;
static volatile int fault_code;
static volatile int faults;

static void on_segv(int sig, siginfo_t* si, void* uc) {
  (void)sig;
  (void)uc;
  fault_addr = si->si_addr;
  fault_code = si->si_code;
  faults++;
  siglongjmp(recover, 1);
}

int main(int argc, char** argv) {
  (void)argc;
  volatile uint32_t* dev = e2e_map(argv[1], 4096);
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_sigaction = on_segv;
  sa.sa_flags = SA_SIGINFO;
  E2E_CHECK(sigaction(SIGSEGV, &sa, NULL) == 0);
  struct sigaction now;
  E2E_CHECK(sigaction(SIGSEGV, NULL, &now) == 0);
  E2E_CHECK(now.sa_sigaction == on_segv); /* the program sees its own handler */

  dev[0] = 0x11111111;
  e2e_expect('W', 4, 0x0, 0x11111111);

  /* An access-rights fault on a page of its own. */
  volatile uint8_t* guard = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (sigsetjmp(recover, 1) == 0) {
    (void)*guard;
    E2E_CHECK(0);
  }
  E2E_CHECK(faults == 1 && fault_addr == (void*)guard && fault_code == SEGV_ACCERR);

  dev[1] = 0x22222222;
  e2e_expect('W', 4, 0x4, 0x22222222);

  /* A NULL dereference, recovered by the handler. */
  if (sigsetjmp(recover, 1) == 0) {
    volatile int* volatile bad = (volatile int*)8;
    (void)*bad;
    E2E_CHECK(0);
  }
  E2E_CHECK(faults == 2 && fault_addr == (void*)8 && fault_code == SEGV_MAPERR);

  uint32_t v = dev[1];
  e2e_expect('R', 4, 0x4, 0x22222222);
  E2E_CHECK(v == 0x22222222);
  puts("DONE");
  return 0;
}
