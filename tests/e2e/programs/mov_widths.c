/* Plain loads and stores of every width and several addressing modes. */
#include "e2e.h"

#define REG(type, base, off) (*(volatile type*)((volatile uint8_t*)(base) + (off)))

int main(int argc, char** argv) {
  (void)argc;
  volatile uint8_t* dev = e2e_map(argv[1], 4096);

  /* Reads of the pattern, each width. */
  uint8_t r8 = REG(uint8_t, dev, 0x10);
  e2e_expect('R', 1, 0x10, e2e_pattern_value(0x10, 1));
  uint16_t r16 = REG(uint16_t, dev, 0x20);
  e2e_expect('R', 2, 0x20, e2e_pattern_value(0x20, 2));
  uint32_t r32 = REG(uint32_t, dev, 0x30);
  e2e_expect('R', 4, 0x30, e2e_pattern_value(0x30, 4));
  uint64_t r64 = REG(uint64_t, dev, 0x38);
  e2e_expect('R', 8, 0x38, e2e_pattern_value(0x38, 8));
  E2E_CHECK(r8 == e2e_pattern_value(0x10, 1));
  E2E_CHECK(r16 == e2e_pattern_value(0x20, 2));
  E2E_CHECK(r32 == e2e_pattern_value(0x30, 4));
  E2E_CHECK(r64 == e2e_pattern_value(0x38, 8));

  /* Writes of each width (immediate forms at -O2), then read back. */
  REG(uint8_t, dev, 0x40) = 0x5a;
  e2e_expect('W', 1, 0x40, 0x5a);
  REG(uint16_t, dev, 0x42) = 0xbeef;
  e2e_expect('W', 2, 0x42, 0xbeef);
  REG(uint32_t, dev, 0x44) = 0xdeadbeef;
  e2e_expect('W', 4, 0x44, 0xdeadbeef);
  REG(uint64_t, dev, 0x48) = 0x0123456789abcdefull;
  e2e_expect('W', 8, 0x48, 0x0123456789abcdefull);
  /* Byte 0x41 was never written: it still holds the pattern. */
  const uint64_t at40 = 0xdeadbeefbeef005aull | ((uint64_t)e2e_pattern(0x41) << 8);
  E2E_CHECK(REG(uint64_t, dev, 0x40) == at40);
  e2e_expect('R', 8, 0x40, at40);
  E2E_CHECK(REG(uint64_t, dev, 0x48) == 0x0123456789abcdefull);
  e2e_expect('R', 8, 0x48, 0x0123456789abcdefull);

  /* Register sources, and a sign-extending load: the trace holds the
   * memory's value, not the extended register. */
  volatile uint32_t src = 0x80000001u;
  REG(uint32_t, dev, 0x50) = src;
  e2e_expect('W', 4, 0x50, 0x80000001u);
  int64_t sx = (int64_t)REG(int32_t, dev, 0x50);
  e2e_expect('R', 4, 0x50, 0x80000001u);
  E2E_CHECK(sx == (int64_t)(int32_t)0x80000001u);
  REG(uint8_t, dev, 0x58) = 0xf0;
  e2e_expect('W', 1, 0x58, 0xf0);
  int sb = REG(int8_t, dev, 0x58);
  e2e_expect('R', 1, 0x58, 0xf0);
  E2E_CHECK(sb == -16);

  /* Indexed addressing: a register array. */
  for (uint32_t i = 0; i < 8; ++i) {
    ((volatile uint32_t*)(dev + 0x100))[i] = i * 3u + 1u;
    e2e_expect('W', 4, 0x100 + 4 * i, i * 3u + 1u);
  }
  uint32_t sum = 0;
  for (uint32_t i = 0; i < 8; ++i) {
    sum += ((volatile uint32_t*)(dev + 0x100))[i];
    e2e_expect('R', 4, 0x100 + 4 * i, i * 3u + 1u);
  }
  E2E_CHECK(sum == 92);

  /* Unaligned 8-byte store. */
  REG(uint64_t, dev, 0x203) = 0x1122334455667788ull;
  e2e_expect('W', 8, 0x203, 0x1122334455667788ull);
  puts("DONE");
  return 0;
}
