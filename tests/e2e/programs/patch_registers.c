/* Patched loads and stores (the fast path's LOAD/STORE trampolines, which save
 * only the caller-saved registers) into and from every kind of register: a
 * callee-saved destination (R12), high bytes (BH of a callee-saved register,
 * AH), a sign-extending load (R15), a 16-bit merge (R14W), a 32-bit load into
 * the register that holds the address (RSI), an index*scale operand into R8;
 * stores from R13, BH and an immediate; and every arithmetic flag pattern
 * and DF carried across a patched load and store. Each round's results must
 * equal the first round's (taken on the fault path, before the sites are
 * patched), and the trace must be that of --no-patch (patch_test.cc). */
#include "e2e.h"

struct Results {
  uint64_t a, b, c, d, e, f, g;
};

static void round_of(volatile uint8_t* dev, struct Results* r) {
  asm volatile("mov 8(%1), %%r12\n\tmov %%r12, %0" : "=r"(r->a) : "r"(dev) : "r12", "memory");
  asm volatile("mov $0x1111111111111111, %%rbx\n\tmov 3(%1), %%bh\n\tmov %%rbx, %0"
               : "=r"(r->b)
               : "r"(dev)
               : "rbx", "memory");
  asm volatile("mov $0x2222222222222222, %%rax\n\tmov 5(%1), %%ah\n\tmov %%rax, %0" : "=r"(r->c) : "r"(dev) : "rax", "memory");
  asm volatile("movsbq 1(%1), %%r15\n\tmov %%r15, %0" : "=r"(r->d) : "r"(dev) : "r15", "memory");
  asm volatile("mov $0x3333333333333333, %%r14\n\tmovw 10(%1), %%r14w\n\tmov %%r14, %0"
               : "=r"(r->e)
               : "r"(dev)
               : "r14", "memory");
  asm volatile("mov %1, %%rsi\n\tmovl 12(%%rsi), %%esi\n\tmov %%rsi, %0" : "=r"(r->f) : "r"(dev) : "rsi", "memory");
  asm volatile("mov $3, %%rcx\n\tmov $0x4444444444444444, %%r8\n\tmovzwl 20(%1,%%rcx,4), %%r8d\n\tmov %%r8, %0"
               : "=r"(r->g)
               : "r"(dev)
               : "rcx", "r8", "memory");
  asm volatile("mov $0x0102030405060708, %%r13\n\tmov %%r13, 16(%0)\n\tmov $0xab00, %%rbx\n\tmov %%bh, 24(%0)"
               :
               : "r"(dev)
               : "r13", "rbx", "memory");
  E2E_CHECK(*(volatile uint64_t*)(dev + 16) == 0x0102030405060708ull);
  E2E_CHECK(dev[24] == 0xab);
  asm volatile("movq $-5, 48(%0)" : : "r"(dev) : "memory");
  E2E_CHECK(*(volatile int64_t*)(dev + 48) == -5);
  /* CF, PF, AF, ZF, SF, OF, DF: each alone, and together. */
  static const uint64_t patterns[] = {0x0, 0x1, 0x4, 0x10, 0x40, 0x80, 0x800, 0x8d5, 0x400, 0xcd5, 0x2c5};
  for (unsigned q = 0; q < sizeof patterns / sizeof patterns[0]; ++q) {
    const uint64_t before = 0x202 | patterns[q];
    uint64_t after_load, after_store;
    asm volatile(
        "push %2\n\tpopfq\n\tmov 40(%3), %%eax\n\tpushfq\n\tpopq %0\n\t"
        "push %2\n\tpopfq\n\tmov %%eax, 56(%3)\n\tpushfq\n\tpopq %1\n\tcld"
        : "=&r"(after_load), "=&r"(after_store)
        : "r"(before), "r"(dev)
        : "rax", "memory", "cc");
    E2E_CHECK((after_load & 0xcd5) == (before & 0xcd5));
    E2E_CHECK((after_store & 0xcd5) == (before & 0xcd5));
  }
}

int main(int argc, char** argv) {
  E2E_CHECK(argc >= 2);
  volatile uint8_t* dev = e2e_map(argv[1], 4096);
  for (int i = 0; i < 64; ++i) dev[i] = (uint8_t)(0x81 + i * 7);
  struct Results first, now;
  round_of(dev, &first);
  for (int round = 1; round < 4; ++round) {
    round_of(dev, &now);
    E2E_CHECK(now.a == first.a && now.b == first.b && now.c == first.c && now.d == first.d && now.e == first.e &&
              now.f == first.f && now.g == first.g);
  }
  E2E_CHECK(first.b == (0x1111111111110011ull | ((uint64_t)dev[3] << 8)));
  E2E_CHECK(first.c == (0x2222222222220022ull | ((uint64_t)dev[5] << 8)));
  E2E_CHECK(first.d == (uint64_t)(int64_t)(int8_t)dev[1]);
  E2E_CHECK(first.e == (0x3333333333330000ull | *(volatile uint16_t*)(dev + 10)));
  E2E_CHECK(first.f == *(volatile uint32_t*)(dev + 12));
  E2E_CHECK(first.g == (uint64_t)*(volatile uint16_t*)(dev + 32));
  printf("DONE\n");
  return 0;
}
