/* A refused instruction whose bytes change before the program is stopped:
 * a thread runs an AVX2 gather from device memory (the emulator refuses
 * it); the agent's testing hook (MMIOTRACE_TESTING_HOLD_FIRST_FAULT=1) holds
 * that fault in the handler, after it fetched the instruction, until the
 * gather's first byte changes; the main thread, once the other waits there
 * (in nanosleep), turns the gather into a short jump over itself. The
 * program must still be stopped by SIGSEGV at the instruction: re-running
 * what is there now would not fault, and it would go on (NOT REACHED). */
#define _GNU_SOURCE
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "e2e.h"

extern const uint8_t gather_at[], gather_end[];

/* gather(dev, idx): ymm1 = idx, all lanes enabled, one gather from dev. */
__attribute__((naked, noinline)) static void gather(volatile uint32_t* dev, const int* idx) {
  (void)dev;
  (void)idx;
  __asm__ volatile(
      "vmovdqu (%rsi), %ymm1\n\t"
      "vpcmpeqd %ymm2, %ymm2, %ymm2\n\t"
      ".globl gather_at\n"
      "gather_at:\n\t"
      "vpgatherdd %ymm2, (%rdi,%ymm1,4), %ymm3\n\t"
      ".globl gather_end\n"
      "gather_end:\n\t"
      "vzeroupper\n\t"
      "ret");
}

static volatile uint32_t* dev;
static volatile pid_t gatherer;

static void* run_gather(void* arg) {
  (void)arg;
  static const int idx[8] = {0, 1, 2, 3, 4, 5, 6, 7};
  gatherer = (pid_t)syscall(SYS_gettid);
  gather(dev, idx);
  return NULL;
}

/* True once thread `tid` waits in nanosleep (system call 35): the hook. */
static int in_nanosleep(pid_t tid) {
  char path[64], buf[32] = {0};
  snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)tid);
  FILE* f = fopen(path, "r");
  if (f == NULL) return 0;
  const int got = fgets(buf, sizeof buf, f) != NULL;
  fclose(f);
  return got && strncmp(buf, "35 ", 3) == 0;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: refused_rewritten DEVICE\n");
    return 2;
  }
  dev = e2e_map(argv[1], 4096);
  pthread_t th;
  pthread_create(&th, NULL, run_gather, NULL);
  int waited_ms = 0;
  while (gatherer == 0 || !in_nanosleep(gatherer)) {
    if (++waited_ms > 10000) {
      puts("NOT HELD: the gather's fault never waited in the handler");
      return 3;
    }
    usleep(1000);
  }
  /* jmp rel8 over the rest of the gather */
  const long page = sysconf(_SC_PAGESIZE);
  uint8_t* start = (uint8_t*)((uintptr_t)gather_at & ~(uintptr_t)(page - 1));
  const size_t span = (size_t)(gather_end - start) + 1;
  if (mprotect(start, span, PROT_READ | PROT_WRITE | PROT_EXEC) != 0) {
    perror("mprotect");
    return 2;
  }
  const uint8_t jump[2] = {0xeb, (uint8_t)(gather_end - gather_at - 2)};
  memcpy((uint8_t*)gather_at, jump, sizeof jump);
  pthread_join(th, NULL);
  puts("NOT REACHED");
  return 0;
}
