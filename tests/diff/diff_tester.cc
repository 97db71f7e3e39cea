// Differential tester for the instruction emulator (src/emu).
//
// For each instance (rows.h: a random instance of one row of the table, fully
// determined by its seed) the instruction runs natively (native.h) and under
// emu::emulate() with a CpuState built from the same initial state and a
// Memory over a copy of the same memory, and the two are compared: the
// outcome (completed; faulted with the same signal and si_code, at the same
// address for #GP and at a faulting byte of the same Memory call for a page
// fault; #UD = DECODE_ERROR), all 16 general registers, RIP, the flags CF PF
// AF ZF SF OF DF, ZMM0-31 in full, k0-k7, and every byte of memory. The
// emulator's Memory calls (read, write, their masked forms, atomic_rmw) are
// checked against the model of the row's accesses: the exact sequence (kind,
// address, size, byte mask), or for rows marked inexact the bytes read and the
// bytes written; when the instruction faults, the calls made must be a prefix
// of that sequence. Calls outside the test region, malformed sizes or masks,
// and refusals of supported rows all fail.
//
//   diff_tester [--instances N] [--seed S] [--row SUBSTRING] [--all-rows]
//               [--replay INSTANCE_SEED] [--max-reports K] [--list] [--dump]
#include <asm/prctl.h>
#include <cpuid.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "diff/native.h"
#include "diff/rows.h"
#include "emu/emulator.h"
#include "emu/xsave_area.h"

namespace mmiotrace::difftest {
namespace {

constexpr uint64_t kComparedFlags =
    emu::kFlagCF | emu::kFlagPF | emu::kFlagAF | emu::kFlagZF | emu::kFlagSF | emu::kFlagOF | emu::kFlagDF;
constexpr const char* kGprNames[16] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                       "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};

std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string format(const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return buf;
}

uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint8_t* aligned_buffer(size_t size) {
  void* p = std::aligned_alloc(64, (size + 63) / 64 * 64);
  if (p == nullptr) std::abort();
  std::memset(p, 0, size);
  return static_cast<uint8_t*>(p);
}

// ---- The emulator's Memory: a copy of the region, every call recorded.

struct Call {
  Access a;
  bool faulted;
};

class DiffMemory final : public emu::Memory {
 public:
  DiffMemory(const Env& env, uint8_t* bytes) : env_(env), bytes_(bytes) {}

  std::vector<Call> log;
  std::string violation;          // first contract violation: an address outside the region, a bad size or mask
  std::vector<unsigned> decoded;  // instruction_decoded() lengths

  emu::MemFault read(uint64_t addr, unsigned size, void* out) override {
    return access(AccessKind::READ, addr, size, ~uint64_t{0}, static_cast<uint8_t*>(out), nullptr);
  }
  emu::MemFault write(uint64_t addr, unsigned size, const void* in) override {
    return access(AccessKind::WRITE, addr, size, ~uint64_t{0}, nullptr, static_cast<const uint8_t*>(in));
  }
  emu::MemFault read_masked(uint64_t addr, unsigned size, uint64_t mask, void* out) override {
    return access(AccessKind::READ_MASKED, addr, size, mask, static_cast<uint8_t*>(out), nullptr);
  }
  emu::MemFault write_masked(uint64_t addr, unsigned size, uint64_t mask, const void* in) override {
    return access(AccessKind::WRITE_MASKED, addr, size, mask, nullptr, static_cast<const uint8_t*>(in));
  }
  void instruction_decoded(unsigned length) override { decoded.push_back(length); }
  // One RMW call: read, compute once, write if it says so; all or nothing.
  emu::MemFault atomic_rmw(uint64_t addr, unsigned size, void* old_out, emu::RmwCompute compute, void* ctx) override {
    if (size > 16) {
      if (violation.empty()) violation = format("atomic_rmw of %u bytes", size);
      return {SIGSEGV, SEGV_MAPERR, addr};
    }
    uint8_t new_value[16];
    const emu::MemFault f = access(AccessKind::RMW, addr, size, ~uint64_t{0}, static_cast<uint8_t*>(old_out), nullptr);
    if (!f.ok()) return f;
    if (compute(ctx, static_cast<const uint8_t*>(old_out), new_value)) {
      for (unsigned i = 0; i < size; ++i) bytes_[addr + i - env_.region] = new_value[i];
    }
    return {};
  }

