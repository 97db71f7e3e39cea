/* Stress (run by e2e_test.cc's Stress tests):
 *
 * "threads": 8 workers, each 100,000 x (write t<<24|i to register t*0x40,
 *   read it back) = 200,000 accesses, started one after another while the
 *   earlier ones run, so they also end at different times; meanwhile 64
 *   short-lived threads each write 0, 1, ..., 99 to register 0x800 + 4*k.
 *   Prints "COUNT threads <accesses>".
 * "procs": the program, a forked child and an exec'd copy of the program hit
 *   the device at the same time (released together through a pipe): each
 *   50,000 x (write role<<24|i to its register, read back, lock xadd on the
 *   shared counter at 0xf00). Prints "COUNT <role> <accesses>".
 * "killed": 4 threads write 0, 1, 2, ... to their registers until the
 *   program kills itself with SIGKILL. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include "e2e.h"

static volatile uint32_t* dev;
static volatile uint32_t progress[8];

static void* worker(void* arg) {
  const uint32_t t = (uint32_t)(uintptr_t)arg;
  volatile uint32_t* reg = dev + t * 0x40 / 4;
  for (uint32_t i = 0; i < 100000; ++i) {
    const uint32_t v = (t << 24) | i;
    *reg = v;
    E2E_CHECK(*reg == v);
    progress[t] = i;
  }
  return NULL;
}

static void* short_lived(void* arg) {
  const uint32_t k = (uint32_t)(uintptr_t)arg;
  for (uint32_t i = 0; i < 100; ++i) dev[(0x800 + 4 * k) / 4] = i;
  return NULL;
}

static int threads(void) {
  pthread_t w[8], s[64];
  for (uint32_t t = 0; t < 8; ++t) {
    E2E_CHECK(pthread_create(&w[t], NULL, worker, (void*)(uintptr_t)t) == 0);
    /* The next one starts once this one is well under way. */
    while (progress[t] < 5000) sched_yield();
    for (uint32_t k = t * 8; k < t * 8 + 8; ++k) {
      E2E_CHECK(pthread_create(&s[k], NULL, short_lived, (void*)(uintptr_t)k) == 0);
    }
  }
  for (int t = 0; t < 8; ++t) pthread_join(w[t], NULL);
  for (int k = 0; k < 64; ++k) pthread_join(s[k], NULL);
  printf("COUNT threads %u\n", 8u * 200000u + 64u * 100u);
  return 0;
}

static void hammer(const char* role, uint32_t id, int go_fd) {
  char c;
  E2E_CHECK(read(go_fd, &c, 1) == 1);
  volatile uint32_t* reg = dev + id * 0x40 / 4;
  for (uint32_t i = 0; i < 50000; ++i) {
    const uint32_t v = (id << 24) | i;
    *reg = v;
    E2E_CHECK(*reg == v);
    __atomic_fetch_add(&dev[0xf00 / 4], 1, __ATOMIC_SEQ_CST);
  }
  printf("COUNT %s %u\n", role, 50000u * 4u);
  fflush(stdout);
}

static int procs(char** argv) {
  const uint32_t counter = dev[0xf00 / 4];
  int go[2];
  E2E_CHECK(pipe(go) == 0);
  pid_t child = fork();
  if (child == 0) {
    close(go[1]);
    hammer("fork", 1, go[0]);
    _exit(0);
  }
  pid_t exec = fork();
  if (exec == 0) {
    close(go[1]);
    char fd[16];
    snprintf(fd, sizeof(fd), "%d", go[0]);
    execl("/proc/self/exe", argv[0], argv[1], "procs-exec", fd, (char*)NULL);
    _exit(126);
  }
  E2E_CHECK(child > 0 && exec > 0);
  E2E_CHECK(write(go[1], "xxx", 3) == 3); /* one byte each, all three at once */
  hammer("parent", 0, go[0]);
  int status = 0;
  E2E_CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0);
  E2E_CHECK(waitpid(exec, &status, 0) == exec && WIFEXITED(status) && WEXITSTATUS(status) == 0);
  E2E_CHECK(dev[0xf00 / 4] == counter + 3u * 50000u);
  printf("COUNTER 0x%x\n", counter);
  return 0;
}

static void* forever(void* arg) {
  const uint32_t t = (uint32_t)(uintptr_t)arg;
  for (uint32_t i = 0;; ++i) {
    dev[t * 0x40 / 4] = i;
    progress[t] = i;
  }
  return NULL;
}

static int killed(void) {
  pthread_t w[4];
  for (uint32_t t = 0; t < 4; ++t) E2E_CHECK(pthread_create(&w[t], NULL, forever, (void*)(uintptr_t)t) == 0);
  usleep(300000);
  // Not before every thread has written a few hundred times: on a loaded
  // machine (or with patched sites, where the threads contend for the order
  // lock without a fault between accesses) a thread may have run little.
  for (uint32_t t = 0; t < 4; ++t) {
    while (progress[t] < 500) usleep(1000);
  }
  kill(getpid(), SIGKILL);
  return 1;
}

int main(int argc, char** argv) {
  E2E_CHECK(argc >= 3);
  dev = (volatile uint32_t*)e2e_map(argv[1], 4096);
  if (strcmp(argv[2], "threads") == 0) return threads();
  if (strcmp(argv[2], "procs") == 0) return procs(argv);
  if (strcmp(argv[2], "procs-exec") == 0 && argc == 4) {
    hammer("exec", 2, atoi(argv[3]));
    return 0;
  }
  if (strcmp(argv[2], "killed") == 0) return killed();
  return 2;
}
