// Async-signal-safe: runs in the traced program's signal handler; no
// allocation, no locks but the order lock (see producer.h).
#include "agent/producer.h"

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

#include "agent/agent.h"
#include "common/check.h"
#include "common/handler_rules.h"
#include "trace/channel_producer.h"
#include "trace/format.h"

MT_HANDLER_RULES

namespace mmiotrace::agent {

namespace {

__thread int32_t tls_ring __attribute__((tls_model("initial-exec"))) = -1;

pthread_key_t g_ring_key;
bool g_ring_key_ok = false;
bool g_recorder_gone = false;
std::atomic<uint64_t> g_locks_taken{0};
std::atomic<uint64_t> g_accesses_made{0};

int32_t claim_ring() {
  const auto ring = trace::claim_ring(g_agent.channel, g_agent.pid, current_tid());
  // Storing a value for a key below PTHREAD_KEY_2NDLEVEL_SIZE writes a slot
  // of the thread descriptor and allocates nothing (checked at init).
  if (g_ring_key_ok) pthread_setspecific(g_ring_key, reinterpret_cast<void*>(uintptr_t(ring) + 1));
  return ring;
}

// Only device accesses are dropped when a ring is full (--drop-when-full):
// MAP, UNMAP, MARK and UNKNOWN records always wait, so the trace keeps
// meaning what it says about the mappings.
bool droppable(const void* record) {
  const auto type = static_cast<const trace::RecordHeader*>(record)->type;
  return type == static_cast<uint16_t>(trace::RecordType::ACCESS) ||
         type == static_cast<uint16_t>(trace::RecordType::ACCESS_RUN);
}

uint64_t seqs_of(const void* record) {
  const auto* h = static_cast<const trace::RecordHeader*>(record);
  if (h->type != static_cast<uint16_t>(trace::RecordType::ACCESS_RUN)) return 1;
  return static_cast<const trace::AccessRunRecord*>(record)->count;
}

}  // namespace

// Testing only (MMIOTRACE_TESTING_KILL_IN_LOCK=N, read at attach, not
// documented for users): the process kills itself with SIGKILL while holding
// the order lock for the Nth time, to test that the others take it over.
uint64_t g_kill_in_lock = 0;
// Testing only (MMIOTRACE_TESTING_KILL_AFTER_ACCESS=N): the process kills
// itself right after its Nth single device access, before the access's
// record is published, to test that the access is reported lost.
uint64_t g_kill_after_access = 0;

__thread uint32_t tls_tid __attribute__((tls_model("initial-exec"))) = 0;

uint32_t current_tid_slow() {
  tls_tid = static_cast<uint32_t>(syscall(SYS_gettid));
  return tls_tid;
}

uint64_t monotonic_ns() { return trace::channel_monotonic_ns(); }

void order_lock_contended() { trace::order_lock_acquire(g_agent.channel, current_tid()); }

void kill_in_lock_hook() {
  if (g_locks_taken.fetch_add(1, std::memory_order_relaxed) + 1 == g_kill_in_lock) syscall(SYS_kill, getpid(), SIGKILL);
}

void order_unlock() {
  MT_CHECK(holds_order_lock());
  trace::order_lock_release(g_agent.channel);
}

void give_back_seqs_locked(uint64_t next) { g_agent.channel->next_seq = next; }

void kill_after_access_hook() {
  if (g_accesses_made.fetch_add(1, std::memory_order_relaxed) + 1 == g_kill_after_access) {
    syscall(SYS_kill, getpid(), SIGKILL);
  }
}

uint64_t take_seqs_locked(uint64_t count) {
  MT_CHECK(holds_order_lock() && count != 0);
  uint64_t first = g_agent.channel->next_seq;
  g_agent.channel->next_seq += count;
  return first;
}

void stamp_and_push(void* record, size_t size) {
  auto* h = static_cast<trace::RecordHeader*>(record);
  order_lock();
  h->seq = take_seq_locked();
  h->time_ns = monotonic_ns();
  push_record(record, size);
  order_unlock();
}

void push_record(const void* record, size_t size) {
  if (g_agent.channel == nullptr || g_recorder_gone) return;
  MT_CHECK(size % 8 == 0 && size <= 65535);
  MT_CHECK(holds_order_lock());  // rings fill in seq order
  uint8_t* slot = reserve_record(size, droppable(record), seqs_of(record));
  if (slot == nullptr) return;
  memcpy(slot, record, size);
  commit_record();
}

namespace {
// Between reserve_record and commit_record: the head to commit; and the tail of
// tls_ring last read (reset whenever tls_ring changes).
constinit thread_local trace::RingCursor tls_cursor __attribute__((tls_model("initial-exec")));
}  // namespace

uint8_t* reserve_record(size_t size, bool droppable_record, uint64_t seqs) {
  trace::ChannelHeader* ch = g_agent.channel;
  if (ch == nullptr || g_recorder_gone) return nullptr;
  if (tls_ring < 0) {
    tls_ring = claim_ring();
    tls_cursor = trace::RingCursor{};
  }
  const bool drop = droppable_record && (ch->flags & trace::kChannelDropWhenFull) != 0;
  uint8_t* slot = nullptr;
  switch (trace::ring_reserve(ch, static_cast<uint32_t>(tls_ring), size,
                              drop ? trace::PushMode::DROP : trace::PushMode::WAIT, &slot, &tls_cursor)) {
    case trace::PushResult::PUSHED:
      return slot;
    case trace::PushResult::DROPPED:
      // Its seqs never arrive: the recorder writes a LOST record in their place.
      ch->dropped.fetch_add(seqs, std::memory_order_relaxed);
      break;
    case trace::PushResult::RECORDER_GONE:
      g_recorder_gone = true;  // nobody will ever read this ring again
      break;
  }
  return nullptr;
}

void commit_record() { trace::ring_commit(g_agent.channel, static_cast<uint32_t>(tls_ring), &tls_cursor); }

void release_thread_ring(void* value) {
  if (value == nullptr || g_agent.channel == nullptr) return;
  auto ring = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(value) - 1);
  trace::retire_ring(g_agent.channel, ring);
  if (tls_ring == static_cast<int32_t>(ring)) tls_ring = -1;
}

void producer_after_fork_child() {
  // The child's only thread starts with no ring: the parent's rings stay the parent's.
  tls_ring = -1;
  tls_tid = 0;
  if (g_ring_key_ok) pthread_setspecific(g_ring_key, nullptr);
}

void producer_init() {
  if (const char* k = getenv("MMIOTRACE_TESTING_KILL_IN_LOCK"); k != nullptr) g_kill_in_lock = strtoull(k, nullptr, 10);
  if (const char* k = getenv("MMIOTRACE_TESTING_KILL_AFTER_ACCESS"); k != nullptr) {
    g_kill_after_access = strtoull(k, nullptr, 10);
  }
  g_ring_key_ok = pthread_key_create(&g_ring_key, release_thread_ring) == 0 && g_ring_key < 32;
}

}  // namespace mmiotrace::agent
