// Cost of one traced access next to its floors and its baseline, in one run:
//   Untraced/*       a volatile load/store to ordinary memory (no fault at all)
//   BareSignal/*     a load from a PROT_NONE page whose SIGSEGV handler only
//                    skips the instruction: the kernel's fault-and-signal round
//                    trip, the floor of any fault-based tracer
//   FaultFreeFloor/* what any tracer that takes no fault must at least do per
//                    access: the access (to ordinary memory), a shared atomic
//                    seq, a CLOCK_MONOTONIC timestamp and a 32-byte record
//                    into a per-thread ring
//   Traced/*         a load/store to a stand-in device under `mmiotrace record`:
//                    through the fault path with --no-patch, through a patched
//                    site's trampoline by default (docs/record.md, Patching)
//   FaultFreeFloorBurst/*, TracedBurst/*
//                    the same in bursts of 512 with pauses between them (see
//                    bursts() below)
// scripts/bench.sh runs Untraced, BareSignal and the floors natively and Traced*/* under the
// tracer both ways (the device file is named by MMIOTRACE_BENCH_DEVICE), and
// docs/benchmarks.md holds the figures.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

constexpr size_t kPage = 4096;

// One 4-byte load / store with a known encoding, so that the bare handler
// knows how far to skip: 8b 07 = mov (%rdi),%eax; 89 37 = mov %esi,(%rdi).
inline uint32_t load32(volatile void* p) {
  uint32_t v;
  asm volatile("movl (%1), %0" : "=a"(v) : "D"(p) : "memory");
  return v;
}
inline void store32(volatile void* p, uint32_t v) { asm volatile("movl %1, (%0)" : : "D"(p), "S"(v) : "memory"); }

alignas(64) uint32_t g_ordinary[64];

void Untraced_Read(benchmark::State& state) {
  volatile uint32_t* p = &g_ordinary[state.thread_index() * 16];
  for (auto _ : state) benchmark::DoNotOptimize(load32(p));
}
void Untraced_Write(benchmark::State& state) {
  volatile uint32_t* p = &g_ordinary[state.thread_index() * 16];
  uint32_t i = 0;
  for (auto _ : state) store32(p, ++i);
}

void skip_two_bytes(int, siginfo_t*, void* ucv) {
  auto* uc = static_cast<ucontext_t*>(ucv);
  uc->uc_mcontext.gregs[REG_RIP] += 2;
}

void* guard_page() {
  static void* page = [] {
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = skip_two_bytes;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, nullptr);
    return mmap(nullptr, kPage, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  }();
  return page;
}

void BareSignal_Read(benchmark::State& state) {
  volatile void* p = guard_page();
  for (auto _ : state) benchmark::DoNotOptimize(load32(p));
}
void BareSignal_Write(benchmark::State& state) {
  volatile void* p = guard_page();
  for (auto _ : state) store32(p, 1);
}

// The floor of a fault-free tracer: per access, the access itself, one
// shared atomic seq, one CLOCK_MONOTONIC timestamp and one 32-byte record
// copied into a per-thread ring (its head published with a release store, as
// a consumer in another process would need).
struct alignas(32) FloorRecord {
  uint64_t seq;
  uint64_t time_ns;
  uint64_t addr;
  uint32_t value;
  uint16_t width;
  uint16_t op;
};
static_assert(sizeof(FloorRecord) == 32);

struct alignas(64) FloorRing {
  FloorRecord slots[1024];
  std::atomic<uint64_t> head{0};
};

std::atomic<uint64_t> g_floor_seq{0};
FloorRing g_floor_rings[4];

inline void floor_record(FloorRing& ring, volatile void* addr, uint32_t value, uint16_t op) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  FloorRecord r;
  r.seq = g_floor_seq.fetch_add(1, std::memory_order_relaxed);
  r.time_ns = static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
  r.addr = reinterpret_cast<uint64_t>(addr);
  r.value = value;
  r.width = 4;
  r.op = op;
  const uint64_t h = ring.head.load(std::memory_order_relaxed);
  memcpy(&ring.slots[h % 1024], &r, sizeof r);
  ring.head.store(h + 1, std::memory_order_release);
}

