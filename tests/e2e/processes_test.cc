// End-to-end tests of processes, threads and programs that fight back
// (docs/record.md): every kind of child, --no-follow, full buffers, a process
// killed holding the order lock, handlers under temporary masks and on an
// alternate stack, and the stress tests. Same fixture as e2e_test.cc, which
// instantiates it.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <list>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "fixture.h"
#include "harness.h"
#include "trace/format.h"
#include "trace/reader.h"

namespace mmiotrace::e2e {
namespace {

// "PID <role> <pid>" lines of the program's output.
std::map<std::string, int> pids_by_role(const TracedRun& run) {
  std::map<std::string, int> pid;
  std::istringstream out(run.out);
  std::string line;
  while (std::getline(out, line)) {
    std::istringstream in(line);
    std::string tag, role;
    int p = 0;
    if (in >> tag >> role >> p && tag == "PID") pid[role] = p;
  }
  return pid;
}

// Processes (docs/record.md): the program re-runs itself through fork + exec,
// then leaves behind a child that touches the device only after the program
// has exited. record waits for it: one trace, every process's accesses in one
// order, each with its own pid, between the recorder's start and exit marks.
TEST_P(E2E, ForkExecAndAnOrphanInOneTrace) {
  const TracedRun& run = keep(run_traced(test_name(), program("fork_exec"), {}, 4096));
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  expect_exact(run);  // the exec'd program's mapping is map 2: no single-map replay here
  std::map<std::string, int> pid = pids_by_role(run);
  ASSERT_EQ(pid.size(), 3u) << run.out;
  // The kernel format's PID column is the thread id; these are single-threaded.
  for (const Access& a : run.accesses) {
    const int want = a.phys < 0x100 ? pid["parent"] : a.phys < 0x200 ? pid["orphan"] : pid["exec"];
    EXPECT_EQ(a.tid, want) << a.line;
  }
  auto mark_index = [&](const std::string& text) {
    for (size_t i = 0; i < run.lines.size(); ++i) {
      if (run.lines[i].rfind("MARK ", 0) == 0 && run.lines[i].find(text) != std::string::npos) {
        return static_cast<int>(i);
      }
    }
    return -1;
  };
  const int start = mark_index("mmiotrace: start " + std::to_string(pid["parent"]) + " " + program("fork_exec"));
  const int parent_exit = mark_index("mmiotrace: exit " + std::to_string(pid["parent"]) + " status 0");
  const int orphan_exit = mark_index("mmiotrace: exit " + std::to_string(pid["orphan"]) + " status 0");
  EXPECT_EQ(start, 1) << run.trace_text;
  EXPECT_GT(parent_exit, start) << run.trace_text;
  EXPECT_GT(orphan_exit, parent_exit) << run.trace_text;
  EXPECT_EQ(orphan_exit + 1, static_cast<int>(run.lines.size())) << "the orphan's exit comes last:\n" << run.trace_text;
  // The orphan's accesses come after its parent's exit.
  const std::string orphan = std::to_string(pid["orphan"]);
  for (size_t i = 0; i < run.lines.size(); ++i) {
    const std::string& l = run.lines[i];
    if ((l[0] == 'W' || l[0] == 'R') && l.substr(l.rfind(' ') + 1) == orphan) {
      EXPECT_GT(static_cast<int>(i), parent_exit) << l;
    }
  }
  EXPECT_NE(run.err.find("in 3 processes"), std::string::npos) << run.err;
}

// children.c: the device range each kind of child writes, by role.
const std::vector<std::pair<std::string, uint64_t>> kChildRanges = {
    {"parent", 0x000}, {"fork", 0x100}, {"vfork", 0x200}, {"spawn", 0x300}, {"clone", 0x400}, {"exec", 0x500}};

// By default every process the program starts is traced: fork, vfork + exec,
// posix_spawn, clone() without CLONE_VM, fork + exec; each access carries its
// own process's id.
TEST_P(E2E, EveryKindOfChildIsFollowedWithItsOwnPid) {
  const TracedRun& run = keep(run_traced(test_name(), program("children"), {}, 4096));
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  ASSERT_NE(run.out.find("DONE"), std::string::npos) << run.out;
  expect_exact(run);
  const std::map<std::string, int> pid = pids_by_role(run);
  ASSERT_EQ(pid.size(), kChildRanges.size()) << run.out;
  for (const Access& a : run.accesses) {
    const std::string& role = kChildRanges.at(a.phys / 0x100).first;
    EXPECT_EQ(a.tid, pid.at(role)) << role << ": " << a.line;
  }
  EXPECT_NE(run.err.find("in 6 processes"), std::string::npos) << run.err;
  EXPECT_EQ(run.trace_text.find("Lost"), std::string::npos);
}

// record --no-follow: only the program itself is traced; its children run
// untraced, and their accesses (through an inherited mapping, or their own)
// reach the device.
TEST_P(E2E, NoFollowTracesOnlyTheProgramAndItsChildrenStillWork) {
  const TracedRun& run = keep(run_traced(test_name(), program("children"), {}, 4096, {"--no-follow"}));
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  ASSERT_NE(run.out.find("DONE"), std::string::npos) << run.out;
  std::vector<Access> want;
  for (const Access& a : expected_accesses(run)) {
    if (a.phys < 0x100) want.push_back(a);
  }
  ASSERT_EQ(want.size(), 9u) << run.out;
  ASSERT_EQ(run.accesses.size(), want.size()) << run.trace_text;
  const int parent = pids_by_role(run).at("parent");
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(describe(run.accesses[i]), describe(want[i])) << run.accesses[i].line;
    EXPECT_EQ(run.accesses[i].tid, parent) << run.accesses[i].line;
  }
  // Every child's writes are on the device: tag | i in its 8 words.
  ASSERT_EQ(run.device_after.size(), 4096u);
  for (size_t r = 1; r < kChildRanges.size(); ++r) {
    const uint64_t first = kChildRanges[r].second;
    for (uint32_t i = 0; i < 8; ++i) {
      uint32_t v = 0;
      memcpy(&v, run.device_after.data() + first + 4 * i, 4);
      const uint32_t tag = r == 1 ? 0xb0000000u : r == 4 ? 0xe0000000u : static_cast<uint32_t>(first << 20);
      EXPECT_EQ(v, tag | i) << kChildRanges[r].first << " word " << i;
    }
  }
  EXPECT_NE(run.err.find("in 1 process "), std::string::npos) << run.err;
}

// flood.c's writes 0, 1, 2, ... against a slow consumer: every write is in
// the trace, or counted in a "Lost N events" line at the place of the writes
// it stands for. Returns the number lost; fails the test on any disagreement.
uint64_t check_flood(const TracedRun& run, uint32_t n) {
  uint64_t pending = 0, lost = 0, recorded = 0, reads = 0;
  int64_t last = -1;
  for (const std::string& l : run.lines) {
    unsigned long long count = 0;
    if (sscanf(l.c_str(), "MARK 0.000000 Lost %llu events.", &count) == 1) {
      pending += count;
      lost += count;
      continue;
    }
    if (l.empty() || (l[0] != 'W' && l[0] != 'R')) continue;
    const Access& got = run.accesses.at(recorded);
    EXPECT_EQ(got.line, l);
    ++recorded;
    if (got.op == 'R') {
      EXPECT_EQ(got.value, n - 1u) << l;  // the final read back
      EXPECT_EQ(static_cast<uint64_t>(last + 1) + pending, n) << "every write comes before the read: " << l;
      ++reads;
      continue;
    }
    EXPECT_EQ(static_cast<int64_t>(got.value), last + 1 + static_cast<int64_t>(pending)) << l;
    last = static_cast<int64_t>(got.value);
    pending = 0;
  }
  EXPECT_LE(reads, 1u);
  // The writes after the last recorded one, and the read if it is not there, are lost at the end.
  EXPECT_EQ(static_cast<uint64_t>(last + 1) + pending, n + (reads == 0 ? 1 : 0))
      << "the last accesses are neither recorded nor lost";
  EXPECT_EQ(recorded + lost, uint64_t{n} + 1) << "recorded + lost must be what the program did";
  return lost;
}

// Full buffers (docs/record.md): by default the program waits for the
// consumer, nothing is lost and the summary says how long the program waited;
// with --drop-when-full it runs on, and every dropped access is counted in
// place and in the summary.
TEST_P(E2E, FullBuffersWaitByDefaultOrDropAndCountWhenAsked) {
  constexpr uint32_t kWrites = 100000;
  const TracedRun& waited = keep(run_traced(test_name() + "_wait", program("flood"), {std::to_string(kWrites)}, 4096,
                                            {"--testing-consumer-delay-ms", "20"}));
  ASSERT_EQ(waited.exit_code, 0) << waited.out << waited.err;
  ASSERT_NE(waited.out.find("COUNT 100000"), std::string::npos) << waited.out;
  EXPECT_EQ(check_flood(waited, kWrites), 0u);
  EXPECT_EQ(waited.err.find("lost"), std::string::npos) << waited.err;
  // 8.8 MB of records through a 256 KiB buffer that is emptied every 20 ms:
  // the thread waited, and the summary says so.
  const std::regex waits(
      "; threads waited ([0-9]+) times? for room in a full buffer, ([0-9]+)\\.[0-9] ms in all "
      "\\(the recorder fell behind\\)");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(waited.err, m, waits)) << waited.err;
  EXPECT_GT(std::stoull(m[1].str()), 0u);
  EXPECT_GT(std::stoull(m[2].str()), 20u) << "each wait lasts until the recorder's next look, 20 ms apart";
  // A buffer that never fills: no wait, no such words.
  const TracedRun& few = keep(run_traced(test_name() + "_few", program("flood"), {"100"}, 4096));
  ASSERT_EQ(few.exit_code, 0) << few.out << few.err;
  EXPECT_EQ(few.err.find("waited"), std::string::npos) << few.err;

