// Async-signal-safe: runs in the traced program's signal handler; no
// allocation; access() under the order lock, delays outside it.
#include "agent/backend/inject.h"

#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

#include "agent/device_memory.h"
#include "agent/exit_barrier.h"
#include "agent/safe_format.h"
#include "agent/session.h"
#include "common/handler_rules.h"
#include "trace/format.h"

MT_HANDLER_RULES

namespace mmiotrace::agent {

namespace {

using trace::InjectAction;
using trace::InjectRule;
using trace::InjectWhere;

constinit InjectBackend g_inject;

// A delay enter() applied, for the mark access() makes.
struct PendingDelay {
  int32_t rule;  // -1: none
  uint64_t ns;
};
constinit thread_local PendingDelay tls_delay __attribute__((tls_model("initial-exec"))) = {-1, 0};

InjectRule* rules() { return trace::session_at<InjectRule>(session(), session()->rules_off); }

uint64_t now_ns() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

// The rule's address, as a byte of the access (bytes from its start); false
// if the access does not cover it.
bool covers(const InjectRule& r, const DeviceAccess& a, unsigned* at) {
  uint64_t first = 0;
  switch (static_cast<InjectWhere>(r.where)) {
    case InjectWhere::ANY:
      *at = 0;
      return true;
    case InjectWhere::OFFSET:
      first = a.region.offset_at(a.addr).value();
      break;
    case InjectWhere::PHYS:
      first = a.phys();
      break;
  }
  if (r.addr < first || r.addr - first >= a.size) return false;
  *at = static_cast<unsigned>(r.addr - first);
  return true;
}

// Whether rule `r` matches access `a` (direction, width, address) and, if so,
// whether this match is one it applies to (which match, when). Counts the match.
bool applies(InjectRule& r, const DeviceAccess& a, unsigned* at) {
  if ((r.ops & (a.write ? trace::kInjectWrite : trace::kInjectRead)) == 0) return false;
  if (r.width != 0 && r.width != a.size) return false;
  if (!covers(r, a, at)) return false;
  const uint64_t n = __atomic_add_fetch(&r.matched, 1, __ATOMIC_RELAXED);
  if (n < r.from || n - r.from >= r.count) return false;
  const uint64_t t = now_ns() - session()->start_monotonic_ns;
  if (t < r.after_ns || t >= r.until_ns) return false;
  __atomic_add_fetch(&r.applied, 1, __ATOMIC_RELAXED);
  return true;
}

// splitmix64: the seeded, reproducible bytes of `random` rules.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Applies a read rule to the value's bytes from `at` on.
void change(const InjectRule& r, uint32_t index, unsigned at, unsigned size, uint64_t mask, uint8_t* v) {
  const auto action = static_cast<InjectAction>(r.action);
  if (action == InjectAction::ALL_ONES) {
    for (unsigned i = 0; i < size; ++i) {
      if (((mask >> i) & 1) != 0) v[i] = 0xff;
    }
    return;
  }
  uint64_t operand = r.operand;
  if (action == InjectAction::RANDOM) {
    operand = mix(session()->seed ^ mix(index + 1) ^ __atomic_load_n(&r.matched, __ATOMIC_RELAXED));
  }
  // Bytes of the register the rule names: its width, else the rest of the access (at most 8).
  unsigned width = r.width != 0 ? r.width : size - at;
  if (width > 8) width = 8;
  for (unsigned i = 0; i < 8 && at + i < size; ++i) {
    const auto b = static_cast<uint8_t>(operand >> (8 * i));
    uint8_t& d = v[at + i];
    switch (action) {
      case InjectAction::VALUE:
      case InjectAction::RANDOM:
        if (i < width) d = b;
        break;
      case InjectAction::SET:
        d |= b;
        break;
      case InjectAction::CLEAR:
        d &= static_cast<uint8_t>(~b);
        break;
      case InjectAction::FLIP:
        d ^= b;
        break;
      default:
        break;
    }
  }
}

uint64_t low_value(const uint8_t* v, unsigned size) {
  uint64_t x = 0;
  memcpy(&x, v, size < 8 ? size : 8);
  return x;
}

void mark(TraceNotes& notes, const InjectRule& r, const DeviceAccess& a, const char* what, const uint8_t* before) {
  SafeBuf m;
  m.str("mmiotrace: inject '").str(r.text).str("': ").str(a.write ? "W " : "R ").dec(a.size).str(" ").hex(a.phys());
  m.str(" ").hex(low_value(before, a.size));
  if (a.size > 8) m.str("...");
  m.str(" ").str(what);
  if (!a.write && what[0] == '-') {
    m.str(" ").hex(low_value(a.value, a.size));
    if (a.size > 8) m.str("...");
  }
  notes.mark(m.data(), m.size());
}

}  // namespace

Backend& inject_backend() { return g_inject; }

void InjectBackend::enter(const DeviceAccess& first) {
  trace::SessionHeader* s = session();
  for (uint32_t i = 0; i < s->rule_count; ++i) {
    InjectRule& r = rules()[i];
    unsigned at;
    if (r.action != static_cast<uint8_t>(InjectAction::DELAY) || !applies(r, first, &at)) continue;
    tls_delay = PendingDelay{static_cast<int32_t>(i), r.delay_ns};
    struct timespec ts = {static_cast<time_t>(r.delay_ns / 1000000000u), static_cast<long>(r.delay_ns % 1000000000u)};
    while (syscall(SYS_nanosleep, &ts, &ts) != 0) park_if_exiting();  // interrupted: sleep the rest
  }
  base_backend(first.region).enter(first);
}

emu::MemFault InjectBackend::access(DeviceAccess& a, TraceNotes& notes) {
  trace::SessionHeader* s = session();
  const uint64_t mask = a.masked ? a.mask : (a.size >= 64 ? ~uint64_t{0} : (uint64_t{1} << a.size) - 1);
  bool changed = false;
  if (a.write) {
    for (uint32_t i = 0; i < s->rule_count && !changed; ++i) {
      InjectRule& r = rules()[i];
      const auto action = static_cast<InjectAction>(r.action);
      unsigned at;
      if ((action != InjectAction::DROP && action != InjectAction::ALL_ONES) || !applies(r, a, &at)) continue;
      mark(notes, r, a, "dropped", a.value);
      changed = true;  // the write never reaches the device
    }
  }
  if (!changed) {
    const emu::MemFault f = base_backend(a.region).access(a, notes);
    if (!f.ok()) return f;
  }
  for (uint32_t i = 0; i < s->rule_count && !a.write; ++i) {
    InjectRule& r = rules()[i];
    if (r.action == static_cast<uint8_t>(InjectAction::DELAY) || r.action == static_cast<uint8_t>(InjectAction::DROP)) {
      continue;
    }
    unsigned at;
    if (!applies(r, a, &at)) continue;
    uint8_t was[trace::kMaxAccessWidth];
    memcpy(was, a.value, a.size);
    change(r, i, at, a.size, mask, a.value);
    mark(notes, r, a, "->", was);
    changed = true;
  }
  if (tls_delay.rule >= 0) {
    SafeBuf d;
    d.str("delayed ").dec(tls_delay.ns).str(" ns");
    char what[48];
    d.copy_to(what, sizeof what);
    mark(notes, rules()[tls_delay.rule], a, what, a.value);
    tls_delay.rule = -1;
    changed = true;
  }
  if (changed) {
    a.flags |= trace::kAccessInjected;
    s->injected.fetch_add(1, std::memory_order_relaxed);
  }
  return {};
}

void InjectBackend::leave(const DeviceAccess& last) { base_backend(last.region).leave(last); }

}  // namespace mmiotrace::agent
