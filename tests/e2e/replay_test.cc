// `mmiotrace replay` end to end: a program recorded against a device (a
// stand-in file kept alive by a simulator, a fake sysfs tree, a QEMU guest's
// e1000) runs again with no device at all: the same output, the same trace;
// a changed program stops at its first difference (strict) or runs on and
// hears about every difference (lenient).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "harness.h"
#include "replay_harness.h"

namespace mmiotrace::e2e {
namespace {

namespace fs = std::filesystem;

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> sorted_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  std::sort(lines.begin(), lines.end());
  return lines;
}

class Replay : public FolderTest {
 protected:
  Replay() : FolderTest("replay") {}
  // Records `program device args...` against a 4 KiB stand-in filled with the
  // e2e pattern; the stand-in is gone afterwards.
  TracedRun record(const std::vector<std::string>& args, const std::string& name = "rec") {
    TracedRun run = run_traced(
        std::string("replay_") + name + "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name(),
        program_path("replay_driver", "O2"), args, 4096, {}, false);
    fs::remove(run.device);
    return run;
  }
  ReplayRun replay(const TracedRun& rec, const std::vector<std::string>& replay_args,
                   const std::vector<std::string>& args, const std::string& name = "replay") {
    std::vector<std::string> command = {program_path("replay_driver", "O2"), rec.device};
    command.insert(command.end(), args.begin(), args.end());
    ReplayRun r = run_replay(dir(), name, rec.dir + "/trace.mmio", replay_args, command);
    repro_ = r.repro;
    return r;
  }
};

// The first slice's example driver (scripts/demo.sh): recorded against
// examples/edu_sim keeping a stand-in alive, replayed with the stand-in gone
// and no simulator. Two threads (the driver's interrupt thread polls while
// the main thread works): the same lines, the same accesses in the same order.
TEST_F(Replay, EduDriverRunsAgainstItsRecordingWithNoDevice) {
  const std::string dev = dir() + "/edu-bar0";
  pid_t sim = fork();
  if (sim == 0) {
    execl(EXAMPLES_DIR "/edu_sim", "edu_sim", dev.c_str(), "60", static_cast<char*>(nullptr));
    _exit(127);
  }
  for (int i = 0; i < 2000 && (!fs::exists(dev) || fs::file_size(dev) == 0); ++i) usleep(5000);
  const std::string recording = dir() + "/rec.mmio";
  std::string rec_out, rec_err;
  const int st =
      run_command({mmiotrace_path(), "record", "-o", recording, "--device", dev, "--", EXAMPLES_DIR "/edu_driver", dev},
                  &rec_out, &rec_err);
  fs::remove(dev);  // edu_sim stops when its file goes
  waitpid(sim, nullptr, 0);
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << rec_out << rec_err;
  ASSERT_NE(rec_out.find("edu: done"), std::string::npos) << rec_out;
  ASSERT_FALSE(fs::exists(dev));

  const ReplayRun r = run_replay(dir(), "replay", recording, {}, {EXAMPLES_DIR "/edu_driver", dev});
  repro_ = r.repro;
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, rec_out);
  EXPECT_NE(r.err.find("no divergence"), std::string::npos) << r.err;
  EXPECT_EQ(trace_difference(recording, r.trace), "");
  // The replay's trace is a trace like any other: `mmiotrace diff` finds it
  // the same as the recording (exit status 0, as diff(1)).
  std::string diff_out, diff_err;
  const int diffed = run_command({mmiotrace_path(), "diff", recording, r.trace}, &diff_out, &diff_err);
  EXPECT_TRUE(WIFEXITED(diffed) && WEXITSTATUS(diffed) == 0) << diff_out << diff_err;
  EXPECT_NE(diff_out.find(": the same"), std::string::npos) << diff_out;
}

// A QEMU guest's trace of tests/vm/drivers/e1000_test (the vm_e1000 scenario,
// kept in tests/data/replay), replayed here: the driver opens the guest's
// sysfs path of the device, which on this machine may name one of its own
// PCI devices. The replay hands it the stand-in without opening anything:
// run where /sys is an empty tmpfs, any open of the real file would fail.
TEST_F(Replay, E1000GuestTraceReplaysOnTheHostWithNoDevice) {
  const std::vector<std::string> wrapper = no_devices_wrapper();
  if (wrapper.empty()) GTEST_SKIP() << "no mount namespace here (unshare): not replaying a real device's path";
  const std::string data = std::string(E2E_DATA_DIR) + "/replay";
  const std::string bdf = read_text(data + "/e1000.bdf");
  ASSERT_FALSE(bdf.empty());
  const ReplayRun r = run_replay(
      dir(), "e1000", data + "/e1000.mmio", {},
      {VM_DRIVERS_DIR "/e1000_test", "sysfs", "/sys/bus/pci/devices/" + bdf.substr(0, 12) + "/resource0"}, wrapper);
  repro_ = r.repro;
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, read_text(data + "/e1000.out"));
  EXPECT_NE(r.err.find("replayed 33 of 33 recorded accesses"), std::string::npos) << r.err;
  EXPECT_EQ(trace_difference(data + "/e1000.mmio", r.trace), "");
}

