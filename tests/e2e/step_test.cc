// End-to-end tests of what single-stepping must get right (record
// --mode=step; tests/e2e/programs/step_cases.c), each also run in emulate
// mode: the program's own TF, signals mid-step, one access over two pages,
// REP string instructions (also under load, and with traps that come late),
// registers that hold the step's probe pattern, a value no register holds,
// and emulate mode's fallback for an instruction neither the emulator nor the
// generic path runs.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "fixture.h"
#include "harness.h"
#include "trace/format.h"

namespace mmiotrace::e2e {
namespace {

// The UNKNOWN lines of the kernel format: an access whose value is unknown
// prints as the kernel prints a lost value.
std::vector<std::string> unknown_value_lines(const TracedRun& run) {
  std::vector<std::string> v;
  for (const std::string& l : run.lines) {
    if (l.rfind("UNKNOWN ", 0) == 0) v.push_back(l);
  }
  return v;
}

// The access lines of the native format whose value is unknown (`?`), from
// the `R|W` on: "R 4 1 0x600 ? 0x401000 stepped insn=...".
std::vector<std::string> native_unknown_values(const TracedRun& run) {
  std::string native, err;
  run_command({mmiotrace_path(), "print", "--format", "native", run.dir + "/trace.mmio"}, &native, &err);
  std::vector<std::string> v;
  std::istringstream lines(native);
  for (std::string l; std::getline(lines, l);) {
    const size_t rw = l.find(" R ") != std::string::npos ? l.find(" R ") : l.find(" W ");
    if (rw != std::string::npos && l.find(" ? ") != std::string::npos) v.push_back(l.substr(rw + 1));
  }
  return v;
}

// The R/W lines of the kernel format as "R 1 0x400 0x1", and the UNKNOWN
// lines it has for an access whose value the step could not know as
// "UNKNOWN 0x400", in the trace's order.
std::vector<std::string> access_lines(const TracedRun& run) {
  std::vector<std::string> v;
  for (const std::string& l : run.lines) {
    char op = 0;
    int width = 0, map_id = 0;
    unsigned long sec = 0, usec = 0;
    char phys[32], value[32];
    if ((l.rfind("R ", 0) == 0 || l.rfind("W ", 0) == 0) &&
        sscanf(l.c_str(), "%c %d %lu.%lu %d %31s %31s", &op, &width, &sec, &usec, &map_id, phys, value) == 7) {
      v.push_back(std::string(1, op) + " " + std::to_string(width) + " " + phys + " " + value);
    } else if (l.rfind("UNKNOWN ", 0) == 0 &&
               sscanf(l.c_str(), "UNKNOWN %lu.%lu %d %31s", &sec, &usec, &map_id, phys) == 4) {
      v.push_back(std::string("UNKNOWN ") + phys);
    }
  }
  return v;
}

// The program's EXPECT lines in the same form.
std::vector<std::string> expected_lines(const TracedRun& run) {
  std::vector<std::string> v;
  for (const Access& a : expected_accesses(run)) {
    char buf[96];
    snprintf(buf, sizeof buf, "%c %d 0x%llx 0x%llx", a.op, a.width, static_cast<unsigned long long>(a.phys),
             static_cast<unsigned long long>(a.value));
    v.push_back(buf);
  }
  return v;
}

// Two processes that keep both CPUs busy while they live; killed and reaped
// at the end of the scope.
class CpuHogs {
 public:
  CpuHogs() {
    for (pid_t& p : pids_) {
      p = fork();
      if (p == 0) {
        execl("/bin/sh", "sh", "-c", "while :; do :; done", static_cast<char*>(nullptr));
        _exit(127);
      }
    }
  }
  ~CpuHogs() {
    for (pid_t p : pids_) {
      if (p <= 0) continue;
      kill(p, SIGKILL);
      waitpid(p, nullptr, 0);
    }
  }
  bool started() const { return pids_[0] > 0 && pids_[1] > 0; }

