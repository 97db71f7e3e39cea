// emu::emulate for CMPS and SCAS (docs/emulated-instructions.md, "String
// comparisons"): every width x repeat prefix x direction x address size, with
// REPE stopping on the first mismatch and REPNE on the first match; the flags
// of the last comparison; faults and max_rep_iterations as for MOVS, with
// RFLAGS at a fault after some elements as each vendor leaves it.
#include <cpuid.h>
#include <gtest/gtest.h>

#include <csignal>
#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "alu_test_support.h"
#include "emu/emulator.h"

namespace mmiotrace::emu::alu_test {
namespace {

constexpr uint64_t CF = kFlagCF, PF = kFlagPF, AF = kFlagAF, ZF = kFlagZF, SF = kFlagSF, OF = kFlagOF;
constexpr uint64_t kFlagsDown = kBaseFlags | kFlagDF;

uint64_t fl(uint64_t bits) { return kBaseFlags | bits; }

// The arithmetic flags of left - right at `bits` (CMP; SDM Vol. 2, SUB "Flags Affected").
uint64_t compare_flags(uint64_t left, uint64_t right, unsigned bits) {
  const uint64_t m = bits == 64 ? ~uint64_t{0} : (uint64_t{1} << bits) - 1;
  left &= m;
  right &= m;
  const uint64_t r = (left - right) & m;
  uint64_t f = 0;
  if (left < right) f |= CF;
  if (r == 0) f |= ZF;
  if ((r >> (bits - 1)) & 1) f |= SF;
  if ((((left ^ right) & (left ^ r)) >> (bits - 1)) & 1) f |= OF;
  if (((left ^ right ^ r) >> 4) & 1) f |= AF;
  if (__builtin_popcountll(r & 0xff) % 2 == 0) f |= PF;
  return f;
}

enum class CmpOp : uint8_t { CMPS, SCAS };
enum class Rep : uint8_t { NONE, REPE, REPNE };
using Param = std::tuple<CmpOp, unsigned, Rep, bool, bool>;  // op, width, rep, down, addr32

class EmulatorStringCompare : public ::testing::TestWithParam<Param> {};

// REPE sees equal elements then a mismatch at element 2; REPNE sees
// mismatches then a match at element 2; both stop there with RCX = 4 - 3.
TEST_P(EmulatorStringCompare, AccessesRegistersFlags) {
  const auto [op, w, rep, down, a32] = GetParam();
  Bytes code;
  if (a32) code.push_back(0x67);
  if (rep == Rep::REPE) code.push_back(0xf3);
  if (rep == Rep::REPNE) code.push_back(0xf2);
  if (w == 2) code.push_back(0x66);
  if (w == 8) code.push_back(0x48);
  code.push_back(static_cast<uint8_t>((op == CmpOp::CMPS ? 0xa6 : 0xae) + (w == 1 ? 0 : 1)));

  const uint64_t junk = a32 ? 0x0000abcd00000000 : 0;
  const uint64_t si = down ? 0x10100 : 0x10000;
  const uint64_t di = down ? 0x20100 : 0x20000;
  const uint64_t acc = 0x8070605040302010;
  const uint64_t m = w == 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * w)) - 1;
  const unsigned n = rep == Rep::NONE ? 1 : 3;  // elements performed
  CpuState cpu = base_cpu();
  cpu.reg(Gpr::RSI) = junk | si;
  cpu.reg(Gpr::RDI) = junk | di;
  cpu.reg(Gpr::RCX) = rep != Rep::NONE ? (junk | 4) : 0x77;
  cpu.reg(Gpr::RAX) = acc;
  cpu.rflags = down ? kFlagsDown : kBaseFlags;
  const CpuState before = cpu;

