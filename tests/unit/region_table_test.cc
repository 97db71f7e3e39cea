// RegionTable (src/agent/region_table.h): lookups (and the fast path's cached
// ones), removing a whole region, a head, a tail and a hole in the middle,
// changing the protection of a middle piece, running out of slots, and
// seqlock readers racing a writer.
#include "agent/region_table.h"

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

namespace mmiotrace::agent {
namespace {

constexpr uint64_t kPage = 0x1000;
constexpr uint64_t kBase = 0x10000000;      // program address of the region
constexpr uint64_t kReal = 0x7f0000000000;  // agent's mapping of kBase
constexpr uint64_t kPhys = 0xfe000000;      // physical address of kBase
constexpr uint32_t kMapId = 7;
constexpr int kRW = PROT_READ | PROT_WRITE;

uint64_t page(uint64_t n) { return kBase + n * kPage; }

// The region [page(first), page(last)) of the mapping that starts at kBase.
RegionInfo piece(uint64_t first, uint64_t last, int prot = kRW) {
  return RegionInfo{page(first),
                    page(last),
                    AgentAddr(kReal + first * kPage),
                    PhysAddr(kPhys + first * kPage),
                    DeviceOffset(first * kPage),
                    kMapId,
                    prot};
}

RegionInfo region8() { return piece(0, 8); }

void collect(const RegionInfo& r, void* ctx) { static_cast<std::vector<RegionInfo>*>(ctx)->push_back(r); }

void expect_info(const RegionInfo& got, const RegionInfo& want) {
  EXPECT_EQ(got.start, want.start);
  EXPECT_EQ(got.end, want.end);
  EXPECT_EQ(got.real, want.real);
  EXPECT_EQ(got.phys, want.phys);
  EXPECT_EQ(got.offset, want.offset);  // injection rules match by it
  EXPECT_EQ(got.map_id, want.map_id);
  EXPECT_EQ(got.prot, want.prot);
}

// find(addr) succeeds and returns exactly `want`.
void expect_found(const RegionTable& t, uint64_t addr, const RegionInfo& want) {
  SCOPED_TRACE(::testing::Message() << "find(0x" << std::hex << addr << ")");
  RegionInfo got;
  ASSERT_TRUE(t.find(addr, &got));
  expect_info(got, want);
}

void expect_not_found(const RegionTable& t, uint64_t addr) {
  RegionInfo got;
  EXPECT_FALSE(t.find(addr, &got)) << "find(0x" << std::hex << addr << ") found [0x" << got.start << ", 0x" << got.end
                                   << ")";
}

// The region starts in the table, in order, by walking next_start_after
// (which cannot give more than kCapacity of them).
std::vector<uint64_t> starts(const RegionTable& t) {
  std::vector<uint64_t> out;
  for (uint64_t s = t.next_start_after(0); s != UINT64_MAX && out.size() <= RegionTable::kCapacity;
       s = t.next_start_after(s)) {
    out.push_back(s);
  }
  return out;
}

TEST(RegionTable, AddFindNextStartOverlaps) {
  RegionTable t;
  expect_not_found(t, kBase);
  EXPECT_EQ(t.next_start_after(0), UINT64_MAX);
  EXPECT_FALSE(t.overlaps(0, UINT64_MAX));

  RegionInfo a = piece(0, 4, PROT_READ);
  RegionInfo b{page(8), page(10), AgentAddr(0x7f0000100000), PhysAddr(0xd0000000), DeviceOffset(9), kRW};
  ASSERT_TRUE(t.add(a));
  ASSERT_TRUE(t.add(b));

  expect_found(t, page(0), a);
  expect_found(t, page(2) + 0x123, a);
  expect_found(t, page(4) - 1, a);
  expect_not_found(t, page(0) - 1);
  expect_not_found(t, page(4));
  expect_not_found(t, page(8) - 1);
  expect_found(t, page(8), b);
  expect_found(t, page(10) - 8, b);
  expect_not_found(t, page(10));

  EXPECT_EQ(t.next_start_after(0), page(0));
  EXPECT_EQ(t.next_start_after(page(0) - 1), page(0));
  EXPECT_EQ(t.next_start_after(page(0)), page(8));  // strictly above
  EXPECT_EQ(t.next_start_after(page(5)), page(8));
  EXPECT_EQ(t.next_start_after(page(8)), UINT64_MAX);

  EXPECT_TRUE(t.overlaps(page(3), page(5)));
  EXPECT_TRUE(t.overlaps(page(4) - 1, page(4)));
  EXPECT_FALSE(t.overlaps(page(4), page(8)));  // the gap between them; ends are exclusive
  EXPECT_FALSE(t.overlaps(0, page(0)));
  EXPECT_TRUE(t.overlaps(page(9), page(20)));
  EXPECT_FALSE(t.overlaps(page(10), page(20)));
  EXPECT_TRUE(t.overlaps(0, UINT64_MAX));
}

// find_cached answers from its cache while the table is unchanged and the
// address is in the cached region, and looks again after any change.
TEST(RegionTable, FindCachedUsesItsCopyUntilTheTableChanges) {
  RegionTable t;
  ASSERT_TRUE(t.add(region8()));
  ASSERT_TRUE(t.add(piece(20, 22)));
  RegionCache cache;
  const RegionInfo* r = t.find_cached(page(1), &cache);
  ASSERT_EQ(r, &cache.info);
  expect_info(*r, region8());

  // The table unchanged: the copy answers (marked, to tell it from a lookup).
  cache.info.map_id = 99;
  r = t.find_cached(page(7) + 8, &cache);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->map_id, 99u);
  // Another region, or none: looked up.
  r = t.find_cached(page(21), &cache);
  ASSERT_NE(r, nullptr);
  expect_info(*r, piece(20, 22));
  EXPECT_EQ(t.find_cached(page(12), &cache), nullptr);
  r = t.find_cached(page(1), &cache);
  ASSERT_NE(r, nullptr);
  expect_info(*r, region8());