  const TracedRun& run = keep(run_traced(test_name() + "_drop", program("flood"), {std::to_string(kWrites)}, 4096,
                                         {"--drop-when-full", "--testing-consumer-delay-ms", "100"}));
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  ASSERT_NE(run.out.find("COUNT 100000"), std::string::npos) << run.out;
  const uint64_t lost = check_flood(run, kWrites);
  EXPECT_GT(lost, 0u) << "the consumer was not slow enough to fill a buffer";
  const std::string summary =
      "; " + std::to_string(lost) + " events lost (" + std::to_string(lost) + " dropped because a buffer was full)";
  EXPECT_NE(run.err.find(summary), std::string::npos) << run.err;
  // The device saw every write: the final value is the last one.
  uint32_t v = 0;
  memcpy(&v, run.device_after.data() + 4, 4);
  EXPECT_EQ(v, kWrites - 1);
}

// The values written to register `phys` in trace order; false if they are
// not 0, 1, 2, ... without a gap.
bool consecutive_writes(const TracedRun& run, uint64_t phys, uint64_t* count, std::string* why) {
  *count = 0;
  for (const Access& a : run.accesses) {
    if (a.phys != phys || a.op != 'W') continue;
    if (a.value != *count) {
      *why = "expected value " + std::to_string(*count) + ": " + a.line;
      return false;
    }
    ++*count;
  }
  return true;
}

