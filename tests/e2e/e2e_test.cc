// End-to-end tests: small C "drivers" (tests/e2e/programs) run under
// `mmiotrace record` against a stand-in device file, each built at -O0 and
// -O2. Each test checks the printed trace against what the program says it
// did, access for access, and against the device's own contents.
#include <fcntl.h>
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

TEST_P(E2EModes, ProgramsOwnSigsegvHandlerSeesItsOwnFaults) {
  const TracedRun& run = keep(traced(test_name(), program("own_sigsegv"), {}, 4096));
  expect_mode(*last_);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  expect_exact(run);
}

TEST_P(E2EModes, NullDereferenceStillKillsWithSigsegvAndKeepsTheTrace) {
  const TracedRun& run = keep(traced(test_name(), program("null_deref"), {}, 4096));
  expect_mode(*last_);
  EXPECT_EQ(run.term_signal, SIGSEGV) << "exit code " << run.exit_code << "\n" << run.err;
  EXPECT_EQ(run.out.find("NOT REACHED"), std::string::npos);
  expect_exact(run);
}

TEST_P(E2EModes, ExitFromAThreadWhileOthersRun) {
  const TracedRun& run = keep(traced(test_name(), program("thread_exit"), {}, 4096));
  expect_mode(*last_);
  ASSERT_EQ(run.exit_code, 7) << run.out << run.err;
  // Each worker's values run 0, 1, 2, ... without a gap, and there are at
  // least the 2000 the exiting thread waited for. Stepped with mprotect, an
  // access can be missing (the header says so): then only the order holds.
  std::map<uint64_t, uint32_t> next;
  for (const Access& a : run.accesses) {
    ASSERT_EQ(a.op, 'W') << a.line;
    uint32_t& n = next[a.phys];
    ASSERT_EQ(a.value >> 24, a.phys / 0x40) << a.line;
    if (may_miss(run)) {
      ASSERT_GE(a.value & 0xffffff, n) << a.line;
      n = static_cast<uint32_t>(a.value & 0xffffff) + 1;
      continue;
    }
    ASSERT_EQ(a.value, ((a.phys / 0x40) << 24) | n) << a.line;
    ++n;
  }
  EXPECT_EQ(run.trace_text.find("Lost"), std::string::npos);
  if (!may_miss(run)) {
    ASSERT_EQ(next.size(), 3u);
    for (auto& [reg, n] : next) EXPECT_GE(n, 2000u) << "register " << reg;
    EXPECT_EQ(replay_mismatch(run), "");
  }
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

TEST_P(E2EModes, DeviceFileReachedThroughDupFcntlFopenAndClosedFd) {
  const TracedRun& run = keep(traced(test_name(), program("fd_tricks"), {}, 4096));
  expect_mode(*last_);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  expect_exact(run);
  std::vector<std::string> maps, unmaps;
  for (const std::string& l : run.lines) {
    if (l.rfind("MAP ", 0) == 0) maps.push_back(l);
    if (l.rfind("UNMAP ", 0) == 0) unmaps.push_back(l);
  }
  ASSERT_EQ(maps.size(), 4u) << run.trace_text;
  for (size_t i = 0; i < maps.size(); ++i) {
    int id = 0;
    ASSERT_EQ(sscanf(maps[i].c_str(), "MAP %*u.%*u %d", &id), 1);
    EXPECT_EQ(id, static_cast<int>(i) + 1) << maps[i];
  }
  ASSERT_EQ(unmaps.size(), 2u) << run.trace_text;  // munmap of map 1, MAP_FIXED over map 2
  EXPECT_EQ(unmaps[0].substr(unmaps[0].find(' ', 6)), " 1 0x0 0");
  EXPECT_EQ(unmaps[1].substr(unmaps[1].find(' ', 6)), " 2 0x0 0");
  // Map ids of the accesses: 1, 2, 3, 4, 3.
  std::vector<int> ids;
  for (const Access& a : run.accesses) ids.push_back(a.map_id);
  EXPECT_EQ(ids, (std::vector<int>{1, 2, 3, 4, 3}));
}

// A fake /sys and /dev under the work folder: ordinary files only.
std::string make_fake_sysroot(const std::string& dir) {
  namespace fs = std::filesystem;
  const std::string root = dir + "/root";
  const std::string pci = root + "/sys/devices/pci0000:00/0000:00:04.0";
  fs::create_directories(pci);
  fs::create_directories(root + "/sys/bus/pci/devices");
  fs::create_directories(root + "/sys/bus/pci/drivers/uio_pci_generic");
  fs::create_directories(root + "/sys/class/uio/uio0/maps/map0");
  fs::create_directories(root + "/dev");
  auto put = [](const std::string& path, const std::string& text) { std::ofstream(path) << text; };
  put(pci + "/resource",
      "0x00000000fea00000 0x00000000fea00fff 0x0000000000040200\n"
      "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
      "0x00000000fe800000 0x00000000fe803fff 0x000000000014220c\n"
      "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
      "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
      "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
      "0x0000000000000000 0x0000000000000000 0x0000000000000000\n");
  put(pci + "/vendor", "0x1234\n");
  put(pci + "/device", "0x11e8\n");
  put(pci + "/irq", "11\n");
  fs::create_symlink("../../../bus/pci/drivers/uio_pci_generic", pci + "/driver");
  fs::create_symlink("../../../devices/pci0000:00/0000:00:04.0", root + "/sys/bus/pci/devices/0000:00:04.0");
  put(pci + "/resource0", "");
  fs::resize_file(pci + "/resource0", 4096);
  put(root + "/sys/class/uio/uio0/maps/map0/addr", "0xfeb00000\n");
  fs::create_symlink(pci, root + "/sys/class/uio/uio0/device");
  put(root + "/dev/uio0", "");
  fs::resize_file(root + "/dev/uio0", 4096);
  put(root + "/dev/mem", "");
  fs::resize_file(root + "/dev/mem", 0xfea02000);  // sparse
  return root;
}

TEST_P(E2EModes, SysfsResourceDevMemAndUioGetTheirPhysicalAddresses) {
  const std::string dir = work_dir() + "/" + test_name() + "_tree";
  std::filesystem::remove_all(dir);
  const std::string root = make_fake_sysroot(dir);
  const TracedRun& run = keep(traced(test_name(), program("sysfs_paths"), {root}, 4096, {"--sysroot", root}));
  expect_mode(*last_);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  expect_exact(run);
  ASSERT_GE(run.lines.size(), 2u);
  // As the kernel prints it: bus+devfn, vendor+device, irq (hex), 7 starts
  // with flags, 7 sizes, driver.
  EXPECT_EQ(run.lines[1], "PCIDEV 0020 123411e8 b fea00000 0 fe80000c 0 0 0 0 1000 0 4000 0 0 0 0 uio_pci_generic");
  int pcidev_lines = 0;
  for (const std::string& l : run.lines) pcidev_lines += l.rfind("PCIDEV", 0) == 0;
  EXPECT_EQ(pcidev_lines, 1);  // mapped twice (sysfs and uio), listed once
}

TEST_P(E2EModes, EveryWayOfEndingKeepsEveryAccess) {
  struct Ending {
    const char* how;
    int exit_code;
    int signal;
  };
  for (const Ending& e : {Ending{"return", 3, 0}, Ending{"exit", 4, 0}, Ending{"_exit", 5, 0},
                          Ending{"abort", -1, SIGABRT}, Ending{"kill", -1, SIGKILL}, Ending{"thread-exit", 0, 0}}) {
    const TracedRun& run = keep(traced(test_name() + "_" + e.how, program("exits"), {e.how}, 4096));
    expect_mode(*last_);
    EXPECT_EQ(run.exit_code, e.exit_code) << e.how << "\n" << run.err;
    EXPECT_EQ(run.term_signal, e.signal) << e.how;
    expect_exact(run);
    EXPECT_EQ(run.accesses.size(), std::string(e.how) == "thread-exit" ? 200u : 100u) << e.how;
  }
}

TEST_P(E2E, BlockedSignalsAndMprotectOfADeviceMapping) {
  const TracedRun& run = keep(run_traced(test_name(), program("masks_and_mprotect"), {}, 4096));
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  expect_exact(run);
  EXPECT_EQ(replay_mismatch(run), "");
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
TEST(E2EMatrix, MemcpyAndMemsetEverySize1To4100AtEveryAlignment) {
  TracedRun run = run_traced("MemcpyMatrix", program_path("memcpy_matrix", "O2"), {"1", "4100"}, 64 * 1024, {},
                             /*print=*/false);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_NE(run.out.find("DONE ops=1049600"), std::string::npos) << run.out;
  uint64_t accesses = 0;
  EXPECT_EQ(replay_binary_mismatch(run, 1, &accesses), "") << "reproduce: " << run.repro;
  EXPECT_GT(accesses, 1'000'000'000u);
  if (!HasFailure()) std::filesystem::remove_all(run.dir);  // 3 GB
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

// Marks (docs/mark.md). The W writes and the MARK texts of a trace, in order,
// without the recorder's own start/exit marks: "W 0x4", "M phase 1", ...
std::vector<std::string> writes_and_marks(const std::vector<std::string>& lines) {
  std::vector<std::string> seq;
  for (const std::string& l : lines) {
    std::istringstream in(l);
    std::string kind, width, time, map, phys;
    in >> kind;
    if (kind == "W") {
      in >> width >> time >> map >> phys;
      seq.push_back("W " + phys);
    } else if (kind == "MARK") {
      in >> time;
      std::string text;
      std::getline(in, text);
      if (!text.empty() && text[0] == ' ') text.erase(0, 1);
      if (text.rfind("mmiotrace:", 0) != 0) seq.push_back("M " + text);
    }
  }
  return seq;
}

TEST_P(E2E, MarksFromInsideTheProgramLieBetweenTheirAccesses) {
  const TracedRun& run = keep(run_traced(test_name(), program("markers"), {}, 4096));
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  expect_exact(run);
  EXPECT_EQ(writes_and_marks(run.lines),
            (std::vector<std::string>{"W 0x0", "M phase 1", "W 0x4", "M phase 2", "W 0x8", "M from a signal handler",
                                      "W 0xc", "M phase 3 of 3", "W 0x10"}))
      << run.trace_text;
  // Without the tracer the marks do nothing and the program runs the same.
  std::string out, err;
  int status = run_command({program("markers"), run.device}, &out, &err);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out << err;
  EXPECT_NE(out.find("DONE"), std::string::npos) << out;
}

// `record` running markers.c, which waits on a FIFO after its first write
// (the test runs `record` itself rather than through run_command: it needs
// the pid). finish() releases the program and collects the trace.
struct WaitingRecording {
  std::string dir, trace, log;
  pid_t recorder = -1;
  int fifo_fd = -1;
  int status = 0;
  std::string record_log;
  std::vector<std::string> lines;

  void start(const std::string& name) {
    dir = work_dir() + "/" + name;
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    const std::string device = dir + "/dev", fifo = dir + "/fifo";
    trace = dir + "/trace.mmio";
    log = dir + "/record.log";
    std::ofstream(device, std::ios::binary) << std::string(4096, '\0');
    ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
    std::vector<std::string> cmd = {mmiotrace_path(), "record", "-o", trace, "--device", dir + "/dev*"};
    const std::vector<std::string> forced = forced_record_args();
    cmd.insert(cmd.end(), forced.begin(), forced.end());
    cmd.insert(cmd.end(), {"--", program_path("markers", "O2"), device, fifo});
    std::vector<char*> argv;
    for (std::string& s : cmd) argv.push_back(s.data());
    argv.push_back(nullptr);
    recorder = fork();
    ASSERT_GE(recorder, 0);
    if (recorder == 0) {
      int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(fd, 1);
      dup2(fd, 2);
      execv(argv[0], argv.data());
      _exit(127);
    }
    // The FIFO opens once the program opened it: after its first write. Poll,
    // so that a program that never gets there fails the test rather than hangs.
    for (int i = 0; i < 6000 && fifo_fd < 0; ++i) {
      fifo_fd = open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
      if (fifo_fd < 0) {
        int st = 0;
        if (waitpid(recorder, &st, WNOHANG) == recorder) FAIL() << "record ended before the program read the FIFO";
        usleep(10000);
      }
    }
    if (fifo_fd < 0) kill(recorder, SIGKILL);
    ASSERT_GE(fifo_fd, 0) << "the program did not open the FIFO within 60 s";
  }

  void finish() {
    ASSERT_EQ(write(fifo_fd, "x", 1), 1);
    close(fifo_fd);
    ASSERT_EQ(waitpid(recorder, &status, 0), recorder);
    std::ifstream log_in(log);
    record_log.assign((std::istreambuf_iterator<char>(log_in)), std::istreambuf_iterator<char>());
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << record_log;
    std::string text, err;
    int st = run_command({mmiotrace_path(), "print", trace}, &text, &err);
    ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << err;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) lines.push_back(l);
  }
};

TEST(Mark, FromAnotherShellLandsBetweenTheAccessesAroundIt) {
  WaitingRecording rec;
  ASSERT_NO_FATAL_FAILURE(rec.start("MarkFromOutside"));
  const pid_t recorder = rec.recorder;
  std::string out, err;
  int status = run_command({mmiotrace_path(), "mark", "--pid", std::to_string(recorder), "hello", "from", "outside"},
                           &out, &err);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << err;
  EXPECT_EQ(err, "");
  ASSERT_NO_FATAL_FAILURE(rec.finish());
  const std::vector<std::string>& lines = rec.lines;
  std::string text;
  for (const std::string& l : lines) text += l + "\n";
  EXPECT_EQ(writes_and_marks(lines), (std::vector<std::string>{"W 0x0", "M hello from outside", "W 0x4"})) << text;
  EXPECT_EQ(text.find("Lost"), std::string::npos) << text;
  // The mark's ring was retired and freed: a second mark after the recorder
  // ended finds nothing to mark.
  status = run_command({mmiotrace_path(), "mark", "--pid", std::to_string(recorder), "late"}, &out, &err);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 69) << err;
}

// A mark that has begun when the program ends: the recorder's final drain
// waits for it (trace::ChannelProducer::claim, Consumer::finish), so it lands
// in the trace; a mark is never reported done and then missing.
TEST(Mark, AMarkRacingTheEndOfTheRecordingLandsOrFails) {
  WaitingRecording rec;
  ASSERT_NO_FATAL_FAILURE(rec.start("MarkRacingTheEnd"));
  std::string mark_err = rec.dir + "/mark.err";
  pid_t mark = fork();
  ASSERT_GE(mark, 0);
  if (mark == 0) {
    int fd = open(mark_err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 2);
    setenv("MMIOTRACE_TESTING_MARK_DELAY_MS", "1500", 1);
    execl(mmiotrace_path().c_str(), "mmiotrace", "mark", "--pid", std::to_string(rec.recorder).c_str(), "just in time",
          (char*)nullptr);
    _exit(127);
  }
  // Once the mark has its ring (and sleeps), the program ends.
  auto claimed = [&] {
    std::ifstream in(mark_err);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return text.find("ring claimed") != std::string::npos;
  };
  for (int i = 0; i < 1000 && !claimed(); ++i) usleep(10000);
  ASSERT_TRUE(claimed()) << "mark did not claim a ring within 10 s";
  ASSERT_NO_FATAL_FAILURE(rec.finish());
  int status = 0;
  ASSERT_EQ(waitpid(mark, &status, 0), mark);
  std::ifstream err_in(mark_err);
  const std::string err((std::istreambuf_iterator<char>(err_in)), std::istreambuf_iterator<char>());
  ASSERT_TRUE(WIFEXITED(status)) << status;
  const auto marks = writes_and_marks(rec.lines);
  const bool landed = std::find(marks.begin(), marks.end(), "M just in time") != marks.end();
  EXPECT_EQ(WEXITSTATUS(status) == 0, landed) << err;
  // It claimed its ring before the program ended, so it must have landed,
  // after the program's last write.
  EXPECT_EQ(marks, (std::vector<std::string>{"W 0x0", "W 0x4", "M just in time"})) << err << rec.record_log;
}

TEST(Cli, MarkWithoutOneRecorderGetsOneClearErrorAndAStatus) {
  const std::string dir = work_dir() + "/CliMark";
  std::filesystem::remove_all(dir);
  // A fake /proc: none, then two processes holding a channel open.
  std::filesystem::create_directories(dir + "/none/1/fd");
  for (const char* pid : {"100", "200"}) {
    std::filesystem::create_directories(dir + "/two/" + pid + "/fd");
    std::filesystem::create_symlink("/memfd:mmiotrace-channel (deleted)", dir + "/two/" + pid + "/fd/3");
  }
  struct MarkCase {
    std::vector<std::string> args;
    int status;
    std::string message;
  };
  const std::vector<MarkCase> cases = {
      {{"mark", "--proc-root", dir + "/none", "hello"}, 69, "mmiotrace: no mmiotrace record is running"},
      {{"mark", "--proc-root", dir + "/two", "hello"},
       64,
       "2 mmiotrace recorders are running (100, 200); say which with --pid"},
      {{"mark", "--pid", std::to_string(getpid()), "hello"}, 69, "is not a running mmiotrace recorder"},
      {{"mark", "--pid", "999999999", "hello"}, 69, "there is no process 999999999"},
      {{"mark", "--pid", "100", "--proc-root", dir + "/two", "hello"}, 69, "cannot open the channel of recorder 100"},
      {{"mark", "--pid", std::to_string(getpid()), std::string(4001, 'x')}, 64, "at most 4000 fit"},
  };
  for (const MarkCase& c : cases) {
    std::vector<std::string> argv = {mmiotrace_path()};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    std::string out, err;
    int status = run_command(argv, &out, &err);
    ASSERT_TRUE(WIFEXITED(status)) << c.args[1];
    EXPECT_EQ(WEXITSTATUS(status), c.status) << c.args[1] << ": " << err;
    EXPECT_NE(err.find(c.message), std::string::npos) << err;
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << "one line: " << err;
  }
}

TEST_P(E2E, MremapOfADeviceMappingMovesGrowsAndShrinks) {
  const TracedRun& run = keep(run_traced(test_name(), program("mremap_dev"), {}, 4 * 4096));
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_NE(run.out.find("DONE"), std::string::npos) << run.out;
  expect_exact(run);
  EXPECT_EQ(replay_mismatch(run), "");
  std::vector<std::string> maps, unmaps;
  for (const std::string& l : run.lines) {
    if (l.rfind("MAP ", 0) == 0) maps.push_back(l);
    if (l.rfind("UNMAP ", 0) == 0) unmaps.push_back(l);
  }
  ASSERT_EQ(maps.size(), 1u) << run.trace_text;    // moved and resized, still map 1
  ASSERT_EQ(unmaps.size(), 2u) << run.trace_text;  // the shrink's tail, then the munmap
  for (const std::string& u : unmaps) EXPECT_EQ(u.substr(u.find(' ', 6)), " 1 0x0 0") << u;
  for (const Access& a : run.accesses) EXPECT_EQ(a.map_id, 1) << a.line;
}

TEST_P(E2E, SystemCallsOnDeviceMemoryMoveAndRecordTheData) {
  const TracedRun& run = keep(run_traced(test_name(), program("syscalls_dev"), {}, 4096));
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_NE(run.out.find("DONE"), std::string::npos) << run.out;
  expect_exact(run);
  EXPECT_EQ(replay_mismatch(run), "");
}

// The command line's answers to bad input: one actionable sentence on stderr
// and a sysexits-style status.
struct CliCase {
  std::vector<std::string> args;
  int status;
  std::string message;
};

TEST(Cli, BadInputGetsOneClearErrorAndAStatus) {
  const std::string dir = work_dir() + "/Cli";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/text") << "hello\n";
  std::ofstream(dir + "/nop.log") << "# tracer: nop\n#\n";
  const std::vector<CliCase> cases = {
      {{"record", "--", dir + "/no-such-program"}, 127, "mmiotrace: program '" + dir + "/no-such-program' not found"},
      {{"record", "--", "no-such-program-in-path"}, 127, "not found in PATH"},
      {{"record", "--", dir + "/text"}, 127, "is not an executable file"},
      {{"record", "-o", dir + "/missing-dir/t.mmio", "--", "/bin/true"}, 73, "cannot create trace file"},
      {{"record"}, 64, "record needs a program to run"},
      {{"print", dir + "/missing.mmio"}, 66, "cannot open trace file"},
      {{"print", dir + "/text"}, 65, "is not an mmiotrace trace file"},
      {{"print", dir + "/nop.log"}, 65, "is a log of the kernel's 'nop' tracer, not of mmiotrace"},
  };
  for (const CliCase& c : cases) {
    std::vector<std::string> argv = {mmiotrace_path()};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    std::string out, err;
    int status = run_command(argv, &out, &err);
    ASSERT_TRUE(WIFEXITED(status)) << c.args[0];
    EXPECT_EQ(WEXITSTATUS(status), c.status) << c.args.back() << ": " << err;
    EXPECT_NE(err.find(c.message), std::string::npos) << err;
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << "one line: " << err;
  }
}

TEST(Cli, RecordExitsWithTheProgramsStatusAndSignal) {
  const std::string dir = work_dir() + "/CliStatus";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::string out, err;
  int status =
      run_command({mmiotrace_path(), "record", "-o", dir + "/t.mmio", "--", "/bin/sh", "-c", "exit 42"}, &out, &err);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 42);
  EXPECT_NE(err.find("mmiotrace: recorded 0 accesses"), std::string::npos) << err;
  // Without `--`, the program's own options stay the program's.
  status = run_command(
      {mmiotrace_path(), "record", "-o", dir + "/t.mmio", "/bin/sh", "-c", "exit $#", "sh", "-o", "--", "x"}, &out,
      &err);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 3) << err;
  status = run_command({mmiotrace_path(), "record", "-o", dir + "/t.mmio", "--", "/bin/sh", "-c", "kill -TERM $$"},
                       &out, &err);
  ASSERT_TRUE(WIFSIGNALED(status)) << status;
  EXPECT_EQ(WTERMSIG(status), SIGTERM);
}

TEST(Cli, TruncatedTracePrintsWhatIsIntactThenTheError) {
  const TracedRun run = run_traced("CliTruncated", program_path("mov_widths", "O2"), {}, 4096);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const std::string trace = run.dir + "/trace.mmio";
  std::filesystem::resize_file(trace, std::filesystem::file_size(trace) - 30);  // cut the last record
  std::string out, err;
  int status = run_command({mmiotrace_path(), "print", trace}, &out, &err);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 65);
  EXPECT_NE(err.find("is truncated at byte"), std::string::npos) << err;
  // Everything but the cut record is printed, in order.
  std::string want;
  for (size_t i = 0; i + 1 < run.lines.size(); ++i) want += run.lines[i] + "\n";
  EXPECT_EQ(out, want);
}

INSTANTIATE_TEST_SUITE_P(Opt, E2E, ::testing::Values("O0", "O2"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });
INSTANTIATE_TEST_SUITE_P(Opt, E2EModes, ::testing::Values("O0", "O2", "O0_step", "O2_step"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace mmiotrace::e2e
