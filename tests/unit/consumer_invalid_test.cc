// Consumer (src/cli/consumer.h): a ring whose next record is not valid (the
// program overwrote the shared memory) is abandoned at that record, with a
// channel_error() saying which thread's; the other rings carry on and the
// seqs the bad ring held become LOST. A record is checked by the trace
// reader's own rules (trace::RecordView::checked).
#include <gtest/gtest.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <csignal>
#include <ostream>

#include "consumer_test_support.h"

namespace mmiotrace::cli::consumer_test {
namespace {

TEST_F(ConsumerTest, InvalidRecordAbandonsOnlyItsRing) {
  Producer a(ch(), 0, 101), b(ch(), 1, 102);
  Bytes r0 = access(0, 101, AccessOp::READ), r1 = access(1, 102, AccessOp::WRITE);
  Bytes r3 = access(3, 102, AccessOp::READ), r4 = access(4, 101, AccessOp::READ);
  Bytes r5 = map(5, 102);
  a.push(r0);
  b.push(r1);
  // Ring 0's next record is not valid: a size of 12 is not a multiple of 8.
  RecordHeader bad{static_cast<uint16_t>(RecordType::ACCESS), 12, 101, 2, time_of(2)};
  a.push_raw(&bad, sizeof bad);
  a.push(r4);  // behind the bad record: never read
  b.push(r3);
  b.push(r5);
  const uint64_t bad_at = a.tail() + r0.size();
  a.retire();

  EXPECT_TRUE(consumer().drain());
  EXPECT_NE(consumer().channel_error().find("thread 101's buffer holds an invalid record (type 1, size 12)"),
            std::string::npos)
      << consumer().channel_error();
  EXPECT_EQ(a.tail(), bad_at);               // consumed up to the bad record, no further
  EXPECT_EQ(a.state(), RingState::RETIRED);  // not drained, so not freed
  EXPECT_EQ(counts().lost, 2u);              // seqs 2 and 4, in the abandoned ring

  // The other ring carries on; the abandoned one is not looked at again.
  Bytes r6 = access(6, 102, AccessOp::READ);
  b.push(r6);
  EXPECT_TRUE(consumer().drain());
  EXPECT_EQ(a.tail(), bad_at);

  std::vector<Rec> got = read_back();
  EXPECT_EQ(seqs(got), (std::vector<uint64_t>{0, 1, 2, 3, 4, 5, 6}));
  ASSERT_EQ(got.size(), 7u);
  EXPECT_EQ(got[0].bytes, r0);
  EXPECT_EQ(got[1].bytes, r1);
  expect_lost(got[2], 2, 1, time_of(3));
  EXPECT_EQ(got[3].bytes, r3);
  expect_lost(got[4], 4, 1, time_of(5));
  EXPECT_EQ(got[5].bytes, r5);
  EXPECT_EQ(got[6].bytes, r6);
}

// Whatever the trace reader would refuse never reaches the file: the recorder
// checks ring records with the reader's own rules, not a partial copy of them
// (a MARK whose text runs past its record, an access with op 2, a record type
// this version does not define were all written through before).
struct Unreadable {
  const char* name;
  Bytes (*make)();
  const char* why;  // the reader's reason, in channel_error()
};

void PrintTo(const Unreadable& u, std::ostream* os) { *os << u.name; }

class ConsumerUnreadableTest : public ConsumerTest, public ::testing::WithParamInterface<Unreadable> {};

TEST_P(ConsumerUnreadableTest, AbandonsRing) {
  const Unreadable& u = GetParam();
  Producer a(ch(), 0, 101), b(ch(), 1, 102);
  Bytes r0 = access(0, 101, AccessOp::READ), bad = u.make(), r2 = access(2, 102, AccessOp::WRITE);
  a.push(r0);
  const uint64_t bad_at = a.head();
  a.push(bad);
  b.push(r2);
  EXPECT_TRUE(consumer().drain());
  EXPECT_NE(consumer().channel_error().find(u.why), std::string::npos) << consumer().channel_error();
  EXPECT_EQ(a.tail(), bad_at);
  std::vector<Rec> got = read_back();  // reads back without error
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].bytes, r0);
  expect_lost(got[1], 1, 1, time_of(2));
  EXPECT_EQ(got[2].bytes, r2);
}

