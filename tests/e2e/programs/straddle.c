/* Accesses that straddle a page boundary: inside one mapping (one access),
 * from a device page into the program's ordinary memory, and across two
 * device mappings placed back to back (one part each). */
#include <string.h>

#include "e2e.h"

int main(int argc, char** argv) {
  (void)argc;
  /* Inside one two-page mapping: a single 8-byte access. */
  volatile uint8_t* dev = e2e_map(argv[1], 8192);
  *(volatile uint64_t*)(dev + 4092) = 0x8877665544332211ull;
  e2e_expect('W', 8, 4092, 0x8877665544332211ull);
  E2E_CHECK(*(volatile uint64_t*)(dev + 4092) == 0x8877665544332211ull);
  e2e_expect('R', 8, 4092, 0x8877665544332211ull);

  /* A device page followed by an ordinary page: reserve two pages, put the
   * device over the first. */
  uint8_t* area = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  int fd = open(argv[1], O_RDWR);
  E2E_CHECK(mmap(area, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) == area);
  *(volatile uint32_t*)(area + 4094) = 0xddccbbaau;
  e2e_expect('W', 2, 4094, 0xbbaa); /* only the device's half is a device access */
  E2E_CHECK(area[4096] == 0xcc && area[4097] == 0xdd);
  uint32_t v = *(volatile uint32_t*)(area + 4094);
  e2e_expect('R', 2, 4094, 0xbbaa);
  E2E_CHECK(v == 0xddccbbaau);

  /* Two device mappings back to back (map ids 3 and 4 in the trace). */
  char second[4096];
  snprintf(second, sizeof(second), "%s2", argv[1]);
  int fd2 = open(second, O_RDWR | O_CREAT | O_TRUNC, 0600);
  E2E_CHECK(fd2 >= 0 && ftruncate(fd2, 4096) == 0);
  uint8_t* pair = mmap(NULL, 8192, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  E2E_CHECK(mmap(pair, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 4096) == pair);
  E2E_CHECK(mmap(pair + 4096, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd2, 0) == pair + 4096);
  *(volatile uint64_t*)(pair + 4092) = 0x0807060504030201ull;
  e2e_expect('W', 4, 4096 + 4092, 0x04030201); /* map 3: file offset 4096 + 4092 */
  e2e_expect('W', 4, 0, 0x08070605);           /* map 4: the second file at 0 */
  puts("DONE");
  return 0;
}
