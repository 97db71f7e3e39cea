/* Processes: the program runs itself again through fork + exec (argv[2] ==
 * "exec"), then forks a child that outlives it (the child waits until its
 * parent has been reaped, then accesses the device). Every process writes its own
 * range of the device; record must keep all three in one trace. Each process
 * prints "PID <role> <pid>" and its EXPECT lines. */
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include "e2e.h"

static void writes(volatile uint32_t* dev, uint32_t first, uint32_t tag) {
  for (uint32_t i = 0; i < 8; ++i) {
    dev[first / 4 + i] = tag | i;
    e2e_expect('W', 4, first + 4 * i, tag | i);
  }
  uint32_t v = dev[first / 4];
  E2E_CHECK(v == tag);
  e2e_expect('R', 4, first, tag);
  fflush(stdout);
}

int main(int argc, char** argv) {
  E2E_CHECK(argc >= 2);
  volatile uint32_t* dev = (volatile uint32_t*)e2e_map(argv[1], 4096);
  if (argc == 3 && strcmp(argv[2], "exec") == 0) {
    printf("PID exec %d\n", (int)getpid());
    writes(dev, 0x200, 0xb0000000u);
    return 0;
  }
  printf("PID parent %d\n", (int)getpid());
  writes(dev, 0x000, 0xa0000000u);
  pid_t e = fork();
  if (e == 0) {
    execl("/proc/self/exe", argv[0], argv[1], "exec", (char*)NULL);
    _exit(126);
  }
  int status = 0;
  E2E_CHECK(waitpid(e, &status, 0) == e && WIFEXITED(status) && WEXITSTATUS(status) == 0);
  pid_t parent = getpid();
  pid_t orphan = fork();
  E2E_CHECK(orphan >= 0);
  if (orphan == 0) {
    /* Until the parent has been reaped: the recorder writes a process's exit
     * MARK before it reaps it, so this process's accesses come after the
     * parent's exit MARK, however late the recorder gets to run. */
    while (kill(parent, 0) == 0) usleep(1000);
    printf("PID orphan %d\n", (int)getpid());
    writes(dev, 0x100, 0xc0000000u);
    return 0;
  }
  return 0;
}
