// End-to-end tests: small C "drivers" (tests/e2e/programs) run under
// `mmiotrace record` against a stand-in device file, each built at -O0 and
// -O2. Each test checks the printed trace against what the program says it
// did, access for access, and against the device's own contents.
// This file: the instructions and their accesses (widths, memcpy/memset,
// threads, straddling, atomics, vectors), the generic path and refusals; and
// the E2E/E2EModes parameters for every file's tests. The others, by what
// they test: signals_exits_test.cc, devices_test.cc, marks_test.cc,
// cli_test.cc, processes_test.cc, step_test.cc, print_kernel_log_test.cc.
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <list>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include "fixture.h"
#include "harness.h"
#include "trace/format.h"

namespace mmiotrace::e2e {
namespace {

TEST_P(E2EModes, MovWidthsAndAddressingModes) {
  const TracedRun& run = keep(traced(test_name(), program("mov_widths"), {}, 4096));
  expect_mode(*last_);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  expect_exact(run);
  EXPECT_EQ(replay_mismatch(run), "");
  ASSERT_GE(run.lines.size(), 3u);
  EXPECT_EQ(run.lines[0], "VERSION 20070824");
  // Stepped with mprotect: the first line says the trace may miss accesses.
  const size_t first = may_miss(run) ? 2 : 1;
  if (may_miss(run)) {
    EXPECT_NE(run.lines[1].find(" mmiotrace: single-stepped with mprotect"), std::string::npos) << run.lines[1];
  }
  EXPECT_NE(run.lines[first].find(" mmiotrace: start "), std::string::npos) << run.lines[first];  // the recorder's MARK
  EXPECT_EQ(run.lines[first + 1].rfind("MAP ", 0), 0u) << run.lines[first + 1];
  for (const Access& a : run.accesses) {
    EXPECT_EQ(a.map_id, 1);
    EXPECT_NE(a.pc, 0u) << a.line;
  }
}

TEST_P(E2EModes, MemcpyAndMemsetEverySizeAndAlignment) {
  const TracedRun& run = keep(traced(test_name(), program("memcpy_memset"), {}, 64 * 1024));
  expect_mode(*last_);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_NE(run.out.find("DONE rounds=365"), std::string::npos) << run.out;
  EXPECT_EQ(replay_mismatch(run), "");
  EXPECT_GT(run.accesses.size(), 10000u);
}

TEST_P(E2EModes, FourThreadsLoseNothing) {
  const TracedRun& run = keep(traced(test_name(), program("threads"), {}, 4096));
  expect_mode(*last_);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  constexpr int kThreads = 4, kIterations = 20000;
  std::map<uint64_t, std::vector<const Access*>> by_reg;
  for (const Access& a : run.accesses) by_reg[a.phys].push_back(&a);
  EXPECT_EQ(run.trace_text.find("Lost"), std::string::npos);
  if (may_miss(run)) {
    // A thread can even run all its iterations while another's step holds
    // the page open (a step descheduled between its fault and its trap).
    ASSERT_GE(by_reg.size(), 1u);
    ASSERT_LE(by_reg.size(), size_t{kThreads});
    // mprotect stepping: another thread's step may have opened the page
    // under an access. What is there must be real and in each thread's
    // order: per register, W i then R i (value i), i never going back.
    ASSERT_LE(run.accesses.size(), size_t{kThreads} * kIterations * 2);
    for (auto& [reg, list] : by_reg) {
      const uint64_t t = reg / 0x100;
      int64_t last = -1;  // 2*i for W i, 2*i+1 for R i
      for (const Access* a : list) {
        ASSERT_EQ(a->value >> 24, t) << a->line;
        const int64_t pos = 2 * static_cast<int64_t>(a->value & 0xffffff) + (a->op == 'R' ? 1 : 0);
        ASSERT_GT(pos, last) << a->line;
        ASSERT_LT(pos, 2 * kIterations) << a->line;
        ASSERT_EQ(a->tid, list[0]->tid) << a->line;
        last = pos;
      }
    }
    return;
  }
  ASSERT_EQ(by_reg.size(), size_t{kThreads});
  ASSERT_EQ(run.accesses.size(), size_t{kThreads} * kIterations * 2);
  // Per register: W i, R i, W i+1, R i+1, ... from one thread, in order.
  for (auto& [reg, list] : by_reg) {
    const uint32_t t = static_cast<uint32_t>(reg / 0x100);
    ASSERT_EQ(list.size(), size_t{kIterations} * 2);
    for (size_t i = 0; i < list.size(); ++i) {
      const uint64_t want = (uint64_t{t} << 24) | (i / 2);
      ASSERT_EQ(list[i]->op, i % 2 == 0 ? 'W' : 'R') << list[i]->line;
      ASSERT_EQ(list[i]->value, want) << list[i]->line;
      ASSERT_EQ(list[i]->tid, list[0]->tid) << list[i]->line;
    }
  }
  EXPECT_EQ(replay_mismatch(run), "");
}

TEST_P(E2EModes, StraddlingAccesses) {
  const TracedRun& run = keep(traced(test_name(), program("straddle"), {}, 8192));
  expect_mode(*last_);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  expect_exact(run);
  // The two halves of the last store went to two mappings.
  ASSERT_GE(run.accesses.size(), 2u);
  const Access& a = run.accesses[run.accesses.size() - 2];
  const Access& b = run.accesses.back();
  EXPECT_NE(a.map_id, b.map_id);
  EXPECT_EQ(a.pc, b.pc);
}

TEST_P(E2E, RefusedInstructionStopsTheProgramAndKeepsTheTrace) {
  for (const std::string which : {"exec", "gather"}) {
    const TracedRun& run = keep(run_traced(test_name() + "_" + which, program("refused"), {which}, 4096));
    EXPECT_EQ(run.term_signal, SIGSEGV) << which << ": exit code " << run.exit_code << "\n" << run.err;
    EXPECT_NE(run.err.find("mmiotrace: cannot emulate the instruction at 0x"), std::string::npos) << run.err;
    EXPECT_NE(run.err.find(which == "exec" ? "executing code from device memory" : "vpgatherdd"), std::string::npos)
        << run.err;
    // Single-stepping, the fallback for what the generic path refuses, was
    // tried for the gather too: the decoder cannot compute VSIB addresses.
    if (which == "gather") {
      EXPECT_NE(run.err.find("single step: the decoder finds no operand of it on device memory"), std::string::npos)
          << run.err;
    }
    expect_exact(run);
    // UNKNOWN is the program's last record; only the recorder's exit MARK follows.
    ASSERT_GE(run.lines.size(), 2u);
    EXPECT_EQ(run.lines[run.lines.size() - 2].rfind("UNKNOWN ", 0), 0u) << run.trace_text;
    EXPECT_NE(run.lines.back().find(" mmiotrace: exit "), std::string::npos) << run.trace_text;
  }
}

// A refused instruction whose bytes another thread changes while its fault
// is in the handler (the testing hook holds it there until they change):
// the program is still stopped by SIGSEGV, not left to re-run what is there
// now (a jump, which would not fault, and the program would go on with its
// other threads parked by the exit barrier).
TEST_P(E2E, RefusedInstructionRewrittenMeanwhileStillStopsTheProgram) {
  ScopedEnv hold("MMIOTRACE_TESTING_HOLD_FIRST_FAULT", "1");
  const TracedRun& run = keep(run_traced(test_name(), program("refused_rewritten"), {}, 4096));
  EXPECT_NE(run.err.find("testing: the held fault's instruction changed"), std::string::npos) << run.out << run.err;
  EXPECT_EQ(run.term_signal, SIGSEGV) << "exit code " << run.exit_code << "\n" << run.out << run.err;
  EXPECT_EQ(run.out.find("NOT"), std::string::npos) << run.out;
  EXPECT_NE(run.err.find("mmiotrace: cannot emulate the instruction at 0x"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("vpgatherdd"), std::string::npos) << run.err;
  ASSERT_GE(run.lines.size(), 2u);
  EXPECT_EQ(run.lines[run.lines.size() - 2].rfind("UNKNOWN ", 0), 0u) << run.trace_text;
}

// (op, phys, width, generic flag) of every access line of `mmiotrace print --format native`.
struct NativeAccess {
  char op;
  uint64_t phys;
  int width;
  bool generic;
  std::string line;
};

std::vector<NativeAccess> native_accesses(const TracedRun& run) {
  std::string out, err;
  run_command({mmiotrace_path(), "print", "--format", "native", run.dir + "/trace.mmio"}, &out, &err);
  std::vector<NativeAccess> v;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    char op = 0;
    int width = 0, map_id = 0;
    unsigned long long phys = 0;
    if (sscanf(line.c_str(), "#%*u %*u %*u/%*u %c %d %d 0x%llx", &op, &width, &map_id, &phys) == 4 &&
        (op == 'R' || op == 'W')) {
      v.push_back({op, phys, width, line.find(" generic ") != std::string::npos, line});
    }
  }
  return v;
}

// "<tag> <op> 0x<offset>" lines of the program's output.
std::vector<std::pair<char, uint64_t>> tagged(const TracedRun& run, const char* tag) {
  std::vector<std::pair<char, uint64_t>> v;
  std::istringstream in(run.out);
  std::string line;
  const std::string format = std::string(tag) + " %c 0x%llx";
  while (std::getline(in, line)) {
    char op = 0;
    unsigned long long off = 0;
    if (line.rfind(std::string(tag) + " ", 0) == 0 && sscanf(line.c_str(), format.c_str(), &op, &off) == 2) {
      v.push_back({op, off});
    }
  }
  return v;
}

TEST_P(E2E, GenericPathRunsInstructionsOutsideTheTable) {
  const TracedRun& run = keep(run_traced(test_name(), program("generic"), {}, 4096));
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_NE(run.out.find("DONE"), std::string::npos) << run.out;
  expect_exact(run);
  EXPECT_EQ(replay_mismatch(run), "");
  EXPECT_EQ(run.trace_text.find("UNKNOWN"), std::string::npos) << run.trace_text;
  // The generic flag: on every access the program says the generic path
  // made, and on no other (the table's accesses around them).
  const std::vector<NativeAccess> native = native_accesses(run);
  const auto must = tagged(run, "GENERIC");
  const auto may = tagged(run, "MAYBE_GENERIC");
  ASSERT_FALSE(must.empty()) << run.out;
  auto covers = [](const NativeAccess& a, char op, uint64_t off) {
    return a.op == op && off >= a.phys && off < a.phys + static_cast<uint64_t>(a.width);
  };
  for (const auto& [op, off] : must) {
    bool found = false;
    for (const NativeAccess& a : native) found = found || (a.generic && covers(a, op, off));
    EXPECT_TRUE(found) << op << " 0x" << std::hex << off << " is not flagged generic";
  }
  for (const NativeAccess& a : native) {
    if (!a.generic) continue;
    bool listed = false;
    for (const auto& [op, off] : must) listed = listed || covers(a, op, off);
    for (const auto& [op, off] : may) listed = listed || covers(a, op, off);
    EXPECT_TRUE(listed) << "flagged generic but not made by the generic path: " << a.line;
  }
  // The masked VPADDD (generic.c, masked_avx512) read its selected elements
  // 0, 7, 8 and 15 as one masked access of its 64-byte operand.
  if (run.out.find("SKIP masked AVX-512") == std::string::npos) {
    int masked = 0;
    for (const NativeAccess& a : native) {
      if (a.op == 'R' && a.phys == 0x600 && a.width == 64) {
        ++masked;
        EXPECT_TRUE(a.generic) << a.line;
        EXPECT_NE(a.line.find(" masked=0xf000000ff000000f "), std::string::npos) << a.line;
      }
    }
    EXPECT_EQ(masked, 1) << run.out;
  }
}

TEST_P(E2E, GenericPathUnderSignalsAndThreads) {
  const TracedRun& run = keep(run_traced(test_name(), program("generic"), {"stress"}, 4096));
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  unsigned alarms = 0;
  const size_t at = run.out.find("DONE alarms=");
  ASSERT_NE(at, std::string::npos) << run.out;
  alarms = static_cast<unsigned>(std::stoul(run.out.substr(at + 12)));
  EXPECT_GT(alarms, 0u);
  // Most alarms arrive while the agent's handler runs, and are delivered at
  // the stub when it returns: the handler's own generic steps then run
  // between another step's read and its stub.
  const size_t in_stub = run.out.find("in_stub=");
  ASSERT_NE(in_stub, std::string::npos) << run.out;
  EXPECT_GT(std::stoul(run.out.substr(in_stub + 8)), 0u) << run.out;
  // Five threads x 20000 x (one store, one load), one load per alarm, one per short-lived thread.
  EXPECT_EQ(run.accesses.size(), 1u + 5u * 20000u * 2u + alarms + 64u);
  EXPECT_EQ(replay_mismatch(run), "");
  EXPECT_EQ(run.trace_text.find("UNKNOWN"), std::string::npos);
  EXPECT_EQ(run.trace_text.find("Lost"), std::string::npos);
}

TEST_P(E2E, AtomicsAndFusedReadModifyWrite) {
  const TracedRun& run = keep(run_traced(test_name(), program("atomics"), {}, 4096));
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_EQ(replay_mismatch(run), "");
  // The counter: 4 x 5000 locked increments, each a read immediately followed
  // (no other access between, whatever the thread) by the write of read + 1.
  size_t increments = 0;
  for (size_t i = 0; i < run.accesses.size(); ++i) {
    const Access& a = run.accesses[i];
    if (a.phys != 0 || a.op != 'R' || i + 1 == run.accesses.size()) continue;
    const Access& b = run.accesses[i + 1];
    if (b.phys == 0 && b.op == 'W' && b.tid == a.tid && b.value == a.value + 1 && b.pc == a.pc) ++increments;
  }
  EXPECT_EQ(increments, 20000u);
}

// Every size 1-4100 at every alignment 0-63, into and out of the device, with
// glibc's memcpy and memset (about 1.6 billion device accesses, 3 GB of
// trace): checked by the program against the values it read back, and by a
// replay of the binary trace against the device. Only at -O2: the copies are
// glibc's, whatever the program's optimization.
//
// Its patch1: twin (every site patched at its first fault, not its fourth as
// in the default run, which patches too) takes the sizes where glibc's code
// paths differ: 1-600 (every size class up to the 4-vector loop) and
// 3900-4100 (the loop and the switch to REP MOVSB/STOSB at 4096 with AVX2).
// Sizes 601-3899 run the same loop's instructions, already patched, and
// would cost the suite about 8 minutes more (docs/ci.md).
TEST(E2EMatrix, MemcpyAndMemsetEverySize1To4100AtEveryAlignment) {
  const std::vector<std::string> forced = forced_record_args();
  const bool patch1 = std::find(forced.begin(), forced.end(), "--patch-after=1") != forced.end();
  struct Sizes {
    unsigned first, last;
  };
  const std::vector<Sizes> spans = patch1 ? std::vector<Sizes>{{1, 600}, {3900, 4100}} : std::vector<Sizes>{{1, 4100}};
  for (const Sizes& sizes : spans) {
    // No access is wider than 64 bytes (a ZMM register): a copy or memset
    // of s bytes is at least ceil(s / 64) accesses, on any host, whatever
    // vector width glibc picks there.
    uint64_t min_accesses = 0;
    for (unsigned s = sizes.first; s <= sizes.last; ++s) min_accesses += 64 * 4 * ((s + 63) / 64);
    SCOPED_TRACE(fmt::format("sizes {}-{}", sizes.first, sizes.last));
    TracedRun run =
        run_traced(fmt::format("MemcpyMatrix_{}_{}", sizes.first, sizes.last), program_path("memcpy_matrix", "O2"),
                   {std::to_string(sizes.first), std::to_string(sizes.last)}, 64 * 1024, {},
                   /*print=*/false);
    ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
    // Each size at 64 alignments, 4 operations (copy in, copy out, memset, copy out).
    EXPECT_NE(run.out.find(fmt::format("DONE ops={}", (sizes.last - sizes.first + 1) * 64 * 4)), std::string::npos)
        << run.out;
    uint64_t accesses = 0;
    EXPECT_EQ(replay_binary_mismatch(run, 1, &accesses), "") << "reproduce: " << run.repro;
    EXPECT_GE(accesses, min_accesses);
    if (!HasFailure()) std::filesystem::remove_all(run.dir);  // up to 3 GB
  }
}

TEST_P(E2E, VectorIntrinsicsIncludingMaskedStores) {
  const TracedRun& run = keep(run_traced(test_name(), program("intrinsics"), {}, 4096));
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  if (run.out.find("SKIP") != std::string::npos) GTEST_SKIP() << run.out;
  ASSERT_NE(run.out.find("DONE"), std::string::npos) << run.out;
  EXPECT_EQ(replay_mismatch(run), "");
  // In 0xc0-0xff the device saw the memset's zeros and then the masked store,
  // which reached bytes 0xc4-0xc7 only: one 4-byte write of 0x77777777.
  std::vector<std::string> masked;
  for (const Access& a : run.accesses) {
    if (a.op != 'W' || a.phys < 0xc0 || a.phys >= 0x100) continue;
    if (a.value == 0) continue;  // memset
    masked.push_back(describe(a));
  }
  EXPECT_EQ(masked, (std::vector<std::string>{"W 4 0xc4 0x77777777"})) << run.trace_text;
}

INSTANTIATE_TEST_SUITE_P(Opt, E2E, ::testing::Values("O0", "O2"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });
INSTANTIATE_TEST_SUITE_P(Opt, E2EModes, ::testing::Values("O0", "O2", "O0_step", "O2_step"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace mmiotrace::e2e
