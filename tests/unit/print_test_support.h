// What the printer tests share: records built with encode.h, a source that
// hands them to a printer, the text a printer wrote into a temporary FILE, and
// the check that kernel-format text reads in the tests' independent reader.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "analysis/output/print.h"
#include "reference/kernel_format_reader.h"
#include "trace/encode.h"
#include "trace/reader.h"
#include "trace/trace_input.h"

namespace mmiotrace::trace {

using Record = std::vector<uint8_t>;
using output::PrintOutcome;
using output::PrintStatus;

// What `mmiotrace print --format FORMAT path` prints into `f`, through the same
// calls (open_trace_input, output::print_input).
inline PrintOutcome print_file(const std::string& path, std::string_view format, FILE* f,
                               std::string_view out_name = "standard output") {
  auto input = open_trace_input(path);
  EXPECT_TRUE(input.ok()) << input.error();
  if (!input.ok()) return {PrintStatus::READ_FAILED, input.error()};
  output::PrintJob job;
  job.format = format;
  return output::print_input(*input, job, f, out_name);
}

// One record, built by an encode_* function of encode.h (which must accept it).
template <typename Fields>
Record encode(size_t (*fn)(void*, size_t, const RecordStamp&, const Fields&), RecordStamp stamp, const Fields& f) {
  Record r(kMaxRecordSize);
  const size_t n = fn(r.data(), r.size(), stamp, f);
  EXPECT_NE(n, 0u);
  r.resize(n);
  return r;
}

// An access whose value bytes are 0x10, 0x11, ... in memory order: time 1 s,
// thread 7, process 6, map 2, pc 0x400000.
inline Record access(uint64_t seq, AccessOp op, uint8_t width, uint64_t phys, uint8_t flags = 0, uint64_t mask = 0,
                     const std::vector<uint8_t>& insn = {}) {
  uint8_t value[64];
  for (int i = 0; i < 64; ++i) value[i] = static_cast<uint8_t>(0x10 + i);
  AccessFields a;
  a.op = op;
  a.width = width;
  a.flags = flags;
  a.phys = phys;
  a.pc = 0x400000;
  a.byte_mask = mask;
  a.pid = 6;
  a.map_id = 2;
  a.insn = insn.data();
  a.insn_len = static_cast<uint8_t>(insn.size());
  a.value = value;
  return encode(encode_access, RecordStamp{seq, 1'000'000'000, 7}, a);
}

// A run of `count` accesses of `width` bytes whose value bytes are 0x10, 0x11,
// ... in record order (access i's bytes start at 0x10 + i*width), with the
// fields of access() above.
inline Record access_run(uint64_t seq, AccessOp op, uint8_t width, uint32_t count, uint64_t phys, int32_t stride,
                         const std::vector<uint8_t>& insn = {}, uint8_t flags = 0) {
  std::vector<uint8_t> values(size_t{count} * width);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<uint8_t>(0x10 + i);
  AccessRunFields f;
  f.op = op;
  f.width = width;
  f.phys = phys;
  f.pc = 0x400000;
  f.pid = 6;
  f.map_id = 2;
  f.count = count;
  f.stride = stride;
  f.flags = flags;
  f.insn = insn.data();
  f.insn_len = static_cast<uint8_t>(insn.size());
  f.values = values.data();
  return encode(encode_access_run, RecordStamp{seq, 1'000'000'000, 7}, f);
}

// Reads `f` (a std::tmpfile() a printer wrote) from its start, then closes it.
inline std::string take_printed_text(FILE* f) {
  std::rewind(f);
  std::string text;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  std::fclose(f);
  return text;
}

// Hands a list of records to a printer, in order (no file needed).
class VectorSource final : public RecordSource {
 public:
  explicit VectorSource(std::vector<Record> records) : records_(std::move(records)) {}
  Result<bool> next(RecordView& out) override {
    if (next_ == records_.size()) return false;
    auto view = RecordView::checked(records_[next_++]);
    EXPECT_TRUE(view.ok()) << view.error();
    if (!view.ok()) return make_error(view.error());
    out = *view;
    return true;
  }
  bool read_failed() const override { return false; }

 private:
  std::vector<Record> records_;
  size_t next_ = 0;
};

// Kernel-format text must read in the independent reader of the tests
// (tests/reference): nothing a kernel would not print.
inline void expect_kernel_readers_accept(const std::string& text) {
  EXPECT_EQ(reference::read_kernel_format(text), "") << text.substr(0, 2000);
}

// The text of `records` in their order in `format` (as the print loop gives
// them to its printer: PCIDEV records where they are, no file header).
inline std::string printed_text(std::vector<Record> records, std::string_view format,
                                const output::PrinterOptions& options = {}) {
  VectorSource source(std::move(records));
  auto printer = output::make_printer(format, options);
  EXPECT_NE(printer, nullptr) << format;
  if (printer == nullptr) return "";
  FILE* f = std::tmpfile();
  output::TextSink sink(f, "standard output");
  const PrintOutcome o = output::print_records(source, output::InputInfo{}, *printer, nullptr, nullptr, nullptr, sink);
  EXPECT_EQ(o.status, PrintStatus::OK) << o.message;
  return take_printed_text(f);
}

// The kernel format of `records` in their order, "VERSION 20070824" first.
inline std::string kernel_text(std::vector<Record> records, const output::KernelFormatOptions& options = {}) {
  output::PrinterOptions o;
  o.kernel = options;
  std::string text = printed_text(std::move(records), "kernel", o);
  expect_kernel_readers_accept(text);
  return text;
}

}  // namespace mmiotrace::trace
