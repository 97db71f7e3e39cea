// The differential tester's loop (tester.h): instances drawn from the seed,
// each run natively and emulated and compared, counts per row, reports of
// divergences with what reproduces them, and the probe of disabled rows.
#include "diff/tester.h"

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

}  // namespace

Tester::Tester(const Options& opt) : opt_(opt) {
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

}  // namespace mmiotrace::difftest