// Bursts: the same accesses, kBurst at a time, each burst timed on its own
// (manual time: one iteration is one burst), the thread then sleeping
// kBurstGapUs untimed: a driver's register accesses come in bursts, and
// between them the recorder empties the rings. The Burst rows measure what
// an access costs the program while its ring has room; the plain rows
// measure a stream that never stops, whose rate the recorder bounds (each
// record crosses to another CPU and into the trace file). scripts/bench.sh
// divides a burst's time by kBurst (the benchmark's argument).
constexpr int kBurst = 512;
constexpr long kBurstGapUs = 300;

template <typename Access>
void bursts(benchmark::State& state, Access access) {
  const int n = static_cast<int>(state.range(0));
  for (auto _ : state) {
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < n; ++i) access();
    clock_gettime(CLOCK_MONOTONIC, &t1);
    state.SetIterationTime(static_cast<double>(t1.tv_sec - t0.tv_sec) +
                           1e-9 * static_cast<double>(t1.tv_nsec - t0.tv_nsec));
    struct timespec gap = {0, kBurstGapUs * 1000};
    nanosleep(&gap, nullptr);
  }
}

// A benchmark's accesses, `access()` each, as a stream (one access per
// iteration) or in bursts.
template <typename Access>
void accesses(benchmark::State& state, bool in_bursts, Access access) {
  if (in_bursts) {
    bursts(state, access);
  } else {
    for (auto _ : state) access();
  }
}

void floor_read(benchmark::State& state, bool in_bursts) {
  volatile uint32_t* p = &g_ordinary[state.thread_index() * 16];
  FloorRing& ring = g_floor_rings[state.thread_index() % 4];
  accesses(state, in_bursts, [&] {
    const uint32_t v = load32(p);
    floor_record(ring, p, v, 0);
  });
}
void floor_write(benchmark::State& state, bool in_bursts) {
  volatile uint32_t* p = &g_ordinary[state.thread_index() * 16];
  FloorRing& ring = g_floor_rings[state.thread_index() % 4];
  uint32_t i = 0;
  accesses(state, in_bursts, [&] {
    store32(p, ++i);
    floor_record(ring, p, i, 1);
  });
}
void FaultFreeFloor_Read(benchmark::State& state) { floor_read(state, false); }
void FaultFreeFloor_Write(benchmark::State& state) { floor_write(state, false); }
void FaultFreeFloorBurst_Read(benchmark::State& state) { floor_read(state, true); }
void FaultFreeFloorBurst_Write(benchmark::State& state) { floor_write(state, true); }

