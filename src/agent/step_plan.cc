// Async-signal-safe: runs in the traced program's signal handler. No
// allocation (stack only), no locks, no device access: the probe performs
// ordinary-memory reads only, through the guarded accesses of safe_access.S.
#include "agent/step_plan.h"

#include <signal.h>
#include <sys/mman.h>

#include <cstring>

#include "agent/agent.h"
#include "agent/safe_access.h"
#include "agent/ucontext_cpu.h"
#include "common/handler_rules.h"
#include "emu/xsave_area.h"

MT_HANDLER_RULES

namespace mmiotrace::agent {

namespace {

// Bytes of the frame's XSAVE area the probe works on: legacy area, header,
// AVX and the AVX-512 components fit (2.7 KiB); AMX tiles do not and are
// left out (the emulator has no AMX instruction).
constexpr uint32_t kXsaveCopy = 4096;
constexpr unsigned kMaxOrdinaryWrites = 4;

// One copy per dry run (both states are looked at together, find_place).
// The copies live in TLS, not on the stack: the handler may run on a small
// alternate signal stack. plan_step never nests within a thread (no signal
// is handled while it runs but the guarded accesses' own, which return at once).
alignas(64) constinit thread_local uint8_t tls_xsave[2][kXsaveCopy] __attribute__((tls_model("initial-exec"))) = {};

uint8_t pattern(unsigned access, unsigned byte, bool complement) {
  const auto p = static_cast<uint8_t>(0xa7 + 0x3d * byte + 0x61 * access);
  return complement ? static_cast<uint8_t>(~p) : p;
}

uint64_t low_mask(unsigned bytes) { return bytes >= 64 ? ~uint64_t{0} : (uint64_t{1} << bytes) - 1; }

bool selected(const StepAccess& a, unsigned i) { return !a.masked || ((a.mask >> i) & 1) != 0; }

// Whether [addr, addr+size) touches a traced mapping; if so, whether the
// program's rights there allow the access (else the fault it would take).
bool touches_device(uint64_t addr, unsigned size, bool write, emu::MemFault* fault) {
  const uint64_t end = addr + size;
  bool any = false;
  for (uint64_t pos = addr; pos < end;) {
    RegionInfo r;
    if (g_agent.regions.find(pos, &r)) {
      any = true;
      // x86 has no write-only pages: PROT_WRITE implies read.
      const int need = write ? PROT_WRITE : (PROT_READ | PROT_WRITE);
      if ((r.prot & need) == 0 && fault->ok()) *fault = emu::MemFault{SIGSEGV, SEGV_ACCERR, pos};
      pos = r.end;
    } else {
      pos = g_agent.regions.next_start_after(pos);
    }
  }
  return any;
}

struct OrdinaryWrite {
  uint64_t addr;
  unsigned size;
  uint8_t bytes[64];
};

// The emulator's Memory for a dry run: records device accesses, serves
// device reads from a pattern, reads ordinary memory for real, writes nothing.
class ProbeMemory final : public emu::Memory {
 public:
  ProbeMemory(StepAccess* acc, bool complement) : acc_(acc), complement_(complement) {}

  emu::MemFault read(uint64_t addr, unsigned size, void* out) override {
    return access(addr, size, static_cast<uint8_t*>(out), low_mask(size), false, false);
  }
  emu::MemFault write(uint64_t addr, unsigned size, const void* in) override {
    return access(addr, size, const_cast<uint8_t*>(static_cast<const uint8_t*>(in)), low_mask(size), false, true);
  }
  emu::MemFault read_masked(uint64_t addr, unsigned size, uint64_t byte_mask, void* out) override {
    return access(addr, size, static_cast<uint8_t*>(out), byte_mask & low_mask(size), true, false);
  }
  emu::MemFault write_masked(uint64_t addr, unsigned size, uint64_t byte_mask, const void* in) override {
    return access(addr, size, const_cast<uint8_t*>(static_cast<const uint8_t*>(in)), byte_mask & low_mask(size), true,
                  true);
  }

  unsigned n = 0;
  bool overflow = false;
  unsigned n_writes = 0;
  OrdinaryWrite writes[kMaxOrdinaryWrites];

