/* Marks from inside the program (include/mmiotrace/mark.h), between device
 * writes: the trace must show each MARK between the writes around it. Also
 * a mark from a signal handler, and a formatted one.
 *
 * With a FIFO path as argv[2] instead: one write, then block reading the
 * FIFO (the test runs `mmiotrace mark` from outside meanwhile), then a second
 * write. Without the tracer the marks do nothing and the program still runs. */
#include <mmiotrace/mark.h>
#include <signal.h>
#include <string.h>

#include "e2e.h"

static volatile uint32_t* regs;

static void on_usr1(int sig) {
  (void)sig;
  mmiotrace_mark("from a signal handler");
}

static void put(size_t index, uint32_t value) {
  regs[index] = value;
  e2e_expect('W', 4, index * 4, value);
}

int main(int argc, char** argv) {
  regs = (volatile uint32_t*)e2e_map(argv[1], 4096);
  if (argc > 2) {
    put(0, 0x11);
    fflush(stdout);
    int fd = open(argv[2], O_RDONLY); /* returns once the test opens it for writing */
    char c;
    E2E_CHECK(fd >= 0 && read(fd, &c, 1) == 1);
    put(1, 0x22);
    printf("DONE\n");
    return 0;
  }
  signal(SIGUSR1, on_usr1);
  put(0, 1);
  mmiotrace_mark("phase 1");
  put(1, 2);
  mmiotrace_mark("phase 2");
  put(2, 3);
  raise(SIGUSR1);
  put(3, 4);
  mmiotrace_markf("phase %d of %s", 3, "3");
  put(4, 5);
  printf("DONE\n");
  return 0;
}
