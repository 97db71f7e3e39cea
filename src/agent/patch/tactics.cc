// Async-signal-safe: pure computation over the caller's view of the code and
// its AddressSpace (which runs under the patcher's lock).
#include "agent/patch/tactics.h"

#include <cstring>

#include "common/check.h"
#include "common/handler_rules.h"

MT_HANDLER_RULES

namespace mmiotrace::agent::patch {

namespace {

constexpr uint8_t kJmp = 0xe9;
constexpr uint8_t kJmp8 = 0xeb;
constexpr uint8_t kInt3 = 0xcc;
// Redundant prefixes before a jmp rel32, by count: REX.W last (a REX prefix
// must come right before the opcode), segment overrides first. None changes a
// near jmp in 64-bit mode (SDM Vol. 2, JMP; 2.2.1: REX.W is ignored there).
// Not 66h: AMD processors honour it on near branches.
constexpr uint8_t kPrefixes[4][3] = {{}, {0x48}, {0x26, 0x48}, {0x26, 0x36, 0x48}};
constexpr int64_t kRel32Min = INT32_MIN, kRel32Max = INT32_MAX;
// Candidate addresses an eviction's trampoline is tried at (T2).
constexpr unsigned kEvicteeCandidates = 8192;

struct Window {
  uint64_t lo = 1, hi = 0;  // inclusive; empty when lo > hi
};

// Targets of a jmp rel32 whose opcode is at `at`, with the low `open` bytes of
// the displacement free to choose and the high ones `fixed` (their value, little-endian).
Window jump_window(uint64_t at, unsigned open_bytes, uint32_t fixed) {
  const int64_t next = static_cast<int64_t>(at + 5);
  int64_t lo, hi;
  if (open_bytes >= 4) {
    lo = next + kRel32Min;
    hi = next + kRel32Max;
  } else {
    const uint32_t base = open_bytes == 0 ? fixed : fixed << (8 * open_bytes);
    const uint32_t top = base | (open_bytes == 0 ? 0u : (uint32_t{1} << (8 * open_bytes)) - 1);
    lo = next + static_cast<int32_t>(base);
    hi = next + static_cast<int32_t>(top);
  }
  Window w;
  if (hi < 0) return w;
  w.lo = lo < 0 ? 0 : static_cast<uint64_t>(lo);
  w.hi = static_cast<uint64_t>(hi);
  return w;
}

void put_rel32(uint8_t* out, uint64_t at, uint64_t target) {
  const auto rel = static_cast<int32_t>(static_cast<int64_t>(target - (at + 5)));
  memcpy(out, &rel, 4);
}

bool all_may_change(const CodeView& v, uint64_t addr, unsigned n) {
  for (unsigned i = 0; i < n; ++i) {
    if (v.may_change != nullptr && !v.may_change(addr + i)) return false;
  }
  return true;
}

// The value of the bytes [addr, addr + n) of the view (n <= 4), if they are
// readable and may stay as they are under a punned jump.
bool fixed_bytes(const CodeView& v, uint64_t addr, unsigned n, uint32_t* value) {
  *value = 0;
  for (unsigned i = 0; i < n; ++i) {
    const uint64_t a = addr + i;
    if (a < v.base || a - v.base >= v.n) return false;
    if (v.may_pun != nullptr && !v.may_pun(a)) return false;
    *value |= static_cast<uint32_t>(v.bytes[a - v.base]) << (8 * i);
  }
  return true;
}

void add_pun(TacticPlan* plan, uint64_t addr, unsigned n) {
  MT_CHECK(plan->n_puns < 2 && n <= 4);
  plan->pun_addr[plan->n_puns] = addr;
  plan->pun_len[plan->n_puns] = static_cast<uint8_t>(n);
  ++plan->n_puns;
}

uint64_t find_and_take(AddressSpace& space, Window w, unsigned size, uint64_t near) {
  if (w.lo > w.hi) return 0;
  const uint64_t e = space.find(w.lo, w.hi, size, near);
  if (e == 0 || !space.take(e, size)) return 0;
  return e;
}

// B2 and T1: the site of L < 5 bytes (or, with prefix 0 and L >= 5, B1).
bool punned(const CodeView& v, AddressSpace& space, unsigned prefix, TacticPlan* plan) {
  const uint64_t p = v.start[0];
  const unsigned len = v.len[0];
  const uint64_t at = p + prefix;  // the E9
  const unsigned open_bytes = len - 1 - prefix >= 4 ? 4 : len - 1 - prefix;
  uint32_t fixed = 0;
  if (open_bytes < 4 && !fixed_bytes(v, p + len, 4 - open_bytes, &fixed)) return false;
  const uint64_t entry = find_and_take(space, jump_window(at, open_bytes, fixed), kEntryBytes, p);
  if (entry == 0) return false;
  Rewrite& r = plan->rewrite[0];
  r.addr = p;
  r.len = static_cast<uint8_t>(len);
  memset(r.bytes, kInt3, sizeof r.bytes);
  memcpy(r.bytes, kPrefixes[prefix], prefix);
  r.bytes[prefix] = kJmp;
  uint8_t rel[4];
  put_rel32(rel, at, entry);
  memcpy(r.bytes + prefix + 1, rel, open_bytes);
  plan->n_rewrites = 1;
  plan->site_entry = entry;
  if (open_bytes < 4) add_pun(plan, p + len, 4 - open_bytes);
  plan->tactic = len >= 5 ? Tactic::B1 : prefix == 0 ? Tactic::B2 : Tactic::T1;
  return true;
}

// T2: the successor J is evicted; its jump's first bytes become the high
// bytes of the site's displacement. Candidates for J's trampoline are tried
// near J; each fixes the bytes of J's displacement the site's jump overlaps,
// and so the site's window.
bool successor_eviction(const CodeView& v, AddressSpace& space, TacticPlan* plan) {
  const uint64_t p = v.start[0];
  const unsigned len = v.len[0];
  if (len >= 5 || len < 2 || v.count < 2) return false;
  const uint64_t j = v.start[1];
  const unsigned jlen = v.len[1];
  if (j != p + len || !all_may_change(v, j, jlen)) return false;
  if (v.may_evict != nullptr && !v.may_evict(v.bytes + (j - v.base), jlen, j)) return false;
  const unsigned j_open = jlen - 1 >= 4 ? 4 : jlen - 1;
  uint32_t kfixed = 0;
  if (j_open < 4 && !fixed_bytes(v, j + jlen, 4 - j_open, &kfixed)) return false;
  const Window jw = jump_window(j, j_open, kfixed);
  const unsigned m = 4 - len;  // bytes of J's displacement the site's rel32 covers (after J's E9)
  if (m > j_open) return false;
  const uint32_t m_mask = m == 0 ? 0 : (m == 4 ? ~0u : (uint32_t{1} << (8 * m)) - 1);
  uint64_t lo = jw.lo;
  unsigned tried = 0;
  while (lo <= jw.hi && tried < kEvicteeCandidates) {
    const uint64_t first = space.find(lo, jw.hi, kEvicteeBytes, j);
    if (first == 0) return false;
    // Try the addresses from `first` on while they are open_bytes.
    for (uint64_t a = first; a <= jw.hi && tried < kEvicteeCandidates; ++a, ++tried) {
      if (space.find(a, a, kEvicteeBytes, a) != a) break;
      const uint32_t rel_j = static_cast<uint32_t>(static_cast<int64_t>(a - (j + 5)));
      const uint32_t high = kJmp | ((rel_j & m_mask) << 8);  // J's E9, then its displacement's low bytes
      const Window iw = jump_window(p, len - 1, high);
      if (iw.lo > iw.hi) continue;
      const uint64_t e = space.find(iw.lo, iw.hi, kEntryBytes, p);
      if (e == 0 || (e < a + kEvicteeBytes && a < e + kEntryBytes)) continue;
      if (!space.take(a, kEvicteeBytes) || !space.take(e, kEntryBytes)) return false;
      Rewrite& site = plan->rewrite[0];
      site.addr = p;
      site.len = static_cast<uint8_t>(len);
      site.bytes[0] = kJmp;
      uint8_t rel[4];
      put_rel32(rel, p, e);
      memcpy(site.bytes + 1, rel, len - 1);
      Rewrite& ev = plan->rewrite[1];
      ev.addr = j;
      ev.len = static_cast<uint8_t>(jlen);
      memset(ev.bytes, kInt3, sizeof ev.bytes);
      ev.bytes[0] = kJmp;
      put_rel32(rel, j, a);
      memcpy(ev.bytes + 1, rel, j_open);
      // The site's jump reads on into J's new bytes: they must agree.
      uint8_t whole[5] = {kJmp, 0, 0, 0, 0};
      put_rel32(whole + 1, p, e);
      for (unsigned k = len; k < 5; ++k) MT_CHECK(whole[k] == ev.bytes[k - len]);
      plan->n_rewrites = 2;
      plan->site_entry = e;
      if (j_open < 4) add_pun(plan, j + jlen, 4 - j_open);
      plan->evicts = true;
      plan->evictee_pc = j;
      plan->evictee_len = static_cast<uint8_t>(jlen);
      plan->evictee_entry = a;
      plan->tactic = Tactic::T2;
      return true;
    }
    lo = (first | 4095) + 1;  // on to the next page
  }
  return false;
}

// T3: the site becomes jmp rel8 to X inside a later instruction J of 6+ bytes;
// J's first 5 bytes jump to J's own trampoline, and X holds the site's jump.
bool neighbour_eviction(const CodeView& v, AddressSpace& space, TacticPlan* plan) {
  const uint64_t p = v.start[0];
  const unsigned len = v.len[0];
  if (len < 2 || len >= 5 || !all_may_change(v, p, len)) return false;
  for (unsigned k = 1; k < v.count; ++k) {
    const uint64_t j = v.start[k];
    const unsigned jlen = v.len[k];
    if (j + 5 > p + 2 + 127) break;  // no room for a jmp rel8's reach
    if (jlen < 6) continue;
    if (!all_may_change(v, j, jlen)) continue;
    if (v.may_evict != nullptr && !v.may_evict(v.bytes + (j - v.base), jlen, j)) continue;
    for (uint64_t x = j + 5; x < j + jlen && x <= p + 2 + 127; ++x) {
      const unsigned inside = static_cast<unsigned>(j + jlen - (x + 1));  // displacement bytes within J
      const unsigned open_bytes = inside >= 4 ? 4 : inside;
      uint32_t fixed = 0;
      if (open_bytes < 4 && !fixed_bytes(v, j + jlen, 4 - open_bytes, &fixed)) continue;
      const Window sw = jump_window(x, open_bytes, fixed);
      const uint64_t e = space.find(sw.lo, sw.hi, kEntryBytes, p);
      if (e == 0) continue;
      const Window jw = jump_window(j, 4, 0);
      const uint64_t a = space.find(jw.lo, jw.hi, kEvicteeBytes, j);
      if (a == 0 || (e < a + kEvicteeBytes && a < e + kEntryBytes)) continue;
      if (!space.take(e, kEntryBytes) || !space.take(a, kEvicteeBytes)) return false;
      Rewrite& site = plan->rewrite[0];
      site.addr = p;
      site.len = static_cast<uint8_t>(len);
      memset(site.bytes, kInt3, sizeof site.bytes);
      site.bytes[0] = kJmp8;
      site.bytes[1] = static_cast<uint8_t>(x - (p + 2));
      Rewrite& ev = plan->rewrite[1];
      ev.addr = j;
      ev.len = static_cast<uint8_t>(jlen);
      memset(ev.bytes, kInt3, sizeof ev.bytes);
      ev.bytes[0] = kJmp;
      put_rel32(ev.bytes + 1, j, a);
      uint8_t rel[4];
      put_rel32(rel, x, e);
      ev.bytes[x - j] = kJmp;
      memcpy(ev.bytes + (x - j) + 1, rel, open_bytes);
      plan->n_rewrites = 2;
      plan->site_entry = e;
      if (open_bytes < 4) add_pun(plan, j + jlen, 4 - open_bytes);
      plan->evicts = true;
      plan->evictee_pc = j;
      plan->evictee_len = static_cast<uint8_t>(jlen);
      plan->evictee_entry = a;
      plan->tactic = Tactic::T3;
      return true;
    }
  }
  return false;
}

}  // namespace

const char* tactic_name(Tactic t) {
  switch (t) {
    case Tactic::NONE:
      return "none";
    case Tactic::B1:
      return "jump";
    case Tactic::B2:
      return "punned jump";
    case Tactic::T1:
      return "padded punned jump";
    case Tactic::T2:
      return "successor eviction";
    case Tactic::T3:
      return "neighbour eviction";
  }
  return "?";
}

TacticPlan choose_tactic(const CodeView& v, AddressSpace& space) {
  TacticPlan plan;
  if (v.count == 0 || v.start[0] != v.base) return plan;
  const unsigned len = v.len[0];
  if (!all_may_change(v, v.base, len)) return plan;
  if (punned(v, space, 0, &plan)) return plan;  // B1 or B2
  for (unsigned prefix = 1; prefix < len && prefix < 4 && len < 5; ++prefix) {
    if (punned(v, space, prefix, &plan)) return plan;  // T1
  }
  if (successor_eviction(v, space, &plan)) return plan;
  if (neighbour_eviction(v, space, &plan)) return plan;
  return TacticPlan{};
}

}  // namespace mmiotrace::agent::patch
