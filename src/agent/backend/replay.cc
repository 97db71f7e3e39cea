// Async-signal-safe: runs in the traced program's signal handler; no
// allocation; access() under the order lock, waits outside it (futex).
#include "agent/backend/replay.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <climits>
#include <cstring>

#include "agent/agent.h"
#include "agent/device_memory.h"
#include "agent/exit_barrier.h"
#include "agent/producer.h"
#include "agent/safe_format.h"
#include "agent/session.h"
#include "common/check.h"
#include "common/handler_rules.h"
#include "trace/format.h"

MT_HANDLER_RULES

namespace mmiotrace::agent {

namespace {

using trace::ReplayEvent;
using trace::ReplayStream;

constinit ReplayBackend g_replay;

// How many later recorded accesses of its thread the lenient policy looks at
// for one that matches, before it calls an access extra.
constexpr uint64_t kLookahead = 16;
constexpr uint64_t kNoEvent = UINT64_MAX;

// This thread's part in the replay.
struct ReplayThread {
  int32_t stream;  // the recorded thread it plays, -1: none yet
  uint32_t pid;    // the process that bound it (a fork child's threads start over)
  bool consumed;   // consumed an event since enter(): wake the waiters at leave()
  bool diverged;   // found the divergence that stops the replay (strict): ends the process at leave()
  bool held;       // already waited at the end of its recording
};
constinit thread_local ReplayThread tls __attribute__((tls_model("initial-exec"))) = {-1, 0, false, false, false};

trace::SessionHeader& S() { return *session(); }
ReplayEvent& event(uint64_t i) { return trace::session_at<ReplayEvent>(&S(), S().events_off)[i]; }
ReplayStream& stream(uint32_t i) { return trace::session_at<ReplayStream>(&S(), S().streams_off)[i]; }
trace::ReplayProcess& process(uint32_t i) {
  return trace::session_at<trace::ReplayProcess>(&S(), S().processes_off)[i];
}
uint64_t stream_event(const ReplayStream& s, uint64_t k) {
  return trace::session_at<uint64_t>(&S(), S().stream_events_off)[s.first + k];
}
uint8_t* consumed_flags() { return trace::session_at<uint8_t>(&S(), S().consumed_off); }
const uint8_t* event_value(const ReplayEvent& e) { return trace::session_at<uint8_t>(&S(), e.value_off); }
bool strict() { return S().policy == static_cast<uint32_t>(trace::ReplayPolicy::STRICT); }

uint64_t now_ns() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

// The strict policy found a divergence: every process of the program stops.
// This one ends here; the others notice `diverged` at their next wait or
// access, and the CLI ends whatever is left.
[[noreturn]] void stop_process() {
  S().progress.fetch_add(1, std::memory_order_seq_cst);
  syscall(SYS_futex, &S().progress, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
  syscall(SYS_exit_group, kReplayDivergedStatus);
  __builtin_unreachable();
}

// The index of the process of the replay that plays recorded process `p`...
// or whether this process plays none yet.
int32_t my_process() {
  for (uint32_t i = 0; i < S().process_count; ++i) {
    if (process(i).bound_pid.load(std::memory_order_acquire) == g_agent.pid) return static_cast<int32_t>(i);
  }
  return -1;
}

// The recorded thread this thread plays, if it is bound: kept in TLS, or
// found by its thread id (a program that exec'd keeps its thread id and its
// recorded thread).
int32_t my_stream() {
  if (tls.pid != g_agent.pid) tls = ReplayThread{-1, g_agent.pid, false, false, false};
  if (tls.stream >= 0) return tls.stream;
  const uint32_t tid = current_tid();
  const int32_t p = my_process();
  if (p < 0) return -1;
  for (uint32_t i = 0; i < S().stream_count; ++i) {
    ReplayStream& s = stream(i);
    if (s.process == static_cast<uint32_t>(p) && s.bound_tid.load(std::memory_order_acquire) == tid) {
      tls.stream = static_cast<int32_t>(i);
      return tls.stream;
    }
  }
  return -1;
}

// Binds this thread to recorded thread `i` if nobody plays it and its
// process is this one's (or unplayed, and this process plays no other).
bool try_bind(uint32_t i) {
  ReplayStream& s = stream(i);
  if (s.bound_tid.load(std::memory_order_acquire) != 0) return false;
  trace::ReplayProcess& p = process(s.process);
  uint32_t pid = p.bound_pid.load(std::memory_order_acquire);
  if (pid != g_agent.pid) {
    if (pid != 0 || my_process() >= 0) return false;
    if (!p.bound_pid.compare_exchange_strong(pid, g_agent.pid) && pid != g_agent.pid) return false;
  }
  uint32_t none = 0;
  if (!s.bound_tid.compare_exchange_strong(none, current_tid())) return false;
  tls.stream = static_cast<int32_t>(i);
  return true;
}

// The first not yet consumed event, from the cursor up, whose recorded thread
// this thread could play; kNoEvent if none.
uint64_t first_bindable(bool only_cursor) {
  const uint64_t n = S().event_count;
  const uint8_t* done = consumed_flags();
  for (uint64_t i = S().cursor.load(std::memory_order_acquire); i < n; ++i) {
    if (__atomic_load_n(&done[i], __ATOMIC_ACQUIRE) != 0) continue;
    const ReplayStream& s = stream(event(i).stream);
    if (s.bound_tid.load(std::memory_order_acquire) == 0) {
      const uint32_t pid = process(s.process).bound_pid.load(std::memory_order_acquire);
      if (pid == g_agent.pid || (pid == 0 && my_process() < 0)) return i;
    }
    if (only_cursor) return kNoEvent;
  }
  return kNoEvent;
}

// The index of this thread's next recorded event, kNoEvent past its last.
uint64_t next_event_of(int32_t si) {
  const ReplayStream& s = stream(static_cast<uint32_t>(si));
  const uint64_t pos = s.pos.load(std::memory_order_acquire);
  return pos < s.count ? stream_event(s, pos) : kNoEvent;
}

bool same_access(const ReplayEvent& e, const DeviceAccess& a, bool* value_differs);

// A thread's first access: it plays the recorded thread (not yet played, of
// its process) whose next access this one is, the earliest if several are;
// none matching, it waits for the first one due (wait()).
void bind_by_content(const DeviceAccess& first) {
  for (;;) {
    uint64_t best = kNoEvent;
    uint32_t best_stream = 0;
    for (uint32_t i = 0; i < S().stream_count; ++i) {
      const ReplayStream& s = stream(i);
      if (s.bound_tid.load(std::memory_order_acquire) != 0) continue;
      const uint32_t pid = process(s.process).bound_pid.load(std::memory_order_acquire);
      if (pid != g_agent.pid && (pid != 0 || my_process() >= 0)) continue;
      const uint64_t pos = s.pos.load(std::memory_order_acquire);
      if (pos >= s.count) continue;
      const uint64_t e = stream_event(s, pos);
      bool value_differs;
      if (e < best && same_access(event(e), first, &value_differs)) {
        best = e;
        best_stream = i;
      }
    }
    if (best == kNoEvent || try_bind(best_stream)) return;
  }
}

enum class WaitFor { TURN, END };

// Waits (outside the order lock) until it is this thread's turn (every event
// recorded before its next one consumed), or, for END, until every event is.
// A thread that plays no recorded thread yet binds to the one whose event is
// due. Gives up after the stall timeout without progress.
void wait(WaitFor what) {
  uint32_t seen = S().progress.load(std::memory_order_acquire);
  uint64_t last_progress = now_ns();
  for (;;) {
    if (S().diverged.load(std::memory_order_acquire) != 0) stop_process();
    park_if_exiting();
    const uint64_t cursor = S().cursor.load(std::memory_order_acquire);
    if (what == WaitFor::END) {
      if (cursor >= S().event_count) return;
    } else if (tls.stream < 0) {
      if (cursor >= S().event_count) return;  // nothing left to play: an extra access
      const uint64_t due = first_bindable(true);
      if (due != kNoEvent && try_bind(event(due).stream)) continue;
    } else {
      const uint64_t next = next_event_of(tls.stream);
      if (next == kNoEvent || cursor >= next) return;
    }
    const uint64_t now = now_ns();
    if (now - last_progress > S().stall_timeout_ns) {
      // Nothing moved for too long: whatever this thread waits for is not coming
      // (another thread blocks on this one, or the program changed). Go on out of order.
      if (what == WaitFor::TURN && tls.stream < 0) {
        const uint64_t any = first_bindable(false);
        if (any != kNoEvent && try_bind(event(any).stream)) S().reordered.fetch_add(1, std::memory_order_relaxed);
      } else if (what == WaitFor::TURN) {
        S().reordered.fetch_add(1, std::memory_order_relaxed);
      }
      return;
    }
    struct timespec ts = {0, 20'000'000};
    syscall(SYS_futex, &S().progress, FUTEX_WAIT, seen, &ts, nullptr, 0);
    const uint32_t p = S().progress.load(std::memory_order_acquire);
    if (p != seen) {
      seen = p;
      last_progress = now_ns();
    }
  }
}

// Under the order lock: event `i` of this thread's recorded thread is replayed.
void consume(uint64_t i) {
  uint8_t* done = consumed_flags();
  __atomic_store_n(&done[i], 1, __ATOMIC_RELEASE);
  ReplayStream& s = stream(event(i).stream);
  s.pos.fetch_add(1, std::memory_order_acq_rel);
  uint64_t c = S().cursor.load(std::memory_order_relaxed);
  while (c < S().event_count && __atomic_load_n(&done[c], __ATOMIC_ACQUIRE) != 0) ++c;
  S().cursor.store(c, std::memory_order_release);
  S().progress.fetch_add(1, std::memory_order_release);
  tls.consumed = true;
}

uint64_t full_mask(unsigned width) { return width >= 64 ? ~uint64_t{0} : (uint64_t{1} << width) - 1; }

// Whether the program's access is the recorded event (register, width,
// direction, bytes); *value_differs: a write of the same bytes with another value.
bool same_access(const ReplayEvent& e, const DeviceAccess& a, bool* value_differs) {
  *value_differs = false;
  const uint64_t mask = a.masked ? a.mask : full_mask(a.size);
  if (e.device != a.region.backend_ref || e.phys != a.phys() || e.width != a.size ||
      e.op != static_cast<uint8_t>(a.write ? trace::AccessOp::WRITE : trace::AccessOp::READ) || e.mask != mask) {
    return false;
  }
  if (a.write) {
    const uint8_t* want = event_value(e);
    for (unsigned i = 0; i < a.size; ++i) {
      if (((mask >> i) & 1) != 0 && want[i] != a.value[i]) *value_differs = true;
    }
  }
  return true;
}

// The backing memfd (the agent's real mapping of it) keeps every byte's last value.
uint8_t* shadow(const DeviceAccess& a) { return a.region.real_pointer(a.addr); }

void copy_masked(uint8_t* dst, const uint8_t* src, unsigned size, uint64_t mask) {
  for (unsigned i = 0; i < size; ++i) {
    if (((mask >> i) & 1) != 0) dst[i] = src[i];
  }
}

// The access is what the recording says it was.
void replay_event(uint64_t i, DeviceAccess& a) {
  const ReplayEvent& e = event(i);
  if (!a.write) copy_masked(a.value, event_value(e), a.size, e.mask);
  copy_masked(shadow(a), a.write ? a.value : event_value(e), a.size, e.mask);
  consume(i);
}

// The access matches nothing recorded: it sees and leaves the register's last value.
void answer_from_shadow(DeviceAccess& a) {
  const uint64_t mask = a.masked ? a.mask : full_mask(a.size);
  if (a.write) {
    copy_masked(shadow(a), a.value, a.size, mask);
  } else {
    copy_masked(a.value, shadow(a), a.size, mask);
  }
}

void describe_access(SafeBuf& m, char op, unsigned width, uint64_t phys, const uint8_t* value, bool with_value) {
  m.str(op == 'W' ? "W " : "R ").dec(width).str(" ").hex(phys);
  if (!with_value) return;
  uint64_t v = 0;
  memcpy(&v, value, width < 8 ? width : 8);
  m.str(" ").hex(v);
  if (width > 8) m.str("...");
}

// Keeps the divergence for the CLI's report, and says it in the trace.
void note_divergence(trace::DivergenceKind kind, uint64_t i, const DeviceAccess& a, TraceNotes& notes) {
  S().divergences.fetch_add(1, std::memory_order_relaxed);
  const uint32_t slot = S().stored_divergences.load(std::memory_order_relaxed);
  if (slot < trace::kMaxStoredDivergences) {
    trace::ReplayDivergence& d = S().divergence[slot];
    d.kind = static_cast<uint32_t>(kind);
    d.tid = current_tid();
    d.pid = g_agent.pid;
    d.device = a.region.backend_ref;
    d.event = i;
    d.phys = a.phys();
    d.pc = a.ctx.pc;
    d.mask = a.masked ? a.mask : full_mask(a.size);
    d.op = static_cast<uint8_t>(a.write ? trace::AccessOp::WRITE : trace::AccessOp::READ);
    d.width = static_cast<uint8_t>(a.size);
    d.insn_len = a.ctx.insn_len;
    memcpy(d.insn, a.ctx.insn, sizeof d.insn);
    memset(d.value, 0, sizeof d.value);
    if (a.write) memcpy(d.value, a.value, a.size);
    S().stored_divergences.store(slot + 1, std::memory_order_release);
  }
  SafeBuf m;
  m.str("mmiotrace: replay diverged: ");
  describe_access(m, a.write ? 'W' : 'R', a.size, a.phys(), a.value, a.write);
  m.str(" at pc ").hex(a.ctx.pc);
  if (i != kNoEvent) {
    const ReplayEvent& e = event(i);
    m.str(", recorded ");
    describe_access(m, e.op == static_cast<uint8_t>(trace::AccessOp::WRITE) ? 'W' : 'R', e.width, e.phys,
                    event_value(e), e.op == static_cast<uint8_t>(trace::AccessOp::WRITE));
    m.str(" at pc ").hex(e.pc).str(" (seq ").dec(e.seq).str(")");
  } else {
    m.str(kind == trace::DivergenceKind::NO_THREAD ? ", the recording has no thread left for this one"
                                                   : ", after this thread's last recorded access");
  }
  notes.mark(m.data(), m.size());
}

// Lenient: a later recorded access of this thread that the program's access
// is (the program skipped the ones between); kNoEvent if none within reach.
uint64_t look_ahead(int32_t si, const DeviceAccess& a) {
  const ReplayStream& s = stream(static_cast<uint32_t>(si));
  const uint64_t pos = s.pos.load(std::memory_order_relaxed);
  for (uint64_t k = pos + 1; k < s.count && k <= pos + kLookahead; ++k) {
    bool differs;
    if (same_access(event(stream_event(s, k)), a, &differs) && !differs) return k;
  }
  return kNoEvent;
}

}  // namespace

Backend& replay_backend() { return g_replay; }

void ReplayBackend::enter(const DeviceAccess& first) {
  tls.consumed = false;
  if (my_stream() < 0) bind_by_content(first);
  wait(WaitFor::TURN);
}

emu::MemFault ReplayBackend::access(DeviceAccess& a, TraceNotes& notes) {
  const int32_t si = tls.stream;
  const uint64_t next = si >= 0 ? next_event_of(si) : kNoEvent;
  bool value_differs = false;
  if (next != kNoEvent && same_access(event(next), a, &value_differs) && !value_differs) {
    replay_event(next, a);
    return {};
  }
  const trace::DivergenceKind kind = si < 0             ? trace::DivergenceKind::NO_THREAD
                                     : next == kNoEvent ? trace::DivergenceKind::EXTRA
                                     : value_differs    ? trace::DivergenceKind::VALUE
                                                        : trace::DivergenceKind::DIFFERENT;
  if (strict()) {
    uint32_t none = 0;
    if (S().diverged.compare_exchange_strong(none, 1)) {
      tls.diverged = true;
      note_divergence(kind, next, a, notes);
    }
    answer_from_shadow(a);
    return {};
  }
  note_divergence(kind, next, a, notes);
  if (kind == trace::DivergenceKind::VALUE) {
    // The same register written with another value: the recorded access is
    // this one; the register keeps what the program wrote.
    answer_from_shadow(a);
    consume(next);
    return {};
  }
  if (kind == trace::DivergenceKind::DIFFERENT) {
    if (const uint64_t k = look_ahead(si, a); k != kNoEvent) {
      // The program skipped recorded accesses: they are consumed unmade.
      const ReplayStream& s = stream(static_cast<uint32_t>(si));
      while (s.pos.load(std::memory_order_relaxed) < k) consume(stream_event(s, s.pos.load(std::memory_order_relaxed)));
      replay_event(stream_event(s, k), a);
      return {};
    }
  }
  answer_from_shadow(a);
  return {};
}

void ReplayBackend::leave(const DeviceAccess&) {
  if (tls.consumed) {
    tls.consumed = false;
    syscall(SYS_futex, &S().progress, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
  }
  // Strict: the divergence this thread found, or another's, stops this process.
  if (tls.diverged || S().diverged.load(std::memory_order_acquire) != 0) stop_process();
}

void replay_before_sleep() {
  if (!session_has(trace::kSessionReplay) || !attached()) return;
  const int32_t si = my_stream();
  if (si < 0 || tls.held || next_event_of(si) != kNoEvent) return;
  tls.held = true;
  wait(WaitFor::END);
}

}  // namespace mmiotrace::agent
