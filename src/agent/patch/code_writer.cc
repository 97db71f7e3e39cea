// Async-signal-safe: runs in the traced program's signal handler. Raw system
// calls (openat, pwrite64, close, membarrier, sched_yield) and static memory.
#include "agent/patch/code_writer.h"

#include <fcntl.h>
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

#include "common/check.h"
#include "common/handler_rules.h"

MT_HANDLER_RULES

namespace mmiotrace::agent::patch {

namespace {

constexpr uint8_t kInt3 = 0xcc;
constexpr unsigned kMaxStarts = 8;

int g_mem_fd = -1;
pid_t g_registered_pid = 0;  // the process whose mm is registered for SYNC_CORE

// The poke in progress (at most one: the patcher's lock serialises them) and
// every address an INT3 was ever written to, so that a trap that arrives late
// is still recognised. Starts are appended, never removed: a poke's INT3s are
// all gone when it ends, and an address stays a start of the same code.
std::atomic<uint32_t> g_poking{0};
// Pokes completed (raised before g_poking drops), so that a thread can tell
// whether the code changed between two of its traps.
std::atomic<uint32_t> g_poke_gen{0};
// The last INT3 this thread resumed from, and in which generation.
struct LastTrap {
  uint64_t at;
  uint32_t gen;
};
constinit thread_local LastTrap tls_last_trap __attribute__((tls_model("initial-exec"))) = {};
constexpr unsigned kMaxKnownStarts = 4096;
std::atomic<uint64_t> g_known_starts[kMaxKnownStarts];
std::atomic<uint32_t> g_n_known{0};

bool write_mem(uint64_t addr, const void* bytes, size_t n) {
  if (g_mem_fd < 0) return false;
  const auto* p = static_cast<const uint8_t*>(bytes);
  while (n > 0) {
    const long w = syscall(SYS_pwrite64, g_mem_fd, p, n, static_cast<off_t>(addr));
    if (w <= 0) return false;
    p += w;
    addr += static_cast<uint64_t>(w);
    n -= static_cast<size_t>(w);
  }
  return true;
}

void sync_cores() {
  // Registered in writer_open(): cannot fail but for a kernel bug.
  MT_CHECK(syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0) == 0);
}

bool is_start(const uint64_t* starts, unsigned n, uint64_t a) {
  for (unsigned i = 0; i < n; ++i) {
    if (starts[i] == a) return true;
  }
  return false;
}

void remember_start(uint64_t a) {
  const uint32_t n = g_n_known.load(std::memory_order_acquire);
  for (uint32_t i = 0; i < n; ++i) {
    if (g_known_starts[i].load(std::memory_order_relaxed) == a) return;
  }
  // Full: a late trap at an address not remembered is forwarded to the
  // program; INT3s are only ever at remembered addresses while poking, so
  // only pokes are refused (see poke()).
  if (n == kMaxKnownStarts) return;
  g_known_starts[n].store(a, std::memory_order_relaxed);
  g_n_known.store(n + 1, std::memory_order_release);
}

bool known_start(uint64_t a) {
  const uint32_t n = g_n_known.load(std::memory_order_acquire);
  for (uint32_t i = 0; i < n; ++i) {
    if (g_known_starts[i].load(std::memory_order_relaxed) == a) return true;
  }
  return false;
}

bool in_changes(const CodeChange* changes, unsigned n, uint64_t a) {
  for (unsigned i = 0; i < n; ++i) {
    if (a >= changes[i].addr && a < changes[i].addr + changes[i].len) return true;
  }
  return false;
}

}  // namespace

bool writer_open() {
  const pid_t pid = static_cast<pid_t>(syscall(SYS_getpid));
  if (g_registered_pid != pid) {
    if (syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0) != 0) return false;
    g_registered_pid = pid;
  }
  // Opened for each patch and closed after it: a descriptor kept open could
  // be closed by the program (and its number reused for one of its files).
  g_mem_fd = static_cast<int>(syscall(SYS_openat, AT_FDCWD, "/proc/self/mem", O_RDWR | O_CLOEXEC));
  return g_mem_fd >= 0;
}

void writer_close() {
  if (g_mem_fd >= 0) syscall(SYS_close, g_mem_fd);
  g_mem_fd = -1;
}

bool write_fresh(uint64_t addr, const void* bytes, size_t n) { return write_mem(addr, bytes, n); }

