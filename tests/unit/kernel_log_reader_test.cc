// KernelLogReader on the kernel's own mmiotrace text: every kind of line with
// its fields, the lines it passes over, and the errors for lines that are not
// what the kernel writes (line number, what was expected, events before it delivered).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "trace/kernel_log.h"

namespace mmiotrace::trace {
namespace {

const std::string kDataDir = MT_TEST_DATA_DIR "/kernel_log";

std::string write_log(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + "mmiotrace_klog_" + name + "_" + std::to_string(::getpid()) + ".log";
  FILE* f = std::fopen(path.c_str(), "w");
  std::fwrite(text.data(), 1, text.size(), f);
  std::fclose(f);
  return path;
}

// Every event of the log at `path`; the reading must succeed.
std::vector<KernelLogEvent> read_all(const std::string& path, uint64_t* skipped = nullptr) {
  auto reader = KernelLogReader::open(path);
  EXPECT_TRUE(reader.ok()) << reader.error();
  std::vector<KernelLogEvent> events;
  if (!reader.ok()) return events;
  KernelLogEvent e;
  for (;;) {
    auto more = reader->next(e);
    EXPECT_TRUE(more.ok()) << more.error();
    if (!more.ok() || !*more) break;
    events.push_back(e);
  }
  if (skipped) *skipped = reader->lines_skipped();
  return events;
}

void expect_rw(const KernelLogEvent& e, KernelEventKind kind, unsigned width, uint64_t time_ns, int map_id,
               uint64_t phys, uint64_t value, uint64_t pc, uint64_t line, int32_t pid = 0) {
  EXPECT_EQ(e.kind, kind) << "line " << e.line;
  EXPECT_EQ(e.width, width) << "line " << e.line;
  EXPECT_EQ(e.time_ns, time_ns) << "line " << e.line;
  EXPECT_EQ(e.map_id, map_id) << "line " << e.line;
  EXPECT_EQ(e.phys, phys) << "line " << e.line;
  EXPECT_EQ(e.value, value) << "line " << e.line;
  EXPECT_EQ(e.pc, pc) << "line " << e.line;
  EXPECT_EQ(e.pid, pid) << "line " << e.line;
  EXPECT_EQ(e.line, line);
}

TEST(KernelLogReader, EveryKindOfLineWithItsFields) {
  uint64_t skipped = 0;
  const auto ev = read_all(kDataDir + "/e1000.log", &skipped);
  ASSERT_EQ(ev.size(), 25u);
  EXPECT_EQ(skipped, 2u);  // the irq_handler_entry line of another tracer and "rw what?"

  // PCIDEV 0010 8086100e b feb80000 c001 0 0 0 0 feb40000 20000 40 0 0 0 0 40000 e1000
  EXPECT_EQ(ev[0].kind, KernelEventKind::PCIDEV);
  EXPECT_EQ(ev[0].line, 4u);
  EXPECT_EQ(ev[0].pci.bus, 0x00);
  EXPECT_EQ(ev[0].pci.devfn, 0x10);
  EXPECT_EQ(ev[0].pci.vendor, 0x8086);
  EXPECT_EQ(ev[0].pci.device, 0x100e);
  EXPECT_EQ(ev[0].pci.irq, 0xbu);
  const uint64_t starts[7] = {0xfeb80000, 0xc001, 0, 0, 0, 0, 0xfeb40000};
  const uint64_t sizes[7] = {0x20000, 0x40, 0, 0, 0, 0, 0x40000};
  for (int i = 0; i < 7; ++i) {
    EXPECT_EQ(ev[0].pci.start[i], starts[i]) << i;
    EXPECT_EQ(ev[0].pci.size[i], sizes[i]) << i;
  }
  EXPECT_EQ(ev[0].pci.driver, "e1000");
  EXPECT_EQ(ev[1].pci.driver, "");  // no driver: the kernel prints a lone space
  EXPECT_EQ(ev[1].pci.vendor, 0x1234);
  EXPECT_EQ(ev[1].pci.device, 0x11e8);
  EXPECT_EQ(ev[2].pci.driver, "bochs-drm");

  EXPECT_EQ(ev[3].kind, KernelEventKind::MARK);
  EXPECT_EQ(ev[3].time_ns, 12'000'100'000u);
  EXPECT_EQ(ev[3].text, "Write test.");

  EXPECT_EQ(ev[4].kind, KernelEventKind::MAP);
  EXPECT_EQ(ev[4].time_ns, 12'000'210'000u);
  EXPECT_EQ(ev[4].map_id, 1);
  EXPECT_EQ(ev[4].phys, 0xfeb80000u);
  EXPECT_EQ(ev[4].virt, 0xffffc90000300000u);
  EXPECT_EQ(ev[4].len, 0x20000u);

  // The accesses, in order, with their values: widths 4, 1, 2 and 8.
  constexpr auto R = KernelEventKind::READ;
  constexpr auto W = KernelEventKind::WRITE;
  expect_rw(ev[5], R, 4, 12'000'512'000, 1, 0xfeb80008, 0x80080783, 0xffffffffc03a1b2d, 9);
  expect_rw(ev[6], W, 4, 12'000'530'000, 1, 0xfeb80000, 0x4000000, 0xffffffffc03a1b44, 10);
  expect_rw(ev[7], R, 4, 12'000'612'000, 1, 0xfeb80008, 0x80080783, 0xffffffffc03a1b2d, 11);
  expect_rw(ev[8], W, 1, 12'000'700'000, 1, 0xfeb80010, 0x5a, 0xffffffffc03a1c00, 12);
  expect_rw(ev[9], W, 2, 12'000'701'000, 1, 0xfeb80012, 0xbeef, 0xffffffffc03a1c08, 13);
  expect_rw(ev[10], R, 2, 12'000'702'000, 1, 0xfeb80012, 0xbeef, 0xffffffffc03a1c10, 14);
  expect_rw(ev[11], R, 1, 12'000'703'000, 1, 0xfeb80010, 0x5a, 0xffffffffc03a1c18, 15);
  expect_rw(ev[12], W, 8, 12'000'704'000, 1, 0xfeb80018, 0x123456789abcdef0, 0xffffffffc03a1c20, 16);
  expect_rw(ev[13], R, 8, 12'000'705'000, 1, 0xfeb80018, 0x123456789abcdef0, 0xffffffffc03a1c28, 17);

  EXPECT_EQ(ev[14].kind, KernelEventKind::UNKNOWN);
  EXPECT_EQ(ev[14].line, 18u);
  EXPECT_EQ(ev[14].time_ns, 12'000'800'000u);
  EXPECT_EQ(ev[14].phys, 0xfeb80100u);
  EXPECT_EQ(ev[14].insn[0], 0xf3);
  EXPECT_EQ(ev[14].insn[1], 0xa5);
  EXPECT_EQ(ev[14].insn[2], 0x48);
  EXPECT_EQ(ev[14].pc, 0xffffffffc03a1d00u);

  // "MARK 0.000000 Lost 3 events." (the kernel's) and "CPU:0 [LOST 7 EVENTS]" (ftrace's).
  EXPECT_EQ(ev[15].kind, KernelEventKind::LOST);
  EXPECT_EQ(ev[15].lost, 3u);
  EXPECT_EQ(ev[15].line, 20u);
  EXPECT_EQ(ev[16].kind, KernelEventKind::LOST);
  EXPECT_EQ(ev[16].lost, 7u);

  expect_rw(ev[17], R, 4, 12'001'000'000, 1, 0xfeb800c0, 0x3, 0xffffffffc03a1e00, 22);
  EXPECT_EQ(ev[18].kind, KernelEventKind::MAP);
  EXPECT_EQ(ev[18].map_id, 2);
  expect_rw(ev[19], R, 4, 12'002'100'000, 2, 0xfea00000, 0x10000ed, 0, 25);
  EXPECT_EQ(ev[20].kind, KernelEventKind::UNMAP);
  EXPECT_EQ(ev[20].map_id, 2);
  EXPECT_EQ(ev[20].time_ns, 12'003'000'000u);
  EXPECT_EQ(ev[21].map_id, 1);
  EXPECT_EQ(ev[22].map_id, -1);  // an iounmap the kernel could not match to a mapping
  EXPECT_EQ(ev[23].kind, KernelEventKind::MARK);
  EXPECT_EQ(ev[23].text, "Read errors: 8-bit 0, 16-bit 0, 32-bit 0.");
  EXPECT_EQ(ev[24].kind, KernelEventKind::MARK);  // "MARK 14.000000 ": an empty text
  EXPECT_EQ(ev[24].text, "");
  EXPECT_EQ(ev[24].line, 30u);
}

TEST(KernelLogReader, LenientWhereTheMeaningIsClear) {
  // Runs of blanks, tabs, upper-case hex, fewer decimals, CRLF, blank lines, a
  // last line without its line break, a MARK text with its spaces kept.
  const auto ev = read_all(write_log("lenient",
                                     "VERSION 20070824\r\n\nW  4\t1.5 3 0XFE00 0xAB 0x0 7\r\n"
                                     "R 1 2.000000 3 0xfe01 0xffffff80 0x10 0\n"
                                     "MARK 3.25   two  spaces \nMARK 4.000000"));
  ASSERT_EQ(ev.size(), 4u);
  expect_rw(ev[0], KernelEventKind::WRITE, 4, 1'500'000'000, 3, 0xfe00, 0xab, 0, 3, 7);
  EXPECT_EQ(ev[0].line, 3u);
  EXPECT_EQ(ev[1].value, 0xffffff80u);  // the kernel's MOVSX read: kept as logged
  EXPECT_EQ(ev[2].time_ns, 3'250'000'000u);
  EXPECT_EQ(ev[2].text, "  two  spaces ");
  EXPECT_EQ(ev[3].text, "");
  EXPECT_EQ(ev[3].line, 6u);
}

struct BadLine {
  std::string line;
  std::string why;
};

TEST(KernelLogReader, MalformedLineNamesItsNumberAndWhatWasExpected) {
  const std::vector<BadLine> cases = {
      {"R 4 1.000000 1 0xfe00 0x1 0x0",
       "R line has 8 fields (R|W width seconds.microseconds map_id 0xphys 0xvalue "
       "0xpc pid), this one has 7"},
      {"W 3 1.000000 1 0xfe00 0x1 0x0 0", "width 3 is not 1, 2, 4 or 8"},
      {"W 4 1,000000 1 0xfe00 0x1 0x0 0", "time '1,000000' is not seconds.microseconds"},
      {"W 4 1.0000000000 1 0xfe00 0x1 0x0 0", "time '1.0000000000' is not seconds.microseconds"},
      {"W 4 1.000000 x 0xfe00 0x1 0x0 0", "map id 'x' is not a decimal number"},
      {"W 4 1.000000 1 fe00 0x1 0x0 0", "address 'fe00' is not a hexadecimal number with 0x"},
      {"W 4 1.000000 1 0xfe00 0x1g 0x0 0", "value '0x1g' is not a hexadecimal number"},
      {"W 4 1.000000 1 0xfe00 0x10000000000000000 0x0 0", "value '0x10000000000000000' is not a hexadecimal number"},
      {"MAP 1.000000 1 0xfe00 0x7f00 0x1000 0x0",
       "MAP line has 8 fields (MAP seconds.microseconds map_id 0xphys "
       "0xvirt 0xlen 0x0 0), this one has 7"},
      {"UNMAP 1.000000 1 0x0", "UNMAP line has 5 fields (UNMAP seconds.microseconds map_id 0x0 0), this one has 4"},
      {"UNKNOWN 1.000000 1 0xfe00 f3a548 0x0 0", "instruction bytes 'f3a548' are not three hex bytes like 8b,47,08"},
      {"PCIDEV 0010 8086100e b feb80000",
       "PCIDEV line has 18 fields and a driver name (PCIDEV bbdd vvvvdddd irq, 7 "
       "starts, 7 sizes), this one has 5 fields"},
      {"PCIDEV 010 8086100e b 0 0 0 0 0 0 0 0 0 0 0 0 0 0 x", "bus and devfn '010' are not 4 hex digits"},
      {"MARK", "MARK line has a time and a text (MARK seconds.microseconds text)"},
      {"hello world",
       "'hello' does not start a kernel mmiotrace line: R, W, MAP, UNMAP, MARK, PCIDEV, UNKNOWN, "
       "VERSION or a # comment"},
      {"R 4 0.000001 1 0xfe00",
       "R line has 8 fields (R|W width seconds.microseconds map_id 0xphys 0xvalue 0xpc "
       "pid), this one has 5"},  // a log cut in the middle of a line
  };
  for (const BadLine& c : cases) {
    const std::string path = write_log(
        "bad", "VERSION 20070824\nW 4 0.500000 1 0xfe00 0x1 0x0 0\n" + c.line + "\nW 4 2.0 1 0x0 0x1 0x0 0\n");
    auto reader = KernelLogReader::open(path);
    ASSERT_TRUE(reader.ok());
    KernelLogEvent e;
    auto first = reader->next(e);
    ASSERT_TRUE(first.ok() && *first) << c.line;  // the event before the bad line is delivered
    EXPECT_EQ(e.line, 2u);
    auto bad = reader->next(e);
    ASSERT_FALSE(bad.ok()) << c.line;
    EXPECT_EQ(bad.error(), "kernel mmiotrace log '" + path + "' is malformed at line 3 (" + c.why +
                               "); the 2 lines before it are intact");
    EXPECT_EQ(reader->failure(), TraceFailure::CORRUPT);
    auto again = reader->next(e);  // the error sticks
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.error(), bad.error());
    ::unlink(path.c_str());
  }
}

TEST(KernelLogReader, LineLongerThanTheKernelWritesIsAnError) {
  const std::string path =
      write_log("long", "MARK 1.000000 " + std::string(KernelLogReader::kMaxLineLength, 'x') + "\n");
  auto reader = KernelLogReader::open(path);
  ASSERT_TRUE(reader.ok());
  KernelLogEvent e;
  auto r = reader->next(e);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), "kernel mmiotrace log '" + path +
                           "' is malformed at line 1 (the line is longer than 8192 "
                           "bytes); there are no lines before it");
  ::unlink(path.c_str());
}

TEST(KernelLogReader, AnotherTracerOrAnotherVersionIsRefused) {
  struct Case {
    std::string text;
    std::string message;
  };
  const std::string path = write_log("foreign", "");
  const std::vector<Case> cases = {
      {"# tracer: function\n#\n", "'" + path +
                                      "' is a log of the kernel's 'function' tracer, not of mmiotrace (line "
                                      "1); trace with 'echo mmiotrace > /sys/kernel/tracing/current_tracer'"},
      {"VERSION 20180114\n", "'" + path +
                                 "' is a log in another format ('VERSION 20180114' at line 1); this "
                                 "mmiotrace reads the kernel's VERSION 20070824 logs"},
  };
  for (const Case& c : cases) {
    write_log("foreign", c.text);
    auto reader = KernelLogReader::open(path);
    ASSERT_TRUE(reader.ok());
    KernelLogEvent e;
    auto r = reader->next(e);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), c.message);
    EXPECT_EQ(reader->failure(), TraceFailure::NOT_A_TRACE);
  }
  // "# tracer: mmiotrace" is the header of `cat trace`: passed over.
  write_log("foreign", "# tracer: mmiotrace\n#\nVERSION 20070824\nMARK 1.000000 x\n");
  EXPECT_EQ(read_all(path).size(), 1u);
  ::unlink(path.c_str());
}

TEST(KernelLogReader, OtherTracersLinesArePassedOverAndCounted) {
  uint64_t skipped = 0;
  const auto ev =
      read_all(write_log("others",
                         "VERSION 20070824\n"
                         "          <idle>-0       [000] d..1.   123.456789: sched_switch: prev_comm=swapper\n"
                         "   kworker/u8:2-117     (    117) [001] .....   123.456790: workqueue_execute_start: x\n"
                         " insmod-1234  [000] ...1 124.000000: 0xffffffffc0001234: trace_printk text\n"
                         "map what?\nrw what?\nCPU:1 [LOST EVENTS]\n"),
               &skipped);
  EXPECT_EQ(skipped, 5u);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, KernelEventKind::LOST);
  EXPECT_EQ(ev[0].lost, 0u);  // ftrace did not know how many
}

// Found by tests/fuzz/kernel_log_fuzzer.cc: adopt_fd() with nothing read ahead
// copied from the empty view's data(), which may be a null pointer (undefined
// behaviour, which UBSan stops in the asan build).
TEST(KernelLogReader, AdoptedWithNothingReadAheadReadsTheWholeLog) {
  const std::string path = write_log("adopt_nothing_ahead", "VERSION 20070824\nMARK 1.000000 hello there\n");
  for (const std::string_view ahead : {std::string_view{}, std::string_view("")}) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    KernelLogReader reader = KernelLogReader::adopt_fd(fd, path, ahead);
    KernelLogEvent e;
    auto more = reader.next(e);
    ASSERT_TRUE(more.ok()) << more.error();
    ASSERT_TRUE(*more);
    EXPECT_EQ(e.kind, KernelEventKind::MARK);
    EXPECT_EQ(e.text, "hello there");
    EXPECT_EQ(e.line, 2u);
    more = reader.next(e);
    ASSERT_TRUE(more.ok()) << more.error();
    EXPECT_FALSE(*more);
  }
}

}  // namespace
}  // namespace mmiotrace::trace
