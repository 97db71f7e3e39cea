// The workload of the mode comparison (scripts/bench_modes.sh,
// docs/benchmarks.md), and the ground truth it is checked against:
//
//   mode_workload DEVICE THREADS ITERATIONS
//
// maps the stand-in device file DEVICE (16 KiB, or the whole file if it is
// smaller) and starts THREADS threads;
// thread t owns the 4-byte register at offset 64*t and, ITERATIONS times,
// stores i into it and loads it back (2 device accesses per iteration; a
// load that does not return i is counted as wrong). The timed part runs
// from a barrier after every thread started to the last thread's end. It
// prints one line:
//
//   accesses=<made> wrong=<loads that did not see their store> ns=<wall ns of the timed part>
//
// Under `mmiotrace record`, a trace that holds fewer than <made> accesses
// to the device missed some: scripts/bench_modes.sh counts them.
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace {

constexpr size_t kDeviceBytes = 16384;

volatile uint8_t* g_dev;
long g_iterations;
std::atomic<int> g_ready{0};
std::atomic<bool> g_go{false};
std::atomic<long> g_wrong{0};

// Fixed encodings, one device access each, whatever the compiler.
inline uint32_t load32(volatile void* p) {
  uint32_t v;
  asm volatile("movl (%1), %0" : "=r"(v) : "r"(p) : "memory");
  return v;
}
inline void store32(volatile void* p, uint32_t v) { asm volatile("movl %1, (%0)" : : "r"(p), "r"(v) : "memory"); }

uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

void* worker(void* arg) {
  volatile uint8_t* reg = g_dev + 64 * reinterpret_cast<uintptr_t>(arg);
  g_ready.fetch_add(1);
  while (!g_go.load(std::memory_order_acquire)) {
  }
  long wrong = 0;
  for (long i = 0; i < g_iterations; ++i) {
    store32(reg, static_cast<uint32_t>(i));
    wrong += load32(reg) != static_cast<uint32_t>(i);
  }
  g_wrong.fetch_add(wrong);
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: mode_workload DEVICE THREADS ITERATIONS\n");
    return 64;
  }
  const long threads = strtol(argv[2], nullptr, 10);
  g_iterations = strtol(argv[3], nullptr, 10);
  if (threads < 1 || threads > 64 || g_iterations < 1) {
    fprintf(stderr, "mode_workload: THREADS must be 1-64 and ITERATIONS at least 1\n");
    return 64;
  }
  const int fd = open(argv[1], O_RDWR);
  if (fd < 0) {
    perror(argv[1]);
    return 66;
  }
  // A stand-in file of 16 KiB, or a smaller device (a 4 KiB BAR's sysfs resource file).
  struct stat st;
  size_t bytes = kDeviceBytes;
  if (fstat(fd, &st) == 0 && st.st_size > 0 && static_cast<size_t>(st.st_size) < bytes) {
    bytes = static_cast<size_t>(st.st_size);
  }
  if (static_cast<size_t>(threads) * 64 > bytes) {
    fprintf(stderr, "mode_workload: %s is too small for %ld threads\n", argv[1], threads);
    return 64;
  }
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) {
    perror("mmap");
    return 71;
  }
  g_dev = static_cast<volatile uint8_t*>(p);
  pthread_t tids[64];
  for (long t = 0; t < threads; ++t) pthread_create(&tids[t], nullptr, worker, reinterpret_cast<void*>(t));
  while (g_ready.load() != threads) {
  }
  const uint64_t start = now_ns();
  g_go.store(true, std::memory_order_release);
  for (long t = 0; t < threads; ++t) pthread_join(tids[t], nullptr);
  const uint64_t ns = now_ns() - start;
  printf("accesses=%ld wrong=%ld ns=%llu\n", threads * g_iterations * 2, g_wrong.load(),
         static_cast<unsigned long long>(ns));
  return g_wrong.load() == 0 ? 0 : 1;
}