// The CODEMAP records process `pid` wrote for its last program (since the
// last one flagged kCodeMapFirst: the fork child repeats its parent's, then
// the exec'd program records its own).
uint64_t code_maps_of_last_program(const TracedRun& run, uint32_t pid) {
  auto reader = trace::TraceReader::open(run.dir + "/trace.mmio");
  EXPECT_TRUE(reader.ok()) << reader.error();
  uint64_t n = 0;
  trace::RecordView v;
  while (reader.ok()) {
    auto more = reader->next(v);
    EXPECT_TRUE(more.ok()) << more.error();
    if (!more.ok() || !*more) break;
    if (v.type() != trace::RecordType::CODEMAP || v.as<trace::CodeMapRecord>().pid != pid) continue;
    n = (v.as<trace::CodeMapRecord>().flags & trace::kCodeMapFirst) ? 1 : n + 1;
  }
  return n;
}

// Recovery (trace/channel_producer.h): a process killed while it holds the
// order lock; the program, whose accesses then wait for the lock, goes on
// once the victim is dead (a zombie its parent has not reaped yet counts).
TEST_P(E2E, AProcessKilledHoldingTheOrderLockDoesNotStallTheOthers) {
  const TracedRun& run = keep(run_traced(test_name(), program("lock_holder_killed"), {}, 4096));
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  ASSERT_NE(run.out.find("VICTIM signal 9"), std::string::npos) << run.out;
  const size_t at = run.out.find("COUNT ");
  ASSERT_NE(at, std::string::npos) << run.out;
  const uint64_t n = std::stoull(run.out.substr(at + 6));
  uint64_t count = 0, victim = 0;
  std::string why;
  EXPECT_TRUE(consecutive_writes(run, 0x0, &count, &why)) << why;
  EXPECT_EQ(count, n);
  EXPECT_TRUE(consecutive_writes(run, 0x100, &victim, &why)) << why;
  // The victim died in its 300th lock, before that access: its CODEMAP
  // records (its program's code, trace format 1.2) and its MAP record took
  // the first locks, its writes the next ones up to 299, all recorded, the
  // last one on the device.
  std::vector<BinaryAccess> accesses;
  uint64_t lost = 0;
  ASSERT_EQ(read_binary_accesses(run, &accesses, &lost), "");
  uint32_t victim_pid = 0;
  for (const BinaryAccess& a : accesses) {
    if (a.phys == 0x100 && a.op == 'W') victim_pid = a.pid;
  }
  const uint64_t code_maps = code_maps_of_last_program(run, victim_pid);
  EXPECT_GE(code_maps, 2u);  // the program and libc, at least
  EXPECT_EQ(victim, 299u - code_maps - 1);
  uint32_t v = 0;
  memcpy(&v, run.device_after.data() + 0x100, 4);
  EXPECT_EQ(v, victim - 1);
  EXPECT_EQ(run.trace_text.find("Lost"), std::string::npos) << "the victim took no seq it did not publish";
  EXPECT_NE(run.err.find("; the order lock was taken over from a process killed while holding it (1 time)"),
            std::string::npos)
      << run.err;
}

