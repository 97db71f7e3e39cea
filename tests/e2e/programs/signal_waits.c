/* Signal handlers that touch the device where the program's masks would block
 * the tracer's SIGSEGV: while the thread waits in sigsuspend, ppoll, pselect
 * or epoll_pwait with every other signal blocked, and in a handler whose
 * sa_mask blocks everything; and a handler running on an alternate signal
 * stack (sigaltstack), where the agent's own handler then runs too. Each
 * handler writes and reads back one register; main prints the EXPECT lines
 * afterwards (no stdio in handlers). Then the program's own SIGSEGV handlers
 * for faults that are not the tracer's, touching the device: SA_RESETHAND
 * (once, then the default action) and SA_NODEFER (a nested fault), both left
 * with siglongjmp. argv[2]: the alternate stack's size (default 64 KiB; the
 * classic SIGSTKSZ, 8 KiB, and 6 KiB are enough natively, also where the
 * kernel's signal frame holds AVX-512 state: 3.4 KiB). */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/wait.h>

#include "e2e.h"

static volatile uint32_t* dev;
static volatile uint32_t handled_value;
static volatile uint32_t read_back;
static char* alt_base;
static size_t alt_size;
static volatile int on_alt_stack;

static void on_usr1(int sig) {
  (void)sig;
  dev[handled_value & 0xff] = handled_value;
  read_back = dev[handled_value & 0xff];
}

static void on_usr2(int sig) {
  (void)sig;
  char here;
  on_alt_stack = &here >= alt_base && &here < alt_base + alt_size;
  /* Widths 1, 2, 4, 8 and a read back, on the alternate stack. */
  dev[0x80 / 4] = 0xa17;
  ((volatile uint8_t*)dev)[0x84] = 0x5a;
  ((volatile uint16_t*)dev)[0x86 / 2] = 0xbeef;
  ((volatile uint64_t*)dev)[0x88 / 8] = 0x1122334455667788ull;
  read_back = ((volatile uint8_t*)dev)[0x84];
}

/* SIGSEGV handlers of the program for faults that are not the tracer's. */
static sigjmp_buf recover;
static volatile int depth;
static volatile uint8_t* guard; /* a PROT_NONE page of the program's own */

static void on_segv_resethand(int sig) {
  (void)sig;
  dev[0xc0 / 4] = 0xc0c0;
  siglongjmp(recover, 1);
}

static void on_segv_nodefer(int sig) {
  (void)sig;
  int d = ++depth;
  dev[(0xc0 + 4 * d) / 4] = 0xd0d0u + (uint32_t)d;
  if (d == 1) (void)*guard; /* faults again inside the handler: SA_NODEFER lets it in */
  siglongjmp(recover, 1);
}

static void install(int sig, void (*fn)(int), int flags, int full_mask) {
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = fn;
  sa.sa_flags = flags;
  if (full_mask) {
    sigfillset(&sa.sa_mask);
  } else {
    sigemptyset(&sa.sa_mask);
  }
  E2E_CHECK(sigaction(sig, &sa, NULL) == 0);
}

/* Blocks SIGUSR1, makes it pending, and lets `wait_with` deliver it under a
 * mask of every signal but SIGUSR1. */
static void round_trip(const char* how, uint32_t value, int (*wait_with)(const sigset_t*)) {
  sigset_t usr1, all_but_usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  sigfillset(&all_but_usr1);
  sigdelset(&all_but_usr1, SIGUSR1);
  E2E_CHECK(sigprocmask(SIG_BLOCK, &usr1, NULL) == 0);
  handled_value = value;
  read_back = 0;
  raise(SIGUSR1);
  int rc = wait_with(&all_but_usr1);
  E2E_CHECK(rc == -1 && errno == EINTR);
  E2E_CHECK(read_back == value);
  E2E_CHECK(sigprocmask(SIG_UNBLOCK, &usr1, NULL) == 0);
  printf("ROUND %s\n", how);
  e2e_expect('W', 4, (value & 0xff) * 4, value);
  e2e_expect('R', 4, (value & 0xff) * 4, value);
}

static int with_sigsuspend(const sigset_t* m) { return sigsuspend(m); }
static int with_ppoll(const sigset_t* m) {
  struct timespec t = {5, 0};
  return ppoll(NULL, 0, &t, m);
}
static int with_pselect(const sigset_t* m) {
  struct timespec t = {5, 0};
  return pselect(0, NULL, NULL, NULL, &t, m);
}
static int with_epoll_pwait(const sigset_t* m) {
  int ep = epoll_create1(0);
  E2E_CHECK(ep >= 0);
  struct epoll_event ev;
  int rc = epoll_pwait(ep, &ev, 1, 5000, m);
  int e = errno;
  close(ep);
  errno = e;
  return rc;
}