 private:
  emu::MemFault access(AccessKind kind, uint64_t addr, unsigned size, uint64_t mask, uint8_t* out, const uint8_t* in) {
    const bool masked = kind == AccessKind::READ_MASKED || kind == AccessKind::WRITE_MASKED;
    Call c{{kind, addr, size, masked ? mask : 0}, false};
    const bool size_ok =
        size == 1 || size == 2 || size == 4 || size == 8 || size == 10 || size == 16 || size == 32 || size == 64;
    if (!size_ok && violation.empty()) violation = format("Memory call with size %u", size);
    if (masked && violation.empty()) {
      if (mask == 0) violation = "masked Memory call with an empty mask";
      if (size < 64 && (mask >> size) != 0) violation = format("mask 0x%" PRIx64 " beyond size %u", mask, size);
    }
    const unsigned n = size_ok ? size : 0;
    // The access is all or nothing: find the first selected byte that cannot be accessed.
    for (unsigned i = 0; i < n; ++i) {
      if (masked && !((mask >> i) & 1)) continue;
      const uint64_t a = addr + i;
      if (a >= env_.lo && a < env_.hi) continue;
      c.faulted = true;
      log.push_back(c);
      if (a >= env_.region && a < env_.region + kRegionBytes) {
        return {SIGSEGV, SEGV_ACCERR, a};  // a guard page: PROT_NONE
      }
      if (violation.empty()) violation = format("access to 0x%" PRIx64 ", outside the test region", a);
      return {SIGSEGV, SEGV_MAPERR, a};
    }
    for (unsigned i = 0; i < n; ++i) {
      if (masked && !((mask >> i) & 1)) continue;
      uint8_t* p = bytes_ + (addr + i - env_.region);
      if (in != nullptr) {
        *p = in[i];
      } else {
        out[i] = *p;
      }
    }
    log.push_back(c);
    return {};
  }

  const Env& env_;
  uint8_t* bytes_;
};

// ---- Per-row counts.

struct RowStats {
  uint64_t instances = 0;
  uint64_t completed = 0;  // both ran to completion and agree
  uint64_t faulted = 0;    // both faulted the same way and agree
  uint64_t undefined = 0;  // #UD natively, DECODE_ERROR emulated
  uint64_t refused = 0;    // UNSUPPORTED (a failure unless the row expects it)
  uint64_t diverged = 0;
  uint64_t tolerated = 0;  // agreed once a documented CPU quirk was allowed for (Instance::a32_rep)
};

struct Options {
  uint64_t instances = 200000;
  uint64_t seed = 1;
  std::vector<std::string> row_filters;
  bool all_rows = false;
  bool replay = false;
  uint64_t replay_seed = 0;
  unsigned max_reports = 10;
  bool list = false;
  bool dump = false;  // print every instance (row, placement, bytes, disassembly)
};

class Tester {
 public:
  explicit Tester(const Options& opt) : opt_(opt) {
    env_.region = native_.region();
    env_.lo = native_.lo();
    env_.hi = native_.hi();
    env_.code_page = native_.code_page();
    env_.fs_base = native_.fs_base();
    env_.xfeatures = kRfbm & emu::XsaveLayout::host().supported;
    unsigned a = 0, b = 0, c = 0, d = 0;
    __cpuid(1, a, b, c, d);
    env_.movbe = (c >> 22) & 1;
    __cpuid_count(7, 0, a, b, c, d);
    const bool avx2 = (b >> 5) & 1;
    const bool avx512 = ((b >> 16) & 1) && ((b >> 30) & 1) && ((b >> 31) & 1);  // F, BW, VL
    env_.avx = avx2 && (env_.xfeatures & 0x6) == 0x6;
    env_.avx512 = avx512 && (env_.xfeatures & 0xe6) == 0xe6;
    tmpl_ = aligned_buffer(xsave_buffer_size());
    capture_xsave(tmpl_);
    env_.xsave_template = tmpl_;
    inst_xsave_ = aligned_buffer(xsave_buffer_size());
    emu_xsave_ = aligned_buffer(xsave_buffer_size());
    inst_mem_ = aligned_buffer(kRegionBytes);
    emu_mem_ = aligned_buffer(kRegionBytes);
  }

  int main();

