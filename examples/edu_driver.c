/* edu_driver: a small user-space driver for QEMU's "edu" PCI device
 * (docs/specs/edu.rst in QEMU), written the way user-space drivers are:
 * map BAR0 through sysfs (or any file standing in for it), then plain loads
 * and stores through volatile pointers.
 *
 *   edu_driver /sys/bus/pci/devices/0000:00:04.0/resource0
 *   edu_driver ./fake-edu-bar0        (with examples/edu_sim keeping it alive)
 *
 * What it does, in order: checks the identification register, runs the
 * liveness check, starts an "interrupt" thread that polls the interrupt
 * status register and acknowledges what it finds, computes a factorial on the
 * device and polls the status register until it is done, programs the 64-bit
 * DMA registers, and copies a block into the scratch window with memcpy. */
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Register map (QEMU hw/misc/edu.c). */
enum {
  EDU_ID = 0x00,         /* RO  0x010000ed: major.minor.0xed */
  EDU_LIVENESS = 0x04,   /* RW  reads back the inverse of what was written */
  EDU_FACTORIAL = 0x08,  /* RW  write n, read n! when done */
  EDU_STATUS = 0x20,     /* RW  bit 0: computing; bit 7: interrupt when done */
  EDU_IRQ_STATUS = 0x24, /* RO  pending interrupt bits */
  EDU_IRQ_RAISE = 0x60,  /* WO */
  EDU_IRQ_ACK = 0x64,    /* WO  clears the bits written */
  EDU_DMA_SRC = 0x80,    /* RW  64-bit */
  EDU_DMA_DST = 0x88,    /* RW  64-bit */
  EDU_DMA_COUNT = 0x90,  /* RW  64-bit */
  EDU_SCRATCH = 0x1000,  /* the stand-in's scratch window (real edu ignores it) */
};

#define EDU_BAR_SIZE (1u << 20)
#define STATUS_COMPUTING 0x01u
#define STATUS_IRQ_ON_DONE 0x80u
#define IRQ_FACTORIAL 0x01u

static volatile uint8_t* bar;
static atomic_int stop_irq_thread;
static atomic_int interrupts_seen;

static uint32_t rd32(uint32_t off) { return *(volatile uint32_t*)(bar + off); }
static void wr32(uint32_t off, uint32_t v) { *(volatile uint32_t*)(bar + off) = v; }
static uint64_t rd64(uint32_t off) { return *(volatile uint64_t*)(bar + off); }
static void wr64(uint32_t off, uint64_t v) { *(volatile uint64_t*)(bar + off) = v; }

static void die(const char* what) {
  fprintf(stderr, "edu_driver: %s\n", what);
  exit(1);
}

/* Without kernel interrupt support, a user-space driver polls: this thread
 * plays the interrupt handler. The driver waits for one interrupt, so the
 * thread ends once it has acknowledged it: polling on until told to stop
 * would make the number of polls a matter of timing (and a replay of the
 * trace, docs/replay.md, could not make the same ones). */
static void* irq_thread(void* arg) {
  (void)arg;
  while (!atomic_load(&stop_irq_thread)) {
    uint32_t pending = rd32(EDU_IRQ_STATUS);
    if (pending != 0) {
      wr32(EDU_IRQ_ACK, pending);
      atomic_fetch_add(&interrupts_seen, 1);
      break;
    }
    usleep(100);
  }
  return NULL;
}

static int wait_for(uint32_t off, uint32_t mask, uint32_t want, int tries) {
  while (tries-- > 0) {
    if ((rd32(off) & mask) == want) return 1;
    usleep(50);
  }
  return 0;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s BAR0-FILE (e.g. /sys/bus/pci/devices/0000:00:04.0/resource0)\n", argv[0]);
    return 2;
  }
  int fd = open(argv[1], O_RDWR | O_SYNC);
  if (fd < 0) die("cannot open BAR0");
  bar = mmap(NULL, EDU_BAR_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (bar == MAP_FAILED) die("cannot map BAR0");
  close(fd);

  uint32_t id = rd32(EDU_ID);
  printf("edu: id 0x%08x (version %u.%u)\n", id, id >> 24, (id >> 16) & 0xff);
  if ((id & 0xff) != 0xed) die("not an edu device");

  wr32(EDU_LIVENESS, 0x12345678);
  if (!wait_for(EDU_LIVENESS, 0xffffffff, ~0x12345678u, 20000)) die("liveness check failed");
  printf("edu: alive\n");

  pthread_t irq;
  pthread_create(&irq, NULL, irq_thread, NULL);

  wr32(EDU_STATUS, STATUS_IRQ_ON_DONE);
  wr32(EDU_FACTORIAL, 10);
  if (!wait_for(EDU_STATUS, STATUS_COMPUTING, 0, 20000)) die("factorial never finished");
  while (rd32(EDU_FACTORIAL) == 10) usleep(50); /* the stand-in may not have started yet */
  uint32_t fact = rd32(EDU_FACTORIAL);
  printf("edu: 10! = %u\n", fact);
  if (fact != 3628800) die("wrong factorial");
  for (int i = 0; i < 20000 && atomic_load(&interrupts_seen) == 0; ++i) usleep(50);
  printf("edu: %d interrupt(s) acknowledged\n", atomic_load(&interrupts_seen));

  /* DMA registers are 64 bits wide. */
  wr64(EDU_DMA_SRC, 0x40000);
  wr64(EDU_DMA_DST, 0x12340000);
  wr64(EDU_DMA_COUNT, 256);
  printf("edu: dma src 0x%" PRIx64 " dst 0x%" PRIx64 " count %" PRIu64 "\n", rd64(EDU_DMA_SRC), rd64(EDU_DMA_DST),
         rd64(EDU_DMA_COUNT));

  /* Byte and halfword registers, and a block copy, in the scratch window. */
  *(volatile uint8_t*)(bar + EDU_SCRATCH) = 0xa5;
  *(volatile uint16_t*)(bar + EDU_SCRATCH + 2) = 0xbeef;
  char block[256];
  for (int i = 0; i < 256; ++i) block[i] = (char)i;
  memcpy((void*)(bar + EDU_SCRATCH + 0x100), block, sizeof(block));

  atomic_store(&stop_irq_thread, 1);
  pthread_join(irq, NULL);
  munmap((void*)bar, EDU_BAR_SIZE);
  printf("edu: done\n");
  return 0;
}