volatile uint8_t* device() {
  static volatile uint8_t* dev = []() -> volatile uint8_t* {
    const char* path = getenv("MMIOTRACE_BENCH_DEVICE");
    if (path == nullptr) return nullptr;
    int fd = open(path, O_RDWR);
    if (fd < 0) return nullptr;
    void* p = mmap(nullptr, 4 * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    return p == MAP_FAILED ? nullptr : static_cast<volatile uint8_t*>(p);
  }
  ();
  return dev;
}

#define MT_DEVICE_OR_SKIP(state)                                                                           \
  volatile uint8_t* dev = device();                                                                        \
  if (dev == nullptr) {                                                                                    \
    (state).SkipWithError("set MMIOTRACE_BENCH_DEVICE and run under mmiotrace record (scripts/bench.sh)"); \
    return;                                                                                                \
  }

void traced_read(benchmark::State& state, bool in_bursts) {
  MT_DEVICE_OR_SKIP(state);
  volatile void* p = dev + 64 * state.thread_index();
  accesses(state, in_bursts, [&] { benchmark::DoNotOptimize(load32(p)); });
}
void traced_write(benchmark::State& state, bool in_bursts) {
  MT_DEVICE_OR_SKIP(state);
  volatile void* p = dev + 64 * state.thread_index();
  uint32_t i = 0;
  accesses(state, in_bursts, [&] { store32(p, ++i); });
}
void Traced_Read(benchmark::State& state) { traced_read(state, false); }
void Traced_Write(benchmark::State& state) { traced_write(state, false); }
void TracedBurst_Read(benchmark::State& state) { traced_read(state, true); }
void TracedBurst_Write(benchmark::State& state) { traced_write(state, true); }

// The instruction forms of the full table, on the device (one fault each):
// a fused read-modify-write, a locked one, a 32-byte (AVX2) and a 64-byte
// (AVX-512) vector store, and a
// 4 KiB memcpy (glibc's: REP MOVSB at this size here), whose cost per byte is
// what matters.
void Traced_OrRmw(benchmark::State& state) {
  MT_DEVICE_OR_SKIP(state);
  volatile void* p = dev + 64 * state.thread_index();
  for (auto _ : state) asm volatile("orl $1, (%0)" : : "r"(p) : "memory", "cc");
}
void Traced_LockXadd(benchmark::State& state) {
  MT_DEVICE_OR_SKIP(state);
  volatile void* p = dev + 64 * state.thread_index();
  for (auto _ : state) {
    uint32_t v = 1;
    asm volatile("lock xaddl %0, (%1)" : "+r"(v) : "r"(p) : "memory", "cc");
  }
}
__attribute__((target("avx2"))) void Traced_Store32(benchmark::State& state) {
  MT_DEVICE_OR_SKIP(state);
  if (!__builtin_cpu_supports("avx2")) {
    state.SkipWithError("no AVX2 on this CPU");
    return;
  }
  volatile void* p = dev + 1024 + 64 * state.thread_index();
  for (auto _ : state)
    asm volatile("vpxor %%ymm0, %%ymm0, %%ymm0\n\tvmovdqu %%ymm0, (%0)" : : "r"(p) : "memory", "xmm0");
}
__attribute__((target("avx512f"))) void Traced_Store64(benchmark::State& state) {
  MT_DEVICE_OR_SKIP(state);
  if (!__builtin_cpu_supports("avx512f")) {
    state.SkipWithError("no AVX-512 on this CPU");
    return;
  }
  volatile void* p = dev + 1024 + 64 * state.thread_index();
  for (auto _ : state)
    asm volatile("vpxord %%zmm0, %%zmm0, %%zmm0\n\tvmovdqu64 %%zmm0, (%0)" : : "r"(p) : "memory", "xmm0");
}
void Traced_Memcpy4K(benchmark::State& state) {
  MT_DEVICE_OR_SKIP(state);
  static uint8_t src[4096];
  volatile uint8_t* d = dev + 8192;
  for (auto _ : state) {
    memcpy(const_cast<uint8_t*>(d), src, sizeof(src));
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * 4096);
}

// Each row: 5 repetitions, reported as their median and their minimum (the
// run least disturbed by the other processes sharing the CPUs).
double min_of(const std::vector<double>& v) { return v.empty() ? 0.0 : *std::min_element(v.begin(), v.end()); }
#define MT_REPEATED ->UseRealTime()->Repetitions(5)->ReportAggregatesOnly(true)->ComputeStatistics("min", min_of)
#define MT_BENCH(fn) BENCHMARK(fn)->Threads(1)->Threads(2)->Threads(4) MT_REPEATED
MT_BENCH(Untraced_Read);
MT_BENCH(Untraced_Write);
MT_BENCH(BareSignal_Read);
MT_BENCH(BareSignal_Write);
MT_BENCH(FaultFreeFloor_Read);
MT_BENCH(FaultFreeFloor_Write);
MT_BENCH(Traced_Read);
MT_BENCH(Traced_Write);
#define MT_BURSTS(fn)              \
  BENCHMARK(fn)                    \
      ->Arg(kBurst)                \
      ->Threads(1)                 \
      ->Threads(2)                 \
      ->Threads(4)                 \
      ->UseManualTime()            \
      ->MinTime(0.05)              \
      ->Repetitions(5)             \
      ->ReportAggregatesOnly(true) \
      ->ComputeStatistics("min", min_of)
MT_BURSTS(FaultFreeFloorBurst_Read);
MT_BURSTS(FaultFreeFloorBurst_Write);
MT_BURSTS(TracedBurst_Read);
MT_BURSTS(TracedBurst_Write);
BENCHMARK(Traced_OrRmw) MT_REPEATED;
BENCHMARK(Traced_LockXadd) MT_REPEATED;
BENCHMARK(Traced_Store32) MT_REPEATED;
BENCHMARK(Traced_Store64) MT_REPEATED;
BENCHMARK(Traced_Memcpy4K) MT_REPEATED;

}  // namespace

BENCHMARK_MAIN();
