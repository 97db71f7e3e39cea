/* Programs that block every signal, and programs that change the protection
 * of a device mapping: accesses stay traced where the program may access, and
 * fault exactly as without the tracer where it may not. */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>

#include "e2e.h"

static volatile uint32_t* dev;
static sigjmp_buf recover;
static volatile void* fault_addr;
static volatile int fault_code;

static void on_segv(int sig, siginfo_t* si, void* uc) {
  (void)sig;
  (void)uc;
  fault_addr = si->si_addr;
  fault_code = si->si_code;
  siglongjmp(recover, 1);
}

static void* blocked_thread(void* arg) {
  (void)arg;
  sigset_t all;
  sigfillset(&all);
  E2E_CHECK(pthread_sigmask(SIG_BLOCK, &all, NULL) == 0);
  dev[1] = 0xb10c;
  return NULL;
}

int main(int argc, char** argv) {
  (void)argc;
  dev = e2e_map(argv[1], 4096);

  /* A thread that blocks every signal. */
  pthread_t t;
  pthread_create(&t, NULL, blocked_thread, NULL);
  pthread_join(t, NULL);
  e2e_expect('W', 4, 0x4, 0xb10c);

  /* The main thread too, with sigprocmask. */
  sigset_t all, before;
  sigfillset(&all);
  E2E_CHECK(sigprocmask(SIG_SETMASK, &all, &before) == 0);
  dev[2] = 0x5e7;
  e2e_expect('W', 4, 0x8, 0x5e7);
  E2E_CHECK(sigprocmask(SIG_SETMASK, &before, NULL) == 0);

  /* Read-only: a write faults as it would natively and reaches no device. */
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_sigaction = on_segv;
  sa.sa_flags = SA_SIGINFO;
  sigaction(SIGSEGV, &sa, NULL);
  E2E_CHECK(mprotect((void*)dev, 4096, PROT_READ) == 0);
  if (sigsetjmp(recover, 1) == 0) {
    dev[3] = 0xbad;
    E2E_CHECK(0);
  }
  E2E_CHECK(fault_addr == (void*)&dev[3] && fault_code == SEGV_ACCERR);
  E2E_CHECK(dev[3] == e2e_pattern_value(12, 4)); /* reads still work */
  e2e_expect('R', 4, 0xc, e2e_pattern_value(12, 4));

  /* Writable again. */
  E2E_CHECK(mprotect((void*)dev, 4096, PROT_READ | PROT_WRITE) == 0);
  dev[3] = 0x600d;
  e2e_expect('W', 4, 0xc, 0x600d);
  puts("DONE");
  return 0;
}
