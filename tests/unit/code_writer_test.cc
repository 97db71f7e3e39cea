// The fast path's code writer (agent/patch/code_writer.h) on a code page of
// this process: a poke changes live bytes through /proc/self/mem while the
// page stays read-and-execute; an INT3 trap at a poked instruction resumes
// there; and a thread that meets the same INT3 again with no change of code
// in between (an emulator's stale translation; no x86 processor does it) is
// told so, and refresh() rewrites the byte unchanged.
#include "agent/patch/code_writer.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <ucontext.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>

namespace mmiotrace::agent::patch {
namespace {

class CodeWriter : public ::testing::Test {
 protected:
  void SetUp() override {
    page_ = static_cast<uint8_t*>(mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(page_, MAP_FAILED);
    memset(page_, 0x90, 4096);  // NOPs
    ASSERT_EQ(mprotect(page_, 4096, PROT_READ | PROT_EXEC), 0);
    if (!writer_open()) GTEST_SKIP() << "no /proc/self/mem or no SYNC_CORE membarrier here";
  }
  void TearDown() override {
    writer_close();
    munmap(page_, 4096);
  }
  uint64_t at(unsigned offset) const { return reinterpret_cast<uint64_t>(page_ + offset); }
  // A SIGTRAP as the kernel reports an INT3 at `insn`: RIP one past it.
  Trap trap_at(uint64_t insn, uint64_t* rip_after, int si_code = SI_KERNEL) {
    siginfo_t si{};
    si.si_signo = SIGTRAP;
    si.si_code = si_code;
    ucontext_t uc{};
    uc.uc_mcontext.gregs[REG_RIP] = static_cast<greg_t>(insn + 1);
    const Trap t = code_trap(&si, &uc);
    *rip_after = static_cast<uint64_t>(uc.uc_mcontext.gregs[REG_RIP]);
    return t;
  }
  bool change(unsigned offset, const uint8_t* before, const uint8_t* after, uint8_t len) {
    const CodeChange c{at(offset), len, before, after};
    const uint64_t start = at(offset);
    return poke(&c, 1, &start, 1);
  }
  // The page's permissions as /proc/self/maps tells them.
  std::string protection() const {
    std::ifstream maps("/proc/self/maps");
    std::string line;
    while (std::getline(maps, line)) {
      if (std::stoull(line.substr(0, line.find('-')), nullptr, 16) == reinterpret_cast<uint64_t>(page_)) {
        return line.substr(line.find(' ') + 1, 4);
      }
    }
    return "";
  }
  uint8_t* page_ = nullptr;
};

TEST_F(CodeWriter, PokeChangesLiveCodeAndLeavesThePageReadExecute) {
  const uint8_t nops[3] = {0x90, 0x90, 0x90};
  const uint8_t load[3] = {0x8b, 0x4a, 0x04};  // mov 0x4(%rdx),%ecx
  ASSERT_TRUE(change(16, nops, load, 3));
  EXPECT_EQ(memcmp(page_ + 16, load, 3), 0);
  EXPECT_EQ(page_[15], 0x90);
  EXPECT_EQ(page_[19], 0x90);
  EXPECT_EQ(protection(), "r-xp");
  ASSERT_TRUE(change(16, load, nops, 3));
  EXPECT_EQ(memcmp(page_ + 16, nops, 3), 0);
  EXPECT_EQ(protection(), "r-xp");
}

TEST_F(CodeWriter, TrapAtAPokedInstructionResumesThereAndASecondOneWithoutAChangeIsStale) {
  const uint8_t nops[3] = {0x90, 0x90, 0x90};
  const uint8_t jump[3] = {0xe9, 0x00, 0x00};
  ASSERT_TRUE(change(32, nops, jump, 3));
  uint64_t rip = 0;
  // The first trap there since the change: resume at the instruction.
  EXPECT_EQ(trap_at(at(32), &rip), Trap::RESUME);
  EXPECT_EQ(rip, at(32));
  // The same thread, the same INT3, no change in between: stale.
  EXPECT_EQ(trap_at(at(32), &rip), Trap::RESUME_STALE);
  EXPECT_EQ(rip, at(32));
  EXPECT_EQ(trap_at(at(32), &rip), Trap::RESUME_STALE);
  // Refreshing leaves the bytes as they are.
  EXPECT_TRUE(refresh(at(32)));
  EXPECT_EQ(memcmp(page_ + 32, jump, 3), 0);
  // A change of code in between: a new INT3, not a stale one.
  ASSERT_TRUE(change(32, jump, nops, 3));
  EXPECT_EQ(trap_at(at(32), &rip), Trap::RESUME);
  EXPECT_EQ(rip, at(32));
}

TEST_F(CodeWriter, TrapsThatAreNotAPokesAreTheProgramsOwn) {
  const uint8_t nops[2] = {0x90, 0x90};
  const uint8_t load[2] = {0x8b, 0x07};  // mov (%rdi),%eax
  ASSERT_TRUE(change(64, nops, load, 2));
  uint64_t rip = 0;
  // Never poked there.
  EXPECT_EQ(trap_at(at(100), &rip), Trap::NOT_OURS);
  EXPECT_EQ(rip, at(100) + 1);
  // Not an INT3 (a single step, a kill()).
  EXPECT_EQ(trap_at(at(64), &rip, TRAP_TRACE), Trap::NOT_OURS);
  EXPECT_EQ(trap_at(at(64), &rip, SI_USER), Trap::NOT_OURS);
  // Poked there, but the byte is an INT3 now (the program's own breakpoint).
  const uint8_t int3[2] = {0xcc, 0x07};
  ASSERT_TRUE(change(64, load, int3, 2));
  EXPECT_EQ(trap_at(at(64), &rip), Trap::NOT_OURS);
  EXPECT_EQ(rip, at(64) + 1);
}

}  // namespace
}  // namespace mmiotrace::agent::patch