 private:
  bool runnable(const Row& r) const {
    if (r.ops == Ops::VEC_MEM && r.enc == Enc::VEX) return env_.avx;
    if (r.ops == Ops::VEC_MEM && r.enc == Enc::EVEX) return env_.avx512;
    if (r.ops == Ops::GPR_MEM && r.map == 2) return env_.movbe;
    return true;
  }
  bool selected(const Row& r) const {
    if (opt_.row_filters.empty()) return r.enabled || opt_.all_rows;
    for (const std::string& f : opt_.row_filters) {
      if (std::strstr(r.name, f.c_str()) != nullptr) return r.enabled || opt_.all_rows || f == r.name;
    }
    return false;
  }
  void probe_disabled_rows();
  // The options that select rows: a replay needs the same ones to pick the same row.
  std::string selection_args() const {
    std::string s;
    for (const std::string& f : opt_.row_filters) s += " --row '" + f + "'";
    if (opt_.all_rows) s += " --all-rows";
    return s;
  }
  // Runs one instance; returns the first difference ("" if none).
  std::string run_one(bool verbose);
  std::string run_emulator(DiffMemory& mem, emu::CpuState& cpu, emu::EmuResult& res);
  std::string compare(const NativeResult& nat, const emu::CpuState& cpu, const DiffMemory& mem);
  std::string compare_accesses(const DiffMemory& mem, emu::EmuStatus status) const;
  void report(uint64_t seed, const std::string& what, const char* kind);
  void new_instance(uint64_t seed, const std::vector<const Row*>& rows) {
    inst_ = Instance{};
    inst_.xsave = inst_xsave_;
    inst_.mem = inst_mem_;
    generate(seed, rows, env_, inst_);
  }

