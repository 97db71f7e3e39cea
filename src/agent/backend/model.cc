// Async-signal-safe: runs in the traced program's signal handler (access()
// under the order lock); model_wait_interrupt() in normal context, with the
// program's signals blocked while it holds the order lock. No allocation.
#include "agent/backend/model.h"

#include <linux/futex.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <climits>
#include <cstring>

#include "agent/device_memory.h"
#include "agent/producer.h"
#include "agent/session.h"
#include "common/handler_rules.h"
#include "mmiotrace/model.h"

MT_HANDLER_RULES

namespace mmiotrace::agent {

namespace {

constinit ModelBackend g_model_backend;

trace::SessionHeader& S() { return *session(); }

uint64_t program_ns() {
  const uint64_t now = monotonic_ns();
  return now > S().start_monotonic_ns ? now - S().start_monotonic_ns : 0;
}

uint64_t host_now(void*) { return program_ns(); }

void host_set_irq(void*, int level) {
  const uint32_t was = S().irq_level.exchange(level != 0 ? 1 : 0);
  if (was == 0 && level != 0) {
    S().interrupts.fetch_add(1);
    syscall(SYS_futex, &S().interrupts, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
  }
}

void host_wake_at(void*, uint64_t when) { S().model_deadline_ns.store(when); }

constexpr mmiotrace_model_host kHost = {nullptr, host_now, host_set_irq, host_wake_at};

void* state() { return trace::session_at<char>(session(), S().model_state_off); }

// Under the order lock: the model's advance(), if its deadline has passed.
void advance_if_due() {
  const mmiotrace_model* m = loaded_model();
  const uint64_t due = S().model_deadline_ns.load();
  if (m->advance == nullptr || due == 0 || program_ns() < due) return;
  S().model_deadline_ns.store(0);  // the model sets the next one
  m->advance(state(), &kHost);
}

uint64_t load_le(const uint8_t* p, unsigned n) {
  uint64_t v = 0;
  for (unsigned i = n; i-- > 0;) v = (v << 8) | p[i];
  return v;
}

void store_le(uint8_t* p, unsigned n, uint64_t v) {
  for (unsigned i = 0; i < n; ++i, v >>= 8) p[i] = static_cast<uint8_t>(v);
}

// One access of 1, 2, 4 or 8 bytes, as the model takes it.
void one(const mmiotrace_model* m, unsigned bar, uint64_t offset, unsigned width, bool write, uint8_t* bytes) {
  if (write) {
    m->write(state(), &kHost, bar, offset, width, load_le(bytes, width));
  } else {
    store_le(bytes, width, m->read(state(), &kHost, bar, offset, width));
  }
}

}  // namespace

Backend& model_backend() { return g_model_backend; }

emu::MemFault ModelBackend::access(DeviceAccess& a, TraceNotes&) {
  const mmiotrace_model* m = loaded_model();
  const trace::SessionDevice& d = session_device(a.region.backend_ref);
  const uint64_t offset = a.phys() - d.phys_base;
  advance_if_due();
  const bool whole = !a.masked || a.mask == (a.size >= 64 ? ~uint64_t{0} : (uint64_t{1} << a.size) - 1);
  if (whole && (a.size == 1 || a.size == 2 || a.size == 4 || a.size == 8)) {
    one(m, d.model_bar, offset, a.size, a.write, a.value);
    return {};
  }
  // Wider (vector) accesses as 8-byte pieces, as QEMU's memory core splits
  // them; a piece whose mask is not whole byte by byte.
  for (unsigned at = 0; at < a.size; at += 8) {
    const unsigned n = a.size - at < 8 ? a.size - at : 8;
    const uint64_t bits = (a.mask >> at) & ((uint64_t{1} << n) - 1);
    if (n == 8 && bits == 0xff) {
      one(m, d.model_bar, offset + at, 8, a.write, a.value + at);
      continue;
    }
    for (unsigned i = 0; i < n; ++i) {
      if ((bits >> i) & 1) one(m, d.model_bar, offset + at + i, 1, a.write, a.value + at + i);
    }
  }
  return {};
}

uint32_t model_interrupts() { return session_has(trace::kSessionModel) ? S().interrupts.load() : 0; }

uint32_t model_wait_interrupt(uint32_t seen) {
  for (;;) {
    const uint32_t now = S().interrupts.load();
    if (now != seen) return now;
    // Time passes for the model too: its advance() when due, under the
    // order lock (which is held with the program's signals blocked).
    sigset_t all, old;
    sigfillset(&all);
    sigdelset(&all, SIGSEGV);
    sigdelset(&all, SIGBUS);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    order_lock();
    advance_if_due();
    order_unlock();
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    if (S().interrupts.load() != seen) continue;
    // Sleep until the model's deadline, or an interrupt another thread's
    // access raised, or 10 ms (a deadline set meanwhile).
    uint64_t wait = 10'000'000;
    const uint64_t due = S().model_deadline_ns.load();
    const uint64_t t = program_ns();
    if (due != 0) wait = due > t ? (due - t < wait ? due - t : wait) : 0;
    if (wait == 0) continue;
    struct timespec ts = {static_cast<time_t>(wait / 1'000'000'000), static_cast<long>(wait % 1'000'000'000)};
    syscall(SYS_futex, &S().interrupts, FUTEX_WAIT, seen, &ts, nullptr, 0);
  }
}

}  // namespace mmiotrace::agent
