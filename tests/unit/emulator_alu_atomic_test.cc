// emu::emulate for the exchanges and locked forms (docs/emulated-instructions.md,
// "Exchanges and LOCK"): XCHG, XADD, CMPXCHG, CMPXCHG8B, CMPXCHG16B, and every
// LOCK-prefixed ALU form. A locked instruction (and XCHG with memory, always
// locked) makes exactly one Memory::atomic_rmw call and no read or write; the
// same instruction without LOCK makes one read then one write with the same
// bytes. Also Memory::atomic_rmw's default implementation.
#include <gtest/gtest.h>

#include <csignal>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "alu_test_support.h"
#include "emu/emulator.h"

namespace mmiotrace::emu::alu_test {
namespace {

constexpr uint64_t CF = kFlagCF, PF = kFlagPF, AF = kFlagAF, ZF = kFlagZF, SF = kFlagSF, OF = kFlagOF;
constexpr uint64_t B = 0x10000;  // RBX, the base of (%rbx)
constexpr uint64_t S = 0x20000;  // RSI, the base of (%rsi)

uint64_t fl(uint64_t bits) { return kBaseFlags | bits; }

std::vector<Row> exchange_rows() {
  // A table, one case per line.
  // clang-format off
  using enum Gpr;
  const uint64_t all = fl(kArith);
  return {
      // XCHG: always one atomic_rmw; the register takes the old value; no flags.
      {"xchgl", {0x87, 0x13}, {{RBX, B}, {RDX, 0xffffffff11223344}}, all,
       {RMW(B, le(0xaabbccdd, 4), le(0x11223344, 4))}, {{RDX, 0xaabbccdd}}, all},
      {"xchgb_dh", {0x86, 0x33}, {{RBX, B}, {RDX, 0x1234}}, fl(0), {RMW(B, {0x99}, {0x12})},
       {{RDX, 0x9934}}, fl(0)},
      {"xchgb_r9b", {0x44, 0x86, 0x0b}, {{RBX, B}, {R9, 0x77}}, fl(0), {RMW(B, {0x99}, {0x77})},
       {{R9, 0x99}}, fl(0)},
      {"xchgw", {0x66, 0x87, 0x13}, {{RBX, B}, {RDX, 0x1111111111112222}}, fl(0),
       {RMW(B, le(0x3333, 2), le(0x2222, 2))}, {{RDX, 0x1111111111113333}}, fl(0)},
      {"xchgq", {0x48, 0x87, 0x13}, {{RBX, B}, {RDX, 0x0123456789abcdef}}, fl(0),
       {RMW(B, le(0xfedcba9876543210, 8), le(0x0123456789abcdef, 8))}, {{RDX, 0xfedcba9876543210}},
       fl(0)},
      {"lock_xchgl", {0xf0, 0x87, 0x13}, {{RBX, B}, {RDX, 5}}, fl(0), {RMW(B, le(6, 4), le(5, 4))},
       {{RDX, 6}}, fl(0)},
      {"xacquire_xchgl", {0xf2, 0x87, 0x13}, {{RBX, B}, {RDX, 5}}, fl(0),
       {RMW(B, le(6, 4), le(5, 4))}, {{RDX, 6}}, fl(0)},
      // XADD: memory takes the sum, the register the old value; ADD's flags.
      {"xaddl", {0x0f, 0xc1, 0x13}, {{RBX, B}, {RDX, 0xffffffff00000001}}, fl(0),
       {R(B, le(0xffffffff, 4)), W(B, le(0, 4))}, {{RDX, 0xffffffff}}, fl(CF | ZF | AF | PF)},
      {"xaddb", {0x0f, 0xc0, 0x13}, {{RBX, B}, {RDX, 0x01}}, fl(0), {R(B, {0x7f}), W(B, {0x80})},
       {{RDX, 0x7f}}, fl(OF | SF | AF)},
      {"xaddw", {0x66, 0x0f, 0xc1, 0x13}, {{RBX, B}, {RDX, 0x5555555555550002}}, fl(0),
       {R(B, le(1, 2)), W(B, le(3, 2))}, {{RDX, 0x5555555555550001}}, fl(PF)},
      {"xaddq", {0x48, 0x0f, 0xc1, 0x13}, {{RBX, B}, {RDX, 0x8000000000000000}}, fl(0),
       {R(B, le(0x8000000000000000, 8)), W(B, le(0, 8))}, {{RDX, 0x8000000000000000}},
       fl(CF | OF | ZF | PF)},
      {"lock_xaddl", {0xf0, 0x0f, 0xc1, 0x13}, {{RBX, B}, {RDX, 2}}, fl(0),
       {RMW(B, le(3, 4), le(5, 4))}, {{RDX, 3}}, fl(PF)},
      {"xaddq_base_register_is_the_source", {0x48, 0x0f, 0xc1, 0x1b}, {{RBX, B}}, fl(0),
       {R(B, le(0x100, 8)), W(B, le(B + 0x100, 8))}, {{RBX, 0x100}}, fl(PF)},
      // CMPXCHG: equal: store the source, ZF = 1, accumulator untouched; not
      // equal: write the old value back, load it into the accumulator, ZF = 0.
      {"cmpxchgl_success", {0x0f, 0xb1, 0x13}, {{RBX, B}, {RAX, 0xffffffff00000005}, {RDX, 10}},
       fl(0), {R(B, le(5, 4)), W(B, le(10, 4))}, {}, fl(ZF | PF)},
      {"cmpxchgl_failure_writes_back", {0x0f, 0xb1, 0x13},
       {{RBX, B}, {RAX, 0xffffffff00000005}, {RDX, 10}}, fl(0), {R(B, le(7, 4)), W(B, le(7, 4))},
       {{RAX, 7}}, fl(CF | SF | AF)},
      {"cmpxchgb_success", {0x0f, 0xb0, 0x13}, {{RBX, B}, {RAX, 0x1111111111111144}, {RDX, 0x99}},
       fl(0), {R(B, {0x44}), W(B, {0x99})}, {}, fl(ZF | PF)},
      {"cmpxchgb_failure", {0x0f, 0xb0, 0x13}, {{RBX, B}, {RAX, 0x1111111111111144}, {RDX, 0x99}},
       fl(0), {R(B, {0x45}), W(B, {0x45})}, {{RAX, 0x1111111111111145}}, fl(CF | SF | AF | PF)},
      {"cmpxchgw_failure_keeps_upper_rax", {0x66, 0x0f, 0xb1, 0x13},
       {{RBX, B}, {RAX, 0x2222222222221000}, {RDX, 1}}, fl(0),
       {R(B, le(0x0fff, 2)), W(B, le(0x0fff, 2))}, {{RAX, 0x2222222222220fff}}, fl(AF)},
      {"cmpxchgq_success", {0x48, 0x0f, 0xb1, 0x13},
       {{RBX, B}, {RAX, 0x8000000000000000}, {RDX, 42}}, fl(CF),
       {R(B, le(0x8000000000000000, 8)), W(B, le(42, 8))}, {}, fl(ZF | PF)},
      {"cmpxchgq_failure", {0x48, 0x0f, 0xb1, 0x13}, {{RBX, B}, {RAX, 0}, {RDX, 42}}, fl(0),
       {R(B, le(1, 8)), W(B, le(1, 8))}, {{RAX, 1}}, fl(CF | SF | AF | PF)},
      {"lock_cmpxchgl_success", {0xf0, 0x0f, 0xb1, 0x13}, {{RBX, B}, {RAX, 5}, {RDX, 10}}, fl(0),
       {RMW(B, le(5, 4), le(10, 4))}, {}, fl(ZF | PF)},
      {"lock_cmpxchgl_failure_writes_back", {0xf0, 0x0f, 0xb1, 0x13},
       {{RBX, B}, {RAX, 0xffffffff00000005}, {RDX, 10}}, fl(0), {RMW(B, le(7, 4), le(7, 4))},
       {{RAX, 7}}, fl(CF | SF | AF)},
      // CMPXCHG8B: EDX:EAX against m64; only ZF changes.
      {"cmpxchg8b_success", {0x0f, 0xc7, 0x0e},
       {{RSI, S}, {RAX, 0xaaaaaaaa11111111}, {RDX, 0xbbbbbbbb22222222}, {RBX, 0xcccccccc33333333},
        {RCX, 0xdddddddd44444444}},
       fl(CF | SF), {R(S, le(0x2222222211111111, 8)), W(S, le(0x4444444433333333, 8))}, {},
       fl(CF | SF | ZF)},
      {"cmpxchg8b_failure_zero_extends", {0x0f, 0xc7, 0x0e},
       {{RSI, S}, {RAX, 0xaaaaaaaa11111111}, {RDX, 0xbbbbbbbb22222222}, {RBX, 3}, {RCX, 4}},
       fl(CF | ZF), {R(S, le(0x9999999988888888, 8)), W(S, le(0x9999999988888888, 8))},
       {{RAX, 0x88888888}, {RDX, 0x99999999}}, fl(CF)},
      {"cmpxchg8b_unaligned_is_fine", {0x0f, 0xc7, 0x0e}, {{RSI, S + 3}, {RAX, 1}, {RDX, 0}}, fl(0),
       {R(S + 3, le(1, 8)), W(S + 3, le(0x0202020204040404, 8))}, {}, fl(ZF)},
      {"lock_cmpxchg8b", {0xf0, 0x0f, 0xc7, 0x0e}, {{RSI, S}, {RAX, 1}, {RDX, 2}, {RBX, 3}, {RCX, 4}},
       fl(0), {RMW(S, le(0x0000000200000001, 8), le(0x0000000400000003, 8))}, {}, fl(ZF)},
      // CMPXCHG16B: RDX:RAX against a 16-byte aligned m128.
      {"cmpxchg16b_success", {0x48, 0x0f, 0xc7, 0x0e},
       {{RSI, S}, {RAX, 0x1111111111111111}, {RDX, 0x2222222222222222}, {RBX, 0x3333333333333333},
        {RCX, 0x4444444444444444}},
       fl(0), {R(S, cat(le(0x1111111111111111, 8), le(0x2222222222222222, 8))),
               W(S, cat(le(0x3333333333333333, 8), le(0x4444444444444444, 8)))},
       {}, fl(ZF)},
      {"cmpxchg16b_failure", {0x48, 0x0f, 0xc7, 0x0e},
       {{RSI, S}, {RAX, 0x1111111111111111}, {RDX, 0x2222222222222222}, {RBX, 3}, {RCX, 4}},
       fl(ZF | PF), {R(S, cat(le(0x1111111111111111, 8), le(0x2222222222222223, 8))),
                     W(S, cat(le(0x1111111111111111, 8), le(0x2222222222222223, 8)))},
       {{RDX, 0x2222222222222223}}, fl(PF)},
      {"lock_cmpxchg16b", {0xf0, 0x48, 0x0f, 0xc7, 0x0e},
       {{RSI, S}, {RAX, 1}, {RDX, 2}, {RBX, 3}, {RCX, 4}}, fl(0),
       {RMW(S, cat(le(1, 8), le(2, 8)), cat(le(3, 8), le(4, 8)))}, {}, fl(ZF)},
  };
  // clang-format on
}

class AluExchange : public ::testing::TestWithParam<Row> {};

TEST_P(AluExchange, AccessesRegistersFlags) { run_row(GetParam()); }

INSTANTIATE_TEST_SUITE_P(Table, AluExchange, ::testing::ValuesIn(exchange_rows()),
                         [](const auto& info) { return sanitize(info.param.name); });

// #GP(0) on a misaligned CMPXCHG16B operand: SIGSEGV, SI_KERNEL, address 0,
// before any access, as for the aligned vector moves.
TEST(AluCmpxchg16b, MisalignedFaultsBeforeAnyAccess) {
  for (const Bytes& code : {Bytes{0x48, 0x0f, 0xc7, 0x0e}, Bytes{0xf0, 0x48, 0x0f, 0xc7, 0x0e}}) {
    for (uint64_t rsi : {S + 8, S + 1, S + 15}) {
      CpuState cpu = base_cpu();
      cpu.reg(Gpr::RSI) = rsi;
      const CpuState before = cpu;
      RecordingMemory mem;
      const EmuResult r = emulate(cpu, code.data(), code.size(), mem);
      EXPECT_EQ(r.status, EmuStatus::FAULT);
      EXPECT_EQ(r.fault.signo, SIGSEGV);
      EXPECT_EQ(r.fault.code, SI_KERNEL);
      EXPECT_EQ(r.fault.code, 128);
      EXPECT_EQ(r.fault.addr, 0u);
      EXPECT_TRUE(mem.log.empty());
      EXPECT_EQ(cpu.rip, kRip);
      EXPECT_EQ(cpu.rflags, before.rflags);
      expect_gprs(cpu, before, {});
    }
  }
}

TEST(AluCmpxchg16b, FsBaseCountsForAlignment) {
  const Bytes code = {0x64, 0x48, 0x0f, 0xc7, 0x0e};
  CpuState cpu = base_cpu();
  cpu.reg(Gpr::RSI) = 0x10;
  cpu.fs_base = 0x7f0000000008;
  RecordingMemory mem;
  EXPECT_EQ(emulate(cpu, code.data(), code.size(), mem).status, EmuStatus::FAULT);
  EXPECT_TRUE(mem.log.empty());
  cpu.fs_base = 0x7f0000000000;
  EXPECT_EQ(emulate(cpu, code.data(), code.size(), mem).status, EmuStatus::OK);
  ASSERT_EQ(mem.log.size(), 2u);
  EXPECT_EQ(mem.log[0].addr, 0x7f0000000010u);
}

TEST(AluExchangeFault, LockedFaultChangesNothing) {
  for (const Bytes& code : {Bytes{0x87, 0x13}, Bytes{0xf0, 0x0f, 0xb1, 0x13}, Bytes{0xf0, 0x0f, 0xc1, 0x13},
                            Bytes{0xf0, 0x48, 0x0f, 0xc7, 0x0b}}) {
    CpuState cpu = base_cpu();
    cpu.reg(Gpr::RBX) = B;
    cpu.rflags = fl(CF);
    const CpuState before = cpu;
    RecordingMemory mem;
    mem.fault_at(B, MemFault{SIGBUS, BUS_ADRERR, B});
    const EmuResult r = emulate(cpu, code.data(), code.size(), mem);
    EXPECT_EQ(r.status, EmuStatus::FAULT);
    EXPECT_EQ(r.fault.signo, SIGBUS);
    ASSERT_EQ(mem.log.size(), 1u);
    EXPECT_EQ(mem.log[0].kind, Kind::RMW);
    EXPECT_TRUE(mem.log[0].faulted);
    EXPECT_EQ(cpu.rip, kRip);
    EXPECT_EQ(cpu.rflags, before.rflags);
    expect_gprs(cpu, before, {});
  }
}

TEST(AluExchangeFault, CmpxchgWriteFaultLeavesTheAccumulator) {
  const Bytes code = {0x0f, 0xb1, 0x13};  // failing cmpxchg: would load EAX
  CpuState cpu = base_cpu();
  cpu.reg(Gpr::RBX) = B;
  cpu.reg(Gpr::RAX) = 5;
  const CpuState before = cpu;
  RecordingMemory mem;
  mem.put(B, le(7, 4));
  mem.fault_at(B, MemFault{SIGSEGV, SEGV_ACCERR, B}, /*writes_only=*/true);
  EXPECT_EQ(emulate(cpu, code.data(), code.size(), mem).status, EmuStatus::FAULT);
  EXPECT_EQ(mem.log, (std::vector<Access>{R(B, le(7, 4)), WF(B, 4)}));
  EXPECT_EQ(cpu.rflags, before.rflags);
  expect_gprs(cpu, before, {});
}

// ---- Every lockable form at every width: with LOCK one atomic_rmw holding
// the same bytes, registers and flags as the unlocked read and write.

struct LockForm {
  const char* name;
  uint8_t opcode8;  // 0 if there is no 8-bit form
  uint8_t opcode;   // 16/32/64-bit form
  bool two_byte;    // 0F map
  uint8_t reg;      // ModRM.reg (2 = RDX for register forms)
  unsigned imm;     // 0: none; 1: imm8; 4: imm8/16/32 by width
};

const LockForm kLockForms[] = {
    {"add_mr", 0x00, 0x01, false, 2, 0}, {"or_mr", 0x08, 0x09, false, 2, 0},  {"adc_mr", 0x10, 0x11, false, 2, 0},
    {"sbb_mr", 0x18, 0x19, false, 2, 0}, {"and_mr", 0x20, 0x21, false, 2, 0}, {"sub_mr", 0x28, 0x29, false, 2, 0},
    {"xor_mr", 0x30, 0x31, false, 2, 0}, {"add_mi", 0x80, 0x81, false, 0, 4}, {"or_mi", 0x80, 0x81, false, 1, 4},
    {"adc_mi", 0x80, 0x81, false, 2, 4}, {"sbb_mi", 0x80, 0x81, false, 3, 4}, {"and_mi", 0x80, 0x81, false, 4, 4},
    {"sub_mi", 0x80, 0x81, false, 5, 4}, {"xor_mi", 0x80, 0x81, false, 6, 4}, {"add_mi8", 0, 0x83, false, 0, 1},
    {"sbb_mi8", 0, 0x83, false, 3, 1},   {"xor_mi8", 0, 0x83, false, 6, 1},   {"inc", 0xfe, 0xff, false, 0, 0},
    {"dec", 0xfe, 0xff, false, 1, 0},    {"not", 0xf6, 0xf7, false, 2, 0},    {"neg", 0xf6, 0xf7, false, 3, 0},
    {"bts_reg", 0, 0xab, true, 2, 0},    {"btr_reg", 0, 0xb3, true, 2, 0},    {"btc_reg", 0, 0xbb, true, 2, 0},
    {"bts_imm", 0, 0xba, true, 5, 1},    {"btr_imm", 0, 0xba, true, 6, 1},    {"btc_imm", 0, 0xba, true, 7, 1},
    {"xadd", 0xc0, 0xc1, true, 2, 0},    {"cmpxchg", 0xb0, 0xb1, true, 2, 0},
};

Bytes lock_encoding(const LockForm& f, unsigned bits, bool lock) {
  Bytes code;
  if (lock) code.push_back(0xf0);
  if (bits == 16) code.push_back(0x66);
  if (bits == 64) code.push_back(0x48);
  if (f.two_byte) code.push_back(0x0f);
  code.push_back(bits == 8 ? f.opcode8 : f.opcode);
  code.push_back(static_cast<uint8_t>((f.reg << 3) | 3));  // (%rbx)
  const unsigned imm = f.imm == 4 ? (bits == 8 ? 1 : bits == 16 ? 2 : 4) : f.imm;
  for (unsigned i = 0; i < imm; ++i) code.push_back(static_cast<uint8_t>(0x8d >> (i & 1)));
  return code;
}

using LockParam = std::tuple<int, unsigned, uint64_t>;  // form, width, memory value
class AluLock : public ::testing::TestWithParam<LockParam> {};

TEST_P(AluLock, OneAtomicRmwWithTheUnlockedBytes) {
  const auto [index, bits, value] = GetParam();
  const LockForm& f = kLockForms[index];
  const unsigned bytes = bits / 8;
  auto run = [&](bool lock, RecordingMemory& mem, CpuState& cpu) {
    cpu = base_cpu();
    cpu.reg(Gpr::RBX) = B;
    cpu.reg(Gpr::RDX) = 0x8765432187654321;
    if (f.two_byte && (f.opcode == 0xab || f.opcode == 0xb3 || f.opcode == 0xbb)) {
      cpu.reg(Gpr::RDX) = 13;  // a bit offset inside the operand at (%rbx)
    }
    cpu.reg(Gpr::RAX) = value ^ 0x0f;  // CMPXCHG: fails for one value, succeeds for the other
    if (value == 0) cpu.reg(Gpr::RAX) = 0;
    cpu.rflags = fl(CF | OF);
    mem.put(B, le(value, bytes));
    const Bytes code = lock_encoding(f, bits, lock);
    const EmuResult r = emulate(cpu, code.data(), code.size(), mem);
    ASSERT_EQ(r.status, EmuStatus::OK) << to_string(r.status);
    EXPECT_EQ(cpu.rip, kRip + code.size());
  };
  RecordingMemory plain_mem, locked_mem;
  CpuState plain, locked;
  run(false, plain_mem, plain);
  run(true, locked_mem, locked);
  ASSERT_EQ(plain_mem.log.size(), 2u);
  EXPECT_EQ(plain_mem.log[0], R(B, le(value, bytes)));
  EXPECT_EQ(plain_mem.log[1].kind, Kind::WRITE);
  EXPECT_EQ(locked_mem.log, (std::vector<Access>{RMW(B, le(value, bytes), plain_mem.log[1].bytes)}));
  EXPECT_EQ(locked.rflags, plain.rflags);
  expect_gprs(locked, plain, {});
}

std::vector<LockParam> lock_params() {
  // A table, one case per line.
  // clang-format off
  std::vector<LockParam> out;
  for (int i = 0; i < static_cast<int>(std::size(kLockForms)); ++i) {
    for (unsigned bits : {8u, 16u, 32u, 64u}) {
      if (bits == 8 && kLockForms[i].opcode8 == 0) continue;
      for (uint64_t value : {uint64_t{0}, uint64_t{0x8899aabbccddeeff}}) out.push_back({i, bits, value});
    }
  }
  return out;
  // clang-format on
}

INSTANTIATE_TEST_SUITE_P(AllForms, AluLock, ::testing::ValuesIn(lock_params()), [](const auto& info) {
  return std::string(kLockForms[std::get<0>(info.param)].name) + "_" + std::to_string(std::get<1>(info.param)) +
         (std::get<2>(info.param) ? "_ones" : "_zero");
});

// ---- Memory::atomic_rmw's default implementation.

// Overrides only the pure virtuals, as a Memory written before atomic_rmw existed.
class PlainMemory final : public Memory {
 public:
  std::vector<Access> log;
  std::map<uint64_t, uint8_t> bytes;
  std::optional<uint64_t> fault_addr;
  bool fault_writes_only = false;

