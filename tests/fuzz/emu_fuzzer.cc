// libFuzzer harness for src/emu: the emulator runs in the traced program's
// signal handler, so whatever bytes it is given it must emulate or refuse;
// never crash, hang, read or write outside what it is allowed, or corrupt
// memory. Built with clang, ASan and UBSan (tests/fuzz/CMakeLists.txt).
//
// Each input drives emu::emulate() (then, with the same bytes and registers,
// emu::plan_generic() and emu::disassemble()) from this layout; bytes past
// the end of the input read as zero:
//
//   0        instruction length: 1 + (byte % 15)
//   1-15     instruction bytes (only the first `length` are passed; the buffer
//            is exactly that long, so ASan sees any read beyond it)
//   16       XSAVE area: bits 0-2: 0 none, 1 SSE, 2 SSE+AVX, 3 every component
//            the host has, 4-7 the components in bytes 268-275 (& host);
//            bit 3: emulate REP in chunks of byte 276 (EmuOptions::max_rep_iterations)
//   17       low nibble: page-granular faults: an access faults (SEGV_ACCERR)
//            if a selected byte's address has bits 12-15 equal to this nibble
//            (15: none); high nibble: every access faults with SIGBUS instead if 15
//   18       every Memory call after the first `byte` ones faults (0: none)
//   19       disassemble()'s output buffer size: byte % 64
//   20-27    memory seed: a read of address a returns bytes hashed from a and the seed
//   28-35    RIP          36-43 RFLAGS       44-51 FS base     52-59 GS base
//   60-187   RAX..R15
//   188-195  XSTATE_BV    196-259 k0-k7     260-267 seed of the vector registers' bytes
//   268-275  XSAVE features for byte 16 = 4-7      276 REP chunk
//   277-284  plan_generic's stub address (a user-space address; its bounce area is near it)
//
// Checked after every call (a violation traps, which libFuzzer reports):
//   - Memory calls: sizes 1, 2, 4, 8, 10, 16, 32 or 64 (a locked read-modify-write
//     comes through Memory::atomic_rmw's default: read(), then write());
//     masks non-empty and within the size; every byte of the caller's buffer
//     is touched (ASan sees a short buffer); no call after a call that faulted.
//   - emulate(): a valid status; UNSUPPORTED and DECODE_ERROR make no Memory
//     call and leave the CpuState and the XSAVE buffer untouched; FAULT
//     returns the fault of the Memory call that faulted (or #GP: SIGSEGV,
//     SI_KERNEL, 0) with RIP unchanged; OK advances RIP by the decoded length
//     (or, for a REP stopped early, leaves it); instruction_decoded() once,
//     with that length; RFLAGS bits other than OF SF ZF AF PF CF never change,
//     nor do the FS/GS bases.
//   - plan_generic(): writes at most kGenericStubCapacity bytes, nothing when
//     it refuses; a plan ends in HLT and its operand fits the bounce area.
//   - describe() (the table's answer): whenever emulate() emulates the
//     instruction (OK or FAULT), describe() says OK with its length, and the
//     Memory calls are of its shape (NONE: none; LOAD: reads; STORE: writes;
//     READ_MODIFY_WRITE: a read then a write of the same bytes; COPY: reads
//     and writes alternating), of its width, inside one atomic_rmw exactly
//     when it says atomic, masked only when it says masked; a #GP before any
//     access only when it gives an alignment rule. DECODE_ERROR agrees.
//   - disassemble(): NUL-terminated within the buffer it is given.
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "emu/cpu_state.h"
#include "emu/emulator.h"
#include "emu/memory.h"
#include "emu/xsave_area.h"

namespace {

using namespace mmiotrace::emu;

#define FUZZ_CHECK(cond)           \
  do {                             \
    if (!(cond)) __builtin_trap(); \
  } while (0)

class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  uint8_t u8(size_t at) const { return at < size_ ? data_[at] : 0; }
  uint64_t u64(size_t at) const {
    uint64_t v = 0;
    for (unsigned i = 0; i < 8; ++i) v |= uint64_t{u8(at + i)} << (8 * i);
    return v;
  }

 private:
  const uint8_t* data_;
  size_t size_;
};

uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

bool valid_size(unsigned size) {
  return size == 1 || size == 2 || size == 4 || size == 8 || size == 10 || size == 16 || size == 32 || size == 64;
}

class FuzzMemory final : public Memory {
 public:
  // Hard cap on calls per emulate(): a REP instruction with a huge count ends
  // in a fault here instead of running for ever (the CPU would run as long).
  static constexpr unsigned kMaxCalls = 2048;

