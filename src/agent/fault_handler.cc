// The agent's SIGSEGV/SIGBUS handler: the start of every traced access.
//
// Async-signal-safe: runs in the traced program's signal handler. It
// allocates nothing, takes no lock the program could hold (the order lock is
// the agent's own), and calls only async-signal-safe functions. Zydis decoding
// and the emulator are pure computations on stack memory.
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

#include "agent/agent.h"
#include "agent/backend/backend.h"
#include "agent/device_memory.h"
#include "agent/exit_barrier.h"
#include "agent/generic_step.h"
#include "agent/patch/patcher.h"
#include "agent/producer.h"
#include "agent/safe_access.h"
#include "agent/safe_format.h"
#include "agent/session.h"
#include "agent/signal_defer.h"
#include "agent/step.h"
#include "agent/strategy.h"
#include "agent/ucontext_cpu.h"
#include "common/check.h"
#include "common/handler_rules.h"
#include "emu/emulator.h"
#include "trace/encode.h"
#include "trace/format.h"

MT_HANDLER_RULES

// Calls fn(arg) with the stack pointer at `top` (stack_switch.S).
extern "C" void mt_call_on_stack(void* top, void (*fn)(void*), void* arg);

namespace mmiotrace::agent {

const char* describe(Refusal r) {
  switch (r) {
    case Refusal::NONE:
      return "not refused";
    case Refusal::NOT_AN_INSTRUCTION:
      return "not a valid instruction";
    case Refusal::CODE_ON_DEVICE:
      return "executing code from device memory is not supported";
    case Refusal::NOT_IN_TABLE:
      return "not in its table of instructions";
    case Refusal::GENERIC_PLAN:
      return "it cannot be re-encoded";
    case Refusal::GENERIC_NO_STUB_PAGE:
      return "the per-thread stub page could not be mapped (mmap PROT_EXEC failed)";
    case Refusal::GENERIC_WRITES_ORDINARY:
      return "it writes an operand that is partly ordinary memory";
    case Refusal::STEP_TOO_MANY_OPERANDS:
      return "too many memory operands";
    case Refusal::STEP_NO_DEVICE_OPERAND:
      return "the decoder finds no operand of it on device memory";
    case Refusal::STEP_TOO_MANY_ACCESSES:
      return "it makes more device accesses than a step can record";
    case Refusal::STEP_PAGES_NOT_OPENED:
      return "its pages could not be opened for a step (no PKRU in the signal frame)";
    case Refusal::STEP_NOT_REAL_DEVICE:
      return "a step runs the instruction on the mapping itself, which a replay or injection rules must see access "
             "by access (docs/replay.md, docs/inject.md)";
  }
  return "unknown refusal";
}

namespace {

// Copies the instruction bytes at `pc`: up to 15, fewer if the code ends at an
// unreadable page.
uint8_t fetch_instruction(uint64_t pc, uint8_t* out) {
  const auto* p = reinterpret_cast<const uint8_t*>(pc);
  if (mt_copy(out, p, trace::kMaxInsnLength) == 0) return trace::kMaxInsnLength;
  uint8_t n = 0;
  while (n < trace::kMaxInsnLength && mt_load_1(p + n, out + n) == 0) ++n;
  return n;
}

void record_unknown(const FaultContext& ctx, const RegionInfo& r, uint64_t addr) {
  trace::UnknownFields f;
  f.phys = r.phys_at(addr).value();
  f.pc = ctx.pc;
  f.pid = g_agent.pid;
  f.map_id = r.map_id;
  f.insn = ctx.insn;
  f.insn_len = ctx.insn_len;
  alignas(8) uint8_t buf[sizeof(trace::UnknownRecord)];
  size_t n = trace::encode_unknown(buf, sizeof(buf), trace::RecordStamp{0, 0, ctx.tid}, f);
  stamp_and_push(buf, n);
}

// The program dies by SIGSEGV at the faulting instruction, as the kernel would
// kill it: the default action is restored, and a SIGSEGV like the fault's
// (`code`, `addr`) is queued to this thread, blocked until the handler
// returns: it is delivered as the thread returns to the instruction, before
// anything there runs. Not left to the instruction faulting again: what is
// there may not fault any more (code changed meanwhile), and the program,
// its other threads parked by the exit barrier, would never end.
void die_at_instruction(int code, uint64_t addr) {
  exit_barrier();
  struct sigaction dfl;
  memset(&dfl, 0, sizeof(dfl));
  dfl.sa_handler = SIG_DFL;
  real_sigaction(SIGSEGV, &dfl, nullptr);
  const uint64_t segv = uint64_t{1} << (SIGSEGV - 1);
  syscall(SYS_rt_sigprocmask, SIG_BLOCK, &segv, nullptr, sizeof segv);
  siginfo_t q;
  memset(&q, 0, sizeof q);
  q.si_signo = SIGSEGV;
  q.si_code = code;
  q.si_addr = reinterpret_cast<void*>(addr);
  syscall(SYS_rt_tgsigqueueinfo, syscall(SYS_getpid), syscall(SYS_gettid), SIGSEGV, &q);
}

// Delivers a fault a strategy found before the instruction ran (or, for the
// emulator, at the access that faulted), as the CPU would have raised it.
void deliver_fault(const emu::MemFault& fault, ucontext_t* uc) {
  siginfo_t synth;
  memset(&synth, 0, sizeof(synth));
  synth.si_signo = fault.signo;
  synth.si_code = fault.code;
  synth.si_addr = reinterpret_cast<void*>(fault.addr);
  forward_signal(fault.signo, &synth, uc, true);
}

// The program runs with TF set (it single-steps itself): the CPU would have
// trapped after the instruction the emulator just ran in its place.
void deliver_step_trap(ucontext_t* uc) {
  siginfo_t synth;
  memset(&synth, 0, sizeof(synth));
  synth.si_signo = SIGTRAP;
  synth.si_code = TRAP_TRACE;
  synth.si_addr = reinterpret_cast<void*>(uc->uc_mcontext.gregs[REG_RIP]);
  forward_signal(SIGTRAP, &synth, uc, true);
}

// One traced fault, as the strategies see it.
struct Fault {
  ucontext_t* uc;
  const RegionInfo& region;
  uint64_t addr;     // the faulting device address (si_addr)
  int si_code;       // the fault's (SEGV_ACCERR, SEGV_PKUERR)
  FaultContext ctx;  // the instruction the records name
  bool code_on_device;
  // The instruction as it runs: the same, or, when the fault comes from an
  // instruction's copy in a patch's trampoline (`translated`), the copy at
  // the frame's RIP, while ctx names the original.
  bool translated;
  uint8_t exec_len;
  uint8_t exec_insn[16];
};

// ---- The strategies, in the order they are tried.

// Emulate it (src/emu): the access is performed on the agent's real mapping
// and the frame's registers get the instruction's results.
Outcome emulate_strategy(Fault& f) {
  emu::CpuState cpu;
  cpu_from_ucontext(f.uc, f.exec_insn, f.exec_len, &cpu);
  DeviceMemory mem(f.ctx);
  enter_access();
  const emu::EmuResult res = emu::emulate(cpu, f.exec_insn, f.exec_len, mem);
  leave_access();
  switch (res.status) {
    case emu::EmuStatus::OK:
      cpu_to_ucontext(cpu, f.uc);
      if ((cpu.rflags & emu::kFlagTF) != 0) deliver_step_trap(f.uc);
      // A hot instruction is patched (the fast path, agent/patch).
      if (!f.translated) patch::note_fault(f.ctx, cpu, f.region.map_id);
      return Outcome::done();
    case emu::EmuStatus::FAULT:
      // The instruction would have faulted natively (an ordinary operand is
      // unmapped, a write to a read-only mapping, a misaligned MOVAPS...).
      cpu_to_ucontext(cpu, f.uc);
      return Outcome::faulted(res.fault);
    case emu::EmuStatus::UNSUPPORTED:
      return Outcome::refused(Refusal::NOT_IN_TABLE);
    case emu::EmuStatus::DECODE_ERROR:
      break;
  }
  return Outcome::refused(Refusal::NOT_AN_INSTRUCTION);
}

// Not in the table: the generic path runs it for real on a copy of the
// operand (generic_step.h).
Outcome generic_strategy(Fault& f) {
  emu::CpuState cpu;
  cpu_from_ucontext(f.uc, f.ctx.insn, f.ctx.insn_len, &cpu);
  // A copy in a trampoline runs as its original would: planned at the
  // original's address, resumed after the original.
  cpu.rip = f.ctx.pc;
  return generic_start(f.uc, cpu, f.ctx);
}

// Single-step it on the device (step.h): --mode=step, and emulate mode's
// fallback. Its records say so (kAccessStepped), and the values the step
// cannot know are marked.
Outcome step_strategy(Fault& f) {
  // A step lets the instruction access the mapping directly: a replay's
  // backing or an injected fault would never see it.
  if (f.region.backend != static_cast<uint8_t>(BackendId::REAL) || session_has(trace::kSessionInject)) {
    return Outcome::refused(Refusal::STEP_NOT_REAL_DEVICE);
  }
  return step_start(f.uc, f.ctx, trace::kAccessStepped);
}

bool emulate_mode(const Fault& f) { return !g_agent.step_mode && !f.code_on_device; }
bool any_mode(const Fault& f) { return !f.code_on_device; }

struct Strategy {
  const char* name;  // in the refusal message
  bool (*applies)(const Fault&);
  Outcome (*run)(Fault&);
};

// The one list. In emulate mode: the emulator's table, then the generic
// path, then a single step; in step mode (--mode=step) a single step only.
// Code fetched from device memory: none applies.
constexpr Strategy kStrategies[] = {
    {"emulator", emulate_mode, emulate_strategy},
    {"generic path", emulate_mode, generic_strategy},
    {"single step", any_mode, step_strategy},
};
constexpr size_t kStrategyCount = sizeof(kStrategies) / sizeof(kStrategies[0]);

// The refusal tail: every applicable strategy refused (`why[i]` for
// kStrategies[i], NONE where it was not tried). The trace keeps everything
// so far and ends with an UNKNOWN record; the program dies by SIGSEGV.
void refuse(const Fault& f, const Outcome* why) {
  g_agent.channel->refused.fetch_add(1, std::memory_order_relaxed);
  record_unknown(f.ctx, f.region, f.addr);
  char text[160];
  emu::disassemble(f.ctx.insn, f.ctx.insn_len, f.ctx.pc, text, sizeof(text));
  SafeBuf m;
  m.str("mmiotrace: cannot emulate the instruction at ").hex(f.ctx.pc).str(" (");
  for (unsigned i = 0; i < f.ctx.insn_len; ++i) {
    if (i != 0) m.str(" ");
    m.byte(f.ctx.insn[i]);
  }
  m.str(": ").str(text).str(") that accesses device memory at ").hex(f.addr);
  m.str(" (map ").dec(f.region.map_id).str(", physical ").hex(f.region.phys_at(f.addr).value()).str(")");
  const char* sep = ": ";
  if (f.code_on_device) {
    m.str(sep).str(describe(Refusal::CODE_ON_DEVICE));
    sep = "; ";
  }
  for (size_t i = 0; i < kStrategyCount; ++i) {
    if (why[i].why == Refusal::NONE) continue;
    m.str(sep).str(kStrategies[i].name).str(": ");
    m.str(why[i].why == Refusal::GENERIC_PLAN ? emu::describe(why[i].generic) : describe(why[i].why));
    sep = "; ";
  }
  m.str(". Stopping the program with SIGSEGV; the trace so far is kept, ending with an UNKNOWN record.\n");
  m.write_to(STDERR_FILENO);
  die_at_instruction(f.si_code, f.addr);
}

// Testing only (MMIOTRACE_TESTING_HOLD_FIRST_FAULT=1, read when the handlers
// are installed, not documented for users): the process's first traced
// fault, once it has fetched its instruction, waits until another thread
// changes that instruction's first byte (patches it, or the program rewrites
// it), at most 10 s, so that a test can change an instruction between its
// fault and its identification (E2E Patch.AFaultOvertakenByThePatchOfItsInstruction,
// E2E.RefusedInstructionRewrittenMeanwhileStillStopsTheProgram).
bool g_testing_hold_first_fault = false;
std::atomic<bool> g_testing_held{false};

void testing_hold_first_fault(uint64_t rip, uint8_t first) {
  if (g_testing_held.exchange(true)) return;
  bool changed = false;
  for (unsigned ms = 0; ms < 10000 && !changed; ++ms) {
    uint8_t now = first;
    changed = mt_load_1(reinterpret_cast<const uint8_t*>(rip), &now) == 0 && now != first;
    const struct timespec one_ms = {0, 1000000};
    if (!changed) syscall(SYS_nanosleep, &one_ms, nullptr);
  }
  SafeBuf m;
  m.str("mmiotrace: testing: the held fault's instruction ").str(changed ? "changed" : "did not change in 10 s");
  m.str("\n").write_to(STDERR_FILENO);
}

// The instruction at the frame's RIP: as fetched; its original bytes if a
// patch rewrote it since it faulted; or, for a copy in a trampoline, the
// original's address and bytes for the records and the copy to run.
//
// The bytes are fetched first and the patches looked at after: another
// thread may patch this very instruction between this thread's fault and
// now, and a patch is published (patcher.h: WRITING, with the original
// bytes) before the first of its bytes is written, so bytes that show a
// patch always find it. Looked at first, a patch published just after the
// look would leave this thread with the new bytes (a jump) as the
// instruction that faulted.
void identify_instruction(Fault& f) {
  const auto rip = static_cast<uint64_t>(f.uc->uc_mcontext.gregs[REG_RIP]);
  uint8_t fetched[trace::kMaxInsnLength] = {};
  const uint8_t fetched_len = fetch_instruction(rip, fetched);
  if (g_testing_hold_first_fault) testing_hold_first_fault(rip, fetched[0]);
  std::atomic_thread_fence(std::memory_order_acquire);
  patch::Moved moved;
  f.translated = patch::translate(rip, &moved);
  if (f.translated || patch::original_at(rip, &moved)) {
    f.ctx.pc = moved.pc;
    f.ctx.insn_len = moved.len;
    f.ctx.exact = true;
    memcpy(f.ctx.insn, moved.bytes, sizeof f.ctx.insn);
  } else {
    f.ctx.pc = rip;
    f.ctx.insn_len = fetched_len;
    memcpy(f.ctx.insn, fetched, fetched_len);
  }
  if (f.translated) {
    f.exec_len = fetched_len;
    memcpy(f.exec_insn, fetched, fetched_len);
  } else {
    f.exec_len = f.ctx.insn_len;
    memcpy(f.exec_insn, f.ctx.insn, sizeof f.exec_insn);
  }
}

void handle_traced_fault(siginfo_t* si, ucontext_t* uc, const RegionInfo& region) {
  Fault f{uc, region, reinterpret_cast<uint64_t>(si->si_addr), si->si_code, FaultContext{}, false, false, 0, {}};
  f.ctx.tid = current_tid();
  identify_instruction(f);
  f.code_on_device = f.ctx.pc >= region.start && f.ctx.pc < region.end;
  Outcome why[kStrategyCount];
  for (size_t i = 0; i < kStrategyCount; ++i) {
    if (!kStrategies[i].applies(f)) continue;
    const Outcome o = kStrategies[i].run(f);
    switch (o.result) {
      case Handled::DONE:
        return;
      case Handled::FAULT:
        // From a copy in a trampoline: the program sees its own instruction fault.
        if (f.translated) patch::frame_to_original(uc);
        deliver_fault(o.fault, uc);
        return;
      case Handled::REFUSED:
        MT_CHECK(o.why != Refusal::NONE);
        why[i] = o;
        break;
    }
    if (is_final(o.why)) break;
  }
  refuse(f, why);
}

// ---- Room on the program's alternate signal stack.
//
// A traced fault in a handler that runs on the program's alternate signal
// stack (sigaltstack) nests on it: the kernel puts this fault's frame there
// (as large as the CPU's XSAVE state: 3.4 KiB with AVX-512, the kernel's
// AT_MINSIGSTKSZ), and the handler below needs about 5 KiB more. The classic
// 8 KiB SIGSTKSZ has no room for both on such a host, and running past the
// stack's low end would overwrite whatever the program keeps below it. So
// with less than kRoomNeeded left there, the handler runs on the agent's own
// stack for the thread, which stands in as the alternate stack meanwhile: a
// fault inside the handler (a guarded access) is then delivered below it,
// not at the top of the program's alternate stack where the program's frames
// are. The program's alternate stack is registered again before returning
// (and by rt_sigreturn, from the frame's uc_stack).

constexpr size_t kAgentStackSize = 64 * 1024;
constexpr uint64_t kRoomNeeded = 16 * 1024;
constexpr int kSsAutodisarm = static_cast<int>(1U << 31);  // the kernel's SS_AUTODISARM (glibc has no name for it)
constinit thread_local uint8_t* tls_agent_stack __attribute__((tls_model("initial-exec"))) = nullptr;

// The bytes left below `sp` when it is on the program's registered alternate
// stack (the one in the frame's uc_stack), 0 when it is already below it (the
// kernel's frame for this fault did not fit: the program's own handler and
// one nested frame of the CPU's state need more than the stack has);
// UINT64_MAX when it is elsewhere.
uint64_t alternate_stack_room(const ucontext_t* uc, uint64_t sp) {
  const stack_t& ss = uc->uc_stack;
  if ((ss.ss_flags & SS_DISABLE) != 0 || ss.ss_size == 0) return UINT64_MAX;
  const auto low = reinterpret_cast<uint64_t>(ss.ss_sp);
  if (sp >= low) return sp - low < ss.ss_size ? sp - low : UINT64_MAX;
  return low - sp <= kAgentStackSize ? 0 : UINT64_MAX;
}

// The thread's agent stack (its high end), mapped at the first need; nullptr
// if it cannot be mapped.
uint8_t* agent_stack() {
  if (tls_agent_stack == nullptr) {
    const long p = syscall(SYS_mmap, nullptr, kAgentStackSize, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (p == -1) return nullptr;
    tls_agent_stack = reinterpret_cast<uint8_t*>(p);
  }
  return tls_agent_stack;
}

struct OnAgentStack {
  siginfo_t* si;
  ucontext_t* uc;
  const RegionInfo* region;
  uint8_t* base;
};

void handle_on_agent_stack(void* arg) {
  auto* a = static_cast<OnAgentStack*>(arg);
  stack_t mine;
  mine.ss_sp = a->base;
  mine.ss_size = kAgentStackSize;
  mine.ss_flags = 0;
  // Allowed: this thread is no longer on the registered (program's) stack.
  syscall(SYS_sigaltstack, &mine, nullptr);
  handle_traced_fault(a->si, a->uc, *a->region);
}

void handle_traced_fault_with_room(siginfo_t* si, ucontext_t* uc, const RegionInfo& region) {
  uint8_t here;
  if (alternate_stack_room(uc, reinterpret_cast<uint64_t>(&here)) >= kRoomNeeded) {
    handle_traced_fault(si, uc, region);
    return;
  }
  uint8_t* base = agent_stack();
  if (base == nullptr) {
    SafeBuf m;
    m.str("mmiotrace: the program's alternate signal stack has too little room left for the tracer's handler, ");
    m.str("and the agent's own stack could not be mapped. Stopping the program with SIGSEGV.\n");
    m.write_to(STDERR_FILENO);
    die_at_instruction(si->si_code, reinterpret_cast<uint64_t>(si->si_addr));
    return;
  }
  OnAgentStack a{si, uc, &region, base};
  mt_call_on_stack(base + kAgentStackSize, handle_on_agent_stack, &a);
  // Back on the program's alternate stack: it is the registered one again.
  stack_t program = uc->uc_stack;
  program.ss_flags &= kSsAutodisarm;
  syscall(SYS_sigaltstack, &program, nullptr);
}

}  // namespace

extern "C" void mt_fault_handler(int sig, siginfo_t* si, void* ucv) {
  int saved_errno = errno;
  auto* uc = static_cast<ucontext_t*>(ucv);
  const auto pc = static_cast<uint64_t>(uc->uc_mcontext.gregs[REG_RIP]);
  if (pc >= reinterpret_cast<uint64_t>(mt_safe_begin) && pc < reinterpret_cast<uint64_t>(mt_safe_end)) {
    // One of the agent's own guarded accesses faulted: resume at the fixup,
    // which returns 1 from the access function.
    set_last_safe_fault(SafeFault{sig, si->si_code, reinterpret_cast<uint64_t>(si->si_addr)});
    uc->uc_mcontext.gregs[REG_RIP] = reinterpret_cast<greg_t>(&mt_safe_fixup);
    errno = saved_errno;
    return;
  }
  if (generic_stub_fault(sig, si, uc)) {
    // The generic path's stub: its HLT, or a fault of the instruction it runs.
    errno = saved_errno;
    return;
  }
  if (si->si_code <= 0 && in_fast_section()) {
    // Sent by someone (kill, sigqueue) while this thread is in the fast
    // path's critical part: the program's handler runs once it is out.
    defer_signal(sig, si, uc);
    errno = saved_errno;
    return;
  }
  if (sig == SIGTRAP && patch::trap(si, uc)) {
    // An INT3 of a code change in progress: resume there once it is done.
    errno = saved_errno;
    return;
  }
  if (sig == SIGTRAP) {
    // The end of a step, or the program's own trap (its TF, INT3, a
    // debugger's breakpoint): a trap is not re-raised by re-running anything.
    bool forward = true;
    if (attached() && !step_trap(si, uc, &forward)) forward = true;
    if (forward) forward_signal(sig, si, uc, true);
    errno = saved_errno;
    return;
  }
  RegionInfo region;
  if (attached() && sig == SIGSEGV && (si->si_code == SEGV_ACCERR || si->si_code == SEGV_PKUERR) &&
      g_agent.regions.find(reinterpret_cast<uint64_t>(si->si_addr), &region)) {
    handle_traced_fault_with_room(si, uc, region);
  } else {
    // The program's own fault; if it came in the middle of a step (the
    // stepped instruction faulted on ordinary memory), its handler sees the
    // program's state, not the step's.
    if (step_active() && si->si_code > 0) step_abort(uc);
    // A copy of an instruction in a trampoline faulted on ordinary memory:
    // the program sees it at its own instruction.
    patch::frame_to_original(uc);
    forward_signal(sig, si, uc, false);
  }
  errno = saved_errno;
}

void install_fault_handlers() {
  const char* hold = getenv("MMIOTRACE_TESTING_HOLD_FIRST_FAULT");
  g_testing_hold_first_fault = hold != nullptr && *hold == '1';
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_sigaction = mt_fault_handler;
  // SA_NODEFER: a guarded access inside the handler must be able to fault.
  // SA_ONSTACK: a program that handles stack overflow on an alternate stack keeps doing so.
  // Every other signal is blocked while the handler runs, so that nothing can
  // interrupt it while it holds the order lock.
  sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK | SA_RESTART;
  // SIGTRAP stays blocked too: no step can end inside the handler (it runs
  // with TF clear), and a SIGTRAP sent by kill() must not re-enter it while
  // it holds the order lock.
  sigfillset(&sa.sa_mask);
  sigdelset(&sa.sa_mask, SIGSEGV);
  sigdelset(&sa.sa_mask, SIGBUS);
  // SIGSEGV/SIGBUS start every traced access; SIGTRAP ends a step (step.h).
  for (int sig : kAgentSignals) real_sigaction(sig, &sa, nullptr);
}

}  // namespace mmiotrace::agent
