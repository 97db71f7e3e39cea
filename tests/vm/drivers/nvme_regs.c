/* nvme_regs: reads and writes an NVMe controller's registers (NVM Express
 * base specification, "Controller Registers"), as the first steps of a
 * user-space NVMe driver do, on QEMU's nvme device. Its BAR0 is a 64-bit
 * memory BAR, which the nvme_vfio scenario needs.
 *
 *   nvme_regs MAPPING...      (MAPPING: see vm_map.h)
 *
 * Reads CAP (64-bit) and VS, disables the controller (CC.EN = 0) and waits for
 * CSTS.RDY = 0, masks and unmasks interrupts (INTMS/INTMC), programs the
 * admin queue attributes and addresses (AQA, ASQ, ACQ, 64-bit) and reads them
 * back. Does not enable the controller (no queues exist in memory). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "vm_map.h"

enum { CAP = 0x00, VS = 0x08, INTMS = 0x0c, INTMC = 0x10, CC = 0x14, CSTS = 0x1c, AQA = 0x24, ASQ = 0x28, ACQ = 0x30 };

int main(int argc, char** argv) {
  (void)argc;
  char** args = argv + 1;
  size_t size = 0;
  bar = vm_map(&args, &size);
  uint64_t cap = rd64(CAP);
  uint32_t vs = rd32(VS);
  printf("nvme_regs: CAP 0x%llx (MQES %u), version %u.%u\n", (unsigned long long)cap, (unsigned)(cap & 0xffff) + 1,
         vs >> 16, (vs >> 8) & 0xff);
  if (vs < 0x10000) expect("version", vs, 0x10400);
  wr32(CC, 0);
  int tries = 1000;
  while ((rd32(CSTS) & 1) && tries-- > 0) usleep(100);
  expect("CSTS.RDY after disable", rd32(CSTS) & 1, 0);
  wr32(INTMS, 0x1);
  wr32(INTMC, 0x1);
  wr32(AQA, (31u << 16) | 31u);
  wr64(ASQ, 0x12340000);
  wr64(ACQ, 0x12350000);
  expect("AQA", rd32(AQA), (31u << 16) | 31u);
  expect("ASQ", rd64(ASQ), 0x12340000);
  expect("ACQ", rd64(ACQ), 0x12350000);
  printf("nvme_regs: admin queue registers set\n");
  munmap((void*)bar, size);
  return 0;
}