  MemFault read(uint64_t addr, unsigned size, void* out) override {
    if (fault_addr && !fault_writes_only && *fault_addr - addr < size) {
      log.push_back(RF(addr, size));
      return {SIGSEGV, SEGV_MAPERR, *fault_addr};
    }
    Bytes b(size);
    for (unsigned i = 0; i < size; ++i) b[i] = bytes.count(addr + i) ? bytes[addr + i] : 0;
    std::copy(b.begin(), b.end(), static_cast<uint8_t*>(out));
    log.push_back(R(addr, b));
    return {};
  }
  MemFault write(uint64_t addr, unsigned size, const void* in) override {
    if (fault_addr && *fault_addr - addr < size) {
      log.push_back(WF(addr, size));
      return {SIGSEGV, SEGV_ACCERR, *fault_addr};
    }
    const auto* p = static_cast<const uint8_t*>(in);
    for (unsigned i = 0; i < size; ++i) bytes[addr + i] = p[i];
    log.push_back(W(addr, Bytes(p, p + size)));
    return {};
  }
  MemFault read_masked(uint64_t, unsigned, uint64_t, void*) override { return {}; }
  MemFault write_masked(uint64_t, unsigned, uint64_t, const void*) override { return {}; }
};

TEST(AluMemoryDefault, LockedInstructionReadsThenWrites) {
  const Bytes code = {0xf0, 0xff, 0x03};  // lock incl (%rbx)
  CpuState cpu = base_cpu();
  cpu.reg(Gpr::RBX) = B;
  PlainMemory mem;
  mem.bytes[B] = 0xff;
  const EmuResult r = emulate(cpu, code.data(), code.size(), mem);
  ASSERT_EQ(r.status, EmuStatus::OK);
  EXPECT_EQ(mem.log, (std::vector<Access>{R(B, {0xff, 0, 0, 0}), W(B, {0, 1, 0, 0})}));
  EXPECT_EQ(cpu.rflags, fl(AF | PF));
}

struct Computed {
  int calls = 0;
  bool store = true;
  Bytes seen;
};

bool add_one(void* ctx, const uint8_t* old_value, uint8_t* new_value) {
  auto& c = *static_cast<Computed*>(ctx);
  ++c.calls;
  c.seen.assign(old_value, old_value + 2);
  new_value[0] = static_cast<uint8_t>(old_value[0] + 1);
  new_value[1] = old_value[1];
  return c.store;
}

TEST(AluMemoryDefault, ComputeDecidesTheWrite) {
  PlainMemory mem;
  mem.bytes[0x100] = 7;
  mem.bytes[0x101] = 9;
  Computed c;
  uint8_t old_value[2] = {};
  Memory& m = mem;
  EXPECT_TRUE(m.atomic_rmw(0x100, 2, old_value, add_one, &c).ok());
  EXPECT_EQ(c.calls, 1);
  EXPECT_EQ(c.seen, (Bytes{7, 9}));
  EXPECT_EQ(old_value[0], 7);
  EXPECT_EQ(mem.log, (std::vector<Access>{R(0x100, {7, 9}), W(0x100, {8, 9})}));

  c = {};
  c.store = false;
  mem.log.clear();
  EXPECT_TRUE(m.atomic_rmw(0x100, 2, old_value, add_one, &c).ok());
  EXPECT_EQ(c.calls, 1);
  EXPECT_EQ(mem.log, (std::vector<Access>{R(0x100, {8, 9})}));
}

TEST(AluMemoryDefault, ReadFaultSkipsComputeAndWrite) {
  PlainMemory mem;
  mem.fault_addr = 0x101;
  Computed c;
  uint8_t old_value[2] = {0xaa, 0xbb};
  Memory& m = mem;
  const MemFault f = m.atomic_rmw(0x100, 2, old_value, add_one, &c);
  EXPECT_EQ(f.signo, SIGSEGV);
  EXPECT_EQ(f.addr, 0x101u);
  EXPECT_EQ(c.calls, 0);
  EXPECT_EQ(mem.log, (std::vector<Access>{RF(0x100, 2)}));
}

TEST(AluMemoryDefault, WriteFaultIsReturnedAfterTheRead) {
  PlainMemory mem;
  mem.fault_addr = 0x100;
  mem.fault_writes_only = true;
  Computed c;
  uint8_t old_value[2] = {};
  Memory& m = mem;
  const MemFault f = m.atomic_rmw(0x100, 2, old_value, add_one, &c);
  EXPECT_EQ(f.code, SEGV_ACCERR);
  EXPECT_EQ(c.calls, 1);
  EXPECT_EQ(mem.log, (std::vector<Access>{R(0x100, {0, 0}), WF(0x100, 2)}));
}

}  // namespace
}  // namespace mmiotrace::emu::alu_test
