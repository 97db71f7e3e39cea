// mt_patch_access and mt_patch_entry: what a patched site's trampoline calls
// (trampoline.h). They run on the program's thread, in no signal handler;
// they perform and record the access with the same records, order lock,
// seq, timestamp and PC as the fault path, or say "run the original
// instruction" when the access is not entirely on one device mapping the
// program may access that way: ordinary memory runs natively, and anything
// unusual (a straddling access, a write to a read-only mapping, a device
// error) takes the fault path from the relocated original instruction,
// exactly as before the site was patched.
//
// mt_patch_access serves LOAD and STORE sites (the plain MOVs): it gets the
// instruction's register's value and returns the destination's new one (its
// trampoline saves only the caller-saved registers), and on the real device
// (the only backend patching runs with) makes the access and writes its
// ACCESS record straight into the ring under the order lock (lean_access).
// mt_patch_entry serves the others, with every register in the trampoline's
// frame, through DeviceMemory and the emulator.
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
#include "agent/safe_access.h"
#include "agent/session.h"
#include "agent/signal_defer.h"
#include "common/handler_rules.h"
#include "emu/emulator.h"
#include "emu/xsave_area.h"
#include "trace/encode.h"
#include "trace/format.h"

MT_HANDLER_RULES

namespace mmiotrace::agent::patch {

namespace {

// The region this thread's patched sites found last (RegionTable::find_cached):
// a driver's accesses hit the same BAR over and over. Only the fast path
// below touches it, inside a FastSection (the program's signal handlers, which
// could run a patched site, wait until it ends).
constinit thread_local RegionCache tls_region __attribute__((tls_model("initial-exec")));

// This thread's errno, whose address glibc gives once per thread: kept here
// so that keeping the program's errno across a patched access costs no call.
constinit thread_local int* tls_errno __attribute__((tls_model("initial-exec"))) = nullptr;

// Keeps the program's errno across a patched access.
struct ErrnoKept {
  int* at;
  int saved;
  ErrnoKept() : at(tls_errno != nullptr ? tls_errno : (tls_errno = &errno)), saved(*at) {}
  ~ErrnoKept() { *at = saved; }
  ErrnoKept(const ErrnoKept&) = delete;
  ErrnoKept& operator=(const ErrnoKept&) = delete;
};

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

// The patched instruction as the fault path's records name it: its original
// address and bytes, on this thread.
FaultContext site_context(const Patch& p) {
  FaultContext ctx;
  ctx.pc = p.site.pc;
  ctx.tid = current_tid();
  ctx.insn_len = p.site.len;
  ctx.exact = true;
  memcpy(ctx.insn, p.site.bytes, sizeof ctx.insn);
  return ctx;
}

// The instruction's bytes as a record carries them: its `len` bytes, zero after.
void copy_insn(uint8_t* out, const Moved& site) {
  uint64_t lo, hi;
  memcpy(&lo, site.bytes, 8);
  memcpy(&hi, site.bytes + 8, 8);
  const unsigned len = site.len;
  if (len < 8) {
    lo &= len == 0 ? 0 : ~uint64_t{0} >> (64 - 8 * len);
    hi = 0;
  } else if (len < 16) {
    hi &= len == 8 ? 0 : ~uint64_t{0} >> (64 - 8 * (len - 8));
  }
  memcpy(out, &lo, 8);
  memcpy(out + 8, &hi, 8);
}

// The lean form of DeviceMemory::device_access for a LOAD or STORE of
// `size` (1, 2, 4 or 8) bytes wholly within region `r`, whose backend is the
// real device with no fault injection: the same steps and the same record
// (seq before the device, given back if the access faults; the time after
// it; the record published before the order lock is released), without the
// FaultContext, the backend's virtual calls and the record's copies: the
// ACCESS record is written straight into the ring. Not counted in the exit
// barrier's g_in_flight: it looks at the exit under the order lock instead
// (park_if_exiting_locked). False: the access faulted and nothing was
// recorded.
bool lean_access(const Patch& p, const RegionInfo& r, uint64_t address, unsigned size, bool write, uint64_t* value) {
  uint8_t* real = r.real_pointer(address);
  order_lock();
  park_if_exiting_locked();
  const uint64_t seq = take_seq_locked();
  const int rc = write ? safe_store(real, value, size) : safe_load(real, value, size);
  if (rc != 0) {
    give_back_seqs_locked(seq);
    order_unlock();
    return false;
  }
  testing_after_device_access();
  const uint64_t time_ns = monotonic_ns();
  constexpr size_t kSize = trace::record_size_for_access(8);  // every width up to 8: one 8-byte value
  static_assert(kSize == sizeof(trace::AccessRecord) + 8);
  if (uint8_t* slot = reserve_record(kSize, true, 1)) {
    // Written in place: the ring's bytes are the record's (8-byte aligned,
    // shared memory that only this thread writes until commit_record()).
    auto* rec = reinterpret_cast<trace::AccessRecord*>(slot);
    rec->h.type = static_cast<uint16_t>(trace::RecordType::ACCESS);
    rec->h.size = static_cast<uint16_t>(kSize);
    rec->h.tid = current_tid();
    rec->h.seq = seq;
    rec->h.time_ns = time_ns;
    rec->phys = r.phys_at(address).value();
    rec->pc = p.site.pc;
    rec->byte_mask = trace::full_byte_mask(size);
    rec->pid = g_agent.pid;
    rec->map_id = r.map_id;
    rec->op = static_cast<uint8_t>(write ? trace::AccessOp::WRITE : trace::AccessOp::READ);
    rec->width = static_cast<uint8_t>(size);
    rec->insn_len = p.site.len;
    rec->flags = 0;
    rec->reserved = 0;
    copy_insn(rec->insn, p.site);
    const uint64_t shown = size == 8 ? *value : *value & ((uint64_t{1} << (8 * size)) - 1);
    memcpy(slot + sizeof(trace::AccessRecord), &shown, 8);
    commit_record();
  }
  order_unlock();
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
  patch::ErrnoKept errno_kept;
  FastSection section;
  if (!attached()) return kRunOriginal;  // a fork child that detached (record --no-follow)
  const mmiotrace::emu::PatchPlan& plan = p->plan;
  const RegionInfo* found = g_agent.regions.find_cached(address, &patch::tls_region);
  if (found == nullptr || plan.size > found->end - address) return kRunOriginal;
  const RegionInfo& r = *found;
  const int need = (plan.reads ? PROT_READ : 0) | (plan.writes ? PROT_WRITE : 0);
  if ((r.prot & need) != need) return kRunOriginal;  // the fault path delivers the fault
  FaultContext ctx = patch::site_context(*p);
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

extern "C" mmiotrace::agent::patch::AccessResult mt_patch_access(const mmiotrace::agent::patch::Patch* p,
                                                                 uint64_t address, uint64_t reg) {
  using namespace mmiotrace::agent;
  patch::ErrnoKept errno_kept;
  FastSection section;
  const patch::AccessResult original{reg, kRunOriginal};
  if (!attached()) return original;  // a fork child that detached (record --no-follow)
  const mmiotrace::emu::PatchPlan& plan = p->plan;
  const RegionInfo* found = g_agent.regions.find_cached(address, &patch::tls_region);
  if (found == nullptr || plan.size > found->end - address) return original;
  const RegionInfo& r = *found;
  const bool write = plan.kind == mmiotrace::emu::PatchKind::STORE;
  const int need = write ? PROT_WRITE : PROT_READ;
  if ((r.prot & need) != need) return original;  // the fault path delivers the fault
  const unsigned size = plan.size;
  uint64_t value = write ? mmiotrace::emu::patch_store_operand(plan, reg) : 0;
  bool ok;
  if (static_cast<BackendId>(r.backend) == BackendId::REAL && !session_has(mmiotrace::trace::kSessionInject) &&
      (size == 1 || size == 2 || size == 4 || size == 8)) {
    ok = patch::lean_access(*p, r, address, size, write, &value);
  } else {
    // Another backend (replay, a model, fault injection): the common path.
    FaultContext ctx = patch::site_context(*p);
    DeviceMemory mem(ctx);
    enter_access();
    ok = (write ? mem.write_in(r, address, size, &value) : mem.read_in(r, address, size, &value)).ok();
    leave_access();
  }
  if (!ok) return original;
  return patch::AccessResult{write ? reg : mmiotrace::emu::patch_load_result(plan, reg, value), kAccessDone};
}
