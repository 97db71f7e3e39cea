// Consumer (src/cli/consumer.h): records from several rings go into the trace
// file in seq order, byte for byte: across rings, round the end of a ring (the
// PAD), after ACCESS_RUN records (which take `count` seqs), with retired rings
// freed, each PCI device listed once, and with producer threads publishing
// while the consumer drains.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "consumer_test_support.h"

namespace mmiotrace::cli::consumer_test {
namespace {

TEST_F(ConsumerTest, MergesThreeRingsInSeqOrder) {
  Producer a(ch(), 0, 101), b(ch(), 1, 102), c(ch(), 2, 103);
  std::vector<Bytes> recs = {
      map(0, 101),                          // a
      access(1, 102, AccessOp::READ),       // b
      access(2, 103, AccessOp::WRITE, 8),   // c
      access(3, 101, AccessOp::READ, 64),   // a
      access(4, 101, AccessOp::WRITE, 1),   // a
      mark(5, 102, "hello, consumer"),      // b
      unmap(6, 103),                        // c
      access(7, 102, AccessOp::READ, 2),    // b
      access(8, 101, AccessOp::WRITE, 16),  // a
  };
  // Each ring gets its records in seq order, as under the order lock; the
  // rings are filled one after the other, not in seq order.
  for (int i : {2, 6}) c.push(recs[i]);
  for (int i : {0, 3, 4, 8}) a.push(recs[i]);
  for (int i : {1, 5, 7}) b.push(recs[i]);

  EXPECT_TRUE(consumer().drain());
  EXPECT_FALSE(consumer().drain());  // nothing new
  EXPECT_EQ(a.tail(), a.head());
  EXPECT_EQ(b.tail(), b.head());
  EXPECT_EQ(c.tail(), c.head());

  // More arrives later: the consumer carries on from seq 9.
  recs.push_back(access(9, 103, AccessOp::READ));
  recs.push_back(access(10, 101, AccessOp::READ));
  a.push(recs[10]);
  c.push(recs[9]);
  EXPECT_TRUE(consumer().drain());

  EXPECT_EQ(consumer().channel_error(), "");
  EXPECT_EQ(write_error(), "");
  EXPECT_EQ(counts().lost, 0u);
  std::vector<Rec> got = read_back();
  EXPECT_EQ(seqs(got), (std::vector<uint64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
  expect_records(got, recs);
  // Owned rings stay owned, drained or not.
  EXPECT_EQ(a.state(), RingState::OWNED);
  EXPECT_EQ(b.state(), RingState::OWNED);
}

TEST_F(ConsumerTest, PciDevListedOncePerBusDevFn) {
  Producer a(ch(), 0, 101), b(ch(), 1, 202);
  Bytes p0 = pcidev(0, 101, 0x000300), r1 = access(1, 101, AccessOp::READ);
  Bytes p2 = pcidev(2, 202, 0x000300);  // the same device, reported by a second process
  Bytes p3 = pcidev(3, 202, 0x010400);  // another device
  Bytes r4 = access(4, 202, AccessOp::WRITE), p5 = pcidev(5, 101, 0x010400);
  a.push(p0);
  a.push(r1);
  b.push(p2);
  b.push(p3);
  b.push(r4);
  a.push(p5);
  EXPECT_TRUE(consumer().drain());
  // A dropped duplicate is not a lost event.
  EXPECT_EQ(counts().lost, 0u);
  std::vector<Rec> got = read_back();
  EXPECT_EQ(seqs(got), (std::vector<uint64_t>{0, 1, 3, 4}));
  expect_records(got, {p0, r1, p3, r4});
  EXPECT_EQ(a.tail(), a.head());  // the duplicates were consumed, not left behind
  EXPECT_EQ(b.tail(), b.head());
}

TEST_F(ConsumerTest, PadAtRingEndIsSkipped) {
  // Ring 0 starts 40 bytes before its end: the first 88-byte record cannot fit
  // there and goes to the start behind a PAD.
  Producer a(ch(), 0, 101, kRingBytes - 40);
  // Ring 1 starts 88 bytes before its end: its first record fills the ring
  // exactly, so no PAD, and the second goes to the start.
  Producer b(ch(), 1, 102, 3 * kRingBytes - 88);
  std::vector<Bytes> recs;
  for (uint64_t s = 0; s < 6; ++s) recs.push_back(access(s, s % 2 ? 102 : 101, AccessOp::READ, 8));
  ASSERT_EQ(recs[0].size(), 88u);
  EXPECT_TRUE(a.push(recs[0]));  // PAD
  EXPECT_FALSE(b.push(recs[1]));
  EXPECT_FALSE(a.push(recs[2]));
  EXPECT_FALSE(b.push(recs[3]));
  EXPECT_FALSE(a.push(recs[4]));
  EXPECT_FALSE(b.push(recs[5]));
  EXPECT_EQ(a.head(), kRingBytes + 3 * 88);
  EXPECT_EQ(b.head(), 3 * kRingBytes + 2 * 88);

  EXPECT_TRUE(consumer().drain());
  EXPECT_EQ(a.tail(), a.head());
  EXPECT_EQ(b.tail(), b.head());
  EXPECT_EQ(consumer().channel_error(), "");
  EXPECT_EQ(counts().lost, 0u);
  std::vector<Rec> got = read_back();
  EXPECT_EQ(seqs(got), (std::vector<uint64_t>{0, 1, 2, 3, 4, 5}));
  expect_records(got, recs);
}

TEST_F(ConsumerTest, RingWrapsManyTimes) {
  // Records of every size go round one ring several times (a PAD wherever the
  // next one does not fit), interleaved with a second ring; the consumer
  // drains whenever ring 0 is about half full.
  Producer a(ch(), 0, 101, kRingBytes - 40), b(ch(), 1, 102);
  std::vector<Bytes> want;
  uint64_t pads = 0, seq = 0;
  while (a.head() < 5 * kRingBytes) {
    Bytes r = access(seq, 101, seq % 3 ? AccessOp::READ : AccessOp::WRITE, static_cast<uint8_t>(1 + seq % 64));
    pads += a.push(r);
    want.push_back(std::move(r));
    ++seq;
    if (seq % 5 == 0) {
      want.push_back(mark(seq, 102, std::string(seq % 40, 'm')));
      b.push(want.back());
      ++seq;
    }
    if (a.head() - a.tail() > kRingBytes / 2) {
      EXPECT_TRUE(consumer().drain());
      ASSERT_EQ(a.tail(), a.head());
    }
  }
  EXPECT_TRUE(consumer().drain());
  EXPECT_GE(pads, 4u);  // it really wrapped, and not at a record boundary every time
  EXPECT_EQ(consumer().channel_error(), "");
  EXPECT_EQ(counts().lost, 0u);
  std::vector<Rec> got = read_back();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].seq, i);
    ASSERT_EQ(got[i].bytes, want[i]) << "seq " << i;
  }
}

TEST_F(ConsumerTest, RetiredRingFreedOnceDrained) {
  Producer a(ch(), 0, 101), b(ch(), 1, 102), c(ch(), 2, 103);
  Bytes r0 = access(0, 101, AccessOp::READ), r1 = access(1, 102, AccessOp::READ);
  Bytes r2 = access(2, 101, AccessOp::WRITE);
  a.push(r0);
  b.push(r1);
  a.push(r2);
  a.retire();  // thread 101 exited after publishing everything
  c.retire();  // thread 103 exited without writing anything
  EXPECT_TRUE(consumer().drain());
  EXPECT_EQ(a.state(), RingState::FREE);
  EXPECT_EQ(b.state(), RingState::OWNED);  // drained, but its thread lives
  EXPECT_EQ(c.state(), RingState::FREE);
  EXPECT_EQ(a.tail(), a.head());

  // A thread that exits with a record still in its ring: the same drain()
  // takes the record (after a LOST for seqs 3 and 4, which never arrive) and
  // then frees the ring.
  Producer d(ch(), 3, 104);
  Bytes r5 = access(5, 104, AccessOp::READ);
  d.push(r5);
  d.retire();
  EXPECT_TRUE(consumer().drain());
  EXPECT_EQ(d.tail(), d.head());
  EXPECT_EQ(d.state(), RingState::FREE);
  EXPECT_EQ(b.state(), RingState::OWNED);

  std::vector<Rec> got = read_back();
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(got[0].bytes, r0);
  EXPECT_EQ(got[1].bytes, r1);
  EXPECT_EQ(got[2].bytes, r2);
  expect_lost(got[3], 3, 2, time_of(5));
  EXPECT_EQ(got[4].bytes, r5);
}

// Three producer threads take seqs under an order lock and publish into their
// own rings while the consumer drains concurrently, as in a real recording.
// A scan that reads one ring before its record with the expected seq lands
// and another ring after a later one has must look again rather than call the
// expected record lost. Every record arrives, in order, byte for byte.
TEST_F(ConsumerTest, ConcurrentProducersLoseNothing) {
  constexpr int kThreads = 3;
  constexpr uint64_t kPerThread = 20000;
  std::mutex order_lock;  // the agent's order lock
  uint64_t next_seq = 0;  // guarded by order_lock
  std::atomic<int> running{kThreads};
  std::vector<std::thread> producers;
  for (int t = 0; t < kThreads; ++t) {
    producers.emplace_back([&, t] {
      Producer p(ch(), static_cast<uint32_t>(t), 101 + t);
      for (uint64_t i = 0; i < kPerThread; ++i) {
        std::lock_guard<std::mutex> lock(order_lock);
        const uint64_t seq = next_seq++;
        p.push(access(seq, 101 + t, seq % 2 ? AccessOp::READ : AccessOp::WRITE, static_cast<uint8_t>(1 + seq % 64)),
               /*wait=*/true);
      }
      p.retire();
      running.fetch_sub(1);
    });
  }
  // Drain until the producers are done and their rings are freed.
  for (;;) {
    const bool done = running.load() == 0;
    consumer().drain();
    if (done) break;
  }
  for (auto& t : producers) t.join();
  consumer().drain();

  const uint64_t total = kThreads * kPerThread;
  EXPECT_EQ(counts().lost, 0u);
  EXPECT_EQ(counts().reads + counts().writes, total);
  EXPECT_EQ(counts().threads, (std::set<uint32_t>{101, 102, 103}));
  EXPECT_EQ(consumer().channel_error(), "");
  for (uint32_t r = 0; r < kThreads; ++r) {
    EXPECT_EQ(static_cast<RingState>(trace::ring_controls(ch())[r].state.load()), RingState::FREE) << "ring " << r;
  }
  std::vector<Rec> got = read_back();
  ASSERT_EQ(got.size(), total);
  for (uint64_t i = 0; i < total; ++i) {
    ASSERT_EQ(got[i].seq, i);
    RecordHeader h;
    std::memcpy(&h, got[i].bytes.data(), sizeof h);
    ASSERT_EQ(got[i].bytes,
              access(i, h.tid, i % 2 ? AccessOp::READ : AccessOp::WRITE, static_cast<uint8_t>(1 + i % 64)))
        << "seq " << i;
  }
}

// A run takes seqs seq .. seq+count-1: the record after it, with seq+count,
// is next in order, whether it is in the same ring or another one.
TEST_F(ConsumerTest, RecordAfterRunAtSeqPlusCountIsInOrder) {
  Producer a(ch(), 0, 101), b(ch(), 1, 102);
  Bytes r0 = access(0, 101, AccessOp::READ);
  Bytes run1 = access_run(1, 101, AccessOp::WRITE, 4096);       // seqs 1..4096: a 4 KiB rep movsb
  Bytes r4097 = access(4097, 101, AccessOp::READ);              // same ring
  Bytes run4098 = access_run(4098, 101, AccessOp::READ, 3, 8);  // seqs 4098..4100
  Bytes r4101 = map(4101, 102);                                 // another ring
  Bytes r4102 = access(4102, 101, AccessOp::WRITE);
  a.push(r0);
  a.push(run1);
  a.push(r4097);
  a.push(run4098);
  b.push(r4101);
  a.push(r4102);
  EXPECT_TRUE(consumer().drain());
  EXPECT_EQ(consumer().channel_error(), "");
  EXPECT_EQ(counts().lost, 0u);
  EXPECT_EQ(a.tail(), a.head());
  EXPECT_EQ(b.tail(), b.head());

  // More arrives later: the consumer carries on from 4103, past a second run.
  Bytes run4103 = access_run(4103, 102, AccessOp::WRITE, 2, 2);  // seqs 4103..4104
  Bytes r4105 = access(4105, 101, AccessOp::READ);
  b.push(run4103);
  a.push(r4105);
  EXPECT_TRUE(consumer().drain());
  EXPECT_EQ(counts().lost, 0u);
  std::vector<Rec> got = read_back();
  EXPECT_EQ(seqs(got), (std::vector<uint64_t>{0, 1, 4097, 4098, 4101, 4102, 4103, 4105}));
  expect_records(got, {r0, run1, r4097, run4098, r4101, r4102, run4103, r4105});
}

}  // namespace
}  // namespace mmiotrace::cli::consumer_test
