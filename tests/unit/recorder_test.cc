// Consumer (src/cli/recorder.h): the test plays the agent, writing records
// into the channel's rings exactly as src/agent/producer.cc does, drains them
// into a trace file and reads the file back: seq order across rings, LOST
// records for seqs that never arrive, PCIDEV deduplication, the PAD at a
// ring's end, freeing retired rings, abandoning a ring with an invalid record,
// the statistics, ACCESS_RUN records (which take `count` seqs), and producer
// threads publishing while the consumer drains.
#include "cli/recorder.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "trace/channel.h"
#include "trace/encode.h"
#include "trace/format.h"
#include "trace/reader.h"
#include "trace/writer.h"

namespace mmiotrace::cli {
namespace {

using trace::AccessOp;
using trace::ChannelHeader;
using trace::kRingBytes;
using trace::RecordHeader;
using trace::RecordType;
using trace::RingState;

using Bytes = std::vector<uint8_t>;

constexpr uint32_t kPid = 4242;

uint64_t time_of(uint64_t seq) { return 1'000'000 + seq * 1000; }

trace::RecordStamp stamp(uint64_t seq, uint32_t tid) { return trace::RecordStamp{seq, time_of(seq), tid}; }

// An ACCESS record of `width` bytes (88 bytes long for width 1..8).
Bytes access(uint64_t seq, uint32_t tid, AccessOp op, uint8_t width = 4, uint32_t pid = kPid) {
  uint8_t value[64];
  for (unsigned i = 0; i < sizeof value; ++i) value[i] = static_cast<uint8_t>(seq * 7 + i);
  const uint8_t insn[] = {0x8b, 0x07};  // mov (%rdi), %eax
  trace::AccessFields f;
  f.op = op;
  f.width = width;
  f.phys = 0xfe000000 + seq * 4;
  f.pc = 0x401000 + seq;
  f.pid = pid;
  f.map_id = 1;
  f.insn = insn;
  f.insn_len = sizeof insn;
  f.value = value;
  Bytes b(trace::record_size_for_access(trace::kMaxAccessWidth));
  size_t n = trace::encode_access(b.data(), b.size(), stamp(seq, tid), f);
  EXPECT_EQ(n, trace::record_size_for_access(width));
  b.resize(n);
  return b;
}

// An ACCESS_RUN of `count` accesses of `width` bytes (a `rep movs`/`rep stos`):
// it takes seqs seq .. seq+count-1.
Bytes access_run(uint64_t seq, uint32_t tid, AccessOp op, uint32_t count, uint8_t width = 1, uint32_t pid = kPid) {
  Bytes values(size_t{count} * width);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<uint8_t>(seq + i);
  const uint8_t insn[] = {0xf3, 0xa4};  // rep movsb
  trace::AccessRunFields f;
  f.op = op;
  f.width = width;
  f.phys = 0xfe100000 + seq * 0x100;
  f.pc = 0x402000 + seq;
  f.pid = pid;
  f.map_id = 1;
  f.count = count;
  f.stride = width;
  f.insn = insn;
  f.insn_len = sizeof insn;
  f.values = values.data();
  Bytes b(trace::record_size_for_access_run(width, count));
  EXPECT_EQ(trace::encode_access_run(b.data(), b.size(), stamp(seq, tid), f), b.size());
  return b;
}

Bytes map(uint64_t seq, uint32_t tid, uint32_t pid = kPid) {
  const char path[] = "/dev/fake0";
  trace::MapFields f;
  f.phys = 0xfe000000;
  f.virt = 0x7f0000000000 + seq * 0x10000;
  f.len = 0x10000;
  f.pid = pid;
  f.map_id = static_cast<uint32_t>(seq);
  f.prot = PROT_READ | PROT_WRITE;
  f.path = path;
  f.path_len = sizeof path - 1;
  Bytes b(trace::record_size_for_map(f.path_len));
  size_t n = trace::encode_map(b.data(), b.size(), stamp(seq, tid), f);
  EXPECT_EQ(n, trace::record_size_for_map(f.path_len));
  b.resize(n);
  return b;
}

Bytes unmap(uint64_t seq, uint32_t tid) {
  trace::UnmapFields f{0x7f0000000000, 0x1000, kPid, 1};
  Bytes b(sizeof(trace::UnmapRecord));
  EXPECT_EQ(trace::encode_unmap(b.data(), b.size(), stamp(seq, tid), f), b.size());
  return b;
}

Bytes mark(uint64_t seq, uint32_t tid, const std::string& text) {
  trace::MarkFields f{kPid, text.data(), static_cast<uint16_t>(text.size())};
  Bytes b(trace::record_size_for_mark(static_cast<unsigned>(text.size())));
  EXPECT_EQ(trace::encode_mark(b.data(), b.size(), stamp(seq, tid), f), b.size());
  return b;
}

Bytes pcidev(uint64_t seq, uint32_t tid, uint32_t busdevfn) {
  const char driver[] = "fakedrv";
  trace::PciDevFields f;
  f.busdevfn = busdevfn;
  f.vendor = 0x8086;
  f.device = static_cast<uint16_t>(busdevfn);
  f.irq = 11;
  f.start[0] = 0xfe000000;
  f.size[0] = 0x10000;
  f.driver = driver;
  f.driver_len = sizeof driver - 1;
  Bytes b(trace::record_size_for_pcidev(f.driver_len));
  EXPECT_EQ(trace::encode_pcidev(b.data(), b.size(), stamp(seq, tid), f), b.size());
  return b;
}

Bytes unknown(uint64_t seq, uint32_t tid) {
  const uint8_t insn[] = {0x0f, 0x0b};
  trace::UnknownFields f{0xfe000010, 0x401100, kPid, 1, insn, sizeof insn};
  Bytes b(sizeof(trace::UnknownRecord));
  EXPECT_EQ(trace::encode_unknown(b.data(), b.size(), stamp(seq, tid), f), b.size());
  return b;
}

// One thread of the traced program: claims a ring and pushes records into it
// the way the agent's producer.cc does.
class Producer {
 public:
  // `start` is where the ring's head and tail counters begin (a ring that has
  // already carried `start` bytes).
  Producer(ChannelHeader* ch, uint32_t ring, uint32_t tid, uint64_t start = 0)
      : ring_(ring), rc_(trace::ring_controls(ch)[ring]), data_(trace::ring_data(ch, ring)) {
    // What a ring holds past its head is stale: earlier laps' records, here
    // bytes that are no record at all (the PAD marker overwrites only the
    // type, the consumer must not look further).
    std::memset(data_, 0xa5, kRingBytes);
    rc_.head.store(start, std::memory_order_relaxed);
    rc_.tail.store(start, std::memory_order_relaxed);
    uint32_t expected = static_cast<uint32_t>(RingState::FREE);
    EXPECT_TRUE(rc_.state.compare_exchange_strong(expected, static_cast<uint32_t>(RingState::OWNED)));
    rc_.owner_pid.store(kPid, std::memory_order_relaxed);
    rc_.owner_tid.store(tid, std::memory_order_relaxed);
    uint32_t hw = ch->ring_high_water.load(std::memory_order_relaxed);
    while (hw < ring + 1 && !ch->ring_high_water.compare_exchange_weak(hw, ring + 1)) {
    }
  }

