// The producer's side of the channel (trace/channel.h), in one place for
// every process that writes into a running recorder's channel: the agent in
// the traced program (agent/producer.cc), `mmiotrace mark` from another shell
// (cli/mark_command.cc) and the recorder's own marks (cli/recorder.cc).
//
// The protocol: claim a FREE ring (CAS to OWNED, owner pid/tid, raise
// ring_high_water); take the order lock; stamp seq and time; copy the record
// into the ring and publish it (head); release the lock; retire the ring
// (RETIRED) when done.
//
// The order lock word is 0 or its owner's thread id. A process killed by
// SIGKILL while it holds the lock would otherwise stall every other producer
// forever. A waiter that has waited for a while (kDeadOwnerCheckNs of
// CLOCK_MONOTONIC, not a number of spins: see there) looks at the owner,
// and again after each such while, before it looks at any timeout of its
// own: if /proc/<tid>/stat is gone or shows the thread dead
// (Z: a zombie leader its parent has not reaped yet, X: dead), no one can ever
// release the lock (without /proc nothing can be told: waiters wait), and the
// waiter takes it over with a CAS from exactly that owner's id. The dead owner
// may have taken a seq without publishing it (the recorder reports it as lost)
// but left nothing half-published: a record becomes visible only with its
// ring's head store. Limit: if the dead owner's tid is reused by a new thread
// before a waiter looks (the kernel hands out tids in a cycle of pid_max, 4
// million on 64-bit systems by default, after the dead one is reaped), the
// owner looks alive and waiters keep waiting.
//
// Header-only and async-signal-safe: atomics, memcpy and raw system calls
// (open, read, close, kill, futex, sched_yield, clock_gettime) only; no
// allocation, no exceptions. Callers hold the lock with every signal but
// SIGSEGV, SIGBUS and SIGTRAP blocked (a handler of their own could write too).
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "trace/channel.h"
#include "trace/format.h"

