// encode_* -> TraceWriter -> TraceReader gives back every field of every record
// type (ACCESS_RUN at its limits too). The encoders' limits are in
// trace_encode_test.cc, the writer's failure reports in trace_writer_test.cc.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "trace/encode.h"
#include "trace/reader.h"
#include "trace/writer.h"
#include "trace_test_support.h"

namespace mmiotrace::trace {
namespace {

using testing::expect_header;
using testing::kInsn;
using testing::kRepMovsq;
using testing::next;
using testing::stamp;
using testing::temp_path;

struct Sample {
  std::vector<std::vector<uint8_t>> records;  // encoded, in order
};

template <typename Fields>
std::vector<uint8_t> encode(size_t (*fn)(void*, size_t, const RecordStamp&, const Fields&), uint64_t seq,
                            const Fields& f) {
  std::vector<uint8_t> buf(kMaxRecordSize);
  size_t n = fn(buf.data(), buf.size(), stamp(seq), f);
  EXPECT_NE(n, 0u);
  buf.resize(n);
  return buf;
}

Sample make_sample() {
  Sample s;
  uint8_t value[64];
  for (int i = 0; i < 64; ++i) value[i] = static_cast<uint8_t>(0xa0 + i);
  AccessFields a;
  a.op = AccessOp::WRITE;
  a.width = 64;
  a.flags = kAccessMasked | kAccessSplit;
  a.phys = 0xfe0012340;
  a.pc = 0x401234;
  a.byte_mask = 0x0000000000ff00f0;
  a.pid = 77;
  a.map_id = 3;
  a.insn = kInsn;
  a.insn_len = sizeof kInsn;
  a.value = value;
  s.records.push_back(encode(encode_access, 1, a));
  MapFields m;
  m.phys = 0xf6000000;
  m.virt = 0x7f1234560000;
  m.len = 0x1000000;
  m.file_offset = 0x2000;
  m.pid = 77;
  m.map_id = 3;
  m.kind = DeviceKind::PCI_RESOURCE;
  m.prot = 3;
  m.bar = 0;
  m.pci_busdevfn = 0x00010008;
  const char path[] = "/sys/bus/pci/devices/0000:01:01.0/resource0";
  m.path = path;
  m.path_len = sizeof path - 1;
  s.records.push_back(encode(encode_map, 2, m));
  s.records.push_back(encode(encode_unmap, 3, UnmapFields{0x7f1234561000, 0x3000, 77, 3}));
  const char text[] = "Write test.";
  s.records.push_back(encode(encode_mark, 4, MarkFields{78, text, sizeof text - 1}));
  PciDevFields p;
  p.busdevfn = 0x00020100;
  p.vendor = 0x10de;
  p.device = 0x2484;
  p.irq = 0x22;
  for (int i = 0; i < 7; ++i) {
    p.start[i] = 0xf0000000ull + i * 0x1000000 + (i == 1 ? 0xc : 0);
    p.size[i] = 0x1000ull << i;
  }
  p.driver = "nouveau";
  p.driver_len = 7;
  s.records.push_back(encode(encode_pcidev, 5, p));
  const uint8_t movs[] = {0xf3, 0xa5};
  s.records.push_back(encode(encode_unknown, 6, UnknownFields{0xfe000010, 0x401000, 79, 2, movs, sizeof movs}));
  s.records.push_back(encode(encode_lost, 7, LostFields{5}));
  CodeMapFields c;
  c.virt = 0x5555aaaa1000;
  c.len = 0x3000;
  c.file_offset = 0x1000;
  c.elf_vaddr = 0x401000;
  c.mtime_ns = 1700000000123456789;
  c.file_size = 0x5a5a;
  c.inode = 0x1234567;
  c.pid = 80;
  c.flags = kCodeMapFirst;
  const uint8_t id[20] = {0xf4, 0xed, 0x2c, 0x68, 0x34, 0xb8, 0x39, 0x75, 0x4e, 0xe1,
                          0xd6, 0x75, 0xdd, 0x7f, 0x07, 0xdd, 0x6e, 0xa1, 0xf7, 0x0d};
  c.build_id = id;
  c.build_id_len = sizeof id;
  const char exe[] = "/usr/bin/driver";
  c.path = exe;
  c.path_len = sizeof exe - 1;
  s.records.push_back(encode(encode_codemap, 8, c));
  return s;
}

void write_file(const std::string& path, const Sample& s) {
  auto w = TraceWriter::create(path, make_file_header(111, 222, 333));
  ASSERT_TRUE(w.ok()) << w.error();
  for (const auto& r : s.records) ASSERT_TRUE(w->append(r.data(), r.size()).ok());
  ASSERT_TRUE(w->close().ok());
}

TEST(TraceRoundtrip, EveryFieldOfEveryRecordType) {
  const std::string path = temp_path("fields");
  const Sample s = make_sample();
  write_file(path, s);
  auto reader = TraceReader::open(path);
  ASSERT_TRUE(reader.ok()) << reader.error();
  const FileHeader& fh = reader->header();
  EXPECT_EQ(std::memcmp(fh.magic, kMagic, 8), 0);
  EXPECT_EQ(fh.version_major, 1);
  EXPECT_EQ(fh.version_minor, 2);
  EXPECT_EQ(fh.header_size, 64u);
  EXPECT_EQ(fh.features, 0u);
  EXPECT_EQ(fh.start_monotonic_ns, 111u);
  EXPECT_EQ(fh.start_realtime_ns, 222u);
  EXPECT_EQ(fh.recorder_pid, 333u);

  RecordView v;
  ASSERT_TRUE(next(*reader, v));
  EXPECT_EQ(v.offset(), 64u);
  const auto a = v.as<AccessRecord>();
  expect_header(a.h, RecordType::ACCESS, 1, 80 + 64);
  EXPECT_EQ(a.phys, 0xfe0012340u);
  EXPECT_EQ(a.pc, 0x401234u);
  EXPECT_EQ(a.byte_mask, 0x0000000000ff00f0u);
  EXPECT_EQ(a.pid, 77u);
  EXPECT_EQ(a.map_id, 3u);
  EXPECT_EQ(a.op, static_cast<uint8_t>(AccessOp::WRITE));
  EXPECT_EQ(a.width, 64);
  EXPECT_EQ(a.insn_len, sizeof kInsn);
  EXPECT_EQ(a.flags, kAccessMasked | kAccessSplit);
  EXPECT_EQ(std::memcmp(a.insn, kInsn, sizeof kInsn), 0);
  ASSERT_EQ(v.access_value().size(), 64u);
  for (int i = 0; i < 64; ++i) EXPECT_EQ(v.access_value()[i], 0xa0 + i);

  ASSERT_TRUE(next(*reader, v));
  EXPECT_EQ(v.offset(), 64u + 144);
  const auto m = v.as<MapRecord>();
  expect_header(m.h, RecordType::MAP, 2, 80 + 48);  // 44-byte path padded to 48
  EXPECT_EQ(m.phys, 0xf6000000u);
  EXPECT_EQ(m.virt, 0x7f1234560000u);
  EXPECT_EQ(m.len, 0x1000000u);
  EXPECT_EQ(m.file_offset, 0x2000u);
  EXPECT_EQ(m.pid, 77u);
  EXPECT_EQ(m.map_id, 3u);
  EXPECT_EQ(m.kind, static_cast<uint16_t>(DeviceKind::PCI_RESOURCE));
  EXPECT_EQ(m.prot, 3);
  EXPECT_EQ(m.bar, 0);
  EXPECT_EQ(m.pci_busdevfn, 0x00010008u);
  EXPECT_EQ(v.map_path(), "/sys/bus/pci/devices/0000:01:01.0/resource0");

  ASSERT_TRUE(next(*reader, v));
  const auto u = v.as<UnmapRecord>();
  expect_header(u.h, RecordType::UNMAP, 3, 48);
  EXPECT_EQ(u.virt, 0x7f1234561000u);
  EXPECT_EQ(u.len, 0x3000u);
  EXPECT_EQ(u.pid, 77u);
  EXPECT_EQ(u.map_id, 3u);

  ASSERT_TRUE(next(*reader, v));
  const auto k = v.as<MarkRecord>();
  expect_header(k.h, RecordType::MARK, 4, 32 + 16);
  EXPECT_EQ(k.pid, 78u);
  EXPECT_EQ(k.text_len, 11);
  EXPECT_EQ(v.mark_text(), "Write test.");

  ASSERT_TRUE(next(*reader, v));
  const auto p = v.as<PciDevRecord>();
  expect_header(p.h, RecordType::PCIDEV, 5, 152 + 8);
  EXPECT_EQ(p.busdevfn, 0x00020100u);
  EXPECT_EQ(p.vendor, 0x10de);
  EXPECT_EQ(p.device, 0x2484);
  EXPECT_EQ(p.irq, 0x22u);
  for (int i = 0; i < 7; ++i) {
    EXPECT_EQ(p.start[i], 0xf0000000ull + i * 0x1000000 + (i == 1 ? 0xc : 0));
    EXPECT_EQ(p.size[i], 0x1000ull << i);
  }
  EXPECT_EQ(v.pcidev_driver(), "nouveau");

  ASSERT_TRUE(next(*reader, v));
  const auto x = v.as<UnknownRecord>();
  expect_header(x.h, RecordType::UNKNOWN, 6, 72);
  EXPECT_EQ(x.phys, 0xfe000010u);
  EXPECT_EQ(x.pc, 0x401000u);
  EXPECT_EQ(x.pid, 79u);
  EXPECT_EQ(x.map_id, 2u);
  EXPECT_EQ(x.insn_len, 2);
  EXPECT_EQ(x.insn[0], 0xf3);
  EXPECT_EQ(x.insn[1], 0xa5);
  EXPECT_EQ(x.insn[2], 0);

  ASSERT_TRUE(next(*reader, v));
  const auto l = v.as<LostRecord>();
  expect_header(l.h, RecordType::LOST, 7, 32);
  EXPECT_EQ(l.count, 5u);

  ASSERT_TRUE(next(*reader, v));
  const auto c = v.as<CodeMapRecord>();
  expect_header(c.h, RecordType::CODEMAP, 8, 96 + 40);  // 20 + 15 bytes of build-id and path, padded
  EXPECT_EQ(c.virt, 0x5555aaaa1000u);
  EXPECT_EQ(c.len, 0x3000u);
  EXPECT_EQ(c.file_offset, 0x1000u);
  EXPECT_EQ(c.elf_vaddr, 0x401000u);
  EXPECT_EQ(c.mtime_ns, 1700000000123456789u);
  EXPECT_EQ(c.file_size, 0x5a5au);
  EXPECT_EQ(c.inode, 0x1234567u);
  EXPECT_EQ(c.pid, 80u);
  EXPECT_EQ(c.flags, kCodeMapFirst);
  EXPECT_EQ(c.build_id_len, 20u);
  EXPECT_EQ(c.path_len, 15u);
  ASSERT_EQ(v.codemap_build_id().size(), 20u);
  EXPECT_EQ(v.codemap_build_id()[0], 0xf4);
  EXPECT_EQ(v.codemap_build_id()[19], 0x0d);
  EXPECT_EQ(v.codemap_path(), "/usr/bin/driver");

  auto end = reader->next(v);
  ASSERT_TRUE(end.ok());
  EXPECT_FALSE(*end);
  EXPECT_EQ(reader->records_read(), 8u);
  EXPECT_EQ(reader->records_skipped(), 0u);
  ::unlink(path.c_str());
}

TEST(TraceRoundtrip, BytesReadBackAreTheBytesEncoded) {
  const std::string path = temp_path("bytes");
  const Sample s = make_sample();
  write_file(path, s);
  auto reader = TraceReader::open(path);
  ASSERT_TRUE(reader.ok());
  RecordView v;
  for (const auto& r : s.records) {
    ASSERT_TRUE(next(*reader, v));
    ASSERT_EQ(v.size(), r.size());
    EXPECT_EQ(std::memcmp(v.bytes().data(), r.data(), r.size()), 0);
  }
  ::unlink(path.c_str());
}

// Over 1 MiB of records of every access width: the writer's buffer fills many
// times and the reader's window slides over records cut by its edge.
TEST(TraceRoundtrip, ManyRecordsStreamThroughBothBuffers) {
  const std::string path = temp_path("many");
  auto w = TraceWriter::create(path, make_file_header(1, 2, 3));
  ASSERT_TRUE(w.ok());
  const int kCount = 60000;
  uint8_t buf[kMaxRecordSize];
  uint8_t value[64];
  for (int i = 0; i < kCount; ++i) {
    AccessFields a;
    a.width = static_cast<uint8_t>(1 + i % 64);
    for (int b = 0; b < a.width; ++b) value[b] = static_cast<uint8_t>(i + b);
    a.value = value;
    a.phys = 0x1000 + i;
    size_t n = encode_access(buf, sizeof buf, RecordStamp{10 + 2ull * i, 5ull * i, 1}, a);
    ASSERT_EQ(n, 80 + padded8(a.width));
    ASSERT_TRUE(w->append(buf, n).ok());
  }
  ASSERT_TRUE(w->close().ok());
  EXPECT_EQ(w->records_written(), static_cast<uint64_t>(kCount));
  auto reader = TraceReader::open(path);
  ASSERT_TRUE(reader.ok());
  RecordView v;
  for (int i = 0; i < kCount; ++i) {
    auto more = reader->next(v);
    ASSERT_TRUE(more.ok()) << more.error();
    ASSERT_TRUE(*more);
    const auto a = v.as<AccessRecord>();
    ASSERT_EQ(a.h.seq, 10 + 2ull * i);
    ASSERT_EQ(a.width, 1 + i % 64);
    ASSERT_EQ(a.phys, 0x1000u + i);
    ASSERT_EQ(v.access_value()[a.width - 1], static_cast<uint8_t>(i + a.width - 1));
  }
  EXPECT_FALSE(next(*reader, v));
  ::unlink(path.c_str());
}

// A `rep movsq` writing backwards (DF=1) from 0xfe0010f8: every field of the
// run, each access's value and address, and the seq after it.
TEST(TraceRoundtrip, AccessRunEveryFieldBackwards) {
  const std::string path = temp_path("run");
  uint8_t values[5 * 8];
  for (int i = 0; i < 40; ++i) values[i] = static_cast<uint8_t>(0x30 + i);
  AccessRunFields f;
  f.op = AccessOp::WRITE;
  f.width = 8;
  f.flags = kAccessSplit;
  f.phys = 0xfe0010f8;
  f.pc = 0x401abc;
  f.pid = 91;
  f.map_id = 4;
  f.count = 5;
  f.stride = -8;
  f.insn = kRepMovsq;
  f.insn_len = sizeof kRepMovsq;
  f.values = values;
  EXPECT_EQ(record_size_for_access_run(8, 5), 120u);
  const std::vector<uint8_t> run = encode(encode_access_run, 10, f);
  ASSERT_EQ(run.size(), 120u);
  Sample s;
  s.records.push_back(run);
  s.records.push_back(encode(encode_lost, 15, LostFields{2}));  // 10 + 5: the first seq after the run
  write_file(path, s);

  auto reader = TraceReader::open(path);
  ASSERT_TRUE(reader.ok()) << reader.error();
  RecordView v;
  ASSERT_TRUE(next(*reader, v));
  EXPECT_EQ(v.type(), RecordType::ACCESS_RUN);
  EXPECT_EQ(to_string(v.type()), "ACCESS_RUN");
  const auto r = v.as<AccessRunRecord>();
  expect_header(r.h, RecordType::ACCESS_RUN, 10, 120);
  EXPECT_EQ(r.phys, 0xfe0010f8u);
  EXPECT_EQ(r.pc, 0x401abcu);
  EXPECT_EQ(r.pid, 91u);
  EXPECT_EQ(r.map_id, 4u);
  EXPECT_EQ(r.count, 5u);
  EXPECT_EQ(r.stride, -8);
  EXPECT_EQ(r.op, static_cast<uint8_t>(AccessOp::WRITE));
  EXPECT_EQ(r.width, 8);
  EXPECT_EQ(r.insn_len, 3);
  EXPECT_EQ(r.flags, kAccessSplit);
  EXPECT_EQ(r.reserved, 0u);
  EXPECT_EQ(r.insn[0], 0xf3);
  EXPECT_EQ(r.insn[1], 0x48);
  EXPECT_EQ(r.insn[2], 0xa5);
  EXPECT_EQ(r.insn[3], 0);
  ASSERT_EQ(v.access_run_values().size(), 40u);
  for (int i = 0; i < 40; ++i) EXPECT_EQ(v.access_run_values()[i], 0x30 + i) << i;
  ASSERT_EQ(v.access_run_value(0).size(), 8u);
  EXPECT_EQ(v.access_run_value(0)[0], 0x30);
  EXPECT_EQ(v.access_run_value(4)[0], 0x50);
  EXPECT_EQ(v.access_run_value(4)[7], 0x57);
  EXPECT_EQ(run_access_phys(r.phys, r.stride, 0), 0xfe0010f8u);
  EXPECT_EQ(run_access_phys(r.phys, r.stride, 1), 0xfe0010f0u);
  EXPECT_EQ(run_access_phys(r.phys, r.stride, 4), 0xfe0010d8u);
  EXPECT_EQ(std::memcmp(v.bytes().data(), run.data(), run.size()), 0);
  ASSERT_TRUE(next(*reader, v));
  EXPECT_EQ(v.as<LostRecord>().h.seq, 15u);
  EXPECT_EQ(v.offset(), 64u + 120);
  EXPECT_FALSE(next(*reader, v));
  EXPECT_EQ(reader->records_read(), 2u);
  ::unlink(path.c_str());
}

// The largest run of each width fills a record of exactly kMaxRecordSize bytes
// and reads back whole.
TEST(TraceRoundtrip, AccessRunOfMaxCountForEachWidth) {
  EXPECT_EQ(max_run_count(1), 65448u);
  EXPECT_EQ(max_run_count(2), 32724u);
  EXPECT_EQ(max_run_count(4), 16362u);
  EXPECT_EQ(max_run_count(8), 8181u);
  EXPECT_EQ(max_run_count(3), 0u);
  EXPECT_EQ(max_run_count(16), 0u);
  const std::string path = temp_path("runmax");
  std::vector<uint8_t> values(kMaxRecordSize);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<uint8_t>(i * 7 + i / 256);
  Sample s;
  uint64_t seq = 1;
  for (uint8_t width : {1, 2, 4, 8}) {
    AccessRunFields f;
    f.op = AccessOp::READ;
    f.width = width;
    f.phys = 0x100000;
    f.count = max_run_count(width);
    f.stride = width;
    f.values = values.data();
    s.records.push_back(encode(encode_access_run, seq, f));
    EXPECT_EQ(s.records.back().size(), kMaxRecordSize) << int{width};
    seq += f.count;
  }
  write_file(path, s);
  auto reader = TraceReader::open(path);
  ASSERT_TRUE(reader.ok()) << reader.error();
  RecordView v;
  uint64_t want_seq = 1;
  for (unsigned width : {1u, 2u, 4u, 8u}) {
    ASSERT_TRUE(next(*reader, v));
    const auto r = v.as<AccessRunRecord>();
    EXPECT_EQ(r.h.seq, want_seq);
    EXPECT_EQ(r.h.size, kMaxRecordSize);
    EXPECT_EQ(r.width, width);
    EXPECT_EQ(r.count, max_run_count(width));
    EXPECT_EQ(r.stride, static_cast<int32_t>(width));
    ASSERT_EQ(v.access_run_values().size(), 65448u);
    EXPECT_EQ(std::memcmp(v.access_run_values().data(), values.data(), 65448), 0);
    const uint32_t last = r.count - 1;
    EXPECT_EQ(v.access_run_value(last)[width - 1], values[65447]);
    EXPECT_EQ(run_access_phys(r.phys, r.stride, last), 0x100000u + 65448 - width);
    want_seq += r.count;
  }
  EXPECT_FALSE(next(*reader, v));
  ::unlink(path.c_str());
}

}  // namespace
}  // namespace mmiotrace::trace
