/* A fault overtaken by the patch of its own instruction: two threads load
 * through one site twice each, each from its own register; the agent's
 * testing hook (MMIOTRACE_TESTING_HOLD_FIRST_FAULT=1) holds the first fault
 * in its handler, after it fetched the instruction, until the other
 * thread's two faults (record --patch-after=2) have patched the site. The
 * held thread must still emulate the instruction it ran, the original load,
 * not the jump now in its place: all four loads are in the trace with the
 * site's PC and the device's values, and the program gets those values. */
#include <pthread.h>

#include "e2e.h"

/* Exactly this instruction at the site: `mov (%rdi),%eax` (2 bytes, then a RET). */
__attribute__((naked, noinline)) static uint32_t dev_load(volatile uint32_t* reg) {
  (void)reg;
  __asm__ volatile("movl (%rdi),%eax\n\tret");
}

static volatile uint32_t* dev;
static uint32_t got[2][2];

static void* loader(void* arg) {
  const uintptr_t t = (uintptr_t)arg;
  for (int i = 0; i < 2; ++i) got[t][i] = dev_load(dev + t * 16); /* 64 bytes apart */
  return NULL;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: patch_overtaken DEVICE\n");
    return 2;
  }
  dev = e2e_map(argv[1], 4096);
  const uint8_t original = *(const volatile uint8_t*)dev_load;
  pthread_t th[2];
  for (uintptr_t t = 0; t < 2; ++t) pthread_create(&th[t], NULL, loader, (void*)t);
  for (int t = 0; t < 2; ++t) pthread_join(th[t], NULL);
  const int patched = *(const volatile uint8_t*)dev_load != original;
  int bad = 0;
  for (int t = 0; t < 2; ++t) {
    const uint32_t want = (uint32_t)e2e_pattern_value((size_t)t * 64, 4);
    for (int i = 0; i < 2; ++i) {
      if (got[t][i] != want) {
        printf("FAIL thread %d load %d read 0x%x, expected 0x%x\n", t, i, got[t][i], want);
        bad = 1;
      }
    }
  }
  printf("PATCHED %d\n", patched);
  return bad;
}
