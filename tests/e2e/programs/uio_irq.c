/* uio_irq: a UIO driver's interrupt wait against the edu model
 * (tests/e2e/model_test.cc): maps /dev/uioN's map 0 (edu's BAR 0), raises
 * interrupt 0x1 through edu's raise register and reads the UIO event count
 * with read() (1), acknowledges it, starts a DMA with its completion
 * interrupt and blocks in read() until it comes (2), then reads the
 * interrupt status (0x100). Prints each count and the status.
 *
 *   uio_irq /dev/uio0 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  int fd = open(argv[1], O_RDWR);
  if (fd < 0) return perror("open"), 1;
  volatile uint8_t* bar = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (bar == MAP_FAILED) return perror("mmap"), 1;
  uint32_t count = 0, enable = 1;
  if (write(fd, &enable, 4) != 4) return perror("write"), 1;
  *(volatile uint32_t*)(bar + 0x60) = 0x1;
  if (read(fd, &count, 4) != 4) return perror("read"), 1;
  printf("interrupts %u\n", count);
  *(volatile uint32_t*)(bar + 0x64) = 0x1;
  *(volatile uint64_t*)(bar + 0x80) = 0x1000;
  *(volatile uint64_t*)(bar + 0x88) = 0x40000;
  *(volatile uint64_t*)(bar + 0x90) = 16;
  *(volatile uint64_t*)(bar + 0x98) = 0x1 | 0x4; /* start, interrupt when done */
  if (read(fd, &count, 4) != 4) return perror("read"), 1;
  printf("interrupts %u\n", count);
  printf("irq status 0x%x, dma command 0x%llx\n", *(volatile uint32_t*)(bar + 0x24),
         (unsigned long long)*(volatile uint64_t*)(bar + 0x98));
  return 0;
}
