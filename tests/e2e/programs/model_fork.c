/* model_fork: one device model seen from two processes
 * (tests/e2e/model_test.cc): maps edu's BAR 0, forks; the child writes the
 * liveness register, the parent, after the child is gone, reads it back
 * (edu answers the inverse of the last write: 0xfffffffe).
 *
 *   model_fork BAR0-PATH */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  int fd = open(argv[1], O_RDWR);
  if (fd < 0) return perror("open"), 1;
  volatile uint32_t* regs = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (regs == MAP_FAILED) return perror("mmap"), 1;
  pid_t child = fork();
  if (child == 0) {
    regs[1] = 0x1; /* liveness */
    _exit(0);
  }
  waitpid(child, NULL, 0);
  printf("liveness 0x%x\n", regs[1]);
  return 0;
}