  struct Call {
    uint64_t addr;
    unsigned size;
    bool write;
    bool masked;
    bool atomic;  // made inside atomic_rmw
  };
  Call log[kMaxCalls + 1];  // the calls of the current emulate()

  FuzzMemory(uint64_t seed, unsigned fault_nibble, bool sigbus, unsigned fault_after)
      : seed_(seed), fault_nibble_(fault_nibble), sigbus_(sigbus), fault_after_(fault_after) {}

  unsigned calls = 0;
  unsigned decoded_calls = 0;
  unsigned decoded_length = 0;
  bool faulted = false;
  MemFault last_fault;

  void start_instruction() {
    calls = 0;
    faulted = false;
    last_fault = {};
  }

  MemFault read(uint64_t addr, unsigned size, void* out) override {
    return access(addr, size, ~uint64_t{0}, false, static_cast<uint8_t*>(out), nullptr);
  }
  MemFault write(uint64_t addr, unsigned size, const void* in) override {
    return access(addr, size, ~uint64_t{0}, false, nullptr, static_cast<const uint8_t*>(in));
  }
  MemFault read_masked(uint64_t addr, unsigned size, uint64_t mask, void* out) override {
    return access(addr, size, mask, true, static_cast<uint8_t*>(out), nullptr);
  }
  MemFault write_masked(uint64_t addr, unsigned size, uint64_t mask, const void* in) override {
    return access(addr, size, mask, true, nullptr, static_cast<const uint8_t*>(in));
  }
  // Memory's default (a read, compute, then a write), with its calls marked atomic.
  MemFault atomic_rmw(uint64_t addr, unsigned size, void* old_out, RmwCompute compute, void* ctx) override {
    in_atomic_ = true;
    const MemFault f = Memory::atomic_rmw(addr, size, old_out, compute, ctx);
    in_atomic_ = false;
    return f;
  }
  void instruction_decoded(unsigned length) override {
    ++decoded_calls;
    decoded_length = length;
  }

 private:
  MemFault access(uint64_t addr, unsigned size, uint64_t mask, bool masked, uint8_t* out, const uint8_t* in) {
    FUZZ_CHECK(!faulted);  // the emulator stops at the first fault
    FUZZ_CHECK(valid_size(size));
    if (masked) {
      FUZZ_CHECK(mask != 0);
      FUZZ_CHECK(size >= 64 || (mask >> size) == 0);
    }
    // Touch every byte of the caller's buffer, selected or not: a buffer
    // shorter than `size` is an ASan report here.
    uint8_t scratch[64];
    std::memcpy(scratch, out != nullptr ? out : in, size);
    log[calls] = {addr, size, in != nullptr, masked, in_atomic_};
    ++calls;
    MemFault f;
    if ((fault_after_ != 0 && calls > fault_after_) || calls > kMaxCalls) {
      f = {SIGSEGV, SEGV_MAPERR, addr};
    } else {
      for (unsigned i = 0; i < size && f.ok(); ++i) {
        if (masked && !((mask >> i) & 1)) continue;
        const uint64_t a = addr + i;
        if (((a >> 12) & 0xf) == fault_nibble_) {
          f = sigbus_ ? MemFault{SIGBUS, BUS_ADRERR, a} : MemFault{SIGSEGV, SEGV_ACCERR, a};
        }
      }
    }
    if (!f.ok()) {
      faulted = true;
      last_fault = f;
      return f;
    }
    for (unsigned i = 0; i < size; ++i) {
      if (masked && !((mask >> i) & 1)) continue;
      if (out != nullptr) out[i] = static_cast<uint8_t>(mix((addr + i) ^ seed_));
    }
    (void)scratch;
    return {};
  }

  uint64_t seed_;
  unsigned fault_nibble_;
  bool sigbus_;
  unsigned fault_after_;
  bool in_atomic_ = false;
};

// An instruction emulate() emulated (OK or FAULT) is one the table describes,
// and its Memory calls are as the description says.
void check_description(const FormInfo& info, const EmuResult& r, const FuzzMemory& mem) {
  FUZZ_CHECK(info.status == EmuStatus::OK && info.insn_len == r.insn_len);
  if (r.status == EmuStatus::FAULT && !mem.faulted) FUZZ_CHECK(info.align != 0);  // #GP before any access
  if (info.access == AccessShape::NONE) FUZZ_CHECK(mem.calls == 0);
  if (info.access == AccessShape::READ_MODIFY_WRITE) FUZZ_CHECK(mem.calls <= 2 && !info.repeated);
  for (unsigned i = 0; i < mem.calls; ++i) {
    const FuzzMemory::Call& c = mem.log[i];
    FUZZ_CHECK(c.size == info.width && c.atomic == info.atomic);
    if (c.masked) FUZZ_CHECK(info.masked);
    switch (info.access) {
      case AccessShape::LOAD:
        FUZZ_CHECK(!c.write);
        break;
      case AccessShape::STORE:
        FUZZ_CHECK(c.write);
        break;
      case AccessShape::READ_MODIFY_WRITE:
        FUZZ_CHECK(c.write == (i == 1));
        if (i == 1) FUZZ_CHECK(c.addr == mem.log[0].addr);
        break;
      case AccessShape::COPY:
        FUZZ_CHECK(c.write == (i % 2 == 1));
        break;
      case AccessShape::NONE:
        break;
    }
  }
}

