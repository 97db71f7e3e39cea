// trace/channel_producer.h: the order lock's takeover from a dead owner (and
// only from a dead one), a producer backing off once the recorder has begun
// its final drain, and a producer's old reading of its ring's tail
// (RingCursor) never costing a record or a wake-up.
#include "trace/channel_producer.h"

#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "cli/channel.h"

namespace mmiotrace::trace {
namespace {

uint32_t my_tid() { return static_cast<uint32_t>(syscall(SYS_gettid)); }

// A child that has exited; reaped or left a zombie.
pid_t dead_child(bool reap) {
  pid_t p = fork();
  if (p == 0) _exit(0);
  if (reap) {
    waitpid(p, nullptr, 0);
  } else {
    // Until it has exited, leaving it a zombie (WNOWAIT: not reaped).
    siginfo_t info;
    waitid(P_PID, static_cast<id_t>(p), &info, WEXITED | WNOWAIT);
  }
  return p;
}

TEST(OrderLock, TakenOverFromADeadOwnerOnly) {
  auto channel = cli::Channel::create(cli::RecordOptions{}, 0);
  ASSERT_TRUE(channel.ok()) << channel.error();
  ChannelHeader* ch = channel->header();

  // Alive owner (this process): no takeover, the wait times out. The timeout
  // is the point here; a loaded machine only makes it return later.
  EXPECT_FALSE(thread_dead(static_cast<uint32_t>(getpid())));
  ch->order_lock.store(static_cast<uint32_t>(getpid()));
  EXPECT_FALSE(order_lock_acquire(ch, my_tid(), 100 * 1000 * 1000));
  EXPECT_EQ(ch->lock_takeovers.load(), 0u);

  // Dead owners, with a timeout of twice kDeadOwnerCheckNs. Not a deadline
  // the machine has to meet: the waiter looks at the owner before it looks at
  // its timeout (order_lock_acquire), so however long it is kept from running,
  // a dead owner's lock is taken over, never given up on.
  constexpr uint64_t kShort = 2 * kDeadOwnerCheckNs;

  // A zombie owner (its parent, this test, has not reaped it).
  const pid_t zombie = dead_child(false);
  ch->order_lock.store(static_cast<uint32_t>(zombie));
  EXPECT_TRUE(order_lock_acquire(ch, my_tid(), kShort));
  EXPECT_EQ(ch->order_lock.load(), my_tid());
  EXPECT_EQ(ch->lock_takeovers.load(), 1u);
  waitpid(zombie, nullptr, 0);

  // A reaped owner: /proc/<tid> is gone.
  const pid_t gone = dead_child(true);
  EXPECT_TRUE(thread_dead(static_cast<uint32_t>(gone)));
  ch->order_lock.store(static_cast<uint32_t>(gone));
  EXPECT_TRUE(order_lock_acquire(ch, my_tid(), kShort));
  EXPECT_EQ(ch->lock_takeovers.load(), 2u);
  order_lock_release(ch);
  EXPECT_EQ(ch->order_lock.load(), 0u);
}

TEST(ChannelProducer, BacksOffOnceTheRecorderDrainsForTheLastTime) {
  auto channel = cli::Channel::create(cli::RecordOptions{}, 0);
  ASSERT_TRUE(channel.ok()) << channel.error();
  ChannelHeader* ch = channel->header();
  {
    ChannelProducer p(ch);
    EXPECT_TRUE(p.claim(1, 2, 10));
  }
  ch->closing.store(1);
  ChannelProducer late(ch);
  EXPECT_FALSE(late.claim(1, 2, 10));
  // Neither ring is left owned: the recorder does not wait for them.
  for (uint32_t i = 0; i < ch->ring_high_water.load(); ++i) {
    EXPECT_NE(ring_controls(ch)[i].state.load(), static_cast<uint32_t>(RingState::OWNED)) << i;
  }
}

// A RingCursor's tail is an old reading: it must make the producer look at
// the real tail before it says "full" and before it wakes the recorder, and
// must never let it write over records the recorder has not taken.
TEST(RingCursor, AnOldTailIsReadAgainBeforeFullOrAWakeUp) {
  auto channel = cli::Channel::create(cli::RecordOptions{}, 0);
  ASSERT_TRUE(channel.ok()) << channel.error();
  ChannelHeader* ch = channel->header();
  const int32_t ring = claim_ring(ch, 1, 2, 10);
  ASSERT_GE(ring, 0);
  RingControl& rc = ring_controls(ch)[ring];
  constexpr size_t kRecord = 64;
  uint8_t record[kRecord] = {};
  RingCursor cursor;
  // Fill the ring: the last reservation fails (full), none overlaps what is unread.
  uint64_t pushed = 0;
  for (;;) {
    uint8_t* slot = nullptr;
    if (ring_reserve(ch, static_cast<uint32_t>(ring), kRecord, PushMode::DROP, &slot, &cursor) != PushResult::PUSHED) {
      break;
    }
    memcpy(slot, record, kRecord);
    ring_commit(ch, static_cast<uint32_t>(ring), &cursor);
    ++pushed;
    ASSERT_LE(rc.head.load() - rc.tail.load(), ch->ring_bytes);
  }
  EXPECT_EQ(pushed * kRecord, ch->ring_bytes);
  EXPECT_EQ(cursor.tail_seen, 0u);

  // The recorder takes a quarter: the cursor's tail is now old, and the next
  // reservation reads the real one instead of calling the ring full.
  rc.tail.store(ch->ring_bytes / 4);
  uint8_t* slot = nullptr;
  ASSERT_EQ(ring_reserve(ch, static_cast<uint32_t>(ring), kRecord, PushMode::DROP, &slot, &cursor), PushResult::PUSHED);
  EXPECT_EQ(cursor.tail_seen, ch->ring_bytes / 4);

  // A sleeping recorder is woken only by a ring over half full: with the
  // recorder caught up to all but this record, an old tail that says "full"
  // is read again and nobody is woken.
  rc.tail.store(rc.head.load());
  ch->recorder_waiting.store(1);
  const uint32_t bell = ch->doorbell.load();
  ring_commit(ch, static_cast<uint32_t>(ring), &cursor);
  EXPECT_EQ(cursor.tail_seen, rc.head.load() - kRecord);
  EXPECT_EQ(ch->recorder_waiting.load(), 1u);
  EXPECT_EQ(ch->doorbell.load(), bell);

  // Over half full (by the real tail): the recorder is woken.
  for (uint64_t i = 0; i <= ch->ring_bytes / 2 / kRecord; ++i) {
    ASSERT_EQ(ring_reserve(ch, static_cast<uint32_t>(ring), kRecord, PushMode::DROP, &slot, &cursor),
              PushResult::PUSHED);
    ring_commit(ch, static_cast<uint32_t>(ring), &cursor);
  }
  EXPECT_EQ(ch->recorder_waiting.load(), 0u);
  EXPECT_EQ(ch->doorbell.load(), bell + 1);
}

}  // namespace
}  // namespace mmiotrace::trace
