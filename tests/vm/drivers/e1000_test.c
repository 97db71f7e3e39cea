/* e1000_test: a user-space driver for the Intel 82540EM (QEMU's e1000), after
 * the register descriptions of Intel's "PCI/PCI-X Family of Gigabit Ethernet
 * Controllers Software Developer's Manual" (8254x), used by the VM scenarios.
 *
 *   e1000_test [--side-effects] MAPPING...      (MAPPING: see vm_map.h; BAR0)
 *
 * Default: mask interrupts, reset the device (CTRL.RST) and wait for the bit
 * to clear, read the MAC address from the EEPROM through EERD and from the
 * receive address registers RAL0/RAH0 (they must agree), then set up a
 * receive and a transmit descriptor ring (base, length, head, tail; the base
 * also with one 64-bit store, which the device takes as two 32-bit writes) and
 * read every register back. Prints the MAC address.
 * --side-effects: the interrupt cause register ICR is cleared by reading it:
 * a fixed sequence listed access by access in
 * tests/vm/scenarios/side_effects.e1000.expected.
 * Exits 0 when the device answered as an 82540EM does. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vm_map.h"

enum {
  CTRL = 0x0000,
  STATUS = 0x0008,
  EERD = 0x0014,
  ICR = 0x00c0, /* read to clear */
  ICS = 0x00c8,
  IMC = 0x00d8,
  RDBAL = 0x2800,
  RDBAH = 0x2804,
  RDLEN = 0x2808,
  RDH = 0x2810,
  RDT = 0x2818,
  TDBAL = 0x3800,
  TDBAH = 0x3804,
  TDLEN = 0x3808,
  TDH = 0x3810,
  TDT = 0x3818,
  RAL0 = 0x5400,
  RAH0 = 0x5404,
};
#define CTRL_RST (1u << 26)
#define EERD_START 0x1u
#define EERD_DONE 0x10u /* 8254x (not 82541/82547): DONE is bit 4, address from bit 8 */
#define EERD_ADDR_SHIFT 8
#define RAH_AV (1u << 31)
#define ICR_LSC 0x4u

static uint16_t eeprom_word(unsigned index) {
  wr32(EERD, (index << EERD_ADDR_SHIFT) | EERD_START);
  for (int tries = 0; tries < 1000; ++tries) {
    uint32_t v = rd32(EERD);
    if (v & EERD_DONE) return (uint16_t)(v >> 16);
    usleep(10);
  }
  expect("EERD done", 0, 1);
  return 0;
}

static void driver(void) {
  wr32(IMC, 0xffffffff);
  wr32(CTRL, rd32(CTRL) | CTRL_RST);
  int tries = 1000;
  while ((rd32(CTRL) & CTRL_RST) && tries-- > 0) usleep(10);
  expect("reset done", rd32(CTRL) & CTRL_RST, 0);
  wr32(IMC, 0xffffffff);
  (void)rd32(STATUS);

  uint8_t mac[6];
  for (unsigned i = 0; i < 3; ++i) {
    uint16_t w = eeprom_word(i);
    mac[2 * i] = (uint8_t)w;
    mac[2 * i + 1] = (uint8_t)(w >> 8);
  }
  uint32_t ral = rd32(RAL0), rah = rd32(RAH0);
  expect("RAH0 address valid", rah & RAH_AV, RAH_AV);
  expect("RAL0 = EEPROM words 0-1", ral, (uint32_t)mac[0] | mac[1] << 8 | mac[2] << 16 | (uint32_t)mac[3] << 24);
  expect("RAH0 = EEPROM word 2", rah & 0xffff, (uint32_t)mac[4] | mac[5] << 8);
  printf("e1000_test: mac %02x:%02x:%02x:%02x:%02x:%02x\n", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);

  /* Receive ring: 32-bit halves. Transmit ring: the base with one 64-bit store. */
  wr32(RDBAL, 0x12340000);
  wr32(RDBAH, 0);
  wr32(RDLEN, 4096);
  wr32(RDH, 0);
  wr32(RDT, 0);
  *(volatile uint64_t*)(bar + TDBAL) = 0x0000000112350000ull;
  wr32(TDLEN, 2048);
  wr32(TDH, 0);
  wr32(TDT, 0);
  expect("RDBAL", rd32(RDBAL), 0x12340000);
  expect("RDBAH", rd32(RDBAH), 0);
  expect("RDLEN", rd32(RDLEN), 4096);
  expect("RDH", rd32(RDH), 0);
  expect("RDT", rd32(RDT), 0);
  expect("TDBA (64-bit read)", *(volatile uint64_t*)(bar + TDBAL), 0x0000000112350000ull);
  expect("TDLEN", rd32(TDLEN), 2048);
  expect("TDH", rd32(TDH), 0);
  expect("TDT", rd32(TDT), 0);
  printf("e1000_test: rings set up\n");
}

/* Every access here is in side_effects.e1000.expected, in order. */
static void side_effects(void) {
  wr32(IMC, 0xffffffff);
  (void)rd32(ICR); /* whatever was pending: cleared by this read */
  wr32(ICS, ICR_LSC);
  expect("ICR after ICS", rd32(ICR), ICR_LSC);
  expect("ICR read again", rd32(ICR), 0);
  printf("e1000_test: side effects done\n");
}

int main(int argc, char** argv) {
  (void)argc;
  char** args = argv + 1;
  int rmw = 0;
  if (*args != NULL && strcmp(*args, "--side-effects") == 0) {
    rmw = 1;
    ++args;
  }
  size_t size = 0;
  bar = vm_map(&args, &size);
  if (rmw)
    side_effects();
  else
    driver();
  munmap((void*)bar, size);
  return 0;
}
