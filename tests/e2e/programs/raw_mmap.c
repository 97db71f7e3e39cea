/* Maps the device twice: with mmap() (traced), and with a raw mmap system
 * call, as Go's runtime does, which no interposer sees. The raw mapping's
 * accesses reach the device untraced; the agent must find the mapping in
 * /proc/self/maps when the process ends (argv[2]: "return" from main,
 * "_exit") or execs ("exec", of argv[3]), and say so. */
#include <string.h>
#include <sys/syscall.h>

#include "e2e.h"

int main(int argc, char** argv) {
  E2E_CHECK(argc >= 3);
  volatile uint32_t* traced = e2e_map(argv[1], 4096);
  int fd = open(argv[1], O_RDWR);
  E2E_CHECK(fd >= 0);
  long raw = syscall(SYS_mmap, NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  E2E_CHECK(raw != -1);
  close(fd);
  volatile uint32_t* untraced = (volatile uint32_t*)raw;
  traced[1] = 0x11;
  e2e_expect('W', 4, 0x4, 0x11);
  untraced[2] = 0x22; /* reaches the device, not the trace */
  E2E_CHECK(traced[2] == 0x22);
  e2e_expect('R', 4, 0x8, 0x22);
  printf("RAW %lx\n", (unsigned long)raw);
  fflush(stdout);
  if (strcmp(argv[2], "_exit") == 0) _exit(0);
  if (strcmp(argv[2], "exec") == 0) {
    char* args[] = {argv[3], NULL};
    execv(argv[3], args);
    return 2;
  }
  return 0;
}
