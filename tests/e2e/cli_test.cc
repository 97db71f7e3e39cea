// End-to-end: the command line's answers: bad input gets one actionable
// sentence and a sysexits-style status, `record` exits as the program did, a
// truncated trace prints what is intact then the error.
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

}  // namespace
}  // namespace mmiotrace::e2e