int main(int argc, char** argv) {
  E2E_CHECK(argc >= 2);
  dev = (volatile uint32_t*)e2e_map(argv[1], 4096);
  alt_size = argc > 2 ? strtoul(argv[2], NULL, 0) : 64 * 1024;

  install(SIGUSR1, on_usr1, 0, 0);
  round_trip("sigsuspend", 0x11000001u, with_sigsuspend);
  round_trip("ppoll", 0x22000002u, with_ppoll);
  round_trip("pselect", 0x33000003u, with_pselect);
  round_trip("epoll_pwait", 0x44000004u, with_epoll_pwait);
  /* The handler's own sa_mask blocks everything. */
  install(SIGUSR1, on_usr1, 0, 1);
  round_trip("sa_mask", 0x55000005u, with_sigsuspend);

  /* An alternate signal stack: a handler on it touches the device. The 16 KiB
   * below it hold a pattern that must survive: the handler and the tracer's
   * handling of its faults, nested on the same stack, stay within it. */
  enum { kBelow = 16384 };
  char* block = malloc(kBelow + alt_size);
  E2E_CHECK(block != NULL);
  memset(block, 0x5c, kBelow);
  alt_base = block + kBelow;
  stack_t ss = {.ss_sp = alt_base, .ss_size = alt_size, .ss_flags = 0};
  E2E_CHECK(sigaltstack(&ss, NULL) == 0);
  install(SIGUSR2, on_usr2, SA_ONSTACK, 1);
  raise(SIGUSR2);
  E2E_CHECK(on_alt_stack);
  E2E_CHECK(read_back == 0x5a);
  for (size_t i = 0; i < kBelow; ++i) E2E_CHECK(block[i] == 0x5c);
  /* The alternate stack the program set is still the one set. */
  stack_t now_ss;
  E2E_CHECK(sigaltstack(NULL, &now_ss) == 0);
  E2E_CHECK(now_ss.ss_sp == alt_base && now_ss.ss_size == alt_size && now_ss.ss_flags == 0);
  e2e_expect('W', 4, 0x80, 0xa17);
  e2e_expect('W', 1, 0x84, 0x5a);
  e2e_expect('W', 2, 0x86, 0xbeef);
  e2e_expect('W', 8, 0x88, 0x1122334455667788ull);
  e2e_expect('R', 1, 0x84, 0x5a);
  printf("ALTSTACK %zu\n", alt_size);
  /* Outside any handler, with the alternate stack still set: ordinary accesses. */
  dev[0xa0 / 4] = 0x0a0a;
  e2e_expect('W', 4, 0xa0, 0x0a0a);
  ss.ss_flags = SS_DISABLE;
  E2E_CHECK(sigaltstack(&ss, NULL) == 0);

  /* SA_RESETHAND: the handler runs once (and touches the device), then the
   * default action is back, as the program sees it and as a child finds out. */
  guard = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  E2E_CHECK(guard != MAP_FAILED);
  install(SIGSEGV, on_segv_resethand, SA_RESETHAND, 0);
  if (sigsetjmp(recover, 1) == 0) {
    (void)*guard;
    E2E_CHECK(0);
  }
  e2e_expect('W', 4, 0xc0, 0xc0c0);
  struct sigaction now;
  E2E_CHECK(sigaction(SIGSEGV, NULL, &now) == 0);
  E2E_CHECK(now.sa_handler == SIG_DFL);
  fflush(stdout);
  pid_t child = fork();
  if (child == 0) {
    (void)*guard; /* dies by SIGSEGV */
    _exit(0);
  }
  int status = 0;
  E2E_CHECK(waitpid(child, &status, 0) == child && WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV);

  /* SA_NODEFER: a fault inside the handler enters it again; both levels touch
   * the device; siglongjmp leaves both. */
  install(SIGSEGV, on_segv_nodefer, SA_NODEFER, 0);
  if (sigsetjmp(recover, 1) == 0) {
    (void)*guard;
    E2E_CHECK(0);
  }
  E2E_CHECK(depth == 2);
  e2e_expect('W', 4, 0xc4, 0xd0d1);
  e2e_expect('W', 4, 0xc8, 0xd0d2);
  /* And the device still works after the jumps. */
  E2E_CHECK(dev[0xc8 / 4] == 0xd0d2);
  e2e_expect('R', 4, 0xc8, 0xd0d2);
  puts("DONE");
  return 0;
}
