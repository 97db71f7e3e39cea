/* What single-stepping must get right (record --mode=step), one case per
 * argument; each also runs under emulate mode:
 *   tf        the program sets TF itself: it gets every trap it would get natively
 *   signal    a timer signal whose handler writes the device arrives all the time
 *   pages     one access straddles two pages of one mapping
 *   rep       REP MOVSB/STOSB/LODSB on the device, iteration by iteration
 *   crowded   REP MOVSB/MOVSW from the device into memory while every other general
 *             register and xmm0-15 hold bytes equal to the step's probe pattern
 *   unknown   OR [dev], EAX: a device value no register holds (step: recorded as unknown)
 *   atomic    LOCK XADD, LOCK CMPXCHG succeeding and failing: written values that depend on
 *             the read one
 *   fallback  CALL through a device pointer: neither the emulator nor the generic
 *             path runs it; emulate mode single-steps it instead of stopping */
#define _GNU_SOURCE
#include <signal.h>
#include <string.h>
#include <sys/time.h>
#include <ucontext.h>

#include "e2e.h"

#define REG32(base, off) (*(volatile uint32_t*)((volatile uint8_t*)(base) + (off)))

static volatile long g_traps;

static void on_trap(int sig, siginfo_t* si, void* ucv) {
  (void)sig;
  (void)si;
  (void)ucv;
  ++g_traps;
}

/* Three instructions under TF, the middle ones on `p`: a load and a store. */
static long traps_over(volatile uint32_t* p) {
  g_traps = 0;
  uint32_t v = 0;
  __asm__ volatile(
      "pushfq\n\torq $0x100, (%%rsp)\n\tpopfq\n\t"
      "movl (%1), %0\n\t"
      "addl $1, %0\n\t"
      "movl %0, 4(%1)\n\t"
      "pushfq\n\tandq $~0x100, (%%rsp)\n\tpopfq\n\t"
      : "+r"(v)
      : "r"(p)
      : "memory", "cc");
  return g_traps;
}

static int case_tf(volatile uint8_t* dev) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_trap;
  sa.sa_flags = SA_SIGINFO;
  sigaction(SIGTRAP, &sa, NULL);
  static uint32_t ordinary[2] = {0x11, 0};
  const long native = traps_over(ordinary);
  REG32(dev, 0x100) = 0x41;
  e2e_expect('W', 4, 0x100, 0x41);
  const long traced = traps_over((volatile uint32_t*)(dev + 0x100));
  e2e_expect('R', 4, 0x100, 0x41);
  e2e_expect('W', 4, 0x104, 0x42);
  printf("TRAPS native=%ld device=%ld\n", native, traced);
  E2E_CHECK(REG32(dev, 0x104) == 0x42);
  e2e_expect('R', 4, 0x104, 0x42);
  return native == traced ? 0 : 1;
}

static volatile uint8_t* g_dev;
static volatile uint32_t g_ticks;

static void on_alarm(int sig) {
  (void)sig;
  ++g_ticks;
  REG32(g_dev, 0x200) = g_ticks; /* a device access from the handler */
}

static int case_signal(volatile uint8_t* dev) {
  g_dev = dev;
  signal(SIGALRM, on_alarm);
  struct itimerval it = {{0, 100}, {0, 100}};
  setitimer(ITIMER_REAL, &it, NULL);
  for (uint32_t i = 0; i < 20000; ++i) {
    REG32(dev, 0x300) = i;
    E2E_CHECK(REG32(dev, 0x300) == i);
  }
  struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_REAL, &off, NULL);
  printf("TICKS %u\n", g_ticks);
  return 0;
}

static int case_pages(volatile uint8_t* dev) {
  volatile uint64_t* p = (volatile uint64_t*)(dev + 0xffc);
  *p = 0x1122334455667788ull;
  e2e_expect('W', 8, 0xffc, 0x1122334455667788ull);
  E2E_CHECK(*p == 0x1122334455667788ull);
  e2e_expect('R', 8, 0xffc, 0x1122334455667788ull);
  return 0;
}

