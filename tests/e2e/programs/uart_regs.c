/* A driver for the made-up UART of tests/data/svd/uart.svd, run against a
 * stand-in device file: it sets the baud rate, enables the receiver and
 * transmitter with even parity, writes a byte, reads the status and two FIFO
 * words, and programs the DMA cluster. `print --regs uart.svd#UART0@map:1`
 * must name every access (tests/e2e/print_regs_test.cc). */
#include "e2e.h"

#define SR 0x00
#define DR 0x04
#define BRR 0x08 /* 16 bits */
#define CR1 0x0c
#define FIFO 0x20
#define DMA_ADDR 0x40
#define DMA_LEN 0x44 /* 16 bits */

static volatile uint8_t* uart;

static void w32(size_t off, uint32_t v) {
  *(volatile uint32_t*)(uart + off) = v;
  e2e_expect('W', 4, off, v);
}

static void w16(size_t off, uint16_t v) {
  *(volatile uint16_t*)(uart + off) = v;
  e2e_expect('W', 2, off, v);
}

static uint32_t r32(size_t off) {
  const uint32_t v = *(volatile uint32_t*)(uart + off);
  e2e_expect('R', 4, off, v);
  return v;
}

int main(int argc, char** argv) {
  (void)argc;
  uart = (volatile uint8_t*)e2e_map(argv[1], 4096);
  w16(BRR, 0x1a3);                        /* MANTISSA 0x1a, FRACTION 3 */
  w32(CR1, 0x2000 | 0x400 | 0x8 | 0x4);   /* UE, PARITY=EVEN, TE, RE */
  w32(DR, 0x41);                          /* 'A' */
  E2E_CHECK(r32(SR) == (uint32_t)e2e_pattern_value(SR, 4));
  (void)r32(FIFO);
  (void)r32(FIFO + 12);
  w32(DMA_ADDR, 0x20000000);
  w16(DMA_LEN, 64);
  return 0;
}