  // Returns whether a PAD went in first. A full ring fails the test, unless
  // `wait` says to wait for the consumer (which another thread runs).
  bool push(const Bytes& rec, bool wait = false) {
    const uint64_t size = rec.size();
    uint64_t head = rc_.head.load(std::memory_order_relaxed);
    uint64_t off = head & (kRingBytes - 1);
    const uint64_t pad = off + size > kRingBytes ? kRingBytes - off : 0;
    while (wait && head + pad + size - rc_.tail.load(std::memory_order_acquire) > kRingBytes) {
      std::this_thread::yield();
    }
    EXPECT_LE(head + pad + size - rc_.tail.load(std::memory_order_acquire), kRingBytes) << "ring " << ring_ << " full";
    if (pad != 0) {
      const uint16_t type = static_cast<uint16_t>(RecordType::PAD);
      std::memcpy(data_ + off, &type, sizeof type);
      head += pad;
      off = 0;
    }
    std::memcpy(data_ + off, rec.data(), size);
    rc_.head.store(head + size, std::memory_order_release);
    return pad != 0;
  }

  // Copies `size` raw bytes (a corrupt record) to the head and publishes
  // `advance` bytes (`size` if 0).
  void push_raw(const void* bytes, size_t size, uint64_t advance = 0) {
    uint64_t head = rc_.head.load(std::memory_order_relaxed);
    std::memcpy(data_ + (head & (kRingBytes - 1)), bytes, size);
    rc_.head.store(head + (advance != 0 ? advance : size), std::memory_order_release);
  }

