// The fast path (docs/record.md, "Patching"): patched sites give the same
// trace as faulting ones, survive a race with running threads, fault as the
// original instructions did, and defer signals that arrive inside them.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "fixture.h"
#include "harness.h"

namespace mmiotrace::e2e {
namespace {

class Patch : public E2E {
 protected:
  // The native print of a trace, without what differs between two runs of
  // the same program: timestamps, pids and tids, and the MARKs (their text
  // names pids).
  static std::vector<std::string> comparable(const TracedRun& run) {
    std::string out, err;
    run_command({mmiotrace_path(), "print", "--format", "native", run.dir + "/trace.mmio"}, &out, &err);
    std::vector<std::string> lines;
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("# ", 0) == 0) continue;  // the header: recorder pid, start times
      std::istringstream f(line);
      std::string seq, time, ids, type;
      f >> seq >> time >> ids >> type;
      if (type == "MARK") continue;
      std::string rest;
      std::getline(f, rest);
      lines.push_back(seq + " " + type + rest);
    }
    return lines;
  }
  static uint64_t patched_sites(const TracedRun& run) {
    const size_t at = run.err.find(" instruction site");
    if (at == std::string::npos) return 0;
    size_t start = run.err.rfind(' ', at - 1);
    return std::stoull(run.err.substr(start + 1, at - start - 1));
  }
};

struct Program {
  const char* name;
  std::vector<std::string> args;
  size_t device_size;
};

// Each program run twice at the same addresses, every fault taken and every
// site patched at its first fault: the traces must be the same, access for
// access (values, widths, physical and virtual addresses, PCs, instruction
// bytes, flags, order, seqs), timestamps and thread ids aside.
TEST_P(Patch, SameTraceWithEverySitePatchedAsWithNone) {
  const Program programs[] = {
      {"mov_widths", {}, 4096},     {"straddle", {}, 8192},        {"generic", {}, 4096},
      {"memcpy_memset", {}, 65536}, {"mremap_dev", {}, 16384},     {"syscalls_dev", {}, 4096},
      {"own_sigsegv", {}, 4096},    {"fd_tricks", {}, 4096},       {"patch_faults", {}, 4096},
      {"intrinsics", {}, 4096},     {"patch_registers", {}, 4096},
  };
  for (const Program& p : programs) {
    SCOPED_TRACE(p.name);
    // One work folder for both runs: the device's path is in the trace.
    const std::string name = test_name() + "_" + p.name;
    const TracedRun& faulting =
        keep(run_traced(name, program(p.name), p.args, p.device_size, {"--no-patch"}, true, true));
    ASSERT_EQ(faulting.exit_code, 0) << faulting.out << faulting.err;
    EXPECT_EQ(patched_sites(faulting), 0u) << faulting.err;
    const std::vector<std::string> a = comparable(faulting);
    const TracedRun& patched =
        keep(run_traced(name, program(p.name), p.args, p.device_size, {"--patch-after=1"}, true, true));
    ASSERT_EQ(patched.exit_code, 0) << patched.out << patched.err;
    if (!faulting.accesses.empty()) {
      EXPECT_GT(patched_sites(patched), 0u) << patched.err;
    }
    const std::vector<std::string> b = comparable(patched);
    ASSERT_EQ(a.size(), b.size()) << "faulting:\n" << faulting.trace_text << "\npatched:\n" << patched.trace_text;
    for (size_t i = 0; i < a.size(); ++i) {
      ASSERT_EQ(a[i], b[i]) << "line " << i;
    }
  }
}

// Threads spin through a store and a load site while the faults of one of
// them get the sites patched; every round maps the device afresh and unmaps
// it (undoing the patches), 1,000 rounds. No access is lost, torn or
// doubled: every thread's stores and loads are in the trace, in its order,
// with its values.
TEST_P(Patch, ThousandRacesOfAPatchWithSpinningThreads) {
  constexpr int kRounds = 1000, kThreads = 3, kIters = 100;
  const TracedRun& run = keep(run_traced(test_name(), program("patch_race"), {std::to_string(kRounds)}, 4096,
                                         {"--patch-after=4"}, /*print=*/false));
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  // Every round raced a patch (the store site was rewritten while they ran).
  EXPECT_NE(run.out.find("ROUNDS 1000 PATCHED 1000"), std::string::npos) << run.out;
  std::vector<BinaryAccess> all;
  uint64_t lost = 0;
  ASSERT_EQ(read_binary_accesses(run, &all, &lost), "");
  EXPECT_EQ(lost, 0u);
  ASSERT_EQ(all.size(), size_t{kRounds} * kThreads * kIters * 2);
  std::map<uint32_t, std::vector<const BinaryAccess*>> by_thread;
  for (const BinaryAccess& a : all) by_thread[a.tid].push_back(&a);
  ASSERT_EQ(by_thread.size(), size_t{kThreads});
  for (const auto& [tid, seq] : by_thread) {
    ASSERT_EQ(seq.size(), size_t{kRounds} * kIters * 2) << "tid " << tid;
    const uint64_t t = seq[0]->phys / 64;
    size_t k = 0;
    for (uint32_t r = 0; r < kRounds; ++r) {
      for (uint32_t i = 0; i < kIters; ++i) {
        const uint64_t v = (uint64_t{r} << 16) | (t << 12) | i;
        for (char op : {'W', 'R'}) {
          const BinaryAccess& a = *seq[k++];
          ASSERT_TRUE(a.op == op && a.width == 4 && a.phys == t * 64 && a.value == v && a.map_id == r + 1)
              << "tid " << tid << " round " << r << " access " << i << ": " << a.op << " " << int{a.width} << " 0x"
              << std::hex << a.phys << " 0x" << a.value << " map " << std::dec << a.map_id << ", expected " << op
              << " 4 0x" << std::hex << t * 64 << " 0x" << v;
        }
      }
    }
  }
}

