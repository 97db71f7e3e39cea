/* Many device writes as fast as the program can make them: argv[2] writes of
 * the values 0, 1, 2, ... to one register, each followed by nothing else, so
 * that a trace's gaps show exactly which writes are missing. Prints
 * "COUNT <n>" when done. The harness runs it against a slow consumer. */
#include "e2e.h"

int main(int argc, char** argv) {
  E2E_CHECK(argc >= 3);
  volatile uint32_t* dev = (volatile uint32_t*)e2e_map(argv[1], 4096);
  const uint32_t n = (uint32_t)strtoul(argv[2], NULL, 0);
  for (uint32_t i = 0; i < n; ++i) dev[1] = i;
  E2E_CHECK(dev[1] == n - 1);
  printf("COUNT %u\n", n);
  return 0;
}
