/* Instructions outside the emulator's table, on device memory: the generic
 * path runs each for real on a copy of its operand. x87 loads and stores
 * (m64, and m80 copied as aligned pieces), CRC32, POPCNT, SSE arithmetic,
 * PINSRD/PEXTRD, CVTSI2SD, a read-modify-write SHL, a misaligned legacy SSE
 * operand (#GP before any access), an LDMXCSR of an invalid value (#GP
 * raised by the CPU in the stub, after the read, at the program's own
 * instruction) and AVX-512 arithmetic under a write mask (only the selected
 * elements are read). Each result is checked here; the EXPECT lines are the
 * accesses, GENERIC lines (op, offset) the ones that must be flagged generic,
 * MAYBE_GENERIC lines the ones that may be.
 *
 * argv[2] = "stress": no EXPECT lines; four threads and a fast SIGALRM whose
 * handler takes the generic path too (so it runs while another step is
 * between its read and its stub), then 64 short-lived threads. */
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <sys/time.h>
#include <ucontext.h>

#include "e2e.h"

static void expect_generic(char op, int width, uint64_t offset, uint64_t value) {
  e2e_expect(op, width, offset, value);
  printf("GENERIC %c 0x%" PRIx64 "\n", op, offset);
}

static uint64_t bits_of_double(double d) {
  uint64_t v;
  memcpy(&v, &d, 8);
  return v;
}

/* CRC32 instruction semantics: CRC-32C, bit-reflected, no final XOR. */
static uint32_t crc32c(uint32_t crc, uint32_t data) {
  for (int i = 0; i < 32; ++i) {
    uint32_t bit = (crc ^ (data >> i)) & 1;
    crc = (crc >> 1) ^ (bit ? 0x82f63b78u : 0);
  }
  return crc;
}

static sigjmp_buf recover;
static volatile int fault_code;
static volatile uint64_t fault_rip;
static volatile uint64_t insn_addr; /* set before the fault, read after siglongjmp */

static void on_segv(int sig, siginfo_t* si, void* ucv) {
  (void)sig;
  fault_code = si->si_code;
  fault_rip = (uint64_t)((ucontext_t*)ucv)->uc_mcontext.gregs[REG_RIP];
  siglongjmp(recover, 1);
}

/* The 10 bytes of an x87 extended-precision value, written as the generic
 * path copies an m80 to the device: naturally aligned pieces of at most 8. */
static void expect_m80(char op, uint64_t offset, const uint8_t* bytes) {
  for (unsigned i = 0; i < 10;) {
    unsigned piece = 8;
    while (piece > 1 && (((offset + i) & (piece - 1)) != 0 || i + piece > 10)) piece /= 2;
    uint64_t v = 0;
    for (int b = (int)piece - 1; b >= 0; --b) v = (v << 8) | bytes[i + (unsigned)b];
    expect_generic(op, (int)piece, offset + i, v);
    i += piece;
  }
}

/* AVX-512 arithmetic masked by k1/k2 with a device source: the CPU reads
 * only the selected elements, and so must the generic path (one masked
 * access, whose selected bytes the kernel format prints as runs of pieces).
 * A {1to16} broadcast reads its one element once if any bit is set, and not
 * at all when none is. */
