// The fast path's tactics (agent/patch/tactics.h) on code laid out by hand,
// with an address space that is free only where a test says: each tactic in
// turn, and every plan checked the way the CPU would run it: the site's new
// bytes jump (through a jmp rel8 and redundant prefixes, reading on into the
// next instruction's bytes) to the site's trampoline entry, an evicted
// instruction's new bytes to its own.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "agent/patch/tactics.h"

namespace mmiotrace::agent::patch {
namespace {

// Free where `free` says (half-open ranges), minus what was taken.
class FakeSpace final : public AddressSpace {
 public:
  struct Range {
    uint64_t start, end;
  };
  explicit FakeSpace(std::vector<Range> free) : free_(std::move(free)) {}
  uint64_t find(uint64_t lo, uint64_t hi, unsigned size, uint64_t) override {
    for (const Range& f : free_) {
      for (uint64_t e = lo > f.start ? lo : f.start; e <= hi && e + size <= f.end;) {
        const Range* t = taken_at(e, size);
        if (t == nullptr) return e;
        e = t->end;
      }
    }
    return 0;
  }
  bool take(uint64_t addr, unsigned size) override {
    if (find(addr, addr, size, addr) != addr) return false;
    taken_.push_back({addr, addr + size});
    return true;
  }

 private:
  const Range* taken_at(uint64_t e, unsigned size) const {
    for (const Range& t : taken_) {
      if (e < t.end && t.start < e + size) return &t;
    }
    return nullptr;
  }
  std::vector<Range> free_;
  std::vector<Range> taken_;
};

constexpr uint64_t kSite = 0x555555555000;
constexpr uint64_t kLow = 0x10000, kHigh = uint64_t{1} << 47;

struct Code {
  std::vector<uint8_t> bytes;
  std::vector<unsigned> lengths;  // instruction lengths from the site on
};

CodeView view_of(const Code& c) {
  CodeView v;
  v.base = kSite;
  v.bytes = c.bytes.data();
  v.n = static_cast<unsigned>(c.bytes.size());
  uint64_t at = kSite;
  for (unsigned len : c.lengths) {
    v.start[v.count] = at;
    v.len[v.count] = static_cast<uint8_t>(len);
    ++v.count;
    at += len;
  }
  return v;
}

// The code with the plan's rewrites applied.
std::vector<uint8_t> rewritten(const Code& c, const TacticPlan& t) {
  std::vector<uint8_t> b = c.bytes;
  for (unsigned i = 0; i < t.n_rewrites; ++i) {
    memcpy(b.data() + (t.rewrite[i].addr - kSite), t.rewrite[i].bytes, t.rewrite[i].len);
  }
  return b;
}

// Where the CPU goes from `at`: redundant prefixes, then jmp rel8 (followed)
// or jmp rel32.
uint64_t follow(const std::vector<uint8_t>& b, uint64_t at) {
  for (int hops = 0; hops < 4; ++hops) {
    size_t i = at - kSite;
    while (b[i] == 0x26 || b[i] == 0x36 || b[i] == 0x3e || b[i] == 0x48) ++i;
    if (b[i] == 0xeb) {
      at = kSite + i + 2 + static_cast<uint64_t>(static_cast<int64_t>(static_cast<int8_t>(b[i + 1])));
      continue;
    }
    if (b[i] != 0xe9) return 0;
    int32_t rel;
    memcpy(&rel, &b[i + 1], 4);
    return kSite + i + 5 + static_cast<uint64_t>(static_cast<int64_t>(rel));
  }
  return 0;
}

uint64_t rel32_target(uint64_t e9_at, uint32_t rel) {
  return e9_at + 5 + static_cast<uint64_t>(static_cast<int64_t>(static_cast<int32_t>(rel)));
}

TEST(Tactics, JumpForAnInstructionOfFiveBytesOrMore) {
  const Code c{{0xc7, 0x47, 0x08, 0x34, 0x12, 0x00, 0x00, 0xc3, 0x90, 0x90, 0x90, 0x90}, {7, 1, 1, 1, 1, 1}};
  FakeSpace space({{kLow, kHigh}});
  const TacticPlan t = choose_tactic(view_of(c), space);
  ASSERT_EQ(t.tactic, Tactic::B1);
  ASSERT_EQ(t.n_rewrites, 1u);
  EXPECT_EQ(t.rewrite[0].len, 7);
  EXPECT_EQ(t.rewrite[0].bytes[5], 0xcc);  // the rest of the site: INT3
  EXPECT_EQ(follow(rewritten(c, t), kSite), t.site_entry);
  EXPECT_EQ(t.n_puns, 0u);
}

TEST(Tactics, PunnedJumpReadsOnIntoTheNextInstruction) {
  // mov (%rdi),%eax; ret; nop...: rel32 = [chosen][c3 90 90]
  const Code c{{0x8b, 0x07, 0xc3, 0x90, 0x90, 0x90, 0x90, 0x90}, {2, 1, 1, 1, 1, 1, 1}};
  FakeSpace space({{kLow, kHigh}});
  const TacticPlan t = choose_tactic(view_of(c), space);
  ASSERT_EQ(t.tactic, Tactic::B2);
  EXPECT_EQ(t.rewrite[0].len, 2);  // only the site's own bytes change
  EXPECT_EQ(follow(rewritten(c, t), kSite), t.site_entry);
  ASSERT_EQ(t.n_puns, 1u);
  EXPECT_EQ(t.pun_addr[0], kSite + 2);
  EXPECT_EQ(t.pun_len[0], 3);
}

TEST(Tactics, PrefixesMoveTheJumpOntoOtherBytesWhenItsWindowIsTaken) {
  const Code c{{0x8b, 0x07, 0xc3, 0x91, 0x92, 0x93, 0x90, 0x90}, {2, 1, 1, 1, 1, 1, 1}};
  // B2's window (rel32 = xx 93 92 c3... little-endian: [xx][c3][91][92]) is
  // not free; with one prefix the jump is 48 E9 [c3 91 92 93]: one address.
  const uint64_t t1 = rel32_target(kSite + 1, 0x939291c3);
  FakeSpace only_t1({{t1, t1 + 64}});
  const TacticPlan t = choose_tactic(view_of(c), only_t1);
  ASSERT_EQ(t.tactic, Tactic::T1);
  EXPECT_EQ(t.site_entry, t1);
  EXPECT_EQ(t.rewrite[0].bytes[0], 0x48);
  EXPECT_EQ(follow(rewritten(c, t), kSite), t1);
}

TEST(Tactics, SuccessorEvictionWhenNoPunnedWindowIsFree) {
  // mov (%rdi),%eax; mov %rdx,%rax (evictable, 3 bytes); ret; nops
  const Code c{{0x8b, 0x07, 0x48, 0x89, 0xd0, 0xc3, 0x90, 0x90, 0x90, 0x90}, {2, 3, 1, 1, 1, 1, 1}};
  // Free: far below and far above the site, not where B2/T1 windows fall
  // (B2: [xx][48 89 d0] = 0xd08948xx, below; T1: [48 89 d0 c3], below).
  const uint64_t b2 = rel32_target(kSite, 0xd0894800), t1 = rel32_target(kSite + 1, 0xc3d08948);
  FakeSpace space({{kLow, (b2 < t1 ? b2 : t1) - 0x1000000}, {kSite + 0x1000, kSite + 0x7fff0000}});
  const TacticPlan t = choose_tactic(view_of(c), space);
  ASSERT_EQ(t.tactic, Tactic::T2);
  ASSERT_TRUE(t.evicts);
  EXPECT_EQ(t.evictee_pc, kSite + 2);
  EXPECT_EQ(t.evictee_len, 3);
  const std::vector<uint8_t> b = rewritten(c, t);
  EXPECT_EQ(follow(b, kSite), t.site_entry);
  EXPECT_EQ(follow(b, kSite + 2), t.evictee_entry);  // a jump to the successor still lands on a jump
}

TEST(Tactics, NeighbourEvictionWhenNothingNearerWorks) {
  // mov (%rdi),%eax; ret; 10 nops; movl $0x1234,8(%rdi) (7 bytes); nops
  Code c{{0x8b, 0x07, 0xc3}, {2, 1}};
  for (int i = 0; i < 10; ++i) {
    c.bytes.push_back(0x90);
    c.lengths.push_back(1);
  }
  for (uint8_t b : {0xc7, 0x47, 0x08, 0x34, 0x12, 0x00, 0x00}) c.bytes.push_back(b);
  c.lengths.push_back(7);
  for (int i = 0; i < 4; ++i) {  // xor %eax,%eax: the neighbour's jump puns on 31 c0 31 (above the site)
    c.bytes.push_back(i % 2 == 0 ? 0x31 : 0xc0);
    if (i % 2 == 0) c.lengths.push_back(2);
  }
  // Free only above the site: the site's punned windows (0x9090c3xx,
  // 0x909090c3) lie below it.
  FakeSpace space({{kSite + 0x1000, kSite + 0x7fff0000}});
  const TacticPlan t = choose_tactic(view_of(c), space);
  ASSERT_EQ(t.tactic, Tactic::T3);
  EXPECT_EQ(t.rewrite[0].bytes[0], 0xeb);
  ASSERT_TRUE(t.evicts);
  EXPECT_EQ(t.evictee_pc, kSite + 13);
  const std::vector<uint8_t> b = rewritten(c, t);
  EXPECT_EQ(follow(b, kSite), t.site_entry);
  EXPECT_EQ(follow(b, kSite + 13), t.evictee_entry);
  // The bytes between the site and the evictee are untouched.
  for (uint64_t a = kSite + 2; a < kSite + 13; ++a) EXPECT_EQ(b[a - kSite], c.bytes[a - kSite]);
}

TEST(Tactics, NoneWithoutRoomOrWhenTheBytesAreNotOurs) {
  const Code c{{0x8b, 0x07, 0xc3, 0x90, 0x90, 0x90, 0x90, 0x90}, {2, 1, 1, 1, 1, 1, 1}};
  FakeSpace none({});
  EXPECT_EQ(choose_tactic(view_of(c), none).tactic, Tactic::NONE);
  FakeSpace all({{kLow, kHigh}});
  CodeView v = view_of(c);
  v.may_change = [](uint64_t a) { return a != kSite + 1; };  // another patch owns a byte of the site
  EXPECT_EQ(choose_tactic(v, all).tactic, Tactic::NONE);
  v = view_of(c);
  v.may_pun = [](uint64_t a) { return a != kSite + 3; };  // the bytes after it may change: no punned jump
  const TacticPlan t = choose_tactic(v, all);
  EXPECT_NE(t.tactic, Tactic::B2);
  EXPECT_NE(t.tactic, Tactic::T1);
}

}  // namespace
}  // namespace mmiotrace::agent::patch
