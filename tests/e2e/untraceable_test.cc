// End-to-end tests of programs the agent cannot enter (docs/record.md,
// "Programs the agent cannot enter"): `record` refuses a statically linked
// program before running it; a traced process that starts one leaves a MARK
// and a warning naming it; a device mapping made by a raw mmap system call is
// found and reported.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "fixture.h"
#include "harness.h"

namespace mmiotrace::e2e {
namespace {

const std::string kStaticTrue = std::string(E2E_PROGRAM_DIR) + "/e2e_static_true";

std::string work_dir(const std::string& name) {
  const std::string dir = mmiotrace::e2e::work_dir() + "/" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

std::vector<std::string> marks_containing(const TracedRun& run, const std::string& text) {
  std::vector<std::string> v;
  for (const std::string& l : run.lines) {
    if (l.rfind("MARK ", 0) == 0 && l.find(text) != std::string::npos) v.push_back(l);
  }
  return v;
}

// Before anything runs: a static program (ours, built with -static, and
// Debian's busybox-static, the example), and a #! script whose
// interpreter is static. 69 (EX_UNAVAILABLE), no trace of a run.
TEST(Untraceable, RecordRefusesAStaticProgramBeforeItRuns) {
  const std::string dir = work_dir("RecordRefusesStatic");
  const std::string script = dir + "/script.sh";
  std::ofstream(script) << "#!" << kStaticTrue << "\n";
  std::filesystem::permissions(script, std::filesystem::perms::owner_all);
  std::vector<std::pair<std::string, std::string>> cases = {
      {kStaticTrue, "mmiotrace: '" + kStaticTrue + "' is statically linked: "},
      {script, "mmiotrace: '" + script + "' runs '" + kStaticTrue + "', which is statically linked: "},
  };
  if (access("/bin/busybox", X_OK) == 0)
    cases.push_back({"/bin/busybox", "mmiotrace: '/bin/busybox' is statically linked: "});
  for (const auto& [program, message] : cases) {
    const std::string trace = dir + "/t.mmio";
    std::string out, err;
    const int status = run_command({mmiotrace_path(), "record", "-o", trace, "--", program, "true"}, &out, &err);
    EXPECT_EQ(exit_status(status), 69) << program << ": " << err;
    EXPECT_EQ(err.rfind(message, 0), 0u) << err;
    EXPECT_NE(err.find("--allow-untraceable"), std::string::npos) << err;
    EXPECT_EQ(err.find('\n'), err.size() - 1) << "one line: " << err;
    EXPECT_FALSE(std::filesystem::exists(trace)) << program << ": refused before anything was written";
  }
}

// --allow-untraceable: it runs (its own exit status), untraced, and the trace says why it is empty.
TEST(Untraceable, AllowUntraceableRunsItAndTheTraceSaysSo) {
  const std::string dir = work_dir("AllowUntraceable");
  const std::string trace = dir + "/t.mmio";
  std::string out, err;
  const int status =
      run_command({mmiotrace_path(), "record", "--allow-untraceable", "-o", trace, "--", kStaticTrue, "5"}, &out, &err);
  EXPECT_EQ(exit_status(status), 5) << err;
  EXPECT_NE(err.find("warning: '" + kStaticTrue + "' is statically linked: it runs untraced"), std::string::npos)
      << err;
  std::string text;
  run_command({mmiotrace_path(), "print", trace}, &text, &err);
  EXPECT_NE(text.find(" mmiotrace: '" + kStaticTrue + "' is statically linked: not traced\n"), std::string::npos)
      << text;
}

// A traced program starts a static one, four ways: the MARK and the warning
// name it, and the MARK sits between the accesses made before and after.
TEST_P(E2E, ExecOfAStaticProgramLeavesAMarkAndAWarning) {
  for (const std::string how : {"execv", "execvp", "posix_spawn", "system"}) {
    const TracedRun& run = keep(run_traced(test_name() + "_" + how, program("exec_static"), {how, kStaticTrue}, 4096));
    EXPECT_EQ(run.exit_code, 7) << how << ": " << run.out << run.err;
    expect_exact(run);
    const std::vector<std::string> marks = marks_containing(run, " is statically linked: not traced");
    ASSERT_EQ(marks.size(), 1u) << how << ":\n" << run.trace_text;
    EXPECT_NE(marks[0].find(" execs " + kStaticTrue + ", which is statically linked"), std::string::npos) << marks[0];
    EXPECT_NE(run.err.find("mmiotrace: warning: process "), std::string::npos) << run.err;
    EXPECT_NE(run.err.find(" execs '" + kStaticTrue + "', which is statically linked"), std::string::npos) << run.err;
    // In order: the write before, the MARK, (for the spawning ways) the write after.
    size_t w1 = 0, mark = 0, w2 = 0;
    for (size_t i = 0; i < run.lines.size(); ++i) {
      if (run.lines[i].find(" 0x4 0x11 ") != std::string::npos) w1 = i;
      if (run.lines[i] == marks[0]) mark = i;
      if (run.lines[i].find(" 0x8 0x22 ") != std::string::npos) w2 = i;
    }
    EXPECT_LT(w1, mark) << run.trace_text;
    if (how == "posix_spawn" || how == "system") {
      EXPECT_LT(mark, w2) << run.trace_text;
    }
  }
}

// A traced program that starts a dynamic one with a clean environment
// (`env -i`): the agent would not load there either.
TEST(Untraceable, ExecWithoutTheAgentInTheEnvironmentIsReported) {
  const std::string dir = work_dir("ExecWithoutTheAgent");
  const std::string trace = dir + "/t.mmio";
  std::string out, err, text;
  const int status =
      run_command({mmiotrace_path(), "record", "-o", trace, "--", "/usr/bin/env", "-i", "/bin/true"}, &out, &err);
  EXPECT_EQ(exit_status(status), 0) << err;
  const std::string why = "/bin/true, which gets an environment without the agent (LD_PRELOAD) or MMIOTRACE_CHANNEL";
  EXPECT_NE(err.find("execs '/bin/true', which gets an environment without the agent"), std::string::npos) << err;
  run_command({mmiotrace_path(), "print", trace}, &text, &err);
  EXPECT_NE(text.find(" execs " + why + ": not traced\n"), std::string::npos) << text;
  // With the environment kept, nothing is said.
  run_command({mmiotrace_path(), "record", "-o", trace, "--", "/usr/bin/env", "/bin/true"}, &out, &err);
  EXPECT_EQ(err.find("warning"), std::string::npos) << err;
}

// A device mapping made by a raw mmap system call: found when the process
// ends (returning from main, _exit) or before it execs, and reported once.
TEST_P(E2E, RawMmapOfADeviceIsFoundAndReported) {
  for (const std::string how : {"return", "_exit", "exec"}) {
    const TracedRun& run = keep(run_traced(test_name() + "_" + how, program("raw_mmap"), {how, "/bin/true"}, 4096));
    EXPECT_EQ(run.exit_code, 0) << how << ": " << run.out << run.err;
    expect_exact(run);  // the raw mapping's write is not in the trace
    const size_t at = run.out.find("RAW ");
    ASSERT_NE(at, std::string::npos) << run.out;
    const std::string raw = "0x" + run.out.substr(at + 4, run.out.find('\n', at) - at - 4);
    const std::vector<std::string> marks = marks_containing(run, " without mmap() (a raw system call)");
    ASSERT_EQ(marks.size(), 1u) << how << ":\n" << run.trace_text;
    EXPECT_NE(marks[0].find(" mapped " + run.device + " at " + raw + "-"), std::string::npos) << marks[0];
    EXPECT_NE(run.err.find("mmiotrace: warning: process "), std::string::npos) << run.err;
    EXPECT_NE(run.err.find(" has " + run.device + " mapped at " + raw + "-"), std::string::npos) << run.err;
    EXPECT_NE(run.err.find("by a raw mmap system call"), std::string::npos) << run.err;
  }
}

}  // namespace
}  // namespace mmiotrace::e2e
