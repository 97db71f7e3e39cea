/* edu_test: a user-space driver for QEMU's edu device (QEMU docs/specs/edu.rst,
 * hw/misc/edu.c), used by the VM scenarios.
 *
 *   edu_test [--threads N | --side-effects] MAPPING...   (MAPPING: see vm_map.h)
 *
 * Default: identification, liveness, factorial with status polling, the
 * interrupt registers (raise, status, acknowledge) and a DMA from guest memory
 * into the device's buffer (address, count and command registers, polling the
 * command register until the device clears its start bit).
 * --threads N: N threads hammer the liveness and identification registers at
 * once; every value read back is checked.
 * --side-effects: a fixed sequence with read-modify-write instructions
 * (LOCK OR, AND, XCHG) whose every access is listed in
 * tests/vm/scenarios/side_effects.edu.expected: QEMU must see each once.
 * Exits 0 when the device answered as edu does. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vm_map.h"

enum {
  EDU_ID = 0x00,
  EDU_LIVENESS = 0x04,
  EDU_FACTORIAL = 0x08,
  EDU_STATUS = 0x20,
  EDU_IRQ_STATUS = 0x24,
  EDU_IRQ_RAISE = 0x60,
  EDU_IRQ_ACK = 0x64,
  EDU_DMA_SRC = 0x80,
  EDU_DMA_DST = 0x88,
  EDU_DMA_COUNT = 0x90,
  EDU_DMA_CMD = 0x98,
};
#define EDU_ID_VALUE 0x010000edu
#define STATUS_COMPUTING 0x01u
#define DMA_START 0x1u
#define DMA_BUFFER 0x40000u /* the device's own 4 KiB buffer, in DMA addresses */

static int poll32(uint32_t off, uint32_t mask, uint32_t want, int tries) {
  while (tries-- > 0) {
    if ((rd32(off) & mask) == want) return 1;
    usleep(200);
  }
  return 0;
}

static void driver(void) {
  expect("identification", rd32(EDU_ID), EDU_ID_VALUE);
  wr32(EDU_LIVENESS, 0x12345678);
  expect("liveness", rd32(EDU_LIVENESS), ~0x12345678u);

  wr32(EDU_STATUS, 0); /* no interrupt when the factorial is done: we poll */
  wr32(EDU_FACTORIAL, 10);
  if (!poll32(EDU_STATUS, STATUS_COMPUTING, 0, 10000)) expect("factorial finished", 0, 1);
  expect("10!", rd32(EDU_FACTORIAL), 3628800);

  expect("interrupt status before", rd32(EDU_IRQ_STATUS), 0);
  wr32(EDU_IRQ_RAISE, 0x100);
  expect("interrupt status raised", rd32(EDU_IRQ_STATUS), 0x100);
  wr32(EDU_IRQ_ACK, 0x100);
  expect("interrupt status acknowledged", rd32(EDU_IRQ_STATUS), 0);

  /* DMA 64 bytes from guest-physical 0x1000 into the device's buffer. */
  wr64(EDU_DMA_SRC, 0x1000);
  wr64(EDU_DMA_DST, DMA_BUFFER);
  wr64(EDU_DMA_COUNT, 64);
  expect("dma src", rd64(EDU_DMA_SRC), 0x1000);
  expect("dma dst", rd64(EDU_DMA_DST), DMA_BUFFER);
  expect("dma count", rd64(EDU_DMA_COUNT), 64);
  wr64(EDU_DMA_CMD, DMA_START); /* direction 0: RAM to device, no interrupt */
  int tries = 2000;
  while ((rd64(EDU_DMA_CMD) & DMA_START) && tries-- > 0) usleep(1000);
  expect("dma done", rd64(EDU_DMA_CMD) & DMA_START, 0);
  printf("edu_test: driver sequence done\n");
}

enum { kIterations = 300 };

static void* hammer(void* arg) {
  uint32_t me = (uint32_t)(uintptr_t)arg;
  for (uint32_t i = 0; i < kIterations; ++i) {
    wr32(EDU_LIVENESS, (me << 24) | i);
    (void)rd32(EDU_LIVENESS); /* another thread may have written in between */
    expect("identification (threads)", rd32(EDU_ID), EDU_ID_VALUE);
  }
  return NULL;
}

static void threads(int n) {
  pthread_t t[16];
  if (n < 1 || n > 16) n = 4;
  for (int i = 0; i < n; ++i) pthread_create(&t[i], NULL, hammer, (void*)(uintptr_t)(i + 1));
  for (int i = 0; i < n; ++i) pthread_join(t[i], NULL);
  printf("edu_test: %d threads x %d iterations done\n", n, kIterations);
}

/* Every access of this function is in side_effects.edu.expected, in order. */
static void side_effects(void) {
  volatile uint32_t* status = (volatile uint32_t*)(bar + EDU_STATUS);
  volatile uint32_t* liveness = (volatile uint32_t*)(bar + EDU_LIVENESS);
  *status = 0;
  __asm__ volatile("lock orl %1, %0" : "+m"(*status) : "ir"(0x80u) : "memory", "cc");
  expect("status after lock or", *status, 0x80);
  __asm__ volatile("andl %1, %0" : "+m"(*status) : "ir"(0x0u) : "memory", "cc");
  *liveness = 0x12345678;
  uint32_t old = 0x11111111;
  __asm__ volatile("xchgl %0, %1" : "+r"(old), "+m"(*liveness) : : "memory");
  expect("liveness swapped out", old, ~0x12345678u);
  expect("liveness after xchg", *liveness, ~0x11111111u);
  printf("edu_test: side effects done\n");
}

int main(int argc, char** argv) {
  (void)argc;
  char** args = argv + 1;
  int nthreads = 0, rmw = 0;
  if (*args != NULL && strcmp(*args, "--threads") == 0) {
    nthreads = atoi(args[1]);
    args += 2;
  } else if (*args != NULL && strcmp(*args, "--side-effects") == 0) {
    rmw = 1;
    ++args;
  }
  size_t size = 0;
  bar = vm_map(&args, &size);
  if (nthreads > 0)
    threads(nthreads);
  else if (rmw)
    side_effects();
  else
    driver();
  munmap((void*)bar, size);
  return 0;
}