INSTANTIATE_TEST_SUITE_P(Consumer, ConsumerUnreadableTest,
                         ::testing::Values(Unreadable{"mark_text_past_record",
                                                      [] {
                                                        Bytes m = mark(1, 101, "twelve bytes");  // 32 + 16
                                                        const uint16_t len = 40;
                                                        std::memcpy(m.data() + offsetof(trace::MarkRecord, text_len),
                                                                    &len, sizeof len);
                                                        return m;
                                                      },
                                                      "mark text length 40 runs past the end of the 48-byte record"},
                                           Unreadable{"access_op_2",
                                                      [] {
                                                        Bytes r = access(1, 101, AccessOp::READ);
                                                        r[offsetof(trace::AccessRecord, op)] = 2;
                                                        return r;
                                                      },
                                                      "access op 2 is neither 0 (read) nor 1 (write)"},
                                           Unreadable{"unknown_type",
                                                      [] {
                                                        Bytes r = unmap(1, 101);
                                                        const uint16_t type = 999;
                                                        std::memcpy(r.data(), &type, sizeof type);
                                                        return r;
                                                      },
                                                      "record type 999 is unknown"}),
                         [](const ::testing::TestParamInfo<Unreadable>& info) { return std::string(info.param.name); });

// Each way a record header can be invalid abandons the ring at that record.
struct BadRecord {
  const char* name;
  uint64_t start;      // the ring's head and tail counters to begin with
  uint16_t size;       // the bad record's size field
  uint64_t published;  // bytes the head moves over it
};

void PrintTo(const BadRecord& bad, std::ostream* os) { *os << bad.name; }

class ConsumerBadRecordTest : public ConsumerTest, public ::testing::WithParamInterface<BadRecord> {};

TEST_P(ConsumerBadRecordTest, AbandonsRing) {
  const BadRecord& bad = GetParam();
  Producer a(ch(), 0, 101, bad.start), b(ch(), 1, 102);
  Bytes r0 = access(0, 101, AccessOp::READ), r2 = access(2, 102, AccessOp::READ);
  a.push(r0);
  const uint64_t bad_at = a.head();
  RecordHeader h{static_cast<uint16_t>(RecordType::ACCESS), bad.size, 101, 1, time_of(1)};
  a.push_raw(&h, sizeof h, bad.published);
  b.push(r2);
  EXPECT_TRUE(consumer().drain());
  EXPECT_NE(consumer().channel_error().find("thread 101's buffer holds an invalid record (type 1, size " +
                                            std::to_string(bad.size) + ")"),
            std::string::npos)
      << consumer().channel_error();
  EXPECT_EQ(a.tail(), bad_at);
  EXPECT_EQ(b.tail(), b.head());
  std::vector<Rec> got = read_back();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].bytes, r0);
  expect_lost(got[1], 1, 1, time_of(2));
  EXPECT_EQ(got[2].bytes, r2);
}

INSTANTIATE_TEST_SUITE_P(Consumer, ConsumerBadRecordTest,
                         ::testing::Values(BadRecord{"size_0", 0, 0, 24},           // shorter than a header
                                           BadRecord{"size_12", 0, 12, 24},         // shorter than a header
                                           BadRecord{"size_28", 0, 28, 32},         // not a multiple of 8
                                           BadRecord{"access_size_24", 0, 24, 24},  // an ACCESS shorter than its struct
                                           BadRecord{"beyond_head", 0, 88, 24},     // longer than what is published
                                           BadRecord{"past_ring_end", kRingBytes - 128, 88,
                                                     88}),  // crosses the ring's end, no PAD
                         [](const ::testing::TestParamInfo<BadRecord>& info) { return std::string(info.param.name); });

