/* testdev_read: drives QEMU's pci-testdev (hw/misc/pci-testdev.c) through BAR0
 * with 4-byte accesses, as a driver reading a table would.
 *
 *   testdev_read MAPPING...      (MAPPING: see vm_map.h)
 *
 * Writing a test number to byte 0 selects a test; the region then reads as
 * the test's header (test, width, offset, data, count, name); a write at the
 * header's offset (of its width, with its data) counts one event. pci-testdev's region takes 1-byte
 * accesses only, so QEMU delivers each 4-byte load as four 1-byte reads: the
 * pci_testdev scenario checks that vm_compare --split 1 turns our trace into
 * exactly what the device saw. Prints the test's name and count. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "vm_map.h"

int main(int argc, char** argv) {
  (void)argc;
  char** args = argv + 1;
  size_t size = 0;
  bar = vm_map(&args, &size);
  bar[0] = 0; /* select test 0 */
  uint32_t words[8];
  for (unsigned i = 0; i < 8; ++i) words[i] = *(volatile uint32_t*)(bar + 4 * i);
  uint32_t offset = words[1];
  char name[17];
  memcpy(name, &words[4], 16);
  name[16] = '\0';
  if (name[0] == '\0' || offset >= size) {
    fprintf(stderr, "testdev_read: no test header (name \"%s\", offset 0x%x)\n", name, offset);
    return 1;
  }
  /* One event: a write of the header's data, of the header's width. */
  unsigned width = words[0] >> 8 & 0xff;
  uint32_t data = words[2];
  if (width == 4)
    *(volatile uint32_t*)(bar + offset) = data;
  else if (width == 2)
    *(volatile uint16_t*)(bar + offset) = (uint16_t)data;
  else
    bar[offset] = (uint8_t)data;
  uint32_t count = *(volatile uint32_t*)(bar + 12);
  printf("testdev_read: test \"%s\" at offset 0x%x, count %u\n", name, offset, count);
  munmap((void*)bar, size);
  return count == 1 ? 0 : 1;
}