static int case_rep(volatile uint8_t* dev) {
  static uint8_t src[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  static uint8_t dst[16];
  void* d = (void*)(dev + 0x400);
  const void* s = src;
  size_t n = sizeof src;
  __asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
  for (int i = 0; i < 16; ++i) e2e_expect('W', 1, 0x400 + i, src[i]);
  d = dst;
  s = (const void*)(dev + 0x400);
  n = sizeof dst;
  __asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
  for (int i = 0; i < 16; ++i) e2e_expect('R', 1, 0x400 + i, src[i]);
  E2E_CHECK(memcmp(dst, src, 16) == 0);
  d = (void*)(dev + 0x500);
  n = 8;
  __asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(0x5a) : "memory");
  for (int i = 0; i < 8; ++i) e2e_expect('W', 1, 0x500 + i, 0x5a);
  s = (const void*)(dev + 0x400);
  n = 4;
  uint64_t last = 0;
  __asm__ volatile("rep lodsb" : "+S"(s), "+c"(n), "+a"(last) : : "memory");
  for (int i = 0; i < 4; ++i) e2e_expect('R', 1, 0x400 + i, src[i]);
  E2E_CHECK((last & 0xff) == src[3]);
  return 0;
}

/* The step finds where a read value went by running the instruction on a
 * pattern (0xa7 for the first byte, 0xe4 for the second) and then on its
 * complement, and looking for it in the registers and in memory. Here every
 * general register but RSI/RDI/RCX/RSP/RBP and every xmm register holds the
 * pattern already, so that only the complement run tells the real place (the
 * destination in memory) from the others. */
#define CROWD(value, insn)                                                                                         \
  __asm__ volatile(                                                                                                \
      "movabs $" value                                                                                             \
      ", %%rax\n\tmov %%rax, %%rbx\n\tmov %%rax, %%rdx\n\tmov %%rax, %%r8\n\t"                                     \
      "mov %%rax, %%r9\n\tmov %%rax, %%r10\n\tmov %%rax, %%r11\n\tmov %%rax, %%r12\n\tmov %%rax, %%r13\n\t"        \
      "mov %%rax, %%r14\n\tmov %%rax, %%r15\n\tmovq %%rax, %%xmm0\n\tpunpcklqdq %%xmm0, %%xmm0\n\t"                \
      "movdqa %%xmm0, %%xmm1\n\tmovdqa %%xmm0, %%xmm2\n\tmovdqa %%xmm0, %%xmm3\n\tmovdqa %%xmm0, %%xmm4\n\t"       \
      "movdqa %%xmm0, %%xmm5\n\tmovdqa %%xmm0, %%xmm6\n\tmovdqa %%xmm0, %%xmm7\n\tmovdqa %%xmm0, %%xmm8\n\t"       \
      "movdqa %%xmm0, %%xmm9\n\tmovdqa %%xmm0, %%xmm10\n\tmovdqa %%xmm0, %%xmm11\n\tmovdqa %%xmm0, %%xmm12\n\t"    \
      "movdqa %%xmm0, %%xmm13\n\tmovdqa %%xmm0, %%xmm14\n\tmovdqa %%xmm0, %%xmm15\n\t" insn                        \
      : "+D"(d), "+S"(s), "+c"(n)                                                                                  \
      :                                                                                                            \
      : "rax", "rbx", "rdx", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "xmm0", "xmm1", "xmm2", "xmm3", \
        "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15",      \
        "memory")