 private:
  pid_t pids_[2] = {-1, -1};
};

TEST_P(E2EModes, ProgramThatSetsTheTrapFlagGetsEveryTrap) {
  const TracedRun& run = keep(traced(test_name(), program("step_cases"), {"tf"}, 8192));
  expect_mode(run);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;  // as many traps over the device as over ordinary memory
  long native = -1, device = -2;
  ASSERT_NE(run.out.find("TRAPS"), std::string::npos) << run.out;
  ASSERT_EQ(sscanf(run.out.substr(run.out.find("TRAPS")).c_str(), "TRAPS native=%ld device=%ld", &native, &device), 2);
  EXPECT_EQ(device, native);
  EXPECT_GE(native, 4);  // at least after the two device accesses and the instructions around them
  expect_exact(run);
}

TEST_P(E2EModes, SignalsArrivingMidStepWaitForIt) {
  const TracedRun& run = keep(traced(test_name(), program("step_cases"), {"signal"}, 8192));
  expect_mode(run);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  unsigned ticks = 0;
  ASSERT_EQ(sscanf(run.out.substr(run.out.find("TICKS")).c_str(), "TICKS %u", &ticks), 1) << run.out;
  // Every write the handler made is in the trace: no handler ran while a
  // step had the page open.
  size_t handler_writes = 0, loop = 0;
  for (const Access& a : run.accesses) {
    handler_writes += a.phys == 0x200;
    loop += a.phys == 0x300;
  }
  EXPECT_EQ(handler_writes, ticks);
  EXPECT_GT(ticks, 0u);
  EXPECT_EQ(loop, 40000u);
  EXPECT_EQ(replay_mismatch(run), "");
}

TEST_P(E2EModes, OneAccessAcrossTwoPagesOfAMapping) {
  const TracedRun& run = keep(traced(test_name(), program("step_cases"), {"pages"}, 8192));
  expect_mode(run);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  expect_exact(run);
  EXPECT_EQ(replay_mismatch(run), "");
}

TEST_P(E2EModes, RepStringInstructionsIterationByIteration) {
  const TracedRun& run = keep(traced(test_name(), program("step_cases"), {"rep"}, 8192));
  expect_mode(run);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  expect_exact(run);
  EXPECT_EQ(replay_mismatch(run), "");
}

// Registers full of the step's probe pattern: the value is still found
// where it went (memory), not given up as unknown.
TEST_P(E2EModes, ReadValuesFoundAmongRegistersThatHoldTheProbePattern) {
  const TracedRun& run = keep(traced(test_name(), program("step_cases"), {"crowded"}, 8192));
  expect_mode(run);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  expect_exact(run);
  EXPECT_TRUE(unknown_value_lines(run).empty()) << run.trace_text;
}

// The REP cases again and again (each run a new address-space layout, so
// new register contents for the step's probe to tell from the real place of
// a value) with both CPUs kept busy by other processes (interrupts and
// preemption in the middle of every step): every run exact.
TEST_P(E2EModes, RepStringInstructionsIterationByIterationUnderLoad) {
  CpuHogs hogs;
  ASSERT_TRUE(hogs.started());
  for (int i = 0; i < 40 && !HasFailure(); ++i) {
    for (const char* c : {"rep", "crowded"}) {
      const TracedRun& run = keep(traced(test_name() + "_" + c, program("step_cases"), {c}, 8192));
      expect_mode(run);
      ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
      expect_exact(run);
      EXPECT_EQ(replay_mismatch(run), "") << "run " << i;
    }
  }
}

// A trap that comes several iterations of a REP string instruction late
// (MMIOTRACE_TESTING_STEP_LOSE_TRAPS=N: the agent passes over N traps in a
// row, as a hypervisor that lost them would): every iteration is recorded,
// in order, with its value where it still is: each REP MOVSB element in
// memory, REP STOSB's AL. REP LODSB keeps only the last iteration's value in
// AL: an iteration another one followed before the trap is `?`.
TEST_P(E2EModes, RepIterationsAfterALateTrapAreAllRecorded) {
  for (const unsigned lost : {1u, 3u, 20u}) {
    ScopedEnv env("MMIOTRACE_TESTING_STEP_LOSE_TRAPS", std::to_string(lost));
    const TracedRun& run = keep(traced(test_name() + "_" + std::to_string(lost), program("step_cases"), {"rep"}, 8192));
    expect_mode(run);
    ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
    std::vector<std::string> want = expected_lines(run);
    ASSERT_EQ(want.size(), 44u) << run.out;
    if (step()) {
      // The last 4: LODSB's iterations, in groups of lost + 1 per trap.
      for (unsigned i = 0; i < 4; ++i) {
        const bool last_of_its_trap = (i + 1) % (lost + 1) == 0 || i == 3;
        std::string& w = want[40 + i];
        if (!last_of_its_trap) {  // "R 1 0x401 0x2" -> "UNKNOWN 0x401"
          const size_t phys = w.find(' ', 2) + 1;
          w = "UNKNOWN " + w.substr(phys, w.find(' ', phys) - phys);
        }
      }
    }
    EXPECT_EQ(access_lines(run), want) << "lost " << lost << "\n" << run.trace_text;
  }
}

TEST_P(E2EModes, ADeviceValueNoRegisterHoldsIsNeverReadTwice) {
  const TracedRun& run = keep(traced(test_name(), program("step_cases"), {"unknown"}, 8192));
  expect_mode(run);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  if (!step()) {
    expect_exact(run);
    EXPECT_TRUE(unknown_value_lines(run).empty()) << run.trace_text;
    return;
  }
  // OR [dev], EAX single-stepped: its read and write are there, in order,
  // with values the step could not know without reading the device again.
  // The kernel format has the kernel's UNKNOWN line for each (the
  // instruction's first bytes: 09 for OR r/m32, r32, after any prefix).
  const std::vector<std::string> unknown = unknown_value_lines(run);
  ASSERT_EQ(unknown.size(), 2u) << run.trace_text;
  for (const std::string& l : unknown) {
    EXPECT_NE(l.find(" 0x600 "), std::string::npos) << l;
    EXPECT_TRUE(l.find(" 0x600 09,") != std::string::npos || l.find(",09,") != std::string::npos) << l;
  }
  EXPECT_EQ(run.trace_text.find(" ? "), std::string::npos) << run.trace_text;
  const std::vector<std::string> native = native_unknown_values(run);
  ASSERT_EQ(native.size(), 2u);
  EXPECT_EQ(native[0].rfind("R 4 1 0x600 ? ", 0), 0u) << native[0];
  EXPECT_EQ(native[1].rfind("W 4 1 0x600 ? ", 0), 0u) << native[1];
  std::vector<std::string> got;
  for (const Access& a : run.accesses) got.push_back(describe(a));
  EXPECT_EQ(got, (std::vector<std::string>{"W 4 0x600 0xf0f0000", "R 4 0x600 0xf0f00ff"})) << run.trace_text;
}

TEST_P(E2EModes, WrittenValuesThatDependOnTheReadOne) {
  const TracedRun& run = keep(traced(test_name(), program("step_cases"), {"atomic"}, 8192));
  expect_mode(run);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  expect_exact(run);  // exact values in step mode too: XADD and CMPXCHG are replayed on the read value
  EXPECT_TRUE(unknown_value_lines(run).empty()) << run.trace_text;
  EXPECT_EQ(replay_mismatch(run), "");
}

TEST_P(E2EModes, InstructionNeitherPathRunsIsSingleStepped) {
  const TracedRun& run = keep(traced(test_name(), program("step_cases"), {"fallback"}, 8192));
  expect_mode(run, true);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_NE(run.out.find("CALLED 42"), std::string::npos) << run.out;
  EXPECT_EQ(run.err.find("cannot emulate"), std::string::npos) << run.err;
  // The write that stored the pointer, then CALL's read of it, stepped:
  // the value went into RIP, which the decoder alone cannot follow.
  ASSERT_EQ(run.accesses.size(), 1u) << run.trace_text;
  EXPECT_EQ(run.accesses[0].op, 'W');
  ASSERT_EQ(unknown_value_lines(run).size(), 1u) << run.trace_text;
  const std::vector<std::string> unknown = native_unknown_values(run);
  ASSERT_EQ(unknown.size(), 1u) << run.trace_text;
  EXPECT_EQ(unknown[0].rfind("R 8 ", 0), 0u) << unknown[0];
  std::string native, err;
  run_command({mmiotrace_path(), "print", "--format", "native", run.dir + "/trace.mmio"}, &native, &err);
  size_t stepped = 0;
  for (size_t pos = 0; (pos = native.find(" stepped ", pos)) != std::string::npos; ++pos) ++stepped;
  EXPECT_EQ(stepped, step() ? 2u : 1u) << native;
  EXPECT_TRUE(may_miss(run)) << "stepped with mprotect on this machine";
}

}  // namespace
}  // namespace mmiotrace::e2e
