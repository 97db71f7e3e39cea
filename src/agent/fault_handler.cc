// The agent's SIGSEGV/SIGBUS handler: the start of every traced access.
//
// Async-signal-safe: runs in the traced program's signal handler. It
// allocates nothing, takes no lock the program could hold (the order lock is
// the agent's own), and calls only async-signal-safe functions. Zydis decoding
// and the emulator are pure computations on stack memory.
#include <errno.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <cstring>

#include "agent/agent.h"
#include "agent/device_memory.h"
#include "agent/exit_barrier.h"
#include "agent/generic_step.h"
#include "agent/producer.h"
#include "agent/safe_access.h"
#include "agent/safe_format.h"
#include "agent/step.h"
#include "agent/ucontext_cpu.h"
#include "emu/emulator.h"
#include "trace/encode.h"
#include "trace/format.h"

#pragma GCC poison malloc calloc realloc free printf fprintf sprintf snprintf

namespace mmiotrace::agent {

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
  f.phys = r.phys + (addr - r.start);
  f.pc = ctx.pc;
  f.pid = g_agent.pid;
  f.map_id = r.map_id;
  f.insn = ctx.insn;
  f.insn_len = ctx.insn_len;
  alignas(8) uint8_t buf[sizeof(trace::UnknownRecord)];
  size_t n = trace::encode_unknown(buf, sizeof(buf), trace::RecordStamp{0, 0, ctx.tid}, f);
  stamp_and_push(buf, n);
}

// `generic_refusal`, `step_refusal`: why the generic path and single-stepping
// refused it too, if they were tried.
void report_refused(const FaultContext& ctx, const RegionInfo& r, uint64_t addr, emu::EmuStatus status,
                    const char* generic_refusal, const char* step_refusal) {
  char text[160];
  emu::disassemble(ctx.insn, ctx.insn_len, ctx.pc, text, sizeof(text));
  SafeBuf m;
  m.str("mmiotrace: cannot emulate the instruction at ").hex(ctx.pc).str(" (");
  for (unsigned i = 0; i < ctx.insn_len; ++i) {
    if (i != 0) m.str(" ");
    m.byte(ctx.insn[i]);
  }
  m.str(": ").str(text).str(") that accesses device memory at ").hex(addr);
  m.str(" (map ").dec(r.map_id).str(", physical ").hex(r.phys + (addr - r.start)).str("): ");
  m.str(status == emu::EmuStatus::DECODE_ERROR ? "not a valid instruction"
        : ctx.pc >= r.start && ctx.pc < r.end  ? "executing code from device memory is not supported"
                                               : "instruction not supported by the emulator");
  if (generic_refusal != nullptr) m.str(" (nor by its generic path: ").str(generic_refusal).str(")");
  if (step_refusal != nullptr) m.str(" (nor can it be single-stepped: ").str(step_refusal).str(")");
  m.str(". Stopping the program with SIGSEGV; the trace so far is kept, ending with an UNKNOWN record.\n");
  m.write_to(STDERR_FILENO);
}

// The program dies by SIGSEGV at the faulting instruction, as the kernel would
// kill it: the default action is restored and the instruction re-runs.
void die_at_instruction() {
  exit_barrier();
  struct sigaction dfl;
  memset(&dfl, 0, sizeof(dfl));
  dfl.sa_handler = SIG_DFL;
  real_sigaction(SIGSEGV, &dfl, nullptr);
}

// Delivers a fault the emulator (or the generic path) found before the
// instruction ran, as the CPU would have raised it.
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

void handle_traced_fault(siginfo_t* si, ucontext_t* uc, const RegionInfo& region) {
  FaultContext ctx;
  ctx.pc = static_cast<uint64_t>(uc->uc_mcontext.gregs[REG_RIP]);
  ctx.tid = current_tid();
  ctx.insn_len = fetch_instruction(ctx.pc, ctx.insn);
  const auto addr = reinterpret_cast<uint64_t>(si->si_addr);

  const bool executing_device = ctx.pc >= region.start && ctx.pc < region.end;
  const char* step_refusal = nullptr;
  if (g_agent.step_mode && !executing_device) {
    // --mode=step: the instruction runs for real on the device (step.h).
    const StepOutcome s = step_start(uc, ctx, trace::kAccessStepped);
    if (s.result == StepStart::STARTED) return;
    if (s.result == StepStart::FAULT) {
      deliver_fault(s.fault, uc);
      return;
    }
    step_refusal = s.refusal;
  }
  if (step_refusal != nullptr) {
    g_agent.channel->refused.fetch_add(1, std::memory_order_relaxed);
    record_unknown(ctx, region, addr);
    report_refused(ctx, region, addr, emu::EmuStatus::UNSUPPORTED, nullptr, step_refusal);
    die_at_instruction();
    return;
  }
  emu::CpuState cpu;
  cpu_from_ucontext(uc, ctx.insn, ctx.insn_len, &cpu);
  DeviceMemory mem(ctx);
  enter_access();
  emu::EmuResult res = executing_device ? emu::EmuResult{emu::EmuStatus::UNSUPPORTED, {}, 0}
                                        : emu::emulate(cpu, ctx.insn, ctx.insn_len, mem);
  leave_access();
  switch (res.status) {
    case emu::EmuStatus::OK:
      cpu_to_ucontext(cpu, uc);
      if ((cpu.rflags & emu::kFlagTF) != 0) deliver_step_trap(uc);
      return;
    case emu::EmuStatus::FAULT:
      // The instruction would have faulted natively (an ordinary operand is
      // unmapped, a write to a read-only mapping, a misaligned MOVAPS...).
      cpu_to_ucontext(cpu, uc);
      deliver_fault(res.fault, uc);
      return;
    case emu::EmuStatus::UNSUPPORTED:
    case emu::EmuStatus::DECODE_ERROR:
      break;
  }
  // Not in the table: the generic path runs it for real on a copy of the
  // operand (generic_step.h). Only what it cannot run is refused.
  const char* generic_refusal = nullptr;
  if (res.status == emu::EmuStatus::UNSUPPORTED && !executing_device) {
    const GenericOutcome g = generic_start(uc, cpu, ctx);
    if (g.result == GenericStart::STARTED) return;
    if (g.result == GenericStart::FAULT) {
      deliver_fault(g.fault, uc);
      return;
    }
    generic_refusal = g.refusal;
    // The fallback: single-step it on the device; its records say so
    // (kAccessStepped), and the values the step cannot know are marked.
    const StepOutcome s = step_start(uc, ctx, trace::kAccessStepped);
    if (s.result == StepStart::STARTED) return;
    if (s.result == StepStart::FAULT) {
      deliver_fault(s.fault, uc);
      return;
    }
    step_refusal = s.refusal;
  }
  g_agent.channel->refused.fetch_add(1, std::memory_order_relaxed);
  record_unknown(ctx, region, addr);
  report_refused(ctx, region, addr, res.status, generic_refusal, step_refusal);
  die_at_instruction();
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
    handle_traced_fault(si, uc, region);
  } else {
    // The program's own fault; if it came in the middle of a step (the
    // stepped instruction faulted on ordinary memory), its handler sees the
    // program's state, not the step's.
    if (step_active() && si->si_code > 0) step_abort(uc);
    forward_signal(sig, si, uc, false);
  }
  errno = saved_errno;
}

void install_fault_handlers() {
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
