/* A driver with error paths, for the fault injection tests
 * (tests/e2e/inject_test.cc): run under `record --inject` against a stand-in
 * filled with the e2e pattern, it takes the path the injected fault sends it
 * down, and says so in its own output.
 *
 *   inject_driver DEVICE
 *
 * Registers (32 bits): 0x0 ID (all-ones: the device is gone, as a read of a
 * surprise-removed PCI device returns), 0x4 CONTROL (1: enable the link),
 * 0x8 STATUS (bit 1: link up; the pattern has it set), 0xc DOORBELL.
 *
 * Exit status: 0 "done"; 2 "error: device not responding"; 3 "error: link
 * down". */
#include "e2e.h"

#define LINK_UP 0x2u
#define MAX_POLLS 5

int main(int argc, char** argv) {
  E2E_CHECK(argc == 2);
  setvbuf(stdout, NULL, _IOLBF, 0);
  volatile uint32_t* regs = e2e_map(argv[1], 4096);
  const uint32_t id = regs[0];
  if (id == 0xffffffffu) {
    printf("error: device not responding (id reads all-ones)\n");
    return 2;
  }
  printf("id 0x%08x\n", id);
  regs[1] = 1;
  int polls = 0;
  uint32_t status = 0;
  while (polls < MAX_POLLS) {
    status = regs[2];
    ++polls;
    if ((status & LINK_UP) != 0) break;
  }
  if ((status & LINK_UP) == 0) {
    printf("error: link down after %d polls (status 0x%08x)\n", polls, status);
    return 3;
  }
  printf("link up at poll %d (status 0x%08x)\n", polls, status);
  regs[3] = 0x5a5a5a5au;
  printf("done\n");
  return 0;
}