void check_emulate(const Reader& in, const uint8_t* code, size_t len) {
  const XsaveLayout& host = XsaveLayout::host();
  // CPU state.
  CpuState cpu;
  for (unsigned i = 0; i < 16; ++i) cpu.gpr[i] = in.u64(60 + 8 * i);
  cpu.rip = in.u64(28);
  cpu.rflags = (in.u64(36) & 0x3f7fd5) | 0x2;  // the bits user space can hold
  cpu.fs_base = in.u64(44);
  cpu.gs_base = in.u64(52);

  // XSAVE area: exactly the host's size, on the heap.
  const uint8_t xsel = in.u8(16);
  uint64_t features = 0;
  switch (xsel & 7) {
    case 0:
      break;
    case 1:
      features = 0x3;
      break;
    case 2:
      features = 0x7;
      break;
    case 3:
      features = host.supported;
      break;
    default:
      features = in.u64(268) & host.supported;
      break;
  }
  std::vector<uint8_t> area;
  if ((xsel & 7) != 0) {
    area.resize(host.total_size);
    uint64_t s = in.u64(260);
    for (size_t i = 0; i < area.size(); ++i) area[i] = static_cast<uint8_t>(mix(s + i));
    const uint64_t bv = in.u64(188);
    std::memcpy(area.data() + 512, &bv, 8);
    std::memset(area.data() + 520, 0, 56);  // XCOMP_BV and the reserved header bytes
    if (host.size[5] != 0 && host.total_size >= host.offset[5] + 64) {
      for (unsigned k = 0; k < 8; ++k) {
        const uint64_t v = in.u64(196 + 8 * k);
        std::memcpy(area.data() + host.offset[5] + 8 * k, &v, 8);
      }
    }
    cpu.xsave = XsaveArea(area.data(), features);
  }
  const std::vector<uint8_t> area_before = area;
  const CpuState before = cpu;

  EmuOptions options;
  if (xsel & 8) options.max_rep_iterations = in.u8(276);
  const uint8_t msel = in.u8(17);
  FuzzMemory mem(in.u64(20), msel & 0xf, (msel >> 4) == 15, in.u8(18));

  // Emulate; a REP stopped early is run again, as the CPU would, a bounded number of times.
  for (int run = 0; run < 64; ++run) {
    mem.start_instruction();
    mem.decoded_calls = 0;
    const uint64_t rip = cpu.rip;
    const uint64_t flags = cpu.rflags;
    const EmuResult r = emulate(cpu, code, len, mem, options);
    const FormInfo info = describe(code, len);
    if (r.status == EmuStatus::OK || r.status == EmuStatus::FAULT) check_description(info, r, mem);
    FUZZ_CHECK((r.status == EmuStatus::DECODE_ERROR) == (info.status == EmuStatus::DECODE_ERROR));
    FUZZ_CHECK(cpu.fs_base == before.fs_base && cpu.gs_base == before.gs_base);
    FUZZ_CHECK(((cpu.rflags ^ flags) & ~uint64_t{0x8d5}) == 0);  // only OF SF ZF AF PF CF
    switch (r.status) {
      case EmuStatus::DECODE_ERROR:
      case EmuStatus::UNSUPPORTED:
        FUZZ_CHECK(mem.calls == 0);
        if (run == 0) {
          FUZZ_CHECK(std::memcmp(cpu.gpr, before.gpr, sizeof cpu.gpr) == 0);
          FUZZ_CHECK(cpu.rip == before.rip && cpu.rflags == before.rflags);
          FUZZ_CHECK(area == area_before);
        }
        if (r.status == EmuStatus::DECODE_ERROR) FUZZ_CHECK(r.insn_len == 0 && mem.decoded_calls == 0);
        return;
      case EmuStatus::FAULT:
        FUZZ_CHECK(cpu.rip == rip);
        FUZZ_CHECK(r.fault.signo == SIGSEGV || r.fault.signo == SIGBUS);
        if (mem.faulted) {
          FUZZ_CHECK(r.fault.signo == mem.last_fault.signo && r.fault.code == mem.last_fault.code &&
                     r.fault.addr == mem.last_fault.addr);
        } else {
          FUZZ_CHECK(r.fault.signo == SIGSEGV && r.fault.code == SI_KERNEL && r.fault.addr == 0);
        }
        FUZZ_CHECK(mem.decoded_calls == 1 && mem.decoded_length == r.insn_len);
        return;
      case EmuStatus::OK:
        FUZZ_CHECK(!mem.faulted);
        FUZZ_CHECK(r.insn_len >= 1 && r.insn_len <= 15 && r.insn_len <= len);
        FUZZ_CHECK(mem.decoded_calls == 1 && mem.decoded_length == r.insn_len);
        if (cpu.rip == rip + r.insn_len) return;
        FUZZ_CHECK(cpu.rip == rip && options.max_rep_iterations != 0);  // a REP stopped early
        break;
      default:
        __builtin_trap();
    }
  }
}

