// The recorder's own MARKs (Channel::reserve_marks, mark_start, mark): they go
// through the recorder's ring and take seqs under the order lock, so the
// Consumer merges them with the program's records in one strictly increasing
// order: the start mark first (seq 0), the exit mark after everything the
// program published.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "cli/recorder.h"
#include "trace/channel.h"
#include "trace/encode.h"
#include "trace/format.h"
#include "trace/reader.h"
#include "trace/writer.h"

namespace mmiotrace::cli {
namespace {

// Plays a producer: one MARK record with the next seq, into ring `ring`, as
// agent/producer.cc does (claim, order lock, push, publish, unlock).
void producer_mark(trace::ChannelHeader* ch, uint32_t ring, const std::string& text) {
  trace::RingControl& rc = trace::ring_controls(ch)[ring];
  rc.state.store(static_cast<uint32_t>(trace::RingState::OWNED));
  if (ch->ring_high_water.load() < ring + 1) ch->ring_high_water.store(ring + 1);
  while (ch->order_lock.exchange(1) != 0) {
  }
  alignas(8) uint8_t buf[256];
  size_t size = trace::encode_mark(buf, sizeof buf, trace::RecordStamp{ch->next_seq++, 5, 77},
                                   trace::MarkFields{77, text.data(), static_cast<uint16_t>(text.size())});
  ASSERT_NE(size, 0u);
  uint64_t head = rc.head.load();
  std::memcpy(trace::ring_data(ch, ring) + (head & (ch->ring_bytes - 1)), buf, size);
  rc.head.store(head + size);
  ch->order_lock.store(0);
}

TEST(RecorderMarks, StartFirstThenProgramThenExitInSeqOrder) {
  auto channel = Channel::create(RecordOptions{}, 0);
  ASSERT_TRUE(channel.ok()) << channel.error();
  const std::string path = ::testing::TempDir() + "mmiotrace_marks_" + std::to_string(getpid()) + ".mmio";
  auto writer = trace::TraceWriter::create(path, trace::make_file_header(0, 0, 1));
  ASSERT_TRUE(writer.ok()) << writer.error();
  trace::ChannelHeader* ch = channel->header();
  channel->reserve_marks();
  // The program runs before the recorder writes its start mark.
  producer_mark(ch, 1, "program one");
  producer_mark(ch, 2, "program two");
  ASSERT_TRUE(channel->mark_start(1, 77, "mmiotrace: start 77 prog"));
  TraceFileSink sink(&*writer);
  Consumer consumer(ch, &sink);
  consumer.drain();
  producer_mark(ch, 1, "program three");
  ASSERT_TRUE(channel->mark(77, "mmiotrace: exit 77 status 0"));
  consumer.drain();
  // A held order lock (its holder died) makes mark() give up, not hang.
  ch->order_lock.store(1);
  EXPECT_FALSE(channel->mark(77, "never", 50));
  ch->order_lock.store(0);
  ASSERT_TRUE(writer->close().ok());

  auto reader = trace::TraceReader::open(path);
  ASSERT_TRUE(reader.ok()) << reader.error();
  std::vector<std::string> texts;
  std::vector<uint64_t> seqs;
  trace::RecordView v;
  for (;;) {
    auto more = reader->next(v);
    ASSERT_TRUE(more.ok()) << more.error();
    if (!more.value()) break;
    ASSERT_EQ(v.type(), trace::RecordType::MARK);
    trace::MarkRecord m;
    std::memcpy(&m, v.bytes().data(), sizeof m);
    texts.emplace_back(reinterpret_cast<const char*>(v.bytes().data()) + sizeof m, m.text_len);
    seqs.push_back(v.header().seq);
  }
  unlink(path.c_str());
  EXPECT_EQ(texts, (std::vector<std::string>{"mmiotrace: start 77 prog", "program one", "program two", "program three",
                                             "mmiotrace: exit 77 status 0"}));
  EXPECT_EQ(seqs, (std::vector<uint64_t>{0, 1, 2, 3, 4}));
  EXPECT_TRUE(consumer.channel_error().empty()) << consumer.channel_error();
  EXPECT_EQ(sink.counts().lost, 0u);
}

}  // namespace
}  // namespace mmiotrace::cli
