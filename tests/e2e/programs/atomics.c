/* Compiler output a driver really contains: atomics on device memory (LOCK
 * XADD, XCHG, LOCK CMPXCHG, LOCK OR/AND/BTS), read-modify-write through a
 * plain pointer at -O2 (`orl $1,(%rax)`), and 4 threads incrementing one
 * device counter atomically: no increment may be lost, and in the trace each
 * read of the counter is immediately followed by its write. */
#include <pthread.h>

#include "e2e.h"

#define THREADS 4
#define INCREMENTS 5000

static uint32_t* dev; /* deliberately not volatile: let the compiler fuse RMW forms */

static void* incrementer(void* arg) {
  (void)arg;
  for (int i = 0; i < INCREMENTS; ++i) __atomic_fetch_add(&dev[0], 1, __ATOMIC_SEQ_CST);
  return NULL;
}

__attribute__((noinline)) static void set_bit(uint32_t* reg, uint32_t bit) { *reg |= bit; }
__attribute__((noinline)) static void clear_bit(uint32_t* reg, uint32_t bit) { *reg &= ~bit; }

int main(int argc, char** argv) {
  (void)argc;
  dev = e2e_map(argv[1], 4096);
  dev[0] = 0;

  pthread_t th[THREADS];
  for (int t = 0; t < THREADS; ++t) pthread_create(&th[t], NULL, incrementer, NULL);
  for (int t = 0; t < THREADS; ++t) pthread_join(th[t], NULL);
  E2E_CHECK(__atomic_load_n(&dev[0], __ATOMIC_SEQ_CST) == THREADS * INCREMENTS);

  dev[1] = 0x10;
  uint32_t old = __atomic_exchange_n(&dev[1], 0x20, __ATOMIC_SEQ_CST);
  E2E_CHECK(old == 0x10 && dev[1] == 0x20);
  uint32_t expected = 0x20;
  E2E_CHECK(__atomic_compare_exchange_n(&dev[1], &expected, 0x30, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
  expected = 0x99;
  E2E_CHECK(!__atomic_compare_exchange_n(&dev[1], &expected, 0x40, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
  E2E_CHECK(expected == 0x30 && dev[1] == 0x30);
  __atomic_fetch_or(&dev[2], 0x100, __ATOMIC_SEQ_CST);
  __atomic_fetch_and(&dev[2], ~0x1u, __ATOMIC_SEQ_CST);
  E2E_CHECK(__atomic_fetch_or(&dev[3], 1u << 5, __ATOMIC_SEQ_CST) == e2e_pattern_value(12, 4)); /* lock bts */
  set_bit(&dev[4], 0x8000);
  clear_bit(&dev[4], 0x1);
  uint32_t want4 = (e2e_pattern_value(16, 4) | 0x8000) & ~1u;
  E2E_CHECK(dev[4] == want4);
  printf("DONE counter=%u\n", dev[0]);
  return 0;
}
