// Async-signal-safe: note_fault() and the lookups run in the traced
// program's signal handler; the undo/forget entry points in normal context
// with signals blocked. Static tables, atomics, raw system calls.
#include "agent/patch/patcher.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

#include "agent/agent.h"
#include "agent/patch/code_cache.h"
#include "agent/patch/code_writer.h"
#include "agent/patch/trampoline.h"
#include "agent/safe_access.h"
#include "agent/safe_format.h"
#include "common/check.h"
#include "common/handler_rules.h"
#include "emu/xsave_area.h"

MT_HANDLER_RULES

extern "C" uint32_t mt_patch_entry(const mmiotrace::agent::patch::Patch* p, uint64_t address, uint64_t* frame,
                                   uint8_t* xsave);
extern "C" mmiotrace::agent::patch::AccessResult mt_patch_access(const mmiotrace::agent::patch::Patch* p,
                                                                 uint64_t address, uint64_t reg);

namespace mmiotrace::agent::patch {

namespace {

using trace::UnpatchedReason;

std::atomic<uint32_t> g_patch_after{0};  // relaxed: turn_off() may run beside a fault
// Testing only (MMIOTRACE_TESTING_PATCH_LOG=1, read at attach, not
// documented for users): every patch and undo is told on stderr.
bool g_log = false;

void log_patch(const char* what, const Patch& p) {
  if (!g_log) return;
  SafeBuf m;
  m.str("mmiotrace: patch: ").str(what).str(" site ").hex(p.site.pc).str(" (");
  for (unsigned i = 0; i < p.site.len; ++i) m.byte(p.site.bytes[i]);
  m.str(") ").str(tactic_name(p.tactic)).str(", code");
  for (unsigned i = 0; i < p.code.len; ++i) m.str(" ").byte(p.code.bytes[i]);
  m.str(", trampoline ").hex(p.trampoline).str(" copy ").hex(p.site.copy);
  if (p.evicts) m.str(", evicts ").hex(p.evictee.pc).str(" to ").hex(p.evictee.copy);
  m.str("\n");
  m.write_to(STDERR_FILENO);
}

// Faults per instruction address (open addressing, never shrinks).
enum CounterState : uint8_t { COUNTING = 0, SETTLED = 1 };
struct Counter {
  std::atomic<uint64_t> pc{0};
  std::atomic<uint32_t> faults{0};
  std::atomic<uint8_t> state{COUNTING};
};
constexpr unsigned kCounters = 4096;
constexpr unsigned kProbe = 64;
Counter g_counters[kCounters];

constexpr unsigned kMaxPatches = 512;
Patch g_patches[kMaxPatches];
std::atomic<unsigned> g_n_patches{0};

// The patcher's lock: the fault handler only tries it; normal context spins.
std::atomic<bool> g_lock{false};
bool try_lock() { return !g_lock.exchange(true, std::memory_order_acquire); }
void lock() {
  unsigned spins = 0;
  while (!try_lock()) {
    if (++spins < 64) {
      __builtin_ia32_pause();
    } else {
      syscall(SYS_sched_yield);
    }
  }
}
void unlock() { g_lock.store(false, std::memory_order_release); }

Counter* counter_for(uint64_t pc, bool claim) {
  const uint64_t h = (pc ^ (pc >> 12) ^ (pc >> 24)) * 0x9e3779b97f4a7c15ull;
  for (unsigned i = 0; i < kProbe; ++i) {
    Counter& c = g_counters[(h + i) % kCounters];
    uint64_t cur = c.pc.load(std::memory_order_acquire);
    if (cur == pc) return &c;
    if (cur == 0) {
      if (!claim) return nullptr;
      if (c.pc.compare_exchange_strong(cur, pc, std::memory_order_acq_rel) || cur == pc) return &c;
    }
  }
  return nullptr;
}

void count_unpatched(UnpatchedReason why) {
  if (attached()) g_agent.channel->unpatched[static_cast<size_t>(why)].fetch_add(1, std::memory_order_relaxed);
}

UnpatchedReason reason_for(emu::PatchRefusal r) {
  switch (r) {
    case emu::PatchRefusal::NOT_AN_INSTRUCTION:
      return UnpatchedReason::NOT_AN_INSTRUCTION;
    case emu::PatchRefusal::STRING:
      return UnpatchedReason::STRING;
    case emu::PatchRefusal::MEMORY_OPERANDS:
      return UnpatchedReason::MEMORY_OPERANDS;
    case emu::PatchRefusal::ADDRESS_SIZE:
      return UnpatchedReason::ADDRESS_SIZE;
    case emu::PatchRefusal::SEGMENT:
      return UnpatchedReason::SEGMENT;
    case emu::PatchRefusal::WRITES_RSP_OR_RIP:
      return UnpatchedReason::WRITES_RSP_OR_RIP;
    case emu::PatchRefusal::NONE:
    case emu::PatchRefusal::NOT_IN_TABLE:
      break;
  }
  return UnpatchedReason::NOT_IN_TABLE;
}

PatchState state_of(const Patch& p) { return static_cast<PatchState>(p.state.load(std::memory_order_acquire)); }
void set_state(Patch& p, PatchState s) { p.state.store(static_cast<uint8_t>(s), std::memory_order_release); }

// The site's bytes are (or may become again) the patch's.
bool active(const Patch& p) {
  const PatchState s = state_of(p);
  return s == PatchState::WRITING || s == PatchState::LIVE || s == PatchState::UNDONE;
}
// Its trampolines exist (a thread may be in one, whatever the site holds now).
bool has_trampolines(const Patch& p) {
  const PatchState s = state_of(p);
  return s != PatchState::FREE && s != PatchState::GONE;
}
// The evictee's bytes stay rewritten as long as the code is there.
bool evicted(const Patch& p) {
  const PatchState s = state_of(p);
  return p.evicts && s != PatchState::FREE && s != PatchState::GONE;
}

bool in(uint64_t a, uint64_t start, unsigned len) { return a >= start && a < start + len; }
bool overlap(uint64_t a, unsigned alen, uint64_t b, unsigned blen) { return a < b + blen && b < a + alen; }

bool puns_on(const Patch& p, uint64_t start, unsigned len) {
  for (unsigned k = 0; k < p.n_puns; ++k) {
    if (overlap(start, len, p.pun_addr[k], p.pun_len[k])) return true;
  }
  return false;
}

// May this byte be rewritten by a new patch? Not if another patch's site or
// evictee is there, nor if another patch's jump reads it.
bool may_change(uint64_t a) {
  const unsigned n = g_n_patches.load(std::memory_order_acquire);
  for (unsigned i = 0; i < n; ++i) {
    const Patch& p = g_patches[i];
    if ((active(p) && (in(a, p.site.pc, p.site.len) || puns_on(p, a, 1))) ||
        (evicted(p) && in(a, p.evictee.pc, p.evictee.len))) {
      return false;
    }
  }
  return true;
}

// May a new jump read this byte as it is? Not if it is a site's byte that
// will change (being written, or undone and patchable again). A live site's
// patched bytes may be read: undoing that site undoes the new patch first.
bool may_pun(uint64_t a) {
  const unsigned n = g_n_patches.load(std::memory_order_acquire);
  for (unsigned i = 0; i < n; ++i) {
    const Patch& p = g_patches[i];
    const PatchState s = state_of(p);
    if ((s == PatchState::WRITING || s == PatchState::UNDONE) && in(a, p.site.pc, p.site.len)) return false;
  }
  return true;
}

// An instruction may be moved to a trampoline if it can run there with the
// same effect, and is not an instruction that faults on devices itself (it
// would then never be patched: keep it in place).
bool may_evict(const uint8_t* insn, unsigned len, uint64_t pc) {
  if (insn[0] == 0xcc) return false;  // a breakpoint someone placed
  const Counter* c = counter_for(pc, false);
  if (c != nullptr && c->faults.load(std::memory_order_relaxed) != 0) return false;
  uint8_t out[16];
  return emu::relocate(insn, len, pc, pc + 0x1000, out, sizeof out) != 0;
}

// Reads up to `n` bytes of code at `addr`, stopping at an unreadable byte.
unsigned read_code(uint64_t addr, uint8_t* out, unsigned n) {
  const auto* p = reinterpret_cast<const uint8_t*>(addr);
  if (mt_copy(out, p, n) == 0) return n;
  unsigned got = 0;
  while (got < n && mt_load_1(p + got, out + got) == 0) ++got;
  return got;
}

// The program's own bytes of [base, base + n): what other patches rewrote
// (their sites, their evictees) put back, so that decoding finds the
// program's instruction boundaries, not the middle of a jump.
void original_code(uint64_t base, uint8_t* bytes, unsigned n) {
  const unsigned count = g_n_patches.load(std::memory_order_acquire);
  for (unsigned i = 0; i < count; ++i) {
    const Patch& p = g_patches[i];
    const PatchState s = state_of(p);
    if (s == PatchState::FREE || s == PatchState::GONE) continue;
    for (const Moved* m : {&p.site, p.evicts ? &p.evictee : nullptr}) {
      if (m == nullptr) continue;
      for (unsigned k = 0; k < m->len; ++k) {
        if (m->pc + k >= base && m->pc + k < base + n) bytes[m->pc + k - base] = m->bytes[k];
      }
    }
  }
}

// Instruction boundaries from the site on, decoded from the program's own bytes.
void decode_view(CodeView* v, const uint8_t* original) {
  unsigned pos = 0;
  v->count = 0;
  while (pos < v->n && v->count < sizeof(v->start) / sizeof(v->start[0])) {
    const size_t len = emu::disassemble(original + pos, v->n - pos, v->base + pos, nullptr, 0);
    if (len == 0) break;
    v->start[v->count] = v->base + pos;
    v->len[v->count] = static_cast<uint8_t>(len);
    ++v->count;
    pos += static_cast<unsigned>(len);
  }
}

// XSAVE for a trampoline that runs the emulator: x87, SSE, AVX, the opmask
// and AVX-512 state (what the emulator and the agent's own code may touch).
uint64_t xsave_mask() { return emu::XsaveLayout::host().supported & 0xe7; }
uint32_t xsave_size() {
  const emu::XsaveLayout& l = emu::XsaveLayout::host();
  uint32_t size = 576;  // legacy region and header
  for (unsigned c = 2; c < 8; ++c) {
    if ((xsave_mask() >> c) & 1 && l.offset[c] + l.size[c] > size) size = l.offset[c] + l.size[c];
  }
  return (size + 63) & ~63u;
}

bool on_alternate_stack() {
  stack_t ss;
  return syscall(SYS_sigaltstack, nullptr, &ss) == 0 && (ss.ss_flags & SS_ONSTACK) != 0;
}

// Writes the site's trampoline: at `entry` if it fits there, else elsewhere
// within reach with a jump at `entry`.
bool place_trampoline(CodeCache& cache, Patch& rec, uint64_t entry) {
  SiteCode s;
  s.patch = reinterpret_cast<uint64_t>(&rec);
  s.entry_function = rec.plan.kind == emu::PatchKind::LOAD || rec.plan.kind == emu::PatchKind::STORE
                         ? reinterpret_cast<uint64_t>(&mt_patch_access)
                         : reinterpret_cast<uint64_t>(&mt_patch_entry);
  s.pc = rec.site.pc;
  s.insn = rec.site.bytes;
  s.insn_len = rec.site.len;
  s.plan = &rec.plan;
  s.emulate = rec.plan.kind == emu::PatchKind::EMULATE;
  s.xsave_mask = xsave_mask();
  s.xsave_size = xsave_size();
  uint8_t code[kMaxTrampoline];
  Built built;
  s.at = entry;
  if (!build_site(s, code, &built)) return false;
  uint64_t body = entry;
  if (cache.find(entry + kEntryBytes, entry + kEntryBytes, built.size - kEntryBytes, entry) != entry + kEntryBytes ||
      !cache.take(entry + kEntryBytes, built.size - kEntryBytes)) {
    // Not at the entry: anywhere both the entry and the site reach.
    const uint64_t reach = (uint64_t{1} << 31) - 2 * kMaxTrampoline;
    const uint64_t farther = entry > s.pc ? entry : s.pc;
    const uint64_t nearer = entry < s.pc ? entry : s.pc;
    body = cache.find(farther > reach ? farther - reach : 0, nearer + reach, kMaxTrampoline, s.pc);
    if (body == 0) return false;
    s.at = body;
    if (!build_site(s, code, &built) || !cache.take(body, built.size)) return false;
    uint8_t jump[5];
    if (!build_jump(entry, body, jump) || !write_fresh(entry, jump, sizeof jump)) return false;
  }
  if (!write_fresh(body, code, built.size)) return false;
  rec.trampoline = body;
  rec.site.copy = body + built.copy_offset;
  rec.site.copy_len = static_cast<uint8_t>(built.copy_len);
  return true;
}

bool place_evictee(Patch& rec, const TacticPlan& t) {
  uint8_t code[kMaxTrampoline];
  Built built;
  if (!build_evictee(t.evictee_entry, rec.evictee.pc, rec.evictee.bytes, rec.evictee.len, code, &built) ||
      built.size > kEvicteeBytes || !write_fresh(t.evictee_entry, code, built.size)) {
    return false;
  }
  rec.evictee.copy = t.evictee_entry;
  rec.evictee.copy_len = static_cast<uint8_t>(built.copy_len);
  return true;
}

// The pun bytes are what they were when `p` was made.
bool puns_unchanged(const Patch& p) {
  for (unsigned k = 0; k < p.n_puns; ++k) {
    uint8_t now[4];
    if (read_code(p.pun_addr[k], now, p.pun_len[k]) != p.pun_len[k] || memcmp(now, p.pun_bytes[k], p.pun_len[k]) != 0) {
      return false;
    }
  }
  return true;
}

// An earlier patch of this site, undone when its mapping went away: its
// trampolines are still there, and its bytes are the ones to write again.
Patch* undone_patch_of(uint64_t pc, const uint8_t* insn, uint8_t len) {
  const unsigned n = g_n_patches.load(std::memory_order_acquire);
  for (unsigned i = 0; i < n; ++i) {
    Patch& p = g_patches[i];
    if (state_of(p) == PatchState::UNDONE && p.site.pc == pc && p.site.len == len &&
        memcmp(p.site.bytes, insn, len) == 0) {
      return &p;
    }
  }
  return nullptr;
}

enum class Result : uint8_t {
  PATCHED,
  REFUSED,
  LATER,    // try again at a later fault
  ALREADY,  // patched meanwhile (the fault came from a thread that ran the old bytes)
};

Result refuse(UnpatchedReason why) {
  count_unpatched(why);
  return Result::REFUSED;
}

void reset_counter(uint64_t pc) {
  if (Counter* c = counter_for(pc, false)) {
    c->faults.store(0, std::memory_order_relaxed);
    c->state.store(COUNTING, std::memory_order_release);
  }
}

// Restores the site's own bytes (the writer is open, the lock held). The
// patches whose jumps read those bytes go first: they would jump elsewhere.
void undo(Patch& p, PatchState after) {
  const unsigned n = g_n_patches.load(std::memory_order_acquire);
  for (unsigned i = 0; i < n; ++i) {
    Patch& d = g_patches[i];
    if (&d != &p && state_of(d) == PatchState::LIVE && puns_on(d, p.site.pc, p.site.len)) {
      undo(d, PatchState::SUPERSEDED);
      reset_counter(d.site.pc);
    }
  }
  if (state_of(p) != PatchState::LIVE) {
    if (state_of(p) == PatchState::UNDONE) set_state(p, after);
    return;
  }
  CodeChange c{p.site.pc, p.site.len, p.code.bytes, p.site.bytes};
  set_state(p, PatchState::WRITING);
  set_state(p, poke(&c, 1, &p.site.pc, 1) ? after : PatchState::LIVE);
  log_patch(state_of(p) == PatchState::LIVE ? "undo failed" : "undone", p);
}

// Changes the code of `rec` as planned. The record is published (WRITING)
// first, so that a thread that faulted on the old bytes finds them.
bool write_patch(Patch& rec, const uint8_t* evictee_before, bool with_evictee) {
  CodeChange changes[2];
  uint64_t starts[2];
  unsigned n = 0;
  changes[n] = CodeChange{rec.site.pc, rec.site.len, rec.site.bytes, rec.code.bytes};
  starts[n++] = rec.site.pc;
  if (with_evictee) {
    changes[n] = CodeChange{rec.evictee.pc, rec.evictee.len, evictee_before, rec.evictee_code};
    starts[n++] = rec.evictee.pc;
  }
  set_state(rec, PatchState::WRITING);
  return poke(changes, n, starts, n);
}

Result repatch(Patch& rec, uint32_t map_id) {
  uint8_t now[16];
  if (read_code(rec.site.pc, now, rec.site.len) != rec.site.len || memcmp(now, rec.site.bytes, rec.site.len) != 0) {
    return refuse(UnpatchedReason::REWRITTEN);
  }
  rec.map_id = map_id;
  if (!write_patch(rec, nullptr, false)) {
    set_state(rec, PatchState::UNDONE);
    return refuse(UnpatchedReason::CODE_UNWRITABLE);
  }
  set_state(rec, PatchState::LIVE);
  log_patch("again", rec);
  return Result::PATCHED;
}

// A new patch of the site at `pc` (its instruction `insn`, planned as `plan`).
Result patch_new(uint64_t pc, const uint8_t* insn, const emu::PatchPlan& plan, uint32_t map_id) {
  uint8_t bytes[kMaxView];
  CodeView view;
  view.base = pc;
  view.bytes = bytes;
  view.n = read_code(pc, bytes, kMaxView);
  if (view.n < plan.insn_len || memcmp(bytes, insn, plan.insn_len) != 0) return refuse(UnpatchedReason::REWRITTEN);
  uint8_t original[kMaxView];
  memcpy(original, bytes, view.n);
  original_code(pc, original, view.n);
  decode_view(&view, original);
  if (view.count == 0 || view.len[0] != plan.insn_len) return refuse(UnpatchedReason::NOT_AN_INSTRUCTION);
  view.may_change = may_change;
  view.may_pun = may_pun;
  view.may_evict = may_evict;
  const unsigned slot = g_n_patches.load(std::memory_order_relaxed);
  if (slot == kMaxPatches) return refuse(UnpatchedReason::FULL);
  CodeCache& cache = code_cache();
  if (!cache.snapshot()) return refuse(UnpatchedReason::CODE_UNWRITABLE);
  const TacticPlan t = choose_tactic(view, cache);
  if (t.tactic == Tactic::NONE) return refuse(UnpatchedReason::NO_ROOM);
  Patch& rec = g_patches[slot];
  rec.map_id = map_id;
  rec.tactic = t.tactic;
  rec.plan = plan;
  rec.site = Moved{};
  rec.site.pc = pc;
  rec.site.len = plan.insn_len;
  memcpy(rec.site.bytes, insn, plan.insn_len);
  rec.code = t.rewrite[0];
  rec.evicts = t.evicts;
  rec.n_puns = t.n_puns;
  for (unsigned k = 0; k < t.n_puns; ++k) {
    rec.pun_addr[k] = t.pun_addr[k];
    rec.pun_len[k] = t.pun_len[k];
    read_code(t.pun_addr[k], rec.pun_bytes[k], t.pun_len[k]);
  }
  uint8_t evictee_before[kMaxEvictLen + 5] = {};
  if (t.evicts) {
    rec.evictee = Moved{};
    rec.evictee.pc = t.evictee_pc;
    rec.evictee.len = t.evictee_len;
    memcpy(rec.evictee.bytes, bytes + (t.evictee_pc - pc), t.evictee_len);
    memcpy(evictee_before, rec.evictee.bytes, t.evictee_len);
    memcpy(rec.evictee_code, t.rewrite[1].bytes, t.evictee_len);
  }
  if (!place_trampoline(cache, rec, t.site_entry) || (t.evicts && !place_evictee(rec, t))) {
    return refuse(UnpatchedReason::FULL);
  }
  g_n_patches.store(slot + 1, std::memory_order_release);
  if (!write_patch(rec, evictee_before, t.evicts)) {
    set_state(rec, PatchState::GONE);
    return refuse(UnpatchedReason::CODE_UNWRITABLE);
  }
  set_state(rec, PatchState::LIVE);
  log_patch("new", rec);
  return Result::PATCHED;
}

constexpr unsigned kMaxSuperseded = 4;

Result patch_site(const FaultContext& ctx, const emu::CpuState& cpu, uint32_t map_id) {
  emu::CpuState at = cpu;
  at.rip = ctx.pc;
  const emu::PatchPlan plan = emu::plan_patch(at, ctx.insn, ctx.insn_len);
  if (plan.kind == emu::PatchKind::NONE) return refuse(reason_for(plan.refusal));
  const unsigned len = plan.insn_len;
  // Another patch's site or evictee: its bytes are not the instruction's to give.
  const unsigned n = g_n_patches.load(std::memory_order_acquire);
  for (unsigned i = 0; i < n; ++i) {
    const Patch& p = g_patches[i];
    if (p.site.pc == ctx.pc && (state_of(p) == PatchState::LIVE || state_of(p) == PatchState::WRITING)) {
      return Result::ALREADY;
    }
    if ((active(p) && p.site.pc != ctx.pc && overlap(ctx.pc, len, p.site.pc, p.site.len)) ||
        (evicted(p) && overlap(ctx.pc, len, p.evictee.pc, p.evictee.len))) {
      return refuse(UnpatchedReason::REWRITTEN);
    }
  }
  if (Patch* old = undone_patch_of(ctx.pc, ctx.insn, static_cast<uint8_t>(len))) {
    if (puns_unchanged(*old)) return repatch(*old, map_id);
    set_state(*old, PatchState::SUPERSEDED);
  }
  // Patches whose jumps read this instruction's bytes (a punned jump of the
  // instruction before it) come off first, and are made again afterwards
  // around the new bytes.
  Patch* again[kMaxSuperseded];
  unsigned n_again = 0;
  for (unsigned i = 0; i < n; ++i) {
    Patch& d = g_patches[i];
    if (!active(d) || !puns_on(d, ctx.pc, len)) continue;
    if (state_of(d) == PatchState::LIVE) {
      if (n_again == kMaxSuperseded) return refuse(UnpatchedReason::REWRITTEN);
      undo(d, PatchState::SUPERSEDED);
      if (state_of(d) != PatchState::SUPERSEDED) return refuse(UnpatchedReason::CODE_UNWRITABLE);
      again[n_again++] = &d;
    } else {
      set_state(d, PatchState::SUPERSEDED);
    }
  }
  const Result r = patch_new(ctx.pc, ctx.insn, plan, map_id);
  for (unsigned i = 0; i < n_again; ++i) {
    const Patch& d = *again[i];
    if (patch_new(d.site.pc, d.site.bytes, d.plan, d.map_id) == Result::PATCHED) {
      if (Counter* c = counter_for(d.site.pc, false)) c->state.store(SETTLED, std::memory_order_release);
    } else if (attached()) {
      g_agent.channel->patched_sites.fetch_sub(1, std::memory_order_relaxed);  // counted as not patched instead
    }
  }
  return r;
}

void forget(Patch& p) {
  set_state(p, PatchState::GONE);
  reset_counter(p.site.pc);
}

bool map_alive(uint32_t map_id) { return g_agent.regions.has_map(map_id); }

}  // namespace

void init(uint32_t patch_after) {
  g_patch_after.store(patch_after, std::memory_order_relaxed);
  const char* log = getenv("MMIOTRACE_TESTING_PATCH_LOG");
  g_log = log != nullptr && *log == '1';
}

void turn_off() { g_patch_after.store(0, std::memory_order_relaxed); }

bool enabled() { return g_patch_after.load(std::memory_order_relaxed) != 0 && !g_agent.step_mode; }

void note_fault(const FaultContext& ctx, const emu::CpuState& cpu, uint32_t map_id) {
  if (!enabled()) return;
  Counter* c = counter_for(ctx.pc, true);
  if (c == nullptr) return;
  const uint32_t faults = c->faults.fetch_add(1, std::memory_order_relaxed) + 1;
  if (faults < g_patch_after.load(std::memory_order_relaxed) || c->state.load(std::memory_order_acquire) != COUNTING)
    return;
  // Not from an alternate signal stack (the program's, or the agent's that
  // stands in for it, fault_handler.cc): opening the code for writing and the
  // planning need more stack than a small one may have. A later fault
  // elsewhere patches the site.
  if (on_alternate_stack()) return;
  if (!try_lock()) return;  // another thread is patching: this site stays on the fault path for now
  if (c->state.load(std::memory_order_acquire) == COUNTING) {
    Result r = Result::LATER;
    if (!writer_open()) {
      r = refuse(trace::UnpatchedReason::CODE_UNWRITABLE);
    } else {
      r = patch_site(ctx, cpu, map_id);
    }
    writer_close();
    if (r == Result::PATCHED && attached()) g_agent.channel->patched_sites.fetch_add(1, std::memory_order_relaxed);
    if (r != Result::LATER) c->state.store(SETTLED, std::memory_order_release);
  }
  unlock();
}

bool trap(const siginfo_t* si, ucontext_t* uc) {
  const Trap t = code_trap(si, uc);
  if (t == Trap::NOT_OURS) return false;
  // Stale: write the byte again, under the lock so that no poke is in
  // progress meanwhile (try-lock: if a patch is being made, its own writes
  // refresh the view, or the next trap tries again).
  if (t == Trap::RESUME_STALE && try_lock()) {
    const auto at = static_cast<uint64_t>(uc->uc_mcontext.gregs[REG_RIP]);
    const bool ok = writer_open() && refresh(at);
    writer_close();
    unlock();
    if (g_log) {
      SafeBuf m;
      m.str("mmiotrace: patch: ")
          .str(ok ? "refreshed" : "could not refresh")
          .str(" a stale INT3 at ")
          .hex(at)
          .str("\n");
      m.write_to(STDERR_FILENO);
    }
  }
  return true;
}

bool translate(uint64_t exec_pc, Moved* out) {
  if (!code_cache().contains(exec_pc)) return false;
  const unsigned n = g_n_patches.load(std::memory_order_acquire);
  for (unsigned i = 0; i < n; ++i) {
    const Patch& p = g_patches[i];
    if (!has_trampolines(p)) continue;
    if (p.site.copy == exec_pc) {
      *out = p.site;
      return true;
    }
    if (p.evicts && p.evictee.copy == exec_pc) {
      *out = p.evictee;
      return true;
    }
  }
  return false;
}

bool original_at(uint64_t pc, Moved* out) {
  const unsigned n = g_n_patches.load(std::memory_order_acquire);
  for (unsigned i = 0; i < n; ++i) {
    const Patch& p = g_patches[i];
    if (!has_trampolines(p)) continue;
    if (p.site.pc == pc) {
      *out = p.site;
      return true;
    }
    if (p.evicts && p.evictee.pc == pc) {
      *out = p.evictee;
      return true;
    }
  }
  return false;
}

void frame_to_original(ucontext_t* uc) {
  const auto rip = static_cast<uint64_t>(uc->uc_mcontext.gregs[REG_RIP]);
  if (!code_cache().contains(rip)) return;
  const unsigned n = g_n_patches.load(std::memory_order_acquire);
  for (unsigned i = 0; i < n; ++i) {
    const Patch& p = g_patches[i];
    if (!has_trampolines(p)) continue;
    for (const Moved* m : {&p.site, p.evicts ? &p.evictee : nullptr}) {
      if (m == nullptr || m->copy == 0) continue;
      if (rip == m->copy) uc->uc_mcontext.gregs[REG_RIP] = static_cast<greg_t>(m->pc);
      const uint64_t after = m->pc + m->len;
      if (rip == m->copy + m->copy_len) uc->uc_mcontext.gregs[REG_RIP] = static_cast<greg_t>(after);
    }
  }
}

void after_device_unmap() {
  if (g_n_patches.load(std::memory_order_acquire) == 0) return;
  lock();
  if (writer_open()) {
    const unsigned n = g_n_patches.load(std::memory_order_acquire);
    for (unsigned i = 0; i < n; ++i) {
      Patch& p = g_patches[i];
      if (state_of(p) != PatchState::LIVE || map_alive(p.map_id)) continue;
      undo(p, PatchState::UNDONE);
      // Hot again if the program maps a device and runs it again.
      if (state_of(p) == PatchState::UNDONE) reset_counter(p.site.pc);
    }
  }
  writer_close();
  unlock();
}

void code_unmapped(uint64_t start, uint64_t end) {
  if (g_n_patches.load(std::memory_order_acquire) == 0) return;
  lock();
  const unsigned n = g_n_patches.load(std::memory_order_acquire);
  for (unsigned i = 0; i < n; ++i) {
    Patch& p = g_patches[i];
    const PatchState s = state_of(p);
    if (s == PatchState::FREE || s == PatchState::GONE) continue;
    if ((p.site.pc >= start && p.site.pc < end) || (p.evicts && p.evictee.pc >= start && p.evictee.pc < end)) {
      forget(p);
    }
  }
  unlock();
}

void after_dlclose() {
  if (g_n_patches.load(std::memory_order_acquire) == 0) return;
  lock();
  const unsigned n = g_n_patches.load(std::memory_order_acquire);
  for (unsigned i = 0; i < n; ++i) {
    Patch& p = g_patches[i];
    const auto s = static_cast<PatchState>(p.state.load(std::memory_order_acquire));
    if (s != PatchState::LIVE && s != PatchState::UNDONE) continue;
    const uint8_t* want = s == PatchState::LIVE ? p.code.bytes : p.site.bytes;
    uint8_t now[16];
    if (read_code(p.site.pc, now, p.site.len) != p.site.len || memcmp(now, want, p.site.len) != 0) forget(p);
  }
  unlock();
}

void fork_prepare() { lock(); }
void fork_parent() { unlock(); }
void fork_child() { unlock(); }

}  // namespace mmiotrace::agent::patch
