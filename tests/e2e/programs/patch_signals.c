/* Signals that arrive while a thread is inside a patched site's trampoline
 * and the agent's fast path (docs/record.md, "Patching"): a timer signal's
 * handler touches the device itself, thousands of times, while the main loop
 * stores through a patched site. The handler must never run while its thread
 * holds the order lock (it would wait for itself forever): the agent defers
 * it to the end of the access. Every store of both is in the trace, in each
 * one's own order. */
#include <signal.h>
#include <string.h>
#include <sys/time.h>

#include "e2e.h"

#define STORES 200000

__attribute__((naked, noinline)) static void store32(volatile uint32_t* p, uint32_t v) {
  (void)p;
  (void)v;
  __asm__ volatile("movl %esi,(%rdi)\n\tret");
}

static volatile uint32_t* dev;
static volatile uint32_t ticks;

static void on_alarm(int sig) {
  (void)sig;
  ++ticks;
  dev[64] = ticks;  // the handler's own device access
}

int main(int argc, char** argv) {
  (void)argc;
  dev = e2e_map(argv[1], 4096);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGALRM, &sa, NULL);
  struct itimerval every = {{0, 200}, {0, 200}};
  setitimer(ITIMER_REAL, &every, NULL);
  for (uint32_t i = 0; i < STORES; ++i) store32(dev, i);
  struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_REAL, &off, NULL);
  sigset_t alarm;
  sigemptyset(&alarm);
  sigaddset(&alarm, SIGALRM);
  sigprocmask(SIG_BLOCK, &alarm, NULL);
  printf("STORES %u TICKS %u\n", STORES, ticks);
  return 0;
}
