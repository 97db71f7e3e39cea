// libFuzzer harness for KernelLogReader (src/trace/kernel_log.h): `mmiotrace
// print` reads any text log it is given, so whatever the bytes, the reader
// must deliver the events of the lines it accepts, then stop at the end of the
// log or with one error naming the line; never crash, hang or read outside its
// buffer. Built with clang, ASan and UBSan (tests/fuzz/CMakeLists.txt); seeds:
// the golden logs (tests/data/kernel_log) and tests/fuzz/kernel_log_corpus.
//
// Each input is a log, read
//   1. as `print` reads a file: its first 16 bytes read ahead and handed over
//      (trace_input.h), the rest from a memfd;
//   2. through a socket that returns it in short pieces (fuzz_files.h): the
//      same events, the same end, the same error;
//   3. when it starts like a kernel log, by a printer (the kernel or the
//      native format, by the last byte's low bit) through KernelLogRecords,
//      opened by path as `print` does, to /dev/null: it ends as the reader did.
// Checked for every event: its fields are ones the format allows (R/W widths
// 1, 2, 4, 8; line numbers increasing; no line break in a text), and it encodes
// into a record the trace reader's checks accept (KernelLogRecords stops the
// process otherwise); after an error every call returns the same error.
#include <fmt/format.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_files.h"
#include "trace/encode.h"
#include "trace/kernel_log.h"
#include "trace/kernel_log_records.h"
#include "trace/kernel_printer.h"
#include "trace/native_printer.h"
#include "trace/trace_input.h"

namespace {

using namespace mmiotrace;
using namespace mmiotrace::trace;
using mmiotrace::fuzz::ChunkedPipe;

constexpr size_t kReadAhead = 16;  // what trace_input.cc reads to tell the kinds of file apart

struct Reading {
  std::string error;  // empty: a clean end of the log
  TraceFailure failure = TraceFailure::NONE;
  std::string events;  // every event, as its encoded record's bytes
  uint64_t count = 0;
  uint64_t lines = 0;
  uint64_t skipped = 0;
  bool operator==(const Reading&) const = default;
};

void check_event(const KernelLogEvent& e, uint64_t previous_line, std::string& out) {
  FUZZ_CHECK(e.line > previous_line);
  switch (e.kind) {
    case KernelEventKind::READ:
    case KernelEventKind::WRITE:
      FUZZ_CHECK(e.width == 1 || e.width == 2 || e.width == 4 || e.width == 8);
      break;
    case KernelEventKind::MARK:
      FUZZ_CHECK(e.text.find('\n') == std::string::npos);
      break;
    case KernelEventKind::PCIDEV:
      FUZZ_CHECK(e.pci.driver.find_first_of(" \t\n") == std::string::npos);
      break;
    default:
      break;
  }
  static auto buf = std::make_unique<uint8_t[]>(kMaxRecordSize);
  const size_t n = encode_kernel_event(e, buf.get());
  FUZZ_CHECK(n != 0 && n <= kMaxRecordSize);
  auto view = RecordView::checked({buf.get(), n});
  FUZZ_CHECK(view.ok());
  fmt::memory_buffer text;
  format_kernel_record(*view, text);
  format_native_record(*view, text);
  out.append(reinterpret_cast<const char*>(buf.get()), n);
}

// Reads every event; the reader owns `fd`.
Reading read_all(int fd, std::string_view already_read) {
  Reading r;
  KernelLogReader reader = KernelLogReader::adopt_fd(fd, "fuzz", already_read);
  KernelLogEvent e;
  uint64_t previous_line = 0;
  for (;;) {
    auto more = reader.next(e);
    if (!more) {
      r.error = more.error();
      r.failure = reader.failure();
      FUZZ_CHECK(r.failure == TraceFailure::CORRUPT || r.failure == TraceFailure::NOT_A_TRACE);
      auto again = reader.next(e);
      FUZZ_CHECK(!again && again.error() == r.error);
      break;
    }
    if (!*more) break;
    check_event(e, previous_line, r.events);
    previous_line = e.line;
    ++r.count;
  }
  FUZZ_CHECK(reader.events_read() == r.count);
  r.lines = reader.lines_read();
  r.skipped = reader.lines_skipped();
  return r;
}

// A printer, the kernel or the native format, on the log opened by path as
// `mmiotrace print FILE` does (check_event() has formatted each record both
// ways; this is the plumbing around them).
void check_printer(int memfd, const Reading& reading, bool native) {
  auto input = open_trace_input(fuzz::fd_path(memfd));
  if (!input || input->kind != InputKind::KERNEL_LOG) return;  // a trace file: trace_reader_fuzzer.cc's
  KernelLogRecords& log = *input->kernel_log;
  const PrintOutcome o = native ? print_native_format(log, kKernelLogNativeHeader, fuzz::dev_null(), "/dev/null")
                                : print_kernel_format_in_order(log, fuzz::dev_null(), "/dev/null");
  FUZZ_CHECK(o.status == (reading.error.empty() ? PrintStatus::OK : PrintStatus::BAD_INPUT));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const size_t ahead = std::min(size, kReadAhead);
  const int memfd = fuzz::as_memfd(data, size, ahead);
  const int print_fd = ::dup(memfd);
  FUZZ_CHECK(print_fd >= 0);
  const Reading from_file = read_all(memfd, {reinterpret_cast<const char*>(data), ahead});
  Reading in_pieces;
  {
    ChunkedPipe pipe(data, size);
    in_pieces = read_all(pipe.release_read_fd(), {});
  }
  FUZZ_CHECK(from_file == in_pieces);
  check_printer(print_fd, from_file, (size > 0 ? data[size - 1] : 0) & 1);
  ::close(print_fd);
  return 0;
}
