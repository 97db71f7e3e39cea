// Async-signal-safe: runs in the traced program's signal handler; no
// allocation, no locks.
//
// The decode cache: the same few instructions fault millions of times (a
// driver's register accessors, a memcpy loop), so each thread keeps its last
// decodes, keyed by instruction address and checked against the instruction's
// bytes (code can change under the same address). Per thread, so there is no
// sharing to synchronise; a nested signal on the same thread (the agent's
// handler runs with SA_NODEFER) bypasses the cache while an outer use is in
// progress.
#include <Zydis/Zydis.h>

#include <atomic>
#include <cstring>

#include "common/handler_rules.h"
#include "emu/emulate_internal.h"

MT_HANDLER_RULES

namespace mmiotrace::emu::detail {
namespace {

constexpr unsigned kEntries = 16;  // direct-mapped

struct CacheEntry {
  uint64_t pc;
  uint8_t len;  // 0: empty
  uint8_t bytes[ZYDIS_MAX_INSTRUCTION_LENGTH];
  Insn insn;
};

__thread CacheEntry tls_cache[kEntries] __attribute__((tls_model("initial-exec")));
__thread unsigned tls_busy __attribute__((tls_model("initial-exec")));

unsigned slot_of(uint64_t pc) { return static_cast<unsigned>((pc ^ (pc >> 4) ^ (pc >> 9)) % kEntries); }

}  // namespace

bool decode_cached(uint64_t pc, const uint8_t* bytes, size_t len, Insn& out) {
  if (tls_busy != 0) return decode(bytes, len, out);  // nested in an outer use on this thread
  ++tls_busy;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  CacheEntry& e = tls_cache[slot_of(pc)];
  bool ok;
  if (e.len != 0 && e.pc == pc && e.len <= len && std::memcmp(e.bytes, bytes, e.len) == 0) {
    out = e.insn;
    ok = true;
  } else {
    ok = decode(bytes, len, out);
    if (ok) {
      MT_CHECK(out.in.length <= sizeof e.bytes);
      e.len = 0;
      e.pc = pc;
      std::memcpy(e.bytes, bytes, out.in.length);
      e.insn = out;
      e.len = out.in.length;
    }
  }
  std::atomic_signal_fence(std::memory_order_seq_cst);
  --tls_busy;
  return ok;
}

}  // namespace mmiotrace::emu::detail