// A victim killed between a device access and its record (after its 300th
// access, MMIOTRACE_TESTING_KILL_AFTER_ACCESS): the access took its seq
// before it touched the device, so the trace says one event was lost where
// the device holds one write more than the trace shows.
TEST_P(E2E, AProcessKilledBetweenAnAccessAndItsRecordLeavesALostEvent) {
  const TracedRun& run = keep(run_traced(test_name(), program("lock_holder_killed"), {"after-access"}, 4096));
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  ASSERT_NE(run.out.find("VICTIM signal 9"), std::string::npos) << run.out;
  uint64_t count = 0, victim = 0;
  std::string why;
  EXPECT_TRUE(consecutive_writes(run, 0x0, &count, &why)) << why;
  EXPECT_TRUE(consecutive_writes(run, 0x100, &victim, &why)) << why;
  // Writes 0-298 are recorded; the 300th access (299) reached the device only.
  EXPECT_EQ(victim, 299u);
  uint32_t v = 0;
  memcpy(&v, run.device_after.data() + 0x100, 4);
  EXPECT_EQ(v, 299u);
  EXPECT_NE(run.trace_text.find("Lost 1 events"), std::string::npos) << run.trace_text.substr(0, 2000);
}

// Signals (docs/record.md): a handler that touches the device while its
// thread waits in sigsuspend, ppoll, pselect or epoll_pwait with every other
// signal blocked, or whose own sa_mask blocks everything; a handler on an
// alternate signal stack, of 64 KiB, of the classic SIGSTKSZ (8 KiB), and just
// large enough for the program's handler and one nested kernel signal frame
// (twice the kernel's AT_MINSIGSTKSZ and 1.5 KiB), where the tracer's handler
// does not fit behind its fault's frame and moves to its own stack
// (fault_handler.cc); the
// program's SA_RESETHAND and SA_NODEFER SIGSEGV handlers, left by siglongjmp.
TEST_P(E2E, HandlersTouchTheDeviceUnderTemporaryMasksAndOnAnAlternateStack) {
  const unsigned long min_frame = getauxval(AT_MINSIGSTKSZ);  // 0 from kernels before 5.14: then 2 KiB
  const std::string tight = std::to_string(2 * (min_frame != 0 ? min_frame : 2048) + 1536);
  for (const std::string& size : {std::string("65536"), std::string("8192"), tight}) {
    const TracedRun& run = keep(run_traced(test_name() + "_" + size, program("signal_waits"), {size}, 4096));
    ASSERT_EQ(run.exit_code, 0) << size << "\n" << run.out << run.err;
    ASSERT_NE(run.out.find("DONE"), std::string::npos) << run.out;
    for (const char* how : {"sigsuspend", "ppoll", "pselect", "epoll_pwait", "sa_mask"}) {
      EXPECT_NE(run.out.find(std::string("ROUND ") + how), std::string::npos) << how;
    }
    expect_exact(run);
    EXPECT_EQ(replay_mismatch(run), "");
  }
}

