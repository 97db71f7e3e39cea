/* edu_sim: keeps a file behaving like QEMU's edu device, so that
 * examples/edu_driver can run against a stand-in (see scripts/demo.sh). It
 * maps the file (not traced: it runs outside `mmiotrace record`) and reacts to
 * what the driver writes: liveness inverts, the factorial register computes,
 * interrupts are raised and acknowledged. Stops when the file is removed or
 * after --seconds. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BAR_SIZE (1u << 20)

static volatile uint32_t* reg(volatile uint8_t* bar, uint32_t off) { return (volatile uint32_t*)(bar + off); }

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s FILE [SECONDS]\n", argv[0]);
    return 2;
  }
  int seconds = argc > 2 ? atoi(argv[2]) : 30;
  int fd = open(argv[1], O_RDWR | O_CREAT, 0644);
  if (fd < 0 || ftruncate(fd, BAR_SIZE) != 0) {
    perror("edu_sim: open");
    return 1;
  }
  volatile uint8_t* bar = mmap(NULL, BAR_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (bar == MAP_FAILED) {
    perror("edu_sim: mmap");
    return 1;
  }
  *reg(bar, 0x00) = 0x010000ed;
  uint32_t last_liveness = *reg(bar, 0x04), last_fact = *reg(bar, 0x08);
  time_t end = time(NULL) + seconds;
  struct stat st;
  while (time(NULL) < end && stat(argv[1], &st) == 0) {
    uint32_t live = *reg(bar, 0x04);
    if (live != last_liveness) { /* the driver wrote: answer with the inverse */
      last_liveness = ~live;
      *reg(bar, 0x04) = last_liveness;
    }
    uint32_t n = *reg(bar, 0x08);
    if (n != last_fact) { /* the driver wrote n: compute n! */
      *reg(bar, 0x20) |= 0x01;
      uint32_t f = 1;
      for (uint32_t i = 2; i <= n; ++i) f *= i;
      last_fact = f;
      *reg(bar, 0x08) = f;
      *reg(bar, 0x20) &= ~0x01u;
      if (*reg(bar, 0x20) & 0x80) *reg(bar, 0x24) |= 0x01;
    }
    uint32_t ack = *reg(bar, 0x64);
    if (ack != 0) {
      *reg(bar, 0x24) &= ~ack;
      *reg(bar, 0x64) = 0;
    }
    usleep(20);
  }
  return 0;
}
