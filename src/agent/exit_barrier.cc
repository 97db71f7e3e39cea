// Async-signal-safe: enter_access/leave_access run in the traced program's
// signal handler; exit_barrier runs on exit paths. Atomics and raw system
// calls only.
#include "agent/exit_barrier.h"

#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

#include "agent/agent.h"
#include "agent/producer.h"
#include "common/check.h"
#include "common/handler_rules.h"
#include "trace/channel_producer.h"

MT_HANDLER_RULES

namespace mmiotrace::agent {

namespace {
std::atomic<uint32_t> g_in_flight{0};
// This thread's accesses in flight (enter_access without leave_access yet).
constinit thread_local uint32_t tls_in_flight __attribute__((tls_model("initial-exec"))) = 0;

[[noreturn]] void park_forever() {
  for (;;) pause();  // every signal but the agent's is blocked: wait for the process to end
}
}  // namespace

std::atomic<uint32_t> g_exiting_tid{0};

void enter_access() {
  g_in_flight.fetch_add(1, std::memory_order_seq_cst);
  uint32_t exiting = g_exiting_tid.load(std::memory_order_seq_cst);
  if (exiting != 0 && exiting != current_tid()) {
    g_in_flight.fetch_sub(1, std::memory_order_seq_cst);
    park_forever();
  }
  ++tls_in_flight;
}

void leave_access() {
  const uint32_t before = g_in_flight.fetch_sub(1, std::memory_order_seq_cst);
  MT_CHECK(before != 0 && tls_in_flight != 0);  // every leave_access() pairs with an enter_access()
  --tls_in_flight;
}

void park_if_exiting() {
  const uint32_t exiting = g_exiting_tid.load(std::memory_order_seq_cst);
  if (exiting == 0 || exiting == current_tid()) return;
  // The access this thread waits in will not complete: it no longer holds the exit up.
  g_in_flight.fetch_sub(tls_in_flight, std::memory_order_seq_cst);
  tls_in_flight = 0;
  park_forever();
}

void park_exiting_locked() {
  order_unlock();
  park_forever();
}

void exit_barrier() {
  // A vfork child shares this memory with its parent, which lives on: it must
  // not stop the parent's threads.
  if (static_cast<uint32_t>(getpid()) != g_agent.pid) return;
  uint32_t self = current_tid();
  uint32_t expected = 0;
  if (!g_exiting_tid.compare_exchange_strong(expected, self, std::memory_order_seq_cst) && expected != self) {
    return;  // another thread is already ending the process
  }
  // Wait for accesses in flight on other threads; bounded, in case one of
  // them is stuck (for instance waiting on a recorder that died).
  for (int i = 0; i < 100000 && g_in_flight.load(std::memory_order_seq_cst) != 0; ++i) {
    struct timespec ts = {0, 10000};
    syscall(SYS_nanosleep, &ts, nullptr);  // not the interposer (interpose_sleep.cc)
  }
  // The fast path's accesses are not counted in g_in_flight: they are made
  // and recorded within one hold of the order lock, and look at
  // g_exiting_tid under it (park_if_exiting_locked). Taking the lock once
  // (bounded, as above) waits for the one in progress, if any; every later
  // holder sees g_exiting_tid (its acquire follows this release) and parks.
  if (attached() && !holds_order_lock() && trace::order_lock_acquire(g_agent.channel, self, 1000ull * 1000 * 1000)) {
    trace::order_lock_release(g_agent.channel);
  }
}

}  // namespace mmiotrace::agent
