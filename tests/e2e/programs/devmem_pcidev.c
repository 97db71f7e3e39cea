/* /dev/mem and a UIO device that is not a PCI device, in a fake tree under
 * argv[2] (record --sysroot), each mapping physical memory inside a PCI
 * device's BAR, and one /dev/mem mapping at an address that only an I/O port
 * BAR covers. The trace must name the PCI device of each BAR (PCIDEV), so
 * that readers of the kernel format can tell which device an access went to.
 * Nothing here touches a real device: every file is an ordinary file. */
#include "e2e.h"

int main(int argc, char** argv) {
  E2E_CHECK(argc == 3);
  const char* root = argv[2];
  volatile uint32_t* a = e2e_map_at(root, "/dev/mem", 0xfd001000); /* 0000:00:05.0 BAR0 */
  a[1] = 0x11;
  e2e_expect('W', 4, 0xfd001004, 0x11);
  volatile uint32_t* io = e2e_map_at(root, "/dev/mem", 0xc000); /* only 00:05.0's I/O BAR1 is there */
  io[2] = 0x22;
  e2e_expect('W', 4, 0xc008, 0x22);
  volatile uint32_t* b = e2e_map_at(root, "/dev/mem", 0xfe802000); /* 0000:00:04.0 BAR2 */
  b[4] = 0x33;
  e2e_expect('W', 4, 0xfe802010, 0x33);
  volatile uint32_t* uio = e2e_map_at(root, "/dev/uio1", 0); /* a platform device's map in 00:06.0's BAR0 */
  uio[3] = 0x44;
  e2e_expect('W', 4, 0xfc00000c, 0x44);
  puts("DONE");
  return 0;
}