 private:
  emu::MemFault access(uint64_t addr, unsigned size, uint8_t* buf, uint64_t mask, bool masked, bool write) {
    if (size == 0 || size > 64) return emu::MemFault{SIGSEGV, SI_KERNEL, 0};
    emu::MemFault fault;
    if (!touches_device(addr, size, write, &fault)) {
      if (write) {
        // Not performed: kept, as a place a read value may go (MOVS, PUSH).
        if (n_writes < kMaxOrdinaryWrites) {
          OrdinaryWrite& w = writes[n_writes++];
          w.addr = addr;
          w.size = size;
          memcpy(w.bytes, buf, size);
        }
        return {};
      }
      for (unsigned i = 0; i < size; ++i) {
        if (masked && ((mask >> i) & 1) == 0) continue;
        if (mt_load_1(reinterpret_cast<const uint8_t*>(addr) + i, buf + i) != 0) {
          const SafeFault f = last_safe_fault();
          return emu::MemFault{f.signo, f.code, f.addr};
        }
      }
      return {};
    }
    if (!fault.ok()) return fault;
    if (n == kMaxStepAccesses) {
      overflow = true;
      return {};
    }
    StepAccess& a = acc_[n];
    a = StepAccess{};
    a.addr = addr;
    a.size = static_cast<uint8_t>(size);
    a.write = write;
    a.masked = masked;
    a.mask = mask;
    for (unsigned i = 0; i < size; ++i) {
      if (!selected(a, i)) continue;
      if (write) {
        a.value[i] = buf[i];
      } else {
        buf[i] = pattern(n, i, complement_);
      }
    }
    ++n;
    return {};
  }

