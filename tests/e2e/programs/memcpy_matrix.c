/* memcpy and memset of every size from 1 to 4,100 bytes at every alignment
 * 0-63, into and out of device memory: whatever glibc picks on this machine
 * (AVX-512 moves, masked tails, REP MOVSB/STOSB above its thresholds). Each
 * copy into the device is read back with memcpy and compared (the values
 * read); the harness replays the whole trace against the device's contents.
 * argv[2], argv[3]: the first and last size (default 1 and 4100). */
#include <string.h>

#include "e2e.h"

#define DEV_SIZE (64 * 1024)
#define SLOT 8192

static uint8_t src[SLOT], back[SLOT];

int main(int argc, char** argv) {
  volatile uint8_t* dev = e2e_map(argv[1], DEV_SIZE);
  const size_t first = argc > 2 ? (size_t)atol(argv[2]) : 1;
  const size_t last = argc > 3 ? (size_t)atol(argv[3]) : 4100;
  unsigned long ops = 0;
  for (size_t n = first; n <= last; ++n) {
    for (size_t align = 0; align < 64; ++align) {
      const size_t off = SLOT * ((n + align) % 8) + align;
      const uint8_t seed = (uint8_t)(n * 7 + align);
      for (size_t i = 0; i < n; ++i) src[i] = (uint8_t)(seed + i * 13);
      memcpy((void*)(dev + off), src, n);
      memcpy(back, (const void*)(dev + off), n);
      E2E_CHECK(memcmp(back, src, n) == 0);
      memset((void*)(dev + off), seed ^ 0x5a, n);
      memcpy(back, (const void*)(dev + off), n);
      for (size_t i = 0; i < n; ++i) E2E_CHECK(back[i] == (uint8_t)(seed ^ 0x5a));
      ops += 4;
    }
  }
  printf("DONE ops=%lu\n", ops);
  return 0;
}
