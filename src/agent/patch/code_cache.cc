// Async-signal-safe: runs in the traced program's signal handler under the
// patcher's lock. Raw system calls (openat, read, close, mmap, munmap, brk)
// and static memory.
#include "agent/patch/code_cache.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

#include "agent/patch/code_writer.h"
#include "common/check.h"
#include "common/handler_rules.h"

MT_HANDLER_RULES

namespace mmiotrace::agent::patch {

namespace {

constexpr uint64_t kPage = 4096;
constexpr unsigned kMaxPages = 256;  // 1 MiB of trampolines
// Nothing is mapped below 64 KiB (vm.mmap_min_addr is at most that on
// common systems) nor above the 47-bit user address space.
constexpr uint64_t kLowest = 0x10000;
constexpr uint64_t kHighest = (uint64_t{1} << 47) - kPage;
// Room left for the heap (brk) to grow and for the main stack: a trampoline
// page there would make a later brk() or stack growth fail.
constexpr uint64_t kHeapRoom = uint64_t{256} << 20;
constexpr uint64_t kStackRoom = uint64_t{64} << 20;

struct CachePage {
  uint64_t base;
  uint8_t used[kPage / 8];  // one bit per byte handed out
};

CachePage g_pages[kMaxPages];
std::atomic<unsigned> g_n_pages{0};

struct Interval {
  uint64_t start, end;
};
constexpr unsigned kMaxIntervals = 8192;
Interval g_maps[kMaxIntervals];  // sorted, from /proc/self/maps, plus the forbidden zones
unsigned g_n_maps = 0;
bool g_snapshot_ok = false;

uint64_t page_down(uint64_t a) { return a & ~(kPage - 1); }

uint64_t distance(uint64_t a, uint64_t b) { return a > b ? a - b : b - a; }

bool is_used(const CachePage& p, unsigned off) { return (p.used[off / 8] >> (off % 8)) & 1; }

bool run_free(const CachePage& p, unsigned off, unsigned size) {
  if (off + size > kPage) return false;
  for (unsigned i = 0; i < size; ++i) {
    if (is_used(p, off + i)) return false;
  }
  return true;
}

uint64_t g_max_end[kMaxIntervals];  // g_max_end[i]: the highest end among g_maps[0..i]

void add_interval(uint64_t start, uint64_t end) {
  if (start >= end || g_n_maps == kMaxIntervals) return;
  unsigned i = g_n_maps;
  while (i > 0 && g_maps[i - 1].start > start) {
    g_maps[i] = g_maps[i - 1];
    --i;
  }
  g_maps[i] = Interval{start, end};
  ++g_n_maps;
  for (unsigned k = i; k < g_n_maps; ++k) {
    const uint64_t prev = k == 0 ? 0 : g_max_end[k - 1];
    g_max_end[k] = g_maps[k].end > prev ? g_maps[k].end : prev;
  }
}

uint64_t parse_hex(const char* s, size_t n, size_t* at) {
  uint64_t v = 0;
  while (*at < n) {
    const char c = s[*at];
    unsigned d;
    if (c >= '0' && c <= '9') {
      d = static_cast<unsigned>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      d = static_cast<unsigned>(c - 'a' + 10);
    } else {
      break;
    }
    v = v * 16 + d;
    ++*at;
  }
  return v;
}

// One line of /proc/self/maps: "start-end perms offset dev inode   path".
void parse_line(const char* line, size_t n) {
  size_t at = 0;
  const uint64_t start = parse_hex(line, n, &at);
  if (at >= n || line[at] != '-') return;
  ++at;
  const uint64_t end = parse_hex(line, n, &at);
  add_interval(start, end);
  static const char kStack[] = "[stack]";
  if (n >= sizeof(kStack) - 1 && memcmp(line + n - (sizeof(kStack) - 1), kStack, sizeof(kStack) - 1) == 0) {
    add_interval(start > kStackRoom ? start - kStackRoom : 0, start);
  }
}

// Whether [p, p + kPage) is free in the snapshot: no interval that starts
// below its end reaches past its start.
bool page_free(uint64_t p) {
  if (p < kLowest || p > kHighest) return false;
  unsigned lo = 0, hi = g_n_maps;
  while (lo < hi) {  // the number of intervals that start below p + kPage
    const unsigned mid = (lo + hi) / 2;
    if (g_maps[mid].start < p + kPage) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo == 0 || g_max_end[lo - 1] <= p;
}

// The free page nearest `near` among those whose entry range meets [lo, hi].
uint64_t nearest_free_page(uint64_t lo, uint64_t hi, unsigned size, uint64_t near) {
  const uint64_t first = page_down(lo);
  const uint64_t last = page_down(hi);
  if (last - first <= 64 * kPage) {
    // A small window: look at each page.
    uint64_t best = 0;
    for (uint64_t p = first; p <= last; p += kPage) {
      const uint64_t entry = p < lo ? lo : p;
      if (entry + size > p + kPage || !page_free(p)) continue;
      if (best == 0 || distance(entry, near) < distance(best, near)) best = entry;
    }
    return best;
  }
  // A large one: walk the gaps between mappings, keeping the nearest page.
  uint64_t best = 0;
  uint64_t gap_start = kLowest;
  for (unsigned i = 0; i <= g_n_maps; ++i) {
    const uint64_t gap_end = i < g_n_maps ? g_maps[i].start : kHighest + kPage;
    uint64_t a = gap_start < first ? first : gap_start;
    uint64_t b = gap_end > last + kPage ? last + kPage : gap_end;
    a = (a + kPage - 1) & ~(kPage - 1);
    b = page_down(b);
    if (a + kPage <= b) {
      // The page in [a, b) nearest `near`.
      uint64_t p = page_down(near);
      if (p < a) p = a;
      if (p + kPage > b) p = b - kPage;
      const uint64_t entry = p < lo ? lo : p;
      if (entry + size <= p + kPage && page_free(p) && (best == 0 || distance(entry, near) < distance(best, near))) {
        best = entry;
      }
    }
    if (i < g_n_maps && g_maps[i].end > gap_start) gap_start = g_maps[i].end;
  }
  return best;
}

CachePage* page_of(uint64_t addr) {
  const unsigned n = g_n_pages.load(std::memory_order_acquire);
  for (unsigned i = 0; i < n; ++i) {
    if (addr >= g_pages[i].base && addr < g_pages[i].base + kPage) return &g_pages[i];
  }
  return nullptr;
}

}  // namespace

bool CodeCache::snapshot() {
  g_n_maps = 0;
  g_snapshot_ok = false;
  const int fd = static_cast<int>(syscall(SYS_openat, AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC));
  if (fd < 0) return false;
  char buf[4096];
  char line[512];
  size_t line_n = 0;
  for (;;) {
    const long got = syscall(SYS_read, fd, buf, sizeof buf);
    if (got <= 0) break;
    for (long i = 0; i < got; ++i) {
      if (buf[i] == '\n') {
        parse_line(line, line_n);
        line_n = 0;
      } else if (line_n < sizeof line) {
        line[line_n++] = buf[i];
      }
    }
  }
  syscall(SYS_close, fd);
  const uint64_t brk = static_cast<uint64_t>(syscall(SYS_brk, 0));
  if (brk != 0) add_interval(brk, brk + kHeapRoom);
  g_snapshot_ok = g_n_maps != 0 && g_n_maps < kMaxIntervals;
  return g_snapshot_ok;
}

uint64_t CodeCache::find(uint64_t lo, uint64_t hi, unsigned size, uint64_t near) {
  if (!g_snapshot_ok || size == 0 || size > kPage) return 0;
  if (lo < kLowest) lo = kLowest;
  if (hi > kHighest) hi = kHighest;
  if (lo > hi) return 0;
  // Room in a page of the cache first.
  uint64_t best = 0;
  const unsigned n = g_n_pages.load(std::memory_order_relaxed);
  for (unsigned i = 0; i < n; ++i) {
    const CachePage& p = g_pages[i];
    if (p.base + kPage <= lo || p.base > hi) continue;
    const uint64_t from = lo > p.base ? lo : p.base;
    const uint64_t to = hi < p.base + kPage - 1 ? hi : p.base + kPage - 1;
    for (uint64_t e = from; e <= to; ++e) {
      if (!run_free(p, static_cast<unsigned>(e - p.base), size)) continue;
      if (best == 0 || distance(e, near) < distance(best, near)) best = e;
      break;  // the lowest in this page
    }
  }
  if (best != 0) return best;
  if (n == kMaxPages) return 0;
  return nearest_free_page(lo, hi, size, near);
}

bool CodeCache::take(uint64_t addr, unsigned size) {
  CachePage* page = page_of(addr);
  if (page == nullptr) {
    const unsigned n = g_n_pages.load(std::memory_order_relaxed);
    if (n == kMaxPages) return false;
    const uint64_t base = page_down(addr);
    const long got =
        syscall(SYS_mmap, base, kPage, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (got == -1) return false;
    if (static_cast<uint64_t>(got) != base) {  // a kernel without MAP_FIXED_NOREPLACE took it as a hint
      syscall(SYS_munmap, got, kPage);
      return false;
    }
    // A stray jump into an unused part stops at an INT3, not in zeros.
    uint8_t fill[256];
    memset(fill, 0xcc, sizeof fill);
    for (uint64_t off = 0; off < kPage; off += sizeof fill) {
      if (!write_fresh(base + off, fill, sizeof fill)) {
        syscall(SYS_munmap, base, kPage);
        return false;
      }
    }
    page = &g_pages[n];
    page->base = base;
    memset(page->used, 0, sizeof page->used);
    g_n_pages.store(n + 1, std::memory_order_release);
    add_interval(base, base + kPage);
  }
  const auto off = static_cast<unsigned>(addr - page->base);
  if (!run_free(*page, off, size)) return false;
  for (unsigned i = 0; i < size; ++i) page->used[(off + i) / 8] |= static_cast<uint8_t>(1u << ((off + i) % 8));
  return true;
}

bool CodeCache::contains(uint64_t addr) const { return page_of(addr) != nullptr; }

namespace {
CodeCache g_cache;
}  // namespace

CodeCache& code_cache() { return g_cache; }

}  // namespace mmiotrace::agent::patch
