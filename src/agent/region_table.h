// RegionTable: the device mappings the agent has armed. Each entry maps a
// program address range (which always faults) to the agent's real mapping of
// the same device bytes and to their physical address.
//
// Readers run in the signal handler and take no lock: each entry is a seqlock
// (odd `gen` while a writer changes it) and a reader copies the entry out,
// retrying if it changed underneath. Writers are the mmap/munmap/mprotect
// interposers, serialized by a spinlock among themselves.
//
// The entry's fields are atomics, stored with release and loaded with
// acquire: a reader that sees any field of a write in progress is then
// guaranteed to see that write's odd `gen` when it checks again. This is the
// seqlock without standalone fences, so it is a data-race-free program that
// ThreadSanitizer can check; on x86 these loads and stores are plain moves.
//
// Async-signal-safe (find, next_start_after): no allocation, no locks.
#pragma once

#include <atomic>
#include <cstdint>

#include "common/address.h"

namespace mmiotrace::agent {

struct RegionInfo {
  uint64_t start = 0;   // program address, page aligned
  uint64_t end = 0;     // exclusive, page aligned
  AgentAddr real;       // agent's mapping of `start`
  PhysAddr phys;        // physical address of `start`
  DeviceOffset offset;  // offset of `start` into its device (its BAR, file or UIO map): injection rules' offsets
  uint32_t map_id = 0;
  int prot = 0;              // PROT_* the program has on the range
  int pkey = -1;             // how the program's range is armed (arming.h): a protection key, or -1: PROT_NONE
  uint8_t backend = 0;       // how its accesses are performed (agent/backend/backend.h): 0 the real mapping
  uint32_t backend_ref = 0;  // the backend's own reference (which recorded device, which model BAR)

  uint64_t size() const { return end - start; }
  bool contains(uint64_t addr) const { return addr >= start && addr < end; }
  // Program address `addr` (within the region) in the other spaces.
  AgentAddr real_at(uint64_t addr) const { return real + (addr - start); }
  uint8_t* real_pointer(uint64_t addr) const { return host_pointer(real_at(addr)); }
  PhysAddr phys_at(uint64_t addr) const { return phys + (addr - start); }
  DeviceOffset offset_at(uint64_t addr) const { return offset + (addr - start); }
};

// One thread's copy of the region it found last (RegionTable::find_cached),
// valid while the table's version is the one it was copied at.
struct RegionCache {
  uint32_t version = 1;  // odd: matches no version (a table is odd only while it changes)
  RegionInfo info;
};

class RegionTable {
 public:
  static constexpr unsigned kCapacity = 512;

  // Copies the region containing `addr` into *out.
  bool find(uint64_t addr, RegionInfo* out) const;
  // The same through `cache`, which one thread owns and only this function
  // touches: when the table has not changed since the cache was filled and
  // `addr` is in the cached region, one load answers; otherwise find() does
  // and fills the cache. The region (in the cache), or null if `addr` is in
  // none. For the fast path (agent/patch), whose accesses hit the same
  // region over and over. Not for a signal handler that may interrupt the
  // cache's owner inside this function.
  const RegionInfo* find_cached(uint64_t addr, RegionCache* cache) const;
  // The lowest region start above `addr`, or UINT64_MAX.
  uint64_t next_start_after(uint64_t addr) const;

  // Writers. Each returns false, having changed nothing, when the table has
  // no room for the entries the change needs (the interposers answer ENOMEM,
  // as the kernel does when a split would exceed the mapping limit).
  bool add(const RegionInfo& r);
  // Removes [start, end) from every region it overlaps, calling
  // `removed(piece, ctx)` for each removed piece (with its real address).
  bool remove_range(uint64_t start, uint64_t end, void (*removed)(const RegionInfo&, void*), void* ctx);
  // Sets the program protection of [start, end) where it overlaps regions,
  // calling `changed(piece, ctx)` for each piece.
  bool protect_range(uint64_t start, uint64_t end, int prot, void (*changed)(const RegionInfo&, void*), void* ctx);
  bool overlaps(uint64_t start, uint64_t end) const;
  // Whether some part of mapping `map_id` is still in the table.
  bool has_map(uint32_t map_id) const;
  // Calls `fn(region, ctx)` for every region (no writer may run: a fork
  // child's only thread, record --no-follow).
  void for_each(void (*fn)(const RegionInfo&, void*), void* ctx) const;

 private:
  struct Entry {
    std::atomic<uint32_t> gen{0};
    std::atomic<uint32_t> live{0};
    // RegionInfo, field by field.
    std::atomic<uint64_t> start{0};
    std::atomic<uint64_t> end{0};
    std::atomic<uint64_t> real{0};
    std::atomic<uint64_t> phys{0};
    std::atomic<uint64_t> offset{0};
    std::atomic<uint32_t> map_id{0};
    std::atomic<int> prot{0};
    std::atomic<int> pkey{-1};
    std::atomic<uint32_t> backend{0};
    std::atomic<uint32_t> backend_ref{0};
  };
  bool read_entry(const Entry& e, RegionInfo* out) const;
  void write_entry(Entry& e, const RegionInfo& info, bool live);
  static RegionInfo slice(const RegionInfo& r, uint64_t from, uint64_t to);
  int free_slot();
  unsigned spare_slots() const;
  unsigned slots_needed(uint64_t start, uint64_t end, bool protect) const;
  void lock();
  void unlock();
  template <typename Scan>
  auto stable_scan(Scan scan) const;

  Entry entries_[kCapacity];
  std::atomic<uint32_t> used_{0};  // entries [0, used_) have ever been live
  std::atomic<bool> writer_lock_{false};
  // The whole table's seqlock: odd while a writer changes it. An entry's own
  // seqlock makes each copy consistent; this one lets a reader that found
  // nothing tell "not there" from "moved to a slot I had passed" (a split
  // puts a piece in another slot before shrinking the original).
  std::atomic<uint32_t> version_{0};
};

}  // namespace mmiotrace::agent
