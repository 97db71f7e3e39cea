// The kernel format for the readers that already read the kernel's logs
// (docs/print.md, "Readers"): a value that is not known is the kernel's
// UNKNOWN line, marks are cut where the kernel cuts a trace_marker write, and
// the options for readers that expect less (--max-width, --zero-pc-pid).
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "print_test_support.h"
#include "trace/encode.h"
#include "trace/kernel_printer.h"
#include "trace/native_printer.h"

namespace mmiotrace::trace {
namespace {

const std::vector<uint8_t> kOr = {0x09, 0x07, 0x90, 0x90};  // or %eax, (%rdi); nops
const std::vector<uint8_t> kRepMovsq = {0xf3, 0x48, 0xa5};  // rep movsq

Record mark(const std::string& text) {
  return encode(encode_mark, RecordStamp{1, 2'000'000'000, 7},
                MarkFields{6, text.data(), static_cast<uint16_t>(text.size())});
}

std::string events(std::vector<Record> records, const KernelFormatOptions& options = {}) {
  const std::string text = kernel_text(std::move(records), options);
  const std::string version = "VERSION 20070824\n";
  EXPECT_EQ(text.substr(0, version.size()), version);
  return text.substr(version.size());
}

std::string native(std::vector<Record> records) {
  VectorSource source(std::move(records));
  FILE* f = std::tmpfile();
  EXPECT_EQ(print_native_format(source, "# test", f).status, PrintStatus::OK);
  return take_printed_text(f);
}

// Step mode could not know these values. Every reader of kernel logs tried
// mishandles a `?` in the value column (demmio keeps the previous line's
// value, nvammiotracereplay would write a stale one); the kernel's own line
// for a lost value is UNKNOWN, with the instruction's first three bytes.
TEST(KernelFormatForReaders, UnknownValueIsTheKernelsUnknownLine) {
  const uint8_t unknown = kAccessStepped | kAccessValueUnknown;
  EXPECT_EQ(events({access(1, AccessOp::READ, 4, 0x600, unknown, 0, kOr),
                    access(1, AccessOp::WRITE, 4, 0x600, unknown, 0, kOr),
                    access(1, AccessOp::WRITE, 4, 0x604, kAccessStepped, 0, kOr)}),
            "UNKNOWN 1.000000 2 0x600 09,07,90 0x400000 7\n"
            "UNKNOWN 1.000000 2 0x600 09,07,90 0x400000 7\n"
            "W 4 1.000000 2 0x604 0x13121110 0x400000 7\n");
  // A wide or masked one is one line, at its first byte accessed.
  EXPECT_EQ(events({access(1, AccessOp::READ, 16, 0x1000, unknown, 0, kOr),
                    access(1, AccessOp::WRITE, 64, 0x2000, unknown | kAccessMasked, 0xff00, kOr)}),
            "UNKNOWN 1.000000 2 0x1000 09,07,90 0x400000 7\n"
            "UNKNOWN 1.000000 2 0x2008 09,07,90 0x400000 7\n");
  // A run: one per access, each at its own address.
  EXPECT_EQ(events({access_run(1, AccessOp::READ, 8, 3, 0x3000, 8, kRepMovsq, unknown)}),
            "UNKNOWN 1.000000 2 0x3000 f3,48,a5 0x400000 7\n"
            "UNKNOWN 1.000000 2 0x3008 f3,48,a5 0x400000 7\n"
            "UNKNOWN 1.000000 2 0x3010 f3,48,a5 0x400000 7\n");
  // No `?` anywhere in the kernel format; the native format keeps it.
  const std::string text = native({access(1, AccessOp::READ, 4, 0x600, unknown, 0, kOr)});
  EXPECT_NE(text.find(" R 4 2 0x600 ? 0x400000 stepped insn=09079090 "), std::string::npos) << text;
}

// The kernel keeps at most 1024 bytes of one trace_marker write; line readers
// (demmio reads into 1024 bytes) rely on it. The trace and the native format
// keep the whole text.
TEST(KernelFormatForReaders, MarkTextIsCutWhereTheKernelCutsATraceMarkerWrite) {
  std::string text(1500, 'a');
  for (size_t i = 0; i < text.size(); i += 100) text[i] = static_cast<char>('0' + i / 100 % 10);
  EXPECT_EQ(events({mark(text)}), "MARK 2.000000 " + text.substr(0, 1024) + "\n");
  EXPECT_EQ(events({mark(text.substr(0, 1024))}), "MARK 2.000000 " + text.substr(0, 1024) + "\n");
  EXPECT_EQ(events({mark(text.substr(0, 1023))}), "MARK 2.000000 " + text.substr(0, 1023) + "\n");
  EXPECT_NE(native({mark(text)}).find(" MARK " + text + "\n"), std::string::npos);
}

// --max-width 4: for readers that know only 32-bit accesses (a `W 8` line
// loses its top half in them). Each 8-byte access is two 4-byte lines, the
// low half (at the lower address) first; narrower accesses are unchanged.
TEST(KernelFormatForReaders, MaxWidthFourSplitsEightByteAccessesLowHalfFirst) {
  KernelFormatOptions four;
  four.max_width = 4;
  const std::vector<Record> records = {
      access(1, AccessOp::WRITE, 8, 0x1000, 0, 0, kOr), access(1, AccessOp::READ, 8, 0x1002, 0, 0, kOr),
      access(1, AccessOp::READ, 4, 0x1010, 0, 0, kOr), access(1, AccessOp::WRITE, 2, 0x1014, 0, 0, kOr),
      access(1, AccessOp::WRITE, 1, 0x1017, 0, 0, kOr)};
  EXPECT_EQ(events(records, four),
            "W 4 1.000000 2 0x1000 0x13121110 0x400000 7\n"
            "W 4 1.000000 2 0x1004 0x17161514 0x400000 7\n"
            "R 4 1.000000 2 0x1002 0x13121110 0x400000 7\n"
            "R 4 1.000000 2 0x1006 0x17161514 0x400000 7\n"
            "R 4 1.000000 2 0x1010 0x13121110 0x400000 7\n"
            "W 2 1.000000 2 0x1014 0x1110 0x400000 7\n"
            "W 1 1.000000 2 0x1017 0x10 0x400000 7\n");
  // Without the option the kernel's own `W 8` stays.
  EXPECT_EQ(events({access(1, AccessOp::WRITE, 8, 0x1000, 0, 0, kOr)}),
            "W 8 1.000000 2 0x1000 0x1716151413121110 0x400000 7\n");
  // Wide and masked accesses are cut into 4-byte (and smaller) chunks.
  EXPECT_EQ(events({access(1, AccessOp::READ, 16, 0x2000, 0, 0, kOr),
                    access(1, AccessOp::WRITE, 64, 0x3000, kAccessMasked, 0x0000000000ff00f0, kOr)},
                   four),
            "R 4 1.000000 2 0x2000 0x13121110 0x400000 7\n"
            "R 4 1.000000 2 0x2004 0x17161514 0x400000 7\n"
            "R 4 1.000000 2 0x2008 0x1b1a1918 0x400000 7\n"
            "R 4 1.000000 2 0x200c 0x1f1e1d1c 0x400000 7\n"
            "W 4 1.000000 2 0x3004 0x17161514 0x400000 7\n"
            "W 4 1.000000 2 0x3010 0x23222120 0x400000 7\n"
            "W 4 1.000000 2 0x3014 0x27262524 0x400000 7\n");
  // A run of 8-byte accesses going down: each access low half first.
  EXPECT_EQ(events({access_run(1, AccessOp::WRITE, 8, 2, 0x4008, -8, kRepMovsq, 0)}, four),
            "W 4 1.000000 2 0x4008 0x13121110 0x400000 7\n"
            "W 4 1.000000 2 0x400c 0x17161514 0x400000 7\n"
            "W 4 1.000000 2 0x4000 0x1b1a1918 0x400000 7\n"
            "W 4 1.000000 2 0x4004 0x1f1e1d1c 0x400000 7\n");
}

// --zero-pc-pid: the kernel prints PC 0x0 (unless mmiotrace's trace_pc
// parameter is set) and PID 0; scripts that match those columns literally
// need them.
TEST(KernelFormatForReaders, ZeroPcPidPrintsTheKernelsColumns) {
  KernelFormatOptions zero;
  zero.zero_pc_pid = true;
  const uint8_t insn[] = {0x0f, 0x0b};
  EXPECT_EQ(
      events({access(1, AccessOp::WRITE, 4, 0x1000, 0, 0, kOr),
              access(1, AccessOp::READ, 4, 0x1004, kAccessStepped | kAccessValueUnknown, 0, kOr),
              encode(encode_unknown, RecordStamp{2, 3'000'000'000, 9}, UnknownFields{0x1008, 0x401000, 6, 2, insn, 2}),
              access_run(1, AccessOp::READ, 1, 1, 0x100c, 1, kRepMovsq, 0)},
             zero),
      "W 4 1.000000 2 0x1000 0x13121110 0x0 0\n"
      "UNKNOWN 1.000000 2 0x1004 09,07,90 0x0 0\n"
      "UNKNOWN 3.000000 2 0x1008 0f,0b,00 0x0 0\n"
      "R 1 1.000000 2 0x100c 0x10 0x0 0\n");
}

}  // namespace
}  // namespace mmiotrace::trace