// A PAD is trusted only if it lies below the head. When the program zeroes
// the record at a ring's tail (type 0 reads as PAD) and the ring's start is
// zero too, an unchecked PAD would move the tail past the head for ever:
// drain() must abandon the ring with a channel_error() instead. drain() runs
// in a child process, so that a hang is a failure and not a hung test.
TEST_F(ConsumerTest, ZeroedRecordAbandonsRingInsteadOfHanging) {
  Producer a(ch(), 0, 101), b(ch(), 1, 102);
  const uint8_t zeros[88] = {};
  a.push_raw(zeros, sizeof zeros);  // the program wrote zeros over thread 101's pending record
  b.push(access(0, 102, AccessOp::READ));
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    consumer().drain();
    ::_exit(consumer().channel_error().find("thread 101's buffer holds an invalid record") != std::string::npos ? 0
                                                                                                                : 3);
  }
  // drain() returns in microseconds; the bound only turns the hang this test
  // is about into a failure, so it is generous: 60 s of polls, however slow
  // a loaded machine makes each.
  int status = 0;
  pid_t done = 0;
  for (int polls = 0; polls < 6000 && done == 0; ++polls) {
    done = ::waitpid(child, &status, WNOHANG);
    if (done == 0) ::usleep(10'000);
  }
  if (done == 0) {
    ::kill(child, SIGKILL);
    ::waitpid(child, &status, 0);
    FAIL() << "drain() did not return within 60 s; ring 0's tail went from 0 to past its head (88)";
  }
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0) << "drain() returned without a channel_error() about thread 101";
}

// A run whose width, count or size the program has overwritten would throw the
// seq order off: the ring is abandoned at it like at any invalid record.
struct BadRun {
  const char* name;
  size_t offset;  // of the field overwritten in an 88-byte run of 3 one-byte writes at seq 1
  uint32_t value;
  size_t bytes;   // of the field: 1, 2 or 4
  uint16_t size;  // the record's size field after that
};

void PrintTo(const BadRun& bad, std::ostream* os) { *os << bad.name; }

class ConsumerBadRunTest : public ConsumerTest, public ::testing::WithParamInterface<BadRun> {};

TEST_P(ConsumerBadRunTest, AbandonsRing) {
  const BadRun& bad = GetParam();
  Producer a(ch(), 0, 101), b(ch(), 1, 102);
  Bytes r0 = access(0, 101, AccessOp::READ);
  Bytes run = access_run(1, 101, AccessOp::WRITE, 3);
  ASSERT_EQ(run.size(), 88u);
  std::memcpy(run.data() + bad.offset, &bad.value, bad.bytes);
  Bytes r4 = access(4, 102, AccessOp::READ);
  a.push(r0);
  const uint64_t bad_at = a.head();
  a.push(run);
  b.push(r4);
  EXPECT_TRUE(consumer().drain());
  EXPECT_NE(consumer().channel_error().find("thread 101's buffer holds an invalid record (type 8, size " +
                                            std::to_string(bad.size) + ")"),
            std::string::npos)
      << consumer().channel_error();
  EXPECT_EQ(a.tail(), bad_at);
  EXPECT_EQ(counts().lost, 3u);  // seqs 1..3, which the run would have taken
  EXPECT_EQ(counts().writes, 0u);
  std::vector<Rec> got = read_back();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].bytes, r0);
  expect_lost(got[1], 1, 3, time_of(4));
  EXPECT_EQ(got[2].bytes, r4);
}

INSTANTIATE_TEST_SUITE_P(
    Consumer, ConsumerBadRunTest,
    ::testing::Values(BadRun{"count_0", offsetof(trace::AccessRunRecord, count), 0, 4, 88},
                      BadRun{"count_9", offsetof(trace::AccessRunRecord, count), 9, 4, 88},  // 88 bytes hold 8 at most
                      BadRun{"width_3", offsetof(trace::AccessRunRecord, width), 3, 1, 88},
                      BadRun{"size_72", offsetof(trace::RecordHeader, size), 72, 2, 72}),  // shorter than its struct
    [](const ::testing::TestParamInfo<BadRun>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace mmiotrace::cli::consumer_test