  // A change anywhere in the table (here a protection change that splits the
  // cached region) makes the next call look again.
  cache.info.map_id = 99;
  std::vector<RegionInfo> changed;
  ASSERT_TRUE(t.protect_range(page(4), page(6), PROT_READ, collect, &changed));
  r = t.find_cached(page(1), &cache);
  ASSERT_NE(r, nullptr);
  expect_info(*r, piece(0, 4));
  r = t.find_cached(page(4), &cache);
  ASSERT_NE(r, nullptr);
  expect_info(*r, piece(4, 6, PROT_READ));
  t.remove_range(page(4), page(6), collect, &changed);
  EXPECT_EQ(t.find_cached(page(4), &cache), nullptr);
  EXPECT_EQ(t.find_cached(page(5), &cache), nullptr);
}

TEST(RegionTable, RemoveWholeRegion) {
  RegionTable t;
  ASSERT_TRUE(t.add(region8()));
  ASSERT_TRUE(t.add(piece(20, 22)));
  std::vector<RegionInfo> removed;
  // A range wider than the region removes all of it and nothing of its neighbour.
  t.remove_range(page(0) - kPage, page(12), collect, &removed);
  ASSERT_EQ(removed.size(), 1u);
  expect_info(removed[0], region8());
  for (uint64_t p = 0; p < 8; ++p) expect_not_found(t, page(p));
  EXPECT_FALSE(t.overlaps(page(0), page(8)));
  EXPECT_EQ(starts(t), std::vector<uint64_t>{page(20)});
  expect_found(t, page(21), piece(20, 22));

  // Removing where nothing is calls nothing.
  removed.clear();
  t.remove_range(page(0), page(8), collect, &removed);
  EXPECT_TRUE(removed.empty());
}

TEST(RegionTable, RemoveHead) {
  RegionTable t;
  ASSERT_TRUE(t.add(region8()));
  std::vector<RegionInfo> removed;
  t.remove_range(page(0) - kPage, page(2), collect, &removed);
  ASSERT_EQ(removed.size(), 1u);
  expect_info(removed[0], piece(0, 2));
  expect_not_found(t, page(0));
  expect_not_found(t, page(2) - 1);
  expect_found(t, page(2), piece(2, 8));
  expect_found(t, page(8) - 1, piece(2, 8));
  EXPECT_EQ(starts(t), std::vector<uint64_t>{page(2)});
}

TEST(RegionTable, RemoveTail) {
  RegionTable t;
  ASSERT_TRUE(t.add(region8()));
  std::vector<RegionInfo> removed;
  t.remove_range(page(6), page(10), collect, &removed);
  ASSERT_EQ(removed.size(), 1u);
  expect_info(removed[0], piece(6, 8));
  expect_found(t, page(0), piece(0, 6));
  expect_found(t, page(6) - 1, piece(0, 6));
  expect_not_found(t, page(6));
  expect_not_found(t, page(8) - 1);
  EXPECT_EQ(starts(t), std::vector<uint64_t>{page(0)});
}

TEST(RegionTable, RemoveMiddleHoleSplitsRegion) {
  RegionTable t;
  ASSERT_TRUE(t.add(region8()));
  std::vector<RegionInfo> removed;
  t.remove_range(page(2), page(5), collect, &removed);
  ASSERT_EQ(removed.size(), 1u);
  expect_info(removed[0], piece(2, 5));

  expect_found(t, page(0), piece(0, 2));
  expect_found(t, page(2) - 1, piece(0, 2));
  expect_not_found(t, page(2));
  expect_not_found(t, page(5) - 1);
  expect_found(t, page(5), piece(5, 8));
  expect_found(t, page(8) - 1, piece(5, 8));
  EXPECT_EQ(starts(t), (std::vector<uint64_t>{page(0), page(5)}));
  EXPECT_FALSE(t.overlaps(page(2), page(5)));
  EXPECT_TRUE(t.overlaps(page(4), page(6)));

  // Both pieces are ordinary entries: a second hole in the tail splits it again.
  removed.clear();
  t.remove_range(page(6), page(7), collect, &removed);
  ASSERT_EQ(removed.size(), 1u);
  expect_info(removed[0], piece(6, 7));
  expect_found(t, page(5), piece(5, 6));
  expect_found(t, page(7), piece(7, 8));
  EXPECT_EQ(starts(t), (std::vector<uint64_t>{page(0), page(5), page(7)}));
}

TEST(RegionTable, RemoveRangeAcrossRegionsReportsEachPiece) {
  RegionTable t;
  ASSERT_TRUE(t.add(piece(0, 4)));
  ASSERT_TRUE(t.add(piece(6, 10)));
  std::vector<RegionInfo> removed;
  t.remove_range(page(3), page(7), collect, &removed);
  ASSERT_EQ(removed.size(), 2u);
  expect_info(removed[0], piece(3, 4));
  expect_info(removed[1], piece(6, 7));
  expect_found(t, page(2), piece(0, 3));
  expect_found(t, page(9), piece(7, 10));
  expect_not_found(t, page(3));
  expect_not_found(t, page(6));
}

TEST(RegionTable, ProtectMiddlePieceSplitsIntoThree) {
  RegionTable t;
  ASSERT_TRUE(t.add(region8()));
  std::vector<RegionInfo> changed;
  t.protect_range(page(2), page(5), PROT_READ, collect, &changed);
  ASSERT_EQ(changed.size(), 1u);
  expect_info(changed[0], piece(2, 5, PROT_READ));

  EXPECT_EQ(starts(t), (std::vector<uint64_t>{page(0), page(2), page(5)}));
  expect_found(t, page(0), piece(0, 2, kRW));
  expect_found(t, page(2) - 1, piece(0, 2, kRW));
  expect_found(t, page(2), piece(2, 5, PROT_READ));
  expect_found(t, page(5) - 1, piece(2, 5, PROT_READ));
  expect_found(t, page(5), piece(5, 8, kRW));
  expect_found(t, page(8) - 1, piece(5, 8, kRW));
  expect_not_found(t, page(8));

  // Protecting a whole entry changes it in place: no new entries.
  changed.clear();
  t.protect_range(page(2), page(5), PROT_NONE, collect, &changed);
  ASSERT_EQ(changed.size(), 1u);
  expect_info(changed[0], piece(2, 5, PROT_NONE));
  EXPECT_EQ(starts(t), (std::vector<uint64_t>{page(0), page(2), page(5)}));
  expect_found(t, page(3), piece(2, 5, PROT_NONE));
  expect_found(t, page(1), piece(0, 2, kRW));

  // A range over all three entries changes each, reporting each piece.
  changed.clear();
  t.protect_range(page(1), page(6), PROT_WRITE, collect, &changed);
  ASSERT_EQ(changed.size(), 3u);
  std::vector<uint64_t> changed_starts;
  for (const RegionInfo& r : changed) changed_starts.push_back(r.start);
  std::sort(changed_starts.begin(), changed_starts.end());
  EXPECT_EQ(changed_starts, (std::vector<uint64_t>{page(1), page(2), page(5)}));
  expect_found(t, page(0), piece(0, 1, kRW));
  expect_found(t, page(1), piece(1, 2, PROT_WRITE));
  expect_found(t, page(4), piece(2, 5, PROT_WRITE));
  expect_found(t, page(5), piece(5, 6, PROT_WRITE));
  expect_found(t, page(7), piece(6, 8, kRW));
}

TEST(RegionTable, ProtectOutsideAnyRegionDoesNothing) {
  RegionTable t;
  ASSERT_TRUE(t.add(region8()));
  std::vector<RegionInfo> changed;
  t.protect_range(page(8), page(12), PROT_NONE, collect, &changed);
  EXPECT_TRUE(changed.empty());
  expect_found(t, page(7), region8());
  EXPECT_EQ(starts(t), std::vector<uint64_t>{page(0)});
}

TEST(RegionTable, CapacityExhaustion) {
  RegionTable t;
  for (unsigned i = 0; i < RegionTable::kCapacity; ++i) {
    ASSERT_TRUE(t.add(piece(2 * i, 2 * i + 1))) << "add #" << i;
  }
  const uint64_t beyond = 2 * RegionTable::kCapacity;
  EXPECT_FALSE(t.add(piece(beyond, beyond + 1)));
  expect_not_found(t, page(beyond));
  expect_found(t, page(0), piece(0, 1));
  expect_found(t, page(beyond - 2), piece(beyond - 2, beyond - 1));
  EXPECT_EQ(starts(t).size(), RegionTable::kCapacity);

  // Removing one frees its slot for the next add.
  std::vector<RegionInfo> removed;
  t.remove_range(page(10), page(11), collect, &removed);
  ASSERT_EQ(removed.size(), 1u);
  EXPECT_TRUE(t.add(piece(beyond, beyond + 1)));
  expect_found(t, page(beyond), piece(beyond, beyond + 1));
  expect_not_found(t, page(10));
  EXPECT_FALSE(t.add(piece(beyond + 2, beyond + 3)));
}

// Seqlock readers against a writer. Each round the writer rebuilds the
// 16-page region as one entry while the readers wait, then lets them run and
// splits it: protect_range of a middle piece, then of a piece of that piece,
// a hole punched (remove_range) and re-added (add) inside that, and a
// protect_range over everything. The readers look up every page but the two
// the writer removes and re-adds, so every address they look up is covered
// at every moment; find() must always succeed and return a consistent copy.
class RegionTableRace {
 public:
  static constexpr int kReaders = 2;
  static constexpr int kHoleFirst = 7, kHoleLast = 9;  // pages [7, 9) are removed and re-added
  static constexpr int kProts[] = {kRW, PROT_READ, PROT_WRITE, PROT_NONE, PROT_READ | PROT_EXEC};

