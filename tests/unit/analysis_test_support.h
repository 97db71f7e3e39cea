// Test support for the analysis tests (stats, diff, export, report): a small
// trace written record by record (one stand-in mapping, accesses, marks),
// and a register map given as TOML text bound to that mapping.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "analysis/bind.h"
#include "analysis/devices.h"
#include "analysis/regmap.h"
#include "trace/encode.h"
#include "trace/writer.h"

namespace mmiotrace::analysis::test {

class TraceBuilder {
 public:
  explicit TraceBuilder(const std::string& name)
      : path_(::testing::TempDir() + "mmiotrace_analysis_" + name + "_" + std::to_string(::getpid()) + ".mmio") {
    auto w = trace::TraceWriter::create(path_, trace::make_file_header(1'000'000'000, 2'000'000'000, 42));
    EXPECT_TRUE(w.ok()) << w.error();
    writer_.emplace(std::move(w).value());
  }
  ~TraceBuilder() { ::unlink(path_.c_str()); }

  // A 4 KiB stand-in device at physical address 0, map id 1.
  TraceBuilder& map(uint32_t pid = 100, uint32_t map_id = 1) {
    trace::MapFields f;
    f.virt = 0x7f0000000000;
    f.len = 0x20000;
    f.pid = pid;
    f.map_id = map_id;
    f.path = "/tmp/dev";
    f.path_len = 8;
    return put(trace::encode_map, f, pid);
  }
  TraceBuilder& access(char op, uint64_t offset, uint64_t value, uint8_t width = 4, uint32_t tid = 100,
                       uint64_t pc = 0x401000) {
    trace::AccessFields f;
    f.op = op == 'W' ? trace::AccessOp::WRITE : trace::AccessOp::READ;
    f.width = width;
    f.phys = offset;
    f.pc = pc;
    f.pid = 100;
    f.map_id = 1;
    uint8_t bytes[8];
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<uint8_t>(value >> (8 * i));
    f.value = bytes;
    return put(trace::encode_access, f, tid);
  }
  TraceBuilder& mark(const std::string& text) {
    return put(trace::encode_mark, trace::MarkFields{100, text.data(), static_cast<uint16_t>(text.size())}, 100);
  }
  // Closes the file; returns its path.
  const std::string& done() {
    EXPECT_TRUE(writer_->close().ok());
    return path_;
  }
  const std::string& path() const { return path_; }
  uint64_t time_of(uint64_t seq) const { return 1'000'000'000 + seq * 1000; }

 private:
  template <typename Fields>
  TraceBuilder& put(size_t (*fn)(void*, size_t, const trace::RecordStamp&, const Fields&), const Fields& f,
                    uint32_t tid) {
    std::vector<uint8_t> buf(trace::kMaxRecordSize);
    const size_t n = fn(buf.data(), buf.size(), trace::RecordStamp{seq_, time_of(seq_), tid}, f);
    EXPECT_NE(n, 0u);
    EXPECT_TRUE(writer_->append(buf.data(), n).ok());
    ++seq_;
    return *this;
  }
  std::string path_;
  std::optional<trace::TraceWriter> writer_;
  uint64_t seq_ = 0;
};

// A map with CTRL (0x0, fields RST bit 26, SLU bit 6), STATUS (0x8, fields FD
// bit 0, LU bit 1, SPEED 7:6 with names), and RAL[16] (0x5400, stride 8).
inline const char* kTestMap = R"(
[device]
id = "nic"
name = "test NIC"
size = 0x10000

[[register]]
name = "CTRL"
offset = 0x0
fields = [ { name = "SLU", bit = 6 }, { name = "RST", bit = 26 } ]

[[register]]
name = "STATUS"
offset = 0x8
fields = [
  { name = "FD", bit = 0 },
  { name = "LU", bit = 1 },
  { name = "SPEED", bits = "7:6", values = { 10M = 0, 100M = 1, 1000M = 2 } },
]

[[register]]
name = "RAL"
offset = 0x5400
count = 16
stride = 8
)";

// kTestMap bound to mapping 1 of the trace at `path`.
inline RegisterBindings bind_test_map(const std::string& path) {
  auto map = parse_toml_map(kTestMap, "test.toml");
  EXPECT_TRUE(map.ok()) << map.error();
  auto catalog = DeviceCatalog::scan(path);
  EXPECT_TRUE(catalog.ok()) << catalog.error();
  BindSpec spec;
  spec.kind = BindSpec::Kind::MAP_ID;
  spec.map_id = 1;
  auto bindings = RegisterBindings::make({*map}, {spec}, *catalog);
  EXPECT_TRUE(bindings.ok()) << bindings.error();
  return std::move(bindings).value();
}

}  // namespace mmiotrace::analysis::test
