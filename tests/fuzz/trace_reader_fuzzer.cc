// libFuzzer harness for TraceReader (src/trace/reader.h): `mmiotrace print`
// reads whatever file it is given, so whatever the bytes, the reader must
// deliver intact records, then stop at the end of the file or with one error
// that says where the damage is; never crash, hang, read outside its buffer or
// trust a length it has not checked. Built with clang, ASan and UBSan
// (tests/fuzz/CMakeLists.txt); seeds: tests/fuzz/trace_corpus (make_trace_corpus.py).
//
// Each input is a trace file, read
//   1. as `print` reads a file: its first 16 bytes read ahead and handed over
//      (trace_input.h), the rest from a memfd;
//   2. through a socket that returns it in short pieces (fuzz_files.h): the
//      same records, the same end, the same error, byte for byte;
//   3. by a printer, the kernel or the native format (by the last byte's low
//      bit), opened by path as `print` opens a file (the kernel printer reads
//      the file twice), to /dev/null: it ends as the reader did (OK, or
//      BAD_INPUT with its error).
// Checked for every record delivered: RecordView::checked() accepts its bytes
// (the reader's checks and the printers' assumptions are the same), its
// accessors stay inside it, offsets and counts add up; after an error every
// call returns the same error.
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz_files.h"
#include "trace/format.h"
#include "trace/kernel_printer.h"
#include "trace/native_printer.h"
#include "trace/reader.h"
#include "trace/trace_input.h"

namespace {

using namespace mmiotrace;
using namespace mmiotrace::trace;
using mmiotrace::fuzz::ChunkedPipe;

constexpr size_t kReadAhead = 16;  // what trace_input.cc reads to tell the kinds of file apart

// What one reading delivered: the records' bytes and offsets, and how it ended.
struct Reading {
  bool opened = false;
  std::string error;  // open's or next()'s; empty: a clean end of file
  TraceFailure failure = TraceFailure::NONE;
  std::vector<uint8_t> records;  // every record's offset, size and bytes, in order
  uint64_t count = 0;
  bool operator==(const Reading&) const = default;
};

void append(std::vector<uint8_t>& out, const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  out.insert(out.end(), b, b + n);
}

// The accessors of a delivered record stay inside it, and the checks a record
// made elsewhere must pass (RecordView::checked) accept it.
void check_record(const RecordView& v) {
  FUZZ_CHECK(v.size() >= sizeof(RecordHeader) && v.size() % 8 == 0 && v.size() == v.header().size);
  const auto checked = RecordView::checked(v.bytes());
  FUZZ_CHECK(checked.ok());
  const uint8_t* begin = v.bytes().data();
  const uint8_t* end = begin + v.size();
  auto inside = [&](const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    FUZZ_CHECK(n == 0 || (b >= begin && b + n <= end));
  };
  switch (v.type()) {
    case RecordType::ACCESS: {
      const auto a = v.as<AccessRecord>();
      const auto value = v.access_value();
      FUZZ_CHECK(value.size() == a.width);
      inside(value.data(), value.size());
      break;
    }
    case RecordType::ACCESS_RUN: {
      const auto r = v.as<AccessRunRecord>();
      FUZZ_CHECK(r.count >= 1);
      const auto all = v.access_run_values();
      FUZZ_CHECK(all.size() == size_t{r.count} * r.width);
      inside(all.data(), all.size());
      const auto last = v.access_run_value(r.count - 1);
      inside(last.data(), last.size());
      break;
    }
    case RecordType::MAP: {
      const auto path = v.map_path();
      inside(path.data(), path.size());
      break;
    }
    case RecordType::MARK: {
      const auto text = v.mark_text();
      FUZZ_CHECK(text.size() <= kMaxMarkText);
      inside(text.data(), text.size());
      break;
    }
    case RecordType::PCIDEV: {
      const auto driver = v.pcidev_driver();
      inside(driver.data(), driver.size());
      break;
    }
    default:
      break;
  }
  // Both printers format every record the reader delivers.
  fmt::memory_buffer out;
  format_kernel_record(v, out);
  format_native_record(v, out);
}

// Reads every record; the reader owns `fd`.
Reading read_all(int fd, std::span<const uint8_t> already_read) {
  Reading r;
  auto reader = TraceReader::adopt_fd(fd, "fuzz", already_read, &r.failure);
  if (!reader) {
    FUZZ_CHECK(r.failure == TraceFailure::NOT_A_TRACE || r.failure == TraceFailure::CORRUPT);
    r.error = reader.error();
    return r;
  }
  r.opened = true;
  RecordView v;
  uint64_t expected_offset = reader->header().header_size;
  for (;;) {
    auto more = reader->next(v);
    if (!more) {
      r.error = more.error();
      r.failure = reader->failure();
      FUZZ_CHECK(r.failure == TraceFailure::CORRUPT);
      // An error is final: every later call gives it again.
      auto again = reader->next(v);
      FUZZ_CHECK(!again && again.error() == r.error);
      break;
    }
    if (!*more) {
      FUZZ_CHECK(reader->failure() == TraceFailure::NONE);
      break;
    }
    // Skipped records (of a type this version does not know) lie between delivered ones.
    FUZZ_CHECK(v.offset() >= expected_offset && (v.offset() - expected_offset) % 8 == 0);
    expected_offset = v.offset() + v.size();
    check_record(v);
    const uint64_t offset = v.offset();
    append(r.records, &offset, sizeof offset);
    append(r.records, v.bytes().data(), v.size());
    ++r.count;
  }
  FUZZ_CHECK(reader->records_read() == r.count + reader->records_skipped());
  return r;
}

// A printer on the file opened by path, as `mmiotrace print FILE` does: the
// kernel format or the native one, by `native` (check_record() has formatted
// each record both ways; this is the plumbing around them).
void check_printer(int memfd, const Reading& reading, bool native) {
  auto input = open_trace_input(fuzz::fd_path(memfd));
  if (!input) {
    FUZZ_CHECK(!reading.opened);
    return;
  }
  if (input->kind != InputKind::TRACE) return;  // a kernel log: kernel_log_fuzzer.cc's business
  FUZZ_CHECK(reading.opened);
  const PrintOutcome o = native ? print_native_format(*input->trace, fuzz::dev_null(), "/dev/null")
                                : print_kernel_format(*input->trace, fuzz::dev_null(), "/dev/null");
  FUZZ_CHECK(o.status == (reading.error.empty() ? PrintStatus::OK : PrintStatus::BAD_INPUT));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const size_t ahead = std::min(size, kReadAhead);
  const int memfd = fuzz::as_memfd(data, size, ahead);
  const int print_fd = ::dup(memfd);
  FUZZ_CHECK(print_fd >= 0);
  const Reading from_file = read_all(memfd, {data, ahead});
  Reading in_pieces;
  {
    ChunkedPipe pipe(data, size);
    in_pieces = read_all(pipe.release_read_fd(), {});
  }
  // Only the file's name differs in the messages, and both readings say "fuzz".
  FUZZ_CHECK(from_file == in_pieces);
  check_printer(print_fd, from_file, (size > 0 ? data[size - 1] : 0) & 1);
  ::close(print_fd);
  return 0;
}