  struct Failure {
    uint64_t addr = 0;
    bool found = false;
    RegionInfo info;
  };

  enum class Layout {
    // The table's slot count is settled before the first round (entries
    // added and removed above the region), so the writer's new pieces always
    // land in free slots above the region's own.
    kSettled,
    // Before the region is added, a short-lived entry takes slot 0 and is
    // removed again, so the writer's first new piece reuses a slot that the
    // readers scan before the region's own.
    kFreeSlotBelow,
    // A new table every round: the writer's new pieces grow the slot count
    // while the readers scan.
    kGrowing,
  };

  // `rounds` rounds, not a time budget: a loaded machine makes them take
  // longer, never fewer (with a budget, a writer kept from running for its
  // length did none).
  void run(uint64_t rounds, Layout layout) {
    std::vector<std::thread> readers;
    for (int r = 0; r < kReaders; ++r) readers.emplace_back([this, r] { reader(r); });
    if (layout != Layout::kGrowing) {
      for (int i = 0; i < 16; ++i) EXPECT_TRUE(table_->add(RegionInfo{page(100 + i), page(101 + i), {}, {}, {}, 1, 0}));
      table_->remove_range(page(100), page(116), ignore, nullptr);
    }
    while (rounds_ < rounds && failures_.load() == 0) {
      // Readers are parked: rebuild.
      if (layout == Layout::kGrowing) {
        table_ = std::make_unique<RegionTable>();
      } else {
        table_->remove_range(0, UINT64_MAX, ignore, nullptr);
      }
      if (layout == Layout::kFreeSlotBelow) {
        EXPECT_TRUE(table_->add(RegionInfo{page(200), page(201), {}, {}, {}, 1, 0}));
      }
      EXPECT_TRUE(table_->add(piece(0, 16)));
      if (layout == Layout::kFreeSlotBelow) table_->remove_range(page(200), page(201), ignore, nullptr);
      ready_.store(0);
      phase_.fetch_add(1, std::memory_order_release);  // odd: run
      while (ready_.load() < kReaders) std::this_thread::yield();
      table_->protect_range(page(4), page(12), kProts[1], ignore, nullptr);
      table_->protect_range(page(6), page(10), kProts[2], ignore, nullptr);
      table_->remove_range(page(kHoleFirst), page(kHoleLast), ignore, nullptr);
      EXPECT_TRUE(table_->add(piece(kHoleFirst, kHoleLast, kProts[3])));
      table_->protect_range(page(0), page(16), kProts[4], ignore, nullptr);
      ready_.store(0);
      phase_.fetch_add(1, std::memory_order_release);  // even: park
      while (ready_.load() < kReaders) std::this_thread::yield();
      ++rounds_;
    }
    stop_.store(true);
    phase_.fetch_add(1);
    for (auto& t : readers) t.join();
  }

