// Async-signal-safe: runs in the traced program's signal handler; no allocation, no locks.
//
// The CPU computes the ALU rows' results and flags (native_ops.h says why).
// Each asm block steps RSP over the 128-byte red zone before it pushes (the
// compiler may keep live data there), loads the flags with popf, runs one
// instruction on the local copy through a pointer register, and reads the
// flags back with pushf. Only the six arithmetic flags are ever loaded: TF
// would trap, DF and AC are the host's business.
#include "emu/native_ops.h"

#include <cstring>

#include "common/handler_rules.h"
#include "emu/cpu_state.h"

MT_HANDLER_RULES

namespace mmiotrace::emu::detail {
namespace {

// `insn` may use %[p] (pointer to the operand copy), %[src] (a register of the
// operand width; %z[src] is its size suffix), %[acc] (AL/AX/EAX/RAX) and CL.
#define MT_NATIVE(insn)                                 \
  asm volatile(                                         \
      "add $-128, %%rsp\n\t"                            \
      "push %[fl]\n\t"                                  \
      "popfq\n\t" insn                                  \
      "\n\t"                                            \
      "pushfq\n\t"                                      \
      "pop %[fl]\n\t"                                   \
      "sub $-128, %%rsp"                                \
      : [fl] "+r"(fl), [src] "+r"(src), [acc] "+a"(acc) \
      : [p] "r"(p), [cnt] "c"(count)                    \
      : "cc", "memory")

// Forms that exist at every width. False if `op` is not one of them.
// One case per line: each a native instruction.
// clang-format off
template <typename T>
bool run_any_width(NativeOp op, T* p, T& src, T& acc, uint8_t count, uint64_t& fl) {
  switch (op) {
    case NativeOp::ADD: MT_NATIVE("add %[src], (%[p])"); return true;
    case NativeOp::OR: MT_NATIVE("or %[src], (%[p])"); return true;
    case NativeOp::ADC: MT_NATIVE("adc %[src], (%[p])"); return true;
    case NativeOp::SBB: MT_NATIVE("sbb %[src], (%[p])"); return true;
    case NativeOp::AND: MT_NATIVE("and %[src], (%[p])"); return true;
    case NativeOp::SUB: MT_NATIVE("sub %[src], (%[p])"); return true;
    case NativeOp::XOR: MT_NATIVE("xor %[src], (%[p])"); return true;
    case NativeOp::CMP: MT_NATIVE("cmp %[src], (%[p])"); return true;
    case NativeOp::TEST: MT_NATIVE("test %[src], (%[p])"); return true;
    case NativeOp::ADD_R: MT_NATIVE("add (%[p]), %[src]"); return true;
    case NativeOp::OR_R: MT_NATIVE("or (%[p]), %[src]"); return true;
    case NativeOp::ADC_R: MT_NATIVE("adc (%[p]), %[src]"); return true;
    case NativeOp::SBB_R: MT_NATIVE("sbb (%[p]), %[src]"); return true;
    case NativeOp::AND_R: MT_NATIVE("and (%[p]), %[src]"); return true;
    case NativeOp::SUB_R: MT_NATIVE("sub (%[p]), %[src]"); return true;
    case NativeOp::XOR_R: MT_NATIVE("xor (%[p]), %[src]"); return true;
    case NativeOp::CMP_R: MT_NATIVE("cmp (%[p]), %[src]"); return true;
    case NativeOp::INC: MT_NATIVE("inc%z[src] (%[p])"); return true;
    case NativeOp::DEC: MT_NATIVE("dec%z[src] (%[p])"); return true;
    case NativeOp::NOT: MT_NATIVE("not%z[src] (%[p])"); return true;
    case NativeOp::NEG: MT_NATIVE("neg%z[src] (%[p])"); return true;
    case NativeOp::ROL: MT_NATIVE("rol%z[src] %%cl, (%[p])"); return true;
    case NativeOp::ROR: MT_NATIVE("ror%z[src] %%cl, (%[p])"); return true;
    case NativeOp::RCL: MT_NATIVE("rcl%z[src] %%cl, (%[p])"); return true;
    case NativeOp::RCR: MT_NATIVE("rcr%z[src] %%cl, (%[p])"); return true;
    case NativeOp::SHL: MT_NATIVE("shl%z[src] %%cl, (%[p])"); return true;
    case NativeOp::SHR: MT_NATIVE("shr%z[src] %%cl, (%[p])"); return true;
    case NativeOp::SAR: MT_NATIVE("sar%z[src] %%cl, (%[p])"); return true;
    // One operand: the assembler emits the D0/D1 "by 1" encodings.
    case NativeOp::ROL1: MT_NATIVE("rol%z[src] (%[p])"); return true;
    case NativeOp::ROR1: MT_NATIVE("ror%z[src] (%[p])"); return true;
    case NativeOp::RCL1: MT_NATIVE("rcl%z[src] (%[p])"); return true;
    case NativeOp::RCR1: MT_NATIVE("rcr%z[src] (%[p])"); return true;
    case NativeOp::SHL1: MT_NATIVE("shl%z[src] (%[p])"); return true;
    case NativeOp::SHR1: MT_NATIVE("shr%z[src] (%[p])"); return true;
    case NativeOp::SAR1: MT_NATIVE("sar%z[src] (%[p])"); return true;
    // XCHG with memory asserts LOCK even on this stack copy; harmless.
    case NativeOp::XCHG: MT_NATIVE("xchg %[src], (%[p])"); return true;
    case NativeOp::XADD: MT_NATIVE("xadd %[src], (%[p])"); return true;
    case NativeOp::CMPXCHG: MT_NATIVE("cmpxchg %[src], (%[p])"); return true;
    default: return false;
  }
}

// Forms with no 8-bit encoding.
template <typename T>
void run_wide(NativeOp op, T* p, T& src, T& acc, uint8_t count, uint64_t& fl) {
  switch (op) {
    case NativeOp::SHLD: MT_NATIVE("shld %%cl, %[src], (%[p])"); return;
    case NativeOp::SHRD: MT_NATIVE("shrd %%cl, %[src], (%[p])"); return;
    case NativeOp::BT: MT_NATIVE("bt %[src], (%[p])"); return;
    case NativeOp::BTS: MT_NATIVE("bts %[src], (%[p])"); return;
    case NativeOp::BTR: MT_NATIVE("btr %[src], (%[p])"); return;
    case NativeOp::BTC: MT_NATIVE("btc %[src], (%[p])"); return;
    default: return;
  }
}
// clang-format on

#undef MT_NATIVE

template <typename T>
uint64_t run_width(NativeOp op, void* value, NativeArgs& args, uint64_t fl) {
  T v;
  std::memcpy(&v, value, sizeof v);
  T src = static_cast<T>(args.src);
  T acc = static_cast<T>(args.acc);
  if (!run_any_width<T>(op, &v, src, acc, args.count, fl)) {
    if constexpr (sizeof(T) > 1) run_wide<T>(op, &v, src, acc, args.count, fl);
  }
  std::memcpy(value, &v, sizeof v);
  args.src = src;
  args.acc = acc;
  return fl;
}

// What is loaded into RFLAGS: the guest's arithmetic flags, reserved bit 1
// and IF (which popf cannot change in user mode anyway).
uint64_t host_flags_for(uint64_t rflags) { return 0x202 | (rflags & kArithFlags); }

uint64_t merge_flags(uint64_t rflags, uint64_t native) { return (rflags & ~kArithFlags) | (native & kArithFlags); }

}  // namespace

uint64_t run_native(NativeOp op, unsigned bytes, void* value, NativeArgs& args, uint64_t rflags) {
  const uint64_t fl = host_flags_for(rflags);
  uint64_t out = fl;
  switch (bytes) {
    case 1:
      out = run_width<uint8_t>(op, value, args, fl);
      break;
    case 2:
      out = run_width<uint16_t>(op, value, args, fl);
      break;
    case 4:
      out = run_width<uint32_t>(op, value, args, fl);
      break;
    case 8:
      out = run_width<uint64_t>(op, value, args, fl);
      break;
    default:
      break;
  }
  return merge_flags(rflags, out);
}

uint64_t run_native_cmpxchg_wide(unsigned bytes, void* value, WideCmpxchgArgs& a, uint64_t rflags) {
  uint64_t fl = host_flags_for(rflags);
  // CMPXCHG16B needs a 16-byte aligned operand (#GP otherwise): the caller
  // checked the guest's address; the copy is aligned here.
  alignas(16) uint8_t v[16];
  std::memcpy(v, value, bytes);
  uint8_t* p = v;
  if (bytes == 16) {
    asm volatile(
        "add $-128, %%rsp\n\tpush %[fl]\n\tpopfq\n\t"
        "cmpxchg16b (%[p])\n\t"
        "pushfq\n\tpop %[fl]\n\tsub $-128, %%rsp"
        : [fl] "+r"(fl), "+a"(a.rax), "+d"(a.rdx)
        : [p] "r"(p), "b"(a.rbx), "c"(a.rcx)
        : "cc", "memory");
  } else {
    asm volatile(
        "add $-128, %%rsp\n\tpush %[fl]\n\tpopfq\n\t"
        "cmpxchg8b (%[p])\n\t"
        "pushfq\n\tpop %[fl]\n\tsub $-128, %%rsp"
        : [fl] "+r"(fl), "+a"(a.rax), "+d"(a.rdx)
        : [p] "r"(p), "b"(a.rbx), "c"(a.rcx)
        : "cc", "memory");
  }
  std::memcpy(value, v, bytes);
  return merge_flags(rflags, fl);
}

bool condition_holds(unsigned cc, uint64_t rflags) {
  const bool cf = rflags & kFlagCF, pf = rflags & kFlagPF, zf = rflags & kFlagZF;
  const bool sf = rflags & kFlagSF, of = rflags & kFlagOF;
  bool holds = false;
  switch ((cc >> 1) & 7) {
    case 0:
      holds = of;
      break;  // O / NO
    case 1:
      holds = cf;
      break;  // B / AE
    case 2:
      holds = zf;
      break;  // E / NE
    case 3:
      holds = cf || zf;
      break;  // BE / A
    case 4:
      holds = sf;
      break;  // S / NS
    case 5:
      holds = pf;
      break;  // P / NP
    case 6:
      holds = sf != of;
      break;  // L / GE
    case 7:
      holds = zf || sf != of;
      break;  // LE / G
  }
  return (cc & 1) ? !holds : holds;
}

}  // namespace mmiotrace::emu::detail
