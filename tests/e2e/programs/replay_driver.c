/* A driver for the replay tests (tests/e2e/replay_test.cc): recorded against
 * a stand-in file, then replayed with no file at all.
 *
 *   replay_driver DEVICE [--change N] [--extra] [--threads N] [--fork] [--exec]
 *
 * It reads an identification register, programs a control register from it,
 * polls a status register, runs a small sequence of writes and reads, and
 * prints every value it read (the program's own output, which a replay must
 * reproduce). --change N: the N-th write of the sequence writes another value
 * (the program changed since it was recorded). --extra: one read more at the
 * end. --threads N: N threads, each on its own registers, with sleeps
 * between. --fork: a child process does its own sequence. --exec: the child
 * execs this program again (--child) instead. */
#include <pthread.h>
#include <string.h>
#include <sys/wait.h>

#include "e2e.h"

static volatile uint32_t* regs;
static int change_at = -1;
static int writes_done;

static uint32_t rd(unsigned i) { return regs[i]; }
static void wr(unsigned i, uint32_t v) {
  if (writes_done++ == change_at) v ^= 0x100;
  regs[i] = v;
}

static void sequence(unsigned base, const char* who) {
  uint32_t id = rd(base);
  printf("%s: id 0x%08x\n", who, id);
  wr(base + 1, id ^ 0xffff);
  int polls = 0;
  while ((rd(base + 1) & 1) != ((id ^ 0xffff) & 1) && polls < 100) ++polls;
  for (unsigned i = 0; i < 4; ++i) {
    wr(base + 2 + i, 0x1000 * (i + 1) + base);
    printf("%s: reg %u = 0x%08x\n", who, base + 2 + i, rd(base + 2 + i));
  }
  uint64_t wide = *(volatile uint64_t*)(regs + base + 8);
  printf("%s: wide 0x%016llx\n", who, (unsigned long long)wide);
}

static void* thread_main(void* arg) {
  unsigned n = (unsigned)(uintptr_t)arg;
  char who[16];
  snprintf(who, sizeof who, "thread %u", n);
  for (int round = 0; round < 3; ++round) {
    wr(64 * n + 32, (uint32_t)round);
    usleep(200);
    printf("%s: round %d reads 0x%08x\n", who, round, rd(64 * n + 33));
  }
  return NULL;
}

int main(int argc, char** argv) {
  E2E_CHECK(argc >= 2);
  int extra = 0, threads = 0, do_fork = 0, do_exec = 0, child = 0;
  for (int i = 2; i < argc; ++i) {
    if (strcmp(argv[i], "--change") == 0 && i + 1 < argc) change_at = atoi(argv[++i]);
    if (strcmp(argv[i], "--extra") == 0) extra = 1;
    if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = atoi(argv[++i]);
    if (strcmp(argv[i], "--fork") == 0) do_fork = 1;
    if (strcmp(argv[i], "--exec") == 0) do_exec = 1;
    if (strcmp(argv[i], "--child") == 0) child = 1;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  regs = e2e_map(argv[1], 4096);
  if (child) {
    sequence(512, "exec'd child");
    return 0;
  }
  sequence(0, "main");
  if (threads > 0) {
    pthread_t t[8];
    for (int i = 0; i < threads && i < 8; ++i) pthread_create(&t[i], NULL, thread_main, (void*)(uintptr_t)(i + 1));
    for (int i = 0; i < threads && i < 8; ++i) pthread_join(t[i], NULL);
  }
  if (do_fork || do_exec) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
      if (do_exec) {
        execl(argv[0], argv[0], argv[1], "--child", (char*)NULL);
        _exit(127);
      }
      sequence(256, "child");
      _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    printf("child exited %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  }
  wr(10, 0xd0e);
  if (extra) printf("extra read 0x%08x\n", rd(10));
  printf("done\n");
  return 0;
}
