/* Four threads hammer their own registers: each writes 0, 1, 2, ... to its
 * register and reads every value back. The trace must hold every access of
 * every thread, in each thread's program order. */
#include <pthread.h>

#include "e2e.h"

#define THREADS 4
#define ITERATIONS 20000

static volatile uint8_t* dev;

static void* worker(void* arg) {
  uintptr_t t = (uintptr_t)arg;
  volatile uint32_t* reg = (volatile uint32_t*)(dev + 0x100 * t);
  for (uint32_t i = 0; i < ITERATIONS; ++i) {
    *reg = (uint32_t)(t << 24) | i;
    uint32_t v = *reg;
    E2E_CHECK(v == ((uint32_t)(t << 24) | i));
  }
  return NULL;
}

int main(int argc, char** argv) {
  (void)argc;
  dev = e2e_map(argv[1], 4096);
  pthread_t th[THREADS];
  for (uintptr_t t = 0; t < THREADS; ++t) pthread_create(&th[t], NULL, worker, (void*)t);
  for (int t = 0; t < THREADS; ++t) pthread_join(th[t], NULL);
  printf("DONE threads=%d iterations=%d\n", THREADS, ITERATIONS);
  return 0;
}