  void retire() { rc_.state.store(static_cast<uint32_t>(RingState::RETIRED), std::memory_order_release); }

  RingState state() const { return static_cast<RingState>(rc_.state.load()); }
  uint64_t head() const { return rc_.head.load(); }
  uint64_t tail() const { return rc_.tail.load(); }

 private:
  uint32_t ring_;
  trace::RingControl& rc_;
  uint8_t* data_;
};

// A record as read back from the file.
struct Rec {
  RecordType type;
  uint64_t seq;
  Bytes bytes;
};

class RecorderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto created = Channel::create(RecordOptions{}, 0);
    ASSERT_TRUE(created.ok()) << created.error();
    channel_.emplace(std::move(created).value());
    std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::replace(test.begin(), test.end(), '/', '_');  // parameterized tests: "AbandonsRing/size_12"
    path_ = ::testing::TempDir() + "mmiotrace_recorder_" + std::to_string(::getpid()) + "_" + test + ".mmio";
    auto w = trace::TraceWriter::create(path_, trace::make_file_header(0, 0, 1));
    ASSERT_TRUE(w.ok()) << w.error();
    writer_.emplace(std::move(w).value());
    consumer_.emplace(ch(), &*writer_);
  }
  void TearDown() override { ::unlink(path_.c_str()); }

  ChannelHeader* ch() { return channel_->header(); }
  Consumer& consumer() { return *consumer_; }

  // Closes the trace file and reads every record back.
  std::vector<Rec> read_back() {
    Result<void> closed = writer_->close();
    EXPECT_TRUE(closed.ok()) << closed.error();
    std::vector<Rec> out;
    auto reader = trace::TraceReader::open(path_);
    EXPECT_TRUE(reader.ok()) << reader.error();
    if (!reader.ok()) return out;
    trace::RecordView v;
    for (;;) {
      auto more = reader->next(v);
      EXPECT_TRUE(more.ok()) << more.error();
      if (!more.ok() || !more.value()) break;
      out.push_back(Rec{v.type(), v.header().seq, Bytes(v.bytes().begin(), v.bytes().end())});
    }
    return out;
  }

  std::optional<Channel> channel_;
  std::string path_;
  std::optional<trace::TraceWriter> writer_;
  std::optional<Consumer> consumer_;
};

// The file holds exactly `want`, byte for byte, in this order.
void expect_records(const std::vector<Rec>& got, const std::vector<Bytes>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE(::testing::Message() << "record #" << i << " (seq " << got[i].seq << ")");
    EXPECT_EQ(got[i].bytes, want[i]);
  }
}

std::vector<uint64_t> seqs(const std::vector<Rec>& recs) {
  std::vector<uint64_t> out;
  for (const Rec& r : recs) out.push_back(r.seq);
  return out;
}

void expect_lost(const Rec& r, uint64_t seq, uint64_t count, uint64_t time_ns) {
  ASSERT_EQ(r.type, RecordType::LOST);
  ASSERT_EQ(r.bytes.size(), sizeof(trace::LostRecord));
  trace::LostRecord l;
  std::memcpy(&l, r.bytes.data(), sizeof l);
  EXPECT_EQ(l.h.type, static_cast<uint16_t>(RecordType::LOST));
  EXPECT_EQ(l.h.size, sizeof(trace::LostRecord));
  EXPECT_EQ(l.h.seq, seq);
  EXPECT_EQ(l.h.time_ns, time_ns);
  EXPECT_EQ(l.h.tid, 0u);
  EXPECT_EQ(l.count, count);
}

