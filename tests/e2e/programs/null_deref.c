/* A genuine bug: after some device accesses the program dereferences NULL.
 * It must die by SIGSEGV as without the tracer, and the trace must keep
 * every access made before. */
#include "e2e.h"

int main(int argc, char** argv) {
  (void)argc;
  volatile uint32_t* dev = e2e_map(argv[1], 4096);
  for (uint32_t i = 0; i < 16; ++i) {
    dev[i] = 0xc0de0000u + i;
    e2e_expect('W', 4, 4 * i, 0xc0de0000u + i);
  }
  fflush(stdout);
  volatile int* volatile null = NULL;
  *null = 1;
  puts("NOT REACHED");
  return 0;
}
