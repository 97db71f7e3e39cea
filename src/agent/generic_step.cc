// Async-signal-safe: runs in the traced program's signal handler. It
// allocates nothing (the per-thread page is a raw mmap system call), takes no
// lock but the order lock (inside DeviceMemory), and calls only
// async-signal-safe functions. The only code that runs outside the handler is
// the thread-exit destructor that unmaps the page, and the key's creation at
// load time.
//
// The per-thread page (one 4 KiB private mapping, read/write/execute, made on
// the thread's first generic step and unmapped when the thread exits):
//
//   [0, 1024)     the slots' states (SlotState)
//   [1024, 1536)  16 stubs of 32 bytes: the re-encoded instruction, then HLT
//   [1536, 3584)  16 bounce areas of 128 bytes, 64-byte aligned; the operand
//                 sits at its device address's offset modulo 64
//
// A slot is busy from the first fault to its HLT. Several are needed because
// a signal can arrive after the handler returned and before the stub ran: the
// program's handler then runs first (its frame's RIP is the stub) and may
// itself take the generic path. A handler that never returns (siglongjmp out
// of it) leaves its slot busy; when all 16 are busy the oldest is reused.
#include "agent/generic_step.h"

#include <pthread.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>

#include "agent/agent.h"
#include "agent/exit_barrier.h"
#include "agent/producer.h"
#include "common/handler_rules.h"
#include "emu/emulator.h"
#include "trace/format.h"

MT_HANDLER_RULES

