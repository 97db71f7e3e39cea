// Golden tests of the text printers: the kernel format ("VERSION 20070824")
// line by line, including the documented splitting of wide, odd-sized and
// masked accesses and the expansion of ACCESS_RUN records, and the native format.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "analysis/output/print.h"
#include "emu/emulator.h"
#include "print_test_support.h"
#include "trace/encode.h"
#include "trace/reader.h"
#include "trace/writer.h"

namespace mmiotrace::trace {
namespace {

std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "mmiotrace_printer_" + name + "_" + std::to_string(::getpid()) + ".mmio";
}

Record access_value(uint64_t seq, uint64_t time_ns, AccessOp op, uint8_t width, uint64_t phys, uint64_t value,
                    uint64_t pc) {
  uint8_t bytes[8];
  std::memcpy(bytes, &value, 8);  // x86: little-endian
  AccessFields a;
  a.op = op;
  a.width = width;
  a.phys = phys;
  a.pc = pc;
  a.pid = 77;
  a.map_id = 1;
  a.value = bytes;
  return encode(encode_access, RecordStamp{seq, time_ns, 4242}, a);
}

Record pcidev(uint64_t seq, uint32_t busdevfn, uint16_t vendor, uint16_t device, uint32_t irq,
              std::vector<uint64_t> starts, std::vector<uint64_t> sizes, const char* driver) {
  PciDevFields p;
  p.busdevfn = busdevfn;
  p.vendor = vendor;
  p.device = device;
  p.irq = irq;
  for (int i = 0; i < 7; ++i) {
    p.start[i] = starts[i];
    p.size[i] = sizes[i];
  }
  p.driver = driver;
  p.driver_len = static_cast<uint16_t>(std::strlen(driver));
  return encode(encode_pcidev, RecordStamp{seq, 5, 0}, p);
}

std::string write_trace(const std::string& name, const std::vector<Record>& records, size_t cut_last = 0) {
  const std::string path = temp_path(name);
  auto w = TraceWriter::create(path, make_file_header(1000, 2000, 42));
  EXPECT_TRUE(w.ok());
  for (size_t i = 0; i < records.size(); ++i) {
    const size_t n = i + 1 == records.size() && cut_last ? cut_last : records[i].size();
    if (n == records[i].size()) {
      EXPECT_TRUE(w->append(records[i].data(), n).ok());
    }
  }
  EXPECT_TRUE(w->close().ok());
  if (cut_last != 0) {  // a recording cut short inside its last record
    FILE* f = std::fopen(path.c_str(), "ab");
    std::fwrite(records.back().data(), 1, cut_last, f);
    std::fclose(f);
  }
  return path;
}

enum class Format { KERNEL, NATIVE };

std::string print(const std::string& path, PrintOutcome* outcome = nullptr, Format format = Format::KERNEL) {
  FILE* f = std::tmpfile();
  PrintOutcome o = print_file(path, format == Format::KERNEL ? "kernel" : "native", f);
  if (outcome != nullptr) {
    *outcome = o;
  } else {
    EXPECT_EQ(o.status, PrintStatus::OK) << o.message;
  }
  std::string text = take_printed_text(f);
  if (format == Format::KERNEL) expect_kernel_readers_accept(text);
  ::unlink(path.c_str());
  return text;
}

// The kernel lines after "VERSION 20070824".
std::string kernel_events(const std::string& name, const std::vector<Record>& records) {
  const std::string text = print(write_trace(name, records));
  const std::string version = "VERSION 20070824\n";
  EXPECT_EQ(text.substr(0, version.size()), version);
  return text.substr(version.size());
}

std::string kernel_time(uint64_t ns) {
  fmt::memory_buffer b;
  output::format_kernel_time(ns, b);
  return fmt::to_string(b);
}

std::vector<Record> mixed_trace() {
  MapFields m;
  m.phys = 0xfe000000;
  m.virt = 0x7f0000000000;
  m.len = 0x1000000;
  m.pid = 77;
  m.map_id = 1;
  m.kind = DeviceKind::PCI_RESOURCE;
  m.prot = 3;
  m.bar = 0;
  m.pci_busdevfn = 0x100;
  const std::string path = "/sys/bus/pci/devices/0000:01:00.0/resource0";
  m.path = path.data();
  m.path_len = static_cast<uint16_t>(path.size());
  const uint8_t movdqu[] = {0x66, 0x0f, 0x7f, 0x07};
  const char mark[] = "Write test.\n";
  return {
      encode(encode_map, RecordStamp{1, 1'500'000'000, 10}, m),
      encode(encode_mark, RecordStamp{2, 2'000'000'000, 10}, MarkFields{77, mark, sizeof mark - 1}),
      access_value(3, 12'000'001'000, AccessOp::WRITE, 1, 0xfe000000, 0x5a, 0x401000),
      access_value(4, 999'999'000, AccessOp::WRITE, 2, 0xfe000400, 0x7, 0x401004),
      access_value(5, 12'500'000'000, AccessOp::READ, 4, 0xfe001400, 0xdeadbeef, 0x401008),
      access_value(6, 12'600'000'000, AccessOp::READ, 8, 0xfe002000, 0x0123456789abcdef, 0x40100c),
      encode(encode_unknown, RecordStamp{7, 13'000'000'000, 4243},
             UnknownFields{0xfe000010, 0x401100, 77, 1, movdqu, sizeof movdqu}),
      encode(encode_lost, RecordStamp{8, 13'100'000'000, 0}, LostFields{5}),
      pcidev(9, 0x00000100, 0x10de, 0x1234, 0x10, {0xf6000000, 0xe000000c, 0, 0, 0, 0xd001, 0xf7000000},
             {0x1000000, 0x10000000, 0, 0, 0, 0x80, 0x80000}, "nouveau"),
      encode(encode_unmap, RecordStamp{10, 14'000'000'000, 10}, UnmapFields{0x7f0000000000, 0x1000000, 77, 1}),
      pcidev(11, 0x00002108, 0x8086, 0x1533, 0x11, {0xf7c00000, 0, 0, 0, 0, 0, 0}, {0x20000, 0, 0, 0, 0, 0, 0}, ""),
  };
}

TEST(KernelPrinter, EveryRecordTypeWithPcidevLinesFirst) {
  EXPECT_EQ(print(write_trace("mixed", mixed_trace())),
            "VERSION 20070824\n"
            "PCIDEV 0100 10de1234 10 f6000000 e000000c 0 0 0 d001 f7000000 1000000 10000000 0 0 0 80 80000 nouveau\n"
            "PCIDEV 2108 80861533 11 f7c00000 0 0 0 0 0 0 20000 0 0 0 0 0 0 \n"
            "MAP 1.500000 1 0xfe000000 0x7f0000000000 0x1000000 0x0 0\n"
            "MARK 2.000000 Write test.\n"
            "W 1 12.000001 1 0xfe000000 0x5a 0x401000 4242\n"
            "W 2 0.999999 1 0xfe000400 0x7 0x401004 4242\n"
            "R 4 12.500000 1 0xfe001400 0xdeadbeef 0x401008 4242\n"
            "R 8 12.600000 1 0xfe002000 0x123456789abcdef 0x40100c 4242\n"
            "UNKNOWN 13.000000 1 0xfe000010 66,0f,7f 0x401100 4243\n"
            "MARK 0.000000 Lost 5 events.\n"
            "UNMAP 14.000000 1 0x0 0\n");
}

// Single-stepped accesses: a value the step could not know prints as the
// kernel's UNKNOWN line (the native format has `?`); a trace that may miss
// accesses says so before any event.
std::string stepped_trace(const std::string& name, bool may_miss) {
  const std::string path = temp_path(name);
  FileHeader h = make_file_header(1000, 2000, 42);
  h.features = kFeatureStepMode;
  auto w = TraceWriter::create(path, h);
  EXPECT_TRUE(w.ok());
  const Record known = access(1, AccessOp::WRITE, 4, 0x600, kAccessStepped);
  const Record unknown = access(2, AccessOp::READ, 4, 0x600, kAccessStepped | kAccessValueUnknown);
  EXPECT_TRUE(w->append(known.data(), known.size()).ok());
  EXPECT_TRUE(w->append(unknown.data(), unknown.size()).ok());
  // What the recorder learns only at the end goes into the header.
  if (may_miss) {
    EXPECT_TRUE(w->set_features(kFeatureStepMode | kFeatureStepMayMiss).ok());
  }
  EXPECT_TRUE(w->close().ok());
  auto reader = TraceReader::open(path);
  EXPECT_TRUE(reader.ok());
  if (reader.ok()) {
    EXPECT_EQ(reader->header().features, kFeatureStepMode | (may_miss ? kFeatureStepMayMiss : 0));
  }
  return path;
}

TEST(KernelPrinter, SteppedTraceMarksUnknownValuesAndPossibleMisses) {
  EXPECT_EQ(print(stepped_trace("stepped_miss", true)),
            "VERSION 20070824\n"
            "MARK 0.000000 mmiotrace: single-stepped with mprotect (no protection keys): accesses other threads "
            "made during a step may be missing\n"
            "W 4 1.000000 2 0x600 0x13121110 0x400000 7\n"
            "UNKNOWN 1.000000 2 0x600 00,00,00 0x400000 7\n");
  EXPECT_EQ(print(stepped_trace("stepped_exact", false)),
            "VERSION 20070824\n"
            "W 4 1.000000 2 0x600 0x13121110 0x400000 7\n"
            "UNKNOWN 1.000000 2 0x600 00,00,00 0x400000 7\n");
}

TEST(NativePrinter, SteppedAccessesAndTheModeInTheHeader) {
  const std::string text = print(stepped_trace("stepped_native", true), nullptr, Format::NATIVE);
  EXPECT_NE(text.find("\n# mode step\n# single-stepped with mprotect"), std::string::npos) << text;
  EXPECT_NE(text.find("W 4 2 0x600 0x13121110 0x400000 stepped "), std::string::npos) << text;
  EXPECT_NE(text.find("R 4 2 0x600 ? 0x400000 stepped "), std::string::npos) << text;
}

TEST(KernelPrinter, TimestampsAreSecondsAndRoundedMicroseconds) {
  EXPECT_EQ(kernel_time(0), "0.000000");
  EXPECT_EQ(kernel_time(12'000'001'000), "12.000001");
  EXPECT_EQ(kernel_time(999'999'000), "0.999999");
  EXPECT_EQ(kernel_time(999'999'499), "0.999999");
  EXPECT_EQ(kernel_time(999'999'500), "1.000000");  // the kernel's ns2usecs() rounds to nearest
  EXPECT_EQ(kernel_time(12'000'000'500), "12.000001");
  EXPECT_EQ(kernel_time(86'400'123'456'789), "86400.123457");
}

TEST(KernelPrinter, SixteenByteAccessIsTwoEightByteLines) {
  EXPECT_EQ(kernel_events("w16", {access(1, AccessOp::READ, 16, 0x1000)}),
            "R 8 1.000000 2 0x1000 0x1716151413121110 0x400000 7\n"
            "R 8 1.000000 2 0x1008 0x1f1e1d1c1b1a1918 0x400000 7\n");
}

TEST(KernelPrinter, ThirtyTwoByteAccessIsFourLines) {
  EXPECT_EQ(kernel_events("w32", {access(1, AccessOp::WRITE, 32, 0x1000)}),
            "W 8 1.000000 2 0x1000 0x1716151413121110 0x400000 7\n"
            "W 8 1.000000 2 0x1008 0x1f1e1d1c1b1a1918 0x400000 7\n"
            "W 8 1.000000 2 0x1010 0x2726252423222120 0x400000 7\n"
            "W 8 1.000000 2 0x1018 0x2f2e2d2c2b2a2928 0x400000 7\n");
}

TEST(KernelPrinter, SixtyFourByteAccessIsEightLines) {
  EXPECT_EQ(kernel_events("w64", {access(1, AccessOp::WRITE, 64, 0x3000)}),
            "W 8 1.000000 2 0x3000 0x1716151413121110 0x400000 7\n"
            "W 8 1.000000 2 0x3008 0x1f1e1d1c1b1a1918 0x400000 7\n"
            "W 8 1.000000 2 0x3010 0x2726252423222120 0x400000 7\n"
            "W 8 1.000000 2 0x3018 0x2f2e2d2c2b2a2928 0x400000 7\n"
            "W 8 1.000000 2 0x3020 0x3736353433323130 0x400000 7\n"
            "W 8 1.000000 2 0x3028 0x3f3e3d3c3b3a3938 0x400000 7\n"
            "W 8 1.000000 2 0x3030 0x4746454443424140 0x400000 7\n"
            "W 8 1.000000 2 0x3038 0x4f4e4d4c4b4a4948 0x400000 7\n");
}

TEST(KernelPrinter, MisalignedWideAccessUsesNaturallyAlignedChunks) {
  EXPECT_EQ(kernel_events("w16odd", {access(1, AccessOp::READ, 16, 0x1004)}),
            "R 4 1.000000 2 0x1004 0x13121110 0x400000 7\n"
            "R 8 1.000000 2 0x1008 0x1b1a191817161514 0x400000 7\n"
            "R 4 1.000000 2 0x1010 0x1f1e1d1c 0x400000 7\n");
}

TEST(KernelPrinter, ThreeByteSplitAccess) {
  EXPECT_EQ(kernel_events("w3", {access(1, AccessOp::READ, 3, 0x1001, kAccessSplit),
                                 access(2, AccessOp::WRITE, 3, 0x2000, kAccessSplit)}),
            "R 1 1.000000 2 0x1001 0x10 0x400000 7\n"
            "R 2 1.000000 2 0x1002 0x1211 0x400000 7\n"
            "W 2 1.000000 2 0x2000 0x1110 0x400000 7\n"
            "W 1 1.000000 2 0x2002 0x12 0x400000 7\n");
}

TEST(KernelPrinter, PowerOfTwoWidthIsOneLineEvenUnaligned) {
  EXPECT_EQ(kernel_events("unaligned", {access(1, AccessOp::READ, 4, 0x1001)}),
            "R 4 1.000000 2 0x1001 0x13121110 0x400000 7\n");
}

TEST(KernelPrinter, MaskedStorePrintsOnlyTheSelectedBytes) {
  EXPECT_EQ(kernel_events("masked", {access(1, AccessOp::WRITE, 64, 0x2000, kAccessMasked, 0x0000000000ff00f0)}),
            "W 4 1.000000 2 0x2004 0x17161514 0x400000 7\n"
            "W 8 1.000000 2 0x2010 0x2726252423222120 0x400000 7\n");
}

// `rep movsw` with DF=1: three 2-byte writes going down from 0x1004, each its
// own line with its own address and value.
TEST(KernelPrinter, AccessRunIsOneLinePerAccess) {
  EXPECT_EQ(kernel_events("run", {access_run(1, AccessOp::WRITE, 2, 3, 0x1004, -2)}),
            "W 2 1.000000 2 0x1004 0x1110 0x400000 7\n"
            "W 2 1.000000 2 0x1002 0x1312 0x400000 7\n"
            "W 2 1.000000 2 0x1000 0x1514 0x400000 7\n");
}

// A run prints exactly what its accesses as separate ACCESS records print.
TEST(KernelPrinter, AccessRunPrintsLikeItsAccessRecords) {
  for (uint8_t width : {1, 2, 4, 8}) {
    for (int32_t sign : {1, -1}) {
      SCOPED_TRACE(::testing::Message() << "width " << int{width} << " stride " << sign * width);
      const uint32_t count = 5;
      const uint64_t phys = 0x2000 + (sign < 0 ? (count - 1) * width : 0);
      std::vector<Record> singles;
      for (uint32_t i = 0; i < count; ++i) {
        uint8_t value[8];
        for (unsigned b = 0; b < width; ++b) value[b] = static_cast<uint8_t>(0x10 + i * width + b);
        AccessFields a;
        a.op = AccessOp::READ;
        a.width = width;
        a.phys = run_access_phys(phys, sign * width, i);
        a.pc = 0x400000;
        a.pid = 6;
        a.map_id = 2;
        a.value = value;
        singles.push_back(encode(encode_access, RecordStamp{10 + i, 1'000'000'000, 7}, a));
      }
      const std::string expanded =
          kernel_events("runeq", {access_run(10, AccessOp::READ, width, count, phys, sign * width)});
      EXPECT_EQ(expanded, kernel_events("runeq1", singles));
      // Five lines, the first at the run's phys and the last `count-1` strides away.
      EXPECT_EQ(std::count(expanded.begin(), expanded.end(), '\n'), 5);
      const std::string first = fmt::format("R {} 1.000000 2 {:#x} ", width, phys);
      const std::string last = fmt::format("R {} 1.000000 2 {:#x} ", width, phys + sign * 4 * width);
      EXPECT_EQ(expanded.substr(0, first.size()), first);
      EXPECT_NE(expanded.find("\n" + last), std::string::npos) << expanded;
    }
  }
}

// envytools demmio reads R/W lines with exactly this sscanf.
TEST(KernelPrinter, DemmioSscanfParsesReadWriteLines) {
  std::istringstream lines(print(write_trace("demmio", mixed_trace())));
  struct Expected {
    int width;
    double timestamp;
    unsigned addr, value;
  };
  const Expected expected[] = {
      {1, 12.000001, 0xfe000000, 0x5a}, {2, 0.999999, 0xfe000400, 0x7}, {4, 12.5, 0xfe001400, 0xdeadbeef}};
  size_t i = 0;
  std::string line;
  while (std::getline(lines, line)) {
    if (line[0] != 'R' && line[0] != 'W') continue;
    if (line.compare(0, 2, "R ") == 0 && line[2] == '8') continue;  // demmio's %x cannot hold a 64-bit value
    int width = 0;
    double timestamp = 0;
    unsigned addr = 0, value = 0;
    ASSERT_EQ(std::sscanf(line.c_str(), "%*s %d %lf %*d %x %x", &width, &timestamp, &addr, &value), 4) << line;
    ASSERT_LT(i, std::size(expected));
    EXPECT_EQ(width, expected[i].width);
    EXPECT_DOUBLE_EQ(timestamp, expected[i].timestamp);
    EXPECT_EQ(addr, expected[i].addr);
    EXPECT_EQ(value, expected[i].value);
    ++i;
  }
  EXPECT_EQ(i, std::size(expected));
}

TEST(KernelPrinter, CorruptTracePrintsTheIntactRecordsThenReportsIt) {
  std::vector<Record> records = {access_value(1, 1'000'000'000, AccessOp::READ, 4, 0x10, 0x1, 0x2),
                                 access_value(2, 2'000'000'000, AccessOp::READ, 4, 0x14, 0x2, 0x2),
                                 access_value(3, 3'000'000'000, AccessOp::READ, 4, 0x18, 0x3, 0x2)};
  const std::string path = write_trace("cut", records, 50);
  PrintOutcome outcome;
  EXPECT_EQ(print(path, &outcome),
            "VERSION 20070824\n"
            "R 4 1.000000 1 0x10 0x1 0x2 4242\n"
            "R 4 2.000000 1 0x14 0x2 0x2 4242\n");
  EXPECT_EQ(outcome.status, PrintStatus::BAD_INPUT);
  EXPECT_EQ(outcome.message, "trace file '" + path +
                                 "' is truncated at byte 240 (the file ends 50 bytes into a record of 88 bytes); the 2 "
                                 "records before it are intact");
}

TEST(KernelPrinter, ClosedPipeStopsQuietly) {
  const std::string path = write_trace("pipe", mixed_trace());
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ::close(fds[0]);
  FILE* f = ::fdopen(fds[1], "w");
  auto old = std::signal(SIGPIPE, SIG_IGN);
  PrintOutcome outcome = print_file(path, "kernel", f);
  std::signal(SIGPIPE, old);
  std::fclose(f);
  EXPECT_EQ(outcome.status, PrintStatus::OK);
  EXPECT_EQ(outcome.message, "");
  ::unlink(path.c_str());
}

TEST(KernelPrinter, FullOutputIsReported) {
  const std::string path = write_trace("full", mixed_trace());
  FILE* f = std::fopen("/dev/full", "w");
  ASSERT_NE(f, nullptr);
  PrintOutcome outcome = print_file(path, "kernel", f, "'/dev/full'");
  std::fclose(f);
  EXPECT_EQ(outcome.status, PrintStatus::WRITE_FAILED);
  EXPECT_EQ(outcome.message, "writing '/dev/full' failed: No space left on device");
  ::unlink(path.c_str());
}

// A pipe cannot be read a second time for the PCIDEV lines: refused, not
// printed without its events.
TEST(KernelPrinter, PipeInputIsRefused) {
  const std::string path = write_trace("fifo", mixed_trace());
  FILE* trace = std::fopen(path.c_str(), "rb");
  ASSERT_NE(trace, nullptr);
  char bytes[4096];
  const size_t n = std::fread(bytes, 1, sizeof bytes, trace);
  std::fclose(trace);
  ::unlink(path.c_str());
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ASSERT_EQ(::write(fds[1], bytes, n), static_cast<ssize_t>(n));  // fits in the pipe's buffer
  ::close(fds[1]);
  const std::string pipe_path = "/dev/fd/" + std::to_string(fds[0]);
  FILE* f = std::tmpfile();
  PrintOutcome outcome = print_file(pipe_path, "kernel", f);
  std::fclose(f);
  ::close(fds[0]);
  EXPECT_EQ(outcome.status, PrintStatus::READ_FAILED);
  EXPECT_EQ(outcome.message, "cannot print '" + pipe_path +
                                 "' in the kernel format: it is not a regular file and the PCIDEV lines need a "
                                 "second read of it; copy it to a file first");
}

// The native format lives in native_printer.cc; its golden test is kept here
// with the kernel one so that both formats are checked on the same records.
// The disassembly is the emulator's (tested with it), asked for here.
std::string disassembly(const std::vector<uint8_t>& insn, uint64_t pc) {
  char text[128] = "";
  emu::disassemble(insn.data(), insn.size(), pc, text, sizeof text);
  return text;
}

TEST(NativePrinter, EveryRecordTypeOnOneLine) {
  std::vector<Record> records = mixed_trace();
  records.push_back(access(12, AccessOp::WRITE, 16, 0x2000, kAccessMasked | kAccessSplit, 0xff0f));
  const std::string text = print(write_trace("native", records), nullptr, Format::NATIVE);
  EXPECT_EQ(text,
            "# mmiotrace trace format 1.2, recorder pid 42, start monotonic 1000 ns, start realtime 2000 ns\n"
            "#1 1500000000 77/10 MAP 1 0xfe000000 0x7f0000000000 0x1000000 offset=0x0 kind=pci-resource prot=rw- "
            "bar=0 pci=0000:01:00.0 /sys/bus/pci/devices/0000:01:00.0/resource0\n"
            "#2 2000000000 77/10 MARK Write test.\n"
            "#3 12000001000 77/4242 W 1 1 0xfe000000 0x5a 0x401000 insn=- (no instruction bytes)\n"
            "#4 999999000 77/4242 W 2 1 0xfe000400 0x7 0x401004 insn=- (no instruction bytes)\n"
            "#5 12500000000 77/4242 R 4 1 0xfe001400 0xdeadbeef 0x401008 insn=- (no instruction bytes)\n"
            "#6 12600000000 77/4242 R 8 1 0xfe002000 0x123456789abcdef 0x40100c insn=- (no instruction bytes)\n"
            "#7 13000000000 77/4243 UNKNOWN 1 0xfe000010 0x401100 insn=660f7f07 " +
                disassembly({0x66, 0x0f, 0x7f, 0x07}, 0x401100) +
                "\n"
                "#8 13100000000 -/0 LOST 5\n"
                "#9 5 -/0 PCIDEV 0000:01:00.0 10de:1234 irq=16 bar0=0xf6000000,0x1000000 bar1=0xe000000c,0x10000000 "
                "bar2=0x0,0x0 bar3=0x0,0x0 bar4=0x0,0x0 bar5=0xd001,0x80 rom=0xf7000000,0x80000 driver=nouveau\n"
                "#10 14000000000 77/10 UNMAP 1 0x7f0000000000 0x1000000\n"
                "#11 5 -/0 PCIDEV 0000:21:01.0 8086:1533 irq=17 bar0=0xf7c00000,0x20000 bar1=0x0,0x0 bar2=0x0,0x0 "
                "bar3=0x0,0x0 bar4=0x0,0x0 bar5=0x0,0x0 rom=0x0,0x0 driver=-\n"
                "#12 1000000000 6/7 W 16 2 0x2000 101112131415161718191a1b1c1d1e1f 0x400000 masked=0xff0f split "
                "insn=- (no instruction bytes)\n");
}

// Each access of a run on its own line with its own seq, marked run=<i>/<count>;
// the record after it carries on at the run's seq + count.
TEST(NativePrinter, AccessRunIsOneLinePerAccessWithItsOwnSeq) {
  const std::vector<uint8_t> rep_movsw = {0x66, 0xf3, 0xa5};
  const std::string text = print(write_trace("nativerun", {access_run(20, AccessOp::WRITE, 2, 3, 0x1004, -2, rep_movsw),
                                                           encode(encode_lost, RecordStamp{23, 5, 0}, LostFields{1})}),
                                 nullptr, Format::NATIVE);
  const std::string insn = "insn=66f3a5 " + disassembly(rep_movsw, 0x400000);
  EXPECT_EQ(text.substr(text.find('\n') + 1), "#20 1000000000 6/7 W 2 2 0x1004 0x1110 0x400000 run=1/3 " + insn +
                                                  "\n"
                                                  "#21 1000000000 6/7 W 2 2 0x1002 0x1312 0x400000 run=2/3 " +
                                                  insn +
                                                  "\n"
                                                  "#22 1000000000 6/7 W 2 2 0x1000 0x1514 0x400000 run=3/3 " +
                                                  insn +
                                                  "\n"
                                                  "#23 5 -/0 LOST 1\n");
  EXPECT_NE(insn.find("movs"), std::string::npos) << insn;  // a real disassembly, not a stub
}

TEST(NativePrinter, AccessWithInstructionBytesShowsThemAndTheirDisassembly) {
  const uint8_t movb[] = {0xc6, 0x07, 0x5a};  // movb $0x5a, (%rdi)
  const uint8_t value[] = {0x5a};
  AccessFields a;
  a.op = AccessOp::WRITE;
  a.width = 1;
  a.phys = 0xfe000000;
  a.pc = 0x401000;
  a.pid = 77;
  a.map_id = 1;
  a.insn = movb;
  a.insn_len = sizeof movb;
  a.value = value;
  const std::string text =
      print(write_trace("insn", {encode(encode_access, RecordStamp{1, 42, 43}, a)}), nullptr, Format::NATIVE);
  const std::string expected =
      "#1 42 77/43 W 1 1 0xfe000000 0x5a 0x401000 insn=c6075a " + disassembly({0xc6, 0x07, 0x5a}, 0x401000) + "\n";
  EXPECT_EQ(text.substr(text.find('\n') + 1), expected);
  EXPECT_NE(expected.find("insn=c6075a movb "), std::string::npos) << expected;  // a real disassembly, not a stub
}

// A CODEMAP (format 1.2) has no line in the kernel, annotated and CSV formats,
// and one line with every field in the native and JSON formats.
Record code_map(uint64_t seq, uint16_t flags, bool with_id) {
  CodeMapFields f;
  f.virt = 0x555500001000;
  f.len = 0x2000;
  f.file_offset = 0x1000;
  f.elf_vaddr = 0x1000;
  f.pid = 77;
  f.flags = flags;
  const uint8_t id[4] = {0xde, 0xad, 0xbe, 0xef};
  if (with_id) {
    f.build_id = id;
    f.build_id_len = sizeof id;
  }
  f.path = "/opt/my driver";
  f.path_len = 14;
  return encode(encode_codemap, RecordStamp{seq, 5000, 10}, f);
}

TEST(KernelPrinter, CodeMapHasNoLine) {
  const std::string text =
      print(write_trace("codemap_kernel", {code_map(1, kCodeMapFirst, true),
                                           encode(encode_mark, RecordStamp{2, 2000, 10}, MarkFields{77, "after", 5})}));
  EXPECT_EQ(text, "VERSION 20070824\nMARK 0.000002 after\n");
}

TEST(NativePrinter, CodeMapLine) {
  const std::string text =
      print(write_trace("codemap_native", {code_map(1, kCodeMapFirst, true), code_map(2, kCodeMapMmap, false)}),
            nullptr, Format::NATIVE);
  EXPECT_EQ(text.substr(text.find('\n') + 1),
            "#1 5000 77/10 CODEMAP 0x555500001000 0x2000 offset=0x1000 build-id=deadbeef first /opt/my driver\n"
            "#2 5000 77/10 CODEMAP 0x555500001000 0x2000 offset=0x1000 build-id=- mmap /opt/my driver\n");
}

std::string print_as(const std::string& path, std::string_view format) {
  FILE* f = std::tmpfile();
  PrintOutcome o = print_file(path, format, f);
  EXPECT_EQ(o.status, PrintStatus::OK) << o.message;
  std::string text = take_printed_text(f);
  ::unlink(path.c_str());
  return text;
}

TEST(JsonPrinter, CodeMapLine) {
  const std::string text = print_as(
      write_trace("codemap_json", {code_map(1, kCodeMapFirst, true), code_map(2, kCodeMapMmap, false)}), "json");
  EXPECT_EQ(text.substr(text.find('\n') + 1),
            "{\"type\":\"codemap\",\"seq\":1,\"time_ns\":5000,\"pid\":77,\"tid\":10,\"virt\":\"0x555500001000\","
            "\"len\":\"0x2000\",\"file_offset\":\"0x1000\",\"elf_vaddr\":\"0x1000\",\"flags\":1,"
            "\"build_id\":\"deadbeef\",\"path\":\"/opt/my driver\"}\n"
            "{\"type\":\"codemap\",\"seq\":2,\"time_ns\":5000,\"pid\":77,\"tid\":10,\"virt\":\"0x555500001000\","
            "\"len\":\"0x2000\",\"file_offset\":\"0x1000\",\"elf_vaddr\":\"0x1000\",\"flags\":2,"
            "\"build_id\":\"\",\"path\":\"/opt/my driver\"}\n");
}

TEST(AnnotatedAndCsvPrinters, CodeMapHasNoLine) {
  for (std::string_view format : {"annotated", "csv"}) {
    const std::string with = print_as(write_trace("codemap_with", {code_map(1, kCodeMapFirst, true)}), format);
    const std::string without = print_as(write_trace("codemap_without", {}), format);
    EXPECT_EQ(with, without) << format;
  }
}

}  // namespace
}  // namespace mmiotrace::trace