  RecordingMemory mem;
  std::vector<Access> expect;
  uint64_t flags = 0;
  const int64_t step = down ? -static_cast<int64_t>(w) : static_cast<int64_t>(w);
  for (unsigned i = 0; i < 4; ++i) {
    const uint64_t s = si + i * step;
    const uint64_t d = di + i * step;
    // Element i matches when (REPE and i < 2) or (REPNE and i == 2); the single
    // element without a prefix mismatches.
    const bool match = rep == Rep::REPE ? i < 2 : rep == Rep::REPNE ? i == 2 : false;
    const uint64_t left = op == CmpOp::CMPS ? (0x1111111111111111 * (i + 3)) & m : acc & m;
    const uint64_t right = match ? left : (left ^ (0x8100000000000081 & m)) & m;
    if (op == CmpOp::CMPS) mem.put(s, le(left, w));
    mem.put(d, le(right, w));
    if (i >= n) continue;
    if (op == CmpOp::CMPS) expect.push_back(R(s, le(left, w)));
    expect.push_back(R(d, le(right, w)));
    flags = compare_flags(left, right, w * 8);
  }
  const EmuResult r = emulate(cpu, code.data(), code.size(), mem);
  ASSERT_EQ(r.status, EmuStatus::OK) << to_string(r.status);
  EXPECT_EQ(cpu.rip, kRip + code.size());
  EXPECT_EQ(mem.log, expect);
  Regs out;
  if (op == CmpOp::CMPS) out.push_back({Gpr::RSI, si + n * step});
  out.push_back({Gpr::RDI, di + n * step});
  if (rep != Rep::NONE) out.push_back({Gpr::RCX, 1});
  expect_gprs(cpu, before, out);
  EXPECT_EQ(cpu.rflags, (before.rflags & ~kArith) | flags) << std::hex << cpu.rflags;
}

std::string case_name(const ::testing::TestParamInfo<Param>& info) {
  const auto [op, w, rep, down, a32] = info.param;
  const char* reps[] = {"", "_repe", "_repne"};
  return std::string(op == CmpOp::CMPS ? "cmps" : "scas") + std::to_string(w) + reps[static_cast<int>(rep)] +
         (down ? "_df1" : "_df0") + (a32 ? "_a32" : "_a64");
}

INSTANTIATE_TEST_SUITE_P(All, EmulatorStringCompare,
                         ::testing::Combine(::testing::Values(CmpOp::CMPS, CmpOp::SCAS),
                                            ::testing::Values(1u, 2u, 4u, 8u),
                                            ::testing::Values(Rep::NONE, Rep::REPE, Rep::REPNE), ::testing::Bool(),
                                            ::testing::Bool()),
                         case_name);

