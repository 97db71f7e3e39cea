// End-to-end: marks (docs/mark.md), from inside the traced program and from
// another shell while `record` runs, and where they land among the accesses.
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
    setenv("MMIOTRACE_TESTING_MARK_HOLD_UNTIL_CLOSING", "1", 1);
    execl(mmiotrace_path().c_str(), "mmiotrace", "mark", "--pid", std::to_string(rec.recorder).c_str(), "just in time",
          (char*)nullptr);
    _exit(127);
  }
  // Once the mark has its ring (which it holds until the recorder begins its
  // final drain), the program ends.
  auto claimed = [&] {
    std::ifstream in(mark_err);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return text.find("ring claimed") != std::string::npos;
  };
  // 60 s of polls: only to fail rather than hang if the mark never gets there.
  for (int i = 0; i < 6000 && !claimed(); ++i) usleep(10000);
  ASSERT_TRUE(claimed()) << "mark did not claim a ring within 60 s";
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

}  // namespace
}  // namespace mmiotrace::e2e