namespace mmiotrace::agent {

namespace {

constexpr unsigned kSlots = 16;
constexpr size_t kPageSize = 4096;

struct SlotState {
  uint64_t stamp;     // page clock when started: the oldest busy slot is reused first
  uint64_t pc;        // the original instruction
  uint64_t next_rip;  // where the thread resumes: pc + its length
  uint64_t addr;      // the operand's address in the program; its copy is at the
                      // same offset modulo 64 in the slot's bounce area
  uint16_t size;      // bytes
  uint8_t busy;       // started; its HLT has not been reached
  uint8_t writes;     // copy the bounce bytes to the device at the HLT
  uint8_t insn_len;
  uint8_t terminator;  // offset of the HLT in the stub
  uint8_t insn[16];    // the original instruction's bytes, for the records
};

struct alignas(1024) StubPage {
  uint64_t clock;
  SlotState slot[kSlots];
  alignas(1024) uint8_t code[kSlots][emu::kGenericStubCapacity];
  alignas(emu::kGenericBounceAlign) uint8_t bounce[kSlots][emu::kGenericBounceSize];
};
static_assert(sizeof(SlotState) == 56 && sizeof(StubPage) <= kPageSize);
static_assert(offsetof(StubPage, code) == 1024 && offsetof(StubPage, bounce) == 1536);

__thread StubPage* tls_page __attribute__((tls_model("initial-exec")));

pthread_key_t g_page_key;
bool g_page_key_ok = false;

// Set once the thread's key destructors have run: a generic step after that
// (a signal handler running during the rest of the thread's exit) gets a page
// that no destructor would free, so it is unmapped as soon as it is idle.
__thread bool tls_exiting __attribute__((tls_model("initial-exec")));

void release_page(void* value) {
  tls_exiting = true;
  if (value == nullptr) return;
  if (tls_page == value) tls_page = nullptr;
  syscall(SYS_munmap, value, kPageSize);
}

// During thread exit (see tls_exiting): drops the page once no slot is busy.
// RIP has already left the page.
void drop_page_if_exiting(StubPage* page) {
  if (!tls_exiting) return;
  for (const auto& slot : page->slot) {
    if (slot.busy) return;
  }
  tls_page = nullptr;
  syscall(SYS_munmap, page, kPageSize);
}

// At load time, outside any handler. A key below PTHREAD_KEY_2NDLEVEL_SIZE
// (32) is a slot in the thread descriptor: pthread_setspecific on it
// allocates nothing (as for the producer's ring key).
__attribute__((constructor(102))) void init_page_key() {
  g_page_key_ok = pthread_key_create(&g_page_key, release_page) == 0 && g_page_key < 32;
}

StubPage* thread_page() {
  if (tls_page != nullptr) return tls_page;
  // A raw system call: the agent's mmap interposer is not for its own pages.
  // Executable and writable: the handler writes each stub, the thread runs it.
  const long p =
      syscall(SYS_mmap, nullptr, kPageSize, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == -1) return nullptr;
  auto* page = reinterpret_cast<StubPage*>(p);
  // A jump into a stub that is not (or no longer) there stops at a HLT.
  memset(page->code, emu::kGenericTerminator, sizeof(page->code));
  if (g_page_key_ok && !tls_exiting) pthread_setspecific(g_page_key, page);
  tls_page = page;
  return page;
}

unsigned pick_slot(StubPage* page) {
  unsigned oldest = 0;
  for (unsigned i = 0; i < kSlots; ++i) {
    if (!page->slot[i].busy) return i;
    if (page->slot[i].stamp < page->slot[oldest].stamp) oldest = i;
  }
  return oldest;
}

bool is_natural_width(unsigned size) {
  return size == 1 || size == 2 || size == 4 || size == 8 || size == 16 || size == 32 || size == 64;
}

// Moves the operand between the program's address and its bounce copy as
// the instruction accesses it: one access of its own width, or for an x87
// m80 naturally aligned pieces of at most 8 bytes, lowest address first
// (as DeviceMemory splits a straddling access).
emu::MemFault copy_operand(DeviceMemory& mem, uint64_t addr, unsigned size, uint8_t* copy, bool to_device) {
  if (is_natural_width(size)) return to_device ? mem.write(addr, size, copy) : mem.read(addr, size, copy);
  for (unsigned i = 0; i < size;) {
    unsigned piece = 8;
    while (piece > 1 && (((addr + i) & (piece - 1)) != 0 || i + piece > size)) piece /= 2;
    const emu::MemFault f = to_device ? mem.write(addr + i, piece, copy + i) : mem.read(addr + i, piece, copy + i);
    if (!f.ok()) return f;
    i += piece;
  }
  return {};
}

// A written operand is copied back after the instruction ran, when a fault
// could no longer be the instruction's own: so it must lie entirely on traced
// mappings, and a part the program may not write is the fault the CPU would
// have raised before running it (SEGV_ACCERR at that part). Ordinary memory
// cannot be checked for writability without writing it: refused.
Outcome check_writable(uint64_t addr, unsigned size) {
  const uint64_t end = addr + size;
  for (uint64_t pos = addr; pos < end;) {
    RegionInfo r;
    if (!g_agent.regions.find(pos, &r)) return Outcome::refused(Refusal::GENERIC_WRITES_ORDINARY);
    if ((r.prot & PROT_WRITE) == 0) return Outcome::faulted(emu::MemFault{SIGSEGV, SEGV_ACCERR, pos});
    pos = r.end;
  }
  return Outcome::done();
}

void set_rip(ucontext_t* uc, uint64_t rip) { uc->uc_mcontext.gregs[REG_RIP] = static_cast<greg_t>(rip); }

// The program sees `f` as raised by its own instruction at `pc`.
void deliver_at(ucontext_t* uc, uint64_t pc, int signo, int code, uint64_t addr) {
  set_rip(uc, pc);
  siginfo_t synth;
  memset(&synth, 0, sizeof(synth));
  synth.si_signo = signo;
  synth.si_code = code;
  synth.si_addr = reinterpret_cast<void*>(addr);
  forward_signal(signo, &synth, uc, true);
}

// The stub's HLT: the instruction ran. Copy what it wrote to the device and
// resume after the original instruction.
void finish(SlotState& st, uint8_t* bounce, ucontext_t* uc) {
  st.busy = 0;
  if (st.writes) {
    FaultContext ctx;
    ctx.pc = st.pc;
    ctx.tid = current_tid();
    ctx.insn_len = st.insn_len;
    memcpy(ctx.insn, st.insn, sizeof(ctx.insn));
    DeviceMemory mem(ctx, trace::kAccessGeneric);
    enter_access();
    const emu::MemFault f = copy_operand(mem, st.addr, st.size, bounce + st.addr % emu::kGenericBounceAlign, true);
    leave_access();
    if (!f.ok()) {
      // Only if another thread unmapped or write-protected the device in the
      // meantime (check_writable passed): the registers already hold the
      // instruction's results.
      deliver_at(uc, st.pc, f.signo, f.code, f.addr);
      return;
    }
  }
  set_rip(uc, st.next_rip);
}

}  // namespace

Outcome generic_start(ucontext_t* uc, const emu::CpuState& cpu, FaultContext& ctx) {
  StubPage* page = thread_page();
  if (page == nullptr) return Outcome::refused(Refusal::GENERIC_NO_STUB_PAGE);
  const unsigned s = pick_slot(page);
  const auto stub_addr = reinterpret_cast<uint64_t>(page->code[s]);
  uint8_t stub[emu::kGenericStubCapacity];
  const emu::GenericPlan plan = emu::plan_generic(cpu, ctx.insn, ctx.insn_len, stub_addr,
                                                  reinterpret_cast<uint64_t>(page->bounce[s]), stub, sizeof stub);
  switch (plan.status) {
    case emu::EmuStatus::OK:
      break;
    case emu::EmuStatus::FAULT:
      return Outcome::faulted(plan.fault);
    case emu::EmuStatus::UNSUPPORTED:
      return Outcome::refused(Refusal::GENERIC_PLAN, plan.refusal);
    case emu::EmuStatus::DECODE_ERROR:
      return Outcome::refused(Refusal::NOT_AN_INSTRUCTION);
  }
  if (plan.writes) {
    const Outcome w = check_writable(plan.addr, plan.size);
    if (w.result != Handled::DONE) return w;
  }
  if (plan.reads) {
    DeviceMemory mem(ctx, trace::kAccessGeneric);
    enter_access();
    auto* copy = reinterpret_cast<uint8_t*>(plan.bounce_addr);
    const uint64_t all = plan.size >= 64 ? ~uint64_t{0} : (uint64_t{1} << plan.size) - 1;
    emu::MemFault f;
    if (!plan.masked || plan.read_mask == all) {
      f = copy_operand(mem, plan.addr, plan.size, copy, false);
    } else if (plan.read_mask != 0) {
      // Only the selected elements, as one masked access: the CPU in the
      // stub, with the same mask, reads only those bounce bytes.
      f = mem.read_masked(plan.addr, plan.size, plan.read_mask, copy);
    }
    leave_access();
    if (!f.ok()) return Outcome::faulted(f);
  }
  SlotState& st = page->slot[s];
  st.stamp = ++page->clock;
  st.pc = ctx.pc;
  st.next_rip = ctx.pc + plan.insn_len;
  st.addr = plan.addr;
  st.size = static_cast<uint16_t>(plan.size);
  st.writes = plan.writes;
  st.insn_len = ctx.insn_len;
  st.terminator = plan.terminator_offset;
  memcpy(st.insn, ctx.insn, sizeof(st.insn));
  MT_CHECK(plan.stub_len <= emu::kGenericStubCapacity && plan.terminator_offset < plan.stub_len);
  memcpy(page->code[s], stub, plan.stub_len);
  st.busy = 1;
  // The return from the handler (rt_sigreturn, serializing) runs the stub.
  set_rip(uc, stub_addr);
  return Outcome::done();
}

bool generic_stub_fault(int sig, siginfo_t* si, ucontext_t* uc) {
  StubPage* page = tls_page;
  if (page == nullptr) return false;
  const auto pc = static_cast<uint64_t>(uc->uc_mcontext.gregs[REG_RIP]);
  const auto code = reinterpret_cast<uint64_t>(page->code);
  if (pc < code || pc >= code + sizeof(page->code)) return false;
  const unsigned s = static_cast<unsigned>((pc - code) / emu::kGenericStubCapacity);
  MT_CHECK(s < kSlots);
  SlotState& st = page->slot[s];
  const uint64_t stub = code + uint64_t{s} * emu::kGenericStubCapacity;
  // A signal someone sent (si_code <= 0) while the thread was at the stub is
  // not the stub's: the program gets it as usual and returns to the stub.
  if (!st.busy || si->si_code <= 0) return false;
  if (pc == stub + st.terminator && sig == SIGSEGV && si->si_code == SI_KERNEL) {
    finish(st, page->bounce[s], uc);
    drop_page_if_exiting(page);
    return true;
  }
  if (pc == stub) {
    // The re-encoded instruction itself faulted (an invalid MXCSR value for
    // LDMXCSR, #AC, ...): it did not run, nothing is copied back, and the
    // program sees the fault at its own instruction.
    st.busy = 0;
    deliver_at(uc, st.pc, sig, si->si_code, reinterpret_cast<uint64_t>(si->si_addr));
    drop_page_if_exiting(page);
    return true;
  }
  return false;
}

}  // namespace mmiotrace::agent