  uint64_t rounds() const { return rounds_; }
  uint64_t lookups() const { return lookups_.load(); }
  uint64_t failures() const { return failures_.load(); }
  const Failure& first_failure() const { return first_failure_; }

 private:
  static void ignore(const RegionInfo&, void*) {}

  void reader(int id) {
    uint64_t page_no = static_cast<uint64_t>(id) * 5;
    uint64_t local = 0;
    uint32_t seen = 0;
    while (!stop_.load()) {
      uint32_t phase = phase_.load(std::memory_order_acquire);
      if (phase == seen) {
        std::this_thread::yield();
        continue;
      }
      seen = phase;
      ready_.fetch_add(1);
      if ((phase & 1u) == 0) continue;  // parked until the next round
      const RegionTable& table = *table_;
      for (unsigned n = 0; phase_.load(std::memory_order_acquire) == phase; ++n) {
        // Two CPUs may run three threads: let the writer in now and then.
        if (n % 256 == 255) std::this_thread::yield();
        page_no = (page_no + 1) % 16;
        if (page_no == kHoleFirst) page_no = kHoleLast;
        const uint64_t addr = page(page_no) + (page_no * 0x48) % kPage;
        RegionInfo info;
        bool found = table.find(addr, &info);
        ++local;
        if (!found || !consistent(addr, info)) record_failure(addr, found, info);
      }
    }
    lookups_.fetch_add(local);
  }