// Stress (stress.c). The accesses of a binary trace grouped by register.
std::map<uint64_t, std::vector<const BinaryAccess*>> by_register(const std::vector<BinaryAccess>& all) {
  std::map<uint64_t, std::vector<const BinaryAccess*>> regs;
  for (const BinaryAccess& a : all) regs[a.phys].push_back(&a);
  return regs;
}

// A register one thread wrote `tag | i` to and read back, i = 0, 1, ...: "" or
// the first disagreement. *tid: the thread.
std::string write_read_pairs(const std::vector<const BinaryAccess*>& list, uint32_t tag, size_t pairs, uint32_t* tid) {
  if (list.size() != 2 * pairs)
    return "has " + std::to_string(list.size()) + " accesses, not " + std::to_string(2 * pairs);
  *tid = list[0]->tid;
  for (size_t i = 0; i < list.size(); ++i) {
    const BinaryAccess& a = *list[i];
    if (a.op != (i % 2 == 0 ? 'W' : 'R') || a.value != (tag | (i / 2)) || a.tid != *tid || a.width != 4) {
      return "access #" + std::to_string(i) + " at seq " + std::to_string(a.seq) + " is " + a.op + " " +
             std::to_string(a.value) + " by " + std::to_string(a.tid);
    }
  }
  return "";
}

// 8 threads x 200,000 accesses started while the others run, and 64
// short-lived threads coming and going: every access in the trace, each
// thread's in its program order, the global order the device's (replay).
TEST_P(E2E, StressEightThreadsWhileThreadsComeAndGo) {
  const TracedRun& run = keep(run_traced(test_name(), program("stress"), {"threads"}, 4096, {}, /*print=*/false));
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  ASSERT_NE(run.out.find("COUNT threads 1606400"), std::string::npos) << run.out;
  std::vector<BinaryAccess> all;
  uint64_t lost = 0;
  ASSERT_EQ(read_binary_accesses(run, &all, &lost), "");
  EXPECT_EQ(lost, 0u);
  EXPECT_EQ(all.size(), 1606400u);
  const auto regs = by_register(all);
  std::set<uint32_t> tids;
  for (uint32_t t = 0; t < 8; ++t) {
    uint32_t tid = 0;
    ASSERT_TRUE(regs.count(t * 0x40)) << t;
    EXPECT_EQ(write_read_pairs(regs.at(t * 0x40), t << 24, 100000, &tid), "") << "worker " << t;
    tids.insert(tid);
  }
  for (uint32_t k = 0; k < 64; ++k) {
    ASSERT_TRUE(regs.count(0x800 + 4 * k)) << k;
    const auto& list = regs.at(0x800 + 4 * k);
    ASSERT_EQ(list.size(), 100u) << k;
    for (size_t i = 0; i < list.size(); ++i) {
      ASSERT_TRUE(list[i]->op == 'W' && list[i]->value == i && list[i]->tid == list[0]->tid) << k << " #" << i;
    }
    tids.insert(list[0]->tid);
  }
  EXPECT_EQ(tids.size(), 72u);
  uint64_t replayed = 0;
  EXPECT_EQ(replay_binary_mismatch(run, 1, &replayed), "");
  EXPECT_EQ(replayed, all.size());
  if (!HasFailure()) std::filesystem::remove_all(run.dir);  // 140 MB
}

