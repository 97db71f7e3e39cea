/* Helpers for the end-to-end test programs: small "drivers" that map a
 * stand-in device file (argv[1]), access it, and print what they expect the
 * trace to show. The harness (tests/e2e/e2e_test.cc) fills the device with
 * e2e_pattern() before each run and compares the printed trace with these
 * EXPECT lines, access for access.
 *
 * A program checks every value it reads itself too, and exits with status 1
 * (printing FAIL ...) on a mismatch, so a tracer that returned a wrong value
 * fails the test even where the trace happens to agree with it. */
#ifndef MMIOTRACE_E2E_H
#define MMIOTRACE_E2E_H

#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static inline uint8_t e2e_pattern(size_t offset) { return (uint8_t)(offset * 131u + 7u); }

/* The little-endian value of `width` pattern bytes at `offset`. */
static inline uint64_t e2e_pattern_value(size_t offset, int width) {
  uint64_t v = 0;
  for (int i = width - 1; i >= 0; --i) v = (v << 8) | e2e_pattern(offset + (size_t)i);
  return v;
}

static inline void* e2e_map(const char* path, size_t len) {
  int fd = open(path, O_RDWR);
  if (fd < 0) {
    perror("open device");
    exit(2);
  }
  void* p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    perror("mmap device");
    exit(2);
  }
  close(fd);
  return p;
}

/* Maps 4096 bytes at `off` of the file `rel` under the fake tree `root` (record --sysroot). */
static inline volatile uint32_t* e2e_map_at(const char* root, const char* rel, off_t off) {
  char path[4096];
  snprintf(path, sizeof(path), "%s%s", root, rel);
  int fd = open(path, O_RDWR);
  if (fd < 0) {
    perror(path);
    exit(2);
  }
  void* p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off);
  if (p == MAP_FAILED) {
    perror("mmap");
    exit(2);
  }
  close(fd);
  return (volatile uint32_t*)p;
}

static inline void e2e_expect(char op, int width, uint64_t offset, uint64_t value) {
  printf("EXPECT %c %d 0x%" PRIx64 " 0x%" PRIx64 "\n", op, width, offset, value);
}

#define E2E_CHECK(cond)                                      \
  do {                                                       \
    if (!(cond)) {                                           \
      printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      fflush(stdout);                                        \
      exit(1);                                               \
    }                                                        \
  } while (0)

#endif