// A thread faults at a site and, before its handler has identified the
// instruction, the other thread's faults get the site patched (the testing
// hook holds the first fault until the site's first byte changes): the held
// thread emulates the instruction it ran, the original load, and every load
// is in the trace, exactly, with the site's PC. Identifying the instruction
// from bytes fetched after looking for a patch of it would find the jump
// instead, refuse it, and end the program.
TEST_P(Patch, AFaultOvertakenByThePatchOfItsInstruction) {
  ScopedEnv hold("MMIOTRACE_TESTING_HOLD_FIRST_FAULT", "1");
  const TracedRun& run = keep(traced(test_name(), program("patch_overtaken"), {}, 4096, {"--patch-after=2"}));
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  // The race happened: the held fault saw its instruction change.
  EXPECT_NE(run.err.find("testing: the held fault's instruction changed"), std::string::npos) << run.err;
  // And the held thread knew the instruction it ran (had it taken the jump
  // for it, it would have been refused, with an UNKNOWN record).
  EXPECT_EQ(run.err.find("cannot emulate"), std::string::npos) << run.err;
  EXPECT_EQ(run.err.find("could not be emulated"), std::string::npos) << run.err;
  EXPECT_NE(run.out.find("PATCHED 1"), std::string::npos) << run.out << run.err;
  EXPECT_EQ(patched_sites(run), 1u) << run.err;
  // Two loads per thread, each from its own register, with the device's value.
  ASSERT_EQ(run.accesses.size(), 4u) << run.trace_text;
  std::map<int, std::vector<const Access*>> by_thread;
  for (const Access& a : run.accesses) by_thread[a.tid].push_back(&a);
  ASSERT_EQ(by_thread.size(), 2u) << run.trace_text;
  for (const auto& [tid, loads] : by_thread) {
    ASSERT_EQ(loads.size(), 2u) << run.trace_text;
    const uint64_t phys = loads[0]->phys;
    EXPECT_TRUE(phys == 0 || phys == 64) << loads[0]->line;
    for (const Access* a : loads) {
      EXPECT_EQ(a->op, 'R') << a->line;
      EXPECT_EQ(a->width, 4) << a->line;
      EXPECT_EQ(a->phys, phys) << a->line;
      uint32_t want = 0;
      memcpy(&want, run.device_before.data() + phys, 4);
      EXPECT_EQ(a->value, want) << a->line;
      EXPECT_EQ(a->pc, run.accesses[0].pc) << a->line;
    }
  }
  EXPECT_NE(by_thread.begin()->second[0]->phys, by_thread.rbegin()->second[0]->phys) << run.trace_text;
}

// A patched site that meets unmapped ordinary memory, or a device mapping the
// program may not write, faults as the original instruction did.
TEST_P(Patch, FaultsAtPatchedSitesAreTheProgramsOwn) {
  const TracedRun& run = keep(traced(test_name(), program("patch_faults"), {}, 4096, {"--patch-after=2"}));
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  for (const char* what :
       {"load from unmapped memory", "store to unmapped memory", "store to a read-only device mapping"}) {
    EXPECT_NE(run.out.find(std::string("FAULT ") + what + " at its own instruction"), std::string::npos) << run.out;
  }
  EXPECT_GT(patched_sites(run), 0u) << run.err;
  expect_exact(run);
}

// A timer's handler touches the device while the main loop stores through a
// patched site: no deadlock, and every store of both is there, in order.
TEST_P(Patch, SignalHandlersThatTouchTheDeviceDuringPatchedAccesses) {
  const TracedRun& run = keep(traced(test_name(), program("patch_signals"), {}, 4096, {"--patch-after=2"}));
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  unsigned stores = 0, ticks = 0;
  ASSERT_EQ(sscanf(run.out.c_str(), "STORES %u TICKS %u", &stores, &ticks), 2) << run.out;
  EXPECT_GT(ticks, 10u) << "the timer hardly fired: the test did not exercise anything";
  uint64_t main_next = 0, handler_next = 1;
  for (const Access& a : run.accesses) {
    ASSERT_EQ(a.op, 'W') << a.line;
    if (a.phys == 0) {
      ASSERT_EQ(a.value, main_next++) << a.line;
    } else {
      ASSERT_EQ(a.phys, 256u) << a.line;
      ASSERT_EQ(a.value, handler_next++) << a.line;
    }
  }
  EXPECT_EQ(main_next, stores);
  EXPECT_EQ(handler_next - 1, ticks);
  EXPECT_GT(patched_sites(run), 0u) << run.err;
}

INSTANTIATE_TEST_SUITE_P(Opt, Patch, ::testing::Values("O0", "O2"));

}  // namespace
}  // namespace mmiotrace::e2e
