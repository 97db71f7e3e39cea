/* Instructions the emulator refuses: the program is stopped with SIGSEGV and
 * a message naming the instruction, and the trace keeps what came before,
 * ending with an UNKNOWN line. argv[2] picks the instruction:
 *   exec   - jumping into device memory (never emulated)
 *   gather - an AVX2 gather from device memory (not in the table) */
#include <string.h>

#include "e2e.h"

int main(int argc, char** argv) {
  volatile uint32_t* dev = e2e_map(argv[1], 4096);
  dev[2] = 0xabcd;
  e2e_expect('W', 4, 0x8, 0xabcd);
  fflush(stdout);
  if (argc > 2 && strcmp(argv[2], "exec") == 0) {
    void (*fn)(void) = (void (*)(void))(uintptr_t)(dev + 16);
    fn();
  } else {
    int idx[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    __asm__ volatile(
        "vmovdqu (%1), %%ymm1\n\t"
        "vpcmpeqd %%ymm2, %%ymm2, %%ymm2\n\t"
        "vpgatherdd %%ymm2, (%0,%%ymm1,4), %%ymm3\n\t"
        :
        : "r"(dev), "r"(idx)
        : "xmm1", "xmm2", "xmm3", "memory");
  }
  puts("NOT REACHED");
  return 0;
}