std::vector<Row> compare_rows() {
  // A table, one case per line.
  // clang-format off
  using enum Gpr;
  return {
      {"repe_cmpsb_stops_on_mismatch", {0xf3, 0xa6}, {{RSI, 0x10000}, {RDI, 0x20000}, {RCX, 10}},
       fl(0),
       {R(0x10000, {'a'}), R(0x20000, {'a'}), R(0x10001, {'b'}), R(0x20001, {'b'}),
        R(0x10002, {'c'}), R(0x20002, {'c'}), R(0x10003, {'X'}), R(0x20003, {'Y'})},
       {{RSI, 0x10004}, {RDI, 0x20004}, {RCX, 6}}, fl(CF | SF | AF | PF)},
      {"repe_cmpsb_all_equal_runs_out", {0xf3, 0xa6}, {{RSI, 0x10000}, {RDI, 0x20000}, {RCX, 2}},
       fl(CF), {R(0x10000, {1}), R(0x20000, {1}), R(0x10001, {2}), R(0x20001, {2})},
       {{RSI, 0x10002}, {RDI, 0x20002}, {RCX, 0}}, fl(ZF | PF)},
      {"repne_scasb_finds_the_byte", {0xf2, 0xae}, {{RAX, 0x4100}, {RDI, 0x20000}, {RCX, 100}},
       fl(0), {R(0x20000, {'a'}), R(0x20001, {'b'}), R(0x20002, {0})},
       {{RDI, 0x20003}, {RCX, 97}}, fl(ZF | PF)},
      {"repne_scasb_runs_out", {0xf2, 0xae}, {{RAX, 0}, {RDI, 0x20000}, {RCX, 2}}, fl(0),
       {R(0x20000, {1}), R(0x20001, {2})}, {{RDI, 0x20002}, {RCX, 0}}, fl(CF | SF | AF)},
      {"repe_scasl_df1", {0xf3, 0xaf}, {{RAX, 7}, {RDI, 0x20008}, {RCX, 5}}, kFlagsDown,
       {R(0x20008, le(7, 4)), R(0x20004, le(8, 4))}, {{RDI, 0x20000}, {RCX, 3}},
       kFlagsDown | CF | SF | AF | PF},
      {"repne_cmpsq_df1", {0xf2, 0x48, 0xa7}, {{RSI, 0x10010}, {RDI, 0x20010}, {RCX, 5}}, kFlagsDown,
       {R(0x10010, le(1, 8)), R(0x20010, le(2, 8)), R(0x10008, le(3, 8)), R(0x20008, le(3, 8))},
       {{RSI, 0x10000}, {RDI, 0x20000}, {RCX, 3}}, kFlagsDown | ZF | PF},
      {"repe_cmpsb_rcx_zero_touches_nothing", {0xf3, 0xa6}, {{RCX, 0}}, fl(CF | OF), {}, {},
       fl(CF | OF)},
      {"repne_scasw_ecx_zero_with_67", {0x67, 0xf2, 0x66, 0xaf}, {{RCX, 0x100000000}}, fl(SF), {},
       {}, fl(SF)},
      {"cmpsb_fs_source", {0x64, 0xa6}, {{RSI, 0x100}, {RDI, 0x200}}, fl(0),
       {R(0x7f0000000100, {5}), R(0x200, {5})}, {{RSI, 0x101}, {RDI, 0x201}}, fl(ZF | PF), 0,
       0x7f0000000000},
      {"scasb_ignores_fs_override", {0x64, 0xae}, {{RAX, 5}, {RDI, 0x200}}, fl(0), {R(0x200, {6})},
       {{RDI, 0x201}}, fl(CF | SF | AF | PF), 0, 0x7f0000000000},
      {"addr32_repe_cmpsw_wraps", {0x67, 0xf3, 0x66, 0xa7},
       {{RSI, 0x12fffffffe}, {RDI, 0x0000000300020000}, {RCX, 0xffffffff00000002}}, fl(0),
       {R(0xfffffffe, le(9, 2)), R(0x20000, le(9, 2)), R(0, le(1, 2)), R(0x20002, le(1, 2))},
       {{RSI, 2}, {RDI, 0x20004}, {RCX, 0}}, fl(ZF | PF)},
      {"scasq_sets_of", {0x48, 0xaf}, {{RAX, 0x8000000000000000}, {RDI, 0x20000}}, fl(0),
       {R(0x20000, le(1, 8))}, {{RDI, 0x20008}}, fl(OF | AF | PF)},
  };
  // clang-format on
}

class EmulatorStringCompareRows : public ::testing::TestWithParam<Row> {};

TEST_P(EmulatorStringCompareRows, AccessesRegistersFlags) { run_row(GetParam()); }

INSTANTIATE_TEST_SUITE_P(Table, EmulatorStringCompareRows, ::testing::ValuesIn(compare_rows()),
                         [](const auto& info) { return sanitize(info.param.name); });

// REPE CMPSB over 5 equal bytes in runs of 2: RCX/RSI/RDI per element; RFLAGS
// as the vendor leaves it at an interruption (RepCompareFlags), then the last
// comparison's once complete.
void max_iterations_stop_and_resume(RepCompareFlags policy) {
  const Bytes code = {0xf3, 0xa6};
  CpuState cpu = base_cpu();
  cpu.reg(Gpr::RSI) = 0x10000;
  cpu.reg(Gpr::RDI) = 0x20000;
  cpu.reg(Gpr::RCX) = 5;
  cpu.rflags = fl(CF | SF);
  RecordingMemory mem;
  for (unsigned i = 0; i < 5; ++i) {
    mem.put(0x10000 + i, {static_cast<uint8_t>(i)});
    mem.put(0x20000 + i, {static_cast<uint8_t>(i)});
  }
  EmuOptions opt;
  opt.max_rep_iterations = 2;
  opt.rep_compare_flags = policy;
  // Intel: unchanged until the instruction completes; AMD: the last comparison's (equal: ZF PF).
  const uint64_t interrupted = policy == RepCompareFlags::INSTRUCTION_START ? fl(CF | SF) : fl(ZF | PF);
  EmuResult r = emulate(cpu, code.data(), code.size(), mem, opt);
  EXPECT_EQ(r.status, EmuStatus::OK);
  EXPECT_EQ(cpu.rip, kRip);  // the CPU re-runs it
  EXPECT_EQ(cpu.reg(Gpr::RCX), 3u);
  EXPECT_EQ(cpu.reg(Gpr::RSI), 0x10002u);
  EXPECT_EQ(mem.log.size(), 4u);
  EXPECT_EQ(cpu.rflags, interrupted);
  r = emulate(cpu, code.data(), code.size(), mem, opt);
  EXPECT_EQ(cpu.rip, kRip);
  EXPECT_EQ(cpu.rflags, interrupted);
  r = emulate(cpu, code.data(), code.size(), mem, opt);
  EXPECT_EQ(r.status, EmuStatus::OK);
  EXPECT_EQ(cpu.rip, kRip + 2);
  EXPECT_EQ(cpu.reg(Gpr::RCX), 0u);
  EXPECT_EQ(mem.log.size(), 10u);
  EXPECT_EQ(cpu.rflags, fl(ZF | PF));
}

