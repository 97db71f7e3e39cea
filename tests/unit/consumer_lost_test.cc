// Consumer (src/cli/consumer.h): seqs that never arrive (their thread was
// killed between taking the seq and publishing) become one LOST record each
// gap, at the first missing seq, also at the start and after an ACCESS_RUN.
#include <gtest/gtest.h>

#include "consumer_test_support.h"

namespace mmiotrace::cli::consumer_test {
namespace {

TEST_F(ConsumerTest, MissingSeqsBecomeOneLostRecord) {
  Producer a(ch(), 0, 101), b(ch(), 1, 102);
  Bytes r0 = access(0, 101, AccessOp::READ), r1 = access(1, 102, AccessOp::WRITE);
  Bytes r5 = access(5, 101, AccessOp::READ), r6 = access(6, 102, AccessOp::READ);
  Bytes r7 = access(7, 101, AccessOp::WRITE);
  a.push(r0);
  b.push(r1);
  // Seqs 2, 3 and 4 were taken by threads that died before publishing.
  a.push(r5);
  b.push(r6);
  a.push(r7);
  EXPECT_TRUE(consumer().drain());
  EXPECT_EQ(counts().lost, 3u);
  EXPECT_EQ(counts().reads, 3u);
  EXPECT_EQ(counts().writes, 2u);
  EXPECT_EQ(consumer().channel_error(), "");

  std::vector<Rec> got = read_back();
  ASSERT_EQ(got.size(), 6u);
  EXPECT_EQ(seqs(got), (std::vector<uint64_t>{0, 1, 2, 5, 6, 7}));
  EXPECT_EQ(got[0].bytes, r0);
  EXPECT_EQ(got[1].bytes, r1);
  // The LOST record takes the first missing seq and the time of the record after the gap.
  expect_lost(got[2], 2, 3, time_of(5));
  EXPECT_EQ(got[3].bytes, r5);
  EXPECT_EQ(got[4].bytes, r6);
  EXPECT_EQ(got[5].bytes, r7);
}

TEST_F(ConsumerTest, MissingFirstSeqsBecomeLostRecord) {
  Producer a(ch(), 0, 101);
  Bytes r2 = access(2, 101, AccessOp::READ), r3 = map(3, 101);
  a.push(r2);
  a.push(r3);
  EXPECT_TRUE(consumer().drain());
  EXPECT_EQ(counts().lost, 2u);
  std::vector<Rec> got = read_back();
  ASSERT_EQ(got.size(), 3u);
  expect_lost(got[0], 0, 2, time_of(2));
  EXPECT_EQ(got[1].bytes, r2);
  EXPECT_EQ(got[2].bytes, r3);
}

// A seq missing after a run (the run took 0..3, the next record has 6) is
// counted from the run's end: LOST for 4 and 5, not for 1..5.
TEST_F(ConsumerTest, GapAfterRunBecomesLostFromTheRunsEnd) {
  Producer a(ch(), 0, 101), b(ch(), 1, 102);
  Bytes run0 = access_run(0, 101, AccessOp::WRITE, 4, 2);  // seqs 0..3
  Bytes r6 = access(6, 102, AccessOp::READ);
  Bytes run7 = access_run(7, 101, AccessOp::READ, 10);  // seqs 7..16
  Bytes r20 = access(20, 102, AccessOp::READ);          // 17, 18, 19 never arrive
  a.push(run0);
  b.push(r6);
  a.push(run7);
  b.push(r20);
  EXPECT_TRUE(consumer().drain());
  EXPECT_EQ(counts().lost, 5u);
  EXPECT_EQ(consumer().channel_error(), "");
  std::vector<Rec> got = read_back();
  ASSERT_EQ(got.size(), 6u);
  EXPECT_EQ(seqs(got), (std::vector<uint64_t>{0, 4, 6, 7, 17, 20}));
  EXPECT_EQ(got[0].bytes, run0);
  expect_lost(got[1], 4, 2, time_of(6));
  EXPECT_EQ(got[2].bytes, r6);
  EXPECT_EQ(got[3].bytes, run7);
  expect_lost(got[4], 17, 3, time_of(20));
  EXPECT_EQ(got[5].bytes, r20);
}

}  // namespace
}  // namespace mmiotrace::cli::consumer_test
