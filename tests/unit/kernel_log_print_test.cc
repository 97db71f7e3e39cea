// Printing kernel mmiotrace logs through the trace printers: golden kernel and
// native text for a real-looking log (tests/data/kernel_log; rebase with
// MMIOTRACE_REBASE_GOLDEN=1), the round trip of our own kernel-format text
// through the kernel-log reader, damaged logs, and input from pipes.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "print_test_support.h"
#include "trace/encode.h"
#include "trace/kernel_printer.h"
#include "trace/native_printer.h"
#include "trace/trace_input.h"
#include "trace/writer.h"

namespace mmiotrace::trace {
namespace {

const std::string kDataDir = MT_TEST_DATA_DIR "/kernel_log";

std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "mmiotrace_klogprint_" + name + "_" + std::to_string(::getpid());
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_text(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

// What `mmiotrace print [--format native] path` prints, through the same calls.
std::string print_input(const std::string& path, bool native, PrintOutcome* outcome = nullptr,
                        InputKind* kind = nullptr) {
  auto input = open_trace_input(path);
  EXPECT_TRUE(input.ok()) << input.error();
  if (!input.ok()) return {};
  if (kind) *kind = input->kind;
  FILE* f = std::tmpfile();
  PrintOutcome o;
  if (input->kind == InputKind::TRACE) {
    o = native ? print_native_format(*input->trace, f) : print_kernel_format(*input->trace, f);
  } else {
    o = native ? print_native_format(*input->kernel_log, kKernelLogNativeHeader, f)
               : print_kernel_format_in_order(*input->kernel_log, f);
  }
  if (outcome) {
    *outcome = o;
  } else {
    EXPECT_EQ(o.status, PrintStatus::OK) << o.message;
  }
  std::string text = take_printed_text(f);
  if (!native) expect_kernel_readers_accept(text);
  return text;
}

void expect_golden(const std::string& text, const std::string& golden) {
  if (std::getenv("MMIOTRACE_REBASE_GOLDEN") != nullptr) {
    write_text(golden, text);
    return;
  }
  EXPECT_EQ(text, slurp(golden)) << "golden file " << golden << " (MMIOTRACE_REBASE_GOLDEN=1 rewrites it)";
}

TEST(KernelLogPrint, GoldenKernelAndNativeText) {
  InputKind kind = InputKind::TRACE;
  const std::string kernel = print_input(kDataDir + "/e1000.log", false, nullptr, &kind);
  EXPECT_EQ(kind, InputKind::KERNEL_LOG);
  expect_golden(kernel, kDataDir + "/e1000.kernel.txt");
  expect_golden(print_input(kDataDir + "/e1000.log", true), kDataDir + "/e1000.native.txt");
}

TEST(KernelLogPrint, KernelFormatIsTheLogLessWhatIsNotAnEvent) {
  // The log follows the kernel's format exactly, so printing it again changes
  // nothing but the lines that are not events (comments, another tracer's
  // line, "rw what?") and ftrace's lost-events line, which becomes the kernel's.
  std::istringstream log(slurp(kDataDir + "/e1000.log"));
  std::string want;
  for (std::string line; std::getline(log, line);) {
    if (line.empty() || line[0] == '#' || line.find("irq_handler_entry") != std::string::npos || line == "rw what?")
      continue;
    want += (line == "CPU:0 [LOST 7 EVENTS]" ? std::string("MARK 0.000000 Lost 7 events.") : line) + "\n";
  }
  EXPECT_EQ(print_input(kDataDir + "/e1000.log", false), want);
}

TEST(KernelLogPrint, ValueWiderThanTheAccessIsCutToItsWidth) {
  // The kernel logs the sign-extended register for a MOVSX read: the device
  // returned one byte, 0x80.
  const std::string path = temp_path("movsx");
  write_text(path, "VERSION 20070824\nR 1 1.000000 1 0xfe000010 0xffffff80 0xffffffffc0001000 0\n");
  EXPECT_EQ(print_input(path, false), "VERSION 20070824\nR 1 1.000000 1 0xfe000010 0x80 0xffffffffc0001000 0\n");
  ::unlink(path.c_str());
}

TEST(KernelLogPrint, UnknownValueOfAStepModeTraceReadsBackAsUnknown) {
  // Older mmiotrace versions printed `?` where step mode could not know a
  // value (kAccessValueUnknown): reading that text back keeps it unknown, an
  // UNKNOWN line in the kernel format (as the kernel prints a lost value, with
  // no instruction bytes: the line had none), `?` in the native format.
  const std::string path = temp_path("unknown_value");
  write_text(path,
             "VERSION 20070824\nW 4 1.000000 1 0xfe000010 ? 0x401000 7\nR 4 1.000001 1 0xfe000014 0x5 0x401004 7\n");
  EXPECT_EQ(print_input(path, false),
            "VERSION 20070824\nUNKNOWN 1.000000 1 0xfe000010 00,00,00 0x401000 7\n"
            "R 4 1.000001 1 0xfe000014 0x5 0x401004 7\n");
  const std::string native = print_input(path, true);
  EXPECT_NE(native.find("W 4 1 0xfe000010 ? 0x401000"), std::string::npos) << native;
  ::unlink(path.c_str());
}

TEST(KernelLogPrint, MalformedLinePrintsWhatCameBeforeAndSaysWhere) {
  for (bool native : {false, true}) {
    PrintOutcome outcome;
    const std::string text = print_input(kDataDir + "/malformed.log", native, &outcome);
    EXPECT_EQ(outcome.status, PrintStatus::BAD_INPUT);
    EXPECT_EQ(outcome.message, "kernel mmiotrace log '" + kDataDir +
                                   "/malformed.log' is malformed at line 6 (width 3 is not 1, 2, 4 or 8); the 5 "
                                   "lines before it are intact");
    if (!native) {
      EXPECT_EQ(text,
                "VERSION 20070824\n"
                "MAP 1.000000 1 0xfe000000 0x7f0000000000 0x1000 0x0 0\n"
                "W 4 1.000001 1 0xfe000000 0x1 0x401000 0\n"
                "R 4 1.000002 1 0xfe000004 0x2 0x401008 0\n"
                "MARK 1.000003 before the bad line\n");
    } else {
      EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 5) << text;
    }
  }
}

// ---- The round trip: our trace -> kernel text -> kernel-log reader -> the same text ----

Record access(uint64_t seq, uint64_t time_ns, AccessOp op, uint8_t width, uint64_t phys, uint8_t flags = 0,
              uint64_t mask = 0) {
  uint8_t value[64];
  for (int i = 0; i < 64; ++i) value[i] = static_cast<uint8_t>(0xa0 + 3 * i + seq);
  AccessFields a;
  a.op = op;
  a.width = width;
  a.flags = flags;
  a.phys = phys;
  a.pc = 0x401000 + seq * 4;
  a.byte_mask = mask;
  a.pid = 6;
  a.map_id = 1;
  a.value = value;
  return encode(encode_access, RecordStamp{seq, time_ns, 4000 + static_cast<uint32_t>(seq % 3)}, a);
}

std::vector<Record> every_kind_of_record() {
  MapFields m;
  m.phys = 0xfe000000;
  m.virt = 0x7f0000000000;
  m.len = 0x10000;
  m.pid = 6;
  m.map_id = 1;
  const char mark[] = "line\nbreaks inside\n";
  const uint8_t insn1[] = {0x0f};
  std::vector<uint8_t> run_values(5 * 2);
  for (size_t i = 0; i < run_values.size(); ++i) run_values[i] = static_cast<uint8_t>(i * 7);
  AccessRunFields run;
  run.op = AccessOp::WRITE;
  run.width = 2;
  run.phys = 0xfe000100;
  run.pc = 0x402000;
  run.pid = 6;
  run.map_id = 1;
  run.count = 5;
  run.stride = -2;
  run.values = run_values.data();
  PciDevFields p;
  p.busdevfn = 0x0118;
  p.vendor = 0x1234;
  p.device = 0x11e8;
  p.irq = 10;
  p.start[0] = 0xfea00000;
  p.size[0] = 0x100000;
  return {
      encode(encode_map, RecordStamp{1, 1'000'000'000, 6}, m),
      encode(encode_mark, RecordStamp{2, 1'000'000'400, 6}, MarkFields{6, mark, sizeof mark - 1}),
      access(3, 1'000'000'500, AccessOp::WRITE, 1, 0xfe000000),
      access(4, 1'000'001'000, AccessOp::READ, 2, 0xfe000002),
      access(5, 1'000'002'000, AccessOp::WRITE, 4, 0xfe000004),
      access(6, 1'000'003'000, AccessOp::READ, 8, 0xfe000008),
      access(7, 1'000'004'000, AccessOp::WRITE, 16, 0xfe000014),                           // wide: 3 lines
      access(8, 1'000'005'000, AccessOp::READ, 3, 0xfe000021, kAccessSplit),               // odd: 2 lines
      access(9, 1'000'006'000, AccessOp::WRITE, 64, 0xfe000040, kAccessMasked, 0xff00f0),  // masked
      access(10, 1'000'007'000, AccessOp::READ, 4, 0xfe000003),                            // unaligned
      encode(encode_access_run, RecordStamp{11, 1'000'008'000, 4001}, run),
      encode(encode_unknown, RecordStamp{16, 1'000'009'000, 4002},
             UnknownFields{0xfe000200, 0x403000, 6, 1, insn1, sizeof insn1}),
      encode(encode_lost, RecordStamp{20, 1'000'010'000, 0}, LostFields{4}),
      encode(encode_pcidev, RecordStamp{21, 0, 0}, p),  // met late: printed first
      encode(encode_unmap, RecordStamp{22, 2'999'999'500, 6}, UnmapFields{0x7f0000000000, 0x1000, 6, 1}),
  };
}

TEST(KernelLogPrint, OurKernelTextReadBackPrintsIdentically) {
  const std::string trace = temp_path("trace") + ".mmio";
  auto w = TraceWriter::create(trace, make_file_header(1000, 2000, 42));
  ASSERT_TRUE(w.ok());
  for (const Record& r : every_kind_of_record()) ASSERT_TRUE(w->append(r.data(), r.size()).ok());
  ASSERT_TRUE(w->close().ok());

  InputKind kind = InputKind::KERNEL_LOG;
  const std::string first = print_input(trace, false, nullptr, &kind);
  EXPECT_EQ(kind, InputKind::TRACE);
  EXPECT_EQ(std::count(first.begin(), first.end(), '\n'), 1 + 1 + 1 + 1 + 4 + 3 + 2 + 2 + 1 + 5 + 1 + 1 + 1);
  const std::string text = temp_path("text") + ".log";
  write_text(text, first);
  const std::string second = print_input(text, false, nullptr, &kind);
  EXPECT_EQ(kind, InputKind::KERNEL_LOG);
  EXPECT_EQ(second, first);
  ::unlink(trace.c_str());
  ::unlink(text.c_str());
}

// ---- Pipes: the first bytes read to tell the kinds apart are not lost ----

// Writes `data` into a new FIFO from a thread; returns the FIFO's path.
std::string fifo_with(const std::string& name, const std::string& data, std::thread& writer) {
  const std::string path = temp_path(name) + ".fifo";
  ::unlink(path.c_str());
  EXPECT_EQ(::mkfifo(path.c_str(), 0600), 0) << std::strerror(errno);
  std::signal(SIGPIPE, SIG_IGN);  // a reader that fails early must not kill the test
  writer = std::thread([path, data] {
    FILE* f = std::fopen(path.c_str(), "w");
    // Small pieces, so that the reader meets short reads.
    for (size_t i = 0; i < data.size(); i += 3)
      std::fwrite(data.data() + i, 1, std::min<size_t>(3, data.size() - i), f);
    std::fclose(f);
  });
  return path;
}

TEST(KernelLogPrint, KernelLogFromAPipe) {
  // Bigger than the reader's buffer, so that lines straddle its refills; no
  // VERSION line, so the first line is the one read to detect the kind of file.
  std::string log;
  std::string want = "VERSION 20070824\n";
  for (int i = 0; i < 20000; ++i) {
    const std::string line = fmt::format("W 4 1.{:06} 1 0x{:x} 0x{:x} 0x0 0\n", i, 0xfe000000 + 4 * i, i * 3);
    log += line;
    want += line;
  }
  std::thread writer;
  const std::string path = fifo_with("log", log, writer);
  EXPECT_EQ(print_input(path, false), want);
  writer.join();
  ::unlink(path.c_str());
}

TEST(KernelLogPrint, BinaryTraceFromAPipeInNativeFormat) {
  const std::string trace = temp_path("piped") + ".mmio";
  auto w = TraceWriter::create(trace, make_file_header(1000, 2000, 42));
  ASSERT_TRUE(w.ok());
  for (const Record& r : every_kind_of_record()) ASSERT_TRUE(w->append(r.data(), r.size()).ok());
  ASSERT_TRUE(w->close().ok());
  const std::string want = print_input(trace, true);
  std::thread writer;
  const std::string path = fifo_with("trace", slurp(trace), writer);
  EXPECT_EQ(print_input(path, true), want);
  writer.join();
  ::unlink(path.c_str());
  ::unlink(trace.c_str());
}

TEST(KernelLogPrint, DetectedByContent) {
  EXPECT_EQ(detect_input("\x7fMMIOTRC\x01\x00"), InputKind::TRACE);
  EXPECT_EQ(detect_input(""), InputKind::TRACE);         // TraceReader says it is empty
  EXPECT_EQ(detect_input("hello\n"), InputKind::TRACE);  // TraceReader says it is not a trace
  EXPECT_EQ(detect_input("VERSION 20070824"), InputKind::KERNEL_LOG);
  EXPECT_EQ(detect_input("# tracer: mmioth"), InputKind::KERNEL_LOG);
  EXPECT_EQ(detect_input("R 4 1.000000 1 0"), InputKind::KERNEL_LOG);
  EXPECT_EQ(detect_input("W 4 1.000000 1 0"), InputKind::KERNEL_LOG);
  EXPECT_EQ(detect_input("MAP 1.000000 1 0"), InputKind::KERNEL_LOG);
  EXPECT_EQ(detect_input("PCIDEV 0010 8086"), InputKind::KERNEL_LOG);
  EXPECT_EQ(detect_input("# a shell script"), InputKind::TRACE);
}

}  // namespace
}  // namespace mmiotrace::trace
