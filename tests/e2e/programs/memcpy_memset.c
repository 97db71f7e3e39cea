/* glibc's memcpy and memset into and out of device memory, many sizes and
 * alignments: whatever instructions this machine's glibc picks (AVX-512
 * moves, masked stores, REP MOVSB/STOSB) must be emulated. The program keeps
 * its own copy of what the device should hold and checks every read-back;
 * the harness replays the trace against the device's contents. */
#include <string.h>

#include "e2e.h"

#define DEV_SIZE (64 * 1024)

static uint8_t shadow[DEV_SIZE];
static uint8_t buf[8192];
static uint8_t back[8192];

static void round_trip(volatile uint8_t* dev, size_t off, size_t n, int round) {
  for (size_t i = 0; i < n; ++i) buf[i] = (uint8_t)(i * 7 + (size_t)round * 13 + 1);
  memcpy((void*)(dev + off), buf, n);
  memcpy(shadow + off, buf, n);
  memset(back, 0, n);
  memcpy(back, (const void*)(dev + off), n);
  E2E_CHECK(memcmp(back, shadow + off, n) == 0);
  memset((void*)(dev + off), round & 0xff, n);
  memset(shadow + off, round & 0xff, n);
  memcpy(back, (const void*)(dev + off), n);
  E2E_CHECK(memcmp(back, shadow + off, n) == 0);
}

int main(int argc, char** argv) {
  (void)argc;
  volatile uint8_t* dev = e2e_map(argv[1], DEV_SIZE);
  for (size_t i = 0; i < DEV_SIZE; ++i) shadow[i] = e2e_pattern(i);
  int round = 1;
  /* Every size up to 300 at a rotating alignment. */
  for (size_t n = 1; n <= 300; ++n) round_trip(dev, 64 * (n % 97) + (n % 64), n, round++);
  /* Sizes around glibc's thresholds (vector sizes, rep movsb at 2112 here, a page). */
  static const size_t big[] = {511, 512, 513, 1000, 2047, 2048, 2111, 2112, 2113, 4095, 4096, 4100, 8192};
  static const size_t align[] = {0, 1, 31, 33, 63};
  for (size_t b = 0; b < sizeof(big) / sizeof(big[0]); ++b) {
    for (size_t a = 0; a < sizeof(align) / sizeof(align[0]); ++a) {
      round_trip(dev, 8192 * (b % 6) + align[a], big[b], round++);
    }
  }
  /* The whole device must match the program's own view of it. */
  static uint8_t whole[DEV_SIZE];
  memcpy(whole, (const void*)dev, DEV_SIZE);
  E2E_CHECK(memcmp(whole, shadow, DEV_SIZE) == 0);
  printf("DONE rounds=%d\n", round - 1);
  return 0;
}