static int masked_avx512(volatile uint8_t* dev) {
  if (!__builtin_cpu_supports("avx512f")) {
    puts("SKIP masked AVX-512: the CPU has no AVX-512F");
    return 0;
  }
  /* vpaddd 0x600(dev), zmm3 (all ones), zmm4{k2}{z}, k2 = elements 0, 7, 8, 15. */
  uint32_t sum[16];
  const uint64_t k2 = 0x8181;
  __asm__ volatile(
      "kmovq %1, %%k2\n\t"
      "vpternlogd $0xff, %%zmm3, %%zmm3, %%zmm3\n\t"
      "vpsrld $31, %%zmm3, %%zmm3\n\t"
      "vpaddd (%2), %%zmm3, %%zmm4%{%%k2%}%{z%}\n\t"
      "vmovdqu32 %%zmm4, %0"
      : "=m"(sum)
      : "r"(k2), "r"(dev + 0x600)
      : "xmm3", "xmm4", "memory");
  for (unsigned e = 0; e < 16; ++e) {
    const uint32_t want = ((k2 >> e) & 1) ? (uint32_t)e2e_pattern_value(0x600 + 4 * e, 4) + 1 : 0;
    if (sum[e] != want) {
      printf("FAIL vpaddd{k2}{z} element %u: 0x%x, expected 0x%x\n", e, sum[e], want);
      return 1;
    }
    if ((k2 >> e) & 1) expect_generic('R', 4, 0x600 + 4 * e, e2e_pattern_value(0x600 + 4 * e, 4));
  }

  /* vaddps 0x640(dev){1to16}, zmm1 (1.0), zmm2{k1} (merging into 0.0):
   * k1 = elements 4-7, one 4-byte read; then k1 = 0, no read at all. */
  const float x = 2.5f;
  uint32_t xbits;
  memcpy(&xbits, &x, 4);
  *(volatile uint32_t*)(dev + 0x640) = xbits;
  e2e_expect('W', 4, 0x640, xbits);
  float out[2][16];
  const float one = 1.0f;
  const uint64_t k1[2] = {0xf0, 0};
  for (int i = 0; i < 2; ++i) {
    __asm__ volatile(
        "kmovq %1, %%k1\n\t"
        "vbroadcastss %3, %%zmm1\n\t"
        "vpxord %%zmm2, %%zmm2, %%zmm2\n\t"
        "vaddps (%2)%{1to16%}, %%zmm1, %%zmm2%{%%k1%}\n\t"
        "vmovups %%zmm2, %0"
        : "=m"(out[i])
        : "r"(k1[i]), "r"(dev + 0x640), "m"(one)
        : "xmm1", "xmm2", "memory");
    for (unsigned e = 0; e < 16; ++e) {
      const float want = ((k1[i] >> e) & 1) ? 3.5f : 0.0f;
      if (out[i][e] != want) {
        printf("FAIL vaddps{1to16}{k1=0x%x} element %u: %f, expected %f\n", (unsigned)k1[i], e, out[i][e], want);
        return 1;
      }
    }
  }
  expect_generic('R', 4, 0x640, xbits);
  return 0;
}

