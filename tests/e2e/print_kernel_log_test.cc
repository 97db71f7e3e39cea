// `mmiotrace print` on Linux kernel mmiotrace logs: our own traces printed in
// the kernel format read back and print identically; a real-looking kernel log
// (tests/data/kernel_log) prints as its golden text, from a file or a pipe; a
// malformed log prints what came before the bad line, then one error and 65.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "harness.h"

namespace mmiotrace::e2e {
namespace {

const std::string kLogDir = std::string(E2E_DATA_DIR) + "/kernel_log";

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(PrintKernelLog, OurTracesInKernelFormatReadBackAndPrintIdentically) {
  // Plain accesses of every width, several threads, wide/masked vector
  // accesses (several lines each), straddling parts, REP runs, marks.
  struct Program {
    const char* name;
    size_t device_size;
  };
  for (const Program& p : {Program{"mov_widths", 4096}, Program{"threads", 4096}, Program{"intrinsics", 4096},
                           Program{"straddle", 8192}, Program{"memcpy_memset", 64 * 1024}, Program{"markers", 4096}}) {
    const TracedRun run =
        run_traced(std::string("KernelLogRoundTrip_") + p.name, program_path(p.name, "O2"), {}, p.device_size);
    ASSERT_EQ(run.exit_code, 0) << p.name << ": " << run.err;
    ASSERT_GT(run.lines.size(), 3u) << p.name;
    const std::string text = run.dir + "/trace.txt";
    std::ofstream(text, std::ios::binary) << run.trace_text;
    std::string out, err;
    const int status = run_command({mmiotrace_path(), "print", text}, &out, &err);
    EXPECT_EQ(exit_status(status), 0) << p.name << ": " << err;
    EXPECT_EQ(err, "") << p.name;
    EXPECT_TRUE(out == run.trace_text) << p.name << ": the kernel text of " << run.dir
                                       << "/trace.mmio does not print identically once read back";
    if (::testing::Test::HasFailure()) {
      std::cerr << "work folder kept: " << run.dir << "\nreproduce: " << run.repro << "\n";
      return;
    }
    std::filesystem::remove_all(run.dir);
  }
}

TEST(PrintKernelLog, KernelLogPrintsAsItsGoldenTextFromAFileOrAPipe) {
  const std::string log = kLogDir + "/e1000.log";
  const std::string note = "mmiotrace: note: left out 2 lines of '" + log +
                           "' that are not mmiotrace events (other tracers' lines, \"rw what?\")\n";
  std::string out, err;
  int status = run_command({mmiotrace_path(), "print", log}, &out, &err);
  EXPECT_EQ(exit_status(status), 0) << err;
  EXPECT_EQ(out, slurp(kLogDir + "/e1000.kernel.txt"));
  EXPECT_EQ(err, note);
  status = run_command({mmiotrace_path(), "print", "--format", "native", log}, &out, &err);
  EXPECT_EQ(exit_status(status), 0) << err;
  EXPECT_EQ(out, slurp(kLogDir + "/e1000.native.txt"));
  // As `cat trace_pipe | mmiotrace print /dev/stdin` would read it.
  status =
      run_command({"/bin/sh", "-c", "cat \"$1\" | \"$2\" print /dev/stdin", "sh", log, mmiotrace_path()}, &out, &err);
  EXPECT_EQ(exit_status(status), 0) << err;
  EXPECT_EQ(out, slurp(kLogDir + "/e1000.kernel.txt"));
}

TEST(PrintKernelLog, MalformedLogPrintsWhatCameBeforeThenOneErrorAnd65) {
  const std::string log = kLogDir + "/malformed.log";
  std::string out, err;
  const int status = run_command({mmiotrace_path(), "print", log}, &out, &err);
  EXPECT_EQ(exit_status(status), 65);
  EXPECT_EQ(err, "mmiotrace: kernel mmiotrace log '" + log +
                     "' is malformed at line 6 (width 3 is not 1, 2, 4 or 8); the 5 lines before it are intact\n");
  EXPECT_EQ(out,
            "VERSION 20070824\n"
            "MAP 1.000000 1 0xfe000000 0x7f0000000000 0x1000 0x0 0\n"
            "W 4 1.000001 1 0xfe000000 0x1 0x401000 0\n"
            "R 4 1.000002 1 0xfe000004 0x2 0x401008 0\n"
            "MARK 1.000003 before the bad line\n");
}

// The options for readers that expect less than the kernel format allows
// (docs/print.md, "Readers"), from the command line, on a kernel log.
TEST(PrintKernelLog, OptionsForReadersOfTheKernelFormat) {
  const std::string dir = work_dir() + "/PrintOptionsForReaders";
  std::filesystem::create_directories(dir);
  const std::string log = dir + "/k.log";
  std::ofstream(log) << "VERSION 20070824\n"
                        "W 8 1.000000 1 0xfe000000 0x1122334455667788 0x401000 77\n"
                        "R 2 1.000001 1 0xfe000008 0xbeef 0x401004 77\n"
                        "W 4 1.000002 1 0xfe00000c ? 0x401008 77\n";
  std::string out, err;
  int status = run_command({mmiotrace_path(), "print", "--max-width", "4", "--zero-pc-pid", log}, &out, &err);
  EXPECT_EQ(exit_status(status), 0) << err;
  EXPECT_EQ(out,
            "VERSION 20070824\n"
            "W 4 1.000000 1 0xfe000000 0x55667788 0x0 0\n"
            "W 4 1.000000 1 0xfe000004 0x11223344 0x0 0\n"
            "R 2 1.000001 1 0xfe000008 0xbeef 0x0 0\n"
            "UNKNOWN 1.000002 1 0xfe00000c 00,00,00 0x0 0\n");
  status = run_command({mmiotrace_path(), "print", "--format", "native", "--max-width", "4", log}, &out, &err);
  EXPECT_EQ(exit_status(status), 64);
  EXPECT_EQ(err,
            "mmiotrace: --max-width and --zero-pc-pid change the kernel format only; the native format prints "
            "every field\n");
}

}  // namespace
}  // namespace mmiotrace::e2e