static int case_crowded(volatile uint8_t* dev) {
  static uint8_t dst[16];
  for (int i = 0; i < 48; ++i) {
    dev[0x900 + i] = e2e_pattern(0x900 + i);
    e2e_expect('W', 1, 0x900 + i, e2e_pattern(0x900 + i));
  }
  void* d = dst;
  const void* s = (const void*)(dev + 0x900);
  size_t n = 16;
  CROWD("0xa7a7a7a7a7a7a7a7", "rep movsb");
  for (int i = 0; i < 16; ++i) e2e_expect('R', 1, 0x900 + i, e2e_pattern(0x900 + i));
  for (int i = 0; i < 16; ++i) E2E_CHECK(dst[i] == e2e_pattern(0x900 + i));
  d = dst;
  s = (const void*)(dev + 0x920);
  n = 8;
  CROWD("0xe4a7e4a7e4a7e4a7", "rep movsw");
  for (int i = 0; i < 8; ++i) e2e_expect('R', 2, 0x920 + 2 * i, e2e_pattern_value(0x920 + 2 * i, 2));
  for (int i = 0; i < 16; ++i) E2E_CHECK(dst[i] == e2e_pattern(0x920 + i));
  return 0;
}

static int case_unknown(volatile uint8_t* dev) {
  REG32(dev, 0x600) = 0x0f0f0000;
  e2e_expect('W', 4, 0x600, 0x0f0f0000);
  __asm__ volatile("orl %1, (%0)" : : "r"(dev + 0x600), "r"(0x000000ffu) : "memory", "cc");
  e2e_expect('R', 4, 0x600, 0x0f0f0000);
  e2e_expect('W', 4, 0x600, 0x0f0f00ff);
  E2E_CHECK(REG32(dev, 0x600) == 0x0f0f00ff);
  e2e_expect('R', 4, 0x600, 0x0f0f00ff);
  return 0;
}

static int case_atomic(volatile uint8_t* dev) {
  volatile uint8_t* p = dev + 0x800;
  REG32(dev, 0x800) = 10;
  e2e_expect('W', 4, 0x800, 10);
  uint32_t v = 5;
  __asm__ volatile("lock xaddl %0, (%1)" : "+r"(v) : "r"(p) : "memory", "cc");
  e2e_expect('R', 4, 0x800, 10);
  e2e_expect('W', 4, 0x800, 15);
  E2E_CHECK(v == 10);
  uint32_t expected = 15;
  __asm__ volatile("lock cmpxchgl %2, (%1)" : "+a"(expected) : "r"(p), "r"(99u) : "memory", "cc");
  e2e_expect('R', 4, 0x800, 15);
  e2e_expect('W', 4, 0x800, 99); /* succeeded */
  E2E_CHECK(expected == 15);
  expected = 1;
  __asm__ volatile("lock cmpxchgl %2, (%1)" : "+a"(expected) : "r"(p), "r"(7u) : "memory", "cc");
  e2e_expect('R', 4, 0x800, 99);
  e2e_expect('W', 4, 0x800, 99); /* failed: the old value is written back */
  E2E_CHECK(expected == 99);
  return 0;
}

static int answer(void) { return 42; }

static int case_fallback(volatile uint8_t* dev) {
  int (*fn)(void) = answer;
  *(int (*volatile*)(void))(dev + 0x700) = fn;
  e2e_expect('W', 8, 0x700, (uint64_t)(uintptr_t)fn);
  int r;
  /* Below the red zone: the call pushes a return address. */
  __asm__ volatile("sub $128, %%rsp\n\tcall *(%1)\n\tadd $128, %%rsp"
                   : "=a"(r)
                   : "r"(dev + 0x700)
                   : "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "memory", "cc");
  e2e_expect('R', 8, 0x700, (uint64_t)(uintptr_t)fn);
  printf("CALLED %d\n", r);
  return r == 42 ? 0 : 1;
}

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  volatile uint8_t* dev = e2e_map(argv[1], 8192);
  const char* c = argv[2];
  int rc = !strcmp(c, "tf")         ? case_tf(dev)
           : !strcmp(c, "signal")   ? case_signal(dev)
           : !strcmp(c, "pages")    ? case_pages(dev)
           : !strcmp(c, "rep")      ? case_rep(dev)
           : !strcmp(c, "crowded")  ? case_crowded(dev)
           : !strcmp(c, "unknown")  ? case_unknown(dev)
           : !strcmp(c, "atomic")   ? case_atomic(dev)
           : !strcmp(c, "fallback") ? case_fallback(dev)
                                    : 2;
  printf("DONE %s\n", c);
  return rc;
}
