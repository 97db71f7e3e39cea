/* A driver for the installed-tree tests (install_test.sh, package_test.sh):
 * compiled at test time against the *installed* <mmiotrace/mark.h>, found
 * through the installed pkg-config file, and run under the installed
 * `mmiotrace record` against a stand-in device (argv[1], 4096 bytes, byte i =
 * i & 0xff). Its accesses, in order:
 *   W 4 @0x4 0x12345678
 *   R 4 @0x8 (0x0b0a0908 from the stand-in)
 *   MARK "installed mark"
 *   W 4 @0xc the value read + 1
 * It prints the LD_PRELOAD it was given, so that the test can check which
 * agent the installed record loaded. */
#include <fcntl.h>
#include <mmiotrace/mark.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s DEVICE\n", argv[0]);
    return 64;
  }
  int fd = open(argv[1], O_RDWR);
  if (fd < 0) {
    perror("open");
    return 66;
  }
  volatile uint32_t* bar = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (bar == MAP_FAILED) {
    perror("mmap");
    return 71;
  }
  bar[1] = 0x12345678u;
  uint32_t v = bar[2];
  mmiotrace_mark("installed mark");
  bar[3] = v + 1;
  const char* preload = getenv("LD_PRELOAD");
  printf("LD_PRELOAD=%s\n", preload ? preload : "");
  return v == 0x0b0a0908u ? 0 : 1;
}
