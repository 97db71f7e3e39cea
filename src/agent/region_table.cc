// Async-signal-safe: find() and next_start_after() run in the traced program's
// signal handler; no allocation, no locks (seqlock readers).
#include "agent/region_table.h"

#include <cstdint>
#include <utility>

#include "common/check.h"
#include "common/handler_rules.h"

MT_HANDLER_RULES

namespace mmiotrace::agent {

bool RegionTable::read_entry(const Entry& e, RegionInfo* out) const {
  constexpr auto acq = std::memory_order_acquire;
  for (;;) {
    uint32_t g1 = e.gen.load(acq);
    if (g1 & 1u) continue;  // a writer is in the middle of it
    // Acquire loads: if one of them reads a value of a later write, that
    // write's odd gen happens-before the check below, which then fails.
    bool live = e.live.load(acq) != 0;
    RegionInfo copy;
    copy.start = e.start.load(acq);
    copy.end = e.end.load(acq);
    copy.real = AgentAddr(e.real.load(acq));
    copy.phys = PhysAddr(e.phys.load(acq));
    copy.offset = DeviceOffset(e.offset.load(acq));
    copy.map_id = e.map_id.load(acq);
    copy.prot = e.prot.load(acq);
    copy.pkey = e.pkey.load(acq);
    copy.backend = static_cast<uint8_t>(e.backend.load(acq));
    copy.backend_ref = e.backend_ref.load(acq);
    if (e.gen.load(std::memory_order_relaxed) == g1) {
      *out = copy;
      return live;
    }
  }
}

void RegionTable::write_entry(Entry& e, const RegionInfo& info, bool live) {
  constexpr auto rel = std::memory_order_release;
  MT_CHECK(writer_lock_.load(std::memory_order_relaxed));  // writers are serialized (and readers see odd gens)
  MT_CHECK(!live || info.start < info.end);
  e.gen.fetch_add(1, std::memory_order_relaxed);  // odd: readers retry (writers hold the writer lock)
  // Release stores: each is ordered after the odd gen for a reader that sees it.
  e.start.store(info.start, rel);
  e.end.store(info.end, rel);
  e.real.store(info.real.value(), rel);
  e.phys.store(info.phys.value(), rel);
  e.offset.store(info.offset.value(), rel);
  e.map_id.store(info.map_id, rel);
  e.prot.store(info.prot, rel);
  e.pkey.store(info.pkey, rel);
  e.backend.store(info.backend, rel);
  e.backend_ref.store(info.backend_ref, rel);
  e.live.store(live ? 1 : 0, rel);
  e.gen.fetch_add(1, rel);  // even again: the entry is consistent
}

// Runs `scan` until it sees the table unchanged from start to end; `scan`
// returns {done, result}: done (a positive answer, which a consistent entry
// copy makes trustworthy) ends the loop at once.
template <typename Scan>
auto RegionTable::stable_scan(Scan scan) const {
  for (;;) {
    uint32_t v = version_.load(std::memory_order_acquire);
    auto [done, result] = scan(used_.load(std::memory_order_acquire));
    if (done) return result;
    if ((v & 1u) == 0 && version_.load(std::memory_order_acquire) == v) return result;
    __builtin_ia32_pause();
  }
}

bool RegionTable::find(uint64_t addr, RegionInfo* out) const {
  return stable_scan([&](uint32_t n) {
    for (uint32_t i = 0; i < n; ++i) {
      RegionInfo r;
      if (read_entry(entries_[i], &r) && addr >= r.start && addr < r.end) {
        *out = r;
        return std::pair{true, true};
      }
    }
    return std::pair{false, false};
  });
}

const RegionInfo* RegionTable::find_cached(uint64_t addr, RegionCache* cache) const {
  const uint32_t v = version_.load(std::memory_order_acquire);
  if (v == cache->version && cache->info.contains(addr)) return &cache->info;
  cache->version = 1;  // invalid while it is refilled
  if (!find(addr, &cache->info)) return nullptr;
  // The copy is the table at version `v` if the table was not changing when
  // `v` was read and has not changed since (the seqlock argument of
  // stable_scan: a write the copy saw would have made the version odd
  // first, and the acquire loads of the copy come before this one).
  if ((v & 1u) == 0 && version_.load(std::memory_order_acquire) == v) cache->version = v;
  return &cache->info;
}

uint64_t RegionTable::next_start_after(uint64_t addr) const {
  return stable_scan([&](uint32_t n) {
    uint64_t best = UINT64_MAX;
    for (uint32_t i = 0; i < n; ++i) {
      RegionInfo r;
      if (read_entry(entries_[i], &r) && r.start > addr && r.start < best) best = r.start;
    }
    return std::pair{false, best};
  });
}

bool RegionTable::overlaps(uint64_t start, uint64_t end) const {
  return stable_scan([&](uint32_t n) {
    for (uint32_t i = 0; i < n; ++i) {
      RegionInfo r;
      if (read_entry(entries_[i], &r) && r.start < end && start < r.end) return std::pair{true, true};
    }
    return std::pair{false, false};
  });
}

bool RegionTable::has_map(uint32_t map_id) const {
  return stable_scan([&](uint32_t n) {
    for (uint32_t i = 0; i < n; ++i) {
      RegionInfo r;
      if (read_entry(entries_[i], &r) && r.map_id == map_id) return std::pair{true, true};
    }
    return std::pair{false, false};
  });
}

void RegionTable::for_each(void (*fn)(const RegionInfo&, void*), void* ctx) const {
  const uint32_t n = used_.load(std::memory_order_acquire);
  for (uint32_t i = 0; i < n; ++i) {
    RegionInfo r;
    if (read_entry(entries_[i], &r)) fn(r, ctx);
  }
}

void RegionTable::lock() {
  while (writer_lock_.exchange(true, std::memory_order_acquire)) {
    __builtin_ia32_pause();
  }
  version_.fetch_add(1, std::memory_order_acq_rel);  // odd: the table is changing
}

void RegionTable::unlock() {
  version_.fetch_add(1, std::memory_order_release);
  writer_lock_.store(false, std::memory_order_release);
}

unsigned RegionTable::spare_slots() const {
  uint32_t n = used_.load(std::memory_order_relaxed);
  unsigned spare = kCapacity - n;
  for (uint32_t i = 0; i < n; ++i) spare += entries_[i].live.load(std::memory_order_relaxed) == 0;
  return spare;
}

// New entries a remove_range (holes) or protect_range (head and tail pieces)
// of [start, end) needs.
unsigned RegionTable::slots_needed(uint64_t start, uint64_t end, bool protect) const {
  unsigned needed = 0;
  uint32_t n = used_.load(std::memory_order_relaxed);
  for (uint32_t i = 0; i < n; ++i) {
    RegionInfo r;
    if (!read_entry(entries_[i], &r) || r.end <= start || end <= r.start) continue;
    if (protect) {
      needed += (start > r.start) + (end < r.end);
    } else {
      needed += start > r.start && end < r.end;
    }
  }
  return needed;
}

int RegionTable::free_slot() {
  uint32_t n = used_.load(std::memory_order_relaxed);
  for (uint32_t i = 0; i < n; ++i) {
    if (entries_[i].live.load(std::memory_order_relaxed) == 0) return static_cast<int>(i);
  }
  if (n == kCapacity) return -1;
  used_.store(n + 1, std::memory_order_release);
  return static_cast<int>(n);
}

// The part of `r` within [from, to) (empty: start >= end), with its real and
// physical addresses moved along.
RegionInfo RegionTable::slice(const RegionInfo& r, uint64_t from, uint64_t to) {
  RegionInfo p = r;
  p.start = from > r.start ? from : r.start;
  p.end = to < r.end ? to : r.end;
  p.real = r.real_at(p.start);
  p.phys = r.phys_at(p.start);
  p.offset = r.offset_at(p.start);
  return p;
}

bool RegionTable::add(const RegionInfo& r) {
  lock();
  int slot = free_slot();
  if (slot >= 0) write_entry(entries_[slot], r, true);
  unlock();
  return slot >= 0;
}

bool RegionTable::remove_range(uint64_t start, uint64_t end, void (*removed)(const RegionInfo&, void*), void* ctx) {
  lock();
  if (slots_needed(start, end, false) > spare_slots()) {
    unlock();
    return false;
  }
  uint32_t n = used_.load(std::memory_order_relaxed);
  for (uint32_t i = 0; i < n; ++i) {
    RegionInfo r;
    if (!read_entry(entries_[i], &r) || r.end <= start || end <= r.start) continue;
    // The region in three pieces: kept head, removed middle, kept tail.
    RegionInfo head = slice(r, r.start, start), piece = slice(r, start, end), tail = slice(r, end, r.end);
    if (tail.start < tail.end) {
      int slot = head.start < head.end ? free_slot() : static_cast<int>(i);
      write_entry(entries_[slot], tail, true);  // before the head shrinks: no address goes missing
    }
    if (head.start < head.end) write_entry(entries_[i], head, true);
    if (head.start >= head.end && tail.start >= tail.end) write_entry(entries_[i], r, false);
    removed(piece, ctx);
  }
  unlock();
  return true;
}

bool RegionTable::protect_range(uint64_t start, uint64_t end, int prot, void (*changed)(const RegionInfo&, void*),
                                void* ctx) {
  lock();
  if (slots_needed(start, end, true) > spare_slots()) {
    unlock();
    return false;
  }
  uint32_t n = used_.load(std::memory_order_relaxed);
  for (uint32_t i = 0; i < n; ++i) {
    RegionInfo r;
    if (!read_entry(entries_[i], &r) || r.end <= start || end <= r.start) continue;
    // Split so that the changed piece is an entry of its own.
    RegionInfo parts[3] = {slice(r, r.start, start), slice(r, start, end), slice(r, end, r.end)};
    parts[1].prot = prot;
    // Add the untouched pieces before shrinking the entry, so that no address
    // of the region is missing from the table at any moment.
    for (int k : {0, 2}) {
      if (parts[k].start < parts[k].end) {
        int slot = free_slot();
        if (slot >= 0) write_entry(entries_[slot], parts[k], true);
      }
    }
    write_entry(entries_[i], parts[1], true);
    changed(parts[1], ctx);
  }
  unlock();
  return true;
}

}  // namespace mmiotrace::agent