void check_plan_generic(const Reader& in, const uint8_t* code, size_t len) {
  CpuState cpu;
  for (unsigned i = 0; i < 16; ++i) cpu.gpr[i] = in.u64(60 + 8 * i);
  cpu.rip = in.u64(28);
  cpu.rflags = (in.u64(36) & 0x3f7fd5) | 0x2;
  cpu.fs_base = in.u64(44);
  cpu.gs_base = in.u64(52);
  // The stub and its bounce area: user-space addresses (below 2^47, as the
  // agent's are) within +-1 GiB of each other, as the planner requires.
  const uint64_t user = (uint64_t{1} << 47) - (uint64_t{1} << 31);
  const uint64_t stub_addr = (uint64_t{1} << 31) + in.u64(277) % (user - (uint64_t{1} << 31));
  const int64_t delta = static_cast<int32_t>(in.u64(277) >> 32) / 2;
  const uint64_t bounce = (stub_addr + static_cast<uint64_t>(delta)) & ~uint64_t{kGenericBounceAlign - 1};
  auto stub = std::make_unique<uint8_t[]>(kGenericStubCapacity);  // exactly the capacity: ASan sees overruns
  std::memset(stub.get(), 0xa5, kGenericStubCapacity);
  const GenericPlan p = plan_generic(cpu, code, len, stub_addr, bounce, stub.get(), kGenericStubCapacity);
  switch (p.status) {
    case EmuStatus::OK:
      FUZZ_CHECK(p.stub_len >= 2 && p.stub_len <= kGenericStubCapacity);
      FUZZ_CHECK(p.terminator_offset < p.stub_len && stub[p.terminator_offset] == kGenericTerminator);
      FUZZ_CHECK(p.insn_len >= 1 && p.insn_len <= len);
      FUZZ_CHECK(valid_size(p.size) && (p.reads || p.writes));
      FUZZ_CHECK(p.bounce_addr >= bounce && p.size <= kGenericBounceSize &&
                 p.bounce_addr - bounce <= kGenericBounceSize - p.size);
      break;
    case EmuStatus::UNSUPPORTED:
      FUZZ_CHECK(p.refusal != GenericRefusal::NONE);
      for (unsigned i = 0; i < kGenericStubCapacity; ++i) FUZZ_CHECK(stub[i] == 0xa5);
      break;
    case EmuStatus::DECODE_ERROR:
      for (unsigned i = 0; i < kGenericStubCapacity; ++i) FUZZ_CHECK(stub[i] == 0xa5);
      break;
    case EmuStatus::FAULT:
      FUZZ_CHECK(p.fault.signo != 0);
      break;
    default:
      __builtin_trap();
  }
}

void check_disassemble(const Reader& in, const uint8_t* code, size_t len) {
  const size_t out_size = in.u8(19) % 64;
  auto out = std::make_unique<char[]>(out_size + 1);  // +1: a zero-size buffer still has an address
  const size_t n = mmiotrace::emu::disassemble(code, len, in.u64(28), out.get(), out_size);
  FUZZ_CHECK(n <= len);
  if (out_size != 0) FUZZ_CHECK(std::memchr(out.get(), '\0', out_size) != nullptr);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Reader in(data, size);
  const size_t len = 1 + in.u8(0) % 15;
  auto code = std::make_unique<uint8_t[]>(len);  // exactly `len` bytes: ASan sees any read past them
  for (size_t i = 0; i < len; ++i) code[i] = in.u8(1 + i);
  check_emulate(in, code.get(), len);
  check_plan_generic(in, code.get(), len);
  check_disassemble(in, code.get(), len);
  return 0;
}