TEST(EmulatorStringCompareRep, MaxIterationsStopsAndResumesIntel) {
  max_iterations_stop_and_resume(RepCompareFlags::INSTRUCTION_START);
}

TEST(EmulatorStringCompareRep, MaxIterationsStopsAndResumesAmd) {
  max_iterations_stop_and_resume(RepCompareFlags::LAST_COMPARISON);
}

TEST(EmulatorStringCompareRep, StopConditionAtTheLimitCompletes) {
  const Bytes code = {0xf2, 0xae};  // repne scasb: the 2nd byte matches
  CpuState cpu = base_cpu();
  cpu.reg(Gpr::RAX) = 0x42;
  cpu.reg(Gpr::RDI) = 0x20000;
  cpu.reg(Gpr::RCX) = 9;
  RecordingMemory mem;
  mem.put(0x20000, {0x41, 0x42});
  EmuOptions opt;
  opt.max_rep_iterations = 2;
  const EmuResult r = emulate(cpu, code.data(), code.size(), mem, opt);
  EXPECT_EQ(r.status, EmuStatus::OK);
  EXPECT_EQ(cpu.rip, kRip + 2);
  EXPECT_EQ(cpu.reg(Gpr::RCX), 7u);
  EXPECT_EQ(cpu.reg(Gpr::RDI), 0x20002u);
  EXPECT_EQ(cpu.rflags & ZF, ZF);
}

// REPE CMPSB faulting on element 1's [RDI] after element 0 compared equal
// (ZF PF): RCX/RSI/RDI show element 0 done on both vendors; RFLAGS is the
// vendor's (RepCompareFlags).
CpuState fault_after_one_element(const EmuOptions& opt) {
  const Bytes code = {0xf3, 0xa6};
  CpuState cpu = base_cpu();
  cpu.reg(Gpr::RSI) = 0x10000;
  cpu.reg(Gpr::RDI) = 0x20000;
  cpu.reg(Gpr::RCX) = 4;
  cpu.rflags = fl(CF);
  const CpuState before = cpu;
  RecordingMemory mem;
  mem.put(0x10000, {7, 7});
  mem.put(0x20000, {7, 7});
  mem.fault_at(0x20001, MemFault{SIGSEGV, SEGV_MAPERR, 0x20001});
  const EmuResult r = emulate(cpu, code.data(), code.size(), mem, opt);
  EXPECT_EQ(r.status, EmuStatus::FAULT);
  EXPECT_EQ(r.fault.addr, 0x20001u);
  EXPECT_EQ(cpu.rip, kRip);
  EXPECT_EQ(mem.log, (std::vector<Access>{R(0x10000, {7}), R(0x20000, {7}), R(0x10001, {7}), RF(0x20001, 1)}));
  expect_gprs(cpu, before, {{Gpr::RSI, 0x10001}, {Gpr::RDI, 0x20001}, {Gpr::RCX, 3}});
  return cpu;
}

TEST(EmulatorStringCompareRep, FaultKeepsTheFlagsTheInstructionStartedWithOnIntel) {
  // SDM Vol. 2B, REP: "the EFLAGS value is restored to the state prior to the
  // execution of the instruction"; what tests/diff found on a Xeon.
  EmuOptions opt;
  opt.rep_compare_flags = RepCompareFlags::INSTRUCTION_START;
  EXPECT_EQ(fault_after_one_element(opt).rflags, fl(CF));
}

