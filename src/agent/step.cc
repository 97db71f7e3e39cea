// Async-signal-safe: runs in the traced program's signal handler. No
// allocation (the step's state is initial-exec TLS), no lock but the order
// lock (held from the fault to the trap, step.h), raw system calls only.
#include "agent/step.h"

#include <signal.h>
#include <sys/mman.h>
#include <ucontext.h>

#include <cstdlib>
#include <cstring>

#include "agent/agent.h"
#include "agent/arming.h"
#include "agent/exit_barrier.h"
#include "agent/producer.h"
#include "agent/step_plan.h"
#include "common/handler_rules.h"
#include "emu/cpu_state.h"
#include "trace/format.h"

MT_HANDLER_RULES

namespace mmiotrace::agent {

namespace {

constexpr uint64_t kPage = 4096;
constexpr unsigned kMaxOpened = 8;

struct Opened {
  RegionInfo region;
  uint64_t start;
  uint64_t end;
};

// One thread's step in progress, from the fault to the trap.
struct StepState {
  bool active;
  bool program_tf;   // the program had TF set itself: it gets the trap too
  bool key_opened;   // the agent's key is open in the frame's PKRU
  bool holds_order;  // this thread holds the order lock until the step ends (step.h, Order)
  uint8_t record_flags;
  uint64_t pc;
  sigset_t saved_mask;  // the program's mask, restored at the trap
  FaultContext ctx;
  unsigned n_opened;
  Opened opened[kMaxOpened];  // ranges opened with mprotect
  unsigned rep_bits;          // emu::rep_count_bits of the instruction: 0 unless a REP string instruction
  uint64_t traps_let_go;      // MMIOTRACE_TESTING_STEP_LOSE_TRAPS: traps of this instruction passed over
  StepPlan plan;
};

// Testing only (MMIOTRACE_TESTING_STEP_LOSE_TRAPS=N, step_init): pass over N
// traps in a row in the middle of a REP string instruction, as if they had
// been lost, so that the next trap comes N + 1 iterations after the plan.
uint64_t g_testing_lose_traps = 0;

// Constant-initialized and trivially destructible: no TLS wrapper, nothing runs at thread start or exit.
constinit thread_local StepState tls_step __attribute__((tls_model("initial-exec"))) = {};

uint64_t page_down(uint64_t v) { return v & ~(kPage - 1); }
uint64_t page_up(uint64_t v) { return (v + kPage - 1) & ~(kPage - 1); }

void close_opened(StepState& st) {
  for (unsigned i = 0; i < st.n_opened; ++i)
    open_pages(st.opened[i].region, st.opened[i].start, st.opened[i].end, false);
  st.n_opened = 0;
}

// Opens every traced page the plan's accesses touch. False if one cannot be.
bool open_accesses(StepState& st, ucontext_t* uc, bool* used_mprotect) {
  bool need_key = false;
  for (unsigned k = 0; k < st.plan.n; ++k) {
    const StepAccess& a = st.plan.acc[k];
    const uint64_t end = a.addr + a.size;
    for (uint64_t pos = a.addr; pos < end;) {
      RegionInfo r;
      if (!g_agent.regions.find(pos, &r)) {
        pos = g_agent.regions.next_start_after(pos);
        continue;
      }
      const uint64_t stop = r.end < end ? r.end : end;
      if (r.pkey >= 0) {
        need_key = true;
      } else {
        const uint64_t lo = page_down(pos), hi = page_up(stop);
        bool have = false;
        for (unsigned i = 0; i < st.n_opened; ++i) have = have || (st.opened[i].start == lo && st.opened[i].end == hi);
        if (!have) {
          if (st.n_opened == kMaxOpened) return false;
          st.opened[st.n_opened++] = Opened{r, lo, hi};
          open_pages(r, lo, hi, true);
          *used_mprotect = true;
        }
      }
      pos = stop;
    }
  }
  if (need_key) {
    if (!frame_open_key(uc, true)) return false;
    st.key_opened = true;
  }
  return true;
}

void set_tf(ucontext_t* uc, bool on) {
  auto& fl = uc->uc_mcontext.gregs[REG_EFL];
  fl = on ? (fl | static_cast<greg_t>(emu::kFlagTF)) : (fl & ~static_cast<greg_t>(emu::kFlagTF));
}

// Ends the step in frame `uc` (the trap's, or a fault's that aborts it).
void finish(StepState& st, ucontext_t* uc) {
  if (st.key_opened) frame_open_key(uc, false);
  st.key_opened = false;
  close_opened(st);
  uc->uc_sigmask = st.saved_mask;
  set_tf(uc, st.program_tf);
  st.active = false;
  if (st.holds_order) {
    st.holds_order = false;
    order_unlock();
  }
  leave_access();
}

// How many iterations of the stepped instruction the CPU ran before this
// trap. One, except for a REP string instruction whose trap came later than
// after the iteration planned: its count register says how many ran (each
// takes one off it). On the machines this was tested on every iteration
// traps (docs/record.md); under virtualisation the hypervisor takes
// interrupts between iterations, and a trap it delayed or lost would cover
// several. The testing hook above makes that happen. 0: none ran.
uint64_t iterations_run(const StepState& st, const ucontext_t* uc) {
  if (st.rep_bits == 0 || st.plan.status != emu::EmuStatus::OK || st.plan.from_decoder) return 1;
  const uint64_t mask = st.rep_bits >= 64 ? ~uint64_t{0} : (uint64_t{1} << st.rep_bits) - 1;
  const uint64_t before = st.plan.pre.reg(emu::Gpr::RCX) & mask;
  const uint64_t after = static_cast<uint64_t>(uc->uc_mcontext.gregs[REG_RCX]) & mask;
  return after <= before ? before - after : 1;  // not a count this instruction took from: keep to the plan
}

void record_step(StepState& st);

// Records the `n` iterations the trap covered: the planned one, then each
// following one planned from where the previous left the registers. Their
// accesses are known (addresses march on from the registers); a read value is
// taken where it went if no later iteration has overwritten that place since:
// an iteration's own element of ordinary memory (REP MOVS into memory) stays,
// a register (REP LODS) holds only the last iteration's value.
void record_iterations(StepState& st, const ucontext_t* uc, uint64_t n) {
  for (uint64_t i = 1; i <= n; ++i) {
    if (i > 1) {
      emu::CpuState next = st.plan.post;
      next.rip = st.pc;  // the CPU went on: whether the dry run's patterns would have stopped it is moot
      plan_step_from(next, st.ctx, &st.plan);
      if (st.plan.status != emu::EmuStatus::OK || st.plan.from_decoder) return;
    }
    collect_values(uc, st.ctx, &st.plan, i < n);
    record_step(st);
  }
}

void record_step(StepState& st) {
  MT_CHECK(st.active && st.holds_order && st.plan.n <= kMaxStepAccesses);
  DeviceMemory mem(st.ctx, st.record_flags);
  mem.set_record_only(true);  // under the order lock this thread already holds
  // In flight since step_start (enter_access there): the exit barrier waits for it.
  for (unsigned k = 0; k < st.plan.n; ++k) {
    StepAccess& a = st.plan.acc[k];
    const bool known = a.from == ValueFrom::KNOWN;
    if (!known) memset(a.value, 0, sizeof a.value);
    mem.set_extra_flags(known ? 0 : trace::kAccessValueUnknown);
    if (a.masked) {
      if (a.write)
        mem.write_masked(a.addr, a.size, a.mask, a.value);
      else
        mem.read_masked(a.addr, a.size, a.mask, a.value);
    } else {
      if (a.write)
        mem.write(a.addr, a.size, a.value);
      else
        mem.read(a.addr, a.size, a.value);
    }
  }
}

}  // namespace

bool step_active() { return tls_step.active; }

void step_init() {
  if (const char* n = getenv("MMIOTRACE_TESTING_STEP_LOSE_TRAPS"); n != nullptr) {
    g_testing_lose_traps = strtoull(n, nullptr, 10);
  }
}

Outcome step_start(ucontext_t* uc, FaultContext& ctx, uint8_t record_flags) {
  StepState& st = tls_step;
  // The same instruction faulting again mid-step: another thread's step
  // closed the pages in between (mprotect stepping), or it touches a page the
  // plan did not foresee. Start over, keeping what was saved of the program.
  const bool again = st.active && st.pc == ctx.pc;
  if (st.active && !again) {
    // A step whose trap never came back to the agent (a debugger took the
    // SIGTRAP as its own): the thread still runs with the step's mask, TF
    // and open key, which this frame carries. Give the program its own back.
    finish(st, uc);
  }
  if (again) close_opened(st);
  plan_step(uc, ctx, &st.plan);
  if (st.plan.status != emu::EmuStatus::OK) {
    if (again) finish(st, uc);
    if (st.plan.status == emu::EmuStatus::FAULT) return Outcome::faulted(st.plan.fault);
    return Outcome::refused(st.plan.status == emu::EmuStatus::DECODE_ERROR ? Refusal::NOT_AN_INSTRUCTION
                                                                           : st.plan.refusal);
  }
  bool used_mprotect = false;
  if (!open_accesses(st, uc, &used_mprotect)) {
    close_opened(st);
    if (again) finish(st, uc);
    return Outcome::refused(Refusal::STEP_PAGES_NOT_OPENED);
  }
  if (!again) {
    enter_access();
    order_lock();
    st.holds_order = true;
    st.saved_mask = uc->uc_sigmask;
    st.program_tf = (uc->uc_mcontext.gregs[REG_EFL] & static_cast<greg_t>(emu::kFlagTF)) != 0;
    g_agent.channel->stepped.fetch_add(1, std::memory_order_relaxed);
  }
  g_agent.channel->step_flags.fetch_or(used_mprotect ? trace::kStepUsedMprotect : trace::kStepUsedPkey,
                                       std::memory_order_relaxed);
  st.pc = ctx.pc;
  st.ctx = ctx;
  if (st.plan.insn_len != 0 && st.plan.insn_len < st.ctx.insn_len) {
    memset(st.ctx.insn + st.plan.insn_len, 0, sizeof(st.ctx.insn) - st.plan.insn_len);
    st.ctx.insn_len = st.plan.insn_len;
  }
  st.record_flags = record_flags;
  st.rep_bits = emu::rep_count_bits(st.ctx.insn, st.ctx.insn_len);
  st.traps_let_go = 0;
  // No handler of the program may run between here and the trap: it would
  // run with the pages open and TF set. The agent's own signals stay open.
  sigset_t step_mask;
  sigfillset(&step_mask);
  sigdelset(&step_mask, SIGSEGV);
  sigdelset(&step_mask, SIGBUS);
  sigdelset(&step_mask, SIGTRAP);
  uc->uc_sigmask = step_mask;
  set_tf(uc, true);
  st.active = true;
  return Outcome::done();
}

bool step_trap(siginfo_t* si, ucontext_t* uc, bool* forward) {
  StepState& st = tls_step;
  *forward = false;
  if (!st.active || si->si_code <= 0) return false;  // not a step's, or sent by someone
  const bool mid_rep = !st.program_tf && static_cast<uint64_t>(uc->uc_mcontext.gregs[REG_RIP]) == st.pc;
  if (mid_rep && st.rep_bits != 0 && st.traps_let_go < g_testing_lose_traps) {
    ++st.traps_let_go;  // testing: as if this trap were lost; TF stays set, the pages open
    return true;
  }
  st.traps_let_go = 0;
  record_iterations(st, uc, iterations_run(st, uc));
  if (mid_rep) {
    // A REP string instruction between two iterations (RIP stays on it until
    // RCX is 0): plan the next iteration from this frame and keep stepping,
    // rather than close the pages and take a fault for each iteration.
    bool used_mprotect = false;
    plan_step(uc, st.ctx, &st.plan);
    if (st.plan.status == emu::EmuStatus::OK && open_accesses(st, uc, &used_mprotect)) {
      if (used_mprotect) g_agent.channel->step_flags.fetch_or(trace::kStepUsedMprotect, std::memory_order_relaxed);
      return true;
    }
  }
  finish(st, uc);
  // A program stepping itself gets the trap it would have had after this instruction.
  *forward = st.program_tf;
  return true;
}

void step_abort(ucontext_t* uc) {
  StepState& st = tls_step;
  if (st.active) finish(st, uc);
}

}  // namespace mmiotrace::agent
