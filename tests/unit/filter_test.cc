// Filters (src/analysis/filter.h): each criterion alone on a small trace of
// accesses, their combination (all kinds must hold, values of one kind are
// alternatives), MARK windows, and the refusals.
#include "analysis/filter.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "print_test_support.h"

namespace mmiotrace::analysis {
namespace {

using trace::Record;

trace::RecordView view(const Record& r) {
  auto v = trace::RecordView::checked(r);
  EXPECT_TRUE(v) << v.error();
  return *v;
}

Record timed_access(uint64_t seq, trace::AccessOp op, uint8_t width, uint64_t phys, uint32_t tid, uint64_t time_ns,
                    uint64_t pc = 0x401000, int32_t map_id = 1) {
  uint8_t bytes[8] = {};
  trace::AccessFields a;
  a.op = op;
  a.width = width;
  a.phys = phys;
  a.pc = pc;
  a.pid = 50;
  a.map_id = static_cast<uint32_t>(map_id);
  a.value = bytes;
  return trace::encode(trace::encode_access, trace::RecordStamp{seq, time_ns, tid}, a);
}

Record mark(uint64_t seq, const std::string& text) {
  trace::MarkFields m;
  m.pid = 50;
  m.text = text.data();
  m.text_len = static_cast<uint16_t>(text.size());
  return trace::encode(trace::encode_mark, trace::RecordStamp{seq, 0, 50}, m);
}

Record pcidev() {
  trace::PciDevFields f;
  f.busdevfn = 3 << 3;
  f.vendor = 0x8086;
  f.device = 0x100e;
  f.start[0] = 0xfebc0000;
  f.size[0] = 0x20000;
  return trace::encode(trace::encode_pcidev, trace::RecordStamp{0, 0, 0}, f);
}

// A small trace: reads and writes of two threads to e1000 registers.
std::vector<Record> trace_records() {
  using trace::AccessOp;
  return {
      pcidev(),
      timed_access(1, AccessOp::WRITE, 4, 0xfebc00d8, 10, 1'000'000'000),  // IMC
      timed_access(2, AccessOp::READ, 4, 0xfebc0000, 10, 1'100'000'000),   // CTRL
      mark(3, "reset done"),
      timed_access(4, AccessOp::WRITE, 4, 0xfebc0100, 11, 1'200'000'000),           // RCTL
      timed_access(5, AccessOp::READ, 4, 0xfebc5400, 11, 1'300'000'000, 0x402000),  // RAL[0]
      timed_access(6, AccessOp::READ, 4, 0xfebc5404, 10, 1'400'000'000, 0x402000),  // RAH[0]
      mark(7, "link up"),
      timed_access(8, AccessOp::WRITE, 8, 0xfebc3800, 10, 1'500'000'000),  // TDBAL, TDBAH
      timed_access(9, AccessOp::READ, 2, 0xfebc0008, 10, 1'600'000'000),   // STATUS
  };
}

// The seqs of the accesses that pass `spec`.
std::vector<uint64_t> selected(const FilterSpec& spec, bool with_map = false) {
  std::vector<Record> records = trace_records();
  DeviceCatalog catalog;
  for (const Record& r : records) catalog.add(view(r));
  RegisterBindings bindings;
  if (with_map) {
    auto maps = load_register_maps({std::string(MT_MAPS_DIR) + "/e1000.toml", ""});
    EXPECT_TRUE(maps) << maps.error();
    auto b = RegisterBindings::make(std::move(*maps), {BindSpec{}}, catalog);
    EXPECT_TRUE(b) << b.error();
    bindings = std::move(*b);
  }
  auto filter = Filter::make(spec, &catalog, &bindings);
  EXPECT_TRUE(filter) << filter.error();
  std::vector<uint64_t> seqs;
  for (const Record& r : records) {
    filter->observe(view(r));
    for_each_access(view(r), [&](const Access& a) {
      if (filter->accepts(a)) seqs.push_back(a.seq);
    });
  }
  return seqs;
}

using Seqs = std::vector<uint64_t>;

TEST(FilterTest, EmptySpecPassesEverything) { EXPECT_EQ(selected({}), (Seqs{1, 2, 4, 5, 6, 8, 9})); }

TEST(FilterTest, ByOpWidthThreadPcAddress) {
  FilterSpec s;
  s.op = trace::AccessOp::WRITE;
  EXPECT_EQ(selected(s), (Seqs{1, 4, 8}));
  s = {};
  s.widths = {8, 2};
  EXPECT_EQ(selected(s), (Seqs{8, 9}));
  s = {};
  s.tids = {11};
  EXPECT_EQ(selected(s), (Seqs{4, 5}));
  s = {};
  s.pcs = {{0x402000, 0x402fff}};
  EXPECT_EQ(selected(s), (Seqs{5, 6}));
  s = {};
  s.addresses = {{0xfebc0000, 0xfebc00ff}};
  EXPECT_EQ(selected(s), (Seqs{1, 2, 9}));
  // Kinds combine with "and": writes of thread 10.
  s = {};
  s.op = trace::AccessOp::WRITE;
  s.tids = {10};
  EXPECT_EQ(selected(s), (Seqs{1, 8}));
}

TEST(FilterTest, ByTimeWindowAndMarks) {
  FilterSpec s;
  s.from_ns = 1'200'000'000;
  s.to_ns = 1'400'000'000;
  EXPECT_EQ(selected(s), (Seqs{4, 5, 6}));
  s = {};
  s.from_mark = "reset";
  s.to_mark = "link up";
  EXPECT_EQ(selected(s), (Seqs{4, 5, 6}));
  s = {};
  s.from_mark = "link up";
  EXPECT_EQ(selected(s), (Seqs{8, 9}));
  s = {};
  s.to_mark = "reset done";
  EXPECT_EQ(selected(s), (Seqs{1, 2}));
}

TEST(FilterTest, ByDeviceBarOffsetAndRegister) {
  FilterSpec s;
  s.devices = {"8086:100e"};
  EXPECT_EQ(selected(s), (Seqs{1, 2, 4, 5, 6, 8, 9}));
  s.devices = {"00:03.0"};
  EXPECT_EQ(selected(s), (Seqs{1, 2, 4, 5, 6, 8, 9}));
  s.devices = {"1234:11e8"};
  EXPECT_EQ(selected(s), (Seqs{}));
  s = {};
  s.bars = {0};
  EXPECT_EQ(selected(s).size(), 7u);
  s = {};
  s.offsets = {{0x5400, 0x54ff}};
  EXPECT_EQ(selected(s), (Seqs{5, 6}));
  s = {};
  s.registers = {"RA?[0]", "STATUS"};
  EXPECT_EQ(selected(s, true), (Seqs{5, 6, 9}));
  s.registers = {"TDBAH"};  // the second register of a 64-bit store
  EXPECT_EQ(selected(s, true), (Seqs{8}));
  s.registers = {"R*"};
  EXPECT_EQ(selected(s, true), (Seqs{4, 5, 6}));
  s = {};
  s.devices = {"e1000"};  // a map's label
  EXPECT_EQ(selected(s, true).size(), 7u);
}

TEST(FilterTest, RefusesWhatItCannotDo) {
  FilterSpec s;
  s.registers = {"RCTL"};
  auto f = Filter::make(s, nullptr, nullptr);
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error(), "filtering by register name (--reg) needs a register map: give one with --regs");
  s = {};
  s.functions = {"main"};
  f = Filter::make(s, nullptr, nullptr);
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error(), "filtering by function (--function) needs the trace's symbols, which this trace has not");
}

TEST(FilterTest, ParsesRangesAndTimes) {
  auto r = parse_range("0x100-0x1ff");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first, 0x100u);
  EXPECT_EQ(r->last, 0x1ffu);
  r = parse_range("0x5400+16");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->last, 0x540fu);
  r = parse_range("42");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first, 42u);
  EXPECT_EQ(r->last, 42u);
  EXPECT_FALSE(parse_range("0x200-0x100"));
  EXPECT_FALSE(parse_range("zz"));
  auto t = parse_seconds("12.000512");
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, 12'000'512'000u);
  t = parse_seconds("3");
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, 3'000'000'000u);
  EXPECT_FALSE(parse_seconds("1.2.3"));
  EXPECT_FALSE(parse_seconds(""));
}

}  // namespace
}  // namespace mmiotrace::analysis
