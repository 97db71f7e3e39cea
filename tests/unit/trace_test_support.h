// What the trace library's tests share (trace_roundtrip_test.cc,
// trace_encode_test.cc, trace_writer_test.cc): a scratch file name, reading
// the next record, and the stamps the tests give their records.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "trace/encode.h"
#include "trace/format.h"
#include "trace/reader.h"

namespace mmiotrace::trace::testing {

inline std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "mmiotrace_roundtrip_" + name + "_" + std::to_string(::getpid()) + ".mmio";
}

// The next record, or false at the end; a read error fails the test.
inline bool next(TraceReader& reader, RecordView& v) {
  auto more = reader.next(v);
  EXPECT_TRUE(more.ok()) << more.error();
  return more.ok() && more.value();
}

inline RecordStamp stamp(uint64_t seq) {
  return RecordStamp{seq, 1'000'000'000ull * seq + 123, 4000u + static_cast<uint32_t>(seq)};
}

inline void expect_header(const RecordHeader& h, RecordType type, uint64_t seq, size_t size) {
  EXPECT_EQ(h.type, static_cast<uint16_t>(type));
  EXPECT_EQ(h.size, size);
  EXPECT_EQ(h.seq, seq);
  EXPECT_EQ(h.time_ns, 1'000'000'000ull * seq + 123);
  EXPECT_EQ(h.tid, 4000u + seq);
}

constexpr uint8_t kInsn[] = {0x62, 0xf1, 0x7c, 0x48, 0x11, 0x07};  // vmovups %zmm0, (%rdi)
constexpr uint8_t kRepMovsq[] = {0xf3, 0x48, 0xa5};                // rep movsq

}  // namespace mmiotrace::trace::testing