TEST_F(RecorderTest, MergesThreeRingsInSeqOrder) {
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
  EXPECT_EQ(consumer().write_error(), "");
  EXPECT_EQ(consumer().stats().lost, 0u);
  std::vector<Rec> got = read_back();
  EXPECT_EQ(seqs(got), (std::vector<uint64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
  expect_records(got, recs);
  // Owned rings stay owned, drained or not.
  EXPECT_EQ(a.state(), RingState::OWNED);
  EXPECT_EQ(b.state(), RingState::OWNED);
}

TEST_F(RecorderTest, MissingSeqsBecomeOneLostRecord) {
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
  EXPECT_EQ(consumer().stats().lost, 3u);
  EXPECT_EQ(consumer().stats().reads, 3u);
  EXPECT_EQ(consumer().stats().writes, 2u);
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

TEST_F(RecorderTest, MissingFirstSeqsBecomeLostRecord) {
  Producer a(ch(), 0, 101);
  Bytes r2 = access(2, 101, AccessOp::READ), r3 = map(3, 101);
  a.push(r2);
  a.push(r3);
  EXPECT_TRUE(consumer().drain());
  EXPECT_EQ(consumer().stats().lost, 2u);
  std::vector<Rec> got = read_back();
  ASSERT_EQ(got.size(), 3u);
  expect_lost(got[0], 0, 2, time_of(2));
  EXPECT_EQ(got[1].bytes, r2);
  EXPECT_EQ(got[2].bytes, r3);
}

TEST_F(RecorderTest, PciDevListedOncePerBusDevFn) {
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
  EXPECT_EQ(consumer().stats().lost, 0u);
  std::vector<Rec> got = read_back();
  EXPECT_EQ(seqs(got), (std::vector<uint64_t>{0, 1, 3, 4}));
  expect_records(got, {p0, r1, p3, r4});
  EXPECT_EQ(a.tail(), a.head());  // the duplicates were consumed, not left behind
  EXPECT_EQ(b.tail(), b.head());
}

TEST_F(RecorderTest, PadAtRingEndIsSkipped) {
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
  EXPECT_EQ(consumer().stats().lost, 0u);
  std::vector<Rec> got = read_back();
  EXPECT_EQ(seqs(got), (std::vector<uint64_t>{0, 1, 2, 3, 4, 5}));
  expect_records(got, recs);
}

TEST_F(RecorderTest, RingWrapsManyTimes) {
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
  EXPECT_EQ(consumer().stats().lost, 0u);
  std::vector<Rec> got = read_back();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].seq, i);
    ASSERT_EQ(got[i].bytes, want[i]) << "seq " << i;
  }
}