  Options opt_;
  NativeRunner native_;
  Env env_;
  uint8_t* tmpl_;
  uint8_t* inst_xsave_;
  uint8_t* emu_xsave_;
  uint8_t* inst_mem_;
  uint8_t* emu_mem_;
  uint64_t gs_base_ = 0;  // this thread's GS base, as last set
  Instance inst_;
  std::vector<const Row*> rows_;
  std::vector<RowStats> stats_;
  unsigned reports_ = 0;
  // Filled by run_one for reporting.
  std::string native_outcome_, emu_outcome_;
  bool tolerated_ = false;  // the comparison accepted a documented CPU quirk (Instance::a32_rep)
};

std::string describe_native(const NativeResult& n) {
  if (!n.signalled) return "completed";
  return format("signal %d (%s) si_code %d si_addr 0x%" PRIx64 " at rip 0x%" PRIx64, n.signo, strsignal(n.signo),
                n.code, n.addr, n.rip);
}

std::string describe_emu(const emu::EmuResult& r) {
  if (r.status == emu::EmuStatus::FAULT) {
    return format("FAULT signal %d si_code %d addr 0x%" PRIx64, r.fault.signo, r.fault.code, r.fault.addr);
  }
  return emu::to_string(r.status);
}

std::string Tester::run_emulator(DiffMemory& mem, emu::CpuState& cpu, emu::EmuResult& res) {
  uint8_t bytes[15 + NativeRunner::kExitJumpBytes];
  std::memcpy(bytes, reinterpret_cast<const void*>(inst_.insn_addr), sizeof bytes);  // as the CPU saw it
  if (inst_.rep_chunk == 0) {
    res = emu::emulate(cpu, bytes, 15, mem);
    return "";
  }
  // REP in chunks: re-run while RIP stays on the instruction, as the CPU would.
  emu::EmuOptions o;
  o.max_rep_iterations = inst_.rep_chunk;
  const uint64_t count = cpu.gpr[1];
  const uint64_t limit = std::min<uint64_t>(count, 1u << 20) / inst_.rep_chunk + 3;
  for (uint64_t i = 0; i < limit; ++i) {
    res = emu::emulate(cpu, bytes, 15, mem, o);
    if (res.status != emu::EmuStatus::OK || cpu.rip != inst_.insn_addr) return "";
  }
  return format("REP in chunks of %u did not finish after %" PRIu64 " runs", inst_.rep_chunk, limit);
}

std::string Tester::compare(const NativeResult& nat, const emu::CpuState& cpu, const DiffMemory&) {
  for (unsigned i = 0; i < 16; ++i) {
    if (nat.gpr[i] != cpu.gpr[i] && inst_.a32_rep && (i == 1 || i == 6 || i == 7)) {
      // See Instance::a32_rep: the same low half; one side left the register
      // as it was, the other zero-extended it.
      const uint64_t n = nat.gpr[i], e = cpu.gpr[i], init = inst_.gpr[i];
      if ((n & 0xffffffffu) == (e & 0xffffffffu) && ((n == init && (e >> 32) == 0) || (e == init && (n >> 32) == 0))) {
        tolerated_ = true;
        continue;
      }
    }
    if (nat.gpr[i] != cpu.gpr[i]) {
      return format("%s: native 0x%" PRIx64 ", emulator 0x%" PRIx64 " (initial 0x%" PRIx64 ")", kGprNames[i],
                    nat.gpr[i], cpu.gpr[i], inst_.gpr[i]);
    }
  }
  if (nat.rip != cpu.rip) {
    return format("rip: native 0x%" PRIx64 ", emulator 0x%" PRIx64 " (instruction at 0x%" PRIx64 ", length %u)",
                  nat.rip, cpu.rip, inst_.insn_addr, inst_.len);
  }
  if ((nat.rflags & kComparedFlags) != (cpu.rflags & kComparedFlags)) {
    return format("rflags: native 0x%" PRIx64 ", emulator 0x%" PRIx64 " (compared bits 0x%" PRIx64 ")", nat.rflags,
                  cpu.rflags, kComparedFlags);
  }
  const emu::XsaveArea nx(const_cast<uint8_t*>(nat.xsave), nat.xsave_features);
  for (unsigned reg = 0; reg < 32; ++reg) {
    unsigned width = 64;
    while (width >= 16 && !(nx.holds_vector(reg, width) && cpu.xsave.holds_vector(reg, width))) width /= 2;
    if (width < 16) continue;
    uint8_t a[64] = {}, b[64] = {};
    nx.read_vector(reg, width, a);
    cpu.xsave.read_vector(reg, width, b);
    for (unsigned i = 0; i < width; ++i) {
      if (a[i] != b[i]) {
        return format("zmm%u byte %u: native 0x%02x, emulator 0x%02x", reg, i, a[i], b[i]);
      }
    }
  }
  if (nx.has(emu::XComponent::OPMASK) && cpu.xsave.has(emu::XComponent::OPMASK)) {
    for (unsigned k = 0; k < 8; ++k) {
      if (nx.read_opmask(k) != cpu.xsave.read_opmask(k)) {
        return format("k%u: native 0x%" PRIx64 ", emulator 0x%" PRIx64, k, nx.read_opmask(k), cpu.xsave.read_opmask(k));
      }
    }
  }
  const uint8_t* live = native_.memory();
  const uint8_t* copy = emu_mem_ + kPage;
  if (std::memcmp(live, copy, 2 * kPage) != 0) {
    for (unsigned i = 0; i < 2 * kPage; ++i) {
      if (live[i] != copy[i]) {
        return format("memory 0x%" PRIx64 ": native 0x%02x, emulator 0x%02x (initial 0x%02x)", env_.lo + i, live[i],
                      copy[i], inst_mem_[kPage + i]);
      }
    }
  }
  return "";
}

std::string Tester::compare_accesses(const DiffMemory& mem, emu::EmuStatus status) const {
  if (!mem.violation.empty()) return mem.violation;
  const std::vector<Access>& want = inst_.expected;
  const Row& row = *inst_.row;
  for (size_t i = 0; i < mem.log.size(); ++i) {
    const bool last = i + 1 == mem.log.size();
    if (mem.log[i].faulted && !(last && status == emu::EmuStatus::FAULT)) {
      return format("Memory call %zu %s faulted but the emulator went on (status %s)", i,
                    to_string(mem.log[i].a).c_str(), emu::to_string(status));
    }
  }
  if (row.exact) {
    // Completed: exactly the model's sequence. Faulted: a prefix of it.
    const bool complete = status == emu::EmuStatus::OK;
    for (size_t i = 0; i < mem.log.size(); ++i) {
      if (i >= want.size() || !(mem.log[i].a == want[i])) {
        return format("Memory call %zu: emulator %s, expected %s", i, to_string(mem.log[i].a).c_str(),
                      i < want.size() ? to_string(want[i]).c_str() : "none");
      }
    }
    if (complete && mem.log.size() != want.size()) {
      return format("Memory calls: emulator made %zu, expected %zu (next expected %s)", mem.log.size(), want.size(),
                    to_string(want[mem.log.size()]).c_str());
    }
    return "";
  }
  // Inexact rows: the bytes read and written (selected bytes of masked calls).
  std::vector<uint8_t> got(kRegionBytes, 0), exp(kRegionBytes, 0);  // bit 0 read, bit 1 written
  const auto mark = [&](std::vector<uint8_t>& m, const Access& a) {
    const bool masked = a.kind == AccessKind::READ_MASKED || a.kind == AccessKind::WRITE_MASKED;
    const uint8_t bits = a.kind == AccessKind::RMW                                             ? 3
                         : (a.kind == AccessKind::WRITE || a.kind == AccessKind::WRITE_MASKED) ? 2
                                                                                               : 1;
    for (unsigned i = 0; i < a.size; ++i) {
      if (masked && !((a.mask >> i) & 1)) continue;
      const uint64_t b = a.addr + i - env_.region;
      if (b < kRegionBytes) m[b] |= bits;
    }
  };
  for (const Call& c : mem.log) mark(got, c.a);
  for (const Access& a : want) mark(exp, a);
  const bool maybe_write = row.mem == MemUse::READ_MAYBE_WRITE;
  for (uint64_t b = 0; b < kRegionBytes; ++b) {
    const uint8_t g = got[b], e = exp[b];
    const bool extra = (g & ~e) != 0;
    const bool missing_read = (e & 1) && !(g & 1);
    const bool missing_write = (e & 2) && !(g & 2) && !maybe_write;
    if (extra || (status == emu::EmuStatus::OK && (missing_read || missing_write))) {
      return format("byte 0x%" PRIx64 ": emulator %s%s, expected %s%s", env_.region + b, g & 1 ? "read " : "",
                    g & 2 ? "written" : (g ? "" : "untouched"), e & 1 ? "read " : "",
                    e & 2 ? (maybe_write ? "maybe written" : "written") : (e ? "" : "untouched"));
    }
  }
  return "";
}

void Tester::report(uint64_t seed, const std::string& what, const char* kind) {
  if (reports_++ >= opt_.max_reports) {
    if (reports_ == opt_.max_reports + 1) std::printf("(further reports suppressed)\n");
    return;
  }
  char text[128];
  emu::disassemble(inst_.code, inst_.len, inst_.insn_addr, text, sizeof text);
  std::string hex;
  for (unsigned i = 0; i < inst_.len; ++i) hex += format("%02x ", inst_.code[i]);
  std::printf("%s: row '%s' seed 0x%016" PRIx64 " (placement %s%s)\n", kind, inst_.row->name, seed, inst_.placement,
              inst_.rep_chunk ? format(", REP chunks of %u", inst_.rep_chunk).c_str() : "");
  std::printf("  bytes: %s at 0x%" PRIx64 "\n  insn:  %s\n", hex.c_str(), inst_.insn_addr, text);
  std::printf("  native: %s; emulator: %s\n", native_outcome_.c_str(), emu_outcome_.c_str());
  std::printf("  first difference: %s\n", what.c_str());
  std::printf("  replay: diff_tester --replay 0x%016" PRIx64 "%s\n", seed, selection_args().c_str());
  std::fflush(stdout);
}

std::string Tester::run_one(bool verbose) {
  const Row& row = *inst_.row;
  // The emulator's side: a CpuState and Memory over copies of the initial state.
  std::memcpy(emu_xsave_, inst_.xsave, xsave_buffer_size());
  std::memcpy(emu_mem_, inst_.mem, kRegionBytes);
  if (inst_.set_gs && inst_.gs_base != gs_base_) {
    if (!native_.set_gs_base(inst_.gs_base))
      return format("arch_prctl(ARCH_SET_GS, 0x%" PRIx64 ") failed", inst_.gs_base);
    gs_base_ = inst_.gs_base;
  }
  emu::CpuState cpu;
  std::memcpy(cpu.gpr, inst_.gpr, sizeof cpu.gpr);
  cpu.rip = inst_.insn_addr;
  cpu.rflags = inst_.rflags;
  cpu.fs_base = env_.fs_base;
  cpu.gs_base = gs_base_;
  cpu.xsave = emu::XsaveArea(emu_xsave_, env_.xfeatures);

  // Native run first (the code page then holds what the emulator is given).
  NativeResult nat;
  if (!row.expect_refused) {
    native_.load_memory(inst_.mem + kPage);
    nat = native_.run(inst_.code, inst_.len, inst_.insn_addr, inst_.gpr, inst_.rflags, inst_.xsave);
  } else {
    std::memcpy(reinterpret_cast<void*>(inst_.insn_addr), inst_.code, inst_.len);
  }
  DiffMemory mem(env_, emu_mem_);
  emu::EmuResult res;
  const std::string chunk_error = run_emulator(mem, cpu, res);
  tolerated_ = false;
  native_outcome_ = row.expect_refused ? "not run" : describe_native(nat);
  emu_outcome_ = describe_emu(res);
  if (verbose) {
    std::printf("row '%s', placement %s, REP chunks %u\n  initial:", row.name, inst_.placement, inst_.rep_chunk);
    for (unsigned i = 0; i < 16; ++i) std::printf(" %s=0x%" PRIx64, kGprNames[i], inst_.gpr[i]);
    std::printf(" rflags=0x%" PRIx64 " gs_base=0x%" PRIx64 "\n  expected calls:", inst_.rflags, gs_base_);
    for (const Access& a : inst_.expected) std::printf(" %s", to_string(a).c_str());
    std::printf("\n  emulator calls:");
    for (const Call& c : mem.log) std::printf(" %s%s", to_string(c.a).c_str(), c.faulted ? "!" : "");
    std::printf("\n");
  }
  if (verbose && !row.expect_refused) {
    // Every register that differs (the report names only the first difference).
    for (unsigned i = 0; i < 16; ++i) {
      if (nat.gpr[i] != cpu.gpr[i] || nat.gpr[i] != inst_.gpr[i]) {
        std::printf("  %s: initial 0x%" PRIx64 " native 0x%" PRIx64 " emulator 0x%" PRIx64 "%s\n", kGprNames[i],
                    inst_.gpr[i], nat.gpr[i], cpu.gpr[i], nat.gpr[i] != cpu.gpr[i] ? "  <- differs" : "");
      }
    }
  }
  if (!chunk_error.empty()) return chunk_error;
  // instruction_decoded: once per emulate() call, with the decoded length.
  for (unsigned n : mem.decoded) {
    if (n != inst_.len) return format("instruction_decoded(%u), the instruction has %u bytes", n, inst_.len);
  }
  if (res.status != emu::EmuStatus::DECODE_ERROR && res.insn_len != inst_.len) {
    return format("insn_len %u, the instruction has %u bytes", res.insn_len, inst_.len);
  }

  if (row.expect_refused) {
    if (res.status != emu::EmuStatus::UNSUPPORTED) return "a documented refusal was not refused";
    if (!mem.log.empty()) return "refused after a Memory call";
    if (std::memcmp(cpu.gpr, inst_.gpr, sizeof cpu.gpr) != 0 || cpu.rip != inst_.insn_addr ||
        cpu.rflags != inst_.rflags || std::memcmp(emu_xsave_, inst_.xsave, xsave_buffer_size()) != 0) {
      return "refused but changed the CpuState";
    }
    return "";
  }
  switch (res.status) {
    case emu::EmuStatus::UNSUPPORTED:
      return "refused";  // counted apart by the caller
    case emu::EmuStatus::DECODE_ERROR:
      if (!nat.signalled || nat.signo != SIGILL) return "DECODE_ERROR but the CPU did not raise #UD";
      if (!mem.log.empty()) return "DECODE_ERROR after a Memory call";
      return "";
    case emu::EmuStatus::FAULT: {
      if (!nat.signalled) return "the emulator faulted, the CPU completed the instruction";
      if (nat.signo != res.fault.signo || nat.code != res.fault.code) return "different faults";
      if (nat.code == SI_KERNEL || mem.log.empty() || !mem.log.back().faulted) {
        // #GP (or a fault the emulator raised itself): the same address (0).
        if (nat.addr != res.fault.addr) return "different fault addresses";
        break;
      }
      // A page fault in the last Memory call. Which of its faulting bytes the
      // CPU reports is its choice (the highest selected one for vector stores
      // crossing into the page, the lowest otherwise, on this CPU): both
      // addresses must be selected bytes of that call outside ordinary memory.
      const Access& a = mem.log.back().a;
      const bool masked = a.kind == AccessKind::READ_MASKED || a.kind == AccessKind::WRITE_MASKED;
      const auto faulting_byte = [&](uint64_t x) {
        const uint64_t i = x - a.addr;
        return i < a.size && (!masked || ((a.mask >> i) & 1)) && (x < env_.lo || x >= env_.hi);
      };
      if (!faulting_byte(nat.addr)) return "the CPU faulted at a byte the emulator's faulting call does not cover";
      if (!faulting_byte(res.fault.addr)) return "the emulator's fault address is not a faulting byte of its call";
      break;
    }
    case emu::EmuStatus::OK:
      if (nat.signalled) return "the CPU faulted, the emulator completed the instruction";
      break;
  }
  std::string d = compare(nat, cpu, mem);
  if (d.empty()) d = compare_accesses(mem, res.status);
  return d;
}

void Tester::probe_disabled_rows() {
  // A disabled row whose instances the emulator now emulates should be enabled.
  for (const Row& r : all_rows()) {
    if (r.enabled || !runnable(r)) continue;
    const std::vector<const Row*> one{&r};
    unsigned emulated = 0;
    constexpr unsigned kProbes = 16;
    for (unsigned i = 0; i < kProbes; ++i) {
      new_instance(mix64(0x70726f6265ull + i), one);
      std::memcpy(emu_xsave_, inst_.xsave, xsave_buffer_size());
      std::memcpy(emu_mem_, inst_.mem, kRegionBytes);
      emu::CpuState cpu;
      std::memcpy(cpu.gpr, inst_.gpr, sizeof cpu.gpr);
      cpu.rip = inst_.insn_addr;
      cpu.rflags = inst_.rflags;
      cpu.fs_base = env_.fs_base;
      cpu.gs_base = inst_.gs_base;
      cpu.xsave = emu::XsaveArea(emu_xsave_, env_.xfeatures);
      DiffMemory mem(env_, emu_mem_);
      const emu::EmuResult res = emu::emulate(cpu, inst_.code, inst_.len, mem);
      if (res.status != emu::EmuStatus::UNSUPPORTED && res.status != emu::EmuStatus::DECODE_ERROR) ++emulated;
    }
    if (emulated != 0 && r.disabled_reason != nullptr) {
      std::printf("note: disabled row '%s' is emulated but stays disabled: %s\n", r.name, r.disabled_reason);
    } else if (emulated != 0) {
      std::printf(
          "note: disabled row '%s': the emulator emulated %u of %u probe instances; "
          "try `diff_tester --all-rows --row '%s'` and enable it in tests/diff/rows.cc\n",
          r.name, emulated, kProbes, r.name);
    }
  }
}

int Tester::main() {
  for (const Row& r : all_rows()) {
    if (!selected(r)) continue;
    if (!runnable(r)) {
      std::printf("skipped (this CPU lacks the feature): %s\n", r.name);
      continue;
    }
    rows_.push_back(&r);
  }
  if (opt_.list) {
    for (const Row& r : all_rows()) {
      std::printf("%-34s %s%s%s%s\n", r.name, r.enabled ? "enabled" : "disabled",
                  r.expect_refused ? " (documented refusal)" : "", r.disabled_reason ? ": " : "",
                  r.disabled_reason ? r.disabled_reason : "");
    }
    return 0;
  }
  if (rows_.empty()) {
    std::fprintf(stderr, "diff_tester: no row selected\n");
    return 2;
  }
  if (opt_.replay) {
    new_instance(opt_.replay_seed, rows_);
    const std::string d = run_one(true);
    std::printf("native: %s\nemulator: %s\n", native_outcome_.c_str(), emu_outcome_.c_str());
    if (d.empty()) {
      std::printf("replay 0x%016" PRIx64 ": no divergence\n", opt_.replay_seed);
      return 0;
    }
    opt_.max_reports = 1;
    report(opt_.replay_seed, d, d == "refused" ? "REFUSED" : "DIVERGENCE");
    return 1;
  }
  if (opt_.row_filters.empty() && !opt_.all_rows) probe_disabled_rows();

  stats_.assign(all_rows().size(), RowStats{});
  const auto t0 = std::chrono::steady_clock::now();
  uint64_t diverged = 0, refused = 0, tolerated = 0;
  for (uint64_t i = 0; i < opt_.instances; ++i) {
    const uint64_t seed = mix64(opt_.seed * 0x9e3779b97f4a7c15ull + i);
    new_instance(seed, rows_);
    RowStats& s = stats_[static_cast<size_t>(inst_.row - all_rows().data())];
    ++s.instances;
    const std::string d = run_one(false);
    if (opt_.dump) {
      char text[128];
      emu::disassemble(inst_.code, inst_.len, inst_.insn_addr, text, sizeof text);
      std::string hex;
      for (unsigned b = 0; b < inst_.len; ++b) hex += format("%02x", inst_.code[b]);
      std::printf("%016" PRIx64 " %-30s %-14s %-30s %s | %s\n", seed, inst_.row->name, inst_.placement, hex.c_str(),
                  text, emu_outcome_.c_str());
    }
    if (d == "refused") {
      ++s.refused;
      ++refused;
      report(seed, "UNSUPPORTED for a row the table lists", "REFUSED");
      continue;
    }
    if (!d.empty()) {
      ++s.diverged;
      ++diverged;
      report(seed, d, "DIVERGENCE");
      continue;
    }
    if (tolerated_) {
      ++s.tolerated;
      ++tolerated;
    }
    if (inst_.row->expect_refused) {
      ++s.refused;
    } else if (emu_outcome_ == "DECODE_ERROR") {
      ++s.undefined;
    } else if (emu_outcome_ == "OK") {
      ++s.completed;
    } else {
      ++s.faulted;
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  std::printf("\n%-34s %9s %9s %8s %6s %8s %9s %8s\n", "row", "instances", "completed", "faulted", "#UD", "refused",
              "tolerated", "diverged");
  for (size_t i = 0; i < all_rows().size(); ++i) {
    const RowStats& s = stats_[i];
    if (s.instances == 0) continue;
    std::printf("%-34s %9" PRIu64 " %9" PRIu64 " %8" PRIu64 " %6" PRIu64 " %8" PRIu64 "%s %8" PRIu64 " %8" PRIu64 "\n",
                all_rows()[i].name, s.instances, s.completed, s.faulted, s.undefined, s.refused,
                all_rows()[i].expect_refused ? "*" : " ", s.tolerated, s.diverged);
  }
  std::printf(
      "(* documented refusals: every instance must be refused. tolerated: agreed once the\n"
      "   upper halves of RCX/RSI/RDI were allowed to differ, unchanged on one side and zero-extended\n"
      "   on the other, for a REP string instruction with 67h that completes no iteration; see\n"
      "   Instance::a32_rep in tests/diff/rows.h)\n");
  std::printf("\n%" PRIu64 " instances of %zu rows, seed %" PRIu64 ", %.1f s (%.0f instances/s)\n", opt_.instances,
              rows_.size(), opt_.seed, secs, static_cast<double>(opt_.instances) / secs);
  if (refused != 0) std::printf("%" PRIu64 " refusals of rows the table lists\n", refused);
  std::printf("%" PRIu64 " divergences\n", diverged);
  return diverged == 0 && refused == 0 ? 0 : 1;
}

uint64_t parse_u64(const char* s) {
  char* end = nullptr;
  const uint64_t v = std::strtoull(s, &end, 0);
  if (end == s || *end != '\0') {
    std::fprintf(stderr, "diff_tester: not a number: %s\n", s);
    std::exit(2);
  }
  return v;
}

}  // namespace
}  // namespace mmiotrace::difftest

int main(int argc, char** argv) {
  using namespace mmiotrace::difftest;
  Options opt;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--instances" && has_value) {
      opt.instances = parse_u64(argv[++i]);
    } else if (a == "--seed" && has_value) {
      opt.seed = parse_u64(argv[++i]);
    } else if (a == "--row" && has_value) {
      opt.row_filters.push_back(argv[++i]);
    } else if (a == "--all-rows") {
      opt.all_rows = true;
    } else if (a == "--replay" && has_value) {
      opt.replay = true;
      opt.replay_seed = parse_u64(argv[++i]);
    } else if (a == "--max-reports" && has_value) {
      opt.max_reports = static_cast<unsigned>(parse_u64(argv[++i]));
    } else if (a == "--list") {
      opt.list = true;
    } else if (a == "--dump") {
      opt.dump = true;
    } else {
      std::fprintf(stderr,
                   "usage: diff_tester [--instances N] [--seed S] [--row SUBSTRING]... [--all-rows]\n"
                   "                   [--replay INSTANCE_SEED] [--max-reports K] [--list] [--dump]\n");
      return 2;
    }
  }
  Tester tester(opt);
  return tester.main();
}
