// emu::plan_generic: for instructions outside the table, the operand's
// address, size and direction, and a stub that decodes back (with Zydis) to
// the same instruction with its memory operand RIP-relative to the bounce
// buffer, followed by HLT; and the refusals. One stub is also run for real.
#include <Zydis/Zydis.h>
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "emu/emulator.h"
#include "emu/xsave_area.h"

namespace mmiotrace::emu {
namespace {

using Bytes = std::vector<uint8_t>;

constexpr uint64_t kRip = 0x400000;
constexpr uint64_t kStub = 0x7f0000010000;
constexpr uint64_t kBounce = 0x7f0000010800;
constexpr uint64_t kDevice = 0x7f5500001000;

struct Decoded {
  ZydisDecodedInstruction in;
  ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
};

Decoded decode(const uint8_t* bytes, size_t len) {
  ZydisDecoder d;
  EXPECT_TRUE(ZYAN_SUCCESS(ZydisDecoderInit(&d, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64)));
  Decoded out;
  EXPECT_TRUE(ZYAN_SUCCESS(ZydisDecoderDecodeFull(&d, bytes, len, &out.in, out.ops)));
  return out;
}

CpuState cpu_with(uint64_t rax) {
  CpuState cpu;
  cpu.rip = kRip;
  cpu.reg(Gpr::RAX) = rax;
  cpu.reg(Gpr::RBX) = 3;
  cpu.reg(Gpr::R12) = rax;
  return cpu;
}

struct Planned {
  GenericPlan plan;
  uint8_t stub[kGenericStubCapacity] = {};
};

Planned plan(const CpuState& cpu, const Bytes& bytes) {
  Planned p;
  std::memset(p.stub, 0xcc, sizeof p.stub);
  p.plan = plan_generic(cpu, bytes.data(), bytes.size(), kStub, kBounce, p.stub, sizeof p.stub);
  return p;
}

// The stub is the original instruction (same mnemonic, opcode, encoding,
// every other operand) with the memory operand [rip + disp] addressing the
// bounce buffer, then HLT.
void expect_stub_matches(const Bytes& original, const Planned& p) {
  ASSERT_EQ(p.plan.status, EmuStatus::OK) << describe(p.plan.refusal);
  ASSERT_GE(p.plan.stub_len, 2);
  ASSERT_EQ(p.plan.terminator_offset + 1, p.plan.stub_len);
  EXPECT_EQ(p.stub[p.plan.terminator_offset], kGenericTerminator);
  EXPECT_EQ(p.stub[p.plan.stub_len], 0xcc) << "wrote past the stub";
  const Decoded a = decode(original.data(), original.size());
  const Decoded b = decode(p.stub, p.plan.terminator_offset);
  EXPECT_EQ(b.in.length, p.plan.terminator_offset);
  EXPECT_EQ(p.plan.insn_len, a.in.length);
  EXPECT_EQ(a.in.mnemonic, b.in.mnemonic);
  EXPECT_EQ(a.in.encoding, b.in.encoding);
  EXPECT_EQ(a.in.opcode, b.in.opcode);
  EXPECT_EQ(a.in.operand_width, b.in.operand_width);
  EXPECT_EQ(b.in.address_width, 64);
  ASSERT_EQ(a.in.operand_count, b.in.operand_count);
  int memory = 0;
  for (unsigned i = 0; i < a.in.operand_count; ++i) {
    const ZydisDecodedOperand& x = a.ops[i];
    const ZydisDecodedOperand& y = b.ops[i];
    ASSERT_EQ(x.type, y.type) << "operand " << i;
    EXPECT_EQ(x.size, y.size) << "operand " << i;
    EXPECT_EQ(x.actions, y.actions) << "operand " << i;
    if (x.type == ZYDIS_OPERAND_TYPE_REGISTER) {
      EXPECT_EQ(x.reg.value, y.reg.value) << "operand " << i;
    }
    if (x.type == ZYDIS_OPERAND_TYPE_IMMEDIATE) {
      EXPECT_EQ(x.imm.value.u, y.imm.value.u) << "operand " << i;
    }
    if (x.type == ZYDIS_OPERAND_TYPE_MEMORY) {
      ++memory;
      EXPECT_EQ(y.mem.base, ZYDIS_REGISTER_RIP);
      EXPECT_EQ(y.mem.index, ZYDIS_REGISTER_NONE);
      EXPECT_EQ(y.mem.segment, ZYDIS_REGISTER_DS);
      uint64_t target = 0;
      ASSERT_TRUE(ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(&b.in, &y, kStub, &target)));
      EXPECT_EQ(target, p.plan.bounce_addr);
    }
  }
  EXPECT_EQ(memory, 1);
}

struct Case {
  const char* name;
  Bytes bytes;
  unsigned size;
  bool reads;
  bool writes;
};

class Planned1 : public ::testing::TestWithParam<Case> {};

TEST_P(Planned1, AddressSizeDirectionAndStub) {
  const Case& c = GetParam();
  const uint64_t addr = kDevice + 0x40;
  const Planned p = plan(cpu_with(addr), c.bytes);
  ASSERT_EQ(p.plan.status, EmuStatus::OK) << c.name << ": " << describe(p.plan.refusal);
  EXPECT_EQ(p.plan.addr, addr);
  EXPECT_EQ(p.plan.size, c.size);
  EXPECT_EQ(p.plan.reads, c.reads);
  EXPECT_EQ(p.plan.writes, c.writes);
  EXPECT_EQ(p.plan.bounce_addr, kBounce + addr % kGenericBounceAlign);
  expect_stub_matches(c.bytes, p);
}

INSTANTIATE_TEST_SUITE_P(
    Forms, Planned1,
    ::testing::Values(
        Case{"flds", {0xd9, 0x00}, 4, true, false},                                  // flds (%rax)
        Case{"fldl", {0xdd, 0x00}, 8, true, false},                                  // fldl (%rax)
        Case{"fldt", {0xdb, 0x28}, 10, true, false},                                 // fldt (%rax)
        Case{"fstpt", {0xdb, 0x38}, 10, false, true},                                // fstpt (%rax)
        Case{"fistps_r12", {0x41, 0xdf, 0x1c, 0x24}, 2, false, true},                // fistps (%r12)
        Case{"crc32l", {0xf2, 0x0f, 0x38, 0xf1, 0x08}, 4, true, false},              // crc32l (%rax),%ecx
        Case{"popcnt", {0xf3, 0x48, 0x0f, 0xb8, 0x00}, 8, true, false},              // popcnt (%rax),%rax
        Case{"pinsrd", {0x66, 0x0f, 0x3a, 0x22, 0x00, 0x01}, 4, true, false},        // pinsrd $1,(%rax),%xmm0
        Case{"vaddps_ymm", {0xc5, 0xf4, 0x58, 0x10}, 32, true, false},               // vaddps (%rax),%ymm1,%ymm2
        Case{"addsubpd", {0x66, 0x0f, 0xd0, 0x18}, 16, true, false},                 // addsubpd (%rax),%xmm3
        Case{"cvtsi2sdl", {0xf2, 0x0f, 0x2a, 0x00}, 4, true, false},                 // cvtsi2sdl (%rax),%xmm0
        Case{"cvtsi2sdq", {0xf2, 0x48, 0x0f, 0x2a, 0x00}, 8, true, false},           // cvtsi2sdq (%rax),%xmm0
        Case{"aesenc", {0x66, 0x0f, 0x38, 0xdc, 0x08}, 16, true, false},             // aesenc (%rax),%xmm1
        Case{"add_rmw", {0x01, 0x08}, 4, true, true},                                // add %ecx,(%rax)
        Case{"inc_rmw", {0xff, 0x00}, 4, true, true},                                // incl (%rax)
        Case{"sete", {0x0f, 0x94, 0x00}, 1, false, true},                            // sete (%rax)
        Case{"pextrb", {0x66, 0x0f, 0x3a, 0x14, 0x08, 0x03}, 1, false, true},        // pextrb $3,%xmm1,(%rax)
        Case{"vpaddd_zmm", {0x62, 0x61, 0x75, 0x40, 0xfe, 0x30}, 64, true, false},   // vpaddd (%rax),%zmm17,%zmm30
        Case{"vaddps_bcst", {0x62, 0xf1, 0x74, 0x58, 0x58, 0x10}, 4, true, false}),  // vaddps (%rax){1to16},%zmm1,%zmm2
    [](const ::testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

TEST(PlanGeneric, AddressingModes) {
  // popcnt 0x8(%rax,%rbx,4),%rdx
  Planned p = plan(cpu_with(kDevice), {0xf3, 0x48, 0x0f, 0xb8, 0x54, 0x98, 0x08});
  EXPECT_EQ(p.plan.addr, kDevice + 3 * 4 + 8);
  expect_stub_matches({0xf3, 0x48, 0x0f, 0xb8, 0x54, 0x98, 0x08}, p);

  // popcnt 0x100(%rip),%rax: relative to the original instruction.
  const Bytes rip_rel = {0xf3, 0x48, 0x0f, 0xb8, 0x05, 0x00, 0x01, 0x00, 0x00};
  p = plan(cpu_with(0), rip_rel);
  EXPECT_EQ(p.plan.addr, kRip + rip_rel.size() + 0x100);
  expect_stub_matches(rip_rel, p);

  // popcnt %fs:(%rax),%rax: the FS base is in the address, and the stub has no FS prefix.
  CpuState cpu = cpu_with(0x40);
  cpu.fs_base = kDevice;
  const Bytes fs = {0x64, 0xf3, 0x48, 0x0f, 0xb8, 0x00};
  p = plan(cpu, fs);
  EXPECT_EQ(p.plan.addr, kDevice + 0x40);
  expect_stub_matches(fs, p);
  EXPECT_EQ(p.stub[0], 0xf3) << "no segment prefix in the stub";

  // addr32 popcnt (%eax),%rax: the address wraps at 32 bits, the stub uses 64-bit addressing.
  const Bytes a32 = {0x67, 0xf3, 0x48, 0x0f, 0xb8, 0x00};
  p = plan(cpu_with(0xffffffff00001234), a32);
  EXPECT_EQ(p.plan.addr, 0x1234u);
  expect_stub_matches(a32, p);
}

TEST(PlanGeneric, BounceKeepsTheOffsetModulo64) {
  for (uint64_t off : {0u, 1u, 7u, 33u, 63u}) {
    const Planned p = plan(cpu_with(kDevice + off), {0xdd, 0x00});  // fldl (%rax)
    ASSERT_EQ(p.plan.status, EmuStatus::OK);
    EXPECT_EQ(p.plan.bounce_addr, kBounce + off);
    EXPECT_LE(p.plan.bounce_addr + p.plan.size, kBounce + kGenericBounceSize);
  }
}

TEST(PlanGeneric, MisalignedLegacySseIsGpBeforeAnyAccess) {
  // addps (%rax),%xmm1 at an address that is not 16-byte aligned: #GP(0).
  Planned p = plan(cpu_with(kDevice + 4), {0x0f, 0x58, 0x08});
  EXPECT_EQ(p.plan.status, EmuStatus::FAULT);
  EXPECT_EQ(p.plan.fault.signo, SIGSEGV);
  EXPECT_EQ(p.plan.fault.code, SI_KERNEL);
  EXPECT_EQ(p.plan.fault.addr, 0u);
  EXPECT_EQ(p.stub[0], 0xcc) << "no stub on a fault";
  // lddqu has no alignment requirement; VEX vaddps neither.
  p = plan(cpu_with(kDevice + 4), {0xf2, 0x0f, 0xf0, 0x08});
  EXPECT_EQ(p.plan.status, EmuStatus::OK);
  p = plan(cpu_with(kDevice + 4), {0xc5, 0xf4, 0x58, 0x10});
  EXPECT_EQ(p.plan.status, EmuStatus::OK);
  // Aligned: fine.
  p = plan(cpu_with(kDevice + 16), {0x0f, 0x58, 0x08});
  EXPECT_EQ(p.plan.status, EmuStatus::OK);
}

struct Refusal {
  const char* name;
  Bytes bytes;
  GenericRefusal why;
};

class Refused : public ::testing::TestWithParam<Refusal> {};

TEST_P(Refused, WithAReasonAndNoStub) {
  const Refusal& r = GetParam();
  const Planned p = plan(cpu_with(kDevice), r.bytes);
  ASSERT_EQ(p.plan.status, EmuStatus::UNSUPPORTED) << r.name;
  EXPECT_EQ(p.plan.refusal, r.why) << describe(p.plan.refusal);
  for (uint8_t b : p.stub) EXPECT_EQ(b, 0xcc);
}

INSTANTIATE_TEST_SUITE_P(
    Forms, Refused,
    ::testing::Values(
        Refusal{"lock_add", {0xf0, 0x83, 0x00, 0x01}, GenericRefusal::LOCKED},
        Refusal{"xchg", {0x87, 0x03}, GenericRefusal::XCHG_ATOMIC},
        Refusal{"cmpxchg", {0x0f, 0xb1, 0x08}, GenericRefusal::CONDITIONAL_ACCESS},
        Refusal{"jmp_mem", {0xff, 0x20}, GenericRefusal::CONTROL_TRANSFER},
        Refusal{"call_mem", {0xff, 0x10}, GenericRefusal::CONTROL_TRANSFER},
        Refusal{"push_mem", {0xff, 0x30}, GenericRefusal::TWO_MEMORY_OPERANDS},
        Refusal{"pop_mem", {0x8f, 0x00}, GenericRefusal::TWO_MEMORY_OPERANDS},
        Refusal{"xsave", {0x0f, 0xae, 0x20}, GenericRefusal::XSAVE_SIZE},
        Refusal{"fxsave", {0x0f, 0xae, 0x00}, GenericRefusal::OPERAND_SIZE},
        Refusal{"fnstenv", {0xd9, 0x30}, GenericRefusal::OPERAND_SIZE},
        Refusal{"vpgatherdd", {0xc4, 0xe2, 0x6d, 0x90, 0x1c, 0x88}, GenericRefusal::VSIB},
        Refusal{"vmaskmovps", {0xc4, 0xe2, 0x6d, 0x2e, 0x08}, GenericRefusal::MASK_DECIDES},
        Refusal{"evex_masked_no_opmask_state", {0x62, 0xf1, 0x74, 0x49, 0x58, 0x10}, GenericRefusal::NO_OPMASK_STATE},
        Refusal{"clflush", {0x0f, 0xae, 0x38}, GenericRefusal::CACHE_LINE},
        Refusal{"mov_to_ds", {0x8e, 0x18}, GenericRefusal::SEGMENT_LOAD},
        Refusal{"lgdt", {0x0f, 0x01, 0x10}, GenericRefusal::SYSTEM},
        Refusal{"lea", {0x48, 0x8d, 0x08}, GenericRefusal::NOT_PLAIN_MEMORY},
        Refusal{"movsb", {0xa4}, GenericRefusal::TWO_MEMORY_OPERANDS},
        Refusal{"lodsb", {0xac}, GenericRefusal::IMPLICIT_MEMORY},
        Refusal{"rep_stosb", {0xf3, 0xaa}, GenericRefusal::REPEATED}),
    [](const ::testing::TestParamInfo<Refusal>& info) { return std::string(info.param.name); });

// AVX-512 write masking (k1-k7) on an instruction that only reads its
// operand: the plan's read_mask is exactly the selected elements' bytes.
class MaskedState {
 public:
  explicit MaskedState(unsigned k, uint64_t value) {
    const size_t size = (XsaveLayout::host().total_size + 63) / 64 * 64;
    area_ = static_cast<uint8_t*>(std::aligned_alloc(64, size));
    std::memset(area_, 0, size);
    cpu = cpu_with(kDevice);
    cpu.xsave = XsaveArea(area_, XsaveLayout::host().supported);
    ok = cpu.xsave.has(XComponent::OPMASK) && cpu.xsave.write_opmask(k, value);
  }
  ~MaskedState() { std::free(area_); }
  MaskedState(const MaskedState&) = delete;
  MaskedState& operator=(const MaskedState&) = delete;
  CpuState cpu;
  bool ok = false;

 private:
  uint8_t* area_ = nullptr;
};

struct MaskedRead {
  const char* name;
  Bytes bytes;
  unsigned k;
  uint64_t kvalue;
  uint64_t addr_offset;  // from kDevice
  unsigned size;
  uint64_t read_mask;
};

class MaskedReads : public ::testing::TestWithParam<MaskedRead> {};

TEST_P(MaskedReads, ReadOnlyTheSelectedElements) {
  const MaskedRead& m = GetParam();
  MaskedState st(m.k, m.kvalue);
  if (!st.ok) GTEST_SKIP() << "no opmask state on this host";
  const Planned p = plan(st.cpu, m.bytes);
  expect_stub_matches(m.bytes, p);
  EXPECT_TRUE(p.plan.masked);
  EXPECT_TRUE(p.plan.reads);
  EXPECT_FALSE(p.plan.writes);
  EXPECT_EQ(p.plan.addr, kDevice + m.addr_offset);
  EXPECT_EQ(p.plan.size, m.size);
  EXPECT_EQ(p.plan.read_mask, m.read_mask) << std::hex << p.plan.read_mask;
}

INSTANTIATE_TEST_SUITE_P(
    Forms, MaskedReads,
    ::testing::Values(
        // vaddps (%rax), %zmm1, %zmm2{%k1}: 4-byte elements 0, 2 and 15.
        MaskedRead{"vaddps_k1", {0x62, 0xf1, 0x74, 0x49, 0x58, 0x10}, 1, 0x8005, 0, 64, 0xf000000000000f0full},
        // vpaddd 0x40(%rax), %zmm3, %zmm4{%k2}{z}: elements 4-7.
        MaskedRead{"vpaddd_k2_z", {0x62, 0xf1, 0x65, 0xca, 0xfe, 0x60, 0x01}, 2, 0xf0, 0x40, 64, 0xffff0000ull},
        // Every element selected: the whole operand.
        MaskedRead{"vaddps_all", {0x62, 0xf1, 0x74, 0x49, 0x58, 0x10}, 1, 0xffff, 0, 64, ~uint64_t{0}},
        // Mask bits beyond the 16 elements do not count: nothing is read.
        MaskedRead{"vaddps_zero", {0x62, 0xf1, 0x74, 0x49, 0x58, 0x10}, 1, 0xffff0000, 0, 64, 0},
        // vaddpd (%rax), %ymm1, %ymm2{%k3}: 8-byte elements 1 and 3 of 4.
        MaskedRead{"vaddpd_ymm_k3", {0x62, 0xf1, 0xf5, 0x2b, 0x58, 0x10}, 3, 0xfa, 0, 32, 0xff00ff00ull},
        // vaddps (%rax){1to16}: the one element if any of the 16 bits is set...
        MaskedRead{"bcst_some", {0x62, 0xf1, 0x74, 0x59, 0x58, 0x10}, 1, 0x4000, 0, 4, 0xf},
        // ...and not at all when none is (bit 16 is beyond the 16 elements).
        MaskedRead{"bcst_none", {0x62, 0xf1, 0x74, 0x59, 0x58, 0x10}, 1, 0x10000, 0, 4, 0},
        // vcvtps2pd (%rax), %zmm1{%k1}: 8 source floats for 8 doubles.
        MaskedRead{"vcvtps2pd", {0x62, 0xf1, 0x7c, 0x49, 0x5a, 0x08}, 1, 0x81, 0, 32, 0xf000000full},
        // vaddss (%rax), %xmm1, %xmm2{%k1}: scalar, bit 0 only.
        MaskedRead{"vaddss_bit0", {0x62, 0xf1, 0x76, 0x09, 0x58, 0x10}, 1, 0x3, 0, 4, 0xf},
        MaskedRead{"vaddss_bit1", {0x62, 0xf1, 0x76, 0x09, 0x58, 0x10}, 1, 0x2, 0, 4, 0},
        // vpcmpeqd (%rax), %zmm1, %k2{%k1}: a compare into a mask register.
        MaskedRead{"vpcmpeqd", {0x62, 0xf1, 0x75, 0x49, 0x76, 0x10}, 1, 0x1, 0, 64, 0xf},
        // vpermd (E4NF, no fault suppression): the whole operand whatever the mask.
        MaskedRead{"vpermd_nf", {0x62, 0xf2, 0x75, 0x49, 0x36, 0x10}, 1, 0x1, 0, 64, ~uint64_t{0}}),
    [](const ::testing::TestParamInfo<MaskedRead>& info) { return std::string(info.param.name); });

TEST(PlanGeneric, MaskedRefusals) {
  MaskedState st(1, 0xffff);
  if (!st.ok) GTEST_SKIP() << "no opmask state on this host";
  const struct {
    Bytes bytes;
    GenericRefusal why;
  } cases[] = {
      {{0x62, 0xf1, 0x7c, 0x49, 0x11, 0x08}, GenericRefusal::MASKED_WRITE},   // vmovups %zmm1, (%rax){%k1}
      {{0x62, 0xf2, 0x7e, 0x49, 0x31, 0x08}, GenericRefusal::MASKED_WRITE},   // vpmovdb %zmm1, (%rax){%k1}
      {{0x62, 0xf2, 0x7d, 0x49, 0x89, 0x08}, GenericRefusal::MASKED_EXPAND},  // vpexpandd (%rax), %zmm1{%k1}
      // vdbpsadbw: words against bytes
      {{0x62, 0xf3, 0x75, 0x49, 0x42, 0x10, 0x00}, GenericRefusal::MASKED_ELEMENTS_UNMAPPED},
  };
  for (const auto& c : cases) {
    const Planned p = plan(st.cpu, c.bytes);
    ASSERT_EQ(p.plan.status, EmuStatus::UNSUPPORTED) << describe(c.why);
    EXPECT_EQ(p.plan.refusal, c.why) << describe(p.plan.refusal);
  }
  // Without the opmask state (an empty XSAVE buffer) a masked instruction is refused.
  const Planned none = plan(cpu_with(kDevice), {0x62, 0xf1, 0x74, 0x49, 0x58, 0x10});
  ASSERT_EQ(none.plan.status, EmuStatus::UNSUPPORTED);
  EXPECT_EQ(none.plan.refusal, GenericRefusal::NO_OPMASK_STATE) << describe(none.plan.refusal);
}

TEST(PlanGeneric, BadBytesAndBadBuffers) {
  uint8_t stub[kGenericStubCapacity];
  const uint8_t bad[] = {0x06};  // push %es: invalid in 64-bit mode
  EXPECT_EQ(plan_generic(cpu_with(kDevice), bad, sizeof bad, kStub, kBounce, stub, sizeof stub).status,
            EmuStatus::DECODE_ERROR);
  const uint8_t popcnt[] = {0xf3, 0x48, 0x0f, 0xb8, 0x00};
  EXPECT_EQ(plan_generic(cpu_with(kDevice), popcnt, sizeof popcnt, kStub, kBounce, stub, 16).status,
            EmuStatus::UNSUPPORTED);
  EXPECT_EQ(plan_generic(cpu_with(kDevice), popcnt, sizeof popcnt, kStub, kBounce + 8, stub, sizeof stub).status,
            EmuStatus::UNSUPPORTED);
}

// CRC32 instruction semantics (SDM Vol. 2, CRC32): CRC-32C, bit-reflected, no final XOR.
uint32_t crc32c(uint32_t crc, uint32_t data) {
  for (int i = 0; i < 32; ++i) {
    const uint32_t bit = (crc ^ (data >> i)) & 1;
    crc = (crc >> 1) ^ (bit ? 0x82f63b78u : 0);
  }
  return crc;
}

// The stub, with its HLT replaced by RET, run for real on this CPU: the
// instruction sees the bounce buffer's bytes and the caller's registers.
TEST(PlanGeneric, StubRunsAgainstTheBounceBuffer) {
  void* page = mmap(nullptr, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(page, MAP_FAILED);
  auto* base = static_cast<uint8_t*>(page);
  const uint64_t stub_addr = reinterpret_cast<uint64_t>(base);
  const uint64_t bounce = stub_addr + 2048;
  const uint64_t device = kDevice + 0x13;  // the bounce copy lands at bounce + 0x13

  // crc32l (%rax),%ecx
  const uint8_t crc[] = {0xf2, 0x0f, 0x38, 0xf1, 0x08};
  GenericPlan p = plan_generic(cpu_with(device), crc, sizeof crc, stub_addr, bounce, base, kGenericStubCapacity);
  ASSERT_EQ(p.status, EmuStatus::OK);
  base[p.terminator_offset] = 0xc3;  // ret
  const uint32_t data = 0x12345678;
  std::memcpy(reinterpret_cast<void*>(p.bounce_addr), &data, 4);
  uint32_t acc = 0xffffffff;
  // Step over the red zone: the call pushes a return address.
  asm volatile("sub $128, %%rsp\n\tcall *%1\n\tadd $128, %%rsp" : "+c"(acc) : "r"(base) : "memory");
  EXPECT_EQ(acc, crc32c(0xffffffff, data));

  // incl (%rax): a read-modify-write of the bounce copy.
  const uint8_t inc[] = {0xff, 0x00};
  p = plan_generic(cpu_with(device), inc, sizeof inc, stub_addr, bounce, base, kGenericStubCapacity);
  ASSERT_EQ(p.status, EmuStatus::OK);
  base[p.terminator_offset] = 0xc3;
  asm volatile("sub $128, %%rsp\n\tcall *%0\n\tadd $128, %%rsp" : : "r"(base) : "memory", "cc");
  uint32_t after = 0;
  std::memcpy(&after, reinterpret_cast<void*>(p.bounce_addr), 4);
  EXPECT_EQ(after, data + 1);
  munmap(page, 4096);
}

}  // namespace
}  // namespace mmiotrace::emu
