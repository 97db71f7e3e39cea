// Test support for the Consumer tests (consumer_*_test.cc): records built with
// trace/encode.h, a Producer that plays one thread of the agent, writing
// records into the channel's rings exactly as src/agent/producer.cc does, and
// a fixture that drains the rings through the recorder's TraceFileSink into a
// trace file and reads the file back.
#pragma once

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cli/channel.h"
#include "cli/consumer.h"
#include "cli/recorder.h"
#include "trace/channel.h"
#include "trace/encode.h"
#include "trace/format.h"
#include "trace/reader.h"
#include "trace/writer.h"

namespace mmiotrace::cli::consumer_test {

using trace::AccessOp;
using trace::ChannelHeader;
using trace::kRingBytes;
using trace::RecordHeader;
using trace::RecordType;
using trace::RingState;

using Bytes = std::vector<uint8_t>;

inline constexpr uint32_t kPid = 4242;

inline uint64_t time_of(uint64_t seq) { return 1'000'000 + seq * 1000; }

inline trace::RecordStamp stamp(uint64_t seq, uint32_t tid) { return trace::RecordStamp{seq, time_of(seq), tid}; }

// An ACCESS record of `width` bytes (88 bytes long for width 1..8).
inline Bytes access(uint64_t seq, uint32_t tid, AccessOp op, uint8_t width = 4, uint32_t pid = kPid) {
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
inline Bytes access_run(uint64_t seq, uint32_t tid, AccessOp op, uint32_t count, uint8_t width = 1,
                        uint32_t pid = kPid) {
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

inline Bytes map(uint64_t seq, uint32_t tid, uint32_t pid = kPid) {
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

inline Bytes unmap(uint64_t seq, uint32_t tid) {
  trace::UnmapFields f{0x7f0000000000, 0x1000, kPid, 1};
  Bytes b(sizeof(trace::UnmapRecord));
  EXPECT_EQ(trace::encode_unmap(b.data(), b.size(), stamp(seq, tid), f), b.size());
  return b;
}

inline Bytes mark(uint64_t seq, uint32_t tid, const std::string& text) {
  trace::MarkFields f{kPid, text.data(), static_cast<uint16_t>(text.size())};
  Bytes b(trace::record_size_for_mark(static_cast<unsigned>(text.size())));
  EXPECT_EQ(trace::encode_mark(b.data(), b.size(), stamp(seq, tid), f), b.size());
  return b;
}

inline Bytes pcidev(uint64_t seq, uint32_t tid, uint32_t busdevfn) {
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

inline Bytes unknown(uint64_t seq, uint32_t tid) {
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

// Drains the channel's rings into a trace file through a TraceFileSink, as the
// recorder does.
class ConsumerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto created = Channel::create(RecordOptions{}, 0);
    ASSERT_TRUE(created.ok()) << created.error();
    channel_.emplace(std::move(created).value());
    std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::replace(test.begin(), test.end(), '/', '_');  // parameterized tests: "AbandonsRing/size_12"
    path_ = ::testing::TempDir() + "mmiotrace_consumer_" + std::to_string(::getpid()) + "_" + test + ".mmio";
    auto w = trace::TraceWriter::create(path_, trace::make_file_header(0, 0, 1));
    ASSERT_TRUE(w.ok()) << w.error();
    writer_.emplace(std::move(w).value());
    sink_.emplace(&*writer_);
    consumer_.emplace(ch(), &*sink_);
  }
  void TearDown() override { ::unlink(path_.c_str()); }

  ChannelHeader* ch() { return channel_->header(); }
  Consumer& consumer() { return *consumer_; }
  // What the recorder's summary counts.
  const analysis::TraceCounts& counts() const { return sink_->counts(); }
  const std::string& write_error() const { return sink_->write_error(); }

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
  std::optional<TraceFileSink> sink_;
  std::optional<Consumer> consumer_;
};

// The file holds exactly `want`, byte for byte, in this order.
inline void expect_records(const std::vector<Rec>& got, const std::vector<Bytes>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE(::testing::Message() << "record #" << i << " (seq " << got[i].seq << ")");
    EXPECT_EQ(got[i].bytes, want[i]);
  }
}

inline std::vector<uint64_t> seqs(const std::vector<Rec>& recs) {
  std::vector<uint64_t> out;
  for (const Rec& r : recs) out.push_back(r.seq);
  return out;
}

inline void expect_lost(const Rec& r, uint64_t seq, uint64_t count, uint64_t time_ns) {
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

}  // namespace mmiotrace::cli::consumer_test