namespace mmiotrace::trace {

// How long a waiter waits before it first looks whether the lock's owner is
// alive, and between looks: far longer than an access holds the lock, short
// enough that a dead owner stalls the others for about that long. Time, not
// spins: a waiter that has spun a while yields its CPU, and on a loaded
// machine each yield may give it back milliseconds later (16384 spins took
// more than 2 s with two busy processes on two CPUs).
inline constexpr uint64_t kDeadOwnerCheckNs = 1000 * 1000;

inline void channel_relax(unsigned& spins) {
  if (++spins < 64) {
    __builtin_ia32_pause();
  } else {
    syscall(SYS_sched_yield);
  }
}

inline uint64_t channel_monotonic_ns() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

// Wakes the recorder if it waits on the doorbell. Only the producer that
// clears `recorder_waiting` rings: the others, until the recorder waits
// again (Consumer::wait sets it), would make a futex call each for a
// recorder already woken (a full ring's waiters spin on this; profiled at
// ~10% of a patched access's time before). The load stays seq_cst (Dekker
// with the recorder's store of the flag and its look at the rings' heads);
// the exchange decides who rings.
inline void channel_notify(ChannelHeader* ch) {
  if (ch->recorder_waiting.load(std::memory_order_seq_cst) != 0 &&
      ch->recorder_waiting.exchange(0, std::memory_order_seq_cst) != 0) {
    ch->doorbell.fetch_add(1, std::memory_order_seq_cst);
    syscall(SYS_futex, &ch->doorbell, FUTEX_WAKE, 1, nullptr, nullptr, 0);
  }
}

// Whether process `pid` still exists (0: unknown, taken as alive).
inline bool process_alive(uint32_t pid) {
  return pid == 0 || syscall(SYS_kill, static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH;
}

// Whether thread `tid` has ended: no /proc/<tid> any more, or its state is Z
// (zombie) or X (dead). Any other answer, or one that cannot be read, is
// "alive". /proc/<tid> exists for every thread id, not only process ids.
inline bool thread_dead(uint32_t tid) {
  if (tid == 0) return false;
  char path[32] = "/proc/";
  char digits[12];
  int n = 0;
  for (uint32_t v = tid; v != 0; v /= 10) digits[n++] = static_cast<char>('0' + v % 10);
  size_t at = 6;
  while (n > 0) path[at++] = digits[--n];
  memcpy(path + at, "/stat", 6);
  const int saved = errno;
  const int fd = static_cast<int>(syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC));
  if (fd < 0) {
    bool gone = errno == ENOENT || errno == ESRCH;
    if (gone) {
      // Only if /proc is there at all (it may not be mounted): else nothing
      // can be told, and the owner is taken as alive.
      const int self = static_cast<int>(syscall(SYS_openat, AT_FDCWD, "/proc/self/stat", O_RDONLY | O_CLOEXEC));
      gone = self >= 0;
      if (self >= 0) syscall(SYS_close, self);
    }
    errno = saved;
    return gone;
  }
  char buf[512];
  const ssize_t got = syscall(SYS_read, fd, buf, sizeof(buf) - 1);
  syscall(SYS_close, fd);
  errno = saved;
  if (got <= 0) return got == 0;  // an empty stat: the task is being released
  // "tid (comm) S ...": the state follows the last ')' (comm may hold any byte).
  ssize_t close_paren = -1;
  for (ssize_t i = 0; i < got; ++i) {
    if (buf[i] == ')') close_paren = i;
  }
  if (close_paren < 0 || close_paren + 2 >= got) return false;
  const char state = buf[close_paren + 2];
  return state == 'Z' || state == 'X';
}

// Spins after which a waiter asks for the next turn (ChannelHeader.lock_wanted).
inline constexpr uint64_t kWantTurnSpins = 256;

// Takes the order lock as thread `tid` (nonzero). Gives up after `timeout_ns`
// (0: never) and returns false, but never while the owner is dead: the owner
// is looked at before the timeout, so however late the waiter runs again, a
// dead owner's lock is taken over, not given up on.
//
// The lock is a plain spinlock, so a thread that takes it again right after
// releasing it (a patched access in a loop, agent/patch) could keep others
// waiting for good. Against that, a waiter that has waited kWantTurnSpins
// asks for the next turn in `lock_wanted` (if nobody else has), and no other
// thread takes the lock while it is asked for. A waiter found dead there is
// cleared as a dead owner is taken over.
// The uncontended case of order_lock_acquire, inline: true if the lock was
// free, nobody had asked for the next turn, and it is now `tid`'s.
inline bool order_lock_try(ChannelHeader* ch, uint32_t tid) {
  uint32_t owner = 0;
  return ch->lock_wanted.load(std::memory_order_relaxed) == 0 &&
         ch->order_lock.compare_exchange_strong(owner, tid, std::memory_order_acquire);
}

inline bool order_lock_acquire(ChannelHeader* ch, uint32_t tid, uint64_t timeout_ns = 0) {
  std::atomic<uint32_t>& l = ch->order_lock;
  std::atomic<uint32_t>& wanted = ch->lock_wanted;
  unsigned spins = 0;
  uint64_t waited = 0;
  bool asked = false;
  uint64_t start = 0, last_look = 0;  // CLOCK_MONOTONIC, read every 64 waits (a few ns through the vDSO)
  for (;;) {
    uint32_t owner = l.load(std::memory_order_relaxed);
    const uint32_t turn = wanted.load(std::memory_order_relaxed);
    if (owner == 0 && (turn == 0 || turn == tid)) {
      if (l.compare_exchange_strong(owner, tid, std::memory_order_acquire)) {
        if (asked) wanted.store(0, std::memory_order_relaxed);
        return true;
      }
      continue;
    }
    ++waited;
    if (!asked && turn == 0 && waited >= kWantTurnSpins) {
      uint32_t none = 0;
      asked = wanted.compare_exchange_strong(none, tid, std::memory_order_relaxed);
    }
    if (waited % 64 == 0) {
      const uint64_t now = channel_monotonic_ns();
      if (start == 0) start = last_look = now;
      if (now - last_look >= kDeadOwnerCheckNs) {
        last_look = now;
        if (owner != 0 && thread_dead(owner) && l.compare_exchange_strong(owner, tid, std::memory_order_acquire)) {
          ch->lock_takeovers.fetch_add(1, std::memory_order_relaxed);
          if (asked) wanted.store(0, std::memory_order_relaxed);
          return true;
        }
        uint32_t asker = wanted.load(std::memory_order_relaxed);
        if (asker != 0 && asker != tid && thread_dead(asker)) wanted.compare_exchange_strong(asker, 0);
      }
      if (timeout_ns != 0 && now - start > timeout_ns) {
        if (asked) {
          uint32_t me = tid;
          wanted.compare_exchange_strong(me, 0);
        }
        return false;
      }
    }
    channel_relax(spins);
  }
}

inline void order_lock_release(ChannelHeader* ch) { ch->order_lock.store(0, std::memory_order_release); }

// Claims a FREE ring for (pid, tid): its index, or -1 if every ring stays
// owned for `max_rounds` rounds (0: wait forever).
inline int32_t claim_ring(ChannelHeader* ch, uint32_t pid, uint32_t tid, uint64_t max_rounds = 0) {
  RingControl* rc = ring_controls(ch);
  unsigned spins = 0;
  for (uint64_t round = 0; max_rounds == 0 || round < max_rounds; ++round) {
    for (uint32_t i = 0; i < ch->ring_count; ++i) {
      uint32_t expected = static_cast<uint32_t>(RingState::FREE);
      if (rc[i].state.load(std::memory_order_relaxed) != expected) continue;
      if (!rc[i].state.compare_exchange_strong(expected, static_cast<uint32_t>(RingState::OWNED),
                                               std::memory_order_seq_cst)) {
        continue;
      }
      rc[i].owner_pid.store(pid, std::memory_order_relaxed);
      rc[i].owner_tid.store(tid, std::memory_order_relaxed);
      uint32_t hw = ch->ring_high_water.load(std::memory_order_relaxed);
      while (hw < i + 1 && !ch->ring_high_water.compare_exchange_weak(hw, i + 1)) {
      }
      return static_cast<int32_t>(i);
    }
    // Every ring is owned by a live thread: wait for one to be retired.
    channel_relax(spins);
  }
  return -1;
}

// Hands a ring back: the recorder frees it once drained.
inline void retire_ring(ChannelHeader* ch, uint32_t ring) {
  ring_controls(ch)[ring].state.store(static_cast<uint32_t>(RingState::RETIRED), std::memory_order_release);
  channel_notify(ch);
}

enum class PushMode {
  WAIT,     // wait for room (the default: nothing is dropped)
  DROP,     // no room: drop the record (record --drop-when-full)
  NO_WAIT,  // no room: fail (the recorder, which is the ring's consumer too)
};

enum class PushResult { PUSHED, DROPPED, RECORDER_GONE };

// A producer's position in its ring between ring_reserve() and
// ring_commit(): the head to commit, and the tail it last read. The tail
// only grows (a ring's head and tail are never reset, whoever owns it), so
// an old reading is a safe under-estimate of the room: the producer reads
// the consumer's cache line again only when that reading says the record may
// not fit (or, at commit, that the ring may be over half full), instead of
// twice per record while the recorder writes it.
struct RingCursor {
  uint64_t next = 0;
  uint64_t tail_seen = 0;  // 0, or a tail this ring had: reset it when the ring changes
};

// Room for one record of `size` bytes in `ring`, reserved in place: the
// caller writes the record there and publishes it with ring_commit() (the
// zero-copy form of ring_push, for the fast path, agent/patch). Called with
// the order lock held, so that records enter the rings in seq order. On
// PUSHED, *slot is where the record goes and cursor->next the head to
// commit; otherwise nothing was reserved.
inline PushResult ring_reserve(ChannelHeader* ch, uint32_t ring, size_t size, PushMode mode, uint8_t** slot,
                               RingCursor* cursor) {
  if (size % 8 != 0 || size > 65535 || size > ch->ring_bytes / 2) return PushResult::DROPPED;
  RingControl& rc = ring_controls(ch)[ring];
  uint8_t* data = ring_data(ch, ring);
  const uint64_t ring_bytes = ch->ring_bytes;
  uint64_t head = rc.head.load(std::memory_order_relaxed);
  uint64_t off = head & (ring_bytes - 1);
  uint64_t pad = off + size > ring_bytes ? ring_bytes - off : 0;
  unsigned spins = 0;
  uint64_t waited = 0;
  if (head + pad + size - cursor->tail_seen > ring_bytes) {
    uint64_t wait_start = 0;  // a wait for room is counted and timed for record's summary
    while (head + pad + size - (cursor->tail_seen = rc.tail.load(std::memory_order_acquire)) > ring_bytes) {
      if (mode != PushMode::WAIT) return PushResult::DROPPED;
      if (wait_start == 0) wait_start = channel_monotonic_ns();
      channel_notify(ch);
      channel_relax(spins);
      // The recorder is the ring's only consumer: if it is gone, waiting is
      // forever. Checked only after a long wait.
      if (++waited % (1u << 20) == 0 && !process_alive(ch->recorder_pid)) return PushResult::RECORDER_GONE;
    }
    if (wait_start != 0) {
      ch->room_waits.fetch_add(1, std::memory_order_relaxed);
      ch->room_wait_ns.fetch_add(channel_monotonic_ns() - wait_start, std::memory_order_relaxed);
    }
  }
  if (pad != 0) {
    // The record does not fit before the end of the ring: a PAD marker sends
    // the reader back to the start (it becomes visible with the record).
    uint16_t type = static_cast<uint16_t>(RecordType::PAD);
    memcpy(data + off, &type, sizeof(type));
    head += pad;
    off = 0;
  }
  *slot = data + off;
  cursor->next = head + size;
  return PushResult::PUSHED;
}

// Publishes the record ring_reserve() gave room for: the head moves to
// cursor->next (a release store: the record's bytes are visible before it).
// Waking the recorder costs a system call: it is done only once the ring is
// half full (the recorder also looks every few milliseconds on its own).
// That wake-up is a Dekker handshake with Consumer::wait (it stores
// `recorder_waiting`, then loads the heads; here the head is stored, then
// `recorder_waiting` loaded): a seq_cst store of the head before the seq_cst
// load keeps it (a locked XCHG on x86; not a standalone fence, which
// ThreadSanitizer cannot check), and is paid only by a producer whose ring
// is over half full. Below half full no producer rings, so a plain release
// store loses nothing. An old tail that says "below half" is right (the
// tail only grows); one that says "over" is read again.
inline void ring_commit(ChannelHeader* ch, uint32_t ring, RingCursor* cursor) {
  RingControl& rc = ring_controls(ch)[ring];
  const uint64_t next = cursor->next;
  const uint64_t half = ch->ring_bytes / 2;
  if (next - cursor->tail_seen > half && next - (cursor->tail_seen = rc.tail.load(std::memory_order_relaxed)) > half) {
    rc.head.store(next, std::memory_order_seq_cst);
    channel_notify(ch);
  } else {
    rc.head.store(next, std::memory_order_release);
  }
}

// Copies one complete record into `ring`. Called with the order lock held, so
// that records enter the rings in seq order.
inline PushResult ring_push(ChannelHeader* ch, uint32_t ring, const void* record, size_t size, PushMode mode) {
  uint8_t* slot = nullptr;
  RingCursor cursor;
  const PushResult r = ring_reserve(ch, ring, size, mode, &slot, &cursor);
  if (r != PushResult::PUSHED) return r;
  memcpy(slot, record, size);
  ring_commit(ch, ring, &cursor);
  return PushResult::PUSHED;
}

// A producer with no global state, for processes other than the agent
// (`mmiotrace mark`): one ring, claimed for the object's lifetime.
class ChannelProducer {
 public:
  explicit ChannelProducer(ChannelHeader* ch) : ch_(ch) {}
  ChannelProducer(const ChannelProducer&) = delete;
  ChannelProducer& operator=(const ChannelProducer&) = delete;
  ~ChannelProducer() { retire(); }

