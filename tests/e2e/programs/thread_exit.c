/* One thread calls exit() while three others are busy with device accesses.
 * The exit status is the one given to exit(), and every access the other
 * threads made is in the trace: each thread's values run 0, 1, 2, ... with
 * none missing. */
#include <pthread.h>
#include <stdatomic.h>

#include "e2e.h"

#define WORKERS 3

static volatile uint8_t* dev;
static atomic_uint progress[WORKERS];

static void* worker(void* arg) {
  uintptr_t t = (uintptr_t)arg;
  volatile uint32_t* reg = (volatile uint32_t*)(dev + 0x40 * t);
  /* The count stays within its 24 bits: stepped with mprotect, where other
   * threads' accesses while a page is open are not traced, a worker can run
   * millions of untraced iterations while a stepping thread waits for a CPU,
   * and a count spilling into the thread's byte would read as another
   * register's value. */
  for (uint32_t i = 0; i <= 0xffffff; ++i) {
    *reg = (uint32_t)(t << 24) | i;
    atomic_store(&progress[t], i + 1);
  }
  for (;;) pause();
  return NULL;
}

static void* exiter(void* arg) {
  (void)arg;
  for (int t = 0; t < WORKERS; ++t) {
    while (atomic_load(&progress[t]) < 2000) {
    }
  }
  printf("DONE exiting from a thread\n");
  fflush(stdout);
  exit(7);
}

int main(int argc, char** argv) {
  (void)argc;
  dev = e2e_map(argv[1], 4096);
  pthread_t th;
  for (uintptr_t t = 0; t < WORKERS; ++t) pthread_create(&th, NULL, worker, (void*)t);
  pthread_create(&th, NULL, exiter, NULL);
  for (;;) pause();
}