  StepAccess* acc_;
  bool complement_;
};

struct Candidate {
  ValueFrom from;
  uint8_t reg;
  uint8_t offset;
  uint64_t mem;
};

// The bytes a candidate place holds in a state (size bytes); false if none.
bool place_bytes(const Candidate& c, const emu::CpuState& cpu, const ProbeMemory* probe, unsigned size, uint8_t* out) {
  switch (c.from) {
    case ValueFrom::GPR:
      memcpy(out, reinterpret_cast<const uint8_t*>(&cpu.gpr[c.reg]) + c.offset, size);
      return true;
    case ValueFrom::RIP:
      memcpy(out, &cpu.rip, size);
      return true;
    case ValueFrom::VECTOR: {
      uint8_t v[64];
      if (!cpu.xsave.read_vector(c.reg, 64, v) && !cpu.xsave.read_vector(c.reg, 32, v) &&
          !cpu.xsave.read_vector(c.reg, 16, v)) {
        return false;
      }
      memcpy(out, v + c.offset, size);
      return true;
    }
    case ValueFrom::MEMORY:
      if (probe != nullptr) {
        for (unsigned w = 0; w < probe->n_writes; ++w) {
          const OrdinaryWrite& ow = probe->writes[w];
          if (c.mem >= ow.addr && c.mem + size <= ow.addr + ow.size) {
            memcpy(out, ow.bytes + (c.mem - ow.addr), size);
            return true;
          }
        }
        return false;
      }
      return mt_copy(out, reinterpret_cast<const void*>(c.mem), size) == 0;
    default:
      return false;
  }
}

bool holds_pattern(const uint8_t* bytes, const StepAccess& a, unsigned index, bool complement) {
  for (unsigned i = 0; i < a.size; ++i) {
    if (selected(a, i) && bytes[i] != pattern(index, i, complement)) return false;
  }
  return true;
}

// The first place (general registers, RIP, vector registers, ordinary-memory
// writes, in that order) that holds read `k`'s pattern after run 1 and its
// complement after run 2: the place holds the value the read returns, bit for
// bit. Every place is looked at: any byte of a register may equal a one-byte
// pattern (an address, a value the program left there), so the places that
// match run 1 alone can be many, and the real one among the last.
bool find_place(const emu::CpuState& one, const ProbeMemory& probe1, const emu::CpuState& two,
                const ProbeMemory& probe2, const StepAccess& a, unsigned k, Candidate* out) {
  uint8_t b1[64], b2[64];
  auto holds = [&](const Candidate& c) {
    return place_bytes(c, one, &probe1, a.size, b1) && holds_pattern(b1, a, k, false) &&
           place_bytes(c, two, &probe2, a.size, b2) && holds_pattern(b2, a, k, true);
  };
  if (a.size <= 8) {
    for (uint8_t g = 0; g < 16; ++g) {
      for (unsigned off = 0; off + a.size <= 8; ++off) {
        *out = Candidate{ValueFrom::GPR, g, static_cast<uint8_t>(off), 0};
        if (holds(*out)) return true;
      }
    }
    *out = Candidate{ValueFrom::RIP, 0, 0, 0};
    if (a.size == 8 && holds(*out)) return true;
  }
  if (one.xsave.valid() && two.xsave.valid()) {
    for (uint8_t v = 0; v < 32; ++v) {
      // Each register once (widest the frame holds), then every offset in it.
      uint8_t r1[64], r2[64];
      unsigned width = 64;
      while (width >= 16 && !(one.xsave.read_vector(v, width, r1) && two.xsave.read_vector(v, width, r2))) width /= 2;
      if (width < 16) continue;
      for (unsigned off = 0; off + a.size <= width; off += a.size) {
        if (holds_pattern(r1 + off, a, k, false) && holds_pattern(r2 + off, a, k, true)) {
          *out = Candidate{ValueFrom::VECTOR, v, static_cast<uint8_t>(off), 0};
          return true;
        }
      }
    }
  }
  for (unsigned w = 0; w < probe1.n_writes; ++w) {
    const OrdinaryWrite& ow = probe1.writes[w];
    for (unsigned off = 0; off + a.size <= ow.size; ++off) {
      *out = Candidate{ValueFrom::MEMORY, 0, 0, ow.addr + off};
      if (holds(*out)) return true;
    }
  }
  return false;
}

// The frame's XSAVE area, copied for a dry run that writes vector registers.
emu::XsaveArea copy_xsave(const emu::CpuState& frame, uint8_t* buf) {
  if (!frame.xsave.valid()) return emu::XsaveArea();
  const emu::XsaveLayout& l = emu::XsaveLayout::host();
  const uint32_t bytes = l.total_size < kXsaveCopy ? l.total_size : kXsaveCopy;
  memcpy(buf, frame.xsave.data(), bytes);
  uint64_t features = 0x3;
  for (unsigned c = 2; c < 8; ++c) {
    if (frame.xsave.has(static_cast<emu::XComponent>(c)) && l.offset[c] + l.size[c] <= bytes) features |= 1u << c;
  }
  return emu::XsaveArea(buf, features);
}

// The instruction is outside the emulator's table: its operands from the decoder.
void plan_from_decoder(const emu::CpuState& cpu, const FaultContext& ctx, StepPlan* plan) {
  emu::OperandAccess ops[kMaxStepAccesses];
  uint8_t len = 0;
  const int n = emu::memory_operands(cpu, ctx.insn, ctx.insn_len, ops, kMaxStepAccesses, &len);
  plan->from_decoder = true;
  plan->insn_len = len;
  plan->n = 0;
  if (n < 0) {
    plan->status = n == -1 ? emu::EmuStatus::DECODE_ERROR : emu::EmuStatus::UNSUPPORTED;
    plan->refusal = n == -1 ? Refusal::NOT_AN_INSTRUCTION : Refusal::STEP_TOO_MANY_OPERANDS;
    return;
  }
  for (int i = 0; i < n; ++i) {
    for (int pass = 0; pass < 2; ++pass) {
      const bool write = pass == 1;
      if (write ? !ops[i].write : !ops[i].read) continue;
      emu::MemFault fault;
      if (ops[i].size > 64 || !touches_device(ops[i].addr, ops[i].size, write, &fault)) continue;
      if (!fault.ok()) {
        plan->status = emu::EmuStatus::FAULT;
        plan->fault = fault;
        return;
      }
      if (plan->n == kMaxStepAccesses) break;
      StepAccess& a = plan->acc[plan->n++];
      a = StepAccess{};
      a.addr = ops[i].addr;
      a.size = static_cast<uint8_t>(ops[i].size);
      a.write = write;
      a.from = ValueFrom::UNKNOWN;
    }
  }
  if (plan->n == 0) {
    plan->status = emu::EmuStatus::UNSUPPORTED;
    plan->refusal = Refusal::STEP_NO_DEVICE_OPERAND;
    return;
  }
  plan->status = emu::EmuStatus::OK;
}

bool same_accesses(const StepAccess* a, const StepAccess* b, unsigned n) {
  for (unsigned i = 0; i < n; ++i) {
    if (a[i].addr != b[i].addr || a[i].size != b[i].size || a[i].write != b[i].write || a[i].mask != b[i].mask) {
      return false;
    }
  }
  return true;
}

// The instruction once more, from the registers before the step, with the
// read values the step found: device reads are answered with them, in order,
// device writes are kept, nothing is accessed.
class ReplayMemory final : public emu::Memory {
 public:
  explicit ReplayMemory(StepPlan* plan) : plan_(plan) {}
  emu::MemFault read(uint64_t addr, unsigned size, void* out) override {
    return access(addr, size, static_cast<uint8_t*>(out), false);
  }
  emu::MemFault write(uint64_t addr, unsigned size, const void* in) override {
    return access(addr, size, const_cast<uint8_t*>(static_cast<const uint8_t*>(in)), true);
  }
  emu::MemFault read_masked(uint64_t, unsigned, uint64_t, void*) override { return refuse(); }
  emu::MemFault write_masked(uint64_t, unsigned, uint64_t, const void*) override { return refuse(); }
  bool ok = true;
  unsigned n = 0;
  uint8_t written[kMaxStepAccesses][64];

