// TraceReader on damaged and foreign files: each kind of damage gives its
// message, byte offset and count of intact records, and the records before the
// damage are still delivered.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "trace/encode.h"
#include "trace/reader.h"
#include "trace/writer.h"

namespace mmiotrace::trace {
namespace {

using Bytes = std::vector<uint8_t>;

std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "mmiotrace_reader_" + name + "_" + std::to_string(::getpid()) + ".mmio";
}

// The next record, or false at the end; a read error fails the test.
bool next(TraceReader& reader, RecordView& v) {
  auto more = reader.next(v);
  EXPECT_TRUE(more.ok()) << more.error();
  return more.ok() && more.value();
}

void append(Bytes& out, const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  out.insert(out.end(), b, b + n);
}

Bytes file_header(uint16_t major = kVersionMajor, uint16_t minor = kVersionMinor, uint32_t header_size = 64) {
  FileHeader h = make_file_header(1000, 2000, 42);
  h.version_major = major;
  h.version_minor = minor;
  h.header_size = header_size;
  Bytes b;
  append(b, &h, sizeof h);
  b.resize(header_size < 64 ? 64 : header_size, 0);
  return b;
}

Bytes lost(uint64_t seq, uint64_t count) {
  Bytes b(32);
  EXPECT_EQ(encode_lost(b.data(), b.size(), RecordStamp{seq, seq * 10, 1}, LostFields{count}), 32u);
  return b;
}

Bytes access(uint64_t seq, uint8_t width) {
  Bytes b(record_size_for_access(width));
  uint8_t value[64] = {};
  AccessFields a;
  a.width = width;
  a.value = value;
  EXPECT_EQ(encode_access(b.data(), b.size(), RecordStamp{seq, seq * 10, 1}, a), b.size());
  return b;
}

// An ACCESS_RUN of `count` reads of `width` bytes upwards from 0x1000.
Bytes run(uint64_t seq, uint8_t width, uint32_t count) {
  Bytes b(record_size_for_access_run(width, count));
  Bytes values(size_t{count} * width, 0x5a);
  AccessRunFields f;
  f.width = width;
  f.phys = 0x1000;
  f.count = count;
  f.stride = width;
  f.values = values.data();
  EXPECT_EQ(encode_access_run(b.data(), b.size(), RecordStamp{seq, seq * 10, 1}, f), b.size());
  return b;
}

Bytes map(uint64_t seq, const std::string& path) {
  Bytes b(record_size_for_map(static_cast<unsigned>(path.size())));
  MapFields m;
  m.map_id = 1;
  m.path = path.data();
  m.path_len = static_cast<uint16_t>(path.size());
  EXPECT_EQ(encode_map(b.data(), b.size(), RecordStamp{seq, seq * 10, 1}, m), b.size());
  return b;
}

// The file header followed by LOST records with seq 1..n and count 100+seq:
// record i (from 0) starts at byte 64 + 32 * i.
Bytes good_file(int n) {
  Bytes b = file_header();
  for (int i = 1; i <= n; ++i) {
    Bytes r = lost(i, 100 + i);
    append(b, r.data(), r.size());
  }
  return b;
}

void set_u16(Bytes& b, size_t offset, uint16_t v) { std::memcpy(b.data() + offset, &v, 2); }
void set_u32(Bytes& b, size_t offset, uint32_t v) { std::memcpy(b.data() + offset, &v, 4); }
void set_u64(Bytes& b, size_t offset, uint64_t v) { std::memcpy(b.data() + offset, &v, 8); }

std::string write(const std::string& name, const Bytes& bytes) {
  const std::string path = temp_path(name);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  ::close(fd);
  return path;
}

std::string open_error(const std::string& path, TraceFailure expected_kind) {
  TraceFailure why = TraceFailure::NONE;
  auto r = TraceReader::open(path, &why);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(why, expected_kind);
  return r.ok() ? std::string() : r.error();
}

// Opens `bytes` as a file, expects the LOST records 1..`intact` and then an error;
// returns its message.
std::string error_after(const std::string& name, const Bytes& bytes, uint64_t intact) {
  const std::string path = write(name, bytes);
  auto reader = TraceReader::open(path);
  EXPECT_TRUE(reader.ok()) << reader.error();
  if (!reader.ok()) return {};
  RecordView v;
  for (uint64_t i = 1; i <= intact; ++i) {
    auto more = reader->next(v);
    EXPECT_TRUE(more.ok() && *more) << "record " << i;
    if (!more.ok() || !*more) return {};
    EXPECT_EQ(v.as<LostRecord>().count, 100 + i);
  }
  auto bad = reader->next(v);
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(reader->failure(), TraceFailure::CORRUPT);
  EXPECT_EQ(reader->records_read(), intact);
  // The error sticks.
  auto again = reader->next(v);
  EXPECT_FALSE(again.ok());
  if (!bad.ok() && !again.ok()) {
    EXPECT_EQ(again.error(), bad.error());
  }
  ::unlink(path.c_str());
  return bad.ok() ? std::string() : bad.error();
}

std::string corrupt(const std::string& name, uint64_t offset, const std::string& why, const std::string& intact) {
  return "trace file '" + temp_path(name) + "' is corrupt at byte " + std::to_string(offset) + " (" + why + "); " +
         intact;
}

TEST(TraceReaderErrors, MissingFile) {
  EXPECT_EQ(open_error("/nonexistent/t.mmio", TraceFailure::UNREADABLE),
            "cannot open trace file '/nonexistent/t.mmio': No such file or directory");
}

TEST(TraceReaderErrors, Directory) {
  EXPECT_EQ(open_error("/", TraceFailure::UNREADABLE), "cannot read trace file '/': Is a directory");
}

TEST(TraceReaderErrors, EmptyFile) {
  const std::string path = write("empty", {});
  EXPECT_EQ(open_error(path, TraceFailure::NOT_A_TRACE), "'" + path + "' is empty, not an mmiotrace trace file");
  ::unlink(path.c_str());
}

TEST(TraceReaderErrors, NotOurs) {
  const std::string text = "#!/bin/sh\necho this is a shell script, long enough to fill a header\n";
  const std::string path = write("notours", Bytes(text.begin(), text.end()));
  EXPECT_EQ(open_error(path, TraceFailure::NOT_A_TRACE), "'" + path + "' is not an mmiotrace trace file");
  ::unlink(path.c_str());
}

TEST(TraceReaderErrors, KernelTextLogIsSentToTheKernelLogReader) {
  const std::string text = "VERSION 20070824\nMARK 0.000000 hello\n";
  const std::string path = write("kernel", Bytes(text.begin(), text.end()));
  EXPECT_EQ(open_error(path, TraceFailure::NOT_A_TRACE),
            "'" + path +
                "' is a kernel mmiotrace text log (VERSION 20070824), not an mmiotrace trace file: read it with "
                "KernelLogReader (trace/kernel_log.h), or print it with mmiotrace print");
  ::unlink(path.c_str());
}

TEST(TraceReaderErrors, NewerMajorVersionRefused) {
  const std::string path = write("major", file_header(2, 0));
  EXPECT_EQ(open_error(path, TraceFailure::NOT_A_TRACE),
            "'" + path + "' was written by a newer mmiotrace (trace format 2.0); this mmiotrace reads format 1.x");
  ::unlink(path.c_str());
}

TEST(TraceReaderErrors, ShortHeaderIsTruncated) {
  Bytes b = file_header();
  b.resize(40);
  const std::string path = write("shorthdr", b);
  EXPECT_EQ(open_error(path, TraceFailure::CORRUPT),
            "trace file '" + path + "' is truncated (it ends 40 bytes into its 64-byte file header)");
  ::unlink(path.c_str());
}

TEST(TraceReaderErrors, BadHeaderSize) {
  const std::string path = write("hdrsize", file_header(1, 0, 60));
  EXPECT_EQ(
      open_error(path, TraceFailure::CORRUPT),
      "trace file '" + path + "' is corrupt at byte 12 (header size 60 is not a multiple of 8 between 64 and 4096)");
  ::unlink(path.c_str());
}

// A later minor version may grow the header and add record types: both are
// skipped, the records this version knows are delivered.
TEST(TraceReaderErrors, NewerMinorVersionWithUnknownRecordTypeIsRead) {
  Bytes b = file_header(1, 7, 80);
  Bytes r1 = lost(1, 101);
  append(b, r1.data(), r1.size());
  Bytes future(40, 0xee);
  RecordHeader h{99, 40, 1, 2, 20};
  std::memcpy(future.data(), &h, sizeof h);
  append(b, future.data(), future.size());
  Bytes r3 = lost(3, 103);
  append(b, r3.data(), r3.size());
  const std::string path = write("minor", b);
  auto reader = TraceReader::open(path);
  ASSERT_TRUE(reader.ok()) << reader.error();
  EXPECT_EQ(reader->header().version_minor, 7);
  RecordView v;
  ASSERT_TRUE(next(*reader, v));
  EXPECT_EQ(v.offset(), 80u);
  EXPECT_EQ(v.as<LostRecord>().count, 101u);
  ASSERT_TRUE(next(*reader, v));
  EXPECT_EQ(v.offset(), 80u + 32 + 40);
  EXPECT_EQ(v.as<LostRecord>().count, 103u);
  EXPECT_FALSE(next(*reader, v));
  EXPECT_EQ(reader->records_read(), 3u);
  EXPECT_EQ(reader->records_skipped(), 1u);
  EXPECT_EQ(to_string(static_cast<RecordType>(99)), "type 99");
  ::unlink(path.c_str());
}

TEST(TraceReaderErrors, HeaderOnlyFileHasNoRecords) {
  const std::string path = write("hdronly", file_header());
  auto reader = TraceReader::open(path);
  ASSERT_TRUE(reader.ok());
  RecordView v;
  auto more = reader->next(v);
  ASSERT_TRUE(more.ok());
  EXPECT_FALSE(*more);
  ::unlink(path.c_str());
}

TEST(TraceReaderErrors, SizeNotMultipleOfEight) {
  Bytes b = good_file(3);
  set_u16(b, 64 + 2 * 32 + 2, 5);
  EXPECT_EQ(error_after("size5", b, 2),
            corrupt("size5", 128, "record size 5 is not a multiple of 8", "the 2 records before it are intact"));
}

TEST(TraceReaderErrors, SizeSmallerThanHeader) {
  Bytes b = good_file(2);
  set_u16(b, 64 + 32 + 2, 16);
  EXPECT_EQ(error_after("size16", b, 1),
            corrupt("size16", 96, "record size 16 is smaller than the 24-byte record header",
                    "the 1 record before it is intact"));
}

TEST(TraceReaderErrors, SizeSmallerThanItsStruct) {
  Bytes b = good_file(1);
  set_u16(b, 64 + 2, 24);
  EXPECT_EQ(error_after("small", b, 0),
            corrupt("small", 64, "LOST record size 24 is smaller than its 32-byte structure",
                    "there are no records before it"));
}

TEST(TraceReaderErrors, SequenceNotIncreasing) {
  Bytes b = good_file(4);
  set_u64(b, 64 + 3 * 32 + 8, 2);
  EXPECT_EQ(error_after("seq", b, 3),
            corrupt("seq", 160, "sequence number 2 does not follow 3", "the 3 records before it are intact"));
}

TEST(TraceReaderErrors, SequenceNumberRepeated) {
  Bytes b = good_file(2);
  set_u64(b, 64 + 32 + 8, 1);
  EXPECT_EQ(error_after("seqdup", b, 1),
            corrupt("seqdup", 96, "sequence number 1 does not follow 1", "the 1 record before it is intact"));
}

TEST(TraceReaderErrors, AccessWidthZeroAndTooWide) {
  for (uint8_t width : {0, 65}) {
    Bytes b = good_file(2);
    Bytes a = access(3, 8);
    a[offsetof(AccessRecord, width)] = width;
    append(b, a.data(), a.size());
    const std::string name = "width" + std::to_string(width);
    EXPECT_EQ(error_after(name, b, 2),
              corrupt(name, 128, "access width " + std::to_string(width) + " is not between 1 and 64",
                      "the 2 records before it are intact"));
  }
}

TEST(TraceReaderErrors, AccessSizeDisagreesWithWidth) {
  Bytes b = good_file(1);
  Bytes a = access(2, 16);  // 96 bytes
  a[offsetof(AccessRecord, width)] = 32;
  append(b, a.data(), a.size());
  EXPECT_EQ(error_after("accsize", b, 1),
            corrupt("accsize", 96, "record size 96 does not match access width 32 (expected 112)",
                    "the 1 record before it is intact"));
}

TEST(TraceReaderErrors, MaskPastWidth) {
  Bytes b = good_file(1);
  Bytes a = access(2, 4);
  a[offsetof(AccessRecord, flags)] = kAccessMasked;
  set_u64(a, offsetof(AccessRecord, byte_mask), 0x30);
  append(b, a.data(), a.size());
  EXPECT_EQ(error_after("mask", b, 1), corrupt("mask", 96, "byte mask 0x30 selects bytes past access width 4",
                                               "the 1 record before it is intact"));
}

// A damaged ACCESS_RUN after two good LOST records (so at byte 128).
std::string run_error(const std::string& name, Bytes r) {
  Bytes b = good_file(2);
  append(b, r.data(), r.size());
  return error_after(name, b, 2);
}

TEST(TraceReaderErrors, AccessRunCountZero) {
  Bytes r = run(3, 2, 4);
  set_u32(r, offsetof(AccessRunRecord, count), 0);
  EXPECT_EQ(run_error("runcount0", r),
            corrupt("runcount0", 128, "access run count is 0", "the 2 records before it are intact"));
}

TEST(TraceReaderErrors, AccessRunWidthNotOneTwoFourOrEight) {
  for (uint8_t width : {0, 3, 16}) {
    Bytes r = run(3, 4, 2);  // 88 bytes
    r[offsetof(AccessRunRecord, width)] = width;
    set_u32(r, offsetof(AccessRunRecord, stride), width);
    const std::string name = "runwidth" + std::to_string(width);
    EXPECT_EQ(run_error(name, r),
              corrupt(name, 128, "access run width " + std::to_string(width) + " is not 1, 2, 4 or 8",
                      "the 2 records before it are intact"));
  }
}

TEST(TraceReaderErrors, AccessRunStrideIsNotPlusOrMinusWidth) {
  for (int32_t stride : {2, -2, 0, 8}) {
    Bytes r = run(3, 4, 2);
    set_u32(r, offsetof(AccessRunRecord, stride), static_cast<uint32_t>(stride));
    const std::string name = "runstride" + std::to_string(stride + 10);
    EXPECT_EQ(run_error(name, r),
              corrupt(name, 128, "access run stride " + std::to_string(stride) + " is neither 4 nor -4 (its width)",
                      "the 2 records before it are intact"));
  }
}

TEST(TraceReaderErrors, AccessRunSizeDisagreesWithCountAndWidth) {
  Bytes r = run(3, 2, 3);                           // 6 value bytes: 88
  set_u32(r, offsetof(AccessRunRecord, count), 5);  // 10 value bytes would need 96
  EXPECT_EQ(run_error("runsize", r),
            corrupt("runsize", 128, "record size 88 does not match access run count 5 of width 2 (expected 96)",
                    "the 2 records before it are intact"));
  Bytes big = run(3, 8, 2);  // 96 bytes
  set_u32(big, offsetof(AccessRunRecord, count), 1);
  EXPECT_EQ(run_error("runsize1", big),
            corrupt("runsize1", 128, "record size 96 does not match access run count 1 of width 8 (expected 88)",
                    "the 2 records before it are intact"));
}

TEST(TraceReaderErrors, AccessRunOtherFieldsOutOfRange) {
  Bytes masked = run(3, 1, 1);
  masked[offsetof(AccessRunRecord, flags)] = kAccessMasked;
  EXPECT_EQ(run_error("runmask", masked),
            corrupt("runmask", 128, "an access run has the masked flag (a run has no byte mask)",
                    "the 2 records before it are intact"));
  Bytes insn = run(3, 1, 1);
  insn[offsetof(AccessRunRecord, insn_len)] = 16;
  EXPECT_EQ(run_error("runinsn", insn),
            corrupt("runinsn", 128, "instruction length 16 is more than 15", "the 2 records before it are intact"));
  Bytes op = run(3, 1, 1);
  op[offsetof(AccessRunRecord, op)] = 2;
  EXPECT_EQ(run_error("runop", op), corrupt("runop", 128, "access run op 2 is neither 0 (read) nor 1 (write)",
                                            "the 2 records before it are intact"));
  // Three 4-byte reads downwards from 0x4: at 0x4, 0x0, then below 0.
  Bytes wrap = run(3, 4, 3);
  set_u64(wrap, offsetof(AccessRunRecord, phys), 0x4);
  set_u32(wrap, offsetof(AccessRunRecord, stride), static_cast<uint32_t>(-4));
  EXPECT_EQ(run_error("runwrap", wrap),
            corrupt("runwrap", 128, "access run of 3 accesses from 0x4 with stride -4 wraps around the address space",
                    "the 2 records before it are intact"));
  Bytes seq = run(3, 1, 3);
  set_u64(seq, offsetof(RecordHeader, seq), ~uint64_t{0} - 1);
  EXPECT_EQ(run_error("runseqmax", seq),
            corrupt("runseqmax", 128,
                    "access run of 3 accesses from sequence number 18446744073709551614 runs past the largest "
                    "sequence number",
                    "the 2 records before it are intact"));
}

// A run of 4 at seq 3 takes seqs 3..6: a record at 7 follows it, one at 6
// (or 4) overlaps it.
TEST(TraceReaderErrors, RecordAfterAccessRunMustBePastItsLastSeq) {
  for (uint64_t next_seq : {7, 6, 4}) {
    Bytes b = good_file(2);
    Bytes r = run(3, 2, 4);  // 88 bytes at byte 128
    append(b, r.data(), r.size());
    Bytes l = lost(next_seq, 1);  // at byte 216
    append(b, l.data(), l.size());
    const std::string path = write("runseq" + std::to_string(next_seq), b);
    auto reader = TraceReader::open(path);
    ASSERT_TRUE(reader.ok()) << reader.error();
    RecordView v;
    ASSERT_TRUE(next(*reader, v));
    ASSERT_TRUE(next(*reader, v));
    ASSERT_TRUE(next(*reader, v));
    EXPECT_EQ(v.type(), RecordType::ACCESS_RUN);
    EXPECT_EQ(v.header().seq, 3u);
    auto more = reader->next(v);
    if (next_seq == 7) {
      ASSERT_TRUE(more.ok()) << more.error();
      ASSERT_TRUE(*more);
      EXPECT_EQ(v.header().seq, 7u);
      EXPECT_EQ(v.offset(), 216u);
    } else {
      ASSERT_FALSE(more.ok());
      EXPECT_EQ(more.error(), "trace file '" + path + "' is corrupt at byte 216 (sequence number " +
                                  std::to_string(next_seq) +
                                  " does not follow 6, the last of the 4 taken by the access run at sequence number "
                                  "3); the 3 records before it are intact");
    }
    ::unlink(path.c_str());
  }
}

// A reader of 1.0 skipped type 8 by its size and checked only that the next
// seq is larger; this one knows the run and skips an unknown type after it
// the same way, still counting the run's seqs.
TEST(TraceReaderErrors, UnknownRecordAfterAccessRunIsSkippedWithTheSeqRule) {
  Bytes b = good_file(1);
  Bytes r = run(2, 1, 3);  // seqs 2..4
  append(b, r.data(), r.size());
  Bytes future(32, 0);
  RecordHeader h{99, 32, 1, 5, 50};
  std::memcpy(future.data(), &h, sizeof h);
  append(b, future.data(), future.size());
  Bytes l = lost(6, 106);
  append(b, l.data(), l.size());
  const std::string path = write("runskip", b);
  auto reader = TraceReader::open(path);
  ASSERT_TRUE(reader.ok());
  RecordView v;
  ASSERT_TRUE(next(*reader, v));
  ASSERT_TRUE(next(*reader, v));
  EXPECT_EQ(v.as<AccessRunRecord>().count, 3u);
  ASSERT_TRUE(next(*reader, v));
  EXPECT_EQ(v.as<LostRecord>().count, 106u);
  EXPECT_FALSE(next(*reader, v));
  EXPECT_EQ(reader->records_read(), 4u);
  EXPECT_EQ(reader->records_skipped(), 1u);
  ::unlink(path.c_str());
}

TEST(TraceReaderErrors, MapPathPastRecord) {
  Bytes b = good_file(2);
  Bytes m = map(3, "/dev/uio0");  // 80 + 16 bytes
  set_u16(m, offsetof(MapRecord, path_len), 300);
  append(b, m.data(), m.size());
  EXPECT_EQ(error_after("path", b, 2), corrupt("path", 128, "path length 300 runs past the end of the 96-byte record",
                                               "the 2 records before it are intact"));
}

// A CODEMAP's build-id and path must fill the record exactly; a build-id is
// at most 64 bytes.
TEST(TraceReaderErrors, CodeMapPayloadAndBuildIdLength) {
  CodeMapFields f;
  f.pid = 7;
  const uint8_t id[20] = {1, 2, 3};
  f.build_id = id;
  f.build_id_len = sizeof id;
  f.path = "/usr/bin/x";
  f.path_len = 10;
  Bytes c(record_size_for_codemap(20, 10));
  ASSERT_EQ(encode_codemap(c.data(), c.size(), RecordStamp{3, 30, 7}, f), 128u);  // 96 + 32
  {
    Bytes b = good_file(2);
    Bytes bad = c;
    set_u16(bad, offsetof(CodeMapRecord, path_len), 30);
    append(b, bad.data(), bad.size());
    EXPECT_EQ(error_after("codemap_path", b, 2),
              corrupt("codemap_path", 128, "build-id and path length 50 runs past the end of the 128-byte record",
                      "the 2 records before it are intact"));
  }
  {
    Bytes b = good_file(2);
    Bytes bad = c;
    bad[offsetof(CodeMapRecord, build_id_len)] = 65;
    append(b, bad.data(), bad.size());
    EXPECT_EQ(error_after("codemap_id", b, 2),
              corrupt("codemap_id", 128, "build-id length 65 is more than 64", "the 2 records before it are intact"));
  }
  {
    Bytes b = good_file(2);
    Bytes bad = c;
    set_u16(bad, offsetof(CodeMapRecord, path_len), 2);
    append(b, bad.data(), bad.size());
    EXPECT_EQ(error_after("codemap_short", b, 2),
              corrupt("codemap_short", 128, "record size 128 does not match build-id and path length 22 (expected 120)",
                      "the 2 records before it are intact"));
  }
}

TEST(TraceReaderErrors, PadRecordInFile) {
  Bytes b = good_file(1);
  Bytes pad(32, 0);
  RecordHeader h{0, 32, 0, 2, 0};
  std::memcpy(pad.data(), &h, sizeof h);
  append(b, pad.data(), pad.size());
  EXPECT_EQ(error_after("pad", b, 1),
            corrupt("pad", 96, "record type 0 (PAD) never appears in a file", "the 1 record before it is intact"));
}

TEST(TraceReaderErrors, FixedRecordWithWrongSize) {
  Bytes b = good_file(1);
  Bytes l = lost(2, 1);
  set_u16(l, 2, 40);
  l.resize(40, 0);
  append(b, l.data(), l.size());
  EXPECT_EQ(error_after("fixed", b, 1),
            corrupt("fixed", 96, "LOST record size 40 is not 32", "the 1 record before it is intact"));
}

TEST(TraceReaderErrors, TruncatedInsideRecordBody) {
  Bytes b = good_file(3);
  Bytes a = access(4, 64);  // 144 bytes, cut after 100
  append(b, a.data(), 100);
  EXPECT_EQ(error_after("tailbody", b, 3),
            "trace file '" + temp_path("tailbody") +
                "' is truncated at byte 160 (the file ends 100 bytes into a record of 144 bytes); the 3 records before "
                "it are intact");
}

TEST(TraceReaderErrors, TruncatedInsideRecordHeader) {
  Bytes b = good_file(41);
  b.resize(b.size() + 10, 0);
  EXPECT_EQ(error_after("tailhdr", b, 41),
            "trace file '" + temp_path("tailhdr") + "' is truncated at byte " + std::to_string(64 + 41 * 32) +
                " (the file ends 10 bytes into a record header); the 41 records before it are intact");
}

// Damage far into a large file: offsets are file offsets, not buffer offsets.
TEST(TraceReaderErrors, CorruptionPastTheFirstMegabyte) {
  const int kGood = 40000;  // 1.28 MB of records
  Bytes b = good_file(kGood);
  Bytes bad = lost(kGood + 1, 1);
  set_u16(bad, 2, 5);
  append(b, bad.data(), bad.size());
  const std::string path = write("far", b);
  auto reader = TraceReader::open(path);
  ASSERT_TRUE(reader.ok());
  RecordView v;
  uint64_t n = 0;
  Result<bool> more = false;
  while ((more = reader->next(v)).ok() && *more) {
    ++n;
    ASSERT_EQ(v.as<LostRecord>().count, 100 + n);
  }
  EXPECT_EQ(n, static_cast<uint64_t>(kGood));
  ASSERT_FALSE(more.ok());
  EXPECT_EQ(more.error(), "trace file '" + path + "' is corrupt at byte " + std::to_string(64 + 32 * kGood) +
                              " (record size 5 is not a multiple of 8); the 40000 records before it are intact");
  ::unlink(path.c_str());
}

}  // namespace
}  // namespace mmiotrace::trace