static int basic(volatile uint8_t* dev) {
  /* CRC32 of a pattern dword. */
  uint32_t crc = 0xffffffffu;
  __asm__ volatile("crc32l (%1), %0" : "+r"(crc) : "r"(dev + 0x0) : "memory");
  expect_generic('R', 4, 0x0, e2e_pattern_value(0x0, 4));
  E2E_CHECK(crc == crc32c(0xffffffffu, (uint32_t)e2e_pattern_value(0x0, 4)));

  /* POPCNT of a pattern qword. */
  uint64_t pop = 0;
  __asm__ volatile("popcnt (%1), %0" : "=r"(pop) : "r"(dev + 0x8) : "memory", "cc");
  expect_generic('R', 8, 0x8, e2e_pattern_value(0x8, 8));
  E2E_CHECK(pop == (uint64_t)__builtin_popcountll(e2e_pattern_value(0x8, 8)));

  /* ADDPS with a 16-byte aligned memory source (stored by the table's MOVUPS). */
  const float in[4] = {1.5f, 2.25f, -3.0f, 100.0f};
  const float add[4] = {0.5f, 0.75f, 1.0f, -50.0f};
  float out[4];
  uint64_t lo, hi;
  memcpy(&lo, in, 8);
  memcpy(&hi, (const uint8_t*)in + 8, 8);
  __asm__ volatile(
      "movups (%1), %%xmm0\n\t"
      "movups %%xmm0, (%0)\n\t"
      "movups (%2), %%xmm1\n\t"
      "addps (%0), %%xmm1\n\t"
      "movups %%xmm1, (%3)"
      :
      : "r"(dev + 0x40), "r"(in), "r"(add), "r"(out)
      : "xmm0", "xmm1", "memory");
  e2e_expect('W', 8, 0x40, lo);
  e2e_expect('W', 8, 0x48, hi);
  expect_generic('R', 8, 0x40, lo);
  expect_generic('R', 8, 0x48, hi);
  for (int i = 0; i < 4; ++i) E2E_CHECK(out[i] == in[i] + add[i]);

  /* PINSRD from the device, PEXTRD back to it. */
  uint32_t extracted = 0;
  __asm__ volatile(
      "pxor %%xmm2, %%xmm2\n\t"
      "pinsrd $1, (%1), %%xmm2\n\t"
      "pextrd $1, %%xmm2, (%2)\n\t"
      "pextrd $1, %%xmm2, %0"
      : "=r"(extracted)
      : "r"(dev + 0x50), "r"(dev + 0x60)
      : "xmm2", "memory");
  expect_generic('R', 4, 0x50, e2e_pattern_value(0x50, 4));
  expect_generic('W', 4, 0x60, e2e_pattern_value(0x50, 4));
  E2E_CHECK(extracted == e2e_pattern_value(0x50, 4));
  E2E_CHECK(*(volatile uint32_t*)(dev + 0x60) == e2e_pattern_value(0x50, 4));
  e2e_expect('R', 4, 0x60, e2e_pattern_value(0x50, 4));

  /* CVTSI2SD of a pattern dword. */
  double converted = 0;
  __asm__ volatile("cvtsi2sdl (%1), %0" : "=x"(converted) : "r"(dev + 0x58) : "memory");
  expect_generic('R', 4, 0x58, e2e_pattern_value(0x58, 4));
  E2E_CHECK(converted == (double)(int32_t)(uint32_t)e2e_pattern_value(0x58, 4));

  /* x87 m64: FLDL from the device, FSTPL to it, read back by the table's MOV. */
  *(volatile uint64_t*)(dev + 0x100) = bits_of_double(3.25);
  e2e_expect('W', 8, 0x100, bits_of_double(3.25));
  __asm__ volatile("fldl (%0)\n\tfstpl (%1)" : : "r"(dev + 0x100), "r"(dev + 0x108) : "memory");
  expect_generic('R', 8, 0x100, bits_of_double(3.25));
  expect_generic('W', 8, 0x108, bits_of_double(3.25));
  E2E_CHECK(*(volatile uint64_t*)(dev + 0x108) == bits_of_double(3.25));
  e2e_expect('R', 8, 0x108, bits_of_double(3.25));

  /* x87 m80: FSTPT writes 10 bytes (8 + 2 at an 8-aligned offset), FLDT
   * reads them back; then an unaligned FSTPL and an unaligned FSTPT
   * (1 + 4 + 4 + 1), and FLDT of those. */
  uint8_t ext[10];
  long double three_and_a_quarter = 3.25L;
  memcpy(ext, &three_and_a_quarter, 10);
  double back = 0;
  __asm__ volatile(
      "fldl (%1)\n\t"
      "fstpt (%2)\n\t"
      "fldt (%2)\n\t"
      "fstpl (%3)\n\t"
      "fldl (%3)\n\t"
      "fstpt (%4)\n\t"
      "fldt (%4)\n\t"
      "fstpl %0"
      : "=m"(back)
      : "r"(dev + 0x100), "r"(dev + 0x120), "r"(dev + 0x133), "r"(dev + 0x143)
      : "memory");
  expect_generic('R', 8, 0x100, bits_of_double(3.25));
  expect_m80('W', 0x120, ext);
  expect_m80('R', 0x120, ext);
  expect_generic('W', 8, 0x133, bits_of_double(3.25));
  expect_generic('R', 8, 0x133, bits_of_double(3.25));
  expect_m80('W', 0x143, ext);
  expect_m80('R', 0x143, ext);
  E2E_CHECK(back == 3.25);

  /* SHL: a read-modify-write of a device dword. */
  *(volatile uint32_t*)(dev + 0x200) = 0x12345678u;
  e2e_expect('W', 4, 0x200, 0x12345678u);
  __asm__ volatile("shll $4, (%0)" : : "r"(dev + 0x200) : "memory", "cc");
  /* SHL may join the table: generic or not, the same two accesses. */
  e2e_expect('R', 4, 0x200, 0x12345678u);
  e2e_expect('W', 4, 0x200, 0x23456780u);
  puts("MAYBE_GENERIC R 0x200");
  puts("MAYBE_GENERIC W 0x200");
  E2E_CHECK(*(volatile uint32_t*)(dev + 0x200) == 0x23456780u);
  e2e_expect('R', 4, 0x200, 0x23456780u);

  /* A legacy SSE operand that is not 16-byte aligned: #GP(0) before any
   * access (SIGSEGV, SI_KERNEL), as without the tracer. */
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_sigaction = on_segv;
  sa.sa_flags = SA_SIGINFO;
  E2E_CHECK(sigaction(SIGSEGV, &sa, NULL) == 0);
  fault_code = 0;
  if (sigsetjmp(recover, 1) == 0) {
    __asm__ volatile("addps (%0), %%xmm3" : : "r"(dev + 0x208) : "xmm3", "memory");
    E2E_CHECK(0);
  }
  E2E_CHECK(fault_code == SI_KERNEL);

  /* LDMXCSR of a value with reserved bits set: the CPU reads it and raises
   * #GP(0). The program sees the fault at its own instruction. */
  *(volatile uint32_t*)(dev + 0x220) = 0xffffffffu;
  e2e_expect('W', 4, 0x220, 0xffffffffu);
  fault_code = 0;
  if (sigsetjmp(recover, 1) == 0) {
    __asm__ volatile(
        "lea 1f(%%rip), %%rax\n\t"
        "movq %%rax, %0\n\t"
        "1: ldmxcsr (%1)"
        : "=m"(insn_addr)
        : "r"(dev + 0x220)
        : "rax", "memory");
    E2E_CHECK(0);
  }
  expect_generic('R', 4, 0x220, 0xffffffffu);
  E2E_CHECK(fault_code == SI_KERNEL);
  if (fault_rip != insn_addr) {
    printf("FAIL: the fault's RIP is 0x%" PRIx64 ", the instruction is at 0x%" PRIx64 "\n", fault_rip, insn_addr);
    return 1;
  }
  sa.sa_handler = SIG_DFL;
  sa.sa_flags = 0;
  E2E_CHECK(sigaction(SIGSEGV, &sa, NULL) == 0);
  if (masked_avx512(dev) != 0) return 1;
  puts("DONE");
  return 0;
}