TEST_F(RecorderTest, RetiredRingFreedOnceDrained) {
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

TEST_F(RecorderTest, InvalidRecordAbandonsOnlyItsRing) {
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
  EXPECT_EQ(consumer().stats().lost, 2u);    // seqs 2 and 4, in the abandoned ring

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

// Three producer threads take seqs under an order lock and publish into their
// own rings while the consumer drains concurrently, as in a real recording.
// A scan that reads one ring before its record with the expected seq lands
// and another ring after a later one has must look again rather than call the
// expected record lost. Every record arrives, in order, byte for byte.
TEST_F(RecorderTest, ConcurrentProducersLoseNothing) {
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
  EXPECT_EQ(consumer().stats().lost, 0u);
  EXPECT_EQ(consumer().stats().reads + consumer().stats().writes, total);
  EXPECT_EQ(consumer().stats().threads, (std::set<uint32_t>{101, 102, 103}));
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

// Each way a record header can be invalid abandons the ring at that record.
struct BadRecord {
  const char* name;
  uint64_t start;      // the ring's head and tail counters to begin with
  uint16_t size;       // the bad record's size field
  uint64_t published;  // bytes the head moves over it
};

void PrintTo(const BadRecord& bad, std::ostream* os) { *os << bad.name; }

class RecorderBadRecordTest : public RecorderTest, public ::testing::WithParamInterface<BadRecord> {};

TEST_P(RecorderBadRecordTest, AbandonsRing) {
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

INSTANTIATE_TEST_SUITE_P(Recorder, RecorderBadRecordTest,
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
TEST_F(RecorderTest, ZeroedRecordAbandonsRingInsteadOfHanging) {
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

TEST_F(RecorderTest, StatsCountReadsWritesMapsThreads) {
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
  const RecordStats& s = consumer().stats();
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

// A run takes seqs seq .. seq+count-1: the record after it, with seq+count,
// is next in order, whether it is in the same ring or another one.
TEST_F(RecorderTest, RecordAfterRunAtSeqPlusCountIsInOrder) {
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
  EXPECT_EQ(consumer().stats().lost, 0u);
  EXPECT_EQ(a.tail(), a.head());
  EXPECT_EQ(b.tail(), b.head());

  // More arrives later: the consumer carries on from 4103, past a second run.
  Bytes run4103 = access_run(4103, 102, AccessOp::WRITE, 2, 2);  // seqs 4103..4104
  Bytes r4105 = access(4105, 101, AccessOp::READ);
  b.push(run4103);
  a.push(r4105);
  EXPECT_TRUE(consumer().drain());
  EXPECT_EQ(consumer().stats().lost, 0u);
  std::vector<Rec> got = read_back();
  EXPECT_EQ(seqs(got), (std::vector<uint64_t>{0, 1, 4097, 4098, 4101, 4102, 4103, 4105}));
  expect_records(got, {r0, run1, r4097, run4098, r4101, r4102, run4103, r4105});
}

// A seq missing after a run (the run took 0..3, the next record has 6) is
// counted from the run's end: LOST for 4 and 5, not for 1..5.
TEST_F(RecorderTest, GapAfterRunBecomesLostFromTheRunsEnd) {
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
  EXPECT_EQ(consumer().stats().lost, 5u);
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

TEST_F(RecorderTest, StatsCountEachAccessOfARun) {
  Producer a(ch(), 0, 101), b(ch(), 1, 102);
  a.push(map(0, 101, 7001));
  a.push(access_run(1, 101, AccessOp::WRITE, 4096, 1, 7001));   // seqs 1..4096
  b.push(access_run(4097, 102, AccessOp::READ, 512, 8, 7002));  // seqs 4097..4608
  a.push(access(4609, 101, AccessOp::READ, 4, 7001));
  a.push(access_run(4610, 101, AccessOp::READ, 1, 4, 7001));  // a run of one
  EXPECT_TRUE(consumer().drain());
  const RecordStats& s = consumer().stats();
  EXPECT_EQ(s.writes, 4096u);
  EXPECT_EQ(s.reads, 512u + 1 + 1);
  EXPECT_EQ(s.maps, 1u);
  EXPECT_EQ(s.lost, 0u);
  EXPECT_EQ(s.threads, (std::set<uint32_t>{101, 102}));
  EXPECT_EQ(s.processes, (std::set<uint32_t>{7001, 7002}));
  EXPECT_EQ(read_back().size(), 5u);
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

class RecorderBadRunTest : public RecorderTest, public ::testing::WithParamInterface<BadRun> {};

TEST_P(RecorderBadRunTest, AbandonsRing) {
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
  EXPECT_EQ(consumer().stats().lost, 3u);  // seqs 1..3, which the run would have taken
  EXPECT_EQ(consumer().stats().writes, 0u);
  std::vector<Rec> got = read_back();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].bytes, r0);
  expect_lost(got[1], 1, 3, time_of(4));
  EXPECT_EQ(got[2].bytes, r4);
}

INSTANTIATE_TEST_SUITE_P(
    Recorder, RecorderBadRunTest,
    ::testing::Values(BadRun{"count_0", offsetof(trace::AccessRunRecord, count), 0, 4, 88},
                      BadRun{"count_9", offsetof(trace::AccessRunRecord, count), 9, 4, 88},  // 88 bytes hold 8 at most
                      BadRun{"width_3", offsetof(trace::AccessRunRecord, width), 3, 1, 88},
                      BadRun{"size_72", offsetof(trace::RecordHeader, size), 72, 2, 72}),  // shorter than its struct
    [](const ::testing::TestParamInfo<BadRun>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace mmiotrace::cli
