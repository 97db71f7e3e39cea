// The recorder's summary counts (TraceFileSink, analysis::TraceCounter): what
// the Consumer hands on, counted as `mmiotrace stats` counts a trace.
#include <gtest/gtest.h>

#include <set>

#include "consumer_test_support.h"

namespace mmiotrace::cli::consumer_test {
namespace {

TEST_F(ConsumerTest, StatsCountReadsWritesMapsThreads) {
  Producer a(ch(), 0, 101), b(ch(), 1, 102), c(ch(), 2, 103);
  a.push(map(0, 101, 7001));
  a.push(access(1, 101, AccessOp::READ, 4, 7001));
  b.push(access(2, 102, AccessOp::WRITE, 4, 7001));
  a.push(access(3, 101, AccessOp::READ, 4, 7001));
  c.push(map(4, 103, 7002));  // thread 103 maps but never accesses
  b.push(access(5, 102, AccessOp::READ, 4, 7001));
  b.push(unknown(6, 102));
  c.push(mark(7, 103, "x"));
  b.push(pcidev(8, 102, 0x300));
  c.push(unmap(9, 103));
  a.push(access(10, 101, AccessOp::WRITE, 2, 7001));
  b.push(map(11, 102, 7001));
  EXPECT_TRUE(consumer().drain());
  const analysis::TraceCounts& s = counts();
  EXPECT_EQ(s.reads, 3u);
  EXPECT_EQ(s.writes, 2u);
  EXPECT_EQ(s.maps, 3u);
  EXPECT_EQ(s.unknown, 1u);
  EXPECT_EQ(s.lost, 0u);
  EXPECT_EQ(s.threads, (std::set<uint32_t>{101, 102}));  // threads that accessed a device
  EXPECT_EQ(s.processes, (std::set<uint32_t>{7001, 7002}));
  std::vector<Rec> got = read_back();
  EXPECT_EQ(got.size(), 12u);
}

TEST_F(ConsumerTest, StatsCountEachAccessOfARun) {
  Producer a(ch(), 0, 101), b(ch(), 1, 102);
  a.push(map(0, 101, 7001));
  a.push(access_run(1, 101, AccessOp::WRITE, 4096, 1, 7001));   // seqs 1..4096
  b.push(access_run(4097, 102, AccessOp::READ, 512, 8, 7002));  // seqs 4097..4608
  a.push(access(4609, 101, AccessOp::READ, 4, 7001));
  a.push(access_run(4610, 101, AccessOp::READ, 1, 4, 7001));  // a run of one
  EXPECT_TRUE(consumer().drain());
  const analysis::TraceCounts& s = counts();
  EXPECT_EQ(s.writes, 4096u);
  EXPECT_EQ(s.reads, 512u + 1 + 1);
  EXPECT_EQ(s.maps, 1u);
  EXPECT_EQ(s.lost, 0u);
  EXPECT_EQ(s.threads, (std::set<uint32_t>{101, 102}));
  EXPECT_EQ(s.processes, (std::set<uint32_t>{7001, 7002}));
  EXPECT_EQ(read_back().size(), 5u);
}

}  // namespace
}  // namespace mmiotrace::cli::consumer_test
