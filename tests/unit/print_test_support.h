// What the printer tests share: records built with encode.h, and the text a
// printer wrote into a temporary FILE.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "analysis/output/print.h"
#include "trace/encode.h"
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

}  // namespace mmiotrace::trace