  // Claims a ring for (pid, tid); false if none frees up within `max_rounds`
  // (0: wait forever), or if the recorder has begun its final drain (then
  // whatever this producer pushed might not be read: it must not push).
  bool claim(uint32_t pid, uint32_t tid, uint64_t max_rounds = 0) {
    ring_ = claim_ring(ch_, pid, tid, max_rounds);
    if (ring_ < 0) return false;
    tid_ = tid;
    // Dekker with the recorder (Consumer::close): it sets `closing`, then
    // looks for OWNED rings; this ring was made OWNED (seq_cst) before
    // `closing` is read here. Either the recorder sees this ring and waits
    // for it, or this producer sees `closing` and backs off.
    if (ch_->closing.load(std::memory_order_seq_cst) != 0) {
      retire();
      return false;
    }
    return true;
  }

  // Fills seq and time of a complete record (encode.h) and pushes it, under
  // the order lock. Returns false if there is no ring or the recorder died
  // while the ring was full.
  bool stamp_and_push(void* record, size_t size) {
    if (ring_ < 0) return false;
    auto* h = static_cast<RecordHeader*>(record);
    order_lock_acquire(ch_, tid_);
    h->seq = ch_->next_seq++;
    h->time_ns = channel_monotonic_ns();
    const PushResult r = ring_push(ch_, static_cast<uint32_t>(ring_), record, size, PushMode::WAIT);
    order_lock_release(ch_);
    channel_notify(ch_);
    return r == PushResult::PUSHED;
  }

  void retire() {
    if (ring_ < 0) return;
    retire_ring(ch_, static_cast<uint32_t>(ring_));
    ring_ = -1;
  }

 private:
  ChannelHeader* ch_;
  int32_t ring_ = -1;
  uint32_t tid_ = 0;
};

}  // namespace mmiotrace::trace