// record --sysroot: sysfs resource0 (opened by its /sys/bus/pci symlink),
// /dev/mem at a BAR's address and /dev/uio0 of a fake tree. The tree is
// deleted before the replay: nothing of it can be opened, and the program
// runs as recorded, with the PCIDEV line the recording had.
TEST_F(Replay, SysfsDevMemAndUioPathsWithTheFakeTreeGone) {
  const std::string root = make_fake_sysroot(dir());  // the harness's tree (harness.cc)
  const std::string recording = dir() + "/rec.mmio";
  const std::string prog = program_path("sysfs_paths", "O2");
  std::string rec_out, rec_err;
  const int st =
      run_command({mmiotrace_path(), "record", "-o", recording, "--sysroot", root, "--", prog, dir() + "/unused", root},
                  &rec_out, &rec_err);
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << rec_out << rec_err;
  fs::remove_all(root);

  const ReplayRun r = run_replay(dir(), "replay", recording, {}, {prog, dir() + "/unused", root});
  repro_ = r.repro;
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, rec_out);
  EXPECT_EQ(trace_difference(recording, r.trace), "");
  std::string printed, err;
  run_command({mmiotrace_path(), "print", r.trace}, &printed, &err);
  EXPECT_NE(printed.find("PCIDEV 0020 123411e8 b fea00000"), std::string::npos) << printed;
  EXPECT_FALSE(fs::exists(root));
}

// The program changed since it was recorded: its second write writes another
// value. Strict: it is stopped there, and the report names the access, its
// PC and instruction, and both values.
TEST_F(Replay, AChangedProgramStopsAtItsFirstDifference) {
  const TracedRun rec = record({});
  ASSERT_EQ(rec.exit_code, 0) << rec.out << rec.err;
  const ReplayRun r = replay(rec, {}, {"--change", "1"});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_EQ(r.out.find("done"), std::string::npos) << "the program ran on:\n" << r.out;
  // The second write: reg 2 of `sequence(0)` = 0x1000, changed to 0x1100.
  EXPECT_NE(r.err.find("replay diverged from the recording"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("program:   W 4 0x8 0x1100"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("recording: W 4 0x8 0x1000"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(" at pc 0x"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("mov"), std::string::npos) << "the instruction, disassembled:\n" << r.err;
  // The replay's trace ends with the differing access, after a MARK that says so.
  std::string printed, err;
  run_command({mmiotrace_path(), "print", r.trace}, &printed, &err);
  EXPECT_NE(printed.find("mmiotrace: replay diverged: W 4 0x8 0x1100"), std::string::npos) << printed;
}

// Lenient: the same changed program, plus a read the recording does not have,
// runs to its end; every difference is listed, and replay ends as the
// program did.
TEST_F(Replay, LenientRunsOnAndListsEveryDifference) {
  const TracedRun rec = record({});
  ASSERT_EQ(rec.exit_code, 0) << rec.out << rec.err;
  const ReplayRun r = replay(rec, {"--policy", "lenient"}, {"--change", "1", "--extra"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("done"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("2 accesses differed from the recording"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("the same register written with another value"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("an access after the last one the recording has for this thread"), std::string::npos) << r.err;
  // A read that matches a recorded one gets the recorded value, even after
  // the changed write; the extra read, which matches none, gets the
  // register's last value (what the program wrote to it last).
  EXPECT_NE(r.out.find("main: reg 2 = 0x00001000"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("extra read 0x00000d0e"), std::string::npos) << r.out;
}

// A program that makes fewer accesses than recorded ends "normally", but the
// replay says which recorded accesses it never made.
TEST_F(Replay, RecordedAccessesNeverMadeAreReported) {
  const TracedRun rec = record({"--extra"});
  ASSERT_EQ(rec.exit_code, 0) << rec.out << rec.err;
  const ReplayRun r = replay(rec, {}, {});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE(r.err.find("1 recorded access was never made by the program"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("R 4 0x28 0xd0e"), std::string::npos) << r.err;
}

// Threads, a forked child and an exec'd one: each plays the recorded thread
// and process it is, in the recorded order.
TEST_F(Replay, ThreadsForkAndExecReplayInTheRecordedOrder) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--threads", "3"}, std::vector<std::string>{"--fork"},
        std::vector<std::string>{"--exec"}}) {
    const TracedRun rec = record(args, args[0].substr(2));
    ASSERT_EQ(rec.exit_code, 0) << rec.out << rec.err;
    const ReplayRun r = replay(rec, {}, args, args[0].substr(2));
    EXPECT_EQ(r.exit_code, 0) << args[0] << "\n" << r.out << r.err;
    // Threads print after their accesses, in whichever order they get there.
    EXPECT_EQ(sorted_lines(r.out), sorted_lines(rec.out)) << args[0];
    EXPECT_EQ(trace_difference(rec.dir + "/trace.mmio", r.trace), "") << args[0];
  }
}

}  // namespace
}  // namespace mmiotrace::e2e