namespace {

// The three steps, towards `after` (to_after) or back to `before`.
bool apply(const CodeChange* changes, unsigned n, const uint64_t* starts, unsigned n_starts, bool to_after) {
  auto target = [&](unsigned c) { return to_after ? changes[c].after : changes[c].before; };
  bool ok = true;
  // 1. An INT3 on every instruction that changes: no thread starts one now,
  // and once every thread has serialised, none is inside one.
  for (unsigned i = 0; i < n_starts && ok; ++i) ok = write_mem(starts[i], &kInt3, 1);
  sync_cores();
  // 2. Every other byte: no thread can be executing them.
  for (unsigned c = 0; c < n && ok; ++c) {
    for (unsigned b = 0; b < changes[c].len && ok; ++b) {
      const uint64_t a = changes[c].addr + b;
      if (!is_start(starts, n_starts, a)) ok = write_mem(a, &target(c)[b], 1);
    }
  }
  sync_cores();
  // 3. The first bytes, highest address first: a new instruction may run on
  // into the bytes of a later one (a punned jump), which is then complete.
  uint64_t done_below = UINT64_MAX;
  for (unsigned k = 0; k < n_starts && ok; ++k) {
    uint64_t next = 0;
    unsigned c_next = 0;
    for (unsigned c = 0; c < n; ++c) {
      for (unsigned i = 0; i < n_starts; ++i) {
        const uint64_t a = starts[i];
        if (a < done_below && a >= next && a >= changes[c].addr && a < changes[c].addr + changes[c].len) {
          next = a;
          c_next = c;
        }
      }
    }
    ok = write_mem(next, &target(c_next)[next - changes[c_next].addr], 1);
    sync_cores();
    done_below = next;
  }
  return ok;
}

}  // namespace

bool poke(const CodeChange* changes, unsigned n, const uint64_t* starts, unsigned n_starts) {
  MT_CHECK(n_starts >= 1 && n_starts <= kMaxStarts);
  if (g_n_known.load(std::memory_order_relaxed) + n_starts > kMaxKnownStarts) return false;
  for (unsigned i = 0; i < n_starts; ++i) {
    MT_CHECK(in_changes(changes, n, starts[i]));
    remember_start(starts[i]);
  }
  g_poking.fetch_add(1, std::memory_order_seq_cst);
  const bool ok = apply(changes, n, starts, n_starts, true);
  // A write that fails (the page was unmapped meanwhile, and nobody runs it)
  // is undone as far as it goes: back to the bytes that were there.
  if (!ok) apply(changes, n, starts, n_starts, false);
  g_poke_gen.fetch_add(1, std::memory_order_seq_cst);
  g_poking.fetch_sub(1, std::memory_order_seq_cst);
  return ok;
}

bool refresh(uint64_t addr) {
  uint8_t now = kInt3;
  memcpy(&now, reinterpret_cast<const void*>(addr), 1);
  if (now == kInt3) return true;  // not ours to rewrite (a failed poke's, or the program's)
  const bool ok = write_mem(addr, &now, 1);
  sync_cores();
  return ok;
}

Trap code_trap(const siginfo_t* si, ucontext_t* uc) {
  if (si->si_code != SI_KERNEL) return Trap::NOT_OURS;  // an INT3 traps with SI_KERNEL; TF and kill() do not
  const uint64_t at = static_cast<uint64_t>(uc->uc_mcontext.gregs[REG_RIP]) - 1;
  if (!known_start(at)) return Trap::NOT_OURS;
  unsigned spins = 0;
  while (g_poking.load(std::memory_order_seq_cst) != 0) {
    if (++spins < 64) {
      __builtin_ia32_pause();
    } else {
      syscall(SYS_sched_yield);
    }
  }
  // Read after the wait: a poke that put an INT3 here and is over has
  // counted itself.
  const uint32_t gen = g_poke_gen.load(std::memory_order_seq_cst);
  // The byte is no longer an INT3 of ours, unless a failed poke left it: then
  // re-running it traps again, and the program sees it as its own.
  uint8_t now = kInt3;
  memcpy(&now, reinterpret_cast<const void*>(at), 1);
  if (now == kInt3) return Trap::NOT_OURS;
  uc->uc_mcontext.gregs[REG_RIP] = static_cast<greg_t>(at);
  LastTrap& last = tls_last_trap;
  if (last.at == at && last.gen == gen) return Trap::RESUME_STALE;
  last = LastTrap{at, gen};
  return Trap::RESUME;
}

}  // namespace mmiotrace::agent::patch
