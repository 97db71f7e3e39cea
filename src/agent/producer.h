// The agent's side of the channel (trace/channel.h): the order lock that
// stamps records with a global seq, and the per-thread rings records go into.
// Async-signal-safe: no allocation; the only lock is the order lock, which is
// held with every signal but SIGSEGV/SIGBUS blocked and never across a call
// into the program.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "agent/agent.h"
#include "common/check.h"
#include "trace/channel.h"
#include "trace/channel_producer.h"

namespace mmiotrace::agent {

// The calling thread's id, asked of the kernel once per thread (a fork
// child's thread asks again: producer_after_fork_child). Inline, with the
// order lock's owner check below: the fast path (agent/patch) asks for both
// several times per access.
extern __thread uint32_t tls_tid __attribute__((tls_model("initial-exec")));
uint32_t current_tid_slow();
inline uint32_t current_tid() {
  const uint32_t tid = tls_tid;
  return tid != 0 ? tid : current_tid_slow();
}

// Testing hooks (MMIOTRACE_TESTING_KILL_IN_LOCK / _AFTER_ACCESS, producer.cc):
// 0 unless a test sets them.
extern uint64_t g_kill_in_lock;
extern uint64_t g_kill_after_access;
void order_lock_contended();
void kill_in_lock_hook();
void kill_after_access_hook();

// Order lock: the device access, the seq and the timestamp happen inside it.
// The uncontended case inline (the fast path takes it once per access).
inline void order_lock() {
  if (!trace::order_lock_try(g_agent.channel, current_tid())) order_lock_contended();
  if (g_kill_in_lock != 0) kill_in_lock_hook();
}
void order_unlock();
// Whether the calling thread holds the order lock (the lock word holds its
// owner's tid: only the owner releases it, and seqs are taken only under it).
inline bool holds_order_lock() { return g_agent.channel->order_lock.load(std::memory_order_relaxed) == current_tid(); }
// Under the order lock: the next seq. Outside: use stamp_record().
inline uint64_t take_seq_locked() {
  MT_CHECK(holds_order_lock());
  return g_agent.channel->next_seq++;
}
// Under the order lock: `count` consecutive seqs (an ACCESS_RUN); returns the first.
uint64_t take_seqs_locked(uint64_t count);
// Under the order lock: seqs from `next` on were taken but not used (the
// access faulted): the next one taken is `next` again. Device accesses take
// their seqs before they touch the device, so that a thread killed in between
// leaves seqs that never arrive (reported lost), never an unaccounted access.
void give_back_seqs_locked(uint64_t next);
// Testing hook (MMIOTRACE_TESTING_KILL_AFTER_ACCESS), after a device access and before its record.
inline void testing_after_device_access() {
  if (g_kill_after_access != 0) kill_after_access_hook();
}
uint64_t monotonic_ns();

// Fills seq and time of a record header and pushes it, under the order lock
// (for records that are not device accesses: MAP, UNMAP, MARK, ...).
void stamp_and_push(void* record, size_t size);

// Copies one complete record into the calling thread's ring, waiting while
// the ring is full. Never drops. Called with the order lock held, so that
// records enter the rings in seq order.
void push_record(const void* record, size_t size);

// The same in two steps, for a record written in place (the fast path,
// agent/patch/fast_access.cc): room for `size` bytes in the calling thread's
// ring, or null if there is none to write (no channel, the recorder gone, or
// the record dropped with --drop-when-full: `droppable` says whether it may
// be, `seqs` how many seqs it stands for); then, once the whole record is
// written there, commit_record() publishes it. Both under the order lock,
// with nothing pushed in between.
uint8_t* reserve_record(size_t size, bool droppable, uint64_t seqs);
void commit_record();

// Thread exit (pthread key destructor) and fork (child side).
void release_thread_ring(void* value);
void producer_after_fork_child();
void producer_init();

}  // namespace mmiotrace::agent