// The program, a forked child and an exec'd program on the same device at
// the same time, with atomic increments of one shared counter: each
// process's accesses complete and in order, and the counter's values, read
// in trace order, go up by one: the global order is the device's.
TEST_P(E2E, StressForkedAndExecdProcessesShareTheDeviceAtOnce) {
  const TracedRun& run = keep(run_traced(test_name(), program("stress"), {"procs"}, 4096, {}, /*print=*/false));
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  for (const char* role : {"parent", "fork", "exec"}) {
    EXPECT_NE(run.out.find(std::string("COUNT ") + role + " 200000"), std::string::npos) << run.out;
  }
  const size_t at = run.out.find("COUNTER 0x");
  ASSERT_NE(at, std::string::npos) << run.out;
  const uint32_t counter = static_cast<uint32_t>(std::stoul(run.out.substr(at + 10), nullptr, 16));
  std::vector<BinaryAccess> all;
  uint64_t lost = 0;
  ASSERT_EQ(read_binary_accesses(run, &all, &lost), "");
  EXPECT_EQ(lost, 0u);
  EXPECT_EQ(all.size(), 600002u);  // + the counter's read before and after
  const auto regs = by_register(all);
  std::set<uint32_t> pids;
  for (uint32_t id = 0; id < 3; ++id) {
    uint32_t tid = 0;
    ASSERT_TRUE(regs.count(id * 0x40)) << id;
    EXPECT_EQ(write_read_pairs(regs.at(id * 0x40), id << 24, 50000, &tid), "") << "process " << id;
    pids.insert(regs.at(id * 0x40)[0]->pid);
  }
  EXPECT_EQ(pids.size(), 3u);
  // The counter: its first read, then 150,000 (read n, write n + 1) pairs
  // from whichever process, n = counter, counter + 1, ..., then the last read.
  const auto& c = regs.at(0xf00);
  ASSERT_EQ(c.size(), 2u + 2u * 150000u);
  for (size_t i = 0; i < 150000; ++i) {
    const BinaryAccess& r = *c[1 + 2 * i];
    const BinaryAccess& w = *c[2 + 2 * i];
    ASSERT_TRUE(r.op == 'R' && w.op == 'W' && r.value == uint32_t(counter + i) &&
                w.value == uint32_t(counter + i + 1) && r.tid == w.tid && w.seq == r.seq + 1)
        << "increment " << i << " at seq " << r.seq;
  }
  uint64_t replayed = 0;
  EXPECT_EQ(replay_binary_mismatch(run, 0, &replayed), "");
  if (!HasFailure()) std::filesystem::remove_all(run.dir);
}

// A program killed by SIGKILL while 4 threads write 0, 1, 2, ... as fast as
// they can: each thread's writes are in the trace without a gap, and each
// register holds the last one traced (at most one access, cut off between
// the device and its record by the kill, is a "Lost 1 events" instead).
TEST_P(E2E, StressKilledMidRunKeepsEveryAccessItMade) {
  const TracedRun& run = keep(run_traced(test_name(), program("stress"), {"killed"}, 4096, {}, /*print=*/false));
  ASSERT_EQ(run.term_signal, SIGKILL) << run.out << run.err;
  std::vector<BinaryAccess> all;
  uint64_t lost = 0;
  ASSERT_EQ(read_binary_accesses(run, &all, &lost), "");
  EXPECT_LE(lost, 1u);
  const auto regs = by_register(all);
  ASSERT_EQ(regs.size(), 4u);
  int ahead = 0;
  for (uint32_t t = 0; t < 4; ++t) {
    ASSERT_TRUE(regs.count(t * 0x40)) << t;
    const auto& list = regs.at(t * 0x40);
    EXPECT_GT(list.size(), 100u) << t;
    for (size_t i = 0; i < list.size(); ++i) {
      ASSERT_TRUE(list[i]->op == 'W' && list[i]->value == i && list[i]->tid == list[0]->tid) << t << " #" << i;
    }
    uint32_t on_device = 0;
    memcpy(&on_device, run.device_after.data() + t * 0x40, 4);
    if (on_device == list.size()) {
      ++ahead;  // its last write reached the device, its record did not
    } else {
      EXPECT_EQ(on_device, list.size() - 1) << "register " << t;
    }
  }
  EXPECT_LE(static_cast<uint64_t>(ahead), lost);
  // The recorder's exit mark says how it ended.
  std::string text, err;
  run_command({mmiotrace_path(), "print", run.dir + "/trace.mmio"}, &text, &err);
  EXPECT_NE(text.find(" killed by signal 9\n"), std::string::npos) << err;
  if (!HasFailure()) std::filesystem::remove_all(run.dir);
}

}  // namespace
}  // namespace mmiotrace::e2e
