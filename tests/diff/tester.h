// The differential tester's pieces (diff_tester.cc is its command line):
// the emulator's Memory over a copy of the test region (diff_memory.cc), the
// comparison of an emulated run with the native one (compare.cc), and the
// loop over instances with its counts and reports (tester.cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "diff/native.h"
#include "diff/rows.h"
#include "emu/emulator.h"

namespace mmiotrace::difftest {

constexpr uint64_t kComparedFlags =
    emu::kFlagCF | emu::kFlagPF | emu::kFlagAF | emu::kFlagZF | emu::kFlagSF | emu::kFlagOF | emu::kFlagDF;
constexpr const char* kGprNames[16] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                       "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};

std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

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
  emu::MemFault atomic_rmw(uint64_t addr, unsigned size, void* old_out, emu::RmwCompute compute, void* ctx) override;

 private:
  emu::MemFault access(AccessKind kind, uint64_t addr, unsigned size, uint64_t mask, uint8_t* out, const uint8_t* in);

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
  explicit Tester(const Options& opt);

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

}  // namespace mmiotrace::difftest