  static bool consistent(uint64_t addr, const RegionInfo& r) {
    bool prot_ok = false;
    for (int p : kProts) prot_ok |= r.prot == p;
    return r.start <= addr && addr < r.end && r.start % kPage == 0 && r.end % kPage == 0 && r.start >= page(0) &&
           r.end <= page(16) && r.real.value() - r.start == kReal - kBase &&
           r.phys.value() - r.start == kPhys - kBase && r.map_id == kMapId && prot_ok;
  }

  void record_failure(uint64_t addr, bool found, const RegionInfo& info) {
    if (failures_.fetch_add(1) == 0) first_failure_ = Failure{addr, found, info};
  }

  std::unique_ptr<RegionTable> table_ = std::make_unique<RegionTable>();  // replaced only while readers are parked
  std::atomic<uint32_t> phase_{0};
  std::atomic<int> ready_{0};
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> lookups_{0};
  std::atomic<uint64_t> failures_{0};
  Failure first_failure_;  // written by the first failing reader only, read after join
  uint64_t rounds_ = 0;
};

void run_race(RegionTableRace::Layout layout) {
  RegionTableRace race;
  constexpr uint64_t kRounds = 2000;  // 4,000-6,000 were done in 500 ms on 2 busy cores
  race.run(kRounds, layout);
  const auto& f = race.first_failure();
  EXPECT_EQ(race.failures(), 0u) << "first failure: find(0x" << std::hex << f.addr << ") "
                                 << (f.found ? "returned" : "found nothing; last copy") << " start 0x" << f.info.start
                                 << " end 0x" << f.info.end << " real 0x" << f.info.real.value() << " phys 0x"
                                 << f.info.phys.value() << std::dec << " map_id " << f.info.map_id << " prot "
                                 << f.info.prot << " (round " << race.rounds() + 1 << ", " << race.lookups()
                                 << " lookups)";
  if (race.failures() == 0) {
    EXPECT_EQ(race.rounds(), kRounds);
  }
  EXPECT_GT(race.lookups(), 0u);
  std::printf("[          ] %llu rounds, %llu lookups\n", static_cast<unsigned long long>(race.rounds()),
              static_cast<unsigned long long>(race.lookups()));
}

TEST(RegionTable, ConcurrentFindNeverMissesCoveredAddress) { run_race(RegionTableRace::Layout::kSettled); }

// A reader scans the slots one by one. When protect_range (or a hole punched
// by remove_range) puts a new piece into a free slot *below* the entry it
// splits, or into a slot appended after the reader loaded the slot count, a
// reader could pass both the piece and the shrunken entry. The table-wide
// version makes a reader that found nothing scan again. Without it these
// failed within a few hundred milliseconds on most runs.
TEST(RegionTable, ConcurrentFindNeverMissesWithFreeSlotBelow) { run_race(RegionTableRace::Layout::kFreeSlotBelow); }

TEST(RegionTable, ConcurrentFindNeverMissesWhileTableGrows) { run_race(RegionTableRace::Layout::kGrowing); }

// Fills the table: region8() and kCapacity - 1 one-page regions far above it.
void fill_table(RegionTable& t) {
  ASSERT_TRUE(t.add(region8()));
  for (unsigned i = 1; i < RegionTable::kCapacity; ++i) ASSERT_TRUE(t.add(piece(100 + 2 * i, 101 + 2 * i)));
  ASSERT_FALSE(t.add(piece(99, 100)));
}

// With the table full, punching a hole in the middle of a region needs a slot
// for the tail: remove_range refuses and changes nothing (munmap answers
// ENOMEM, as the kernel does past its mapping limit).
TEST(RegionTable, RemoveMiddleHoleInFullTableChangesNothing) {
  RegionTable t;
  fill_table(t);
  std::vector<RegionInfo> removed;
  EXPECT_FALSE(t.remove_range(page(2), page(5), collect, &removed));
  EXPECT_TRUE(removed.empty());
  expect_found(t, page(3), region8());
  expect_found(t, page(7), region8());
  // Removing a head needs no slot and still works.
  EXPECT_TRUE(t.remove_range(page(0), page(2), collect, &removed));
  ASSERT_EQ(removed.size(), 1u);
  expect_found(t, page(7), piece(2, 8));
}

// Likewise protect_range on the middle of a region in a full table.
TEST(RegionTable, ProtectMiddleInFullTableChangesNothing) {
  RegionTable t;
  fill_table(t);
  std::vector<RegionInfo> changed;
  EXPECT_FALSE(t.protect_range(page(2), page(5), PROT_READ, collect, &changed));
  EXPECT_TRUE(changed.empty());
  RegionInfo r;
  ASSERT_TRUE(t.find(page(3), &r));
  EXPECT_EQ(r.prot, region8().prot);
  EXPECT_TRUE(t.find(page(0), &r));
  EXPECT_TRUE(t.find(page(7), &r));
}

}  // namespace
}  // namespace mmiotrace::agent
