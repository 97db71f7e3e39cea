// Async-signal-safe: runs in the traced program's signal handler; no
// allocation, no locks but the order lock (see producer.h).
#include "agent/producer.h"

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

#include "agent/agent.h"
#include "common/check.h"
#include "trace/format.h"

namespace mmiotrace::agent {

namespace {

__thread int32_t tls_ring __attribute__((tls_model("initial-exec"))) = -1;
__thread uint32_t tls_tid __attribute__((tls_model("initial-exec"))) = 0;

pthread_key_t g_ring_key;
bool g_ring_key_ok = false;
bool g_recorder_gone = false;

void relax(unsigned& spins) {
  if (++spins < 64) {
    __builtin_ia32_pause();
  } else {
    syscall(SYS_sched_yield);
  }
}

// The recorder is the ring's only consumer; if it is gone, waiting is
// forever. Checked only after a long wait.
bool recorder_alive() {
  pid_t p = static_cast<pid_t>(g_agent.channel->recorder_pid);
  return p == 0 || kill(p, 0) == 0 || errno != ESRCH;
}

int32_t claim_ring() {
  trace::ChannelHeader* ch = g_agent.channel;
  trace::RingControl* rc = trace::ring_controls(ch);
  unsigned spins = 0;
  for (;;) {
    for (uint32_t i = 0; i < ch->ring_count; ++i) {
      uint32_t expected = static_cast<uint32_t>(trace::RingState::FREE);
      if (rc[i].state.load(std::memory_order_relaxed) != expected) continue;
      if (!rc[i].state.compare_exchange_strong(expected, static_cast<uint32_t>(trace::RingState::OWNED),
                                               std::memory_order_acq_rel)) {
        continue;
      }
      rc[i].owner_pid.store(g_agent.pid, std::memory_order_relaxed);
      rc[i].owner_tid.store(current_tid(), std::memory_order_relaxed);
      uint32_t hw = ch->ring_high_water.load(std::memory_order_relaxed);
      while (hw < i + 1 && !ch->ring_high_water.compare_exchange_weak(hw, i + 1)) {
      }
      // Storing a value for a key below PTHREAD_KEY_2NDLEVEL_SIZE writes a slot
      // of the thread descriptor and allocates nothing (checked at init).
      if (g_ring_key_ok) pthread_setspecific(g_ring_key, reinterpret_cast<void*>(uintptr_t{i} + 1));
      return static_cast<int32_t>(i);
    }
    // Every ring is owned by a live thread: wait for one to exit.
    relax(spins);
  }
}

void notify_recorder(trace::ChannelHeader* ch) {
  if (ch->recorder_waiting.load(std::memory_order_seq_cst) != 0) {
    ch->doorbell.fetch_add(1, std::memory_order_seq_cst);
    syscall(SYS_futex, &ch->doorbell, FUTEX_WAKE, 1, nullptr, nullptr, 0);
  }
}

}  // namespace

uint32_t current_tid() {
  if (tls_tid == 0) tls_tid = static_cast<uint32_t>(syscall(SYS_gettid));
  return tls_tid;
}

uint64_t monotonic_ns() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

void order_lock() {
  std::atomic<uint32_t>& l = g_agent.channel->order_lock;
  unsigned spins = 0;
  for (;;) {
    if (l.load(std::memory_order_relaxed) == 0 && l.exchange(1, std::memory_order_acquire) == 0) return;
    relax(spins);
  }
}

void order_unlock() { g_agent.channel->order_lock.store(0, std::memory_order_release); }

uint64_t take_seq_locked() { return g_agent.channel->next_seq++; }

uint64_t take_seqs_locked(uint64_t count) {
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
  trace::ChannelHeader* ch = g_agent.channel;
  if (ch == nullptr || g_recorder_gone) return;
  MT_CHECK(size % 8 == 0 && size <= 65535);
  if (tls_ring < 0) tls_ring = claim_ring();
  trace::RingControl& rc = trace::ring_controls(ch)[tls_ring];
  uint8_t* data = trace::ring_data(ch, static_cast<uint32_t>(tls_ring));
  const uint64_t ring_bytes = ch->ring_bytes;
  uint64_t head = rc.head.load(std::memory_order_relaxed);
  uint64_t off = head & (ring_bytes - 1);
  uint64_t pad = off + size > ring_bytes ? ring_bytes - off : 0;
  unsigned spins = 0;
  uint64_t waited = 0;
  while (head + pad + size - rc.tail.load(std::memory_order_acquire) > ring_bytes) {
    notify_recorder(ch);
    relax(spins);
    if (++waited % (1u << 20) == 0 && !recorder_alive()) {
      g_recorder_gone = true;  // nobody will ever read this ring again
      return;
    }
  }
  if (pad != 0) {
    // The record does not fit before the end of the ring: a PAD marker sends
    // the reader back to the start.
    uint16_t type = static_cast<uint16_t>(trace::RecordType::PAD);
    memcpy(data + off, &type, sizeof(type));
    head += pad;
    off = 0;
  }
  memcpy(data + off, record, size);
  rc.head.store(head + size, std::memory_order_seq_cst);
  // Waking the recorder costs a system call: do it only once the ring is half
  // full. The recorder also looks every few milliseconds on its own.
  if (head + size - rc.tail.load(std::memory_order_relaxed) > ring_bytes / 2) notify_recorder(ch);
}

void release_thread_ring(void* value) {
  if (value == nullptr || g_agent.channel == nullptr) return;
  auto ring = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(value) - 1);
  trace::ring_controls(g_agent.channel)[ring].state.store(static_cast<uint32_t>(trace::RingState::RETIRED),
                                                           std::memory_order_release);
  if (tls_ring == static_cast<int32_t>(ring)) tls_ring = -1;
  notify_recorder(g_agent.channel);
}

void producer_after_fork_child() {
  // The child's only thread starts with no ring: the parent's rings stay the parent's.
  tls_ring = -1;
  tls_tid = 0;
  if (g_ring_key_ok) pthread_setspecific(g_ring_key, nullptr);
}

void producer_init() {
  g_ring_key_ok = pthread_key_create(&g_ring_key, release_thread_ring) == 0 && g_ring_key < 32;
}

}  // namespace mmiotrace::agent