/* ---- stress */

static volatile uint8_t* g_dev;
static volatile int g_alarms;
static volatile int g_alarms_in_stub;

/* The executable mappings that have a name (the program, libc, ld.so, the
 * agent, the vDSO), read before the timer starts: anything else that runs
 * code is one of the tracer's anonymous stub pages. */
static uint64_t g_code[64][2];
static int g_ncode;

static void read_code_mappings(void) {
  FILE* f = fopen("/proc/self/maps", "r");
  E2E_CHECK(f != NULL);
  char line[512];
  while (fgets(line, sizeof line, f) != NULL && g_ncode < 64) {
    unsigned long long lo, hi;
    char perms[8];
    int name_at = 0;
    if (sscanf(line, "%llx-%llx %7s %*s %*s %*s %n", &lo, &hi, perms, &name_at) != 3) continue;
    if (perms[2] != 'x' || line[name_at] == '\n' || line[name_at] == '\0') continue;
    g_code[g_ncode][0] = lo;
    g_code[g_ncode][1] = hi;
    ++g_ncode;
  }
  fclose(f);
}

/* Anonymous read/write/execute mappings: the tracer's stub pages. */
static int stub_pages(void) {
  FILE* f = fopen("/proc/self/maps", "r");
  E2E_CHECK(f != NULL);
  char line[512];
  int n = 0;
  while (fgets(line, sizeof line, f) != NULL) {
    char perms[8];
    int name_at = 0;
    if (sscanf(line, "%*x-%*x %7s %*s %*s %*s %n", perms, &name_at) != 1) continue;
    if (strcmp(perms, "rwxp") == 0 && (line[name_at] == '\n' || line[name_at] == '\0')) ++n;
  }
  fclose(f);
  return n;
}

