/* The real device paths, in a fake tree under argv[2] (record --sysroot):
 * a PCI sysfs resource file (opened through the /sys/bus/pci symlink), /dev/mem
 * at a BAR's physical address, and /dev/uio0. The trace must carry the
 * physical addresses sysfs gives, and a PCIDEV line for the PCI device.
 * Nothing here touches a real device: every file is an ordinary file. */
#include "e2e.h"

int main(int argc, char** argv) {
  E2E_CHECK(argc == 3);
  const char* root = argv[2];
  volatile uint32_t* bar = e2e_map_at(root, "/sys/bus/pci/devices/0000:00:04.0/resource0", 0);
  bar[1] = 0x11;
  e2e_expect('W', 4, 0xfea00004, 0x11);
  volatile uint32_t* mem = e2e_map_at(root, "/dev/mem", 0xfea01000);
  mem[2] = 0x22;
  e2e_expect('W', 4, 0xfea01008, 0x22);
  volatile uint32_t* uio = e2e_map_at(root, "/dev/uio0", 0);
  uio[3] = 0x33;
  e2e_expect('W', 4, 0xfeb0000c, 0x33);
  puts("DONE");
  return 0;
}
