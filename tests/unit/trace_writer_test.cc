// TraceWriter's failure reports: a full disk (ENOSPC), a file it cannot
// create, a write stopped part-way by a file-size limit (EFBIG), and a moved
// writer.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <string>

#include "trace/encode.h"
#include "trace/reader.h"
#include "trace/writer.h"
#include "trace_test_support.h"

namespace mmiotrace::trace {
namespace {

using testing::next;
using testing::stamp;
using testing::temp_path;

// /dev/full accepts open(O_CREAT|O_TRUNC) and fails every write with ENOSPC.
TEST(TraceWriter, NoSpaceIsReportedWithTheFileAndTheRecordsThatMadeIt) {
  auto w = TraceWriter::create("/dev/full", make_file_header(1, 2, 3));
  ASSERT_TRUE(w.ok()) << w.error();
  uint8_t buf[64];
  ASSERT_EQ(encode_lost(buf, sizeof buf, stamp(1), LostFields{1}), 32u);
  ASSERT_TRUE(w->append(buf, 32).ok());  // buffered: nothing written yet
  auto r = w->flush();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(),
            "writing trace file '/dev/full' failed: No space left on device (0 records written before the failure "
            "are in the file)");
  // The failure sticks: later calls report it again instead of writing more.
  EXPECT_EQ(w->append(buf, 32).error(), r.error());
  EXPECT_EQ(w->close().error(), r.error());
}

TEST(TraceWriter, CreateFailureNamesTheFile) {
  auto w = TraceWriter::create("/nonexistent-dir/t.mmio", make_file_header(1, 2, 3));
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.error(), "cannot create trace file '/nonexistent-dir/t.mmio': No such file or directory");
}

// A file-size limit makes write(2) stop part-way (like a disk filling up): what
// fit must be in the file, and the message must count the complete records.
TEST(TraceWriter, PartialWriteKeepsWhatFit) {
  const std::string path = temp_path("efbig");
  // Restores the limit and the signal however the test ends.
  struct FileSizeLimit {
    explicit FileSizeLimit(rlim_t bytes) {
      ::getrlimit(RLIMIT_FSIZE, &old_limit);
      old_handler = std::signal(SIGXFSZ, SIG_IGN);
      struct rlimit limit = old_limit;
      limit.rlim_cur = bytes;
      ok = ::setrlimit(RLIMIT_FSIZE, &limit) == 0;
    }
    ~FileSizeLimit() {
      ::setrlimit(RLIMIT_FSIZE, &old_limit);
      std::signal(SIGXFSZ, old_handler);
    }
    struct rlimit old_limit {};
    void (*old_handler)(int) = nullptr;
    bool ok = false;
  };
  std::string error;
  {
    FileSizeLimit limit(64 + 3 * 32 + 28);  // header, three LOST records, 28 of the 32 bytes of a fourth
    ASSERT_TRUE(limit.ok);
    auto w = TraceWriter::create(path, make_file_header(1, 2, 3));
    ASSERT_TRUE(w.ok());
    uint8_t buf[32];
    for (uint64_t i = 1; i <= 5; ++i) {
      ASSERT_EQ(encode_lost(buf, sizeof buf, stamp(i), LostFields{i}), 32u);
      ASSERT_TRUE(w->append(buf, 32).ok());
    }
    auto r = w->close();
    ASSERT_FALSE(r.ok());
    error = r.error();
    EXPECT_EQ(w->records_written(), 3u);
  }
  EXPECT_EQ(error, "writing trace file '" + path +
                       "' failed: File too large (3 records written before the failure are in the file)");
  auto reader = TraceReader::open(path);
  ASSERT_TRUE(reader.ok()) << reader.error();
  RecordView v;
  for (uint64_t i = 1; i <= 3; ++i) {
    ASSERT_TRUE(next(*reader, v));
    EXPECT_EQ(v.as<LostRecord>().count, i);
  }
  auto tail = reader->next(v);
  ASSERT_FALSE(tail.ok());
  EXPECT_EQ(tail.error(), "trace file '" + path +
                              "' is truncated at byte 160 (the file ends 28 bytes into a record of 32 bytes); the 3 "
                              "records before it are intact");
  ::unlink(path.c_str());
}

TEST(TraceWriter, MovedWriterKeepsWritingTheSameFile) {
  const std::string path = temp_path("move");
  auto created = TraceWriter::create(path, make_file_header(1, 2, 3));
  ASSERT_TRUE(created.ok());
  TraceWriter w = std::move(created.value());
  uint8_t buf[32];
  ASSERT_EQ(encode_lost(buf, sizeof buf, stamp(1), LostFields{9}), 32u);
  ASSERT_TRUE(w.append(buf, 32).ok());
  TraceWriter w2 = std::move(w);
  ASSERT_TRUE(w2.close().ok());
  EXPECT_EQ(w2.records_written(), 1u);
  auto reader = TraceReader::open(path);
  ASSERT_TRUE(reader.ok());
  RecordView v;
  ASSERT_TRUE(next(*reader, v));
  EXPECT_EQ(v.as<LostRecord>().count, 9u);
  ::unlink(path.c_str());
}

}  // namespace
}  // namespace mmiotrace::trace
