/* Starts a statically linked program (argv[3]) the way argv[2] says, between
 * two device accesses: execv, execvp (found through PATH), posix_spawn, or
 * system(). The agent cannot enter a static program: the trace must say so
 * with a MARK, in order between the accesses around the start. */
#include <libgen.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>

#include "e2e.h"

extern char** environ;

int main(int argc, char** argv) {
  E2E_CHECK(argc == 4);
  volatile uint32_t* dev = e2e_map(argv[1], 4096);
  const char* how = argv[2];
  char* prog = argv[3];
  char* args[] = {prog, "7", NULL};
  dev[1] = 0x11;
  e2e_expect('W', 4, 0x4, 0x11);
  fflush(stdout);
  if (strcmp(how, "execv") == 0) {
    execv(prog, args);
    return 2;
  }
  if (strcmp(how, "execvp") == 0) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", prog);
    setenv("PATH", dirname(dir), 1);
    char* name = basename(prog);
    char* named[] = {name, "7", NULL};
    execvp(name, named);
    return 2;
  }
  int status = -1;
  if (strcmp(how, "posix_spawn") == 0) {
    pid_t pid;
    E2E_CHECK(posix_spawn(&pid, prog, NULL, NULL, args, environ) == 0);
    E2E_CHECK(waitpid(pid, &status, 0) == pid);
  } else if (strcmp(how, "system") == 0) {
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "%s 7", prog);
    status = system(cmd);
  } else {
    return 2;
  }
  E2E_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 7);
  dev[2] = 0x22;
  e2e_expect('W', 4, 0x8, 0x22);
  return 7;
}
