/* A process killed by SIGKILL while it holds the tracer's cross-process order
 * lock must not stall the others. The program starts a victim (itself, exec'd
 * with the agent's testing hook MMIOTRACE_TESTING_KILL_IN_LOCK=300, so that the
 * victim's agent kills it while it holds the lock for the 300th time) that
 * writes 0, 1, 2, ... to 0x100 forever; meanwhile the program writes 0, 1, 2,
 * ... to 0x0 until the victim is dead, then 1000 more. Prints
 * "COUNT <writes to 0x0>" and "VICTIM signal <n>". Without recovery the
 * program would spin in the agent's handler (every signal blocked) for ever:
 * the test's ctest timeout ends it.
 * With the argument "after-access", the victim is killed instead right after
 * its 300th device access, before that access's record
 * (MMIOTRACE_TESTING_KILL_AFTER_ACCESS=300). */
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include "e2e.h"

int main(int argc, char** argv) {
  E2E_CHECK(argc >= 2);
  volatile uint32_t* dev = (volatile uint32_t*)e2e_map(argv[1], 4096);
  if (argc == 3 && strcmp(argv[2], "victim") == 0) {
    for (uint32_t i = 0;; ++i) dev[0x100 / 4] = i;
  }
  const uint32_t before = dev[0x100 / 4];
  pid_t victim = fork();
  E2E_CHECK(victim >= 0);
  if (victim == 0) {
    const int after_access = argc == 3 && strcmp(argv[2], "after-access") == 0;
    setenv(after_access ? "MMIOTRACE_TESTING_KILL_AFTER_ACCESS" : "MMIOTRACE_TESTING_KILL_IN_LOCK", "300", 1);
    execl("/proc/self/exe", argv[0], argv[1], "victim", (char*)NULL);
    _exit(126);
  }
  /* Wait until the victim writes, then write alongside it until it is dead. */
  while (dev[0x100 / 4] == before) {
  }
  uint32_t n = 0;
  int status = 0;
  while (waitpid(victim, &status, WNOHANG) == 0) dev[0] = n++;
  for (int i = 0; i < 1000; ++i) dev[0] = n++;
  E2E_CHECK(WIFSIGNALED(status));
  printf("COUNT %u\nVICTIM signal %d\n", n, WTERMSIG(status));
  return 0;
}
