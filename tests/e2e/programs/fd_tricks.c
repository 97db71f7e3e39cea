/* However the program reaches the device file (dup, dup2, fcntl, fopen,
 * closing the descriptor before using the mapping), the mapping is traced;
 * munmap ends it (UNMAP) and map ids count up from 1. */
#include <string.h>

#include "e2e.h"

static volatile uint32_t* map_fd(int fd) {
  void* p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  E2E_CHECK(p != MAP_FAILED);
  return p;
}

int main(int argc, char** argv) {
  (void)argc;
  int fd = open(argv[1], O_RDWR);
  E2E_CHECK(fd >= 0);

  int d1 = dup(fd); /* map 1 */
  volatile uint32_t* m1 = map_fd(d1);
  m1[0] = 1;
  e2e_expect('W', 4, 0x0, 1);

  int d2 = dup2(fd, 77); /* map 2 */
  volatile uint32_t* m2 = map_fd(d2);
  close(d2);
  m2[1] = 2; /* the descriptor is closed: the mapping lives on, still traced */
  e2e_expect('W', 4, 0x4, 2);

  int d3 = fcntl(fd, F_DUPFD_CLOEXEC, 100); /* map 3 */
  volatile uint32_t* m3 = map_fd(d3);
  m3[2] = 3;
  e2e_expect('W', 4, 0x8, 3);

  FILE* f = fopen(argv[1], "r+"); /* map 4 */
  E2E_CHECK(f != NULL);
  volatile uint32_t* m4 = map_fd(fileno(f));
  fclose(f);
  E2E_CHECK(m4[0] == 1); /* written through map 1, read through map 4 */
  e2e_expect('R', 4, 0x0, 1);

  E2E_CHECK(munmap((void*)m1, 4096) == 0);
  /* MAP_FIXED of an anonymous page over map 2 ends it too. */
  E2E_CHECK(mmap((void*)m2, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == (void*)m2);
  m2[0] = 5; /* ordinary memory now: no trace line */
  m3[3] = 4;
  e2e_expect('W', 4, 0xc, 4);
  puts("DONE");
  return 0;
}