 private:
  emu::MemFault refuse() {
    ok = false;
    return emu::MemFault{SIGSEGV, SI_KERNEL, 0};
  }
  emu::MemFault access(uint64_t addr, unsigned size, uint8_t* buf, bool write) {
    emu::MemFault ignored;
    if (size == 0 || size > 64) return refuse();
    if (!touches_device(addr, size, write, &ignored)) {
      if (write) return {};
      return mt_copy(buf, reinterpret_cast<const void*>(addr), size) == 0 ? emu::MemFault{} : refuse();
    }
    if (n == plan_->n) return refuse();
    const StepAccess& a = plan_->acc[n];
    if (a.addr != addr || a.size != size || a.write != write || a.masked) return refuse();
    if (write) {
      memcpy(written[n], buf, size);
    } else {
      memcpy(buf, a.value, size);
    }
    ++n;
    return {};
  }
  StepPlan* plan_;
};

// Replays the instruction (see ReplayMemory) and, if it ends exactly as the
// CPU did (general registers, RIP, the arithmetic flags), takes its written
// values. Instructions with vector registers are not replayed (no XSAVE copy).
bool replay(const FaultContext& ctx, const emu::CpuState& after, StepPlan* plan) {
  emu::CpuState cpu = plan->pre;
  ReplayMemory mem(plan);
  emu::EmuOptions options;
  options.max_rep_iterations = 1;
  const emu::EmuResult r = emu::emulate(cpu, ctx.insn, ctx.insn_len, mem, options);
  if (r.status != emu::EmuStatus::OK || !mem.ok || mem.n != plan->n) return false;
  constexpr uint64_t kArithFlags =
      emu::kFlagCF | emu::kFlagPF | emu::kFlagAF | emu::kFlagZF | emu::kFlagSF | emu::kFlagOF;
  if (memcmp(cpu.gpr, after.gpr, sizeof cpu.gpr) != 0 || cpu.rip != after.rip ||
      ((cpu.rflags ^ after.rflags) & kArithFlags) != 0) {
    return false;
  }
  for (unsigned k = 0; k < plan->n; ++k) {
    if (plan->acc[k].from == ValueFrom::DEPENDS) memcpy(plan->acc[k].value, mem.written[k], plan->acc[k].size);
  }
  return true;
}

}  // namespace

void plan_step_from(const emu::CpuState& frame, const FaultContext& ctx, StepPlan* plan) {
  *plan = StepPlan{};
  emu::EmuOptions options;
  options.max_rep_iterations = 1;  // under TF a REP instruction traps after each iteration

  // Run 1: pattern P.
  emu::CpuState one = frame;
  one.xsave = copy_xsave(frame, tls_xsave[0]);
  ProbeMemory probe1(plan->acc, false);
  const emu::EmuResult r1 = emu::emulate(one, ctx.insn, ctx.insn_len, probe1, options);
  if (r1.status == emu::EmuStatus::FAULT) {
    plan->status = emu::EmuStatus::FAULT;
    plan->fault = r1.fault;
    plan->insn_len = r1.insn_len;
    return;
  }
  if (r1.status != emu::EmuStatus::OK || probe1.n == 0) {
    // Outside the table (or the emulator sees no device access where the CPU
    // faulted on one): the decoder's view.
    plan_from_decoder(frame, ctx, plan);
    return;
  }
  if (probe1.overflow) {
    plan->status = emu::EmuStatus::UNSUPPORTED;
    plan->refusal = Refusal::STEP_TOO_MANY_ACCESSES;
    return;
  }
  plan->status = emu::EmuStatus::OK;
  plan->insn_len = r1.insn_len;
  plan->n = probe1.n;
  plan->pre = frame;
  plan->pre.xsave = emu::XsaveArea();
  plan->post = one;
  plan->post.xsave = emu::XsaveArea();

  // Run 2: the complement ~P.
  emu::CpuState two = frame;
  two.xsave = copy_xsave(frame, tls_xsave[1]);
  StepAccess second[kMaxStepAccesses];
  ProbeMemory probe2(second, true);
  const emu::EmuResult r2 = emu::emulate(two, ctx.insn, ctx.insn_len, probe2, options);
  const bool comparable = r2.status == emu::EmuStatus::OK && probe2.n == plan->n && !probe2.overflow &&
                          same_accesses(plan->acc, second, plan->n);
  for (unsigned k = 0; k < plan->n; ++k) {
    StepAccess& a = plan->acc[k];
    a.from = ValueFrom::UNKNOWN;
    if (!comparable) continue;
    if (a.write) {
      if (memcmp(a.value, second[k].value, a.size) == 0) {
        a.from = ValueFrom::KNOWN;
        continue;
      }
      a.from = ValueFrom::DEPENDS;
      memset(a.value, 0, sizeof a.value);
      continue;
    }
    Candidate c;
    if (find_place(one, probe1, two, probe2, a, k, &c)) {
      a.from = c.from;
      a.reg = c.reg;
      a.offset = c.offset;
      a.mem = c.mem;
    }
  }
}

void plan_step(const ucontext_t* uc, const FaultContext& ctx, StepPlan* plan) {
  emu::CpuState frame;
  cpu_from_ucontext(uc, ctx.insn, ctx.insn_len, &frame);
  plan_step_from(frame, ctx, plan);
}

void collect_values(const ucontext_t* trap_uc, const FaultContext& ctx, StepPlan* plan, bool later_iterations_ran) {
  emu::CpuState after;
  cpu_from_ucontext(trap_uc, ctx.insn, ctx.insn_len, &after);
  for (unsigned k = 0; k < plan->n; ++k) {
    StepAccess& a = plan->acc[k];
    if (a.write) continue;
    if (a.from == ValueFrom::KNOWN || a.from == ValueFrom::UNKNOWN || a.from == ValueFrom::DEPENDS) continue;
    if (later_iterations_ran && a.from != ValueFrom::MEMORY) {
      a.from = ValueFrom::UNKNOWN;  // overwritten by the next iteration (LODS: RAX)
      continue;
    }
    const Candidate c{a.from, a.reg, a.offset, a.mem};
    uint8_t bytes[64];
    if (!place_bytes(c, after, nullptr, a.size, bytes)) {
      a.from = ValueFrom::UNKNOWN;
      continue;
    }
    for (unsigned i = 0; i < a.size; ++i) a.value[i] = selected(a, i) ? bytes[i] : 0;
    a.from = ValueFrom::KNOWN;
  }
  bool depends = false, reads_known = true;
  for (unsigned k = 0; k < plan->n; ++k) {
    depends = depends || plan->acc[k].from == ValueFrom::DEPENDS;
    reads_known = reads_known && (plan->acc[k].write || plan->acc[k].from == ValueFrom::KNOWN);
  }
  if (!depends) return;
  // The replay ends after one iteration: it can only be checked against a trap that came right after it.
  const bool replayed = reads_known && !plan->from_decoder && !later_iterations_ran && replay(ctx, after, plan);
  for (unsigned k = 0; k < plan->n; ++k) {
    if (plan->acc[k].from == ValueFrom::DEPENDS) plan->acc[k].from = replayed ? ValueFrom::KNOWN : ValueFrom::UNKNOWN;
  }
}

}  // namespace mmiotrace::agent
