// trace/channel_producer.h: the order lock's takeover from a dead owner (and
// only from a dead one), and a producer backing off once the recorder has
// begun its final drain.
#include "trace/channel_producer.h"

#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

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

}  // namespace
}  // namespace mmiotrace::trace
