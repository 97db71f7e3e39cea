/* Every way of starting a process: fork, vfork + exec, posix_spawn, clone()
 * without CLONE_VM, and fork + exec. Each process writes its own range of the
 * device (8 writes and a read back) and prints "PID <role> <pid>" with its
 * EXPECT lines; the parent waits for each child before starting the next, so
 * the EXPECT lines come in the order of the accesses. A forked or cloned
 * child uses the mapping it inherited; an exec'd one maps the device itself.
 *
 * Ranges: parent 0x000, fork 0x100, vfork 0x200, spawn 0x300, clone 0x400,
 * exec 0x500. Under record --no-follow only the parent's are traced, and the
 * children's writes must still reach the device. */
#define _GNU_SOURCE
#include <sched.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>

#include "e2e.h"

extern char** environ;

static volatile uint32_t* dev;

static void writes(const char* role, uint32_t first, uint32_t tag) {
  printf("PID %s %d\n", role, (int)getpid());
  for (uint32_t i = 0; i < 8; ++i) {
    dev[first / 4 + i] = tag | i;
    e2e_expect('W', 4, first + 4 * i, tag | i);
  }
  uint32_t v = dev[first / 4 + 7];
  E2E_CHECK(v == (tag | 7));
  e2e_expect('R', 4, first + 28, tag | 7);
  fflush(stdout);
}

static void wait_ok(pid_t p) {
  int status = 0;
  E2E_CHECK(p > 0);
  E2E_CHECK(waitpid(p, &status, 0) == p);
  E2E_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static int clone_child(void* arg) {
  (void)arg;
  writes("clone", 0x400, 0xe0000000u);
  return 0;
}

int main(int argc, char** argv) {
  E2E_CHECK(argc >= 2);
  dev = (volatile uint32_t*)e2e_map(argv[1], 4096);
  if (argc == 5 && strcmp(argv[2], "exec") == 0) {
    writes(argv[3], (uint32_t)strtoul(argv[4], NULL, 0), (uint32_t)strtoul(argv[4], NULL, 0) << 20);
    return 0;
  }
  writes("parent", 0x000, 0xa0000000u);

  pid_t p = fork();
  if (p == 0) {
    writes("fork", 0x100, 0xb0000000u);
    _exit(0);
  }
  wait_ok(p);

  p = vfork();
  if (p == 0) {
    execl("/proc/self/exe", argv[0], argv[1], "exec", "vfork", "0x200", (char*)NULL);
    _exit(126);
  }
  wait_ok(p);

  char* spawn_argv[] = {argv[0], argv[1], "exec", "spawn", "0x300", NULL};
  E2E_CHECK(posix_spawn(&p, "/proc/self/exe", NULL, NULL, spawn_argv, environ) == 0);
  wait_ok(p);

  const size_t stack_size = 256 * 1024;
  char* stack = malloc(stack_size);
  E2E_CHECK(stack != NULL);
  p = clone(clone_child, stack + stack_size, SIGCHLD, NULL);
  wait_ok(p);
  free(stack);

  p = fork();
  if (p == 0) {
    execl("/proc/self/exe", argv[0], argv[1], "exec", "exec", "0x500", (char*)NULL);
    _exit(126);
  }
  wait_ok(p);
  puts("DONE");
  return 0;
}
