/* The fast path's race: threads spin through a store and a load site on
 * device memory while the faults of one of them get the sites patched (the
 * recorder runs this with --patch-after=N), repeated REPS times: each round
 * maps the device afresh and unmaps it at the end, which undoes the patches,
 * so that every round patches the sites again under running threads.
 *
 * Each thread stores (round, thread, i) into its own register and loads it
 * back, ITERS times a round. A lost, torn or doubled access shows in the
 * trace (the test checks every thread's sequence); a wrong value read back
 * stops the program here. The program also checks, at the end of each round,
 * that the store site's first byte was rewritten (the round raced a patch),
 * and prints how many rounds did. */
#include <pthread.h>
#include <string.h>

#include "e2e.h"

#define THREADS 3
#define ITERS 100

/* Exactly these instructions at the sites: `mov %esi,(%rdi)` and
 * `mov (%rdi),%eax` (2 bytes each, then a RET). */
__attribute__((naked, noinline)) static void dev_store(volatile uint32_t* reg, uint32_t v) {
  (void)reg;
  (void)v;
  __asm__ volatile("movl %esi,(%rdi)\n\tret");
}
__attribute__((naked, noinline)) static uint32_t dev_load(volatile uint32_t* reg) {
  (void)reg;
  __asm__ volatile("movl (%rdi),%eax\n\tret");
}

static volatile uint32_t* dev;
static int round_no;
static pthread_barrier_t start, done;
static int reps;

static void* spinner(void* arg) {
  const uint32_t t = (uint32_t)(uintptr_t)arg;
  for (int r = 0; r < reps; ++r) {
    pthread_barrier_wait(&start);
    volatile uint32_t* reg = dev + t * 16; /* 64 bytes apart */
    for (uint32_t i = 0; i < ITERS; ++i) {
      const uint32_t v = ((uint32_t)round_no << 16) | (t << 12) | i;
      dev_store(reg, v);
      const uint32_t back = dev_load(reg);
      if (back != v) {
        printf("FAIL round %d thread %u: wrote 0x%x, read 0x%x\n", round_no, t, v, back);
        fflush(stdout);
        exit(1);
      }
    }
    pthread_barrier_wait(&done);
  }
  return NULL;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: patch_race DEVICE REPS\n");
    return 2;
  }
  reps = atoi(argv[2]);
  const uint8_t original = *(const volatile uint8_t*)dev_store;
  pthread_barrier_init(&start, NULL, THREADS + 1);
  pthread_barrier_init(&done, NULL, THREADS + 1);
  pthread_t th[THREADS];
  for (uintptr_t t = 0; t < THREADS; ++t) pthread_create(&th[t], NULL, spinner, (void*)t);
  int raced = 0;
  for (round_no = 0; round_no < reps; ++round_no) {
    dev = e2e_map(argv[1], 4096);
    pthread_barrier_wait(&start);
    pthread_barrier_wait(&done);
    if (*(const volatile uint8_t*)dev_store != original) ++raced;
    munmap((void*)dev, 4096); /* undoes the patches made for this mapping */
    if (*(const volatile uint8_t*)dev_store != original) {
      printf("FAIL round %d: the store site is still patched after its mapping is gone\n", round_no);
      return 1;
    }
  }
  for (int t = 0; t < THREADS; ++t) pthread_join(th[t], NULL);
  printf("ROUNDS %d PATCHED %d\n", reps, raced);
  return 0;
}