TEST(EmulatorStringCompareRep, FaultKeepsTheLastComparisonsFlagsOnAmd) {
  // What tests/diff found on an EPYC: element 0's comparison (equal), not the
  // flags the instruction started with.
  EmuOptions opt;
  opt.rep_compare_flags = RepCompareFlags::LAST_COMPARISON;
  EXPECT_EQ(fault_after_one_element(opt).rflags, fl(ZF | PF));
}

TEST(EmulatorStringCompareRep, FaultInTheFirstElementChangesNoFlagOnEitherVendor) {
  for (const RepCompareFlags policy : {RepCompareFlags::INSTRUCTION_START, RepCompareFlags::LAST_COMPARISON}) {
    const Bytes code = {0xf2, 0xaf};  // repne scasd
    CpuState cpu = base_cpu();
    cpu.reg(Gpr::RDI) = 0x20000;
    cpu.reg(Gpr::RCX) = 4;
    cpu.rflags = fl(OF | AF);
    const CpuState before = cpu;
    RecordingMemory mem;
    mem.fault_at(0x20000, MemFault{SIGSEGV, SEGV_ACCERR, 0x20000});
    EmuOptions opt;
    opt.rep_compare_flags = policy;
    EXPECT_EQ(emulate(cpu, code.data(), code.size(), mem, opt).status, EmuStatus::FAULT);
    expect_gprs(cpu, before, {});
    EXPECT_EQ(cpu.rflags, fl(OF | AF));
  }
}

TEST(EmulatorStringCompareRep, TheDefaultIsTheHostVendors) {
  // HOST follows the CPUID vendor: AMD's behaviour on AuthenticAMD, the
  // SDM's everywhere else (tests/diff checks it against this CPU).
  unsigned max_leaf = 0, ebx = 0, ecx = 0, edx = 0;
  ASSERT_NE(__get_cpuid(0, &max_leaf, &ebx, &ecx, &edx), 0);
  const bool amd = ebx == 0x68747541 && edx == 0x69746e65 && ecx == 0x444d4163;  // "Auth" "enti" "cAMD"
  EXPECT_EQ(host_rep_compare_flags(), amd ? RepCompareFlags::LAST_COMPARISON : RepCompareFlags::INSTRUCTION_START);
  EXPECT_EQ(fault_after_one_element(EmuOptions{}).rflags, amd ? fl(ZF | PF) : fl(CF));
}

// The count register of a REP string instruction (agent/step.cc counts the
// iterations a late trap covered with it).
TEST(RepCountBits, RepStringInstructionsAndNothingElse) {
  const auto bits = [](Bytes b) { return rep_count_bits(b.data(), b.size()); };
  EXPECT_EQ(bits({0xf3, 0xa4}), 64u);              // rep movsb
  EXPECT_EQ(bits({0x67, 0xf3, 0x48, 0xab}), 32u);  // rep stosq (%edi)
  EXPECT_EQ(bits({0xf3, 0xac}), 64u);              // rep lodsb
  EXPECT_EQ(bits({0xf3, 0xa6}), 64u);              // repe cmpsb
  EXPECT_EQ(bits({0x67, 0xf2, 0xaf}), 32u);        // repne scasl (%edi)
  EXPECT_EQ(bits({0xa4}), 0u);                     // movsb: one element
  EXPECT_EQ(bits({0xf2, 0xa4}), 0u);               // repne movsb: refused by the emulator
  EXPECT_EQ(bits({0xf3, 0x90}), 0u);               // pause
  EXPECT_EQ(bits({0x8b, 0x07}), 0u);               // mov (%rdi), %eax
  EXPECT_EQ(bits({0xf3}), 0u);                     // not an instruction
}

TEST(EmulatorStringCompareRefused, LockIsUd) {
  const Bytes code = {0xf0, 0xa6};
  CpuState cpu = base_cpu();
  RecordingMemory mem;
  EXPECT_EQ(emulate(cpu, code.data(), code.size(), mem).status, EmuStatus::DECODE_ERROR);
  EXPECT_TRUE(mem.log.empty());
}

}  // namespace
}  // namespace mmiotrace::emu::alu_test