static void on_alarm(int sig, siginfo_t* si, void* ucv) {
  (void)sig;
  (void)si;
  /* A signal that arrives while the tracer's handler runs is delivered when
   * it returns, that is at the stub: count those. */
  const uint64_t rip = (uint64_t)((ucontext_t*)ucv)->uc_mcontext.gregs[REG_RIP];
  int named = 0;
  for (int i = 0; i < g_ncode; ++i) named |= rip >= g_code[i][0] && rip < g_code[i][1];
  if (!named) __atomic_add_fetch(&g_alarms_in_stub, 1, __ATOMIC_RELAXED);
  /* A generic step inside a handler that may have interrupted another
   * thread's step right before its stub ran. */
  uint64_t pop;
  __asm__ volatile("popcnt (%1), %0" : "=r"(pop) : "r"(g_dev + 0x300) : "memory", "cc");
  if (pop != 64) _exit(3);
  __atomic_add_fetch(&g_alarms, 1, __ATOMIC_RELAXED); /* handlers run on several threads at once */
}

/* Each thread stores i with FISTPL and loads it back with FILDL. */
static void* worker(void* arg) {
  uintptr_t t = (uintptr_t)arg;
  volatile uint8_t* reg = g_dev + 0x400 + t * 0x40;
  for (int32_t i = 0; i < 20000; ++i) {
    int32_t back = -1;
    __asm__ volatile("fildl %1\n\tfistpl (%2)\n\tfildl (%2)\n\tfistpl %0" : "=m"(back) : "m"(i), "r"(reg) : "memory");
    if (back != i) {
      printf("FAIL thread %u: wrote %d, read %d\n", (unsigned)t, i, back);
      exit(1);
    }
  }
  return NULL;
}

static void* short_lived(void* arg) {
  uint32_t crc = 0;
  __asm__ volatile("crc32l (%1), %0" : "+r"(crc) : "r"(g_dev + 0x300) : "memory");
  *(uint32_t*)arg = crc;
  return NULL;
}

static int stress(volatile uint8_t* dev) {
  g_dev = dev;
  *(volatile uint64_t*)(dev + 0x300) = ~0ull;
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  read_code_mappings();
  sa.sa_sigaction = on_alarm;
  sa.sa_flags = SA_RESTART | SA_SIGINFO;
  E2E_CHECK(sigaction(SIGALRM, &sa, NULL) == 0);
  struct itimerval it = {{0, 200}, {0, 200}};
  E2E_CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0);
  pthread_t th[4];
  for (uintptr_t t = 0; t < 4; ++t) E2E_CHECK(pthread_create(&th[t], NULL, worker, (void*)t) == 0);
  worker((void*)4);
  for (int t = 0; t < 4; ++t) E2E_CHECK(pthread_join(th[t], NULL) == 0);
  struct itimerval off = {{0, 0}, {0, 0}};
  E2E_CHECK(setitimer(ITIMER_REAL, &off, NULL) == 0);
  /* Threads that exit after one generic step: each one's stub page goes with it. */
  for (int i = 0; i < 64; ++i) {
    uint32_t crc = 0;
    pthread_t t;
    E2E_CHECK(pthread_create(&t, NULL, short_lived, &crc) == 0);
    E2E_CHECK(pthread_join(t, NULL) == 0);
    E2E_CHECK(crc == crc32c(0, 0xffffffffu));
  }
  /* Every thread but this one has exited: only this one's stub page is left. */
  if (stub_pages() != 1) {
    printf("FAIL %d stub pages left\n", stub_pages());
    return 1;
  }
  printf("DONE alarms=%d in_stub=%d\n", g_alarms, g_alarms_in_stub);
  return 0;
}

int main(int argc, char** argv) {
  volatile uint8_t* dev = e2e_map(argv[1], 4096);
  if (argc > 2 && strcmp(argv[2], "stress") == 0) return stress(dev);
  return basic(dev);
}
