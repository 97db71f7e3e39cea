// mt_patch_entry: what a patched site's trampoline calls (trampoline.h). It
// runs on the program's thread, in no signal handler, with the program's
// registers saved in the trampoline's frame; it performs and records the
// access through the same DeviceMemory as the fault path (same records, same
// order lock, seq, timestamp, PC, splitting), or says "run the original
// instruction" when the access is not entirely on one device mapping the
// program may access that way: ordinary memory runs natively, and anything
// unusual (a straddling access, a write to a read-only mapping, a device
// error) takes the fault path from the relocated original instruction,
// exactly as before the site was patched.
//
// Async-signal-safe and vector-register-free: a load or store site's
// trampoline saves no vector state, so this file and everything it reaches
// (DeviceMemory, the region table, the producer, the agent's memcpy) are
// compiled with -mgeneral-regs-only; an EMULATE site's trampoline XSAVEs,
// because the emulator and Zydis are not. Program signals that arrive in here
// are deferred (signal_defer.h).
#include <errno.h>
#include <sys/mman.h>

#include <cstring>

#include "agent/agent.h"
#include "agent/device_memory.h"
#include "agent/exit_barrier.h"
#include "agent/patch/patcher.h"
#include "agent/patch/trampoline.h"
#include "agent/producer.h"
#include "agent/signal_defer.h"
#include "common/handler_rules.h"
#include "emu/emulator.h"
#include "emu/xsave_area.h"

MT_HANDLER_RULES

namespace mmiotrace::agent::patch {

namespace {

// The program's RSP, above the trampoline's frame (trampoline.cc).
constexpr uint64_t kFrameToRsp = 17 * 8 + 128;
constexpr unsigned kFlags = 16;  // frame[16]: RFLAGS

// The other instructions of the table, with the thread's registers: the
// frame's general registers and flags, the XSAVE area's vector state.
bool emulate(const Patch& p, uint64_t* frame, uint8_t* xsave, DeviceMemory& mem) {
  emu::CpuState cpu;
  for (unsigned i = 0; i < 16; ++i) cpu.gpr[i] = frame[i];
  cpu.reg(emu::Gpr::RSP) = reinterpret_cast<uint64_t>(frame) + kFrameToRsp;
  cpu.rip = p.site.pc;
  cpu.rflags = frame[kFlags];
  if (xsave != nullptr) cpu.xsave = emu::XsaveArea(xsave, emu::XsaveLayout::host().supported & 0xe7);
  const emu::EmuResult r = emu::emulate(cpu, p.site.bytes, p.site.len, mem);
  if (r.status != emu::EmuStatus::OK) return false;
  for (unsigned i = 0; i < 16; ++i) {
    if (i != static_cast<unsigned>(emu::Gpr::RSP)) frame[i] = cpu.gpr[i];
  }
  frame[kFlags] = cpu.rflags;
  return true;
}

}  // namespace

}  // namespace mmiotrace::agent::patch

using mmiotrace::agent::patch::kAccessDone;
using mmiotrace::agent::patch::kRunOriginal;

extern "C" uint32_t mt_patch_entry(const mmiotrace::agent::patch::Patch* p, uint64_t address, uint64_t* frame,
                                   uint8_t* xsave) {
  using namespace mmiotrace::agent;
  // The program's errno survives: the system calls below (a futex wake, a
  // deferred signal re-sent) must not show through a memory access.
  struct ErrnoKept {
    int saved = errno;
    ~ErrnoKept() { errno = saved; }
  } errno_kept;
  FastSection section;
  if (!attached()) return kRunOriginal;  // a fork child that detached (record --no-follow)
  const mmiotrace::emu::PatchPlan& plan = p->plan;
  RegionInfo r;
  if (!g_agent.regions.find(address, &r) || plan.size > r.end - address) return kRunOriginal;
  const int need = (plan.reads ? PROT_READ : 0) | (plan.writes ? PROT_WRITE : 0);
  if ((r.prot & need) != need) return kRunOriginal;  // the fault path delivers the fault
  FaultContext ctx;
  ctx.pc = p->site.pc;
  ctx.tid = current_tid();
  ctx.insn_len = p->site.len;
  ctx.exact = true;
  memcpy(ctx.insn, p->site.bytes, sizeof ctx.insn);
  DeviceMemory mem(ctx);
  enter_access();
  bool ok;
  switch (plan.kind) {
    case mmiotrace::emu::PatchKind::LOAD: {
      uint64_t value = 0;
      ok = mem.read_in(r, address, plan.size, &value).ok();
      if (ok) mmiotrace::emu::apply_patch_load(plan, frame, value);
      break;
    }
    case mmiotrace::emu::PatchKind::STORE: {
      const uint64_t value = mmiotrace::emu::patch_store_value(plan, frame);
      ok = mem.write_in(r, address, plan.size, &value).ok();
      break;
    }
    default:
      ok = mmiotrace::agent::patch::emulate(*p, frame, xsave, mem);
      break;
  }
  leave_access();
  // Not done: nothing was accessed (a device error, SIGBUS, is found before
  // the access is recorded), and the original instruction, run now, takes
  // the fault path, which delivers the fault as before.
  return ok ? kAccessDone : kRunOriginal;
}
